#!/bin/sh
# bench/relay.sh — the relay between platforms: sustained packages/s and end-to-end delivery
# latency across one and two hops (see bench/README.md, "Relay benchmark").
#
# Builds nothing: expects lienthong and bench/vxpload (`make bench-relay` builds first).
# Three throwaway instances on free 127.0.0.1 ports, configured through the CLI only:
#   Kon Tum (000.00.99.H34) --route '*'--> hub (000.00.00.A01) --route '*.H30'--> Hoa Binh
# A Kon Tum agency sends; the recipient is an agency served by the hub (one hop) or by Hoa Binh
# (two hops). Every process started here is stopped by pid at the end (also on failure or
# Ctrl-C) and the temporary directory removed.
#
# Environment:
#   BUILD_DIR           build directory holding lienthong and bench/vxpload (default: build)
#   LIENTHONG, VXPLOAD  explicit binaries (override BUILD_DIR)
#   LT_TESTDATA         directory of the sample edXML files (default: ../shared/testdata/edxml)
#   BENCH_SECONDS       length of every measured phase (default 15)
#   BENCH_RATE          offered packages/s of the fixed-rate phases (default 500)
#   BENCH_CONNS         sender connections (default 16)
#   BENCH_RECV_CONNS    recipient connections fetching packages (default 16)
#   BENCH_POLL_MS       the recipient lists its inbox this often (default 10)
#   BENCH_RELAY_WORKERS relay_workers of every instance (default: the server's, 8)
#   BENCH_PHASES        the measured phases to run (default "a b c d"; the warm-up always runs)
#   BENCH_STRICT=1      exit 1 when a target is missed (default: targets are informational)
set -eu

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
. "$BENCH_DIR/lib.sh"

bench_paths
SECS=${BENCH_SECONDS:-15}
RATE=${BENCH_RATE:-500}
CONNS=${BENCH_CONNS:-16}
RECV_CONNS=${BENCH_RECV_CONNS:-16}
POLL_MS=${BENCH_POLL_MS:-10}
STRICT=${BENCH_STRICT:-0}
PHASES=${BENCH_PHASES:-a b c d}

T_P99_MS=1000 # two-hop p99 delivery latency at BENCH_RATE

HUB=000.00.00.A01
KT=000.00.99.H34
HB=000.00.99.H30
SENDER=000.01.00.H34   # an agency of Kon Tum
RECV1=000.10.00.G01    # served by the hub itself: one hop
RECV2=000.01.00.H30    # served by Hoa Binh: two hops
SENDER_SECRET=bench-relay-sender-secret-0123456789abcdef
RECV_SECRET=bench-relay-recipient-secret-0123456789abcd
KT_AT_HUB=bench-relay-kontum-at-hub-0123456789abcdef
HB_AT_HUB=bench-relay-hoabinh-at-hub-0123456789abcdef
HUB_AT_KT=bench-relay-hub-at-kontum-0123456789abcdef
HUB_AT_HB=bench-relay-hub-at-hoabinh-0123456789abcde

[ -x "$LIENTHONG" ] || bench_die "$LIENTHONG is missing: build first (make bench-relay)"
[ -x "$VXPLOAD" ] || bench_die "$VXPLOAD is missing: build first (make bench-relay)"
[ -r "$TESTDATA/edoc.edxml" ] || bench_die "sample edXML files not found in $TESTDATA (set LT_TESTDATA)"
command -v python3 >/dev/null 2>&1 || bench_die "python3 is required"
case "$SECS$RATE$CONNS$RECV_CONNS$POLL_MS" in *[!0-9]*) bench_die "BENCH_* settings must be integers" ;; esac
case "$PHASES" in *[!abcd\ ]*) bench_die "BENCH_PHASES lists phases among a b c d" ;; esac

