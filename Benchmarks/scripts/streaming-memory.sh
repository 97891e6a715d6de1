#!/usr/bin/env bash
# Peak memory and throughput of AuthGate while it streams large bodies both ways.
#
#   Benchmarks/scripts/streaming-memory.sh
#
# The backend is AuthGate's built-in demo echo backend (`authgate demo`, which also starts a
# demo gateway that is not used here): `GET /bytes/N` and `GET /chunked/N` stream N bytes,
# `POST /upload` consumes the body and answers its size. The gateway under test is a separate
# `authgate serve` process in front of that backend, so its RSS is the gateway's alone.
# curl drives each transfer; the gateway's VmRSS is sampled every 0.2 s.
#
# Transfers (SIZE bytes each, 1 GiB by default):
#   upload, Content-Length     curl -T (a sparse file, so the disk is not involved)
#   upload, chunked            curl -T - from a pipe
#   download, Content-Length   GET /bytes/SIZE
#   download, chunked          GET /chunked/SIZE
#   download, slow client      GET /bytes/SLOW_SIZE with curl --limit-rate SLOW_RATE: the backend
#                              is much faster than the client, so without backpressure the
#                              gateway would buffer the difference
#
# Environment:
#   SIZE=1073741824    bytes per transfer
#   SLOW_SIZE=268435456, SLOW_RATE=32M   the slow-client download
#   EVENT_LOOPS=1      server.event_loops of the gateway
#   DIRECT=1           also run every transfer straight against the backend (a baseline of what
#                      curl and the backend manage without the gateway; default on, DIRECT= off)
#   AUTHGATE_BIN=...   default .build-bench/release/authgate, then .build/release/authgate

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need curl awk python3
AUTHGATE="$(find_authgate)"
LOAD_AT_START="$(load_line)"

SIZE="${SIZE:-1073741824}"
SLOW_SIZE="${SLOW_SIZE:-268435456}"
SLOW_RATE="${SLOW_RATE:-32M}"
EVENT_LOOPS="${EVENT_LOOPS:-1}"
DIRECT="${DIRECT-1}"

demo_port="$(free_port)"
demo_admin_port="$(free_port)"
backend_port="$(free_port)"
gateway_port="$(free_port)"
admin_port="$(free_port)"

mkdir -p "$WORK/demo"
"$AUTHGATE" demo --port "$demo_port" --admin-port "$demo_admin_port" --backend-port "$backend_port" \
    >"$WORK/demo/stdout.log" 2>"$WORK/demo/stderr.log" &
demo_pid=$!
PIDS+=("$demo_pid")
wait_http "http://127.0.0.1:$backend_port/bytes/1"

start_authgate gateway "$EVENT_LOOPS" "" "$gateway_port" "$admin_port" "$backend_port"
gateway_pid="$STARTED_PID"
wait_http "http://127.0.0.1:$gateway_port/bytes/1"
GW="http://127.0.0.1:$gateway_port"
BACKEND="http://127.0.0.1:$backend_port"

# Warm up the path (pool connection, buffers) so that "idle" is the steady state.
curl -s -o /dev/null "$GW/bytes/1048576"
curl -s -o /dev/null -T /etc/hostname -X POST "$GW/upload"
sleep 1
idle_kib="$(rss_kib "$gateway_pid")"

truncate -s "$SIZE" "$WORK/upload.bin"

RESULTS="$WORK/streaming.txt"
: >"$RESULTS"

