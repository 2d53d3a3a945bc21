#!/usr/bin/env bash
# Side-by-side benchmark: the same scenario matrix, with the same request bodies, the same
# client (loadgen pinned to CPU 1), the same connections and the same duration, against two
# Connaisseur-compatible servers, and one table (markdown + JSON) with their ratios.
#
# The matrix measures static /mutate (every rule a static allow, so no registry is involved):
#   containers per Pod 1, 10, 100 against a 10-rule policy, and
#   policy size 10, 100, 1,000 rules for a one-container Pod,
# and reports, per server, requests/s, p50/p99 latency and server CPU time per 1,000 requests
# (utime + stime from /proc/PID/stat over the run, divided by the answers), and how that CPU
# time grows with the size (linear growth would be ×10 and ×100).
#
# Usage:
#   bench/compare.sh [OPTIONS] SIDE SIDE
#   bench/compare.sh --generate DIR     write the bodies and configurations and exit
# SIDE is one of
#   --server NAME BINARY                a tastevin binary: started for every configuration as
#                                       `BINARY serve --listen 127.0.0.1:PORT --config FILE`,
#                                       pinned to CPU 0, stopped with SIGTERM
#   --peer NAME BASE_URL PID [RESTART]  a server already running (e.g. Python Connaisseur in a
#                                       container), reached at BASE_URL (https://HOST:PORT,
#                                       /mutate is appended), its CPU time and RSS read from
#                                       /proc/PID. RESTART, when given, is run by bash with
#                                       BENCH_CONFIG set to a configuration file before each
#                                       configuration's scenarios: it must restart the server
#                                       with that configuration, wait until it answers, and
#                                       print the new PID as the last line of its output.
#                                       Without RESTART, only the scenarios of the 10-rule
#                                       configuration run against it (start it with
#                                       DIR/configs/rules-10.yaml from --generate).
# Options:
#   --duration SECS      measured seconds per scenario (default 5, after 1 s of warm-up)
#   --connections N      keep-alive connections (default 16)
#   --expect NAME TEXT   count an answer of side NAME whose body lacks TEXT as a failure
#                        (default '"allowed":true'; Python Connaisseur 2.x writes JSON with a
#                        space after the colon: --expect NAME '"allowed": true')
#   --smoke              0.3 s per scenario after 0.1 s of warm-up: proves every scenario runs
#   --out DIR            results (default target/bench/compare): compare.md, compare.json,
#                        one loadgen JSON per scenario and side, server logs
# Environment: BENCH_LOADGEN (default target/release/loadgen).
#
# Exit status: 0 when every scenario ran and every answer was 2xx and allowed (see --expect);
# 1 on any failed request, a server that did not start or stop, or a usage error.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
LOADGEN=${BENCH_LOADGEN:-$ROOT/target/release/loadgen}
OUT=$ROOT/target/bench/compare
DURATION=5
WARMUP=1
CONNECTIONS=16
SMOKE=
ALLOWED='"allowed":true'
# The matrix. Containers are measured at the smallest policy, policies with one container.
CONTAINER_SIZES=(1 10 100)
RULE_SIZES=(10 100 1000)
BASE_RULES=${RULE_SIZES[0]}

die() { echo "compare: $*" >&2; exit 1; }

# pod_review K FILE: an AdmissionReview of a Pod with K containers, each with its own image
# (registry.k8s.io/bench/appI:1.0), so no server can answer them all from one lookup.
pod_review() {
    jq --argjson k "$1" '.request.object.spec.containers =
        [range($k) | {name: "c\(.)", image: "registry.k8s.io/bench/app\(.):1.0"}]' \
        "$ROOT/bench/bodies/review-minimal.json" >"$2"
}

