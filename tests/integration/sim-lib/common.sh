# Shared helpers for tests/integration/sim-*.sh (sourced, not a test).
# Evidence is gathered through an independent path: tpm2-tools and curl
# against the simulator's TCTI/IMDS, and sim-lib/guestreq.py (which shares no
# code with tests/sim).

SIMLIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SIMLIB_DIR/../../.." && pwd)
SIM="$REPO_ROOT/tests/sim/cvm-sim"
PY=/usr/bin/python3
GREQ="$SIMLIB_DIR/guestreq.py"
PCRSEL=sha256:0,1,2,3,4,5,6,7

T_PASS=0
T_FAIL=0
T_DIRS=()
T_NAME=${T_NAME:-$(basename "$0" .sh)}

say() { printf '%s\n' "$*"; }
ok() { T_PASS=$((T_PASS + 1)); say "ok $((T_PASS + T_FAIL)) - $*"; }
notok() { T_FAIL=$((T_FAIL + 1)); say "not ok $((T_PASS + T_FAIL)) - $*"; }

# check DESC CMD... : run CMD, record pass/fail (never aborts the script)
check() {
    local desc=$1
    shift
    if "$@"; then ok "$desc"; else notok "$desc"; fi
}

skip_unless_tools() {
    local t
    for t in swtpm tpm2_nvread tpm2_quote tpm2_certify tpm2_rsadecrypt openssl curl; do
        if ! command -v "$t" >/dev/null 2>&1; then
            say "SKIP: $t not installed"
            exit 77
        fi
    done
    if ! "$PY" -c 'import cryptography' 2>/dev/null; then
        say "SKIP: $PY lacks python3-cryptography"
        exit 77
    fi
}

t_cleanup() {
    local d
    for d in "${T_DIRS[@]}"; do
        timeout 30 "$SIM" stop --dir "$d" >/dev/null 2>&1 || true
    done
    if [ "${T_FAIL:-0}" -eq 0 ] && [ -z "${KEEP_SIM_TMP:-}" ]; then
        rm -rf "$T_TMP"
    else
        say "# kept $T_TMP for inspection"
    fi
}

t_init() {
    skip_unless_tools
    T_TMP=$(mktemp -d /tmp/sim-test.XXXXXX)
    trap t_cleanup EXIT
    trap 'exit 1' INT TERM
}

t_done() {
    say "# $T_NAME: $T_PASS passed, $T_FAIL failed"
    [ "$T_FAIL" -eq 0 ]
}

# sim_start DIR [start options...] ; sources DIR/env into the shell
sim_start() {
    local d=$1
    shift
    T_DIRS+=("$d")
    if ! timeout 90 "$SIM" start --dir "$d" "$@"; then
        say "Bail out! cvm-sim start failed"
        [ -f "$d/sim.log" ] && tail -20 "$d/sim.log"
        exit 1
    fi
    # shellcheck disable=SC1091
    . "$d/env"
}

# use the env of sim DIR in this shell
sim_use() {
    # shellcheck disable=SC1091
    . "$1/env"
}

# nv_read_all INDEX OUT : whole NV index in ≤1024-byte chunks (tpm2-tools)
nv_read_all() {
    local idx=$1 out=$2 size off n
    size=$(tpm2_nvreadpublic "$idx" | awk '/^  size:/ {print $2}')
    : >"$out"
    off=0
    while [ "$off" -lt "$size" ]; do
        n=$((size - off))
        [ "$n" -gt 1024 ] && n=1024
        tpm2_nvread "$idx" -C o -s "$n" --offset "$off" -o "$out.part" || return 1
        cat "$out.part" >>"$out"
        off=$((off + n))
    done
    rm -f "$out.part"
}

# gather_evidence EV : everything an AzureGuest client collects, via tpm2-tools
gather_evidence() {
    local ev=$1
    mkdir -p "$ev"
    (
        set -e
        cd "$ev"
        nv_read_all 0x01400001 hcl.bin
        nv_read_all 0x01C101D0 akcert.bin
        tpm2_readpublic -c 0x81000003 -o ak.pub >/dev/null
        tpm2_flushcontext -t
        tpm2_quote -c 0x81000003 -l "$PCRSEL" -g sha256 -m quote.msg -s quote.sig -f plain >/dev/null
        tpm2_pcrread "$PCRSEL" -o pcrs.bin >/dev/null
        cp "$ATTESTD_SIM_EVENTLOG" eventlog.bin
        make_enc_key enc 'fixedtpm|fixedparent|sensitivedataorigin|decrypt|noda' pcr
        if [ "$ATTESTD_SIM_TEE" = snp ]; then
            curl -sS -f -H 'Metadata: true' "$ATTESTD_SIM_IMDS_URL/metadata/THIM/amd/certification" -o thim.json
        else
            "$PY" "$GREQ" tdreport --hcl hcl.bin >tdreport.json
            curl -sS -f -H 'Content-Type: application/json' --data-binary @tdreport.json \
                "$ATTESTD_SIM_IMDS_URL/acc/tdquote" -o tdquote.json
        fi
    )
}

