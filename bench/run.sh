#!/usr/bin/env bash
# Benchmark of tastevin: builds release binaries, starts `tastevin serve` on a free local port
# with a self-signed certificate, and measures throughput, latency and memory in five scenarios;
# then, against a local TLS docker-registry holding a cosign-signed image, cold and cached
# cosign validation, and /metrics while 100 validations wait on a registry that never answers;
# then cold Notary v1 validation against a local notary-server holding a tag signed with the
# real notary client, compared with Connaisseur 2.x's ~26 ms of CPU per image.
# See bench/README.md for what each figure means.
#
# Usage: bench/run.sh [--no-build] [--smoke]
#   --smoke: build debug binaries (no fat LTO) and run every scenario, and bench/compare.sh's
#            matrix (the debug server against itself), for a fraction of a second each: proves
#            that the bench runs, for CI; the figures mean nothing.
# Environment: BENCH_OUT (result directory, default target/bench),
#              BENCH_DURATION (seconds measured per load scenario, default 10),
#              BENCH_CONNECTIONS (default 16), BENCH_IDLE_CONNECTIONS (default 1000),
#              BENCH_SLOW_VALIDATIONS (validations held by the slow registry, default 100),
#              BENCH_SERVER (server binary to measure, default target/release/tastevin).
#
# Exit status: 0 when every scenario ran without request errors (targets missed or not),
# 1 otherwise. The measuring part bounds itself to MEASURE_BUDGET seconds (the build is
# bounded separately by BUILD_BUDGET, since a cold release build with fat LTO takes minutes).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD=1
SMOKE=
for arg in "$@"; do
    case $arg in
        --no-build) BUILD= ;;
        --smoke) SMOKE=1 ;;
        *) echo "bench: unknown argument '$arg' (bench/run.sh [--no-build] [--smoke])" >&2; exit 1 ;;
    esac
done
OUT=${BENCH_OUT:-$ROOT/target/bench}
DURATION=${BENCH_DURATION:-10}
CONNECTIONS=${BENCH_CONNECTIONS:-16}
IDLE_CONNECTIONS=${BENCH_IDLE_CONNECTIONS:-1000}
SLOW_VALIDATIONS=${BENCH_SLOW_VALIDATIONS:-100}
WARMUP=1
# Idle RSS is read this long after start, when start-up allocations have settled.
IDLE_WAIT=5
# Cold validations are sequential and slow next to the other loads: a shorter run is enough.
COLD_DURATION=5
# The slow registry holds every connection this long. The probe runs until SLOW_PROBE_END
# (seconds after the requests were sent), before the first validation can end; it starts at 0
# in a first run (the validations arriving: 100 TLS handshakes, requests, registry connects)
# and at SLOW_SETTLED in a second one (all of them waiting, nothing else to do).
SLOW_HOLD_MS=5000
SLOW_PROBE_END=5
SLOW_SETTLED=1
BUILD_BUDGET=900
MEASURE_BUDGET=200
PROFILE=release
if [[ -n $SMOKE ]]; then
    # Everything short, the slow registry's hold included (the probe still ends before it).
    PROFILE=debug
    OUT=${BENCH_OUT:-$ROOT/target/bench-smoke}
    DURATION=0.3 WARMUP=0.1 COLD_DURATION=0.3 IDLE_WAIT=0.5
    IDLE_CONNECTIONS=50 SLOW_VALIDATIONS=10
    SLOW_HOLD_MS=1500 SLOW_PROBE_END=1 SLOW_SETTLED=0.5
    MEASURE_BUDGET=120
fi
SERVER=${BENCH_SERVER:-$ROOT/target/$PROFILE/tastevin}
LOADGEN=$ROOT/target/$PROFILE/loadgen
SEED=$ROOT/target/$PROFILE/registry-seed
SLOW_REGISTRY=$ROOT/target/$PROFILE/slow-registry
ALLOWED='"allowed":true'

die() { echo "bench: $*" >&2; exit 1; }

command -v jq >/dev/null || die "jq is needed to read loadgen's JSON output (apt-get install jq)"
mkdir -p "$OUT"

# plus SECS...: their sum (the durations may be fractions of a second).
plus() { awk 'BEGIN { s = 0; for (i = 1; i < ARGC; i++) s += ARGV[i]; print s }' "$@"; }

if [[ -n $BUILD ]]; then
    echo "== building $PROFILE binaries (bounded to ${BUILD_BUDGET}s)"
    if [[ -n $SMOKE ]]; then
        timeout "$BUILD_BUDGET" cargo build --quiet -p tastevin -p tastevin-bench \
            || die "debug build failed"
    else
        timeout "$BUILD_BUDGET" cargo build --release --quiet -p tastevin -p tastevin-bench \
            || die "release build failed"
    fi
