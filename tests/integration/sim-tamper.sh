#!/bin/bash
# Every `cvm-sim tamper` kind leads to the expected MAA refusal or claim
# change, and `tamper restore` brings the node back to a trusted state.
set -euo pipefail
. "$(dirname "$0")/sim-lib/common.sh"
t_init

D=$T_TMP/sim
sim_start "$D"
n=0

# tampered KIND then: attest fresh evidence; $EVN / $OUT are set for checks
tampered() {
    n=$((n + 1))
    timeout 30 "$SIM" tamper --dir "$D" "$@" >/dev/null
    EVN=$T_TMP/ev$n
    OUT=$T_TMP/out$n
    gather_evidence "$EVN"
}
restore() {
    timeout 30 "$SIM" tamper --dir "$D" restore >/dev/null
}

say "# pcr: a PCR extended outside the event log"
tampered pcr --pcr 7
expect_refused "PCR 7 extended outside the log" eventlog-replay "$EVN" "$OUT"
restore

say "# secure-boot-off"
tampered secure-boot-off
if expect_accepted "secure boot off is not a refusal" "$EVN" "$OUT"; then
    check "secureboot claim is false" [ "$(claim "$OUT.claims" secureboot)" = false ]
    check "runtime vm-configuration secure-boot false" \
        [ "$(claim "$OUT.claims" x-ms-isolation-tee/x-ms-runtime/vm-configuration/secure-boot)" = false ]
fi
restore

say "# debuggable"
tampered debuggable
if expect_accepted "debuggable guest policy still attests" "$EVN" "$OUT"; then
    check "x-ms-sevsnpvm-is-debuggable true" \
        [ "$(claim "$OUT.claims" x-ms-isolation-tee/x-ms-sevsnpvm-is-debuggable)" = true ]
fi
restore

say "# ak-cert: AK certificate from an untrusted CA"
tampered ak-cert
check "NV 0x01C101D0 holds a cert that does not chain to the vTPM CA" bash -c "
    '$PY' -c 'import sys; b=open(sys.argv[1],\"rb\").read(); l=b[1]&0x7f; n=int.from_bytes(b[2:2+l],\"big\"); sys.stdout.buffer.write(b[:4+n])' '$EVN/akcert.bin' |
    openssl x509 -inform DER -out '$EVN/ak.pem' && ! openssl verify -CAfile '$ATTESTD_SIM_VTPM_CA' '$EVN/ak.pem' >/dev/null 2>&1"
expect_refused "AK cert from an untrusted CA" ak-cert "$EVN" "$OUT"
restore

say "# hcl-binding"
tampered hcl-binding
expect_refused "runtime claims do not hash to report_data" hcl-binding "$EVN" "$OUT"
restore

say "# ak-mismatch"
tampered ak-mismatch
expect_refused "HCLAkPub is another key" hcl-akpub "$EVN" "$OUT"
restore

say "# several at once, then restore"
timeout 30 "$SIM" tamper --dir "$D" secure-boot-off >/dev/null
timeout 30 "$SIM" tamper --dir "$D" debuggable >/dev/null
tampered pcr
expect_refused "pcr + secure-boot-off + debuggable" eventlog-replay "$EVN" "$OUT"
restore
EVR=$T_TMP/ev-restored
gather_evidence "$EVR"
if expect_accepted "after restore" "$EVR" "$T_TMP/restored"; then
    check "after restore: secureboot true, not debuggable" \
        [ "$(claim "$T_TMP/restored.claims" secureboot)$(claim "$T_TMP/restored.claims" x-ms-isolation-tee/x-ms-sevsnpvm-is-debuggable)" = truefalse ]
fi
check "status reports no tampering" bash -c "timeout 30 '$SIM' status --dir '$D' --json | '$PY' -c 'import json,sys; s=json.load(sys.stdin); assert s[\"healthy\"] and s[\"tamper\"]=={}'"

t_done
