#!/bin/bash
# --tee tdx end to end: TD report in the HCL report, IMDS /acc/tdquote, guest
# attestation with a TD quote, TdxVm platform attestation, debuggable tamper,
# and --token-lifetime.
set -euo pipefail
. "$(dirname "$0")/sim-lib/common.sh"
t_init

D=$T_TMP/sim
sim_start "$D" --tee tdx --token-lifetime 600
EV=$T_TMP/ev
gather_evidence "$EV"

check "HCL report type 4 (TDX), TD report type 0x81, 160 zero bytes after it" \
    "$PY" -c 'import struct,sys; b=open(sys.argv[1],"rb").read(); assert struct.unpack_from("<I",b,1216+8)[0]==4 and b[32]==0x81 and not any(b[32+1024:1216])' "$EV/hcl.bin"
check "consistency (HCLAkPub, AK cert, reportdata binding, event log replay)" \
    bash -c "'$PY' '$GREQ' consistency --ev '$EV' >/dev/null"
check "IMDS quote: DCAP v4 header (version 4, key type 2, TEE 0x81) and body reportdata == TD reportdata" \
    "$PY" -c 'import base64,json,struct,sys
q=base64.urlsafe_b64decode(json.load(open(sys.argv[1]))["quote"]+"==")
b=open(sys.argv[2],"rb").read()
assert struct.unpack_from("<HHI",q,0)==(4,2,0x81)
assert q[48+520:48+584]==b[32+128:32+192]' "$EV/tdquote.json" "$EV/hcl.bin"
bad=$("$PY" -c 'import json,sys; r=json.load(open(sys.argv[1]))["report"]; print(json.dumps({"report": r[:200]+("A" if r[200]!="A" else "B")+r[201:]}))' "$EV/tdreport.json")
check "IMDS refuses a TD report with a bad MAC (400)" \
    [ "$(curl -sS -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -d "$bad" "$ATTESTD_SIM_IMDS_URL/acc/tdquote")" = 400 ]
check "IMDS THIM (AMD) is not available on TDX (404)" \
    [ "$(curl -sS -o /dev/null -w '%{http_code}' -H 'Metadata: true' "$ATTESTD_SIM_IMDS_URL/metadata/THIM/amd/certification")" = 404 ]

if expect_accepted "TDX guest attestation" "$EV" "$T_TMP/ok"; then
    C=$T_TMP/ok.claims
    check "tee tdxvm, azure-compliant-cvm" \
        [ "$(claim "$C" x-ms-isolation-tee/x-ms-attestation-type)$(claim "$C" x-ms-isolation-tee/x-ms-compliance-status)" = '"tdxvm""azure-compliant-cvm"' ]
    check "tdx_td_attributes_debug false" [ "$(claim "$C" x-ms-isolation-tee/tdx_td_attributes_debug)" = false ]
    check "tdx_report_data == TD reportdata" [ "$(claim "$C" x-ms-isolation-tee/tdx_report_data)" = "\"$(xxd -p -s $((32 + 128)) -l 64 -c 64 "$EV/hcl.bin")\"" ]
    check "tdx_mrtd/rtmr0-3/xfam/mrseam/seamsvn/tee_tcb_svn present" "$PY" -c 'import json,sys; t=json.load(open(sys.argv[1]))["x-ms-isolation-tee"]; [t[k] for k in ("tdx_mrtd","tdx_rtmr0","tdx_rtmr1","tdx_rtmr2","tdx_rtmr3","tdx_xfam","tdx_mrseam","tdx_seamsvn","tdx_tee_tcb_svn","tdx_td_attributes","x-ms-runtime")]' "$C"
    check "--token-lifetime 600: exp - iat = 600" "$PY" -c 'import json,sys; c=json.load(open(sys.argv[1])); assert c["exp"]-c["iat"]==600' "$C"
fi
expect_accepted "TDX guest attestation, base64url evidence" "$EV" "$T_TMP/ok2" --encoding url
expect_refused "TD quote body modified" td-quote "$EV" "$T_TMP/r1" --mutate td-quote
expect_refused "TDX runtime data changed" hcl-binding "$EV" "$T_TMP/r2" --mutate hcl-binding