fi
for binary in "$SERVER" "$LOADGEN" "$SEED" "$SLOW_REGISTRY"; do
    [[ -x $binary ]] || die "missing $binary: run without --no-build"
done

# Client and server share the machine: anything else running skews every figure.
LOAD_AVERAGE=$(cut -d' ' -f1 /proc/loadavg)
if awk -v l="$LOAD_AVERAGE" 'BEGIN { exit !(l > 1.0) }'; then
    echo "bench: WARNING: load average is $LOAD_AVERAGE; other work on this machine will skew the figures" >&2
fi

# From here on everything must finish within MEASURE_BUDGET seconds.
MEASURE_START=$SECONDS
remaining() { echo $((MEASURE_BUDGET - (SECONDS - MEASURE_START))); }

# 1,000 idle connections need as many descriptors in loadgen and in the server.
if (($(ulimit -n) < IDLE_CONNECTIONS + 256)); then
    ulimit -n $((IDLE_CONNECTIONS + 256)) 2>/dev/null \
        || die "open-files limit $(ulimit -n) is below $((IDLE_CONNECTIONS + 256)) and cannot be raised"
fi

SERVER_PIDS=()
cleanup() {
    for pid in "${SERVER_PIDS[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT

free_port() {
    local port
    for _ in $(seq 50); do
        # Below the kernel's ephemeral range (32768 on), and no socket of any state on it: a
        # client's or a TIME_WAIT socket on the port would make the server's bind fail.
        port=$((20000 + RANDOM % 12000))
        if ! ss -Htan "sport = :$port" | grep -q .; then
            echo "$port"
            return
        fi
    done
    die "no free port found"
}

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# start_server NAME [serve options...]: sets SERVER_PID and PORT. SERVER_ENV (an array of
# NAME=VALUE) is the server's extra environment.
SERVER_ENV=()
start_server() {
    local name=$1
    shift
    PORT=$(free_port)
    # No --cert/--key (and no /app/certs here): the server generates a self-signed certificate.
    # env execs the server, so $! is still the server's PID.
    env "${SERVER_ENV[@]}" "$SERVER" serve --listen "127.0.0.1:$PORT" "$@" \
        >"$OUT/server-$name.log" 2>&1 &
    SERVER_PID=$!
    SERVER_PIDS+=("$SERVER_PID")
    # $! is the server itself (started directly, not through a subshell); make sure, giving
    # the forked shell a moment to exec.
    local exe=
    for _ in $(seq 50); do
        exe=$(readlink "/proc/$SERVER_PID/exe" 2>/dev/null) || true
        [[ $exe == "$SERVER" ]] && break
        sleep 0.02
    done
    [[ $exe == "$SERVER" ]] || die "PID $SERVER_PID is $exe, not $SERVER"
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
            return
        fi
        kill -0 "$SERVER_PID" 2>/dev/null \
            || die "server '$name' exited at startup; see $OUT/server-$name.log"
        sleep 0.1
    done
    die "server '$name' did not listen on 127.0.0.1:$PORT within 10 s"
}

stop_server() {
    kill -TERM "$SERVER_PID"
    for _ in $(seq 100); do
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            wait "$SERVER_PID" || die "server exited with status $? after SIGTERM"
            return
        fi
        sleep 0.1
    done
    die "server $SERVER_PID still running 10 s after SIGTERM"
}

FAILED=0
# loadgen_json NAME [loadgen options...]: runs loadgen, keeps its JSON in $OUT/NAME.json.
loadgen_json() {
    local name=$1
    shift
    local budget
    budget=$(remaining)
    ((budget > 0)) || die "time budget of ${MEASURE_BUDGET}s exhausted before '$name'"
    local status=0
    timeout "$budget" "$LOADGEN" --insecure --json --server-pid "$SERVER_PID" "$@" \
        >"$OUT/$name.json" || status=$?
    if ((status != 0)); then
        echo "bench: scenario '$name' failed (loadgen exit $status): $(cat "$OUT/$name.json")" >&2
        FAILED=1
    fi
}

MUTATE_ARGS=(--connections "$CONNECTIONS" --duration $(plus "$DURATION" "$WARMUP") --warmup "$WARMUP"
    --content-type application/json --expect-body "$ALLOWED")

echo "== server with the embedded default configuration"
start_server default
sleep "$IDLE_WAIT"
IDLE_RSS=$(rss_kib "$SERVER_PID")

echo "== /mutate minimal Pod, $CONNECTIONS connections, ${DURATION}s"
loadgen_json mutate-minimal --url "https://127.0.0.1:$PORT/mutate" \
    --body bench/bodies/review-minimal.json "${MUTATE_ARGS[@]}"

echo "== /metrics probe while /mutate is loaded"
loadgen_json metrics-probe --url "https://127.0.0.1:$PORT/mutate" \
    --body bench/bodies/review-minimal.json "${MUTATE_ARGS[@]}" \
    --probe-url "https://127.0.0.1:$PORT/metrics" --probe-interval-ms 10
stop_server

echo "== server with the 50-rule configuration"
start_server fifty-rules --config bench/configs/fifty-rules.yaml
echo "== /mutate 3-container Deployment against 50 rules, $CONNECTIONS connections, ${DURATION}s"
loadgen_json mutate-deployment-50 --url "https://127.0.0.1:$PORT/mutate" \
    --body bench/bodies/review-deployment-3.json "${MUTATE_ARGS[@]}"
stop_server

# A fresh server, so the figure is what the connections cost and not heap left by the loads.
echo "== fresh server: $IDLE_CONNECTIONS idle TLS connections"
start_server idle-connections
sleep 1
loadgen_json idle --url "https://127.0.0.1:$PORT/health" --idle-connections "$IDLE_CONNECTIONS"
stop_server

# ---- cosign against a local registry --------------------------------------------------
# wait_listening PORT PID NAME: waits until PORT accepts connections while PID lives.
wait_listening() {
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
            return
        fi
        kill -0 "$2" 2>/dev/null || die "$3 exited at startup; see its log in $OUT"
        sleep 0.1
    done
    die "$3 did not listen on 127.0.0.1:$1 within 10 s"
}

# cosign_config FILE: a Connaisseur-format configuration with one cosign validator that trusts
# the bench CA for TLS and the seeded key for signatures, used for every image.
cosign_config() {
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
    } >"$1"
}

