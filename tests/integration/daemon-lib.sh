# SPDX-License-Identifier: BSD-3-Clause
# shellcheck shell=bash
# Shared by tests/integration/daemon-*.sh (sourced, not a test): paths, a
# temporary directory removed at exit together with every process recorded
# in $pids and the simulated CVM in $tmp/sim, and ok/FAIL counting.

srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
builddir=${top_builddir:-$srcdir}
sim="$srcdir/tests/sim/cvm-sim"
attestd="$builddir/daemon/attestd"
py=/usr/bin/python3
pass=0 fail=0
pids=()

# daemon_require TOOL...: skip (77) unless the tools, python and attestd are there
daemon_require() {
        local t
        for t in swtpm tpm2_pcrextend curl "$@"; do
                command -v "$t" >/dev/null || { echo "SKIP: $t missing"; exit 77; }
        done
        [ -x $py ] || { echo "SKIP: $py missing"; exit 77; }
        [ -x "$attestd" ] || { echo "SKIP: $attestd not built"; exit 77; }
}

daemon_cleanup() {
        local p
        for p in "${pids[@]}"; do
                kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
        done
        [ -d "$tmp/sim" ] && "$sim" stop --dir "$tmp/sim" >/dev/null 2>&1
        [ -n "${KEEP_TMP:-}" ] || rm -rf "$tmp"
}

# daemon_setup NAME [SIM_OPTION...]: $tmp (0755: other uids reach sockets in
# it), traps, and the simulated CVM in $tmp/sim started with the options
daemon_setup() {
        local name=$1
        shift
        tmp=$(mktemp -d "/tmp/attestd-$name.XXXXXX") || exit 1
        chmod 0755 "$tmp"
        trap daemon_cleanup EXIT
        trap 'exit 1' INT TERM HUP PIPE
        timeout 90 "$sim" start --dir "$tmp/sim" "$@" >/dev/null || { echo "FAIL: cannot start the sim"; exit 1; }
}

# mkconfig SRC DST JSON: DST is SRC with JSON's sections merged in
mkconfig() {
        $py - "$@" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
for section, values in json.loads(sys.argv[3]).items():
    c.setdefault(section, {}).update(values)
json.dump(c, open(sys.argv[2], "w"), indent=1)
PY
}

ok() { pass=$((pass + 1)); echo "ok   $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }
# check NAME EXPR: ok if the shell expression EXPR (evaluated here) is true
check() {
        if eval "$2"; then ok "$1"; else bad "$1"; fi
}
# check_no_sanitizer_report: no daemon log in $tmp has one (else show them)
check_no_sanitizer_report() {
        local f
        check "no sanitizer report" '! grep -l -E "AddressSanitizer|runtime error|LeakSanitizer" "$tmp"/*.err'
        for f in $(grep -l -E "AddressSanitizer|runtime error|LeakSanitizer" "$tmp"/*.err); do
                echo "#    $f:"
                grep -E -A40 "AddressSanitizer|runtime error|LeakSanitizer" "$f" | head -60
        done
}

daemon_finish() {
        echo "$pass passed, $fail failed"
        [ "$fail" = 0 ]
}