say "# TdxVm platform endpoint"
"$PY" "$GREQ" platform --ev "$EV" --nonce nonce-tdx-1 >"$T_TMP/p.req"
code=$(curl -sS --cacert "$ATTESTD_SIM_CA_FILE" -o "$T_TMP/p.resp" -w '%{http_code}' -H 'Content-Type: application/json' \
    --data-binary @"$T_TMP/p.req" "$ATTESTD_SIM_MAA_URL/attest/TdxVm?api-version=2023-04-01-preview")
check "TdxVm → 200" [ "$code" = 200 ]
"$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "$T_TMP/p.resp" >"$T_TMP/p.jwt"
fetch_jwks "$T_TMP/p.jwks"
check "TdxVm token is a plain RS256 JWT verifying against /certs" bash -c "
    '$PY' '$GREQ' verify-jwt --jwt '$T_TMP/p.jwt' --jwks '$T_TMP/p.jwks' --iss '$ATTESTD_SIM_MAA_URL' \
      --expect x-ms-attestation-type='\"tdxvm\"' --expect nonce='\"nonce-tdx-1\"' \
      --expect eat_profile='\"https://aka.ms/maa-eat-profile-tdxvm\"' --expect dbgstat='\"disabled\"' >'$T_TMP/p.claims'"
check "TdxVm x-ms-runtime is the runtime claims (user-data present)" \
    "$PY" -c 'import json,sys; c=json.load(open(sys.argv[1])); assert len(c["x-ms-runtime"]["user-data"])==128 and c["tdx_mrtd"]' "$T_TMP/p.claims"
"$PY" "$GREQ" platform --ev "$EV" --mutate binding >"$T_TMP/p2.req"
code=$(curl -sS --cacert "$ATTESTD_SIM_CA_FILE" -o "$T_TMP/p2.resp" -w '%{http_code}' -H 'Content-Type: application/json' \
    --data-binary @"$T_TMP/p2.req" "$ATTESTD_SIM_MAA_URL/attest/TdxVm?api-version=2023-04-01-preview")
check "TdxVm with runtimeData not matching reportdata → 400" [ "$code" = 400 ]
code=$(curl -sS --cacert "$ATTESTD_SIM_CA_FILE" -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
    --data-binary @"$T_TMP/p.req" "$ATTESTD_SIM_MAA_URL/attest/TdxVm?api-version=2020-10-01")
check "TdxVm with a wrong api-version → 400" [ "$code" = 400 ]

say "# tamper debuggable on TDX"
timeout 30 "$SIM" tamper --dir "$D" debuggable >/dev/null
EV2=$T_TMP/ev2
gather_evidence "$EV2"
if expect_accepted "debuggable TD" "$EV2" "$T_TMP/dbg"; then
    check "tdx_td_attributes_debug true" [ "$(claim "$T_TMP/dbg.claims" x-ms-isolation-tee/tdx_td_attributes_debug)" = true ]
fi

say "# user data on TDX"
head -c 64 /dev/urandom >"$T_TMP/ud"
UD=$(xxd -p -c 64 "$T_TMP/ud" | tr a-f A-F)
tpm2_nvwrite 0x01400002 -C o -i "$T_TMP/ud"
got=""
# A chunked NV read can straddle the paravisor's rewrite (new runtime claims,
# old report_data): a reader polls until the report carries the data AND is
# bound, as the daemon's fresh-report predicate must.
for _ in $(seq 100); do
    nv_read_all 0x01400001 "$T_TMP/h"
    got=$("$PY" "$GREQ" runtime --hcl "$T_TMP/h" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["user-data"])')
    cp "$T_TMP/h" "$EV2/hcl.bin"
    [ "$got" = "$UD" ] && "$PY" "$GREQ" consistency --ev "$EV2" --user-data "$UD" >/dev/null 2>&1 && break
    sleep 0.05
done
check "TDX report regenerated with the user data" [ "$got" = "$UD" ]
check "regenerated TD report binds the new runtime claims" bash -c "'$PY' '$GREQ' consistency --ev '$EV2' --user-data '$UD' >/dev/null"

t_done
