#!/usr/bin/env bash
# Throughput of tastevin builds side by side with wrk, the way issue 13 states its figure:
# static /mutate (a Pod with one container, an allow-all static policy), 16 keep-alive TLS
# connections, the server pinned to CPU 0 and `wrk -t1 -c16` pinned to CPU 1. wrk's client
# costs less CPU than loadgen's, so this shows the server's own ceiling. The builds take turns
# (A B A B …) so that the machine's load falls on all of them alike.
#
# Usage: bench/pinned.sh [--runs N] [--duration SECS] NAME=BINARY NAME=BINARY...
#   e.g. bench/pinned.sh glibc=target/release/tastevin \
#            musl=target/x86_64-unknown-linux-musl/release/tastevin
# Needs wrk, taskset, openssl. Prints one line per run and a table of medians; exits 1 when a
# server does not start or wrk reports errors or non-2xx answers.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=3
duration=10
sides=()
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) runs=$2; shift 2 ;;
        --duration) duration=$2; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *=*) sides+=("$1"); shift ;;
        *) echo "pinned: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
[ ${#sides[@]} -ge 1 ] || { echo "pinned: give at least one NAME=BINARY" >&2; exit 2; }
for tool in wrk taskset openssl; do
    command -v "$tool" >/dev/null || { echo "pinned: $tool is missing" >&2; exit 1; }
done

work=$(mktemp -d)
server=
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
    -subj /CN=localhost -keyout "$work/tls.key" -out "$work/tls.crt" 2>/dev/null
printf 'validators:\n- name: default\n  type: static\n  approve: true\npolicy:\n- pattern: "*:*"\n' \
    >"$work/config.yaml"
cat >"$work/post.lua" <<EOF
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = assert(io.open("$PWD/bench/bodies/review-minimal.json", "rb"))
wrk.body = f:read("*a")
f:close()
EOF

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# measure NAME BINARY: one run; appends "NAME req/s p50_us p99_us cpu_us_per_request".
measure() {
    local name=$1 binary=$2 port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    taskset -c 0 "$binary" serve --listen "127.0.0.1:$port" --cert "$work/tls.crt" \
        --key "$work/tls.key" --config "$work/config.yaml" >"$work/$name.log" 2>&1 &
    server=$!
    for _ in $(seq 100); do
        grep -q "listening on" "$work/$name.log" 2>/dev/null && break
        sleep 0.05
    done
    grep -q "listening on" "$work/$name.log" || { cat "$work/$name.log" >&2; exit 1; }
    local url="https://127.0.0.1:$port/mutate"
    taskset -c 1 wrk -t1 -c16 -d2s -s "$work/post.lua" "$url" >/dev/null
    local before after
    before=$(cpu_ticks "$server")
    taskset -c 1 wrk -t1 -c16 -d"${duration}s" --latency -s "$work/post.lua" "$url" >"$work/wrk.txt"
    after=$(cpu_ticks "$server")
    kill -TERM "$server"
    wait "$server" || true
    server=
    if grep -qE "Socket errors|Non-2xx" "$work/wrk.txt"; then
        cat "$work/wrk.txt" >&2
        exit 1
    fi
    awk -v name="$name" -v ticks=$((after - before)) -v hz="$(getconf CLK_TCK)" '
        function us(v) { if (v ~ /us$/) return v + 0; if (v ~ /ms$/) return v * 1000; return v * 1e6 }
        / 50%/ { p50 = us($2) } / 99%/ { p99 = us($2) }
        /requests in/ { n = $1 } /^Requests\/sec/ { rps = $2 }
        END { printf "%s %.0f %.0f %.0f %.2f\n", name, rps, p50, p99, ticks / hz * 1e6 / n }' \
        "$work/wrk.txt" | tee -a "$work/results"
}

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for run in $(seq "$runs"); do
    for side in "${sides[@]}"; do
        measure "${side%%=*}" "${side#*=}"
    done
done
echo
echo "| build | median req/s | p50 / p99 µs (median run) | server CPU µs / request | ÷ first |"
echo "|---|---|---|---|---|"
awk -v order="$(printf '%s ' "${sides[@]%%=*}")" '
    { rps[$1] = rps[$1] " " $2; line[$1, $2] = $3 " / " $4; cpu[$1] = cpu[$1] " " $5 }
    function median(list, a, n, i, j, t) {
        n = split(list, a, " ")
        for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
        return a[int((n + 1) / 2)]
    }
    END {
        split(order, names, " ")
        for (k = 1; k in names; k++) {
            m = median(rps[names[k]]); if (k == 1) first = m
            printf "| %s | %d | %s | %.2f | %.2f |\n", names[k], m, line[names[k], m], median(cpu[names[k]]), m / first
        }
    }' "$work/results"
