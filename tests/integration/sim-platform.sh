#!/bin/bash
# SevSnpVm platform attestation (plain JWT, nonce echo, runtimeData binding),
# and start options: --token-lifetime, --hcl-version 1, --snp-version 3,
# --aes-key-bits 128, --vmid.
set -euo pipefail
. "$(dirname "$0")/sim-lib/common.sh"
t_init

D=$T_TMP/sim
VMID=01234567-89AB-CDEF-0123-456789ABCDEF
sim_start "$D" --token-lifetime 120 --hcl-version 1 --snp-version 3 --aes-key-bits 128 --vmid "$VMID"
EV=$T_TMP/ev
gather_evidence "$EV"
check "HCL header version 1, SNP report version 3" \
    "$PY" -c 'import struct,sys; b=open(sys.argv[1],"rb").read(); assert struct.unpack_from("<I",b,4)[0]==1 and struct.unpack_from("<I",b,32)[0]==3' "$EV/hcl.bin"
check "consistency" bash -c "'$PY' '$GREQ' consistency --ev '$EV' >/dev/null"
check "THIM tcbm is 16 hex chars, cacheControl 86400, chain has ASK+ARK" \
    "$PY" -c 'import json,sys,re; t=json.load(open(sys.argv[1])); assert re.fullmatch("[0-9A-F]{16}",t["tcbm"]) and t["cacheControl"]=="86400" and t["certificateChain"].count("BEGIN CERTIFICATE")==2' "$EV/thim.json"

if expect_accepted "guest attestation" "$EV" "$T_TMP/g"; then
    check "--token-lifetime 120: exp - iat = 120" "$PY" -c 'import json,sys; c=json.load(open(sys.argv[1])); assert c["exp"]-c["iat"]==120 and c["nbf"]==c["iat"]' "$T_TMP/g.claims"
    check "--vmid echoed as x-ms-azurevm-vmid" [ "$(claim "$T_TMP/g.claims" x-ms-azurevm-vmid)" = "\"$VMID\"" ]
    check "--aes-key-bits 128: 16-byte unsealed key, KeySizeInBits 128" bash -c "[ \$(stat -c %s '$EV/aes.key') = 16 ]"
fi

say "# SevSnpVm"
"$PY" "$GREQ" platform --ev "$EV" --nonce noncesevsnp987 >"$T_TMP/p.req"
code=$(curl -sS --cacert "$ATTESTD_SIM_CA_FILE" -o "$T_TMP/p.resp" -w '%{http_code}' -H 'Content-Type: application/json' \
    --data-binary @"$T_TMP/p.req" "$ATTESTD_SIM_MAA_URL/attest/SevSnpVm?api-version=2022-08-01")
check "SevSnpVm → 200" [ "$code" = 200 ]
"$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "$T_TMP/p.resp" >"$T_TMP/p.jwt"
fetch_jwks "$T_TMP/p.jwks"
check "SevSnpVm token verifies; top-level sevsnpvm claims, nonce echoed" bash -c "
    '$PY' '$GREQ' verify-jwt --jwt '$T_TMP/p.jwt' --jwks '$T_TMP/p.jwks' --iss '$ATTESTD_SIM_MAA_URL' \
      --expect x-ms-attestation-type='\"sevsnpvm\"' --expect nonce='\"noncesevsnp987\"' \
      --expect x-ms-sevsnpvm-is-debuggable=false --expect x-ms-sevsnpvm-vmpl=0 \
      --expect x-ms-runtime/vm-configuration/vmUniqueId='\"$VMID\"' >'$T_TMP/p.claims'"
check "x-ms-sevsnpvm-reportdata is SHA-256(runtime) + zeros" \
    "$PY" -c 'import json,sys,hashlib; c=json.load(open(sys.argv[1])); assert c["x-ms-sevsnpvm-reportdata"]==open(sys.argv[2],"rb").read()[32+0x50:32+0x90].hex()' "$T_TMP/p.claims" "$EV/hcl.bin"
"$PY" "$GREQ" platform --ev "$EV" --mutate binding >"$T_TMP/p2.req"
code=$(curl -sS --cacert "$ATTESTD_SIM_CA_FILE" -o "$T_TMP/p2.resp" -w '%{http_code}' -H 'Content-Type: application/json' \
    --data-binary @"$T_TMP/p2.req" "$ATTESTD_SIM_MAA_URL/attest/SevSnpVm?api-version=2022-08-01")
check "SevSnpVm with runtimeData not matching report_data → 400" [ "$code" = 400 ]
code=$(curl -sS --cacert "$ATTESTD_SIM_CA_FILE" -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
    --data-binary @"$T_TMP/p.req" "$ATTESTD_SIM_MAA_URL/attest/SevSnpVm?api-version=2020-10-01")
check "SevSnpVm with a wrong api-version → 400" [ "$code" = 400 ]
code=$(curl -sS --cacert "$ATTESTD_SIM_CA_FILE" -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
    --data-binary @"$T_TMP/p.req" "$ATTESTD_SIM_MAA_URL/attest/TdxVm?api-version=2023-04-01-preview")
check "SNP evidence posted to TdxVm → 400" [ "$code" = 400 ]

t_done
