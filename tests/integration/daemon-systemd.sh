#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# The daemon under a stand-in for systemd: sd_notify readiness (only once
# the API serves), status, reload, watchdog and stop notifications, and
# socket activation through systemd-socket-activate, against the simulated
# CVM. tests/integration/sd-notify-listen.py plays the notification socket
# and logs every datagram with its CLOCK_MONOTONIC arrival time.
# Exit 0 pass, 1 fail, 77 skip.
set -u
. "$(dirname "$0")/daemon-lib.sh"
listen="$srcdir/tests/integration/sd-notify-listen.py"
daemon_require systemd-socket-activate
daemon_setup dsd

http() {        # http SOCKET PATH: the HTTP status, 000 if none
        curl -s -o /dev/null -w '%{http_code}' --max-time 10 --unix-socket "$1" "http://localhost$2"
}
# listener NAME [API_SOCKET]: a notification socket $tmp/NAME.notify logging to $tmp/NAME.log
listener() {
        local i
        : >"$tmp/$1.log"
        $py "$listen" "$tmp/$1.notify" "$tmp/$1.log" ${2:-} &
        pids+=("$!")
        for i in $(seq 100); do
                [ -S "$tmp/$1.notify" ] && return 0
                sleep 0.05
        done
        echo "FAIL: the notification listener did not start"
        exit 1
}
# wait_line LOG REGEX [N [TIMEOUT_S]]: wait until LOG has N (default 1) lines matching REGEX
wait_line() {
        local i
        for i in $(seq $((${4:-30} * 20))); do
                [ "$(grep -c -E -- "$2" "$1")" -ge "${3:-1}" ] && return 0
                sleep 0.05
        done
        return 1
}
# gaps LOG REGEX: the largest gap in ms between consecutive matching lines
gaps() {
        grep -E -- "$2" "$1" | awk 'NR > 1 && $1 - prev > max { max = $1 - prev } { prev = $1 } END { print int(max / 1000) }'
}
# exited PID [TIMEOUT_S]: wait for PID (a child) to exit; its status in $rc, 124 on timeout
exited() {
        local i
        rc=124
        for i in $(seq $((${2:-15} * 20))); do
                if ! kill -0 "$1" 2>/dev/null; then
                        wait "$1"
                        rc=$?
                        return 0
                fi
                sleep 0.05
        done
        return 1
}

cfg="$tmp/sim/attestd.json"
simsock="$tmp/sim/attestd.sock"
san_env=()      # the sanitizer settings of `make check` reach the activated daemon too
for v in ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS; do
        [ -n "${!v:-}" ] && san_env+=(-E "$v")
done

# ---- 1. the daemon makes its own socket; READY=1 only once it serves ----------------------
listener plain "$simsock"
NOTIFY_SOCKET="$tmp/plain.notify" WATCHDOG_USEC=400000 WATCHDOG_PID=1 \
        "$attestd" --config "$cfg" >"$tmp/plain.out" 2>"$tmp/plain.err" &
dpid=$!
pids+=("$dpid")
if wait_line "$tmp/plain.log" 'READY=1'; then
        line=$(grep -m1 'READY=1' "$tmp/plain.log")
        check "own socket: READY=1 carries a STATUS= ($line)" 'grep -q "|STATUS=." <<<"$line"'
        check "... and the API already served when it arrived" 'grep -q " probe=200$" <<<"$line"'
else
        bad "own socket: no READY=1"
        cat "$tmp/plain.err"
fi
wait_line "$tmp/plain.log" 'STATUS=verdict trusted'
check "STATUS= follows the verdict (trusted)" 'grep -q "STATUS=verdict trusted" "$tmp/plain.log"'
sleep 1
check "WATCHDOG_PID of another process: no watchdog pings" '! grep -q "WATCHDOG=1" "$tmp/plain.log"'
kill -TERM $dpid
exited $dpid
check "SIGTERM: STOPPING=1" 'grep -q "^[0-9]* STOPPING=1" "$tmp/plain.log"'
check "... and exit 0 (got $rc)" '[ "$rc" = 0 ]'
check "... removing its own socket" '[ ! -e "$simsock" ]'

# ---- 2. a start that fails reports ERRNO= and never READY=1 ---------------------------------
mkdir -m 0775 "$tmp/gw"
$py - "$cfg" "$tmp/gw.json" "$tmp/gw/attestd.sock" "$tmp/gw.audit" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["api"]["socket"] = sys.argv[3]
c["audit"]["file"] = sys.argv[4]
json.dump(c, open(sys.argv[2], "w"))
PY
listener fail
NOTIFY_SOCKET="$tmp/fail.notify" timeout 60 "$attestd" --config "$tmp/gw.json" >"$tmp/fail.out" 2>"$tmp/fail.err"
rc=$?
wait_line "$tmp/fail.log" 'ERRNO=' 1 5
check "a failed start (group-writable socket dir) exits non-zero ($rc)" '[ "$rc" != 0 ] && [ "$rc" != 124 ]'
check "... with ERRNO=1 (EPERM) and no READY=1" \
        'grep -q "^[0-9]* ERRNO=1$" "$tmp/fail.log" && ! grep -q "READY=1" "$tmp/fail.log"'

