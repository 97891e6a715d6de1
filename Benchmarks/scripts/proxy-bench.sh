#!/usr/bin/env bash
# Throughput and latency of AuthGate against an nginx reverse proxy, both in front of the same
# fast nginx backend (`return 200 "ok"`), driven by wrk over keep-alive connections.
#
#   Benchmarks/scripts/proxy-bench.sh
#
# Environment:
#   DURATION=15        seconds of each measured wrk run (a 3 s warm-up run precedes each one)
#   WARMUP=3           seconds of the warm-up run
#   CONNECTIONS=64     wrk connections (-c); wrk always uses 2 threads (-t2)
#   ROUNDS=1           measured runs per target and worker count; the table shows the medians
#   WORKERS_LIST="1 2" worker counts: nginx worker_processes / authgate server.event_loops
#   AUTHGATE_BIN=...   default .build-bench/release/authgate, then .build/release/authgate
#   PIN=auto           auto: pin when the machine has 2+ CPUs; 0: no pinning; 1: always pin
#   WRK_CPUS / SERVER_CPUS / BACKEND_CPUS   override the pinning (taskset -c lists)
#   RESULTS_DIR=...    also keep every raw wrk output there
#
# Layout (with pinning on a 2-CPU machine, the default):
#   WORKERS=1: wrk on CPU 0; the proxy under test and the backend on CPU 1.
#   WORKERS=2: nothing pinned (the proxy has 2 workers; pinning them onto one CPU would
#              make the second one pointless, and wrk must still run somewhere).
# The backend runs as many nginx workers as the proxies do and is restarted, together with
# both proxies, for each worker count, so both targets always face the very same backend.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need nginx wrk curl awk python3 taskset
AUTHGATE="$(find_authgate)"
LOAD_AT_START="$(load_line)"

load_settings 15 3
WORKERS_LIST="${WORKERS_LIST:-1 2}"

ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# layout WORKERS: sets wrk_cpus, server_cpus, backend_cpus.
layout() {
    wrk_cpus="" server_cpus="" backend_cpus=""
    if [[ "$PIN" == "1" && "$1" == "1" ]]; then
        wrk_cpus=0
        server_cpus=1
        backend_cpus=1
    fi
    wrk_cpus="${WRK_CPUS:-$wrk_cpus}"
    server_cpus="${SERVER_CPUS:-$server_cpus}"
    backend_cpus="${BACKEND_CPUS:-$backend_cpus}"
}

RAW="$WORK/results.txt" # target workers round rps p50 p99 requests non2xx errors cpu_us_per_req
: >"$RAW"

measure() { # TARGET WORKERS ROUND PORT PID...
    local target="$1" workers="$2" round="$3" port="$4"
    shift 4
    measure_wrk "$target $workers $round" "http://127.0.0.1:$port/bench" "" "$@"
}

log "authgate: $AUTHGATE"
log "machine: $NCPU CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')); $(nginx -v 2>&1); $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"

for workers in $WORKERS_LIST; do
    layout "$workers"
    backend_port="$(free_port)"
    nginx_port="$(free_port)"
    authgate_port="$(free_port)"
    admin_port="$(free_port)"

    start_backend "$workers" "$backend_cpus" "$backend_port"
backend_pid="$STARTED_PID"
    wait_http "http://127.0.0.1:$backend_port/"
    start_nginx_peer "$workers" "$server_cpus" "$nginx_port" "$backend_port"
nginx_pid="$STARTED_PID"
    start_authgate "authgate-$workers" "$workers" "$server_cpus" "$authgate_port" "$admin_port" "$backend_port"
