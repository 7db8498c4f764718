#!/bin/sh
# bench/gateway.sh — the data-sharing gateway against nginx, on loopback (see bench/README.md).
#
# One upstream (Debian's nginx answering a fixed ~200-byte JSON body) is measured three ways:
#   (a) called directly; (b) through a second nginx as a well-configured reverse proxy (upstream
#   keep-alive); (c) through lienthong's gateway (/gw/CODE/VERSION/..., OAuth2 bearer token,
#   authorization, rate limiting and the call log all active).
# Phase 1, maximum throughput: wrk, fixed concurrency, closed loop; requests/s and p50/p90/p99.
# Phase 2, half load: gwload (open loop, fixed rate = half of lienthong's maximum) for each of
#   the three; latency from the scheduled send time (no coordinated omission).
#
# Builds nothing: expects lienthong and bench/gwload (make bench-gateway builds first). Every
# process it starts (two nginx masters, lienthong) is stopped by pid at the end, also on failure
# or Ctrl-C, and the temporary directory is removed.
#
# Environment:
#   BUILD_DIR            where lienthong and bench/gwload are (default: build)
#   LIENTHONG, GWLOAD    explicit binaries (override BUILD_DIR); NGINX, WRK likewise
#   BENCH_SECONDS        length of every measured run (default 15)
#   BENCH_CONNS          connections of wrk and gwload (default 64)
#   BENCH_THREADS        wrk threads (default 2)
#   BENCH_WARMUP         unrecorded warm-up before each run, seconds (default 2)
#   BENCH_NGINX_WORKERS  worker_processes of the proxy nginx (default auto)
set -eu

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
. "$BENCH_DIR/lib.sh"

