#!/bin/sh
# attestctl inspect token / verify-token: exit codes and output, on the fuzz
# seeds (a throwaway test key, see tests/fuzz/corpus/README.md) and, when
# $ATTESTD_FIXTURES is set, on the real MAA token and JWKS.
set -u
A="${top_builddir:-.}/client/attestctl"
C="${top_srcdir:-.}/tests/fuzz/corpus"
ISS=https://fuzz.attest.example
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

# expect STATUS DESCRIPTION -- COMMAND...
expect() {
        want=$1 what=$2
        shift 3
        "$@" >"$tmp/out" 2>"$tmp/err"
        got=$?
        if [ "$got" -ne "$want" ]; then
                echo "FAIL: $what: exit $got, expected $want"
                cat "$tmp/out" "$tmp/err"
                fails=$((fails + 1))
        else
                echo "ok: $what"
        fi
}

# expect_grep FILE PATTERN DESCRIPTION
expect_grep() {
        if ! grep -q -e "$2" "$1"; then
                echo "FAIL: $3: '$2' not in output"
                cat "$1"
                fails=$((fails + 1))
        fi
}

V="$A verify-token --jwks $C/jwks/fuzz-jwks.json --issuer $ISS --at 1700000100"
expect 0 "valid token" -- $V "$C/jose/valid.jwt"
expect_grep "$tmp/out" '^valid$' "valid prints valid"
expect 0 "valid token with nonce, --json" -- $V --nonce bm9uY2U= --json "$C/jose/valid.jwt"
expect_grep "$tmp/out" '"valid": true' "json valid"
expect_grep "$tmp/out" '"reason": null' "json reason null"
expect_grep "$tmp/out" '"iss": "https://fuzz.attest.example"' "json claims"
expect 1 "wrong nonce" -- $V --nonce bm9uY2U "$C/jose/valid.jwt"
expect_grep "$tmp/err" 'expected nonce' "nonce reason"
expect 1 "expired" -- $V --json "$C/jose/expired.jwt"
expect_grep "$tmp/out" '"valid": false' "json invalid"
expect_grep "$tmp/out" '"claims": null' "json claims null"
expect_grep "$tmp/err" 'expired' "expired reason"
expect 0 "--at inside the skew" -- $A verify-token --jwks "$C/jwks/fuzz-jwks.json" --issuer $ISS \
        --at 1700028859 "$C/jose/valid.jwt"
expect 1 "--skew 0 at exp" -- $A verify-token --jwks "$C/jwks/fuzz-jwks.json" --issuer $ISS \
        --at 1700028800 --skew 0 "$C/jose/valid.jwt"
expect 1 "issuer with trailing slash" -- $V "$C/jose/wrong-iss.jwt"
expect 1 "alg HS256" -- $V "$C/jose/hs256.jwt"
expect 1 "crit" -- $V "$C/jose/crit.jwt"
expect 1 "unknown kid" -- $V "$C/jose/unknown-kid.jwt"
expect_grep "$tmp/err" "kid 'other' is not in the JWKS" "unknown kid reason"
printf '%s\n' "$(cat "$C/jose/valid.jwt")" >"$tmp/nl.jwt"
expect 0 "one trailing newline" -- $V "$tmp/nl.jwt"
printf '%s\n\n' "$(cat "$C/jose/valid.jwt")" >"$tmp/nl2.jwt"
expect 1 "two trailing newlines" -- $V "$tmp/nl2.jwt"
: >"$tmp/empty.jwt"
expect 1 "empty file" -- $V "$tmp/empty.jwt"
expect 65 "JWKS without usable keys" -- $A verify-token --jwks "$C/jwks/skipped-only.json" \
        --issuer $ISS "$C/jose/valid.jwt"
expect 66 "missing token file" -- $V "$tmp/nonexistent"
expect 66 "missing JWKS file" -- $A verify-token --jwks "$tmp/nonexistent" --issuer $ISS "$C/jose/valid.jwt"
expect 64 "no --issuer" -- $A verify-token --jwks "$C/jwks/fuzz-jwks.json" "$C/jose/valid.jwt"
expect 64 "no token" -- $V
expect 64 "bad --at" -- $V --at 12x "$C/jose/valid.jwt"
expect 64 "bad --skew" -- $V --skew 100000 "$C/jose/valid.jwt"
expect 64 "unknown option" -- $V --frobnicate "$C/jose/valid.jwt"

expect 0 "inspect token" -- $A inspect token "$C/jose/valid.jwt"
expect_grep "$tmp/out" 'NOT verified' "inspect says unverified"
expect_grep "$tmp/out" '2023-11-14T22:13:20Z' "inspect RFC 3339 time"
expect 0 "inspect token --json" -- $A inspect token --json "$C/jose/hs256.jwt"
expect_grep "$tmp/out" '"alg": "HS256"' "inspect json header"
expect_grep "$tmp/out" '"claims": {' "inspect json claims"
expect 65 "inspect garbage" -- $A inspect token "$C/jwks/fuzz-jwks.json"
expect 66 "inspect missing" -- $A inspect token "$tmp/nonexistent"
expect 64 "inspect no file" -- $A inspect token

if [ -n "${ATTESTD_FIXTURES:-}" ] && [ -d "$ATTESTD_FIXTURES/maa" ]; then
        M="$ATTESTD_FIXTURES/maa"
        expect 0 "inspect real AzureGuest token" -- $A inspect token "$M/azureguest-aks-2022.jwt"
        expect_grep "$tmp/out" 'TEE type: *sevsnpvm' "real token TEE type"
        expect_grep "$tmp/out" 'nonce=MTIzNA==' "real token client payload"
        expect 1 "real token, real JWKS: unknown kid" -- $A verify-token \
                --jwks "$M/jwks-sharedwus-recording.json" \
                --issuer https://sharedwus.wus.attest.azure.net --at 1662584687 \
                "$M/azureguest-aks-2022.jwt"
        expect_grep "$tmp/err" 'is not in the JWKS' "real token reason"
fi

[ "$fails" -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