TMP=$(mktemp -d "${TMPDIR:-/tmp}/lienthong-relay-bench.XXXXXX")
PIDS=
cleanup() {
    for pid in $PIDS; do
        bench_stop "$pid"
    done
    PIDS=
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

lt() {
    "$LIENTHONG" "$@" >>"$TMP/cli.log" 2>&1 || {
        cat "$TMP/cli.log" >&2
        bench_die "lienthong $* failed"
    }
}

# ---- the three platforms: identity, agencies and systems, peers, routes ----
P_HUB=$(bench_free_port)
P_KT=$(bench_free_port)
P_HB=$(bench_free_port)
while [ "$P_KT" = "$P_HUB" ] || [ "$P_HB" = "$P_HUB" ] || [ "$P_HB" = "$P_KT" ]; do
    P_KT=$(bench_free_port)
    P_HB=$(bench_free_port)
done
D_HUB=$TMP/hub D_KT=$TMP/kontum D_HB=$TMP/hoabinh
bench_log "configuring hub (:$P_HUB), Kon Tum (:$P_KT) and Hoa Binh (:$P_HB) in $TMP"
lt platform set --data "$D_HUB" --organ-id "$HUB" --name "Truc lien thong (bench)"
lt platform set --data "$D_KT" --organ-id "$KT" --name "Nen tang Kon Tum (bench)"
lt platform set --data "$D_HB" --organ-id "$HB" --name "Nen tang Hoa Binh (bench)"
# agency_system DIR ORGAN SECRET — an agency and its own system
agency_system() {
    lt agency add --data "$1" --id "$2" --name "Don vi $2 (bench)"
    lt system add --data "$1" --id "$2" --agency "$2" --secret "$3" --status official
}
agency_system "$D_KT" "$SENDER" "$SENDER_SECRET"
agency_system "$D_HUB" "$RECV1" "$RECV_SECRET"
agency_system "$D_HB" "$RECV2" "$RECV_SECRET"
# each province is a system at the hub, the hub a system at each province
agency_system "$D_HUB" "$KT" "$KT_AT_HUB"
agency_system "$D_HUB" "$HB" "$HB_AT_HUB"
agency_system "$D_KT" "$HUB" "$HUB_AT_KT"
agency_system "$D_HB" "$HUB" "$HUB_AT_HB"
lt peer add --data "$D_HUB" --name kontum --endpoint "http://127.0.0.1:$P_KT" --system-id "$HUB" \
    --secret "$HUB_AT_KT" --inbound-system "$KT"
lt peer add --data "$D_HUB" --name hoabinh --endpoint "http://127.0.0.1:$P_HB" --system-id "$HUB" \
    --secret "$HUB_AT_HB" --inbound-system "$HB"
lt route add --data "$D_HUB" --pattern '*.H34' --peer kontum
lt route add --data "$D_HUB" --pattern '*.H30' --peer hoabinh
lt peer add --data "$D_KT" --name hub --endpoint "http://127.0.0.1:$P_HUB" --system-id "$KT" \
    --secret "$KT_AT_HUB" --inbound-system "$HUB"
lt route add --data "$D_KT" --pattern '*' --peer hub
lt peer add --data "$D_HB" --name hub --endpoint "http://127.0.0.1:$P_HUB" --system-id "$HB" \
    --secret "$HB_AT_HUB" --inbound-system "$HUB"
lt route add --data "$D_HB" --pattern '*' --peer hub

# ---- documents: the official sample, organ ids rewritten ----
DOC1=$TMP/one-hop.edxml
DOC2=$TMP/two-hops.edxml
bench_rewrite "$TESTDATA/edoc.edxml" "$DOC1" "s/002\.00\.20\.H13/$SENDER/g; s/000\.00\.15\.H51/$RECV1/g"
bench_rewrite "$TESTDATA/edoc.edxml" "$DOC2" "s/002\.00\.20\.H13/$SENDER/g; s/000\.00\.15\.H51/$RECV2/g"

# ---- servers ----
# settings of every instance: the server's defaults unless BENCH_RELAY_WORKERS is set
: >"$TMP/serve.conf"
[ -z "${BENCH_RELAY_WORKERS:-}" ] || echo "relay_workers = $BENCH_RELAY_WORKERS" >>"$TMP/serve.conf"
start() { # NAME DIR PORT
    "$LIENTHONG" serve --data "$2" --listen "127.0.0.1:$3" --config "$TMP/serve.conf" \
        >"$TMP/$1.log" 2>&1 </dev/null &
    _pid=$!
    PIDS="$PIDS $_pid"
    if ! bench_wait_healthz "$3" "$_pid" 30; then
        tail -n 40 "$TMP/$1.log" >&2
        bench_die "$1 did not become ready on 127.0.0.1:$3"
    fi
    bench_log "$1: pid $_pid"
    eval "PID_$1=\$_pid"
}
start hub "$D_HUB" "$P_HUB"
start kontum "$D_KT" "$P_KT"
start hoabinh "$D_HB" "$P_HB"

FAILED=0
LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')
# phase NAME DOC RECIPIENT_PORT [vxpload options] — keeps the RESULT line in $TMP/NAME.result
phase() {
    _name=$1 _doc=$2 _port=$3
    shift 3
    if [ "$_name" != warm ] && ! selected "$_name"; then
        return 0
    fi
    bench_log "phase $_name: vxpload --mode relay $*"
    _t0="$(cpu_ticks "$PID_hub") $(cpu_ticks "$PID_kontum") $(cpu_ticks "$PID_hoabinh")"
    _c0=$(commit_counts)
    _rc=0
    "$VXPLOAD" --mode relay --url "http://127.0.0.1:$P_KT" --system "$SENDER" \
        --secret "$SENDER_SECRET" --file "$_doc" --recv-url "http://127.0.0.1:$_port" \
        --recv-system "$(if [ "$_port" = "$P_HUB" ]; then echo "$RECV1"; else echo "$RECV2"; fi)" \
        --recv-secret "$RECV_SECRET" --recv-connections "$RECV_CONNS" --poll-ms "$POLL_MS" \
        --drain 60 "$@" >"$TMP/$_name.out" 2>&1 || _rc=$?
    sed 's/^/    /' "$TMP/$_name.out" >&2
    _t1="$(cpu_ticks "$PID_hub") $(cpu_ticks "$PID_kontum") $(cpu_ticks "$PID_hoabinh")"
    _n=$(bench_field "$(grep '^RESULT ' "$TMP/$_name.out" | tail -n 1)" delivered)
    # CPU time of each instance per package delivered in the phase (hub, Kon Tum, Hoa Binh)
    _cpu=$(per_package "$_t0" "$_t1" "1000/$TICKS" "$_n")
    echo "    CPU ms per package delivered: hub, Kon Tum, Hoa Binh: $_cpu" >&2
    # durable commits (group-commit batches) per package delivered: the fsyncs each package costs
    _commits=$(per_package "$_c0" "$(commit_counts)" 1 "$_n")
    echo "    durable commits per package delivered: hub, Kon Tum, Hoa Binh: $_commits" >&2
    { grep '^RESULT ' "$TMP/$_name.out" | tail -n 1 | tr -d '\n'; echo " cpu_ms=$(echo "$_cpu" | tr ' ' /)"; } \
        >"$TMP/$_name.result" || true
    if [ "$_rc" -ne 0 ]; then
        FAILED=1
        bench_log "phase $_name: vxpload exited with status $_rc"
    fi
    for pid in $PIDS; do
        kill -0 "$pid" 2>/dev/null || bench_die "a server died during phase $_name (see $TMP/*.log)"
    done
}
# commit_counts — lienthong_commit_batches_total of the hub, Kon Tum and Hoa Binh ("?" if unread)
commit_counts() {
    python3 -c 'import sys, urllib.request
out = []
for port in sys.argv[1:]:
    try:
        text = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % port, timeout=2).read().decode()
        out.append(next(l.split()[1] for l in text.splitlines() if l.startswith("lienthong_commit_batches_total ")))
    except Exception:
        out.append("?")
print(" ".join(out))' "$P_HUB" "$P_KT" "$P_HB"
}
# per_package "BEFORE..." "AFTER..." SCALE N (SCALE a fraction, e.g. 1000/100) — (after - before) * SCALE / N for each instance, "?" if unknown
per_package() {
    python3 -c 'import sys, fractions
a, b, n = sys.argv[1].split(), sys.argv[2].split(), int(sys.argv[4] or 0)
scale = float(fractions.Fraction(sys.argv[3]))
print(" ".join("%.2f" % ((int(y) - int(x)) * scale / n) if n and "?" not in (x, y) else "?" for x, y in zip(a, b)))' \
        "$1" "$2" "$3" "$4"
}
# cpu_ticks PID — user + system CPU time of a process so far, in clock ticks
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
TICKS=$(getconf CLK_TCK 2>/dev/null || echo 100)
selected() { case " $PHASES " in *" $1 "*) return 0 ;; esac; return 1; }
result() { cat "$TMP/$1.result" 2>/dev/null || true; }

