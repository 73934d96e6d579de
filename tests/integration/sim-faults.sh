#!/bin/bash
# Every `cvm-sim fault` kind produces the advertised misbehaviour (checked with
# curl / tpm2-tools), --count is honoured and `fault clear` restores.
set -euo pipefail
. "$(dirname "$0")/sim-lib/common.sh"
t_init

D=$T_TMP/sim
sim_start "$D"
EV=$T_TMP/ev
gather_evidence "$EV"
"$PY" "$GREQ" build --ev "$EV" >"$T_TMP/req.json"
URL="$ATTESTD_SIM_MAA_URL/attest/AzureGuest?api-version=2020-10-01"
fault() { timeout 30 "$SIM" fault --dir "$D" "$@" >/dev/null; }

# post OUT [curl options] : prints "<http_code> <curl exit>"
post() {
    local out=$1 rc=0 code
    shift
    code=$(curl -sS --cacert "$ATTESTD_SIM_CA_FILE" -o "$out" -D "$out.hdr" -w '%{http_code}' "$@" \
        -H 'Content-Type: application/json' --data-binary @"$T_TMP/req.json" "$URL" 2>/dev/null) || rc=$?
    echo "$code $rc"
}

check "baseline: 200" [ "$(post "$T_TMP/b0")" = "200 0" ]

say "# transport faults"
fault http-500
r=$(post "$T_TMP/f500")
check "http-500 → 500 with {\"Error\":{Code,Message}} (got $r)" bash -c "[ '$r' = '500 0' ] && grep -q '\"Error\":{\"Code\"' '$T_TMP/f500'"
check "fault consumed: next response 200" [ "$(post "$T_TMP/b1")" = "200 0" ]
fault http-503
check "http-503 → 503" [ "$(post "$T_TMP/f503")" = "503 0" ]
fault http-429
check "http-429 → 429" [ "$(post "$T_TMP/f429")" = "429 0" ]
check "http-429 has Retry-After: 2" grep -qi '^Retry-After: 2' "$T_TMP/f429.hdr"
fault http-429 --retry-after 7
post "$T_TMP/f429b" >/dev/null
check "http-429 --retry-after 7 → Retry-After: 7" grep -qi '^Retry-After: 7' "$T_TMP/f429b.hdr"
fault hang
t0=$(date +%s%N)
r=$(post "$T_TMP/fhang" --max-time 2)
t1=$(date +%s%N)
check "hang: no answer within 2 s (curl timeout, got '$r')" [ "${r#* }" = 28 ]
check "hang: curl waited ~2 s ($(( (t1 - t0) / 1000000 )) ms)" [ $(( (t1 - t0) / 1000000 )) -ge 1900 ]
fault slow --delay-ms 1500
t0=$(date +%s%N)
r=$(post "$T_TMP/fslow")
t1=$(date +%s%N)
ms=$(( (t1 - t0) / 1000000 ))
check "slow --delay-ms 1500: 200 after ${ms} ms" bash -c "[ '$r' = '200 0' ] && [ $ms -ge 1450 ]"
fault truncated
r=$(post "$T_TMP/ftrunc")
check "truncated: body shorter than Content-Length (curl exit 18, got '$r')" [ "${r#* }" = 18 ]
fault garbage
r=$(post "$T_TMP/fgarb")
check "garbage: 200 with a non-JSON body" bash -c "[ '$r' = '200 0' ] && ! '$PY' -c 'import json,sys; json.load(open(sys.argv[1]))' '$T_TMP/fgarb' 2>/dev/null"
fault refuse-evidence
r=$(post "$T_TMP/fref")
check "refuse-evidence: 400 with MAA error shape" bash -c "[ '$r' = '400 0' ] && '$PY' -c 'import json,sys; e=json.load(open(sys.argv[1]))[\"error\"]; assert e[\"code\"] and e[\"message\"]' '$T_TMP/fref'"

say "# --count and clear"
fault http-500 --count 2
check "--count 2: 1st → 500" [ "$(post "$T_TMP/c1")" = "500 0" ]
check "--count 2: 2nd → 500" [ "$(post "$T_TMP/c2")" = "500 0" ]
check "--count 2: 3rd → 200" [ "$(post "$T_TMP/c3")" = "200 0" ]
fault http-503 --count 0
check "--count 0: 1st → 503" [ "$(post "$T_TMP/z1")" = "503 0" ]
check "--count 0: 2nd → 503" [ "$(post "$T_TMP/z2")" = "503 0" ]
check "--count 0: 3rd → 503" [ "$(post "$T_TMP/z3")" = "503 0" ]
fault clear
check "fault clear → 200" [ "$(post "$T_TMP/z4")" = "200 0" ]