# transfer NAME EXPECTED_BYTES BASE_URL CURL_ARGS...: run curl (the URL is BASE_URL followed by
# the last argument) while sampling the gateway's RSS. With BASE_URL = the backend itself, the
# row is the baseline of what curl and the backend manage without the gateway.
transfer() {
    local name="$1" expected="$2" base="$3"
    shift 3
    local args=("$@")
    local path="${args[${#args[@]}-1]}"
    unset 'args[${#args[@]}-1]'
    local samples="$WORK/rss-$(echo "$name" | tr -c 'A-Za-z0-9\n' '_').txt"
    : >"$samples"
    (
        while kill -0 "$gateway_pid" 2>/dev/null; do
            rss_kib "$gateway_pid" >>"$samples"
            sleep 0.2
        done
    ) &
    local sampler=$!
    local stats body="$WORK/body.txt"
    stats="$(curl -s -o "$body" -w '%{http_code} %{size_download} %{time_total}' "${args[@]}" "$base$path" || echo "000 0 0")"
    kill "$sampler" 2>/dev/null || true
    wait "$sampler" 2>/dev/null || true
    local code down seconds moved
    read -r code down seconds <<<"$stats"
    moved="$down"
    if [[ "$name" == upload* ]]; then
        # The backend answers {"bytes":N} with the byte count it received.
        moved="$(grep -o '"bytes":[0-9]*' "$body" | cut -d: -f2)"
        moved="${moved:-0}"
    fi
    local status="ok"
    if [[ "$code" != "200" ]]; then
        status="HTTP $code"
    elif [[ "$moved" != "$expected" ]]; then
        status="FAILED: $moved of $expected bytes"
    fi
    local peak="-"
    if [[ "$base" == "$GW" ]]; then
        peak="$(sort -n "$samples" | tail -1)"
        peak="${peak:-0}"
    else
        name="$name (direct)"
    fi
    echo "$name|$moved|$seconds|$peak|$status" >>"$RESULTS"
    log "$name: HTTP $code, $moved bytes in ${seconds}s, peak gateway RSS $peak KiB ($status)"
    kill -0 "$gateway_pid" 2>/dev/null || die "the gateway exited during '$name': $(tail -5 "$WORK/gateway/stderr.log")"
}

for base in "$GW" ${DIRECT:+"$BACKEND"}; do
    transfer "upload, Content-Length" "$SIZE" "$base" -T "$WORK/upload.bin" -X POST "/upload"
    transfer "upload, chunked" "$SIZE" "$base" -T - -X POST "/upload" < <(head -c "$SIZE" /dev/zero)
    transfer "download, Content-Length" "$SIZE" "$base" "/bytes/$SIZE"
    transfer "download, chunked" "$SIZE" "$base" "/chunked/$SIZE"
    transfer "download, slow client $SLOW_RATE/s" "$SLOW_SIZE" "$base" --limit-rate "$SLOW_RATE" "/bytes/$SLOW_SIZE"
done

sleep 1
final_kib="$(rss_kib "$gateway_pid")"

if [[ -s "$WORK/gateway/stderr.log" ]]; then
    log "gateway stderr, last lines:"
    tail -5 "$WORK/gateway/stderr.log" | sed 's/^/#   /' >&2
fi

echo
echo "streaming-memory: curl through 'authgate serve' (event_loops $EVENT_LOOPS) to the demo backend; RSS sampled every 0.2 s; $(nproc) CPUs"
echo "$LOAD_AT_START"
echo "gateway RSS when idle (after a warm-up): $(awk -v k="$idle_kib" 'BEGIN { printf "%.1f MiB", k / 1024 }'); after all transfers: $(awk -v k="$final_kib" 'BEGIN { printf "%.1f MiB", k / 1024 }')"
echo
awk -F'|' -v idle="$idle_kib" '
    BEGIN { printf "%-43s %9s %9s %10s %13s %15s  %s\n", "transfer", "MiB", "seconds", "MiB/s", "peak RSS MiB", "peak-idle MiB", "result" }
    {
        mib = $2 / 1048576
        if ($4 == "-") printf "%-43s %9.0f %9.2f %10.1f %13s %15s  %s\n", $1, mib, $3, ($3 > 0 ? mib / $3 : 0), "-", "-", $5
        else printf "%-43s %9.0f %9.2f %10.1f %13.1f %15.1f  %s\n", $1, mib, $3, ($3 > 0 ? mib / $3 : 0), $4 / 1024, ($4 - idle) / 1024, $5
    }
' "$RESULTS"
