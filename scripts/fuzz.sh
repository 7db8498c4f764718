#!/bin/sh
# Runs every libFuzzer target in BUILD_DIR for SECONDS each (all at once on the two cores), each
# with the checked-in seeds of fuzz/corpus/<target>.
set -eu
BUILD=$1
SECONDS_EACH=$2
ROOT=$(cd "$(dirname "$0")/.." && pwd)
rm -f "$BUILD/fuzz-run/results"; mkdir -p "$BUILD/fuzz-run"
pids=""
fail=0
for bin in "$BUILD"/fuzz/fuzz_*; do
    [ -x "$bin" ] || continue
    name=$(basename "$bin")
    work="$BUILD/fuzz-run/$name"
    rm -rf "$work"
    mkdir -p "$work/corpus"
    [ -d "$ROOT/fuzz/corpus/$name" ] && cp "$ROOT/fuzz/corpus/$name"/* "$work/corpus/" 2>/dev/null || true
    # Small inputs run fast: fuzz_edxml's seeds are the samples with their attachments cut
    # short (fuzz/corpus/fuzz_edxml), so 60 s are tens of thousands of runs, not a few thousand.
    case $name in
    fuzz_edxml) max_len=16384 ;;
    fuzz_http_head) max_len=8192 ;;
    *) max_len=1048576 ;;
    esac
    dict=""
    [ -f "$ROOT/fuzz/$name.dict" ] && dict="-dict=$ROOT/fuzz/$name.dict"
    echo "fuzz: $name for ${SECONDS_EACH}s"
    ( cd "$work" && "$OLDPWD/$bin" -max_total_time="$SECONDS_EACH" -max_len=$max_len -rss_limit_mb=2048 \
        -timeout=20 -print_final_stats=1 $dict corpus >log.txt 2>&1 ) &
    pids="$pids $!:$name"
done
for p in $pids; do
    pid=${p%%:*}
    name=${p#*:}
    if wait "$pid"; then
        echo "fuzz: $name passed ($(grep -c . "$BUILD/fuzz-run/$name/log.txt") log lines, $(grep -o 'stat::number_of_executed_units: *[0-9]*' "$BUILD/fuzz-run/$name/log.txt" | grep -o '[0-9]*$') runs)"
        echo "fuzz.$name passed" >>"$BUILD/fuzz-run/results"
    else
        echo "fuzz: $name FAILED; last lines of its log:"
        tail -40 "$BUILD/fuzz-run/$name/log.txt"
        echo "fuzz.$name failed" >>"$BUILD/fuzz-run/results"
        fail=1
    fi
done
exit $fail
