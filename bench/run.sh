#!/bin/sh
# bench/run.sh — throughput and memory figures of lienthong's VXP document API (see bench/README.md).
#
# Builds nothing: expects the server and the load generator to exist (`make bench` builds first).
# Starts a throwaway server on a free 127.0.0.1 port with a temporary data directory, registers
# a province and its bench systems through the CLI, runs the four measurements, prints the
# figures table, then stops the server and removes the directory (also on failure or Ctrl-C).
#
# Environment:
#   BUILD_DIR         build directory holding lienthong and bench/vxpload (default: build)
#   LIENTHONG, VXPLOAD explicit binaries (override BUILD_DIR)
#   LT_TESTDATA       directory of the sample edXML files (default: ../shared/testdata/edxml)
#   BENCH_SECONDS     length of the timed phases (default 20)
#   BENCH_CONNS       connections of the sendEdoc phases (default 32)
#   BENCH_RECV_CONNS  connections of the receive phase (default 8)
#   BENCH_BIG_MB      attachment size of the memory phase in MiB (default 50)
#   BENCH_STRICT=1    exit 1 when a target is missed (default: targets are informational)
#   BENCH_SERVER_CONFIG  a config file for the server (e.g. to measure one setting's cost)
set -eu

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
. "$BENCH_DIR/lib.sh"

bench_paths
SECS=${BENCH_SECONDS:-20}
CONNS=${BENCH_CONNS:-32}
RECV_CONNS=${BENCH_RECV_CONNS:-8}
BIG_MB=${BENCH_BIG_MB:-50}
STRICT=${BENCH_STRICT:-0}

# Targets.
T_SMALL=3000 # sendEdoc/s, 8 KB document, 32 connections
T_LARGE=150  # sendEdoc/s, 370 KB document, 32 connections
T_RSS_MB=32  # RSS increase for one 50 MB document

# Bench organs: a province, one sender, the recipient and the other recipients of the
# multi-recipient sample, and a recipient reserved for the big document (so that its inbox holds
# exactly that package when it is fetched back).
PROVINCE=000.00.00.H34
SENDER=000.00.01.H34
RECV=000.00.13.H34
RECV2=000.00.14.H34
RECV3=000.00.15.H34
BIGRECV=000.00.16.H34
SENDER_SECRET=bench-sender-secret-000.00.01.H34-0123456789
RECV_SECRET=bench-recipient-secret-000.00.13.H34-012345
OTHER_SECRET=bench-other-secret-0123456789abcdefghijklmno

[ -x "$LIENTHONG" ] || bench_die "$LIENTHONG is missing: build first (make bench)"
[ -x "$VXPLOAD" ] || bench_die "$VXPLOAD is missing: build first (make bench)"
[ -r "$TESTDATA/edoc.edxml" ] && [ -r "$TESTDATA/edoc_update.edxml" ] ||
    bench_die "sample edXML files not found in $TESTDATA (set LT_TESTDATA)"
command -v python3 >/dev/null 2>&1 || bench_die "python3 is required"
case "$SECS$CONNS$RECV_CONNS" in *[!0-9]*) bench_die "BENCH_SECONDS/BENCH_CONNS/BENCH_RECV_CONNS must be integers" ;; esac

