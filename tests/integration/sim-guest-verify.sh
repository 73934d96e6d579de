#!/bin/bash
# The MAA emulator accepts untampered AzureGuest evidence (gathered with
# tpm2-tools, built by an independent request builder) and refuses every
# tampered variant, as MAA would.
set -euo pipefail
. "$(dirname "$0")/sim-lib/common.sh"
t_init

D=$T_TMP/sim
EV=$T_TMP/ev
sim_start "$D"
say "# gathering evidence with tpm2-tools"
gather_evidence "$EV"

say "# untampered evidence"
if expect_accepted "untampered evidence (GA encoding: std base64 Proof/RunTimeData)" "$EV" "$T_TMP/ok" --nonce n0nce-1234; then
    C=$T_TMP/ok.claims
    check "x-ms-attestation-type is azurevm" [ "$(claim "$C" x-ms-attestation-type)" = '"azurevm"' ]
    check "isolation tee is sevsnpvm, azure-compliant-cvm" \
        [ "$(claim "$C" x-ms-isolation-tee/x-ms-attestation-type)$(claim "$C" x-ms-isolation-tee/x-ms-compliance-status)" = '"sevsnpvm""azure-compliant-cvm"' ]
    check "secureboot true" [ "$(claim "$C" secureboot)" = true ]
    check "client-payload nonce echoed verbatim" \
        [ "$(claim "$C" x-ms-runtime/client-payload/nonce)" = "\"$(printf n0nce-1234 | base64)\"" ]
    check "vmid is the runtime vmUniqueId" [ "$(claim "$C" x-ms-azurevm-vmid)" = "\"$ATTESTD_SIM_VMID\"" ]
    check "attested pcrs [0..7]" [ "$(claim "$C" x-ms-azurevm-attested-pcrs)" = '[0, 1, 2, 3, 4, 5, 6, 7]' ]
    check "x-ms-runtime keys[0] is TpmEphemeralEncryptionKey" \
        [ "$(claim "$C" x-ms-runtime/keys/0/kid)" = '"TpmEphemeralEncryptionKey"' ]
    check "is-debuggable false" [ "$(claim "$C" x-ms-isolation-tee/x-ms-sevsnpvm-is-debuggable)" = false ]
    check "exp - iat = 28800, nbf = iat" "$PY" -c 'import json,sys; c=json.load(open(sys.argv[1])); assert c["exp"]-c["iat"]==28800 and c["nbf"]==c["iat"]' "$C"
    check "osdistro/ostype decoded from the request" \
        [ "$(claim "$C" x-ms-azurevm-osdistro)$(claim "$C" x-ms-azurevm-ostype)" = '"Debian GNU/Linux""Linux"' ]
    check "x-ms-isolation-tee/x-ms-runtime user-data is all zeros (boot report)" \
        [ "$(claim "$C" x-ms-isolation-tee/x-ms-runtime/user-data)" = "\"$(printf '0%.0s' $(seq 128))\"" ]
    check "maa-requests.jsonl recorded the decoded AttestationInfo" \
        "$PY" -c 'import json,sys; r=[json.loads(l) for l in open(sys.argv[1]) if "AzureGuest" in l][-1]; assert r["status"]==200 and r["body"]["TpmInfo"]["PcrSet"]==list(range(8)) and r["method"]=="POST" and r["time"]' "$ATTESTD_SIM_REQUESTS"
fi
expect_accepted "untampered evidence (CAT/SDK encoding: base64url Proof/RunTimeData)" "$EV" "$T_TMP/ok2" --encoding url

say "# tampered evidence must be refused"
expect_refused "AK cert from an untrusted CA" ak-cert "$EV" "$T_TMP/r1" --mutate ak-cert-untrusted
expect_refused "AK cert (trusted CA) for a different key than AikPub" ak-cert "$EV" "$T_TMP/r2" \
    --mutate ak-cert-wrong-key --vtpm-ca "$D/pki/vtpm-ca.pem" --vtpm-ca-key "$D/pki/vtpm-ca.key"
expect_refused "quote signature corrupted" quote-signature "$EV" "$T_TMP/r3" --mutate quote-signature
expect_refused "PCR value differs from the quote's pcrDigest" pcr-digest "$EV" "$T_TMP/r4" --mutate pcr-value
expect_refused "PcrSet differs from the quoted selection" quote "$EV" "$T_TMP/r5" --mutate pcrset
expect_refused "event log with an extra event (does not replay)" eventlog-replay "$EV" "$T_TMP/r6" --mutate eventlog
expect_refused "empty event log" eventlog "$EV" "$T_TMP/r7" --mutate eventlog-empty
expect_refused "runtime data changed (HCL binding broken)" hcl-binding "$EV" "$T_TMP/r8" --mutate hcl-binding
expect_refused "SNP report modified (signature)" snp-signature "$EV" "$T_TMP/r9" --mutate snp-signature
expect_refused "VCEK chain from an untrusted ARK" vcek-chain "$EV" "$T_TMP/r10" --mutate vcek-untrusted
expect_refused "ephemeral-key certification signature corrupted" enckey-certify "$EV" "$T_TMP/r11" --mutate enckey-certify-sig
expect_refused "missing TpmInfo.PcrQuote" schema "$EV" "$T_TMP/r12" --mutate schema-missing
expect_refused "ill-typed TpmInfo.PcrSet" schema "$EV" "$T_TMP/r13" --mutate schema-type