# make_enc_key NAME ATTRS pcr|nopolicy [hierarchy] : ephemeral key NAME.ctx,
# NAME.pub (TPM2B_PUBLIC), certified by the AK: NAME.attest/NAME.sig
make_enc_key() {
    local name=$1 attrs=$2 pol=$3 hier=${4:-o}
    local polarg=()
    if [ "$pol" = pcr ]; then
        tpm2_startauthsession -S "$name.trial"
        tpm2_policypcr -S "$name.trial" -l "$PCRSEL" -L "$name.policy" >/dev/null
        tpm2_flushcontext "$name.trial"
        polarg=(-L "$name.policy")
    fi
    tpm2_createprimary -C "$hier" -g sha256 -G rsa2048:null:null -a "$attrs" "${polarg[@]}" -c "$name.ctx" >/dev/null
    tpm2_flushcontext -t
    tpm2_readpublic -c "$name.ctx" -o "$name.pub" >/dev/null
    tpm2_flushcontext -t
    tpm2_certify -c "$name.ctx" -C 0x81000003 -g sha256 -o "$name.attest" -s "$name.sig" -f plain >/dev/null
    tpm2_flushcontext -t
    if [ "$name" = enc ]; then
        cp enc.attest cert.attest
        cp enc.sig cert.sig
    fi
}

# post_guest REQ RESP : POST an AzureGuest request; prints the HTTP status
post_guest() {
    curl -sS --cacert "$ATTESTD_SIM_CA_FILE" -o "$2" -w '%{http_code}' \
        -H 'Content-Type: application/json' --data-binary @"$1" \
        "$ATTESTD_SIM_MAA_URL/attest/AzureGuest?api-version=2020-10-01"
}

# attest EV OUTPREFIX [build options...] : build + POST; prints HTTP status
attest() {
    local ev=$1 out=$2
    shift 2
    "$PY" "$GREQ" build --ev "$ev" "$@" >"$out.req" || return 1
    post_guest "$out.req" "$out.resp"
}

# open_token EV RESP JWT_OUT : unseal the AES key in the TPM (PolicyPCR session
# + tpm2_rsadecrypt, RSAES) and decrypt the JWT
open_token() {
    local ev=$1 resp=$2 jwt=$3
    (
        set -e
        cd "$ev"
        "$PY" "$GREQ" inner-key --resp "$resp" --out inner.bin
        tpm2_startauthsession --policy-session -S pol.session
        tpm2_policypcr -S pol.session -l "$PCRSEL" >/dev/null
        tpm2_rsadecrypt -c enc.ctx -p session:pol.session -s rsaes -o aes.key inner.bin
        tpm2_flushcontext pol.session
        tpm2_flushcontext -t
    ) || return 1
    "$PY" "$GREQ" decrypt --resp "$resp" --aes-key "$ev/aes.key" >"$jwt"
}

# fetch_jwks OUT
fetch_jwks() {
    curl -sS -f --cacert "$ATTESTD_SIM_CA_FILE" "$ATTESTD_SIM_MAA_URL/certs" -o "$1"
}

# last_request_field FIELD : FIELD of the last attestation (POST /attest/*)
# record in maa-requests.jsonl
last_request_field() {
    grep '"POST", "path": "/attest/' "$ATTESTD_SIM_REQUESTS" | tail -n 1 |
        "$PY" -c 'import json,sys; print(json.load(sys.stdin).get(sys.argv[1]))' "$1"
}

# expect_refused DESC REASON EV OUT [build options...] : MAA must answer 400
# with MAA's error shape, and record REASON for the refusal
expect_refused() {
    local desc=$1 reason=$2 ev=$3 out=$4
    shift 4
    local code got
    code=$(attest "$ev" "$out" "$@")
    got=$(last_request_field reason)
    if [ "$code" = 400 ] && [ "$got" = "$reason" ] &&
        "$PY" -c 'import json,sys; e=json.load(open(sys.argv[1]))["error"]; assert e["code"] and e["message"]' "$out.resp"; then
        ok "refused: $desc (400, reason $reason: $(last_request_field error))"
    else
        notok "refused: $desc (got HTTP $code reason $got: $(cat "$out.resp" 2>/dev/null | head -c 300))"
    fi
}

# expect_accepted DESC EV OUT [build options...] ; leaves $OUT.jwt and $OUT.claims
expect_accepted() {
    local desc=$1 ev=$2 out=$3
    shift 3
    local code
    code=$(attest "$ev" "$out" "$@")
    if [ "$code" != 200 ]; then
        notok "accepted: $desc (HTTP $code: $(head -c 300 "$out.resp"))"
        return 1
    fi
    if ! open_token "$ev" "$out.resp" "$out.jwt"; then
        notok "accepted: $desc (could not unseal the token with the TPM)"
        return 1
    fi
    fetch_jwks "$out.jwks"
    if "$PY" "$GREQ" verify-jwt --jwt "$out.jwt" --jwks "$out.jwks" --iss "$ATTESTD_SIM_MAA_URL" \
        >"$out.claims"; then
        ok "accepted: $desc (token unsealed in the TPM, RS256 verified against /certs)"
    else
        notok "accepted: $desc (JWT verification failed)"
        return 1
    fi
}

# claim FILE PATH : print a claim (JSON) from a claims file
claim() {
    "$PY" -c 'import json,sys
c=json.load(open(sys.argv[1]))
for p in sys.argv[2].split("/"):
    if p: c=c[int(p)] if isinstance(c,list) else c[p]
print(json.dumps(c))' "$1" "$2"
}
