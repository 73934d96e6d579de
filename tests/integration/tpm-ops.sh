#!/bin/sh
# Run tests/integration/tpm-ops (every TPM module operation) against a
# private simulated Azure CVM (tests/sim/cvm-sim). Exit 0 pass, 1 fail,
# 77 skip. Hard timeout; the simulator is stopped on every exit path.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
sim="$top_srcdir/tests/sim/cvm-sim"
prog="$top_builddir/tests/integration/tpm-ops"

for t in swtpm tpm2_pcrextend openssl timeout; do
        command -v "$t" >/dev/null 2>&1 || { echo "SKIP: $t not installed"; exit 77; }
done
/usr/bin/python3 -c 'import cryptography' 2>/dev/null || { echo "SKIP: no python3-cryptography"; exit 77; }
[ -x "$prog" ] || { echo "missing $prog"; exit 1; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/tpm-ops.XXXXXX") || exit 1
cleanup() {
        timeout 20 "$sim" stop --dir "$dir/sim" >/dev/null 2>&1
        rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

timeout 90 "$sim" start --dir "$dir/sim" --paravisor-delay-ms 100 || {
        echo "cannot start the simulated CVM"; cat "$dir/sim/sim.log" 2>/dev/null | tail -20; exit 1; }
. "$dir/sim/env"
export TPM_OPS_WORKDIR="$dir" TPM_OPS_SIM="$sim" TPM2TOOLS_TCTI
timeout 300 ${VALGRIND:-} "$prog"
rc=$?
[ $rc -eq 0 ] || { tail -n 30 "$dir/sim/sim.log" 2>/dev/null; exit $rc; }

# attestctl inspect evidence: 0 consistent, 1 inconsistent, 3 TPM unreachable
ctl="$top_builddir/client/attestctl"
expect() {
        want=$1; shift
        timeout 60 ${VALGRIND:-} "$ctl" inspect evidence --config "$ATTESTD_SIM_CONFIG" "$@" \
                >"$dir/out" 2>&1
        got=$?
        if [ $got -ne "$want" ]; then
                echo "FAIL: attestctl inspect evidence $* exited $got, expected $want"
                cat "$dir/out"
                exit 1
        fi
}
# the TPM test extended PCRs: reboot the simulated VM so that the PCRs are the
# event log's again
timeout 60 "$sim" reboot --dir "$dir/sim" >/dev/null || { echo "cannot reboot the sim"; exit 1; }
expect 0
expect 0 --json
/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["consistent"] and len(d["pcrs_sha256"]) == 8 else 1)' "$dir/out" ||
        { echo "FAIL: inspect evidence --json"; cat "$dir/out"; exit 1; }
# an AK certificate for another key
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$dir/other.key" -subj /CN=other -days 1 \
        -outform DER -out "$dir/other.der" 2>/dev/null &&
        tpm2_nvwrite -Q -C o -i "$dir/other.der" 0x01C101D0 || { echo "cannot replace the AK cert"; exit 1; }
expect 1
grep -q "ak-cert-matches-ak *fail" "$dir/out" || { echo "FAIL: no ak-cert mismatch"; cat "$dir/out"; exit 1; }
# a PCR extended outside the event log
tpm2_pcrextend 7:sha256=0000000000000000000000000000000000000000000000000000000000000007 ||
        { echo "cannot extend PCR 7"; exit 1; }
expect 1
grep -q "eventlog-replays *fail .*PCR 7" "$dir/out" || { echo "FAIL: no replay mismatch"; cat "$dir/out"; exit 1; }
timeout 20 "$sim" stop --dir "$dir/sim" >/dev/null
expect 3
grep -q "cannot reach the TPM" "$dir/out" || { echo "FAIL: unclear unreachable message"; cat "$dir/out"; exit 1; }
echo "attestctl inspect evidence: PASS"
exit 0
