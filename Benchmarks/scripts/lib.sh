# Shared helpers for the AuthGate benchmark scripts. Sourced, not executed.
#
# Everything runs on 127.0.0.1, lives in one temp dir ($WORK) and is killed on exit.

set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REPO_ROOT="$(cd "$BENCH_DIR/.." && pwd)"

die() { echo "error: $*" >&2; exit 1; }
log() { echo "# $*" >&2; }

need() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 || die "$tool not found (apt-get install -y nginx wrk curl python3 util-linux)"
    done
}

# The authgate binary: $AUTHGATE_BIN, else the benchmark scratch build, else the default build.
find_authgate() {
    if [[ -n "${AUTHGATE_BIN:-}" ]]; then
        [[ -x "$AUTHGATE_BIN" ]] || die "AUTHGATE_BIN=$AUTHGATE_BIN is not executable"
        echo "$AUTHGATE_BIN"
        return
    fi
    local candidate
    for candidate in "$REPO_ROOT/.build-bench/release/authgate" "$REPO_ROOT/.build/release/authgate"; do
        if [[ -x "$candidate" ]]; then
            echo "$candidate"
            return
        fi
    done
    die "no authgate binary: build it with 'swift build -c release --scratch-path .build-bench --product authgate' or set AUTHGATE_BIN"
}

WORK="$(mktemp -d "${TMPDIR:-/tmp}/authgate-bench.XXXXXX")"
PIDS=()

cleanup() {
    local pid all=("${PIDS[@]:-}")
    for pid in "${all[@]}"; do
        [[ -n "$pid" ]] && kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${all[@]}"; do
        [[ -n "$pid" ]] && stop "$pid"
    done
    if [[ -n "${KEEP_WORK:-}" ]]; then
        log "kept $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# alive PID: the process exists and is not a zombie waiting to be reaped.
alive() {
    [[ -r "/proc/$1/status" ]] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

# stop PID: TERM it, wait for it (KILL after 5 s), drop it from PIDS.
stop() {
    local pid="$1" i
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 100); do
        alive "$pid" || break
        sleep 0.05
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    local kept=() p
    for p in "${PIDS[@]:-}"; do [[ "$p" != "$pid" && -n "$p" ]] && kept+=("$p"); done
    PIDS=("${kept[@]:-}")
}

# pin CPULIST: a command prefix that pins to CPULIST, or nothing when CPULIST is empty.
pin() {
    if [[ -n "${1:-}" ]]; then echo "taskset -c $1"; fi
}

# wait_http URL [SECONDS]: wait until URL answers 200.
wait_http() {
    local url="$1" limit="${2:-20}" i
    for i in $(seq 1 $((limit * 10))); do
        if [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$url" 2>/dev/null)" == "200" ]]; then
            return 0
        fi
        sleep 0.1
    done
    die "$url did not answer 200 within ${limit}s"
}

# free_port: an unused TCP port on 127.0.0.1.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# rate_limits_yaml ENABLED: a benchmark config's rate_limits block, with limits so high that no
# request is refused: the runs measure what the limiter costs, never its refusals.
rate_limits_yaml() {
    cat <<YAML
rate_limits:
  enabled: $1
  ip_requests_per_minute: 100000000
  ip_burst: 1000000
  user_requests_per_minute: 100000000
  user_burst: 1000000
YAML
}

# The start_* functions run the server in the background, add it to PIDS (killed on exit) and
# leave its PID in STARTED_PID. Call them directly, never as $(start_...): a command
# substitution is a subshell, and PIDS would not learn about the process.
STARTED_PID=""

# start_nginx NAME WORKERS CPULIST HTTP_BLOCK: start nginx (master + WORKERS workers) with the
# given http{} body from $WORK/NAME.
start_nginx() {
    local name="$1" workers="$2" cpus="$3" http_body="$4"
    local dir="$WORK/$name"
    mkdir -p "$dir/logs" "$dir/tmp"
    local user_line=""
    if [[ "$(id -u)" == "0" ]]; then user_line="user root;"; fi
    cat >"$dir/nginx.conf" <<EOF
$user_line
daemon off;
master_process on;
worker_processes $workers;
worker_rlimit_nofile 65536;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
events {
    worker_connections 16384;
    multi_accept on;
}
http {
    access_log off;
    client_body_temp_path $dir/tmp/client_body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    keepalive_requests 10000000;
    keepalive_timeout 120s;
$http_body
}
EOF
    # shellcheck disable=SC2046
    $(pin "$cpus") nginx -e "$dir/logs/error.log" -p "$dir" -c "$dir/nginx.conf" >"$dir/logs/stdout.log" 2>&1 &
    STARTED_PID=$!
    PIDS+=("$STARTED_PID")
}

