#!/usr/bin/env bash
# Authenticated load: AuthGate against HAProxy doing the same job for a legacy HS256 bearer
# token, plus AuthGate with a Better Auth session cookie answered from its identity cache.
#
#   Benchmarks/scripts/auth-bench.sh
#
# Targets (all in front of the same nginx backend, `return 200`, one worker):
#   haproxy-legacy    HAProxy (nbthread 1, config/haproxy-jwt.cfg.template): jwt_verify of the
#                     HS256 signature with the shared secret, exp checked against date(),
#                     client X-Auth-* removed, X-Auth-User-Id/-User-Email/-Roles/-Method set.
#   authgate-legacy   authgate serve (event_loops 1), auth.legacy_jwt_secret, routes: [], the
#                     rate limits on (per IP and per user, limits set high enough that nothing
#                     is refused: the cost is measured, not the effect) and the lockout on.
#   authgate-legacy-nolimits  a second gateway, identical but rate_limits.enabled: false; the
#                     ratio of the two is the cost of the rate limits and the lockout check.
#   authgate-session  the same gateway with a Better Auth session cookie
#                     (better-auth.session_token=<token>.<HMAC>, URI-encoded); the session is
#                     resolved once through a python3 stub of GET /api/auth/get-session
#                     (session_resolver: http) and then served from the cache
#                     (cache.positive_ttl_ms: 600000).
# Each is first checked with curl (good credential -> 200 with the identity reaching the
# backend, bad signature / expired / none -> 401, a client X-Auth-User-Id is overwritten),
# then driven by `wrk -t2 -cCONNECTIONS -dDURATION --latency -s <lua setting the credential>`
# after a warm-up run.
#
# Environment:
#   DURATION=15        seconds of each measured wrk run
#   WARMUP=3           seconds of the warm-up run before each measured one
#   CONNECTIONS=64     wrk connections (-c); wrk uses 2 threads (-t2)
#   ROUNDS=1           measured runs per target; the table shows the medians
#   AUTHGATE_BIN=...   default .build-bench/release/authgate, then .build/release/authgate
#   PIN=auto           auto: pin when the machine has 2+ CPUs; 0: no pinning
#   WRK_CPUS / SERVER_CPUS / BACKEND_CPUS   override the pinning (default 0 / 1 / 1)
#   RESULTS_DIR=...    also keep every raw wrk output there
#   KEEP_WORK=1        keep the temp dir (configs, logs, tokens)
#
# Needs nginx, wrk, curl, python3 with PyJWT (python3-jwt), haproxy >= 2.5, taskset.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need nginx wrk curl awk python3 taskset haproxy
python3 -c 'import jwt' 2>/dev/null || die "python3 PyJWT not found (apt-get install -y python3-jwt)"
AUTHGATE="$(find_authgate)"
LOAD_AT_START="$(load_line)"

load_settings 15 3
TEMPLATE="$BENCH_DIR/config/haproxy-jwt.cfg.template"
wrk_cpus="" server_cpus="" backend_cpus=""
if [[ "$PIN" == "1" ]]; then wrk_cpus=0 server_cpus=1 backend_cpus=1; fi
wrk_cpus="${WRK_CPUS:-$wrk_cpus}"
server_cpus="${SERVER_CPUS:-$server_cpus}"
backend_cpus="${BACKEND_CPUS:-$backend_cpus}"

ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# Secrets (>= 32 bytes) and credentials.
LEGACY_SECRET="bench-legacy-jwt-secret-0123456789abcdefghijkl"
BA_SECRET="bench-better-auth-secret-0123456789abcdefghij"
SESSION_TOKEN="Yp1Wc3zK8tq2fU0aN5vQ7rL4mH6dS9xE"

mint() { # SECRET EXP_OFFSET_SECONDS -> HS256 token with the legacy claims
    python3 - "$1" "$2" <<'PY'
import sys, time, jwt
now = int(time.time())
claims = {"sub": "user-4711", "email": "jane.doe@example.com", "role": "admin",
          "iat": now, "exp": now + int(sys.argv[2])}
token = jwt.encode(claims, sys.argv[1], algorithm="HS256")
print(token if isinstance(token, str) else token.decode())
PY
}
GOOD_TOKEN="$(mint "$LEGACY_SECRET" 3600)"
EXPIRED_TOKEN="$(mint "$LEGACY_SECRET" -3600)"
WRONG_TOKEN="$(mint "another-secret-of-at-least-32-bytes-xxxxxxx" 3600)"
# The signature's first character is flipped: its last one carries 2 padding bits, and a
# change there alone (B -> A) decodes to the same bytes in a lenient base64url decoder.
SIG="${GOOD_TOKEN##*.}"
TAMPERED_TOKEN="${GOOD_TOKEN%.*}.$([[ "${SIG:0:1}" == "A" ]] && echo B || echo A)${SIG:1}"
cookie_value() { # SECRET TOKEN -> encodeURIComponent(token.base64(HMAC-SHA256(secret, token)))
    python3 - "$1" "$2" <<'PY'
import sys, hmac, hashlib, base64, urllib.parse
sig = base64.b64encode(hmac.new(sys.argv[1].encode(), sys.argv[2].encode(), hashlib.sha256).digest()).decode()
print(urllib.parse.quote(sys.argv[2] + "." + sig, safe=""))
PY
}
GOOD_COOKIE="better-auth.session_token=$(cookie_value "$BA_SECRET" "$SESSION_TOKEN")"
BAD_COOKIE="better-auth.session_token=$(cookie_value "wrong-better-auth-secret-0123456789abcdefgh" "$SESSION_TOKEN")"

