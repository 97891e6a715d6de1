#!/usr/bin/env bash
# The floor ladder: what a proxy costs on this machine before AuthGate does anything of its own.
# Five proxies in front of the same nginx backend (`return 200 "ok"`), each driven by the same
# wrk run carrying the same legacy HS256 bearer token:
#
#   nio-raw          FloorProxies raw: SwiftNIO, bytes relayed, one upstream connection per client
#   nio-http1        FloorProxies http1: the same plus NIOHTTP1's server and client codecs, heads
#                    passed through untouched (no policy, no pool, no auth)
#   authgate-public  AuthGate, every route public, rate limits off (proxy-bench.sh's gateway)
#   authgate-legacy  AuthGate verifying the token, limits and lockout on (auth-bench.sh's gateway)
#   haproxy-plain    HAProxy, nbthread 1, plain http mode
#   haproxy-jwt      HAProxy, nbthread 1, config/haproxy-jwt.cfg.template (auth-bench.sh's peer)
#
#   cd Benchmarks && swift build -c release --product FloorProxies && cd ..
#   AUTHGATE_BIN=.build-release/release/authgate Benchmarks/scripts/floor-bench.sh
#
# Environment: DURATION=10, WARMUP=2, CONNECTIONS=64, ROUNDS=1 (medians), PIN=auto (wrk on CPU 0,
# proxies and backend on CPU 1), AUTHGATE_BIN, FLOOR_BIN (default
# Benchmarks/.build/release/FloorProxies), KEEP_WORK=1, RESULTS_DIR=...
# Needs nginx, wrk, curl, python3 with PyJWT, haproxy >= 2.5, taskset.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need nginx wrk curl awk python3 taskset haproxy
python3 -c 'import jwt' 2>/dev/null || die "python3 PyJWT not found (apt-get install -y python3-jwt)"
AUTHGATE="$(find_authgate)"
FLOOR="${FLOOR_BIN:-$BENCH_DIR/.build/release/FloorProxies}"
[[ -x "$FLOOR" ]] || die "no $FLOOR: run 'cd Benchmarks && swift build -c release --product FloorProxies' or set FLOOR_BIN"
LOAD_AT_START="$(load_line)"

load_settings 10 2
wrk_cpus="" server_cpus=""
if [[ "$PIN" == "1" ]]; then wrk_cpus=0 server_cpus=1; fi
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

LEGACY_SECRET="bench-legacy-jwt-secret-0123456789abcdefghijkl"
TOKEN="$(python3 - "$LEGACY_SECRET" <<'PY'
import sys, time, jwt
now = int(time.time())
token = jwt.encode({"sub": "user-4711", "email": "jane.doe@example.com", "role": "admin",
                    "iat": now, "exp": now + 3600}, sys.argv[1], algorithm="HS256")
print(token if isinstance(token, str) else token.decode())
PY
)"
cat >"$WORK/bearer.lua" <<LUA
wrk.headers["Authorization"] = "Bearer $TOKEN"
LUA

declare -A PORT PID
for target in backend nio-raw nio-http1 authgate-public authgate-legacy haproxy-plain haproxy-jwt \
    admin-public admin-legacy; do
    PORT[$target]="$(free_port)"
done

