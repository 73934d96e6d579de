#!/bin/bash
# attestctl against the running daemon and the simulated CVM: every online
# subcommand and every documented exit status (0 trusted/success,
# 1 untrusted, 2 unknown or timed out, 3 daemon unreachable, 64+ usage),
# --json everywhere, ATTESTD_SOCKET; and, when client/attestctl-static has
# been built (make attestctl-static), the static binary gating from an empty
# chroot that holds only itself and the socket.
set -u
. "$(dirname "$0")/daemon-lib.sh"
A="$builddir/client/attestctl"
daemon_require
[ -x "$A" ] || { echo "SKIP: $A not built"; exit 77; }
daemon_setup ctl --token-lifetime 6

# expect STATUS NAME -- COMMAND...: exit status and output in $tmp/out, $tmp/err
expect() {
        local want=$1 name=$2 got
        shift 3
        "$@" >"$tmp/out" 2>"$tmp/err"
        got=$?
        if [ "$got" = "$want" ]; then
                ok "$name (exit $got)"
        else
                bad "$name: exit $got, expected $want"
                head -5 "$tmp/out" "$tmp/err"
        fi
}
# out_has PATTERN NAME: the last command's stdout matches
out_has() {
        if grep -q -e "$1" "$tmp/out"; then ok "$2"; else bad "$2: no '$1' in:"; head -5 "$tmp/out"; fi
}
json_ok() {
        if $py -c 'import json,sys; json.load(open(sys.argv[1]))' "$tmp/out" 2>/dev/null; then ok "$1: valid JSON"
        else bad "$1: not JSON"; head -5 "$tmp/out"; fi
}

d="$tmp/sim"
sock="$d/attestd.sock"
$py - "$d/attestd.json" "$tmp/attestd.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["refresh"] = {"fraction": 0.5, "backoff_initial_ms": 300, "backoff_max_ms": 600}
c["maa"]["timeout_ms"] = 1000
c["maa"]["connect_timeout_ms"] = 1000
json.dump(c, open(sys.argv[2], "w"))
PY

# ---- no daemon yet --------------------------------------------------------------
expect 3 "verdict without a daemon: unreachable" -- "$A" verdict --socket "$sock"
expect 3 "status without a daemon: unreachable" -- "$A" status --socket "$sock"
expect 2 "wait without a daemon: times out, unknown" -- "$A" wait --socket "$sock" --timeout 1s
expect 64 "usage error: unknown option" -- "$A" verdict --bogus
expect 64 "usage error: attest without --nonce" -- "$A" attest --socket "$sock"

# wait while the daemon comes up: it succeeds once the node is trusted
( sleep 1; exec "$attestd" --config "$tmp/attestd.json" --log-level warning 2>"$tmp/daemon.err" ) &
dpid=$!
pids+=("$dpid")
expect 0 "wait while the daemon starts: trusted" -- "$A" wait --socket "$sock" --timeout 30s

# ---- trusted ----------------------------------------------------------------------
expect 0 "verdict trusted" -- "$A" verdict --socket "$sock"
out_has "^trusted" "verdict prints the verdict first"
expect 0 "verdict --json" -- "$A" verdict --socket "$sock" --json
json_ok "verdict --json"
expect 0 "ATTESTD_SOCKET names the socket" -- env ATTESTD_SOCKET="$sock" "$A" verdict
expect 0 "status" -- "$A" status --socket "$sock"
out_has "verdict *trusted" "status shows the verdict"
expect 0 "status --json" -- "$A" status --socket "$sock" --json
json_ok "status --json"
expect 0 "token (root)" -- "$A" token --socket "$sock"
out_has "^eyJ" "token prints the JWT"
expect 64 "usage error: a nonce that is not base64" -- "$A" attest --socket "$sock" --nonce "not base64!"
expect 0 "attest --nonce" -- "$A" attest --socket "$sock" --nonce 'YXR0ZXN0Y3RsLXRlc3Q=' --json
json_ok "attest --json"
out_has '"nonce_key"' "attest reply names the nonce's payload key"
expect 0 "wait --max-age 60 when fresh" -- "$A" wait --socket "$sock" --timeout 5s --max-age 60
uid=$(awk -F: '$3 >= 1000 && $3 < 60000 {print $3; exit}' /etc/passwd)
[ -n "$uid" ] || uid=65534
as_uid() { setpriv --reuid="$uid" --regid="$uid" --clear-groups "$@"; }
# The build tree may not be reachable by that uid (a clone under a 0700
# mktemp directory): run a copy of the static binary from $tmp then.
A_uid="$A"
if ! as_uid "$A_uid" help >/dev/null 2>&1 && [ -x "$builddir/client/attestctl-static" ]; then
        cp "$builddir/client/attestctl-static" "$tmp/attestctl-uid"
        chmod 0755 "$tmp/attestctl-uid"
        A_uid="$tmp/attestctl-uid"
