#!/bin/sh
# attestctl runs the online commands itself, linked against libc and jansson
# only (its start-up cost is the client benchmark), and hands every offline
# tool to attestctl-tools unchanged: arguments, output and exit status.
set -u
A="${top_builddir:-.}/client/attestctl"
C="${top_srcdir:-.}/tests/fuzz/corpus"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
[ -x "$A" ] && [ -x "${A}-tools" ] || { echo "SKIP: attestctl not built"; exit 77; }

# (a sanitizer build adds its runtimes)
needed=$(readelf -d "$A" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' |
        grep -v -E '^lib(a|ub|t|l)san\.' | sort | tr '\n' ' ')
case $needed in
"libc.so.6 libjansson.so.4 ") ok "attestctl needs only libc and libjansson" ;;
*) bad "attestctl needs: $needed" ;;
esac

"$A" help >"$tmp/help" 2>&1
for c in "inspect hcl" "inspect evidence" "verify-token" "audit verify" "policy eval" "verdict"; do
        grep -q "^  $c " "$tmp/help" && ok "help lists $c" || bad "help does not list $c"
done

hcl=$(ls "$C"/hcl/* | head -n 1)
"$A" inspect hcl --json "$hcl" >"$tmp/a" 2>&1; ra=$?
"${A}-tools" inspect hcl --json "$hcl" >"$tmp/b" 2>&1; rb=$?
[ "$ra" = "$rb" ] && cmp -s "$tmp/a" "$tmp/b" &&
        ok "inspect hcl through attestctl = attestctl-tools (exit $ra)" ||
        bad "inspect hcl: exit $ra vs $rb or different output"
"$A" policy eval --no-such-option >/dev/null 2>&1; r=$?
[ "$r" = 64 ] && ok "a tool's usage error keeps its exit status (64)" || bad "policy eval usage: exit $r"
"$A" audit verify /nonexistent/audit.jsonl >/dev/null 2>&1; r=$?
"${A}-tools" audit verify /nonexistent/audit.jsonl >/dev/null 2>&1; r2=$?
[ "$r" = "$r2" ] && [ "$r" != 0 ] && ok "audit verify of a missing file: exit $r from both" ||
        bad "audit verify missing file: exit $r vs $r2"

# attestctl alone (an init container): offline tools fail clearly with 69
# (EX_UNAVAILABLE), unless attestctl-tools is installed where attestctl looks.
cp "$A" "$tmp/attestctl"
installed=$(strings "$A" | grep '/attestctl-tools$' | head -n 1)
if [ -n "$installed" ] && [ -e "$installed" ]; then
        echo "skip: $installed is installed on this machine"
else
        "$tmp/attestctl" inspect hcl "$hcl" >"$tmp/out" 2>"$tmp/err"; r=$?
        [ "$r" = 69 ] && grep -q "attestctl-tools" "$tmp/err" && [ ! -s "$tmp/out" ] &&
                ok "without attestctl-tools: exit 69, $(cat "$tmp/err")" ||
                bad "without attestctl-tools: exit $r, $(cat "$tmp/err")"
fi
"$tmp/attestctl" verdict --socket "$tmp/none.sock" >/dev/null 2>&1; r=$?
[ "$r" = 3 ] && ok "online commands work without attestctl-tools (no daemon: 3)" ||
        bad "verdict without daemon: exit $r"

[ "$fails" = 0 ] && echo "all passed" || echo "$fails failed"
[ "$fails" = 0 ]