say "# ephemeral keys the AK did not certify / with the wrong template"
(
    cd "$EV"
    make_enc_key other 'fixedtpm|fixedparent|sensitivedataorigin|decrypt|noda' pcr e
    make_enc_key nopol 'fixedtpm|fixedparent|sensitivedataorigin|decrypt|noda' nopolicy
    make_enc_key uwa 'fixedtpm|fixedparent|sensitivedataorigin|decrypt|noda|userwithauth' pcr
) >/dev/null
expect_refused "EncKeyPub is not the key EncKeyCertifyInfo certifies" enckey-certify "$EV" "$T_TMP/r14" --enc-pub other.pub
expect_refused "EncKeyPub without the PolicyPCR authPolicy" enckey "$EV" "$T_TMP/r15" \
    --enc-pub nopol.pub --certify nopol.attest --certify-sig nopol.sig
expect_refused "EncKeyPub with userWithAuth (attributes != 0x00020432)" enckey "$EV" "$T_TMP/r16" \
    --enc-pub uwa.pub --certify uwa.attest --certify-sig uwa.sig

say "# HCLAkPub != AikPub (the paravisor reports another AK)"
timeout 30 "$SIM" tamper --dir "$D" ak-mismatch >/dev/null
EV2=$T_TMP/ev2
gather_evidence "$EV2"
expect_refused "HCLAkPub is not the quoting AK" hcl-akpub "$EV2" "$T_TMP/r17"
timeout 30 "$SIM" tamper --dir "$D" restore >/dev/null

say "# HTTP-level strictness"
B=$T_TMP/ok.req
code=$(curl -sS --cacert "$ATTESTD_SIM_CA_FILE" -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
    --data-binary @"$B" "$ATTESTD_SIM_MAA_URL/attest/AzureGuest?api-version=2019-01-01")
check "wrong api-version → 400 ($code)" [ "$code" = 400 ]
code=$(curl -sS --cacert "$ATTESTD_SIM_CA_FILE" -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
    --data-binary @"$B" "$ATTESTD_SIM_MAA_URL/attest/AzureGuest")
check "missing api-version → 400 ($code)" [ "$code" = 400 ]
code=$(curl -sS --cacert "$ATTESTD_SIM_CA_FILE" -o /dev/null -w '%{http_code}' -H 'Content-Type: text/plain' \
    --data-binary @"$B" "$ATTESTD_SIM_MAA_URL/attest/AzureGuest?api-version=2020-10-01")
check "wrong Content-Type → 415 ($code)" [ "$code" = 415 ]
head -c 1100000 /dev/zero | tr '\0' a >"$T_TMP/big"
code=$(curl -sS --cacert "$ATTESTD_SIM_CA_FILE" -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
    --data-binary @"$T_TMP/big" "$ATTESTD_SIM_MAA_URL/attest/AzureGuest?api-version=2020-10-01")
check "oversize body → 413 ($code)" [ "$code" = 413 ]
code=$(curl -sS --cacert "$ATTESTD_SIM_CA_FILE" -o /dev/null -w '%{http_code}' "$ATTESTD_SIM_MAA_URL/attest/Nope")
check "unknown route → 404 ($code)" [ "$code" = 404 ]
code=$(curl -sS --cacert "$ATTESTD_SIM_CA_FILE" -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
    --data-binary '{"AttestationInfo":"!!!"}' "$ATTESTD_SIM_MAA_URL/attest/AzureGuest?api-version=2020-10-01")
check "AttestationInfo not base64url → 400 ($code)" [ "$code" = 400 ]
curl -sS --cacert "$ATTESTD_SIM_CA_FILE" "$ATTESTD_SIM_MAA_URL/.well-known/openid-configuration" -o "$T_TMP/oidc"
check "openid-configuration issuer/jwks_uri/RS256" "$PY" -c 'import json,sys; c=json.load(open(sys.argv[1])); assert c["issuer"]==sys.argv[2] and c["jwks_uri"]==sys.argv[2]+"/certs" and c["id_token_signing_alg_values_supported"]==["RS256"]' "$T_TMP/oidc" "$ATTESTD_SIM_MAA_URL"
check "JWKS x5c[0] is self-signed CN=<MAA URL>" bash -c "'$PY' -c 'import json,sys; print(json.load(open(sys.argv[1]))[\"keys\"][0][\"x5c\"][0])' '$T_TMP/ok.jwks' | base64 -d | openssl x509 -inform DER -noout -subject -issuer | grep -c 'CN = $ATTESTD_SIM_MAA_URL' | grep -qx 2"

t_done
