#!/usr/bin/env bash
# Where a request's CPU goes inside AuthGate, counted repeatably: instructions (valgrind's
# callgrind) and system calls (strace -c) per request, for the public route and for the
# authenticated route on a cache hit (legacy HS256 bearer), against nginx proxy_pass doing the
# public route's job in the same run.
#
#   Benchmarks/scripts/profile-request-path.sh
#
# Environment:
#   REQUESTS=4000      requests counted per scenario (after WARMUP_REQUESTS on the same connection)
#   WARMUP_REQUESTS=500
#   AUTHGATE_BIN=...   default .build-bench/release/authgate, then .build/release/authgate
#   TOP=25             functions listed per scenario (by inclusive and by exclusive instructions)
#   KEEP_WORK=1        keep the temp dir (callgrind.out files: callgrind_annotate them further)
#
# One client, one keep-alive connection, one request at a time: the counts do not depend on the
# machine's load (callgrind counts instructions, not time). Instructions are those of the
# gateway's own threads in user space; the kernel's share is what the system call counts show.
#
# Needs nginx, valgrind (callgrind_control, callgrind_annotate), strace, curl, python3 with PyJWT,
# clang (the Swift toolchain's) and strip.
#
# Valgrind 3.19 (Debian 12) cannot run the gateway as built: it cannot read the toolchain's DWARF 5
# ("Possibly corrupted debuginfo file"), and it crashes inside libdispatch's dispatch_main(), which
# every Swift async main calls on Linux (the main thread exits and waits in sigsuspend from a
# thread-specific-data destructor). So callgrind runs a copy of the binary with its debug info
# stripped (the symbol table stays: functions keep their names, lines are lost), with
# dispatch-main-shim.c preloaded: a dispatch_main that keeps the main thread and drains the main
# queue itself, as CoreFoundation's run loop does. The strace counts use the binary unchanged.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need nginx valgrind callgrind_control callgrind_annotate strace curl python3 clang strip
python3 -c 'import jwt' 2>/dev/null || die "python3 PyJWT not found (pip install pyjwt)"
AUTHGATE="$(find_authgate)"
REQUESTS="${REQUESTS:-4000}"
WARMUP_REQUESTS="${WARMUP_REQUESTS:-500}"
TOP="${TOP:-25}"

LEGACY_SECRET="bench-legacy-jwt-secret-0123456789abcdefghijkl"
TOKEN="$(python3 - "$LEGACY_SECRET" <<'PY'
import sys, time, jwt
now = int(time.time())
claims = {"sub": "user-4711", "email": "jane.doe@example.com", "role": "admin", "iat": now, "exp": now + 86400}
token = jwt.encode(claims, sys.argv[1], algorithm="HS256")
print(token if isinstance(token, str) else token.decode())
PY
)"