# warm-up (not reported): every peer's connections open, caches filled
phase warm "$DOC2" "$P_HB" --connections 4 --requests 200
phase a "$DOC1" "$P_HUB" --connections "$CONNS" --rate "$RATE" --duration "$SECS"
phase b "$DOC2" "$P_HB" --connections "$CONNS" --rate "$RATE" --duration "$SECS"
phase c "$DOC1" "$P_HUB" --connections "$CONNS" --duration "$SECS"
phase d "$DOC2" "$P_HB" --connections "$CONNS" --duration "$SECS"

# ---- the platforms' own records: what each says it relayed ----
stats_json() { "$LIENTHONG" stats --data "$1" --json 2>>"$TMP/cli.log"; }
stats_json "$D_HUB" >"$TMP/hub.json" && stats_json "$D_KT" >"$TMP/kt.json" &&
    stats_json "$D_HB" >"$TMP/hb.json" || bench_die "lienthong stats failed"
AGREE=$(python3 - "$TMP" <<'EOF'
import json, sys
d = sys.argv[1]
def rows(name):
    r = json.load(open("%s/%s.json" % (d, name))).get("relay", {})
    return {p["peer"]: p for p in r.get("peers", [])} if isinstance(r, dict) else {}
hub, kt, hb = rows("hub"), rows("kt"), rows("hb")
def get(rs, peer, key):
    return rs.get(peer, {}).get(key)
pairs = [("Kon Tum -> hub", get(kt, "hub", "documents_sent"), get(hub, "kontum", "documents_received")),
         ("hub -> Hoa Binh", get(hub, "hoabinh", "documents_sent"), get(hb, "hub", "documents_received"))]
print("; ".join("%s: %s sent, %s received%s" % (n, a, b, "" if a == b else " (DISAGREE)")
                for n, a, b in pairs))
EOF
) || AGREE="(relay statistics unreadable)"