authgate_pid="$STARTED_PID"
    wait_http "http://127.0.0.1:$nginx_port/bench"
    wait_http "http://127.0.0.1:$authgate_port/bench"
    [[ "$(curl -s "http://127.0.0.1:$authgate_port/bench")" == "ok" ]] || die "authgate did not relay the backend's body"
    mapfile -t nginx_worker_pids < <(nginx_workers "$nginx_pid")
    log "workers=$workers: backend :$backend_port (nginx x$workers, cpus ${backend_cpus:-any}), nginx :$nginx_port (x$workers, cpus ${server_cpus:-any}), authgate :$authgate_port (event_loops $workers, cpus ${server_cpus:-any}), wrk cpus ${wrk_cpus:-any}"

    for round in $(seq 1 "$ROUNDS"); do
        # Alternate the order so that drift (thermal, page cache, ...) does not favour one.
        if (( round % 2 == 1 )); then
            measure nginx "$workers" "$round" "$nginx_port" "${nginx_worker_pids[@]}"
            measure authgate "$workers" "$round" "$authgate_port" "$authgate_pid"
        else
            measure authgate "$workers" "$round" "$authgate_port" "$authgate_pid"
            measure nginx "$workers" "$round" "$nginx_port" "${nginx_worker_pids[@]}"
        fi
    done

    kill -0 "$authgate_pid" 2>/dev/null || die "authgate exited during the run: $(tail -5 "$WORK/authgate-$workers/stderr.log")"
    if [[ -s "$WORK/authgate-$workers/stderr.log" ]]; then
        log "authgate stderr (workers=$workers), last lines:"
        tail -5 "$WORK/authgate-$workers/stderr.log" | sed 's/^/#   /' >&2
    fi
    stop "$authgate_pid"
    stop "$nginx_pid"
    stop "$backend_pid"
done

# The table: medians over the rounds.
echo
echo "proxy-bench: wrk -t2 -c$CONNECTIONS -d${DURATION}s --latency (after a ${WARMUP}s warm-up), ROUNDS=$ROUNDS (medians), $NCPU CPUs"
if [[ "$PIN" == "1" ]]; then
    echo "pinning: WORKERS=1 -> wrk on CPU ${WRK_CPUS:-0}, proxy + backend on CPU ${SERVER_CPUS:-1}; WORKERS=2 -> not pinned"
else
    echo "pinning: none"
fi
echo "$LOAD_AT_START"
echo "backend: nginx 'return 200 \"ok\"' with worker_processes = WORKERS, shared by both targets"
echo
awk -v rounds="$ROUNDS" '
    function median(key,   n, i, j, t, a) {
        n = split(vals[key], a, " ")
        for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
        return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    {
        key = $1 SUBSEP $2
        if (!(key in seen)) { seen[key] = 1; order[++count] = key }
        vals[key SUBSEP "rps"] = vals[key SUBSEP "rps"] " " $4
        vals[key SUBSEP "p50"] = vals[key SUBSEP "p50"] " " $5
        vals[key SUBSEP "p99"] = vals[key SUBSEP "p99"] " " $6
        vals[key SUBSEP "cpu"] = vals[key SUBSEP "cpu"] " " $10
        bad[key] += $8 + $9
        if (!($2 in workers)) { workers[$2] = 1; worder[++wcount] = $2 }
    }
    END {
        printf "%-9s %7s %12s %9s %9s %12s %7s\n", "target", "workers", "requests/s", "p50 ms", "p99 ms", "CPU us/req", "errors"
        for (i = 1; i <= count; i++) {
            key = order[i]; split(key, kw, SUBSEP)
            rps[key] = median(key SUBSEP "rps"); p50[key] = median(key SUBSEP "p50"); p99[key] = median(key SUBSEP "p99")
            printf "%-9s %7s %12.0f %9.3f %9.3f %12.1f %7d\n", kw[1], kw[2], rps[key], p50[key], p99[key], median(key SUBSEP "cpu"), bad[key]
        }
        printf "\n%-7s %22s %22s %22s\n", "workers", "rps authgate/nginx", "p50 authgate/nginx", "p99 authgate/nginx"
        for (i = 1; i <= wcount; i++) {
            w = worder[i]
            a = "authgate" SUBSEP w; n = "nginx" SUBSEP w
            if (!(a in rps) || !(n in rps)) continue
            printf "%-7s %22.2f %22.2f %22.2f\n", w, rps[a] / rps[n], p50[a] / p50[n], p99[a] / p99[n]
        }
    }
' "$RAW"
echo
echo "errors = wrk 'Non-2xx or 3xx responses' + socket errors (connect/read/write/timeout), summed over rounds"
echo "CPU us/req = user+system CPU time of the proxy's own processes (nginx: its workers) per request"