# The client: COUNT requests for PATH on one keep-alive connection, each answered before the
# next; exits non-zero unless every answer is a 200.
cat >"$WORK/client.py" <<'PY'
import socket, sys
port, count, token, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
request = b"GET " + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: profile/1\r\nAccept: */*\r\n"
if token:
    request += b"Authorization: Bearer " + token.encode() + b"\r\n"
request += b"\r\n"
s = socket.create_connection(("127.0.0.1", port))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
buf = b""
for _ in range(count):
    s.sendall(request)
    while True:
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            head = buf[:end].decode("latin-1")
            length = 0
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            if len(buf) >= end + 4 + length:
                break
        chunk = s.recv(65536)
        if not chunk:
            sys.exit("connection closed")
        buf += chunk
    if not head.startswith("HTTP/1.1 200"):
        sys.exit("unexpected answer: " + head.split("\r\n")[0])
    buf = buf[end + 4 + length:]
s.close()
PY

backend_port="$(free_port)"
nginx_port="$(free_port)"
start_nginx backend 1 "" "
    server {
        listen 127.0.0.1:$backend_port backlog=4096;
        default_type text/plain;
        location / { return 200 \"ok\"; }
    }"
wait_http "http://127.0.0.1:$backend_port/"
start_nginx_peer 1 "" "$nginx_port" "$backend_port"
nginx_pid="$STARTED_PID"
wait_http "http://127.0.0.1:$nginx_port/bench"

gateway_config() { # PORT ADMIN_PORT
    cat <<YAML
server:
  listen: "127.0.0.1:$1"
  event_loops: 1
  drain_timeout_ms: 1000
admin:
  listen: "127.0.0.1:$2"
upstream:
  url: "http://127.0.0.1:$backend_port"
  max_connections_per_client_ip: 0
logging:
  level: warning
auth:
  enable_dual_auth: true
  prefer_better_auth: false
  legacy_jwt_secret: "$LEGACY_SECRET"
cache:
  positive_ttl_ms: 600000
$(rate_limits_yaml true)
reload:
  watch_file: false
routes:
  - path: /bench
    access: public
  - path: /
    access: authenticated
YAML
}

run_client() { # PORT COUNT TOKEN PATH
    python3 "$WORK/client.py" "$1" "$2" "$3" "$4" || die "the profiling client failed against :$1$4"
}

# The route table decides: /bench is public, anything else authenticated (the backend answers any
# path).
PUBLIC_PATH=/bench
AUTH_PATH=/auth/bench

port="$(free_port)"
admin="$(free_port)"
mkdir -p "$WORK/authgate"
gateway_config "$port" "$admin" >"$WORK/authgate/gateway.yaml"
"$AUTHGATE" check-config "$WORK/authgate/gateway.yaml" >/dev/null || die "check-config refused the profiling config"

# System calls per request: AuthGate (native) and nginx proxy_pass, public route.
syscalls() { # LABEL PID PORT TOKEN PATH
    local label="$1" pid="$2" target_port="$3" token="$4" path="$5"
    run_client "$target_port" "$WARMUP_REQUESTS" "$token" "$path"
    strace -f -c -q -o "$WORK/strace-$label.txt" -p "$pid" &
    local strace_pid=$!
    sleep 1
    run_client "$target_port" "$REQUESTS" "$token" "$path"
    sleep 0.5
    kill -INT "$strace_pid" 2>/dev/null || true
    wait "$strace_pid" 2>/dev/null || true
    echo "## system calls per request: $label"
    # Rows: % time, seconds, usecs/call, calls, [errors], name; the total is summed here, as
    # strace's own total row leaves columns out.
    awk -v n="$REQUESTS" '
        /^[ ]*[0-9.]+[ ]+[0-9.]+[ ]+[0-9]+[ ]+[0-9]+/ && $NF != "total" {
            printf "  %-20s %6.2f\n", $NF, $4 / n; sum += $4 }
        END { printf "  %-20s %6.2f\n", "total", sum / n }' "$WORK/strace-$label.txt"
}

"$AUTHGATE" serve --config "$WORK/authgate/gateway.yaml" >"$WORK/authgate/stdout.log" 2>"$WORK/authgate/stderr.log" &
authgate_pid=$!
PIDS+=("$authgate_pid")
wait_http "http://127.0.0.1:$port$PUBLIC_PATH"
[[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port$AUTH_PATH")" == "401" ]] \
    || die "the authenticated route did not refuse a request without credentials"

worker_pids=($(nginx_workers "$nginx_pid"))
syscalls "nginx-public" "${worker_pids[0]}" "$nginx_port" "" "$PUBLIC_PATH"
syscalls "authgate-public" "$authgate_pid" "$port" "" "$PUBLIC_PATH"
syscalls "authgate-authenticated" "$authgate_pid" "$port" "$TOKEN" "$AUTH_PATH"
stop "$authgate_pid"

# Instructions per request, under callgrind (instrumentation off until the warm-up is done).
swift_lib="$(dirname "$(dirname "$(readlink -f "$(command -v swift)")")")/lib/swift/linux"
[[ -e "$swift_lib/libdispatch.so" ]] || die "libdispatch.so not found in $swift_lib"
clang -shared -fPIC -O2 "$BENCH_DIR/scripts/dispatch-main-shim.c" -o "$WORK/dispatch-main-shim.so" \
    -L"$swift_lib" -Wl,-rpath,"$swift_lib" -ldispatch || die "could not build dispatch-main-shim.so"
cp "$AUTHGATE" "$WORK/authgate-nodebug"
strip --strip-debug "$WORK/authgate-nodebug"

# count_under_callgrind PID PORT TOKEN PATH: once the server under valgrind PID answers, sends
# the warm-up requests, then counts REQUESTS requests (instrumentation on only for them), dumps
# the counts (the first dump: OUT.1; OUT itself is written at exit) and stops the server.
count_under_callgrind() {
    local pid="$1" target_port="$2" token="$3" path="$4"
    PIDS+=("$pid")
    wait_http "http://127.0.0.1:$target_port$PUBLIC_PATH" 120
    run_client "$target_port" "$WARMUP_REQUESTS" "$token" "$path"
    callgrind_control -i on "$pid" >/dev/null
    run_client "$target_port" "$REQUESTS" "$token" "$path"
    callgrind_control -d "$pid" >/dev/null
    callgrind_control -i off "$pid" >/dev/null
    stop "$pid"
}

callgrind() { # LABEL TOKEN PATH
    local label="$1" out="$WORK/callgrind.out.$1"
    LD_PRELOAD="$WORK/dispatch-main-shim.so" \
        valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out" \
        "$WORK/authgate-nodebug" serve --config "$WORK/authgate/gateway.yaml" >"$WORK/authgate/vg-$label.log" 2>&1 &
    count_under_callgrind $! "$port" "$2" "$3"
    echo "## instructions per request: $label (callgrind, $REQUESTS requests)"
    python3 "$BENCH_DIR/scripts/callgrind_stages.py" "$out.1" "$REQUESTS" "$TOP"
}

# nginx proxy_pass doing the public route's job, one process (master_process off) under callgrind.
callgrind_nginx() {
    local dir="$WORK/peer-1" vg_port out="$WORK/callgrind.out.nginx"
    vg_port="$(free_port)"
    sed -e 's/master_process on;/master_process off;/' -e "s/listen 127.0.0.1:$nginx_port /listen 127.0.0.1:$vg_port /" \
        -e "s#pid $dir/nginx.pid#pid $dir/nginx-vg.pid#" "$dir/nginx.conf" >"$dir/nginx-vg.conf"
    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out" \
        nginx -e "$dir/logs/error-vg.log" -p "$dir" -c "$dir/nginx-vg.conf" >"$dir/logs/vg.log" 2>&1 &
    count_under_callgrind $! "$vg_port" "" "$PUBLIC_PATH"
    echo "## instructions per request: nginx-public (callgrind, $REQUESTS requests)"
    python3 "$BENCH_DIR/scripts/callgrind_stages.py" "$out.1" "$REQUESTS" "$TOP" --no-stages
}

callgrind_nginx
callgrind "public" "" "$PUBLIC_PATH"
callgrind "authenticated" "$TOKEN" "$AUTH_PATH"