# rules_config N FILE: a Connaisseur config.yaml with N policy rules, all using one static
# allow validator. Three match every bench image: `*:*`, `registry.k8s.io/*:*` and the most
# specific one, `registry.k8s.io/bench/*:*`; the N-3 others are distractors that never match
# (half in the same registry, so they share a prefix with the images).
rules_config() {
    local n=$1 i
    {
        echo "validators:"
        echo "  - name: allow"
        echo "    type: static"
        echo "    approve: true"
        echo "policy:"
        echo '  - pattern: "*:*"'
        echo "    validator: allow"
        for ((i = 0; i < n - 3; i++)); do
            if ((i % 2 == 0)); then
                echo "  - pattern: \"registry.k8s.io/team$i/*:*\""
            else
                echo "  - pattern: \"mirror$i.example.com/*:*\""
            fi
            echo "    validator: allow"
        done
        echo '  - pattern: "registry.k8s.io/*:*"'
        echo "    validator: allow"
        echo '  - pattern: "registry.k8s.io/bench/*:*"'
        echo "    validator: allow"
    } >"$2"
}

generate() {
    mkdir -p "$1/bodies" "$1/configs"
    local k n
    for k in "${CONTAINER_SIZES[@]}"; do pod_review "$k" "$1/bodies/pod-$k.json"; done
    for n in "${RULE_SIZES[@]}"; do rules_config "$n" "$1/configs/rules-$n.yaml"; done
}