for pid in $PIDS; do
    bench_stop "$pid"
done
PIDS=

# ---- figures ----
f() { bench_field "$(result "$1")" "$2"; }
lat() { echo "p50 $(f "$1" p50_ms) / p90 $(f "$1" p90_ms) / p99 $(f "$1" p99_ms) / max $(f "$1" max_ms) ms"; }
counts() {
    echo "sent $(f "$1" sent_ok) (failed $(f "$1" send_failed), $(f "$1" late) late), delivered $(f "$1" delivered), duplicates $(f "$1" duplicates), missing $(f "$1" missing)"
}
row() { printf '%-52s %-44s %s\n' "$1" "$2" "$3"; }
note() { printf '      %s\n' "$1"; }
rule=$(printf '%0112d' 0 | tr 0 -)
p99b=$(f b p99_ms)
bench_ge "$T_P99_MS" "${p99b:-999999}" && [ "$(f b sent_ok)" -ge $((RATE * SECS * 95 / 100)) ] 2>/dev/null &&
    vb=ok || vb=MISSED
selected b || vb="not run"

echo
echo "lienthong relay benchmark: $(nproc 2>/dev/null || echo '?') CPUs, $(uname -sr), three instances on loopback"
echo "(durable commits on each), phases of $SECS s, recipient lists every $POLL_MS ms; load average before: $LOADAVG"
echo "$rule"
row "figure" "measured" "target"
echo "$rule"
if selected a; then
    row "(a) one hop, $RATE packages/s offered" "delivery $(lat a)" ""
    note "$(counts a); sendEdoc p50 $(f a send_p50_ms) / p99 $(f a send_p99_ms) ms"
fi
if selected b; then
    row "(b) two hops, $RATE packages/s offered" "delivery $(lat b)" "p99 < $T_P99_MS ms  $vb"
    note "$(counts b); sendEdoc p50 $(f b send_p50_ms) / p99 $(f b send_p99_ms) ms"
    note "CPU ms per package delivered (hub / Kon Tum / Hoa Binh): $(f b cpu_ms)"
fi
if selected c; then
    row "(c) one hop, sustained, $CONNS senders back to back" "$(f c delivered_rate) packages/s delivered" ""
    note "$(counts c); delivery $(lat c)"
fi
if selected d; then
    row "(d) two hops, sustained, $CONNS senders back to back" "$(f d delivered_rate) packages/s delivered" ""
    note "$(counts d); delivery $(lat d)"
    note "CPU ms per package delivered (hub / Kon Tum / Hoa Binh): $(f d cpu_ms)"
fi
echo "$rule"
echo "relay statistics of the instances: $AGREE"
if [ "$FAILED" = 1 ]; then
    bench_log "a phase lost, duplicated or failed packages (see its report above)"
    exit 1
fi
case "$AGREE" in *DISAGREE* | *unreadable*) bench_log "the instances' statistics do not agree"; exit 1 ;; esac
if [ "$STRICT" = 1 ] && [ "$vb" = MISSED ]; then
    exit 1
fi
exit 0
