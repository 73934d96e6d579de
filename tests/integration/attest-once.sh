#!/bin/bash
# End to end against the simulated CVM through `attestd --once`: TPM
# evidence -> MAA emulator -> sealed token opened in the TPM -> JWT verified
# -> policy. Every tampered node and every emulator fault must end in the
# right verdict, and never in a trusted one it should not be.
set -u
srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
builddir=${top_builddir:-$srcdir}
sim="$srcdir/tests/sim/cvm-sim"
attestd="$builddir/daemon/attestd"
for t in swtpm tpm2_pcrextend; do
        command -v $t >/dev/null || { echo "SKIP: $t missing"; exit 77; }
done
[ -x "$attestd" ] || { echo "SKIP: $attestd not built"; exit 77; }

tmp=$(mktemp -d /tmp/attestd-once.XXXXXX)
cleanup() {
        for d in "$tmp"/sim-*; do [ -d "$d" ] && "$sim" stop --dir "$d" >/dev/null 2>&1; done
        rm -rf "$tmp"
}
trap cleanup EXIT
pass=0 fail=0

# once NAME CONFIG WANT_EXIT WANT_VERDICT [WANT_CODE|WANT_RULE]
once() {
        local name=$1 cfg=$2 want_rc=$3 want_verdict=$4 want_why=${5:-} rc verdict
        timeout 60 "$attestd" --once --config "$cfg" --log-level error >"$tmp/out.json" 2>"$tmp/err"
        rc=$?
        verdict=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["verdict"])' \
                  "$tmp/out.json" 2>/dev/null)
        if [ "$rc" = "$want_rc" ] && [ "$verdict" = "$want_verdict" ] &&
           { [ -z "$want_why" ] || grep -q -- "$want_why" "$tmp/out.json"; }; then
                pass=$((pass + 1))
                echo "ok   $name: $verdict (exit $rc)${want_why:+ $want_why}"
        else
                fail=$((fail + 1))
                echo "FAIL $name: exit $rc verdict '$verdict', expected exit $want_rc '$want_verdict' $want_why"
                cat "$tmp/out.json" "$tmp/err"
        fi
}

platform_config() {
        /usr/bin/python3 - "$1" "$2" "$srcdir/proto/policy-platform.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["maa"]["mode"] = "platform"
c["policy"]["file"] = sys.argv[3]
json.dump(c, open(sys.argv[2], "w"))
PY
}

# ---- SEV-SNP, guest mode -------------------------------------------------
d="$tmp/sim-snp"
timeout 90 "$sim" start --dir "$d" >/dev/null || { echo "cannot start the sim"; exit 1; }
cfg="$d/attestd.json"
once "snp guest" "$cfg" 0 trusted '"attestation_type": "sevsnpvm"'
requests=$(grep -c '"/attest/AzureGuest' "$d/maa-requests.jsonl")
[ "$requests" = 1 ] && { pass=$((pass + 1)); echo "ok   one AzureGuest request per attestation"; } ||
        { fail=$((fail + 1)); echo "FAIL $requests AzureGuest requests"; }

"$sim" tamper --dir "$d" secure-boot-off >/dev/null
once "secure boot off" "$cfg" 1 untrusted '"rule": "secure-boot"'
"$sim" tamper --dir "$d" restore >/dev/null
"$sim" tamper --dir "$d" debuggable >/dev/null
once "debuggable SNP guest" "$cfg" 1 untrusted '"rule": "snp-not-debuggable"'
"$sim" tamper --dir "$d" restore >/dev/null
for what in pcr ak-cert hcl-binding ak-mismatch; do
        "$sim" tamper --dir "$d" "$what" >/dev/null
        once "tamper $what" "$cfg" 1 untrusted '"code": "maa-refused"'
        "$sim" tamper --dir "$d" restore >/dev/null
done
once "restored" "$cfg" 0 trusted

# retryable faults: one is retried away, a persistent one ends unknown
for fault in http-500 http-503 http-429 truncated garbage; do
        "$sim" fault --dir "$d" "$fault" --count 1 --retry-after 1 >/dev/null 2>&1 ||
                "$sim" fault --dir "$d" "$fault" --count 1 >/dev/null
        once "fault $fault once (retried)" "$cfg" 0 trusted
        "$sim" fault --dir "$d" "$fault" --count 0 >/dev/null
        once "fault $fault persistent" "$cfg" 2 unknown '"code": "maa-unreachable"'
        "$sim" fault --dir "$d" clear >/dev/null