BUILD_DIR=${BUILD_DIR:-$ROOT/build}
case "$BUILD_DIR" in /*) ;; *) BUILD_DIR=$ROOT/$BUILD_DIR ;; esac
LIENTHONG=${LIENTHONG:-$BUILD_DIR/lienthong}
GWLOAD=${GWLOAD:-$BUILD_DIR/bench/gwload}
NGINX=${NGINX:-$(command -v nginx 2>/dev/null || echo /usr/sbin/nginx)}
WRK=${WRK:-$(command -v wrk 2>/dev/null || echo wrk)}
SECS=${BENCH_SECONDS:-15}
CONNS=${BENCH_CONNS:-64}
THREADS=${BENCH_THREADS:-2}
WARMUP=${BENCH_WARMUP:-2}
NGX_WORKERS=${BENCH_NGINX_WORKERS:-auto}

[ -x "$LIENTHONG" ] || bench_die "$LIENTHONG is missing: build first (make bench-gateway)"
[ -x "$GWLOAD" ] || bench_die "$GWLOAD is missing: build first (make bench-gateway)"
[ -x "$NGINX" ] || bench_die "nginx is missing (scripts/setup.sh installs it)"
command -v "$WRK" >/dev/null 2>&1 || bench_die "wrk is missing (scripts/setup.sh installs it)"
command -v python3 >/dev/null 2>&1 || bench_die "python3 is required"
case "$SECS$CONNS$THREADS$WARMUP" in *[!0-9]*) bench_die "BENCH_* must be integers" ;; esac

# Bench systems: a province, the provider system (publishes the service) and the consumer.
PROVINCE=000.00.00.H34
PROVIDER=000.00.06.H34
CONSUMER=000.00.13.H34
CONSUMER_SECRET=bench-consumer-secret-000.00.13.H34-0123456
SERVICE=bench
VERSION=v1
UPATH='/data?id=000.00.13.H34'

TMP=$(mktemp -d "${TMPDIR:-/tmp}/lienthong-gwbench.XXXXXX")
UP_PID='' PX_PID='' LT_PID=''
cleanup() {
    for _p in $LT_PID $PX_PID $UP_PID; do
        bench_stop "$_p"
    done
    LT_PID='' PX_PID='' UP_PID=''
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- nginx: the upstream and the reverse proxy ----
# A fixed body of about 200 bytes (the reply of a small lookup service).
BODY='{"status":"ok","data":{"ma_qhns":"1012345","ten_don_vi":"Van phong UBND tinh Kon Tum","cap_ngan_sach":"Tinh","chuong":"509","kho_bac":"Kho bac Nha nuoc Kon Tum","cap_nhat":"2024-10-01"}}'
UP_PORT=$(bench_free_port)
PX_PORT=$(bench_free_port)
LT_PORT=$(bench_free_port)
[ "$UP_PORT" != "$PX_PORT" ] && [ "$PX_PORT" != "$LT_PORT" ] && [ "$UP_PORT" != "$LT_PORT" ] ||
    bench_die "could not pick three distinct free ports; run again"

# nginx_conf DIR WORKERS PORT SERVER_BODY [HTTP_EXTRA] — a complete configuration that runs as an
# ordinary user (every path: pid, logs, temporary files, inside DIR), listening on 127.0.0.1.
nginx_conf() {
    mkdir -p "$1"
    cat >"$1/nginx.conf" <<EOF
worker_processes $2;
events { worker_connections 4096; }
http {
    default_type application/json;
    client_body_temp_path $1/client_body;
    proxy_temp_path $1/proxy;
    fastcgi_temp_path $1/fastcgi;
    uwsgi_temp_path $1/uwsgi;
    scgi_temp_path $1/scgi;
    keepalive_timeout 65;
    keepalive_requests 1000000;
    ${5:-}
    server {
        listen 127.0.0.1:$3;
        $4
    }
}
EOF
}

# nginx_start DIR — starts nginx in the foreground of a background job; prints its pid.
nginx_start() {
    "$NGINX" -p "$1" -e "$1/error.log" -c "$1/nginx.conf" \
        -g "daemon off; pid $1/nginx.pid; error_log $1/error.log;" >"$1/stdout.log" 2>&1 </dev/null &
    echo $!
}

# wait_get URL PID SECONDS [HEADER] — waits for a 200 to GET URL; fails when PID exits first.
wait_get() {
    _i=0
    while [ "$_i" -lt $(($3 * 10)) ]; do
        kill -0 "$2" 2>/dev/null || return 1
        [ "$(fetch "$1" "${4:-}" status)" = 200 ] && return 0
        sleep 0.1
        _i=$((_i + 1))
    done
    return 1
}

# fetch URL HEADER what — GETs URL with one optional header; prints the status or the body.
fetch() {
    python3 - "$1" "$2" "$3" <<'EOF' 2>/dev/null || printf '000'
import sys, urllib.request, urllib.error
url, header, what = sys.argv[1:4]
req = urllib.request.Request(url)
if header:
    k, v = header.split(":", 1)
    req.add_header(k.strip(), v.strip())
try:
    r = urllib.request.urlopen(req, timeout=5)
    status, body = r.status, r.read()
except urllib.error.HTTPError as e:
    status, body = e.code, e.read()
sys.stdout.write(str(status) if what == "status" else body.decode("utf-8", "replace"))
EOF
}

UP_DIR=$TMP/nginx-upstream
PX_DIR=$TMP/nginx-proxy
# The upstream: one worker, no access log, the fixed body for every path.
nginx_conf "$UP_DIR" 1 "$UP_PORT" "access_log off;
        location / { return 200 '$BODY'; }"
# The proxy: as a careful operator would set it up — HTTP/1.1 keep-alive connections to the
# upstream, one access-log line per request (buffered), as lienthong logs every call.
nginx_conf "$PX_DIR" "$NGX_WORKERS" "$PX_PORT" "access_log $PX_DIR/access.log combined buffer=64k flush=1s;
        location / {
            proxy_pass http://upstream_bench;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
        }" "upstream upstream_bench {
        server 127.0.0.1:$UP_PORT;
        keepalive 64;
        keepalive_requests 1000000;
    }"

UP_PID=$(nginx_start "$UP_DIR")
wait_get "http://127.0.0.1:$UP_PORT$UPATH" "$UP_PID" 10 || {
    cat "$UP_DIR/error.log" "$UP_DIR/stdout.log" >&2 2>/dev/null || true
    bench_die "the upstream nginx did not start"
}
PX_PID=$(nginx_start "$PX_DIR")
wait_get "http://127.0.0.1:$PX_PORT$UPATH" "$PX_PID" 10 || {
    cat "$PX_DIR/error.log" "$PX_DIR/stdout.log" >&2 2>/dev/null || true
    bench_die "the proxy nginx did not start"
}
bench_log "nginx $("$NGINX" -v 2>&1 | sed 's/.*nginx\///'): upstream pid $UP_PID on 127.0.0.1:$UP_PORT, proxy pid $PX_PID on 127.0.0.1:$PX_PORT (workers: $NGX_WORKERS)"

# ---- lienthong ----
DATA=$TMP/data
lt() {
    "$LIENTHONG" "$@" >>"$TMP/cli.log" 2>&1 || {
        cat "$TMP/cli.log" >&2
        bench_die "lienthong $* failed"
    }
}
lt agency add --data "$DATA" --id "$PROVINCE" --name "UBND tinh (bench)"
lt agency add --data "$DATA" --id "$PROVIDER" --name "So Tu phap (bench provider)" --parent "$PROVINCE"
lt agency add --data "$DATA" --id "$CONSUMER" --name "So TT&TT (bench consumer)" --parent "$PROVINCE"
lt system add --data "$DATA" --id "$PROVIDER" --agency "$PROVIDER"
lt system add --data "$DATA" --id "$CONSUMER" --agency "$CONSUMER" --secret "$CONSUMER_SECRET"
# Rate limiting is on but does not bind.
lt service add --data "$DATA" --code "$SERVICE" --version "$VERSION" --provider "$PROVIDER" \
    --url "http://127.0.0.1:$UP_PORT" --name "bench upstream" --rate 1000000 --burst 1000000
lt access grant --data "$DATA" --consumer "$CONSUMER" --service "$SERVICE/$VERSION"

"$LIENTHONG" serve --data "$DATA" --listen "127.0.0.1:$LT_PORT" >"$TMP/lienthong.log" 2>&1 </dev/null &
LT_PID=$!
bench_wait_healthz "$LT_PORT" "$LT_PID" 30 || {
    tail -n 40 "$TMP/lienthong.log" >&2
    bench_die "lienthong did not become ready on 127.0.0.1:$LT_PORT"
}
TOKEN=$(python3 - "http://127.0.0.1:$LT_PORT/token" "$CONSUMER" "$CONSUMER_SECRET" <<'EOF'
import base64, json, sys, urllib.parse, urllib.request
url, cid, secret = sys.argv[1:4]
req = urllib.request.Request(url, data=urllib.parse.urlencode({"grant_type": "client_credentials"}).encode(),
    headers={"Authorization": "Basic " + base64.b64encode(f"{cid}:{secret}".encode()).decode(),
             "Content-Type": "application/x-www-form-urlencoded"})
try:
    print(json.load(urllib.request.urlopen(req, timeout=5))["access_token"])
except Exception as e:
    sys.stderr.write(f"POST /token failed: {e}\n")
    sys.exit(1)
EOF
) || bench_die "no token from lienthong (is the gateway part of this build?)"
AUTH="Authorization: Bearer $TOKEN"
LT_URL="http://127.0.0.1:$LT_PORT/gw/$SERVICE/$VERSION$UPATH"
[ "$(fetch "$LT_URL" "$AUTH" status)" = 200 ] || {
    fetch "$LT_URL" "$AUTH" body >&2
    tail -n 20 "$TMP/lienthong.log" >&2
    bench_die "a call through the gateway did not answer 200"
}
[ "$(fetch "$LT_URL" "$AUTH" body)" = "$BODY" ] || bench_die "the gateway changed the upstream's body"
[ "$(fetch "$LT_URL" "" status)" = 401 ] || bench_log "warning: a call without a token did not get 401"
bench_log "lienthong pid $LT_PID on 127.0.0.1:$LT_PORT; token for $CONSUMER obtained"

DIRECT_URL="http://127.0.0.1:$UP_PORT$UPATH"
PROXY_URL="http://127.0.0.1:$PX_PORT$UPATH"

# ---- phase 1: maximum throughput (wrk) ----
# wrk_ms VALUE — a wrk latency (850.00us, 1.25ms, 2.01s) in ms.
WRK_AWK='
function ms(v) {
    if (v ~ /us$/) return substr(v, 1, length(v) - 2) / 1000
    if (v ~ /ms$/) return substr(v, 1, length(v) - 2) + 0
    if (v ~ /m$/) return substr(v, 1, length(v) - 1) * 60000
    if (v ~ /s$/) return substr(v, 1, length(v) - 1) * 1000
    return v + 0
}
/^ +50%/ { p50 = ms($2) }
/^ +90%/ { p90 = ms($2) }
/^ +99%/ { p99 = ms($2) }
/^Requests\/sec:/ { rps = $2 }
/Non-2xx or 3xx responses:/ { bad += $NF }
/Socket errors:/ { gsub(/,/, ""); bad += $4 + $6 + $8 + $10 }
/requests in/ { n = $1 }
END { printf "rps=%.0f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f requests=%d bad=%d\n", rps, p50, p90, p99, n, bad }'

# wrk_run NAME URL [HEADER] — warm-up, then the measured run; keeps a RESULT-like line.
wrk_run() {
    _name=$1 _url=$2 _hdr=${3:-}
    if [ -n "$_hdr" ]; then set -- -H "$_hdr"; else set --; fi
    if [ "$WARMUP" -gt 0 ]; then
        "$WRK" -t"$THREADS" -c"$CONNS" -d"${WARMUP}s" "$@" "$_url" >"$TMP/$_name.warm" 2>&1 || true
        awk "$WRK_AWK" "$TMP/$_name.warm" >"$TMP/$_name.warmres"
    fi
    bench_log "phase 1 $_name: wrk -t$THREADS -c$CONNS -d${SECS}s --latency $_url"
    "$WRK" -t"$THREADS" -c"$CONNS" -d"${SECS}s" --latency "$@" "$_url" >"$TMP/$_name.wrk" 2>&1 ||
        bench_die "wrk failed: $(cat "$TMP/$_name.wrk")"
    awk "$WRK_AWK" "$TMP/$_name.wrk" >"$TMP/$_name.res"
    sed 's/^/    /' "$TMP/$_name.wrk" >&2
}
res() { cat "$TMP/$1.res"; }
alive() {
    kill -0 "$UP_PID" 2>/dev/null && kill -0 "$PX_PID" 2>/dev/null && kill -0 "$LT_PID" 2>/dev/null ||
        bench_die "a server died during the run (see the logs above)"
}

LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')
wrk_run direct "$DIRECT_URL"
wrk_run nginx "$PROXY_URL"
wrk_run lienthong "$LT_URL" "$AUTH"
alive

# ---- phase 2: half of lienthong's maximum, open loop (gwload) ----
LT_RPS=$(bench_field "$(res lienthong)" rps)
HALF=$((${LT_RPS:-0} / 2))
[ "$HALF" -gt 0 ] || bench_die "lienthong's throughput is 0: see the wrk output above"
FAILED=0
gw_run() {
    _name=$1 _url=$2 _hdr=${3:-}
    if [ -n "$_hdr" ]; then set -- --header "$_hdr"; else set --; fi
    bench_log "phase 2 $_name: gwload --rate $HALF --connections $CONNS --duration $SECS --warmup $WARMUP $_url"
    _rc=0
    "$GWLOAD" --url "$_url" --rate "$HALF" --connections "$CONNS" --duration "$SECS" \
        --warmup "$WARMUP" "$@" >"$TMP/$_name.gw" 2>&1 || _rc=$?
    sed 's/^/    /' "$TMP/$_name.gw" >&2
    grep '^RESULT ' "$TMP/$_name.gw" | tail -n 1 >"$TMP/$_name.res" || true
    [ "$_rc" -eq 0 ] || {
        FAILED=1
        bench_log "phase 2 $_name: gwload exited with status $_rc"
    }
}
gw_run half_direct "$DIRECT_URL"
gw_run half_nginx "$PROXY_URL"
gw_run half_lienthong "$LT_URL" "$AUTH"
alive

for _p in $LT_PID $PX_PID $UP_PID; do
    bench_stop "$_p"
done
LT_PID='' PX_PID='' UP_PID=''

# The call log after the server stopped (everything flushed): one record per call expected.
# Replies the clients received: both wrk runs (their 2xx), gwload's answered (warm-up
# included), and the 2 checks above; a call cut off when wrk stopped may be logged but unseen.
LOGGED=$("$LIENTHONG" stats --data "$DATA" --json 2>/dev/null | python3 -c '
import json, sys
print(json.load(sys.stdin)["gateway"]["total"]["ok"])' 2>/dev/null || echo '?')
SEEN=$(
    for _f in lienthong.res lienthong.warmres; do
        [ -r "$TMP/$_f" ] && printf '%s %s\n' "$(bench_field "$(cat "$TMP/$_f")" requests)" \
            "$(bench_field "$(cat "$TMP/$_f")" bad)"
    done | awk '{ n += $1 - $2 } END { print n + 0 }'
)
SEEN=$((SEEN + $(bench_field "$(res half_lienthong)" answered) + 2))

# ---- figures ----
f() { bench_field "$(res "$1")" "$2"; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%+.3f", a - b }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "-" }'; }
rule=$(printf '%0100d' 0 | tr 0 -)
row1() { printf '%-34s %12s %10s %10s %10s   %s\n' "$1" "$2" "$3" "$4" "$5" "$6"; }
row2() { printf '%-34s %10s %10s %10s %10s %10s   %s\n' "$1" "$2" "$3" "$4" "$5" "$6" "$7"; }
for n in direct nginx lienthong; do
    [ "$(f "$n" bad)" = 0 ] || {
        FAILED=1
        bench_log "phase 1 $n: $(f "$n" bad) failed requests (non-2xx or socket errors)"
    }
done

echo
echo "lienthong gateway benchmark: $(nproc 2>/dev/null || echo '?') CPUs, $(uname -sr), loopback; client, proxies"
echo "and upstream share the machine; load average before the runs: $LOADAVG"
echo "upstream: nginx, $(printf '%s' "$BODY" | wc -c | tr -d ' ')-byte JSON body; $CONNS keep-alive connections; runs of $SECS s after $WARMUP s of warm-up"
echo "lienthong: bearer token, grant check, rate limit (not binding) and call log on every request;"
echo "  call log after the run: $LOGGED successful calls recorded, $SEEN 2xx replies received by the clients"
echo "$rule"
echo "phase 1: maximum throughput (wrk -t$THREADS -c$CONNS, closed loop; latency in ms)"
row1 "" "requests/s" "p50" "p90" "p99" ""
row1 "(a) upstream direct" "$(f direct rps)" "$(f direct p50_ms)" "$(f direct p90_ms)" "$(f direct p99_ms)" ""
row1 "(b) through nginx proxy" "$(f nginx rps)" "$(f nginx p50_ms)" "$(f nginx p90_ms)" "$(f nginx p99_ms)" \
    "p99 added $(sub "$(f nginx p99_ms)" "$(f direct p99_ms)") ms"
row1 "(c) through lienthong gateway" "$(f lienthong rps)" "$(f lienthong p50_ms)" "$(f lienthong p90_ms)" \
    "$(f lienthong p99_ms)" "p99 added $(sub "$(f lienthong p99_ms)" "$(f direct p99_ms)") ms"
echo "    lienthong / nginx proxy requests/s: $(ratio "$(f lienthong rps)" "$(f nginx rps)");" \
    "lienthong / direct: $(ratio "$(f lienthong rps)" "$(f direct rps)");" \
    "nginx proxy / direct: $(ratio "$(f nginx rps)" "$(f direct rps)")"
echo "$rule"
echo "phase 2: at half load, $HALF requests/s fixed rate (gwload, open loop, $CONNS connections;"
echo "latency from each request's scheduled send time, ms)"
row2 "" "achieved/s" "p50" "p90" "p99" "p99.9" ""
for n in direct nginx lienthong; do
    case $n in
    direct) label="(a) upstream direct" extra="" ;;
    nginx) label="(b) through nginx proxy" ;;
    lienthong) label="(c) through lienthong gateway" ;;
    esac
    [ "$n" = direct ] || extra="p99 added $(sub "$(f half_$n p99_ms)" "$(f half_direct p99_ms)") ms"
    row2 "$label" "$(f half_$n rate)" "$(f half_$n p50_ms)" "$(f half_$n p90_ms)" "$(f half_$n p99_ms)" \
        "$(f half_$n p999_ms)" "$extra"
    note=$(printf 'errors %s, sent >1 ms late %s, gwload CPU %s s' "$(f half_$n errors)" \
        "$(f half_$n late)" "$(f half_$n client_cpu_s)")
    printf '      %s\n' "$note"
done
echo "$rule"
[ "$FAILED" = 0 ] || {
    bench_log "some requests failed (see the reports above)"
    exit 1
}
exit 0