# review_of IMAGE FILE: the minimal Pod review, its one container running IMAGE.
review_of() {
    jq --arg image "$1" '.request.object.spec.containers[0].image = $image' \
        bench/bodies/review-minimal.json >"$2"
}

COSIGN_SKIPPED=
rm -f "$OUT"/cosign-*.json "$OUT/slow-registry.log"
if ! command -v docker-registry >/dev/null; then
    COSIGN_SKIPPED="docker-registry is not installed (apt-get install docker-registry)"
    echo "bench: WARNING: cosign scenarios skipped: $COSIGN_SKIPPED" >&2
else
    PKI=$OUT/registry-pki
    REGISTRY_DIR=$OUT/registry
    rm -rf "$REGISTRY_DIR"
    mkdir -p "$REGISTRY_DIR/data"
    "$SEED" pki --dir "$PKI"
    REGISTRY_PORT=$(free_port)
    cat >"$REGISTRY_DIR/config.yml" <<YAML
version: 0.1
log: {level: warn}
storage:
  filesystem: {rootdirectory: $REGISTRY_DIR/data}
http:
  addr: 127.0.0.1:$REGISTRY_PORT
  secret: tastevin-bench
  tls: {certificate: $PKI/server.crt, key: $PKI/server.key}
YAML
    echo "== docker-registry (TLS, bench CA) on 127.0.0.1:$REGISTRY_PORT, one signed image"
    docker-registry serve "$REGISTRY_DIR/config.yml" >"$OUT/docker-registry.log" 2>&1 &
    SERVER_PIDS+=("$!")
    wait_listening "$REGISTRY_PORT" "$!" docker-registry
    read -r SIGNED_IMAGE SIGNED_DIGEST < <("$SEED" push --registry "127.0.0.1:$REGISTRY_PORT" \
        --ca "$PKI/ca.pem" --public-key-out "$PKI/signer.pub" --images 1)
    [[ -n ${SIGNED_DIGEST:-} ]] || die "could not push the signed image; see $OUT/docker-registry.log"
    echo "   $SIGNED_IMAGE@$SIGNED_DIGEST"
    cosign_config "$OUT/cosign.yaml"
    review_of "$SIGNED_IMAGE" "$OUT/review-signed.json"
    # signed_load NAME [loadgen options...]: /mutate with the signed image on the current server.
    signed_load() {
        local name=$1
        shift
        loadgen_json "$name" --url "https://127.0.0.1:$PORT/mutate" \
            --body "$OUT/review-signed.json" --content-type application/json \
            --expect-body "$ALLOWED" "$@"
    }

    echo "== cold cosign validation (CACHE_EXPIRY_SECONDS=0), 1 connection, ${COLD_DURATION}s"
    SERVER_ENV=(CACHE_EXPIRY_SECONDS=0)
    start_server cosign-cold --config "$OUT/cosign.yaml"
    signed_load cosign-cold --connections 1 \
        --duration $(plus "$COLD_DURATION" "$WARMUP") --warmup "$WARMUP"
    stop_server

    echo "== cached cosign /mutate, $CONNECTIONS connections, ${DURATION}s"
    SERVER_ENV=()
    start_server cosign-cached --config "$OUT/cosign.yaml"
    signed_load cosign-cached --connections "$CONNECTIONS" \
        --duration $(plus "$DURATION" "$WARMUP") --warmup "$WARMUP"
    stop_server

    SLOW_PORT=$(free_port)
    echo "== slow registry on 127.0.0.1:$SLOW_PORT (holds each connection ${SLOW_HOLD_MS} ms)"
    "$SLOW_REGISTRY" --listen "127.0.0.1:$SLOW_PORT" --hold-ms "$SLOW_HOLD_MS" \
        >"$OUT/slow-registry.log" 2>&1 &
    SERVER_PIDS+=("$!")
    wait_listening "$SLOW_PORT" "$!" slow-registry
    # One image per connection (slow/app0, slow/app1, …): identical validations in flight are
    # coalesced, and the scenario is about that many distinct validations waiting.
    review_of "127.0.0.1:$SLOW_PORT/slow/appCONNECTION:v1" "$OUT/review-slow.json"
    # slow_run NAME PROBE_AFTER: one request on each of SLOW_VALIDATIONS connections, /metrics
    # probed every 10 ms from PROBE_AFTER s to SLOW_PROBE_END s. A fresh server each time.
    slow_run() {
        SERVER_ENV=(CACHE_EXPIRY_SECONDS=0)
        start_server "$1" --config "$OUT/cosign.yaml" --workers $((SLOW_VALIDATIONS + 28))
        SERVER_ENV=()
        # Every validation fails once the registry hangs up: the answers are denials.
        loadgen_json "$1" --url "https://127.0.0.1:$PORT/mutate" \
            --body "$OUT/review-slow.json" --vary CONNECTION --content-type application/json \
            --expect-body '"allowed":false' --connections "$SLOW_VALIDATIONS" \
            --requests-per-connection 1 --duration "$SLOW_PROBE_END" --timeout-ms 40000 \
            --probe-url "https://127.0.0.1:$PORT/metrics" --probe-interval-ms 10 \
            --probe-after "$2"
        stop_server
    }
    # The same probe on the same setup with nothing in flight (the load is one GET /health):
    # what the machine itself does to the tail, to compare the runs below with.
    echo "== /metrics probe, same setup, no validation in flight (baseline)"
    SERVER_ENV=(CACHE_EXPIRY_SECONDS=0)
    start_server cosign-slow-baseline --config "$OUT/cosign.yaml" --workers $((SLOW_VALIDATIONS + 28))
    SERVER_ENV=()
    loadgen_json cosign-slow-baseline --url "https://127.0.0.1:$PORT/health" --connections 1 \
        --requests-per-connection 1 --duration "$SLOW_PROBE_END" \
        --probe-url "https://127.0.0.1:$PORT/metrics" --probe-interval-ms 10 \
        --probe-after "$SLOW_SETTLED"
    stop_server
    echo "== /metrics probe while $SLOW_VALIDATIONS validations arrive and wait on the slow registry"
    slow_run cosign-slow-arrival 0
    echo "== /metrics probe while $SLOW_VALIDATIONS validations wait (from ${SLOW_SETTLED}s on)"
    slow_run cosign-slow "$SLOW_SETTLED"
