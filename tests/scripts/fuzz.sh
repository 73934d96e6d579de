#!/bin/sh
# Run every libFuzzer target for a bounded time over its seed corpus.
# Usage: tests/scripts/fuzz.sh BUILDDIR [SECONDS]   (BUILDDIR configured with
# CC=clang --enable-fuzzing). New inputs go to a scratch directory, never
# into the source tree; any crash, leak or sanitizer report fails the run.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
build=$1
seconds=${2:-${FUZZ_SECONDS:-15}}
scratch=$(mktemp -d /tmp/attestd-fuzz.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
status=0
for bin in "$build"/tests/fuzz/fuzz-*; do
        [ -x "$bin" ] && [ "${bin%.o}" = "$bin" ] || continue
        name=${bin##*/fuzz-}
        mkdir -p "$scratch/$name"
        if "$bin" -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
                -artifact_prefix="$scratch/$name-" "$scratch/$name" "$top/tests/fuzz/corpus/$name" \
                >"$scratch/$name.log" 2>&1; then
                echo "fuzz-$name: $(grep -o 'Done [0-9]* runs in [0-9]* second(s)' "$scratch/$name.log" | tail -n1)"
        else
                echo "fuzz-$name: FAILED"
                tail -n 40 "$scratch/$name.log"
                status=1
        fi
done
exit $status
