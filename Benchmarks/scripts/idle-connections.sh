#!/usr/bin/env bash
# Memory per idle keep-alive client connection: AuthGate against an nginx reverse proxy.
#
#   Benchmarks/scripts/idle-connections.sh
#
# For each target (both in front of the same nginx `return 200 "ok"` backend):
#   1. warm-up: CONCURRENCY connections, one request each, closed (fills the upstream pool and
#      lets the allocators grow to their working size, so it is not counted per connection);
#   2. RSS "before";
#   3. COUNT connections opened, CONCURRENCY at a time, one request each, then all held idle;
#   4. RSS "idle" after SETTLE seconds; (idle - before) / COUNT = bytes per idle connection;
#   5. the connections are closed; RSS "after close" after SETTLE seconds.
# AuthGate's RSS is the VmRSS of its process; nginx's is the sum of its workers' VmRSS (the
# master holds no connections).
#
# Environment:
#   COUNT=1000         idle connections per target
#   CONCURRENCY=50     connections being opened at once (bounds the upstream connections)
#   WORKERS=1          nginx worker_processes / authgate server.event_loops
#   SETTLE=2           seconds to wait before reading RSS
#   AUTHGATE_BIN=...   default .build-bench/release/authgate, then .build/release/authgate

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need nginx curl awk python3
AUTHGATE="$(find_authgate)"
LOAD_AT_START="$(load_line)"

COUNT="${COUNT:-1000}"
CONCURRENCY="${CONCURRENCY:-50}"
WORKERS="${WORKERS:-1}"
SETTLE="${SETTLE:-2}"
CLIENT="$BENCH_DIR/scripts/idle_clients.py"

want_fds=$((COUNT * 2 + 1024))
if (( $(ulimit -n) < want_fds )); then
    ulimit -n "$want_fds" 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true
fi
(( $(ulimit -n) >= COUNT + 64 )) || die "ulimit -n is $(ulimit -n); need at least $((COUNT + 64))"

backend_port="$(free_port)"
nginx_port="$(free_port)"
authgate_port="$(free_port)"
admin_port="$(free_port)"

start_backend 1 "" "$backend_port"
backend_pid="$STARTED_PID"
wait_http "http://127.0.0.1:$backend_port/"
start_nginx_peer "$WORKERS" "" "$nginx_port" "$backend_port"
nginx_pid="$STARTED_PID"
start_authgate authgate "$WORKERS" "" "$authgate_port" "$admin_port" "$backend_port"
authgate_pid="$STARTED_PID"
wait_http "http://127.0.0.1:$nginx_port/bench"
wait_http "http://127.0.0.1:$authgate_port/bench"

# rss_of TARGET: KiB.
rss_of() {
    local total=0 pid
    if [[ "$1" == "authgate" ]]; then
        rss_kib "$authgate_pid"
    else
        for pid in $(nginx_workers "$nginx_pid"); do
            total=$((total + $(rss_kib "$pid")))
        done
        echo "$total"
    fi
}

# open_fds TARGET: established TCP connections on the target's port.
established() {
    ss -Htn state established "( sport = :$1 )" 2>/dev/null | wc -l
}

RESULTS="$WORK/idle.txt"
: >"$RESULTS"

run_target() { # TARGET PORT
    local target="$1" port="$2"
    local warm
    warm="$(python3 "$CLIENT" --port "$port" --count "$CONCURRENCY" --concurrency "$CONCURRENCY" --burst)"
    [[ "$warm" == "READY $CONCURRENCY 0" ]] || log "$target warm-up: $warm"
    sleep "$SETTLE"
    local before idle after
    before="$(rss_of "$target")"

    coproc CLIENTS { python3 "$CLIENT" --port "$port" --count "$COUNT" --concurrency "$CONCURRENCY"; }
    local ready
    read -r -t 120 ready <&"${CLIENTS[0]}" || die "$target: the client did not report"
    local ok failed
    read -r _ ok failed <<<"$ready"
    sleep "$SETTLE"
    idle="$(rss_of "$target")"
    local conns
    conns="$(established "$port")"

    echo >&"${CLIENTS[1]}"
    local closed
    read -r -t 60 closed <&"${CLIENTS[0]}" || closed="CLOSED ?"
    wait "$CLIENTS_PID" 2>/dev/null || true
    sleep "$SETTLE"
    after="$(rss_of "$target")"
    log "$target: $ok connections open ($failed failed, $conns established at the server port, ${closed#CLOSED } closed by the server while idle)"
    echo "$target $before $idle $after $ok $failed ${closed#CLOSED }" >>"$RESULTS"
}

run_target authgate "$authgate_port"
run_target nginx "$nginx_port"

kill -0 "$authgate_pid" 2>/dev/null || die "authgate exited: $(tail -5 "$WORK/authgate/stderr.log")"
if [[ -s "$WORK/authgate/stderr.log" ]]; then
    log "authgate stderr, last lines:"
    tail -5 "$WORK/authgate/stderr.log" | sed 's/^/#   /' >&2
fi

echo
echo "idle-connections: $COUNT keep-alive connections, one request each then idle, opened $CONCURRENCY at a time; WORKERS=$WORKERS; $(nproc) CPUs"
echo "$LOAD_AT_START"
echo "RSS: authgate = its process; nginx = sum of its $WORKERS worker(s)"
echo
awk -v count="$COUNT" '
    BEGIN { printf "%-9s %12s %12s %12s %12s %10s %8s\n", "target", "before MiB", "idle MiB", "delta MiB", "bytes/conn", "closed MiB", "open" }
    {
        printf "%-9s %12.1f %12.1f %12.1f %12.0f %10.1f %8d\n", $1, $2 / 1024, $3 / 1024, ($3 - $2) / 1024, ($3 - $2) * 1024 / ($5 > 0 ? $5 : count), $4 / 1024, $5
        per[$1] = ($3 - $2) * 1024 / ($5 > 0 ? $5 : count)
    }
    END { if (per["nginx"] > 0) printf "\nbytes/conn authgate/nginx: %.2f\n", per["authgate"] / per["nginx"] }
' "$RESULTS"
echo
echo "closed MiB = RSS a few seconds after the $COUNT connections were closed again"