fi
SLOW_MAX_WAITING=$(tail -n 1 "$OUT/slow-registry.log" 2>/dev/null \
    | sed -n 's/.*max_waiting=\([0-9]*\).*/\1/p')

# ---- Notary v1 against a local notary-server --------------------------------------------
# proc_cpu_ticks PID: user + system CPU time of PID in clock ticks (fields 14 and 15 of stat,
# counted after the parenthesised command name, which may hold spaces).
proc_cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }

# notaryv1_config FILE ROOT_KEY_PEM_FILE: a configuration with one notaryv1 validator that
# trusts the Notary CA for TLS and pins the repository's root key, used for every image.
notaryv1_config() {
    {
        echo "validators:"
        echo "  - name: notary"
        echo "    type: notaryv1"
        echo "    host: https://127.0.0.1:$NOTARY_PORT"
        echo "    cert: |"
        sed 's/^/      /' "$NOTARY_DIR/ca.pem"
        echo "    trustRoots:"
        echo "      - name: default"
        echo "        key: |"
        sed 's/^/          /' "$2"
        echo "policy:"
        echo '  - pattern: "*:*"'
        echo "    validator: notary"
    } >"$1"
}

NOTARY_SKIPPED=
NOTARY_CPU_US=
rm -f "$OUT"/notaryv1-*.json
if ! command -v notary-server >/dev/null || ! command -v notary >/dev/null; then
    NOTARY_SKIPPED="notary or notary-server is not installed (apt-get install notary)"
    echo "bench: WARNING: Notary v1 scenario skipped: $NOTARY_SKIPPED" >&2