# start_backend WORKERS CPULIST PORT: the fast backend, `return 200 "ok"`.
start_backend() {
    start_nginx "backend-$1" "$1" "$2" "
    server {
        listen 127.0.0.1:$3 backlog=4096;
        default_type text/plain;
        location / { return 200 \"ok\"; }
    }"
}

# start_nginx_peer WORKERS CPULIST PORT BACKEND_PORT: nginx proxy_pass with upstream keepalive.
start_nginx_peer() {
    start_nginx "peer-$1" "$1" "$2" "
    upstream backend {
        server 127.0.0.1:$4;
        keepalive 256;
        keepalive_requests 10000000;
        keepalive_timeout 120s;
    }
    server {
        listen 127.0.0.1:$3 backlog=4096;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
        }
    }"
}

# start_authgate NAME EVENT_LOOPS CPULIST PORT ADMIN_PORT UPSTREAM_PORT.
start_authgate() {
    local name="$1" loops="$2" cpus="$3" port="$4" admin="$5" upstream="$6"
    local dir="$WORK/$name"
    mkdir -p "$dir"
    cat >"$dir/gateway.yaml" <<EOF
server:
  listen: "127.0.0.1:$port"
  event_loops: $loops
  backlog: 4096
  drain_timeout_ms: 1000
admin:
  listen: "127.0.0.1:$admin"
upstream:
  url: "http://127.0.0.1:$upstream"
  max_connections_per_loop: 256
  # One wrk client is one IP: no per-client cap on the pool.
  max_connections_per_client_ip: 0
logging:
  level: warning
# Plain proxying is measured here: every path public and no rate limit (one wrk client is one
# IP; authenticated runs and the limits' cost: auth-bench.sh).
rate_limits:
  enabled: false
reload:
  watch_file: false
routes:
  - path: /
    access: public
EOF
    # shellcheck disable=SC2046
    $(pin "$cpus") "$AUTHGATE" serve --config "$dir/gateway.yaml" >"$dir/stdout.log" 2>"$dir/stderr.log" &
    STARTED_PID=$!
    PIDS+=("$STARTED_PID")
}

# rss_kib PID: VmRSS of PID in KiB.
rss_kib() {
    awk '/^VmRSS:/ { print $2; found = 1 } END { if (!found) print 0 }' "/proc/$1/status" 2>/dev/null || echo 0
}

# nginx_workers MASTER_PID: the PIDs of the master's worker processes.
nginx_workers() {
    local pid
    for pid in $(cat "/proc/$1/task/$1/children" 2>/dev/null); do echo "$pid"; done
}

# load_line: the load averages, to judge whether something else was competing for the CPUs.
load_line() {
    echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
}

# cpu_us_per_request TICKS_BEFORE TICKS_AFTER "PARSED": CPU time (user+system) the measured
# process spent per request, in microseconds; PARSED is parse_wrk's output (field 4: requests).
cpu_us_per_request() {
    awk -v t=$(($2 - $1)) -v hz="$CLK_TCK" -v p="$3" \
        'BEGIN { split(p, f, " "); if (f[4] > 0) printf "%.1f", t / hz * 1e6 / f[4]; else print "nan" }'
}

# report_wrk_run LABEL OUT "PARSED" CPU_US: keeps wrk's output in $RESULTS_DIR (if set), logs
# errors wrk reported and the run's figures.
report_wrk_run() {
    local label="$1" out="$2" parsed="$3" cpu_us="$4"
    if [[ -n "${RESULTS_DIR:-}" ]]; then
        mkdir -p "$RESULTS_DIR"
        cp "$out" "$RESULTS_DIR/"
    fi
    if grep -q "Non-2xx\|Socket errors" "$out"; then
        log "$label: $(grep 'Non-2xx\|Socket errors' "$out" | tr '\n' ' ')"
    fi
    log "$label: $(echo "$parsed" | awk '{ printf "%s req/s, p50 %s ms, p99 %s ms", $1, $2, $3 }'), ${cpu_us} us CPU/request"
}