say "# token faults (the sealed token is opened with the TPM, then inspected)"
token_of() { # KIND [opts] → $T_TMP/KIND.jwt
    local k=$1
    shift
    case $k in none | rotated) ;; *) fault "$k" "$@" ;; esac
    post "$T_TMP/$k.resp" >/dev/null
    open_token "$EV" "$T_TMP/$k.resp" "$T_TMP/$k.jwt"
    "$PY" "$GREQ" claims --jwt "$T_TMP/$k.jwt" >"$T_TMP/$k.dec"
}
verifies() { fetch_jwks "$T_TMP/jwks.$1"; "$PY" "$GREQ" verify-jwt --jwt "$T_TMP/$1.jwt" --jwks "$T_TMP/jwks.$1" --iss "$ATTESTD_SIM_MAA_URL" >/dev/null 2>"$T_TMP/$1.verr"; }
field() { "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {}, d))' "$T_TMP/$1.dec" "$2"; }

token_of none
check "baseline token verifies" verifies none
token_of wrong-signature
check "wrong-signature: kid is published" bash -c "grep -q \"\$('$PY' -c 'import json,sys; print(json.load(open(sys.argv[1]))[\"header\"][\"kid\"])' '$T_TMP/wrong-signature.dec')\" '$T_TMP/jwks.none'"
check "wrong-signature: signature does not verify" bash -c "'$PY' '$GREQ' verify-jwt --jwt '$T_TMP/wrong-signature.jwt' --jwks '$T_TMP/jwks.none' --iss '$ATTESTD_SIM_MAA_URL' 2>&1 >/dev/null | grep -q 'signature does not verify'"
token_of wrong-issuer
check "wrong-issuer: iss is not the MAA URL" [ "$(field wrong-issuer 'claims["iss"]')" != "$ATTESTD_SIM_MAA_URL" ]
check "wrong-issuer: signature itself is valid" bash -c "'$PY' '$GREQ' verify-jwt --jwt '$T_TMP/wrong-issuer.jwt' --jwks '$T_TMP/jwks.none' --iss '$(field wrong-issuer 'claims["iss"]')' --jku '$ATTESTD_SIM_MAA_URL/certs' >/dev/null"
token_of unknown-kid
check "unknown-kid: kid not in /certs" bash -c "! grep -q \"$(field unknown-kid 'header["kid"]')\" '$T_TMP/jwks.none'"
token_of expired
check "expired: exp < now" [ "$(field expired 'claims["exp"]')" -lt "$(date +%s)" ]
check "expired: verification fails on time" bash -c "'$PY' '$GREQ' verify-jwt --jwt '$T_TMP/expired.jwt' --jwks '$T_TMP/jwks.none' --iss '$ATTESTD_SIM_MAA_URL' 2>&1 >/dev/null | grep -q 'not currently valid'"
token_of not-yet-valid
check "not-yet-valid: nbf > now" [ "$(field not-yet-valid 'claims["nbf"]')" -gt "$(date +%s)" ]
token_of alg-none
check "alg-none: header alg none, empty signature" [ "$(field alg-none 'header["alg"]') $(field alg-none 'sig_len')" = "none 0" ]
old_kid=$(field none 'header["kid"]')
fault key-rotation
token_of rotated
new_kid=$(field rotated 'header["kid"]')
check "key-rotation: new kid differs" [ "$new_kid" != "$old_kid" ]
check "key-rotation: new token verifies against /certs" verifies rotated
check "key-rotation: /certs lists new kid first and still the old one" \
    "$PY" -c 'import json,sys; k=[x["kid"] for x in json.load(open(sys.argv[1]))["keys"]]; assert k[0]==sys.argv[2] and sys.argv[3] in k' "$T_TMP/jwks.rotated" "$new_kid" "$old_kid"
fault key-rotation --drop-old
fetch_jwks "$T_TMP/jwks.dropped"
check "key-rotation --drop-old: one key, old kids gone" \
    "$PY" -c 'import json,sys; k=[x["kid"] for x in json.load(open(sys.argv[1]))["keys"]]; assert len(k)==1 and sys.argv[2] not in k' "$T_TMP/jwks.dropped" "$old_kid"

say "# IMDS faults"
THIM="$ATTESTD_SIM_IMDS_URL/metadata/THIM/amd/certification"
fault imds-down
rc=0; curl -sS -H 'Metadata: true' -o /dev/null "$THIM" 2>/dev/null || rc=$?
check "imds-down: connection closed without a response (curl exit $rc)" [ "$rc" = 52 ]
check "imds-down consumed: next THIM request 200" curl -sSf -H 'Metadata: true' -o /dev/null "$THIM"
fault imds-500
check "imds-500 → 500" [ "$(curl -sS -H 'Metadata: true' -o /dev/null -w '%{http_code}' "$THIM")" = 500 ]
check "IMDS THIM without 'Metadata: true' → 400" [ "$(curl -sS -o /dev/null -w '%{http_code}' "$THIM")" = 400 ]

say "# TPM faults (through the paravisor proxy)"
fault tpm-error
check "tpm-error: next TPM command fails" bash -c "! tpm2_getrandom 8 >/dev/null 2>&1"
check "tpm-error consumed: tpm2_getrandom works" bash -c "tpm2_getrandom 8 >/dev/null"
fault tpm-error --rc 0x902
check "tpm-error --rc 0x902: tpm2-tools reports TPM rc 0x902" bash -c "tpm2_getrandom 8 2>&1 >/dev/null | grep -qi '0x902'"
fault tpm-drop
check "tpm-drop: connection closed mid-command" bash -c "! tpm2_getrandom 8 >/dev/null 2>&1"
check "tpm-drop consumed: tpm2_getrandom works" bash -c "tpm2_getrandom 8 >/dev/null"

check "status still healthy" timeout 30 "$SIM" status --dir "$D"
t_done
