# bench/lib.sh — shell functions shared by the benchmark scripts (POSIX sh; source it).
#
# Everything here works on one server process whose pid the caller keeps; nothing kills by name.

# bench_paths — sets BUILD_DIR, LIENTHONG, VXPLOAD and TESTDATA from the environment, else their
# defaults under ROOT (the checkout).
bench_paths() {
    BUILD_DIR=${BUILD_DIR:-$ROOT/build}
    LIENTHONG=${LIENTHONG:-$BUILD_DIR/lienthong}
    VXPLOAD=${VXPLOAD:-$BUILD_DIR/bench/vxpload}
    TESTDATA=${LT_TESTDATA:-$ROOT/../shared/testdata/edxml}
}

bench_log() {
    printf '%s\n' "bench: $*" >&2
}

bench_die() {
    printf '%s\n' "bench: error: $*" >&2
    exit 1
}

# A TCP port on 127.0.0.1 that is free right now.
bench_free_port() {
    python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# bench_http_status URL — prints the HTTP status of a GET (000 when nothing answers).
bench_http_status() {
    if command -v curl >/dev/null 2>&1; then
        curl -s -o /dev/null -m 2 -w '%{http_code}' "$1" 2>/dev/null || true
    else
        python3 - "$1" <<'EOF' 2>/dev/null || printf '000'
import sys, urllib.request, urllib.error
try:
    print(urllib.request.urlopen(sys.argv[1], timeout=2).status, end="")
except urllib.error.HTTPError as e:
    print(e.code, end="")
except Exception:
    print("000", end="")
EOF
    fi
}

# bench_wait_healthz PORT PID SECONDS — waits until GET /healthz answers 200; fails when the
# process exits first or the time runs out.
bench_wait_healthz() {
    _port=$1 _pid=$2 _limit=$(($3 * 10)) _i=0
    while [ "$_i" -lt "$_limit" ]; do
        kill -0 "$_pid" 2>/dev/null || return 1
        [ "$(bench_http_status "http://127.0.0.1:$_port/healthz")" = 200 ] && return 0
        sleep 0.1
        _i=$((_i + 1))
    done
    return 1
}

# bench_stop PID — SIGTERM, wait up to 15 s, then SIGKILL. Only the given pid is signalled.
bench_stop() {
    _pid=$1 _i=0
    kill -0 "$_pid" 2>/dev/null || return 0
    kill -TERM "$_pid" 2>/dev/null || return 0
    while [ "$_i" -lt 150 ] && kill -0 "$_pid" 2>/dev/null; do
        sleep 0.1
        _i=$((_i + 1))
    done
    if kill -0 "$_pid" 2>/dev/null; then
        bench_log "server $_pid did not stop within 15 s; sending SIGKILL"
        kill -KILL "$_pid" 2>/dev/null || true
    fi
    wait "$_pid" 2>/dev/null || true
}

# bench_proc_kb PID FIELD — a kB field of /proc/PID/status (VmRSS, VmHWM); -1 when unreadable.
bench_proc_kb() {
    awk -v f="$2:" '$1 == f { print $2; found = 1; exit } END { if (!found) print -1 }' \
        "/proc/$1/status" 2>/dev/null || echo -1
}

# bench_reset_hwm PID — resets the process's peak RSS (VmHWM) to its current RSS
# (Linux >= 4.0: write "5" to /proc/PID/clear_refs). Fails when not permitted.
bench_reset_hwm() {
    [ -w "/proc/$1/clear_refs" ] || return 1
    { echo 5 >"/proc/$1/clear_refs"; } 2>/dev/null
}

# bench_field "RESULT k=v ..." KEY — the value of KEY in a vxpload RESULT line (empty if absent).
bench_field() {
    printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1
}

# bench_rewrite SRC DST SED_SCRIPT — a copy of SRC with the sed script applied (organ ids).
bench_rewrite() {
    sed -e "$3" "$1" >"$2" || bench_die "cannot write $2"
}

# bench_mb KB — kB as MB with one decimal.
bench_mb() {
    awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'
}

# bench_ge A B — true when the number A >= B.
bench_ge() {
    awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 >= b + 0) }'
}