# Servers.
backend_port="$(free_port)"
haproxy_port="$(free_port)"
authgate_port="$(free_port)"
admin_port="$(free_port)"
nolimits_port="$(free_port)"
nolimits_admin_port="$(free_port)"
stub_port="$(free_port)"

# The backend echoes the identity it was given, so the curl checks can see it.
start_nginx "backend" 1 "$backend_cpus" "
    server {
        listen 127.0.0.1:$backend_port backlog=4096;
        default_type text/plain;
        location / { return 200 \"ok \$http_x_auth_user_id \$http_x_auth_method\"; }
    }"
backend_pid="$STARTED_PID"
wait_http "http://127.0.0.1:$backend_port/"

# The get-session stub of the Better Auth server.
mkdir -p "$WORK/stub"
cat >"$WORK/stub/stub.py" <<'PY'
import sys, http.server
BODY = b'{"session":{"id":"s1","userId":"u1","expiresAt":"2099-01-01T00:00:00.000Z"},"user":{"id":"u1","email":"a@b.c"}}'
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        if self.path.split("?")[0] == "/api/auth/get-session":
            sys.stderr.write("get-session cookie=%s\n" % self.headers.get("Cookie"))
            sys.stderr.flush()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY)
        elif self.path.split("?")[0] == "/api/auth/jwks":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "11")
            self.end_headers()
            self.wfile.write(b'{"keys":[]}')
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
PY
python3 "$WORK/stub/stub.py" "$stub_port" >"$WORK/stub/stdout.log" 2>"$WORK/stub/stderr.log" &
stub_pid=$!
PIDS+=("$stub_pid")

# HAProxy.
mkdir -p "$WORK/haproxy"
sed -e "s/@PORT@/$haproxy_port/g" -e "s/@BACKEND_PORT@/$backend_port/g" \
    -e "s/@SECRET@/$LEGACY_SECRET/g" -e "s/@THREADS@/1/g" "$TEMPLATE" >"$WORK/haproxy/haproxy.cfg"
haproxy -c -q -f "$WORK/haproxy/haproxy.cfg" || die "haproxy rejected $WORK/haproxy/haproxy.cfg"
# shellcheck disable=SC2046
$(pin "$server_cpus") haproxy -db -f "$WORK/haproxy/haproxy.cfg" >"$WORK/haproxy/stdout.log" 2>"$WORK/haproxy/stderr.log" &
haproxy_pid=$!
PIDS+=("$haproxy_pid")

# AuthGate, twice: with the rate limits on (high limits) and off.
gateway_config() { # PORT ADMIN_PORT LIMITS_ENABLED
    cat <<YAML
server:
  listen: "127.0.0.1:$1"
  event_loops: 1
  backlog: 4096
  drain_timeout_ms: 1000
admin:
  listen: "127.0.0.1:$2"
upstream:
  url: "http://127.0.0.1:$backend_port"
  max_connections_per_loop: 256
  # One wrk client is one IP: no per-client cap on the pool.
  max_connections_per_client_ip: 0
logging:
  level: warning
auth:
  enable_dual_auth: true
  prefer_better_auth: false
  auth_server_url: "http://127.0.0.1:$stub_port"
  better_auth_secret: "$BA_SECRET"
  legacy_jwt_secret: "$LEGACY_SECRET"
  session_resolver: http
cache:
  positive_ttl_ms: 600000
$(rate_limits_yaml $3)
reload:
  watch_file: false
routes: []
YAML
}
start_gateway() { # DIR PORT ADMIN_PORT LIMITS_ENABLED -> STARTED_PID
    mkdir -p "$WORK/$1"
    gateway_config "$2" "$3" "$4" >"$WORK/$1/gateway.yaml"
    "$AUTHGATE" check-config "$WORK/$1/gateway.yaml" >"$WORK/$1/check.log" 2>&1 \
        || die "authgate check-config: $(tail -3 "$WORK/$1/check.log" | tr '\n' ' ')"
    # shellcheck disable=SC2046
    $(pin "$server_cpus") "$AUTHGATE" serve --config "$WORK/$1/gateway.yaml" >"$WORK/$1/stdout.log" 2>"$WORK/$1/stderr.log" &
    STARTED_PID=$!
    PIDS+=("$STARTED_PID")
}
start_gateway authgate "$authgate_port" "$admin_port" true
authgate_pid="$STARTED_PID"
start_gateway authgate-nolimits "$nolimits_port" "$nolimits_admin_port" false
nolimits_pid="$STARTED_PID"

