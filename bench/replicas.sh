#!/usr/bin/env bash
# Scale-out benchmark: BENCH_REPLICAS tastevin replicas (default 3) in front of a local TLS
# docker-registry holding cosign-signed images, hit by bursts of BENCH_BURST identical Pods
# (default 60) spread round-robin over the replicas, every connection sending at the same
# instant. Each burst uses an image no replica has seen. Run twice: with a shared TLS,
# password-protected redis-server (shared verdicts and the cluster-wide single flight), and
# without Redis (each replica on its own). Reports per burst the registry requests (summed from
# every replica's tastevin_registry_requests_total), how many replicas went to the registry,
# and the p50/p99/max of /mutate over all bursts of a mode.
#
# Usage: bench/replicas.sh [--no-build]
# Environment: BENCH_OUT (result directory, default target/bench-replicas),
#              BENCH_REPLICAS (default 3), BENCH_BURST (Pods per burst, default 60),
#              BENCH_BURSTS (bursts per mode, default 10),
#              BENCH_SERVER (server binary, default target/release/tastevin).
# Exit status: 0 when every request was admitted and, with Redis, every burst went to the
# registry from one replica only; 1 otherwise.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUT=${BENCH_OUT:-$ROOT/target/bench-replicas}
REPLICAS=${BENCH_REPLICAS:-3}
BURST=${BENCH_BURST:-60}
BURSTS=${BENCH_BURSTS:-10}
SERVER=${BENCH_SERVER:-$ROOT/target/release/tastevin}
SEED=$ROOT/target/release/registry-seed
BURST_CLIENT=$ROOT/target/release/burst
BUILD_BUDGET=900

die() { echo "bench: $*" >&2; exit 1; }

for tool in jq curl docker-registry redis-server; do
    command -v "$tool" >/dev/null || die "$tool is needed (apt-get install $tool)"
done
if [[ ${1:-} != --no-build ]]; then
    echo "== building release binaries (bounded to ${BUILD_BUDGET}s)"
    timeout "$BUILD_BUDGET" cargo build --release --quiet -p tastevin -p tastevin-bench \
        || die "release build failed"
fi
for binary in "$SERVER" "$SEED" "$BURST_CLIENT"; do
    [[ -x $binary ]] || die "missing $binary: run without --no-build"
done
rm -rf "$OUT"
mkdir -p "$OUT"

PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_listening PORT PID NAME: waits until PORT accepts connections while PID lives.
wait_listening() {
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return
        kill -0 "$2" 2>/dev/null || die "$3 exited at startup; see its log in $OUT"
        sleep 0.1
    done
    die "$3 did not listen on 127.0.0.1:$1 within 10 s"
}

# ---- registry with signed images, a fresh one for every burst -----------------------------
PKI=$OUT/pki
"$SEED" pki --dir "$PKI"
REGISTRY_PORT=$(free_port)
mkdir -p "$OUT/registry"
cat >"$OUT/registry/config.yml" <<YAML
version: 0.1
log: {level: warn}
storage:
  filesystem: {rootdirectory: $OUT/registry/data}
http:
  addr: 127.0.0.1:$REGISTRY_PORT
  secret: tastevin-bench
  tls: {certificate: $PKI/server.crt, key: $PKI/server.key}
YAML
docker-registry serve "$OUT/registry/config.yml" >"$OUT/docker-registry.log" 2>&1 &
PIDS+=("$!")
wait_listening "$REGISTRY_PORT" "$!" docker-registry
# Per mode: one image for the warm-up burst, then one per measured burst.
IMAGE_COUNT=$((2 * (BURSTS + 1)))
echo "== docker-registry on 127.0.0.1:$REGISTRY_PORT: pushing $IMAGE_COUNT signed images"
mapfile -t IMAGES < <("$SEED" push --registry "127.0.0.1:$REGISTRY_PORT" --ca "$PKI/ca.pem" \
    --public-key-out "$PKI/signer.pub" --images "$IMAGE_COUNT" | awk '{ print $1 }')
