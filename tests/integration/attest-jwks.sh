#!/bin/sh
# Runs tests/integration/attest-jwks against a fresh simulated CVM.
set -u
srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
builddir=${top_builddir:-$srcdir}
command -v swtpm >/dev/null || { echo "SKIP: swtpm missing"; exit 77; }
SIM="$srcdir/tests/sim/cvm-sim"
SIMDIR=$(mktemp -d /tmp/attestd-jwks.XXXXXX)
trap '"$SIM" stop --dir "$SIMDIR" >/dev/null 2>&1; rm -rf "$SIMDIR"' EXIT
timeout 90 "$SIM" start --dir "$SIMDIR" >/dev/null || { echo "cannot start the sim"; exit 1; }
. "$SIMDIR/env"
export SIM SIMDIR ATTESTD_SIM_CONFIG ATTESTD_SIM_REQUESTS
timeout 120 ${VALGRIND:-} "$builddir/tests/integration/attest-jwks"