start_nginx backend 1 "$server_cpus" "
    server {
        listen 127.0.0.1:${PORT[backend]} backlog=4096;
        default_type text/plain;
        location / { return 200 \"ok\"; }
    }"
PID[backend]="$STARTED_PID"
wait_http "http://127.0.0.1:${PORT[backend]}/"

for mode in raw http1; do
    # shellcheck disable=SC2046
    $(pin "$server_cpus") "$FLOOR" "$mode" "${PORT[nio-$mode]}" "${PORT[backend]}" >"$WORK/nio-$mode.log" 2>&1 &
    PID[nio-$mode]=$!
    PIDS+=("$!")
done

gateway() { # NAME PORT ADMIN_PORT ACCESS LIMITS
    mkdir -p "$WORK/$1"
    cat >"$WORK/$1/gateway.yaml" <<YAML
server:
  listen: "127.0.0.1:$2"
  event_loops: 1
  backlog: 4096
admin:
  listen: "127.0.0.1:$3"
upstream:
  url: "http://127.0.0.1:${PORT[backend]}"
  max_connections_per_loop: 256
  # One wrk client is one IP: no per-client cap on the pool.
  max_connections_per_client_ip: 0
logging:
  level: warning
auth:
  legacy_jwt_secret: "$LEGACY_SECRET"
$(rate_limits_yaml $5)
reload:
  watch_file: false
routes:
  - path: /
    access: $4
YAML
    # shellcheck disable=SC2046
    $(pin "$server_cpus") "$AUTHGATE" serve --config "$WORK/$1/gateway.yaml" >"$WORK/$1/stdout.log" 2>"$WORK/$1/stderr.log" &
    PID[$1]=$!
    PIDS+=("$!")
}
gateway authgate-public "${PORT[authgate-public]}" "${PORT[admin-public]}" public false
gateway authgate-legacy "${PORT[authgate-legacy]}" "${PORT[admin-legacy]}" authenticated true

mkdir -p "$WORK/haproxy-jwt" "$WORK/haproxy-plain"
sed -e "s/@PORT@/${PORT[haproxy-jwt]}/g" -e "s/@BACKEND_PORT@/${PORT[backend]}/g" \
    -e "s/@SECRET@/$LEGACY_SECRET/g" -e "s/@THREADS@/1/g" \
    "$BENCH_DIR/config/haproxy-jwt.cfg.template" >"$WORK/haproxy-jwt/haproxy.cfg"
# The plain peer: the same global and defaults sections, no http-request rules.
sed -e "s/@PORT@/${PORT[haproxy-plain]}/g" -e "s/@BACKEND_PORT@/${PORT[backend]}/g" -e "s/@THREADS@/1/g" \
    -e '/^ *http-request /d' "$BENCH_DIR/config/haproxy-jwt.cfg.template" >"$WORK/haproxy-plain/haproxy.cfg"
for target in haproxy-jwt haproxy-plain; do
    haproxy -c -q -f "$WORK/$target/haproxy.cfg" || die "haproxy rejected $WORK/$target/haproxy.cfg"
    # shellcheck disable=SC2046
    $(pin "$server_cpus") haproxy -db -f "$WORK/$target/haproxy.cfg" >"$WORK/$target/stdout.log" 2>&1 &
    PID[$target]=$!
    PIDS+=("$!")
done

TARGETS=(nio-raw nio-http1 authgate-public authgate-legacy haproxy-plain haproxy-jwt)
for target in "${TARGETS[@]}"; do
    wait_status "http://127.0.0.1:${PORT[$target]}/bench" 200 -H "Authorization: Bearer $TOKEN"
    [[ "$(curl -s -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:${PORT[$target]}/bench")" == "ok" ]] \
        || die "$target did not relay the backend's body"
done
# The two authenticating targets must really authenticate.
wait_status "http://127.0.0.1:${PORT[authgate-legacy]}/bench" 401
wait_status "http://127.0.0.1:${PORT[haproxy-jwt]}/bench" 401

RAW="$WORK/results.txt" # target round rps p50 p99 requests non2xx errors cpu_us
: >"$RAW"
measure() { # TARGET ROUND
    measure_wrk "$1 $2" "http://127.0.0.1:${PORT[$1]}/bench" "$WORK/bearer.lua" "${PID[$1]}"
}

log "authgate: $AUTHGATE; floor: $FLOOR"
log "machine: $NCPU CPUs; $(haproxy -v | head -1 | cut -d' ' -f1-3); $(nginx -v 2>&1)"
for round in $(seq 1 "$ROUNDS"); do
    # Alternate the order so that drift does not favour one target.
    if (( round % 2 == 1 )); then order=("${TARGETS[@]}"); else order=($(printf '%s\n' "${TARGETS[@]}" | tac)); fi
    for target in "${order[@]}"; do measure "$target" "$round"; done
done
for target in "${TARGETS[@]}"; do
    alive "${PID[$target]}" || die "$target exited during the run"
done

echo
echo "floor-bench: wrk -t2 -c$CONNECTIONS -d${DURATION}s --latency (after a ${WARMUP}s warm-up) with a bearer token, ROUNDS=$ROUNDS (medians), $NCPU CPUs"
if [[ "$PIN" == "1" ]]; then echo "pinning: wrk on CPU 0; each proxy (one thread) and the nginx backend on CPU 1"; else echo "pinning: none"; fi
echo "$LOAD_AT_START"
echo
awk '
    function median(list,   n, i, j, t, a) {
        n = split(list, a, " ")
        for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
        return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    {
        if (!($1 in seen)) { seen[$1] = 1; order[++count] = $1 }
        rps[$1] = rps[$1] " " $3; p99[$1] = p99[$1] " " $5; cpu[$1] = cpu[$1] " " $9; bad[$1] += $7 + $8
    }
    END {
        for (i = 1; i <= count; i++) { t = order[i]; r[t] = median(rps[t]); p[t] = median(p99[t]) }
        printf "%-16s %11s %8s %11s %14s %14s %7s\n", "target", "requests/s", "p99 ms", "CPU us/req", "rps/haproxy-jwt", "p99/haproxy-jwt", "errors"
        for (i = 1; i <= count; i++) {
            t = order[i]
            printf "%-16s %11.0f %8.3f %11.1f %14.2f %14.2f %7d\n", t, r[t], p[t], median(cpu[t]), r[t] / r["haproxy-jwt"], p[t] / p["haproxy-jwt"], bad[t]
        }
    }
' "$RAW"
echo
echo "CPU us/req = user+system CPU time of the proxy process per request; errors = non-2xx + socket errors"