# cpu_ticks PID...: utime+stime of the given processes, in clock ticks.
cpu_ticks() {
    local pid total=0
    for pid in "$@"; do
        total=$((total + $(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$pid/stat" 2>/dev/null || echo 0)))
    done
    echo "$total"
}

# parse_wrk FILE: "rps p50_ms p99_ms requests non2xx socket_errors"
parse_wrk() {
    awk '
        function ms(v,   n, u) {
            n = v + 0
            u = v; sub(/^[0-9.]+/, "", u)
            if (u == "us") return n / 1000
            if (u == "ms") return n
            if (u == "s")  return n * 1000
            if (u == "m")  return n * 60000
            return n
        }
        /^Running|^  [0-9]+ threads/ { next }
        /Latency Distribution/ { dist = 1; next }
        dist && $1 == "50%" { p50 = ms($2) }
        dist && $1 == "99%" { p99 = ms($2); dist = 0 }
        /requests in/ { requests = $1 }
        /^Requests\/sec:/ { rps = $2 }
        /Non-2xx or 3xx responses:/ { non2xx = $NF }
        /Socket errors:/ {
            gsub(/,/, "")
            errors = $4 + $6 + $8 + $10
        }
        END { printf "%.2f %.3f %.3f %d %d %d\n", rps, p50, p99, requests, non2xx, errors }
    ' "$1"
}

# wait_status URL STATUS [curl args...]: wait until URL answers STATUS.
wait_status() {
    local url="$1" want="$2" i
    shift 2
    for i in $(seq 1 200); do
        [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$@" "$url" 2>/dev/null)" == "$want" ]] && return 0
        sleep 0.1
    done
    die "$url did not answer $want within 20s"
}

# measure_wrk KEY URL LUA PID...: a $WARMUP s wrk run, then a $DURATION s one with the CPU
# ticks of PID... read around it; appends "KEY <parse_wrk fields> CPU_US" to $RAW and reports
# the run. wrk: -t2 -c$CONNECTIONS --latency, pinned to $wrk_cpus, `-s LUA` unless LUA is "".
measure_wrk() {
    local key="$1" url="$2" lua="$3"
    shift 3
    local out="$WORK/wrk-${key// /-}.txt" script=() before after parsed cpu_us
    [[ -n "$lua" ]] && script=(-s "$lua")
    # shellcheck disable=SC2046
    $(pin "$wrk_cpus") wrk -t2 -c"$CONNECTIONS" -d"$WARMUP"s --latency "${script[@]}" "$url" >"$out.warmup" 2>&1 || true
    before="$(cpu_ticks "$@")"
    # shellcheck disable=SC2046
    $(pin "$wrk_cpus") wrk -t2 -c"$CONNECTIONS" -d"$DURATION"s --latency "${script[@]}" "$url" >"$out" 2>&1 || true
    after="$(cpu_ticks "$@")"
    parsed="$(parse_wrk "$out")"
    cpu_us="$(cpu_us_per_request "$before" "$after" "$parsed")"
    echo "$key $parsed $cpu_us" >>"$RAW"
    report_wrk_run "$key" "$out" "$parsed" "$cpu_us"
}

# load_settings DEFAULT_DURATION DEFAULT_WARMUP: the knobs every load script shares, from the
# environment or these defaults: DURATION, WARMUP, CONNECTIONS (64), ROUNDS (1), PIN (auto
# becomes 1 on a machine with 2+ CPUs, else 0), NCPU, CLK_TCK.
load_settings() {
    DURATION="${DURATION:-$1}"
    WARMUP="${WARMUP:-$2}"
    CONNECTIONS="${CONNECTIONS:-64}"
    ROUNDS="${ROUNDS:-1}"
    PIN="${PIN:-auto}"
    NCPU="$(nproc)"
    CLK_TCK="$(getconf CLK_TCK)"
    if [[ "$PIN" == "auto" ]]; then
        if (( NCPU >= 2 )); then PIN=1; else PIN=0; fi
    fi
}