wait_status "http://127.0.0.1:$haproxy_port/bench" 401
wait_status "http://127.0.0.1:$authgate_port/bench" 401
wait_status "http://127.0.0.1:$nolimits_port/bench" 401

# The curl checks: CHECK NAME PORT WANT_STATUS WANT_BODY_PREFIX curl-args...
CHECKS_FAILED=0
check() {
    local name="$1" port="$2" want="$3" body_want="$4"
    shift 4
    local out status body
    out="$(curl -s -w '\n%{http_code}' --max-time 5 "$@" "http://127.0.0.1:$port/bench" 2>/dev/null || true)"
    status="${out##*$'\n'}"
    body="${out%$'\n'*}"
    if [[ "$status" == "$want" && ( -z "$body_want" || "$body" == "$body_want"* ) ]]; then
        log "check ok:   $name -> $status${body_want:+ \"$body\"}"
    else
        log "check FAIL: $name -> $status \"$(echo "$body" | head -c 120)\" (wanted $want${body_want:+ \"$body_want\"})"
        CHECKS_FAILED=$((CHECKS_FAILED + 1))
    fi
}
for target in haproxy authgate; do
    if [[ "$target" == "haproxy" ]]; then port="$haproxy_port"; else port="$authgate_port"; fi
    check "$target good token" "$port" 200 "ok user-4711 legacy" -H "Authorization: Bearer $GOOD_TOKEN"
    check "$target good token + spoofed X-Auth-User-Id" "$port" 200 "ok user-4711 legacy" \
        -H "Authorization: Bearer $GOOD_TOKEN" -H "X-Auth-User-Id: admin" -H "X-Auth-Method: better-auth"
    check "$target tampered signature" "$port" 401 "" -H "Authorization: Bearer $TAMPERED_TOKEN"
    check "$target wrong secret" "$port" 401 "" -H "Authorization: Bearer $WRONG_TOKEN"
    check "$target expired token" "$port" 401 "" -H "Authorization: Bearer $EXPIRED_TOKEN"
    check "$target no credential" "$port" 401 ""
done
check "authgate-nolimits good token" "$nolimits_port" 200 "ok user-4711 legacy" -H "Authorization: Bearer $GOOD_TOKEN"
check "authgate session cookie" "$authgate_port" 200 "ok u1 better-auth" -H "Cookie: $GOOD_COOKIE"
check "authgate session cookie, bad HMAC" "$authgate_port" 401 "" -H "Cookie: $BAD_COOKIE"
(( CHECKS_FAILED == 0 )) || die "$CHECKS_FAILED curl check(s) failed; logs in $WORK (set KEEP_WORK=1 to keep them)"

# wrk Lua scripts, one per credential.
cat >"$WORK/bearer.lua" <<LUA
wrk.headers["Authorization"] = "Bearer $GOOD_TOKEN"
LUA
cat >"$WORK/cookie.lua" <<LUA
wrk.headers["Cookie"] = "$GOOD_COOKIE"
LUA

RAW="$WORK/results.txt" # target round rps p50 p99 requests non2xx errors cpu_us
: >"$RAW"

measure() { # TARGET ROUND PORT LUA PID
    measure_wrk "$1 $2" "http://127.0.0.1:$3/bench" "$4" "$5"
}

log "authgate: $AUTHGATE"
log "machine: $NCPU CPUs; $(haproxy -v | head -1 | cut -d' ' -f1-3); $(nginx -v 2>&1); $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"
log "backend :$backend_port, haproxy :$haproxy_port, authgate :$authgate_port, stub :$stub_port; cpus: wrk ${wrk_cpus:-any}, proxies ${server_cpus:-any}, backend ${backend_cpus:-any}"

for round in $(seq 1 "$ROUNDS"); do
    # Rotate the order so that drift does not favour one target.
    case $((round % 3)) in
        1) order="haproxy-legacy authgate-legacy authgate-legacy-nolimits authgate-session" ;;
        2) order="authgate-legacy-nolimits authgate-legacy authgate-session haproxy-legacy" ;;
        0) order="authgate-session haproxy-legacy authgate-legacy authgate-legacy-nolimits" ;;
    esac
    for target in $order; do
        case "$target" in
            haproxy-legacy) measure "$target" "$round" "$haproxy_port" "$WORK/bearer.lua" "$haproxy_pid" ;;
            authgate-legacy) measure "$target" "$round" "$authgate_port" "$WORK/bearer.lua" "$authgate_pid" ;;
            authgate-legacy-nolimits) measure "$target" "$round" "$nolimits_port" "$WORK/bearer.lua" "$nolimits_pid" ;;
            authgate-session) measure "$target" "$round" "$authgate_port" "$WORK/cookie.lua" "$authgate_pid" ;;
        esac
    done
