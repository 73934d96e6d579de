#!/bin/sh
# Run every libFuzzer target over its seed corpus, for a bounded time (CI) or
# for a number of executions (a campaign), and print one line per target.
# Usage: tests/scripts/fuzz.sh BUILDDIR [SECONDS] [TARGET...]
#   BUILDDIR configured with CC=clang --enable-fuzzing; SECONDS per target
#   (default FUZZ_SECONDS or 15); TARGETs by name (hcl, jose...), default all.
# Environment:
#   FUZZ_RUNS=N      run N executions per target instead of SECONDS
#   FUZZ_WORKDIR=D   keep each target's grown corpus in D/NAME (reused by the
#                    next run; default a scratch directory removed at exit)
# New inputs never go into the source tree; any crash, leak or sanitizer
# report fails the run and its log tail is shown.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
build=$1
seconds=${2:-${FUZZ_SECONDS:-15}}
[ $# -ge 2 ] && shift 2 || shift $#
scratch=$(mktemp -d "${TMPDIR:-/tmp}/attestd-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
work=${FUZZ_WORKDIR:-$scratch}
if [ -n "${FUZZ_RUNS:-}" ]; then
        limit="-runs=$FUZZ_RUNS"
else
        limit="-max_total_time=$seconds"
fi
targets=$*
[ -n "$targets" ] || for bin in "$build"/tests/fuzz/fuzz-*; do
        [ -x "$bin" ] && [ "${bin%.o}" = "$bin" ] && targets="$targets ${bin##*/fuzz-}"
done
status=0
for name in $targets; do
        bin=$build/tests/fuzz/fuzz-$name
        log=$scratch/$name.log
        mkdir -p "$work/$name"
        if "$bin" "$limit" -max_len=65536 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
                -artifact_prefix="$work/$name-" "$work/$name" "$top/tests/fuzz/corpus/$name" \
                >"$log" 2>&1; then
                runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
                rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
                cov=$(grep -o 'cov: [0-9]* ft: [0-9]* corp: [0-9]*' "$log" | tail -n1)
                echo "fuzz-$name: $runs runs, $rate exec/s, $cov"
        else
                echo "fuzz-$name: FAILED"
                tail -n 40 "$log"
                status=1
        fi
done
exit $status