TMP=$(mktemp -d "${TMPDIR:-/tmp}/lienthong-bench.XXXXXX")
SERVER_PID=
cleanup() {
    if [ -n "$SERVER_PID" ]; then
        bench_stop "$SERVER_PID"
        SERVER_PID=
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

DATA=$TMP/data
LOG=$TMP/server.log

# ---- registry (before the server starts) ----
lt() {
    "$LIENTHONG" "$@" >>"$TMP/cli.log" 2>&1 || {
        cat "$TMP/cli.log" >&2
        bench_die "lienthong $* failed"
    }
}
bench_log "registering the bench organs in $DATA"
lt agency add --data "$DATA" --id "$PROVINCE" --name "UBND tinh (bench)"
for org in "$SENDER" "$RECV" "$RECV2" "$RECV3" "$BIGRECV"; do
    lt agency add --data "$DATA" --id "$org" --name "Don vi $org (bench)" --parent "$PROVINCE"
done
lt system add --data "$DATA" --id "$SENDER" --agency "$SENDER" --secret "$SENDER_SECRET"
lt system add --data "$DATA" --id "$RECV" --agency "$RECV" --secret "$RECV_SECRET"
for org in "$RECV2" "$RECV3" "$BIGRECV"; do
    lt system add --data "$DATA" --id "$org" --agency "$org" --secret "$OTHER_SECRET"
done

# ---- documents ----
DOC_SMALL=$TMP/edoc.edxml
DOC_LARGE=$TMP/edoc_update.edxml
DOC_BIG=$TMP/big.edxml
# The official sample as it is (its attachment is a template placeholder, accepted like the
# national library accepts it); only the organ ids are rewritten.
bench_rewrite "$TESTDATA/edoc.edxml" "$DOC_SMALL" \
    "s/002\.00\.20\.H13/$SENDER/g; s/000\.00\.15\.H51/$RECV/g"
bench_rewrite "$TESTDATA/edoc_update.edxml" "$DOC_LARGE" \
    "s/000\.00\.00\.G22/$SENDER/g; s/000\.00\.00\.H41/$RECV/g; s/000\.00\.00\.H14/$RECV2/g; s/000\.00\.00\.G17/$RECV3/g"
bench_log "writing a ${BIG_MB} MB edXML document"
python3 "$BENCH_DIR/make_big_edxml.py" "$DOC_BIG" "$BIG_MB" "$SENDER" "$BIGRECV" ||
    bench_die "make_big_edxml.py failed"
size_of() { wc -c <"$1" | tr -d ' '; }

# ---- server ----
PORT=$(bench_free_port)
URL=http://127.0.0.1:$PORT
"$LIENTHONG" serve --data "$DATA" --listen "127.0.0.1:$PORT" ${BENCH_SERVER_CONFIG:+--config "$BENCH_SERVER_CONFIG"} \
    >"$LOG" 2>&1 </dev/null &
SERVER_PID=$!
if ! bench_wait_healthz "$PORT" "$SERVER_PID" 30; then
    tail -n 40 "$LOG" >&2
    bench_die "server did not become ready on $URL"
fi
bench_log "server pid $SERVER_PID ready on $URL"

FAILED=0
LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')
# phase NAME ARGS... — runs vxpload, shows its report, keeps its RESULT line in $TMP/NAME.result.
phase() {
    _name=$1
    shift
    bench_log "phase $_name: vxpload $*"
    _rc=0
    "$VXPLOAD" --url "$URL" --pid "$SERVER_PID" "$@" >"$TMP/$_name.out" 2>&1 || _rc=$?
    sed 's/^/    /' "$TMP/$_name.out" >&2
    grep '^RESULT ' "$TMP/$_name.out" | tail -n 1 >"$TMP/$_name.result" || true
    if [ "$_rc" -ne 0 ]; then
        FAILED=1
        bench_log "phase $_name: vxpload exited with status $_rc"
    fi
    kill -0 "$SERVER_PID" 2>/dev/null || {
        tail -n 40 "$LOG" >&2
        bench_die "the server died during phase $_name"
    }
}
result() { cat "$TMP/$1.result" 2>/dev/null || true; }

# (a) small documents, (b) the 370 KB sample
phase a --mode send --system "$SENDER" --secret "$SENDER_SECRET" --file "$DOC_SMALL" \
    --connections "$CONNS" --duration "$SECS"
phase b --mode send --system "$SENDER" --secret "$SENDER_SECRET" --file "$DOC_LARGE" \
    --connections "$CONNS" --duration "$SECS"
# (c) the recipient drains its inbox (both kinds of documents), or stops after the duration
phase c --mode receive --system "$RECV" --secret "$RECV_SECRET" \
    --connections "$RECV_CONNS" --duration "$SECS"

# (d) one big document: send it, then fetch it back as its recipient. RSS before each step and
# the peak during it (VmHWM after resetting it; the sampled VmRSS maximum when the kernel does
# not allow the reset).
sleep 1
peak_kb() { # RESULT-line, hwm-was-reset
    _hwm=$(bench_field "$1" server_hwm_kb)
    _max=$(bench_field "$1" server_rss_max_kb)
    if [ "$2" = 1 ] && [ -n "$_hwm" ] && [ "$_hwm" -ge "${_max:--1}" ]; then echo "$_hwm"; else echo "${_max:--1}"; fi
}
RSS0=$(bench_proc_kb "$SERVER_PID" VmRSS)
RESET=0
bench_reset_hwm "$SERVER_PID" && RESET=1
phase d_send --mode once --system "$SENDER" --secret "$SENDER_SECRET" --file "$DOC_BIG" --timeout 300
PEAK_SEND=$(peak_kb "$(result d_send)" "$RESET")
sleep 1
RSS1=$(bench_proc_kb "$SERVER_PID" VmRSS)
RESET1=0
bench_reset_hwm "$SERVER_PID" && RESET1=1
phase d_get --mode receive --system "$BIGRECV" --secret "$OTHER_SECRET" --requests 1 --timeout 300
PEAK_GET=$(peak_kb "$(result d_get)" "$RESET1")
RSS2=$(bench_proc_kb "$SERVER_PID" VmRSS)

bench_stop "$SERVER_PID"
SERVER_PID=

# ---- figures ----
MISSED=0
ra=$(result a)
rb=$(result b)
rc=$(result c)
rds=$(result d_send)
rdg=$(result d_get)
rate_a=$(bench_field "$ra" rate)
rate_b=$(bench_field "$rb" rate)
rate_c=$(bench_field "$rc" rate)
bench_ge "${rate_a:-0}" "$T_SMALL" && va=ok || va=MISSED
bench_ge "${rate_b:-0}" "$T_LARGE" && vb=ok || vb=MISSED
inc_send=$((PEAK_SEND - RSS0))
inc_get=$((PEAK_GET - RSS1))
[ "$PEAK_SEND" -ge 0 ] && [ "$RSS0" -ge 0 ] && [ "$inc_send" -lt $((T_RSS_MB * 1024)) ] && vds=ok || vds=MISSED
[ "$PEAK_GET" -ge 0 ] && [ "$RSS1" -ge 0 ] && [ "$inc_get" -lt $((T_RSS_MB * 1024)) ] && vdg=ok || vdg=MISSED
[ "$(bench_field "$rds" ok)" = 1 ] || vds="MISSED (send failed)"
[ "$(bench_field "$rdg" ok)" = 1 ] || vdg="MISSED (getEdoc failed)"
case "$va$vb$vds$vdg" in *MISSED*) MISSED=1 ;; esac
[ "$RESET" = 1 ] && [ "$RESET1" = 1 ] && how="VmHWM, reset before each step" ||
    how="sampled VmRSS every 5 ms (VmHWM reset not permitted)"

