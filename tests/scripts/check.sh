#!/bin/sh
# The test command: install dependencies, build with ASan+UBSan, run every
# unit, fuzz-corpus and integration test, then `make distcheck`.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
sh tests/scripts/install-deps.sh
./bootstrap
fixtures=""
[ -d ../shared/fixtures ] && fixtures=$(cd ../shared/fixtures && pwd)
# clang, warnings as errors: the tree must build clean with both compilers.
# This build has no sanitizer, so it also builds the static attestctl and
# runs the attestctl test, whose chroot part needs that binary, and a smoke
# run of every benchmark (tests/bench; figures only, nothing is timed) and
# of the soak (tests/soak, 20 s: every check but memory flatness).
rm -rf build/clang && mkdir -p build/clang && (cd build/clang &&
        "$top/configure" --quiet CC=clang --enable-unit --enable-integration \
                ${fixtures:+FIXTURES_DIR="$fixtures"} &&
        make -j"$(nproc)" >/dev/null && make -j"$(nproc)" check TESTS= >/dev/null &&
        make attestctl-static &&
        { make check TESTS=tests/integration/attestctl.sh >/dev/null ||
          { cat tests/integration/attestctl.log; exit 1; }; } &&
        make bench-smoke && make soak-smoke)
# libFuzzer: every parser target, a bounded time each (FUZZ_SECONDS, default 15)
rm -rf build/fuzz && mkdir -p build/fuzz && (cd build/fuzz &&
        "$top/configure" --quiet CC=clang --enable-fuzzing --with-sanitizer=address,undefined \
                CFLAGS="-O1 -g" && make -j"$(nproc)" >/dev/null)
sh tests/scripts/fuzz.sh build/fuzz "${FUZZ_SECONDS:-15}"
rm -rf build/asan && mkdir -p build/asan && cd build/asan
"$top/configure" --enable-unit --enable-integration \
        --with-sanitizer=address,undefined CFLAGS="-O1 -g" \
        ${fixtures:+FIXTURES_DIR="$fixtures"}
make -j"$(nproc)"
if ! make -j"$(nproc)" check; then
        for f in $(find . -name '*.log' -newer Makefile); do
                grep -q -E '^(FAIL|ERROR)' "${f%.log}.trs" 2>/dev/null && { echo "=== $f"; tail -n 60 "$f"; }
        done
        exit 1
fi
make -j"$(nproc)" distcheck