((${#IMAGES[@]} == IMAGE_COUNT)) || die "pushed ${#IMAGES[@]} images, not $IMAGE_COUNT"

{
    echo "validators:"
    echo "  - name: signed"
    echo "    type: cosign"
    echo "    cert: |"
    sed 's/^/      /' "$PKI/ca.pem"
    echo "    trustRoots:"
    echo "      - name: default"
    echo "        key: |"
    sed 's/^/          /' "$PKI/signer.pub"
    echo "policy:"
    echo '  - pattern: "*"'
    echo "    validator: signed"
    echo "    with: {verifyInTransparencyLog: false}"
} >"$OUT/cosign.yaml"

# ---- Redis as Connaisseur's chart runs it: TLS only, a password --------------------------
REDIS_PORT=$(free_port)
REDIS_PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
redis-server --bind 127.0.0.1 --port 0 --tls-port "$REDIS_PORT" \
    --tls-cert-file "$PKI/server.crt" --tls-key-file "$PKI/server.key" \
    --tls-ca-cert-file "$PKI/ca.pem" --tls-auth-clients no \
    --requirepass "$REDIS_PASSWORD" --save '' --appendonly no \
    >"$OUT/redis.log" 2>&1 &
PIDS+=("$!")
wait_listening "$REDIS_PORT" "$!" redis-server
echo "== redis-server (TLS, password) on 127.0.0.1:$REDIS_PORT"

# ---- one mode: replicas up, bursts, replicas down ----------------------------------------
# registry_requests PORT: the replica's outbound registry requests so far.
registry_requests() {
    curl -sk "https://127.0.0.1:$1/metrics" \
        | awk '/^tastevin_registry_requests_total[{ ]/ { sum += $NF } END { print sum + 0 }'
}

FAILED=0
# run_mode NAME FIRST_IMAGE [NAME=VALUE...]: the replicas get the extra environment.
run_mode() {
    local mode=$1 first=$2
    shift 2
    local ports=() urls=() pids=()
    for replica in $(seq "$REPLICAS"); do
        local port
        port=$(free_port)
        env "$@" "$SERVER" serve --listen "127.0.0.1:$port" --config "$OUT/cosign.yaml" \
            >"$OUT/server-$mode-$replica.log" 2>&1 &
        pids+=("$!")
        PIDS+=("$!")
        wait_listening "$port" "$!" "replica $replica ($mode)"
        ports+=("$port")
        urls+=(--url "https://127.0.0.1:$port/mutate")
    done
    echo "== $mode: $REPLICAS replicas, one warm-up burst, then $BURSTS bursts of $BURST Pods"
    : >"$OUT/$mode.bursts"
    # Burst 0 warms up: the replicas' first TLS connections to the registry and to Redis are
    # set up there, as they are long before a burst in a cluster. Its figures are kept apart.
    for burst in $(seq 0 "$BURSTS"); do
        local image=${IMAGES[$((first + burst))]}
        jq --arg image "$image" '.request.object.spec.containers[0].image = $image' \
            bench/bodies/review-minimal.json >"$OUT/review.json"
        local before=() after=() status=0
        for port in "${ports[@]}"; do before+=("$(registry_requests "$port")"); done
        "$BURST_CLIENT" --insecure "${urls[@]}" --body "$OUT/review.json" \
            --connections "$BURST" --expect-body '"allowed":true' >"$OUT/burst.json" || status=$?
        for port in "${ports[@]}"; do after+=("$(registry_requests "$port")"); done
        ((status == 0)) || { echo "bench: $mode burst $burst: $(jq -c .failures "$OUT/burst.json")" >&2; FAILED=1; }
        local requests=0 asking=0
        for i in "${!ports[@]}"; do
            local delta=$((after[i] - before[i]))
            requests=$((requests + delta))
            ((delta > 0)) && asking=$((asking + 1))
        done
        jq -c --argjson requests "$requests" --argjson asking "$asking" \
            '{registry_requests: $requests, replicas_asking: $asking, p99_us, succeeded, latencies_us}' \
            "$OUT/burst.json" >"$OUT/$mode.burst-$burst.json"
        ((burst == 0)) || cat "$OUT/$mode.burst-$burst.json" >>"$OUT/$mode.bursts"
    done
    for i in "${!ports[@]}"; do
        curl -sk "https://127.0.0.1:${ports[i]}/metrics" >"$OUT/metrics-$mode-$((i + 1)).txt"
    done
    for pid in "${pids[@]}"; do kill "$pid"; done
    for pid in "${pids[@]}"; do wait "$pid" || true; done
    # One object per mode: the figures per burst and the latency over all of them.
    jq -s --arg mode "$mode" '
        (map(.latencies_us) | add | sort) as $all
        | def rank(q): $all[(((q * ($all | length)) | ceil) - 1) | if . < 0 then 0 else . end];
        {mode: $mode,
         bursts: length,
         requests: ($all | length),
         registry_requests_per_burst: map(.registry_requests),
         replicas_asking_per_burst: map(.replicas_asking),
         p50_us: rank(0.5), p99_us: rank(0.99), max_us: $all[-1]}' \
        "$OUT/$mode.bursts" >"$OUT/$mode.json"
}

run_mode redis 0 REDIS_HOST="127.0.0.1:$REDIS_PORT" REDIS_PASSWORD="$REDIS_PASSWORD" \
    REDIS_CA_PATH="$PKI/ca.pem"
run_mode no-redis $((BURSTS + 1))

jq -s '{replicas: '"$REPLICAS"', pods_per_burst: '"$BURST"', modes: .}' \
    "$OUT/redis.json" "$OUT/no-redis.json" >"$OUT/summary.json"
echo
printf '%-10s %-28s %-28s %10s %10s %10s\n' mode "registry requests/burst" \
    "replicas asking/burst" "p50 ms" "p99 ms" "max ms"
for mode in redis no-redis; do
    jq -r '[.mode,
            (.registry_requests_per_burst | "\(min)-\(max) (mean \(add / length))"),
            (.replicas_asking_per_burst | "\(min)-\(max) (mean \(add / length))"),
            (.p50_us / 1000), (.p99_us / 1000), (.max_us / 1000)] | @tsv' "$OUT/$mode.json" \
        | awk -F'\t' '{ printf "%-10s %-28s %-28s %10.2f %10.2f %10.2f\n", $1, $2, $3, $4, $5, $6 }'
done
echo "(JSON: $OUT/summary.json)"
# With Redis, every burst must have gone to the registry from one replica only.
jq -e 'all(.replicas_asking_per_burst[]; . == 1)' "$OUT/redis.json" >/dev/null \
    || { echo "bench: with Redis some burst was validated by more than one replica" >&2; FAILED=1; }
exit "$FAILED"