# ---- 3. socket activation, watchdog, reload, stop -----------------------------------------------
mkdir -m 0755 "$tmp/act"
act="$tmp/act/attestd.sock"
listener act
# sh, systemd-socket-activate and attestd are one process (each execs the
# next), so the shell's pid is the WATCHDOG_PID systemd would set.
NOTIFY_SOCKET="$tmp/act.notify" WATCHDOG_USEC=400000 \
        sh -c 'WATCHDOG_PID=$$; export WATCHDOG_PID; exec "$@"' sh \
        systemd-socket-activate -l "$act" -E NOTIFY_SOCKET -E WATCHDOG_USEC -E WATCHDOG_PID "${san_env[@]}" \
        "$attestd" --config "$cfg" >"$tmp/act.out" 2>"$tmp/act.err" &
apid=$!
pids+=("$apid")
for i in $(seq 100); do [ -S "$act" ] && break; sleep 0.05; done
ino=$(stat -c %i "$act")
# systemd-socket-activate starts the daemon at the first connection, which
# waits in the backlog meanwhile, as with a .socket unit
st=$(http "$act" /healthz)
check "the first connection starts the daemon and is served (got $st)" '[ "$st" = 200 ]'
if wait_line "$tmp/act.log" 'READY=1'; then
        check "activated: READY=1 with a STATUS=" 'grep -m1 "READY=1" "$tmp/act.log" | grep -q "|STATUS=."'
else
        bad "activated: no READY=1"
        cat "$tmp/act.err"
fi
check "it serves the passed socket, and makes none of its own" \
        'grep -q "socket-activated fd 3" "$tmp/act.err" && [ ! -e "$simsock" ]'
for i in $(seq 200); do [ "$(http "$act" /readyz)" = 200 ] && break; sleep 0.1; done
st=$(curl -s --max-time 10 --unix-socket "$act" http://localhost/v1/verdict)
check "a request over the activated socket: the verdict is trusted" 'grep -q "\"verdict\":\"trusted\"" <<<"$st"'

# watchdog: WATCHDOG_USEC 400 ms, so pings every 200 ms
n0=$(grep -c 'WATCHDOG=1' "$tmp/act.log")
wait_line "$tmp/act.log" 'WATCHDOG=1' $((n0 + 5)) 5
check "WATCHDOG=1 pings arrive ($(grep -c 'WATCHDOG=1' "$tmp/act.log") so far)" \
        '[ "$(grep -c "WATCHDOG=1" "$tmp/act.log")" -ge $((n0 + 5)) ]'
gap=$(gaps "$tmp/act.log" 'WATCHDOG=1')
check "... at least every 400 ms (largest gap ${gap} ms)" '[ "$gap" -le 400 ] && [ "$gap" -ge 100 ]'

# reload: RELOADING=1 with MONOTONIC_USEC=now, then READY=1 again
ready0=$(grep -c 'READY=1' "$tmp/act.log")
kill -HUP $apid
wait_line "$tmp/act.log" 'READY=1' $((ready0 + 1)) 10
reload=$(grep 'RELOADING=1' "$tmp/act.log" | tail -1)
check "SIGHUP: RELOADING=1 with MONOTONIC_USEC ($reload)" 'grep -q "^[0-9]* RELOADING=1|MONOTONIC_USEC=[0-9]*$" <<<"$reload"'
skew=$(awk '{ split($2, f, "MONOTONIC_USEC="); d = $1 - f[2]; if (d < 0) d = -d; print int(d / 1000) }' <<<"$reload")
check "... MONOTONIC_USEC is the time it was sent (${skew:-?} ms off)" '[ -n "$skew" ] && [ "$skew" -lt 1000 ]'
check "... then READY=1 again" \
        'grep -E "RELOADING=1|READY=1" "$tmp/act.log" | tail -2 | head -1 | grep -q RELOADING=1 &&
         grep -E "RELOADING=1|READY=1" "$tmp/act.log" | tail -1 | grep -q READY=1'
check "... and the activated socket still serves" '[ "$(http "$act" /healthz)" = 200 ]'
sleep 0.5
gap=$(gaps "$tmp/act.log" 'WATCHDOG=1')
check "the watchdog kept pinging through the reload (largest gap ${gap} ms)" '[ "$gap" -le 400 ]'

# stop
kill -TERM $apid
exited $apid
check "SIGTERM: STOPPING=1" 'grep -q "^[0-9]* STOPPING=1" "$tmp/act.log"'
check "... then a clean exit 0 (got $rc)" '[ "$rc" = 0 ]'
n=$(grep -c 'WATCHDOG=1' "$tmp/act.log")
sleep 0.5
check "... no watchdog ping after it" '[ "$(grep -c "WATCHDOG=1" "$tmp/act.log")" = "$n" ] &&
         [ "$(sed -n "/STOPPING=1/,\$p" "$tmp/act.log" | grep -c WATCHDOG=1)" = 0 ]'
check "the activated socket is not unlinked" '[ -S "$act" ] && [ "$(stat -c %i "$act")" = "$ino" ]'
check_no_sanitizer_report
daemon_finish