done
# Retry-After is honoured: 429 with Retry-After 2 delays the retry by >= 2 s
"$sim" fault --dir "$d" http-429 --retry-after 2 --count 1 >/dev/null
t0=$(date +%s%N)
once "429 Retry-After 2" "$cfg" 0 trusted
elapsed_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$elapsed_ms" -ge 2000 ] && { pass=$((pass + 1)); echo "ok   Retry-After honoured (${elapsed_ms} ms)"; } ||
        { fail=$((fail + 1)); echo "FAIL retried after ${elapsed_ms} ms, before Retry-After"; }
"$sim" fault --dir "$d" clear >/dev/null
# a hanging MAA is cut by the total timeout, every attempt
/usr/bin/python3 - "$cfg" "$d/short.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["maa"]["timeout_ms"] = 1000
c["maa"]["connect_timeout_ms"] = 500
json.dump(c, open(sys.argv[2], "w"))
PY
"$sim" fault --dir "$d" hang --count 0 >/dev/null
once "fault hang" "$d/short.json" 2 unknown '"code": "maa-unreachable"'
"$sim" fault --dir "$d" clear >/dev/null
"$sim" fault --dir "$d" slow --delay-ms 1500 >/dev/null
once "fault slow (within the timeout)" "$cfg" 0 trusted
"$sim" fault --dir "$d" clear >/dev/null
"$sim" fault --dir "$d" refuse-evidence >/dev/null
# refusal is a verdict: exactly one request, no retry
before=$(grep -c '"/attest/AzureGuest' "$d/maa-requests.jsonl")
once "fault refuse-evidence" "$cfg" 1 untrusted '"code": "maa-refused"'
after=$(grep -c '"/attest/AzureGuest' "$d/maa-requests.jsonl")
[ $((after - before)) = 1 ] && { pass=$((pass + 1)); echo "ok   a refusal is not retried"; } ||
        { fail=$((fail + 1)); echo "FAIL a refusal was sent $((after - before)) times"; }
"$sim" fault --dir "$d" clear >/dev/null
for fault in wrong-signature wrong-issuer unknown-kid alg-none; do
        "$sim" fault --dir "$d" "$fault" >/dev/null
        once "fault $fault" "$cfg" 2 unknown '"code": "token-invalid"'
        "$sim" fault --dir "$d" clear >/dev/null
done
for fault in expired not-yet-valid; do
        "$sim" fault --dir "$d" "$fault" >/dev/null
        once "fault $fault" "$cfg" 2 unknown '"code": "token-'
        "$sim" fault --dir "$d" clear >/dev/null
done
"$sim" fault --dir "$d" key-rotation >/dev/null
once "key rotation (fresh JWKS)" "$cfg" 0 trusted
"$sim" fault --dir "$d" clear >/dev/null
"$sim" fault --dir "$d" imds-down --count 0 >/dev/null
once "IMDS down" "$cfg" 2 unknown '"code": "maa-unreachable"'
"$sim" fault --dir "$d" clear >/dev/null
"$sim" fault --dir "$d" tpm-error --rc 0x101 >/dev/null
# the fault hits the first TPM command (TPM2_Startup): EX_UNAVAILABLE with the decoded error
once "TPM error at open" "$cfg" 69 ""
grep -q "TPM failure (0x00000101)" "$tmp/err" && { pass=$((pass + 1)); echo "ok   TPM error decoded"; } ||
        { fail=$((fail + 1)); echo "FAIL TPM error not decoded"; cat "$tmp/err"; }
"$sim" fault --dir "$d" clear >/dev/null
platform_config "$cfg" "$d/platform.json"
once "snp platform (SevSnpVm)" "$d/platform.json" 0 trusted '"attestation_type": "sevsnpvm"'
"$sim" stop --dir "$d" >/dev/null
once "TPM gone" "$cfg" 69 ""

# ---- TDX -----------------------------------------------------------------
d="$tmp/sim-tdx"
timeout 90 "$sim" start --dir "$d" --tee tdx >/dev/null || { echo "cannot start the TDX sim"; exit 1; }
once "tdx guest" "$d/attestd.json" 0 trusted '"attestation_type": "tdxvm"'
"$sim" tamper --dir "$d" debuggable >/dev/null
once "debuggable TD" "$d/attestd.json" 1 untrusted '"rule": "tdx-not-debuggable"'
"$sim" tamper --dir "$d" restore >/dev/null
platform_config "$d/attestd.json" "$d/platform.json"
once "tdx platform (TdxVm)" "$d/platform.json" 0 trusted '"attestation_type": "tdxvm"'
"$sim" stop --dir "$d" >/dev/null

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