elif ! command -v openssl >/dev/null; then
    NOTARY_SKIPPED="openssl is needed to extract the root key (apt-get install openssl)"
    echo "bench: WARNING: Notary v1 scenario skipped: $NOTARY_SKIPPED" >&2
else
    NOTARY_DIR=$OUT/notary
    rm -rf "$NOTARY_DIR"
    "$SEED" pki --dir "$NOTARY_DIR"
    NOTARY_PORT=$(free_port)
    # Local signing (no notary-signer) and in-memory storage, as tests/support/notary.rs does.
    cat >"$NOTARY_DIR/server.json" <<JSON
{"server": {"http_addr": "127.0.0.1:$NOTARY_PORT", "tls_key_file": "$NOTARY_DIR/server.key",
            "tls_cert_file": "$NOTARY_DIR/server.crt"},
 "trust_service": {"type": "local", "hostname": "", "port": "", "key_algorithm": "ecdsa"},
 "storage": {"backend": "memory"},
 "logging": {"level": "error"}}
JSON
    echo "== notary-server (TLS, bench CA) on 127.0.0.1:$NOTARY_PORT, one signed tag"
    notary-server -config "$NOTARY_DIR/server.json" -logf logfmt >"$OUT/notary-server.log" 2>&1 &
    NOTARY_PID=$!
    SERVER_PIDS+=("$NOTARY_PID")
    wait_listening "$NOTARY_PORT" "$NOTARY_PID" notary-server
    # The tag points at a made-up manifest: a notaryv1 validation reads only the trust data.
    NOTARY_GUN=registry.test/bench/app
    NOTARY_HEX=$(printf 'tastevin bench manifest' | sha256sum | cut -d' ' -f1)
    notary_client() {
        NOTARY_ROOT_PASSPHRASE=bench-root NOTARY_TARGETS_PASSPHRASE=bench-targets \
            NOTARY_SNAPSHOT_PASSPHRASE=bench-snapshot \
            notary -d "$NOTARY_DIR/trust" -s "https://127.0.0.1:$NOTARY_PORT" \
            --tlscacert "$NOTARY_DIR/ca.pem" "$@" </dev/null >>"$OUT/notary-client.log" 2>&1 \
            || die "notary $*: failed; see $OUT/notary-client.log and $OUT/notary-server.log"
    }
    : >"$OUT/notary-client.log"
    notary_client init "$NOTARY_GUN"
    notary_client addhash "$NOTARY_GUN" v1 423 --sha256 "$NOTARY_HEX"
    notary_client publish "$NOTARY_GUN"
    # Connaisseur pins the public key of root's certificate (an ecdsa-x509 key: a base64 PEM
    # certificate), as SPKI PEM.
    jq -r '.signed.roles.root.keyids[0] as $id | .signed.keys[$id].keyval.public' \
        "$NOTARY_DIR/trust/tuf/$NOTARY_GUN/metadata/root.json" | base64 -d \
        | openssl x509 -pubkey -noout >"$NOTARY_DIR/root.pub" \
        || die "could not extract the root key of $NOTARY_GUN"
    echo "   $NOTARY_GUN:v1 -> sha256:$NOTARY_HEX"
    notaryv1_config "$OUT/notaryv1.yaml" "$NOTARY_DIR/root.pub"
    review_of "$NOTARY_GUN:v1" "$OUT/review-notary.json"

    echo "== cold Notary v1 validation (CACHE_EXPIRY_SECONDS=0), 1 connection, ${COLD_DURATION}s"
    SERVER_ENV=(CACHE_EXPIRY_SECONDS=0)
    start_server notaryv1-cold --config "$OUT/notaryv1.yaml"
    SERVER_ENV=()
    # loadgen checks only that every answer allows; check once that the patch pins the signed
    # digest, so the figures are those of a complete validation.
    if command -v curl >/dev/null; then
        PINNED=$(curl -sk --max-time 10 -H 'Content-Type: application/json' \
            --data-binary @"$OUT/review-notary.json" "https://127.0.0.1:$PORT/mutate" \
            | jq -r '.response.patch // empty' | base64 -d) || true
        if [[ $PINNED != *"@sha256:$NOTARY_HEX"* ]]; then
            echo "bench: Notary v1 answer does not pin sha256:$NOTARY_HEX (patch: $PINNED)" >&2
            FAILED=1
        fi
    fi
    NOTARY_TICKS_BEFORE=$(proc_cpu_ticks "$NOTARY_PID")
    loadgen_json notaryv1-cold --url "https://127.0.0.1:$PORT/mutate" \
        --body "$OUT/review-notary.json" --content-type application/json \
        --expect-body "$ALLOWED" --connections 1 \
        --duration $(plus "$COLD_DURATION" "$WARMUP") --warmup "$WARMUP"
    NOTARY_TICKS=$(($(proc_cpu_ticks "$NOTARY_PID") - NOTARY_TICKS_BEFORE))
    stop_server
    # notary-server's CPU per validation, over the same run (warm-up included) as tastevin's:
    # its CPU time scaled by tastevin's CPU time per validation over tastevin's CPU time.
    NOTARY_CPU_US=$(jq -r --argjson ticks "$NOTARY_TICKS" \
        'if .cpu_secs.server > 0 and .cpu_secs.server_us_per_request != null
         then ($ticks / 100 * .cpu_secs.server_us_per_request / .cpu_secs.server * 10 | round / 10)
         else "n/a" end' "$OUT/notaryv1-cold.json")
    kill -TERM "$NOTARY_PID"
    wait "$NOTARY_PID" 2>/dev/null || true
fi

BINARY_SIZE=$(stat -c %s "$SERVER")

# ---- summary ----------------------------------------------------------------------------
field() { jq -r "$2 // \"n/a\"" "$OUT/$1.json" 2>/dev/null || echo n/a; }
# verdict VALUE OP LIMIT: "yes"/"NO", or "n/a" when the value is missing.
verdict() {
    [[ $1 == n/a || -z $1 ]] && { echo n/a; return; }
    awk -v v="$1" -v l="$3" -v op="$2" \
        'BEGIN { ok = (op == "<=") ? (v <= l) : (v >= l); print ok ? "yes" : "NO" }'
}
mib() { [[ $1 == n/a || -z $1 ]] && echo n/a || awk -v k="$1" 'BEGIN { printf "%.2f", k / 1024 }'; }
ms() { [[ $1 == n/a || -z $1 ]] && echo n/a || awk -v u="$1" 'BEGIN { printf "%.3f", u / 1000 }'; }

MIN_RPS=$(field mutate-minimal .requests_per_sec)
MIN_P99=$(field mutate-minimal .load.latency_us.p99)
PROBE_P99=$(field metrics-probe .probe.latency_us.p99)
PROBE_RPS=$(field metrics-probe .requests_per_sec)
DEP_RPS=$(field mutate-deployment-50 .requests_per_sec)
DEP_P99=$(field mutate-deployment-50 .load.latency_us.p99)
IDLE_CONN_RSS=$(field idle .server_rss_kib.with_idle)
IDLE_OPENED=$(field idle .idle_connections.opened)
PEAK_RSS=$(field mutate-minimal .server_rss_kib.peak)

row() { printf '%-50s %14s %14s %6s\n' "$@"; }
echo
row "figure" "measured" "target" "met"
row "/mutate minimal, req/s ($CONNECTIONS conn)" "$MIN_RPS" ">= 30000" "$(verdict "$MIN_RPS" ">=" 30000)"
row "/mutate minimal, p99 ms" "$(ms "$MIN_P99")" "<= 1" "$(verdict "$MIN_P99" "<=" 1000)"
row "  (p50 / p90 / max ms)" "$(ms "$(field mutate-minimal .load.latency_us.p50)") / $(ms "$(field mutate-minimal .load.latency_us.p90)") / $(ms "$(field mutate-minimal .load.latency_us.max)")" "" ""
row "/metrics p99 ms under /mutate load" "$(ms "$PROBE_P99")" "<= 1" "$(verdict "$PROBE_P99" "<=" 1000)"
row "  (p50 / p90 / max ms; $(field metrics-probe .probe.answered) probes)" "$(ms "$(field metrics-probe .probe.latency_us.p50)") / $(ms "$(field metrics-probe .probe.latency_us.p90)") / $(ms "$(field metrics-probe .probe.latency_us.max)")" "" ""
row "  (/mutate req/s during the probe)" "$PROBE_RPS" "" ""
row "  (server CPU us/request; loadgen CPU s)" "$(field mutate-minimal .cpu_secs.server_us_per_request); $(field mutate-minimal .cpu_secs.client)" "" ""
row "/mutate 3-container Deployment, 50 rules, req/s" "$DEP_RPS" ">= 20000" "$(verdict "$DEP_RPS" ">=" 20000)"
row "/mutate 3-container Deployment, 50 rules, p99 ms" "$(ms "$DEP_P99")" "<= 1" "$(verdict "$DEP_P99" "<=" 1000)"
row "  (p50 / p90 / max ms)" "$(ms "$(field mutate-deployment-50 .load.latency_us.p50)") / $(ms "$(field mutate-deployment-50 .load.latency_us.p90)") / $(ms "$(field mutate-deployment-50 .load.latency_us.max)")" "" ""
row "  (server CPU us/request; loadgen CPU s)" "$(field mutate-deployment-50 .cpu_secs.server_us_per_request); $(field mutate-deployment-50 .cpu_secs.client)" "" ""
row "idle RSS MiB (5 s after start)" "$(mib "$IDLE_RSS")" "<= 4" "$(verdict "$IDLE_RSS" "<=" 4096)"
row "RSS MiB with $IDLE_OPENED idle TLS connections" "$(mib "$IDLE_CONN_RSS")" "<= 16" "$(verdict "$IDLE_CONN_RSS" "<=" 16384)"
row "  (RSS MiB of that server before them)" "$(mib "$(field idle .server_rss_kib.before)")" "" ""
row "peak RSS MiB under /mutate minimal load" "$(mib "$PEAK_RSS")" "" ""
row "peak RSS MiB under /mutate 50-rule load" "$(mib "$(field mutate-deployment-50 .server_rss_kib.peak)")" "" ""
if [[ -n $COSIGN_SKIPPED ]]; then
    row "cosign scenarios skipped: $COSIGN_SKIPPED" "" "" ""
else
    row "cold cosign validation p50 ms (1 conn)" "$(ms "$(field cosign-cold .load.latency_us.p50)")" "" ""
    row "cold cosign validation p99 ms" "$(ms "$(field cosign-cold .load.latency_us.p99)")" "" ""
    row "  (validations/s; p90 / max ms)" "$(field cosign-cold .requests_per_sec); $(ms "$(field cosign-cold .load.latency_us.p90)") / $(ms "$(field cosign-cold .load.latency_us.max)")" "" ""
    CACHED_RPS=$(field cosign-cached .requests_per_sec)
    CACHED_P99=$(field cosign-cached .load.latency_us.p99)
    row "cached cosign /mutate req/s ($CONNECTIONS conn)" "$CACHED_RPS" ">= 15000" "$(verdict "$CACHED_RPS" ">=" 15000)"
    row "cached cosign /mutate p99 ms" "$(ms "$CACHED_P99")" "<= 1" "$(verdict "$CACHED_P99" "<=" 1000)"
    row "  (p50 / p90 / max ms)" "$(ms "$(field cosign-cached .load.latency_us.p50)") / $(ms "$(field cosign-cached .load.latency_us.p90)") / $(ms "$(field cosign-cached .load.latency_us.max)")" "" ""
    SLOW_PROBE_P99=$(field cosign-slow .probe.latency_us.p99)
    row "/metrics p99 ms, $SLOW_VALIDATIONS validations waiting" "$(ms "$SLOW_PROBE_P99")" "<= 1" "$(verdict "$SLOW_PROBE_P99" "<=" 1000)"
    row "  (p50 / p90 / max ms; $(field cosign-slow .probe.answered) probes)" "$(ms "$(field cosign-slow .probe.latency_us.p50)") / $(ms "$(field cosign-slow .probe.latency_us.p90)") / $(ms "$(field cosign-slow .probe.latency_us.max)")" "" ""
    row "  (the same while they arrive: p50 / p99 ms)" "$(ms "$(field cosign-slow-arrival .probe.latency_us.p50)") / $(ms "$(field cosign-slow-arrival .probe.latency_us.p99)")" "" ""
    row "  (baseline, none in flight: p50 / p99 ms)" "$(ms "$(field cosign-slow-baseline .probe.latency_us.p50)") / $(ms "$(field cosign-slow-baseline .probe.latency_us.p99)")" "" ""
    row "  (RSS MiB of the baseline server)" "$(mib "$(field cosign-slow-baseline .server_rss_kib.peak)")" "" ""
    row "peak RSS MiB with them in flight" "$(mib "$(field cosign-slow .server_rss_kib.peak)")" "" ""
    # Bounded by the per-registry turns (validators/clients.rs), not by the validations sent.
    row "  (requests waiting at the slow registry at once)" "${SLOW_MAX_WAITING:-n/a}" "" ""
    row "  (denials; their p50 ms)" "$(field cosign-slow .load.answered); $(ms "$(field cosign-slow .load.latency_us.p50)")" "" ""
fi
if [[ -n $NOTARY_SKIPPED ]]; then
    row "Notary v1 scenario skipped: $NOTARY_SKIPPED" "" "" ""
else
    row "cold Notary v1 validation p50 ms (1 conn)" "$(ms "$(field notaryv1-cold .load.latency_us.p50)")" "" ""
    row "cold Notary v1 validation p99 ms" "$(ms "$(field notaryv1-cold .load.latency_us.p99)")" "" ""
    row "  (validations/s; p90 / max ms)" "$(field notaryv1-cold .requests_per_sec); $(ms "$(field notaryv1-cold .load.latency_us.p90)") / $(ms "$(field notaryv1-cold .load.latency_us.max)")" "" ""
    NOTARY_TASTEVIN_CPU=$(field notaryv1-cold .cpu_secs.server_us_per_request)
    # Connaisseur 2.x spends about 26 ms of CPU per Notary v1 validation of one image.
    row "tastevin CPU ms per cold Notary v1 validation" "$(ms "$NOTARY_TASTEVIN_CPU")" "< 26" "$(verdict "$NOTARY_TASTEVIN_CPU" "<=" 26000)"
    row "  (notary-server CPU ms per validation)" "$(ms "${NOTARY_CPU_US:-n/a}")" "" ""
fi
row "binary size bytes (stripped)" "$BINARY_SIZE" "" ""
# The cosign scenarios' JSON, or null when they were skipped.
scenario_json() { [[ -s $OUT/$1.json ]] && cat "$OUT/$1.json" || echo null; }
jq -n --argjson idle_rss_kib "${IDLE_RSS:-null}" --argjson binary_bytes "$BINARY_SIZE" \
    --arg load_average "$LOAD_AVERAGE" \
    --slurpfile minimal "$OUT/mutate-minimal.json" --slurpfile probe "$OUT/metrics-probe.json" \
    --slurpfile deployment "$OUT/mutate-deployment-50.json" --slurpfile idle "$OUT/idle.json" \
    --argjson cold "$(scenario_json cosign-cold)" --argjson cached "$(scenario_json cosign-cached)" \
    --argjson slow "$(scenario_json cosign-slow)" --argjson arrival "$(scenario_json cosign-slow-arrival)" \
    --argjson baseline "$(scenario_json cosign-slow-baseline)" \
    --argjson slow_max_waiting "${SLOW_MAX_WAITING:-null}" \
    --argjson notary_cold "$(scenario_json notaryv1-cold)" \
    --argjson notary_server_cpu_us "$(jq -n --arg v "${NOTARY_CPU_US:-}" '$v | tonumber? // null')" \
    '{load_average_before: $load_average, idle_rss_kib: $idle_rss_kib, binary_bytes: $binary_bytes,
      mutate_minimal: $minimal[0], metrics_probe: $probe[0], mutate_deployment_50_rules: $deployment[0],
      idle_connections: $idle[0], cosign_cold: $cold, cosign_cached: $cached,
      cosign_slow_registry: ($slow + {slow_registry_max_waiting: $slow_max_waiting}),
      cosign_slow_registry_arrival: $arrival, cosign_slow_registry_baseline: $baseline,
      notaryv1_cold: (if $notary_cold == null then null
                      else $notary_cold + {notary_server_us_per_validation: $notary_server_cpu_us} end)}' \
    >"$OUT/summary.json" 2>/dev/null \
    || echo "bench: could not write $OUT/summary.json (a scenario left no JSON)" >&2

if [[ -n $SMOKE ]]; then
    echo
    echo "== bench/compare.sh --smoke: its matrix, the same server on both sides"
    budget=$(remaining)
    ((budget > 0)) || die "time budget of ${MEASURE_BUDGET}s exhausted before bench/compare.sh"
    BENCH_LOADGEN=$LOADGEN timeout "$budget" bench/compare.sh --smoke --out "$OUT/compare" \
        --server a "$SERVER" --server b "$SERVER" || FAILED=1
    if command -v wrk >/dev/null; then
        echo "== bench/pinned.sh, one short run"
        budget=$(remaining)
        ((budget > 0)) || die "time budget of ${MEASURE_BUDGET}s exhausted before bench/pinned.sh"
        timeout "$budget" bench/pinned.sh --runs 1 --duration 1 a="$SERVER" || FAILED=1
    else
        echo "bench: WARNING: wrk is missing, bench/pinned.sh not run" >&2
    fi
fi

echo
echo "JSON per scenario, all of them in summary.json, and server logs: $OUT"
echo "measuring took $((SECONDS - MEASURE_START)) s; load average before: $LOAD_AVERAGE"
exit "$FAILED"