# ---- command line -----------------------------------------------------------------------
SIDE_NAMES=()
SIDE_KINDS=()  # server | peer
SIDE_TARGETS=() # binary, or base URL
SIDE_PIDS=()
SIDE_RESTARTS=()
SIDE_EXPECTS=()
while (($#)); do
    case $1 in
        --generate)
            (($# >= 2)) || die "--generate needs a directory"
            command -v jq >/dev/null || die "jq is needed (apt-get install jq)"
            generate "$2"
            echo "bodies and configurations written to $2"
            exit 0
            ;;
        --server)
            (($# >= 3)) || die "--server needs NAME BINARY"
            [[ -x $3 ]] || die "--server $2: '$3' is not an executable"
            SIDE_NAMES+=("$2") SIDE_KINDS+=(server) SIDE_TARGETS+=("$(realpath "$3")")
            SIDE_PIDS+=("") SIDE_RESTARTS+=("") SIDE_EXPECTS+=("$ALLOWED")
            shift 3
            ;;
        --peer)
            (($# >= 4)) || die "--peer needs NAME BASE_URL PID [RESTART]"
            [[ $4 =~ ^[0-9]+$ ]] || die "--peer $2: PID '$4' is not a number"
            SIDE_NAMES+=("$2") SIDE_KINDS+=(peer) SIDE_TARGETS+=("${3%/}") SIDE_PIDS+=("$4")
            SIDE_EXPECTS+=("$ALLOWED")
            if (($# >= 5)) && [[ $5 != --* ]]; then
                SIDE_RESTARTS+=("$5")
                shift 5
            else
                SIDE_RESTARTS+=("")
                shift 4
            fi
            ;;
        --expect)
            (($# >= 3)) || die "--expect needs NAME TEXT"
            found=
            for i in "${!SIDE_NAMES[@]}"; do
                [[ ${SIDE_NAMES[$i]} == "$2" ]] && SIDE_EXPECTS[i]=$3 found=1
            done
            [[ -n $found ]] || die "--expect $2: no side of that name before it"
            shift 3
            ;;
        --duration) (($# >= 2)) || die "--duration needs seconds"; DURATION=$2; shift 2 ;;
        --connections) (($# >= 2)) || die "--connections needs N"; CONNECTIONS=$2; shift 2 ;;
        --out) (($# >= 2)) || die "--out needs a directory"; OUT=$2; shift 2 ;;
        --smoke) SMOKE=1; shift ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done
((${#SIDE_NAMES[@]} == 2)) || die "give exactly two sides (--server NAME BINARY or --peer NAME URL PID)"
[[ ${SIDE_NAMES[0]} != "${SIDE_NAMES[1]}" ]] || die "the two sides need different names"
if [[ -n $SMOKE ]]; then
    DURATION=0.3
    WARMUP=0.1
fi
awk -v d="$DURATION" 'BEGIN { exit !(d > 0) }' || die "--duration must be a positive number"
[[ $CONNECTIONS =~ ^[1-9][0-9]*$ ]] || die "--connections must be a positive integer"
for tool in jq taskset ss awk; do
    command -v "$tool" >/dev/null || die "$tool is needed (apt-get install jq util-linux iproute2 gawk)"
done
[[ -x $LOADGEN ]] || die "missing $LOADGEN: cargo build --release -p tastevin-bench (or set BENCH_LOADGEN)"
# Two CPUs: the server on one, the client on the other, as the Python peer was measured.
(($(nproc) >= 2)) || die "needs at least 2 CPUs (server on CPU 0, loadgen on CPU 1)"

rm -rf "$OUT"
mkdir -p "$OUT"
generate "$OUT"
LOAD_AVERAGE=$(cut -d' ' -f1 /proc/loadavg)

STARTED=()
cleanup() {
    for pid in "${STARTED[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
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

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo null; }

# start_side I CONFIG: makes side I serve CONFIG; sets PID and URL. Returns 1 when the side
# cannot serve CONFIG (a peer without RESTART, for any but the base configuration).
start_side() {
    local i=$1 config=$2 name=${SIDE_NAMES[$1]}
    if [[ ${SIDE_KINDS[$i]} == peer ]]; then
        URL=${SIDE_TARGETS[$i]}
        if [[ -n ${SIDE_RESTARTS[$i]} ]]; then
            PID=$(BENCH_CONFIG=$config bash -c "${SIDE_RESTARTS[$i]}" | tail -n 1) \
                || die "restart command of '$name' failed"
            [[ $PID =~ ^[0-9]+$ ]] || die "restart command of '$name' printed '$PID', not a PID"
        elif [[ $config == "$OUT/configs/rules-$BASE_RULES.yaml" ]]; then
            PID=${SIDE_PIDS[$i]}
        else
            return 1
        fi
        [[ -r /proc/$PID/stat ]] || die "PID $PID of '$name' is not a running process"
        return 0
    fi
    local binary=${SIDE_TARGETS[$i]} port log
    port=$(free_port)
    log="$OUT/server-$name-$(basename "$config" .yaml).log"
    # taskset execs the server: $! is the server itself (checked below through /proc/PID/exe).
    taskset -c 0 "$binary" serve --listen "127.0.0.1:$port" --config "$config" >"$log" 2>&1 &
    PID=$!
    STARTED+=("$PID")
    URL="https://127.0.0.1:$port"
    local exe=
    for _ in $(seq 50); do
        exe=$(readlink "/proc/$PID/exe" 2>/dev/null) || true
        [[ $exe == "$binary" ]] && break
        sleep 0.02
    done
    [[ $exe == "$binary" ]] || die "PID $PID is '$exe', not $binary"
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        kill -0 "$PID" 2>/dev/null || die "server '$name' exited at startup; see $log"
        sleep 0.1
    done
    die "server '$name' did not listen on 127.0.0.1:$port within 10 s"
}

stop_side() {
    [[ ${SIDE_KINDS[$1]} == server ]] || return 0
    kill -TERM "$PID"
    for _ in $(seq 100); do
        if ! kill -0 "$PID" 2>/dev/null; then
            wait "$PID" || die "server '${SIDE_NAMES[$1]}' exited with status $? after SIGTERM"
            return 0
        fi
        sleep 0.1
    done
    die "server '${SIDE_NAMES[$1]}' still running 10 s after SIGTERM"
}

FAILED=0
# measure I SCENARIO BODY: one loadgen run against side I (PID, URL set by start_side).
measure() {
    local name=${SIDE_NAMES[$1]} status=0
    local file="$OUT/$2-$name.json"
    taskset -c 1 "$LOADGEN" --insecure --json --server-pid "$PID" \
        --url "$URL/mutate" --body "$3" --content-type application/json \
        --expect-body "${SIDE_EXPECTS[$1]}" --connections "$CONNECTIONS" \
        --duration "$(awk -v d="$DURATION" -v w="$WARMUP" 'BEGIN { print d + w }')" \
        --warmup "$WARMUP" --timeout-ms 10000 >"$file" || status=$?
    if ((status != 0)); then
        echo "compare: $2 against '$name' failed (loadgen exit $status): $(head -c 2000 "$file")" >&2
        FAILED=1
    fi
    printf '   %-16s %-10s %10s req/s  p99 %8s us  server CPU %8s us/request\n' "$2" "$name" \
        "$(jq -r '.requests_per_sec // "n/a"' "$file" 2>/dev/null || echo n/a)" \
        "$(jq -r '.load.latency_us.p99 // "n/a"' "$file" 2>/dev/null || echo n/a)" \
        "$(jq -r '.cpu_secs.server_us_per_request // "n/a"' "$file" 2>/dev/null || echo n/a)"
}

# Scenarios per configuration; both sides run a configuration's scenarios before the next
# configuration, one side after the other, so slow drifts of the machine's load hit both.
declare -A START_RSS
for n in "${RULE_SIZES[@]}"; do
    config="$OUT/configs/rules-$n.yaml"
    if ((n == BASE_RULES)); then
        scenarios=()
        for k in "${CONTAINER_SIZES[@]}"; do scenarios+=("c$k-r$n:$OUT/bodies/pod-$k.json"); done
    else
        scenarios=("c1-r$n:$OUT/bodies/pod-1.json")
    fi
    for i in 0 1; do
        if ! start_side "$i" "$config"; then
            echo "== ${SIDE_NAMES[$i]}: skipping $n rules (a peer without a restart command)"
            continue
        fi
        echo "== ${SIDE_NAMES[$i]}: $n rules, PID $PID, $URL"
        # RSS right after start (before any request) of the servers compare.sh starts.
        [[ ${SIDE_KINDS[$i]} == server ]] && START_RSS["${SIDE_NAMES[$i]}-$n"]=$(rss_kib "$PID")
        for scenario in "${scenarios[@]}"; do
            measure "$i" "${scenario%%:*}" "${scenario#*:}"
        done
        stop_side "$i"
    done
done

# ---- the table --------------------------------------------------------------------------
A=${SIDE_NAMES[0]}
B=${SIDE_NAMES[1]}
SCENARIOS=()
for k in "${CONTAINER_SIZES[@]}"; do SCENARIOS+=("c$k-r$BASE_RULES"); done
for n in "${RULE_SIZES[@]:1}"; do SCENARIOS+=("c1-r$n"); done
# One JSON object: per scenario and side the figures, then B ÷ A ratios and the growth of CPU
# per 1,000 requests with containers and with rules, per side.
{
    for s in "${SCENARIOS[@]}"; do
        for side in "$A" "$B"; do
            f="$OUT/$s-$side.json"
            if [[ -s $f ]] && jq -e . "$f" >/dev/null 2>&1; then
                jq -c --arg s "$s" --arg side "$side" '{scenario: $s, side: $side,
                    rps: .requests_per_sec, p50_us: .load.latency_us.p50,
                    p99_us: .load.latency_us.p99, errors: (.load.error_total + .load.non_2xx),
                    cpu_ms_per_1000: .cpu_secs.server_us_per_request,
                    peak_rss_kib: .server_rss_kib.peak}' "$f"
            fi
        done
    done
} | jq -s --arg a "$A" --arg b "$B" --arg load "$LOAD_AVERAGE" --argjson duration "$DURATION" \
    --argjson connections "$CONNECTIONS" --argjson smoke "$([[ -n $SMOKE ]] && echo true || echo false)" \
    --argjson containers "$(printf '%s\n' "${CONTAINER_SIZES[@]}" | jq -s .)" \
    --argjson rules "$(printf '%s\n' "${RULE_SIZES[@]}" | jq -s .)" \
    --argjson start_rss "$(for key in "${!START_RSS[@]}"; do
        jq -n --arg k "$key" --arg v "${START_RSS[$key]}" '{($k): ($v | tonumber? // null)}'
    done | jq -s 'add // {}')" '
    . as $runs
    | def get($s; $side): ($runs | map(select(.scenario == $s and .side == $side)) | first) // null;
    def ratio($x; $y): if $x == null or $y == null or $y == 0 then null
                       else ($x / $y * 100 | round / 100) end;
    def growth($side; $names):
        ($names | map(get(.; $side).cpu_ms_per_1000)) as $cpu
        | [range($cpu | length) | ratio($cpu[.]; $cpu[0])];
    ($containers | map("c\(.)-r\($rules[0])")) as $by_containers
    | ([$by_containers[0]] + ($rules[1:] | map("c1-r\(.)"))) as $by_rules
    | {sides: [$a, $b], load_average_before: $load, measured_secs: $duration,
       connections: $connections, smoke: $smoke,
       rss_after_start_kib: $start_rss,
       scenarios: [($by_containers + $by_rules[1:])[] as $s
           | {scenario: $s, ($a): get($s; $a), ($b): get($s; $b),
              b_over_a: {rps: ratio(get($s; $b).rps; get($s; $a).rps),
                         p99: ratio(get($s; $b).p99_us; get($s; $a).p99_us),
                         cpu_per_request: ratio(get($s; $b).cpu_ms_per_1000;
                                                get($s; $a).cpu_ms_per_1000)}}],
       growth: {containers: {sizes: $containers, ($a): growth($a; $by_containers),
                             ($b): growth($b; $by_containers)},
                rules: {sizes: $rules, ($a): growth($a; $by_rules), ($b): growth($b; $by_rules)}}}
    ' >"$OUT/compare.json"

{
    echo "Static \`/mutate\`, $CONNECTIONS connections, ${DURATION} s measured per scenario after ${WARMUP} s" \
        "of warm-up, loadgen pinned to CPU 1$(for i in 0 1; do
            [[ ${SIDE_KINDS[$i]} == server ]] && printf ', %s pinned to CPU 0' "${SIDE_NAMES[$i]}"
        done); load average $LOAD_AVERAGE before the run$([[ -n $SMOKE ]] && echo ' (smoke run: figures meaningless)')."
    echo
    echo "| scenario | $A req/s | $B req/s | $B ÷ $A | $A p99 ms | $B p99 ms | $A CPU ms / 1,000 req | $B CPU ms / 1,000 req | $B ÷ $A CPU |"
    echo "|---|---|---|---|---|---|---|---|---|"
    jq -r --arg a "$A" --arg b "$B" '
        def v($x): if $x == null then "n/a" else ($x | tostring) end;
        def ms($x): if $x == null then "n/a" else ($x / 1000 * 1000 | round / 1000 | tostring) end;
        def title: capture("c(?<c>[0-9]+)-r(?<r>[0-9]+)") | "\(.c) container(s), \(.r) rules";
        .scenarios[] | "| \(.scenario | title) | \(v(.[$a].rps)) | \(v(.[$b].rps)) | \(v(.b_over_a.rps))"
            + " | \(ms(.[$a].p99_us)) | \(ms(.[$b].p99_us)) | \(v(.[$a].cpu_ms_per_1000))"
            + " | \(v(.[$b].cpu_ms_per_1000)) | \(v(.b_over_a.cpu_per_request)) |"' "$OUT/compare.json"
    echo
    echo "Growth of server CPU per request with the size (×1 at the smallest; linear would be ×10, ×100):"
    echo
    echo "| side | containers $(jq -r '.growth.containers.sizes | map(tostring) | join(" → ")' "$OUT/compare.json") | rules $(jq -r '.growth.rules.sizes | map(tostring) | join(" → ")' "$OUT/compare.json") |"
    echo "|---|---|---|"
    jq -r --arg a "$A" --arg b "$B" '
        def g($x): $x | map(if . == null then "n/a" else "×\(.)" end) | join(" → ");
        .growth as $g | [$a, $b][] | "| \(.) | \(g($g.containers[.])) | \(g($g.rules[.])) |"' \
        "$OUT/compare.json"
    echo
    echo "RSS right after start, before any request (the servers compare.sh starts), MiB:" \
        "$(jq -r '.rss_after_start_kib | to_entries | sort_by(.key)
            | map("\(.key | sub("-(?<n>[0-9]+)$"; " (\(.n) rules)")) \(.value / 1024 * 100 | round / 100)")
            | join(", ")' "$OUT/compare.json")"
} >"$OUT/compare.md"

echo
cat "$OUT/compare.md"
echo
echo "table: $OUT/compare.md, JSON: $OUT/compare.json, per-run loadgen JSON and logs: $OUT"
exit "$FAILED"