done

kill -0 "$authgate_pid" 2>/dev/null || die "authgate exited during the run: $(tail -5 "$WORK/authgate/stderr.log")"
kill -0 "$nolimits_pid" 2>/dev/null || die "authgate-nolimits exited during the run: $(tail -5 "$WORK/authgate-nolimits/stderr.log")"
kill -0 "$haproxy_pid" 2>/dev/null || die "haproxy exited during the run: $(tail -5 "$WORK/haproxy/stderr.log")"
for f in authgate/stderr.log haproxy/stderr.log; do
    if [[ -s "$WORK/$f" ]]; then
        log "$f, last lines:"
        tail -5 "$WORK/$f" | sed 's/^/#   /' >&2
    fi
done
STUB_CALLS="$(grep -c '^get-session' "$WORK/stub/stderr.log" || true)"

echo
echo "auth-bench: wrk -t2 -c$CONNECTIONS -d${DURATION}s --latency (after a ${WARMUP}s warm-up), ROUNDS=$ROUNDS (medians), $NCPU CPUs"
if [[ "$PIN" == "1" ]]; then
    echo "pinning: wrk on CPU ${wrk_cpus}, proxy + backend on CPU ${server_cpus}/${backend_cpus}; one worker each (haproxy nbthread 1, authgate event_loops 1)"
else
    echo "pinning: none; one worker each (haproxy nbthread 1, authgate event_loops 1)"
fi
echo "$LOAD_AT_START"
echo "credential: legacy = HS256 bearer (sub,email,role,iat,exp); session = Better Auth cookie, cache hit"
echo "get-session calls to the stub during the whole run: $STUB_CALLS"
echo
awk '
    function median(key,   n, i, j, t, a) {
        n = split(vals[key], a, " ")
        for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
        return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    {
        t = $1
        if (!(t in seen)) { seen[t] = 1; order[++count] = t }
        vals[t SUBSEP "rps"] = vals[t SUBSEP "rps"] " " $3
        vals[t SUBSEP "p50"] = vals[t SUBSEP "p50"] " " $4
        vals[t SUBSEP "p99"] = vals[t SUBSEP "p99"] " " $5
        vals[t SUBSEP "cpu"] = vals[t SUBSEP "cpu"] " " $9
        non2xx[t] += $7; errors[t] += $8
    }
    END {
        printf "%-25s %12s %9s %9s %12s %8s %8s\n", "target", "requests/s", "p50 ms", "p99 ms", "CPU us/req", "non-2xx", "sockerr"
        for (i = 1; i <= count; i++) {
            t = order[i]
            rps[t] = median(t SUBSEP "rps"); p50[t] = median(t SUBSEP "p50"); p99[t] = median(t SUBSEP "p99")
            printf "%-25s %12.0f %9.3f %9.3f %12.1f %8d %8d\n", t, rps[t], p50[t], p99[t], median(t SUBSEP "cpu"), non2xx[t], errors[t]
        }
        printf "\n%-36s %10s %10s %10s\n", "ratio", "rps", "p50", "p99"
        a = "authgate-legacy"; h = "haproxy-legacy"; s = "authgate-session"
        if ((a in rps) && (h in rps) && rps[h] > 0)
            printf "%-36s %10.2f %10.2f %10.2f\n", "authgate-legacy / haproxy-legacy", rps[a] / rps[h], p50[a] / p50[h], p99[a] / p99[h]
        n = "authgate-legacy-nolimits"
        if ((a in rps) && (n in rps) && rps[n] > 0)
            printf "%-36s %10.2f %10.2f %10.2f   CPU/req %.3f\n", "authgate-legacy / -nolimits", rps[a] / rps[n], p50[a] / p50[n], p99[a] / p99[n], median(a SUBSEP "cpu") / median(n SUBSEP "cpu")
        if ((s in rps) && (a in rps) && rps[a] > 0)
            printf "%-36s %10.2f %10.2f %10.2f\n", "authgate-session / authgate-legacy", rps[s] / rps[a], p50[s] / p50[a], p99[s] / p99[a]
    }
' "$RAW"
echo
echo "non-2xx = wrk 'Non-2xx or 3xx responses'; sockerr = connect/read/write/timeout errors (summed over rounds)"
echo "CPU us/req = user+system CPU time of the proxy process per request"