fi
if as_uid "$A_uid" help >/dev/null 2>&1; then
        expect 77 "token as an unlisted uid: EX_NOPERM" -- as_uid "$A_uid" token --socket "$sock"
else
        echo "skip: uid $uid cannot execute attestctl from $builddir (and no attestctl-static to copy)"
fi

# ---- untrusted ----------------------------------------------------------------------
"$sim" tamper --dir "$d" debuggable >/dev/null
curl -s -o /dev/null --unix-socket "$sock" -X POST http://localhost/v1/refresh
for _ in $(seq 50); do "$A" verdict --socket "$sock" >/dev/null 2>&1; [ $? = 1 ] && break; sleep 0.1; done
expect 1 "verdict untrusted" -- "$A" verdict --socket "$sock"
out_has "debuggable" "verdict lists the failed rule"
start=$(date +%s)
expect 1 "wait fails at once when untrusted" -- "$A" wait --socket "$sock" --timeout 20s
check "... without waiting for the timeout ($(($(date +%s) - start)) s)" '[ $(($(date +%s) - start)) -lt 5 ]'
"$sim" tamper --dir "$d" restore >/dev/null
curl -s -o /dev/null --unix-socket "$sock" -X POST http://localhost/v1/refresh
for _ in $(seq 50); do "$A" verdict --socket "$sock" >/dev/null 2>&1; [ $? = 0 ] && break; sleep 0.1; done
expect 0 "verdict after restore and a refresh: trusted" -- "$A" verdict --socket "$sock"

# ---- unknown: the token expires while MAA is down -------------------------------------
"$sim" fault --dir "$d" http-503 --count 0 >/dev/null
for _ in $(seq 150); do "$A" verdict --socket "$sock" >/dev/null 2>&1; [ $? = 2 ] && break; sleep 0.1; done
expect 2 "verdict unknown (token expired, MAA down)" -- "$A" verdict --socket "$sock"
expect 2 "wait times out while unknown" -- "$A" wait --socket "$sock" --timeout 1s
"$sim" fault --dir "$d" clear >/dev/null
expect 0 "wait until MAA is back: trusted" -- "$A" wait --socket "$sock" --timeout 30s

# ---- the static binary in an empty chroot ---------------------------------------------
static="$builddir/client/attestctl-static"
if [ -x "$static" ] && [ "$(id -u)" = 0 ] && ! ldd "$static" >/dev/null 2>&1; then
        kill -TERM "$dpid"; wait "$dpid"
        root="$tmp/chroot"
        mkdir -p "$root/run/attestd"
        chmod 0755 "$root" "$root/run" "$root/run/attestd"
        cp "$static" "$root/attestctl"
        $py - "$tmp/attestd.json" "$root/run/attestd/attestd.sock" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["api"]["socket"] = sys.argv[2]
json.dump(c, open(sys.argv[1], "w"))
PY
        "$attestd" --config "$tmp/attestd.json" --log-level warning 2>>"$tmp/daemon.err" &
        dpid=$!
        pids+=("$dpid")
        expect 0 "chroot: the static attestctl gates on trusted (only it and the socket inside)" -- \
                chroot "$root" /attestctl wait --socket /run/attestd/attestd.sock --timeout 30s
        expect 0 "chroot: verdict --json" -- chroot "$root" /attestctl verdict --json --socket /run/attestd/attestd.sock
        json_ok "chroot: verdict --json"
        "$sim" tamper --dir "$d" secure-boot-off >/dev/null
        curl -s -o /dev/null --unix-socket "$root/run/attestd/attestd.sock" -X POST http://localhost/v1/refresh
        for _ in $(seq 50); do chroot "$root" /attestctl verdict --socket /run/attestd/attestd.sock >/dev/null 2>&1
                [ $? = 1 ] && break; sleep 0.1; done
        expect 1 "chroot: the static attestctl refuses an untrusted node" -- \
                chroot "$root" /attestctl wait --socket /run/attestd/attestd.sock --timeout 10s
        "$sim" tamper --dir "$d" restore >/dev/null
        kill -TERM "$dpid"; wait "$dpid"
        expect 3 "chroot: daemon gone -> unreachable" -- chroot "$root" /attestctl verdict --socket /run/attestd/attestd.sock
        echo "     (the chroot held: $(cd "$root" && find . -mindepth 1 | tr '\n' ' '))"
else
        echo "skip the chroot checks: build client/attestctl-static (make attestctl-static) and run as root"
fi

daemon_finish