lat() { echo "p50 $(bench_field "$1" p50_ms) / p99 $(bench_field "$1" p99_ms) / max $(bench_field "$1" max_ms) ms"; }
counts() { echo "ok $(bench_field "$1" ok), failed $(bench_field "$1" failed)"; }
cpu() { awk -v c="$(bench_field "$1" client_cpu_s)" -v e="$(bench_field "$1" elapsed_s)" \
    'BEGIN { if (e > 0) printf "vxpload used %.0f%% of one CPU", 100 * c / e; else printf "-" }'; }
row() { printf '%-46s %-34s %-15s %s\n' "$1" "$2" "$3" "$4"; }
note() { printf '      %s\n' "$1"; }
rule=$(printf '%0108d' 0 | tr 0 -)

echo
echo "lienthong benchmark: $(nproc 2>/dev/null || echo '?') CPUs, $(uname -sr), timed phases of $SECS s, loopback;"
echo "load average before the phases: $LOADAVG (client and server share the machine)"
echo "$rule"
row "figure" "measured" "target" ""
echo "$rule"
row "(a) sendEdoc $(size_of "$DOC_SMALL") B document, $CONNS connections" "$rate_a req/s" ">= $T_SMALL req/s" "$va"
note "$(counts "$ra"); latency $(lat "$ra"); $(cpu "$ra")"
row "(b) sendEdoc $(size_of "$DOC_LARGE") B document, $CONNS connections" "$rate_b req/s" ">= $T_LARGE req/s" "$vb"
note "$(counts "$rb"); latency $(lat "$rb"); $(cpu "$rb")"
row "(c) receive cycle, $RECV_CONNS connections" "$rate_c cycles/s" "-" ""
note "cycle = getEdoc + updateStatus done, inbox listed as needed; $(counts "$rc")"
note "ended: $(bench_field "$rc" end) (drained = inbox empty); latency $(lat "$rc"); $(cpu "$rc")"
row "(d) ${BIG_MB} MB attachment, sendEdoc" "RSS +$(bench_mb "$inc_send") MB" "< $T_RSS_MB MB" "$vds"
note "RSS before $(bench_mb "$RSS0") MB, peak $(bench_mb "$PEAK_SEND") MB; document $(size_of "$DOC_BIG") B sent in $(bench_field "$rds" max_ms) ms"
row "    ${BIG_MB} MB attachment, getEdoc" "RSS +$(bench_mb "$inc_get") MB" "< $T_RSS_MB MB" "$vdg"
note "RSS before $(bench_mb "$RSS1") MB, peak $(bench_mb "$PEAK_GET") MB, after $(bench_mb "$RSS2") MB; cycle $(bench_field "$rdg" max_ms) ms"
note "peak = $how"
echo "$rule"
if [ "$FAILED" = 1 ]; then
    bench_log "some requests failed (see the phase reports above)"
fi
if [ "$FAILED" = 1 ] || { [ "$STRICT" = 1 ] && [ "$MISSED" = 1 ]; }; then
    exit 1
fi
exit 0
