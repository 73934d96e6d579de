#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Security and bounds of the local API, against the real daemon and the
# simulated CVM: authorization per scope (uids, primary and supplementary
# gids), per-uid rate limits, the connection limit, header/body/protocol
# bounds, hostile paths and bodies, slow and vanishing clients, pipelining,
# and the socket file's mode and replacement rules. The daemon must survive
# it all with its verdict intact. Requests as other users go through
# setpriv, so the test needs root. ATTESTD_SLOW_TESTS=1 also waits out the
# 30 s idle timeout. Exit 0 pass, 1 fail, 77 skip.
set -u
. "$(dirname "$0")/daemon-lib.sh"
client="$srcdir/tests/integration/api-client.py"
daemon_require setpriv
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (requests as other users via setpriv)"; exit 77; }
daemon_setup dapi

one_of() {      # one_of VALUE CHOICE...
        local v=$1
        shift
        for c in "$@"; do [ "$v" = "$c" ] && return 0; done
        return 1
}

# users: root, a listed uid, a listed gid as primary and as supplementary
# group, an unlisted uid (with an unlisted supplementary group)
U_LISTED=41001 U_OTHER=41002 U_GIDP=41003 U_GIDS=41004 U_RATE=41005
G_LISTED=42001 G_OTHER=42002
declare -A who=(
        [root]=""
        [listed-uid]="--reuid=$U_LISTED --regid=$U_LISTED --clear-groups"
        [listed-gid]="--reuid=$U_GIDP --regid=$G_LISTED --clear-groups"
        [listed-supp-gid]="--reuid=$U_GIDS --regid=$U_GIDS --groups=$G_OTHER,$G_LISTED"
        [unlisted]="--reuid=$U_OTHER --regid=$U_OTHER --groups=$G_OTHER"
)
as() {          # as ROLE COMMAND...
        local role=$1
        shift
        if [ -z "${who[$role]}" ]; then "$@"; else setpriv ${who[$role]} -- "$@"; fi
}

status_of() {   # HTTP status of GET /readyz on a socket, 000 if none
        curl -s -o /dev/null -w '%{http_code}' --max-time 5 --unix-socket "$1" http://localhost/readyz
}
# start_daemon CFG SOCKET NAME: background daemon (pid in $dpid), ready when /readyz is 200
start_daemon() {
        local i
        "$attestd" --config "$1" >"$tmp/$3.out" 2>"$tmp/$3.err" &
        dpid=$!
        pids+=("$dpid")
        for i in $(seq 600); do
                kill -0 "$dpid" 2>/dev/null || return 1
                [ "$(status_of "$2")" = 200 ] && return 0
                sleep 0.1
        done
        return 1
}
stop_daemon() { # stop_daemon PID: SIGTERM, wait, return its exit status
        kill -TERM "$1" 2>/dev/null
        wait "$1"
}

# call ROLE METHOD PATH [curl args]: sets $code, $hdrs and $body of the reply
call() {
        local role=$1 method=$2 path=$3 out
        shift 3
        out=$(as "$role" curl -s -i --max-time 10 --unix-socket "$sock" -X "$method" "$@" \
              "http://localhost$path" | tr -d '\r')
        code=$(printf '%s\n' "$out" | sed -n '1s/^HTTP\/1.1 \([0-9]*\).*/\1/p')
        hdrs=$(printf '%s\n' "$out" | sed '/^$/q')
        body=$(printf '%s\n' "$out" | sed '1,/^$/d')
        [ -n "$code" ] || code=000
}
# expect NAME WANT [ERROR_CODE]: judge the last call
expect() {
        local name=$1 want=$2 ecode=${3:-}
        if [ "$code" = "$want" ] && { [ -z "$ecode" ] || printf '%s' "$body" | grep -q "\"code\":\"$ecode\""; }; then
                ok "$name: $code${ecode:+ $ecode}"
        else
                bad "$name: $code, expected $want${ecode:+ $ecode}: $(printf '%s' "$body" | head -c 300)"
        fi
}
# raw NAME WANT_STATUS REQUEST [GREP [--shut]]: send REQUEST (printf %b escapes) as root
# on one connection; the reply's status must be WANT_STATUS, GREP (if any) be
# found in the reply, and the daemon must close the connection: requests the
# server rejects itself carry no "Connection: close" (a reject always closes),
# the others do (the API keeps connections alive after a 4xx).
raw() {
        local name=$1 want=$2 req=$3 pattern=${4:-} rc status
        printf '%b' "$req" | $py "$client" raw --timeout 5 ${5:-} "$sock" >"$tmp/raw.out"
        rc=$?
        status=$(sed -n '1s/^HTTP\/1.1 \([0-9]*\).*/\1/p' "$tmp/raw.out")
        if [ "$status" = "$want" ] && [ "$rc" = 0 ] &&
           { [ -z "$pattern" ] || grep -q -- "$pattern" "$tmp/raw.out"; }; then
                ok "$name: ${status}${pattern:+ ($pattern)}"
        else
                bad "$name: '${status}' (client rc $rc), expected $want${pattern:+ with $pattern}"
                head -c 400 "$tmp/raw.out"
                echo
        fi
}

# ---- the daemon under test ----------------------------------------------------------------
sock="$tmp/sim/attestd.sock"
main_api='"token_uids": ['$U_LISTED', '$U_RATE'], "token_gids": ['$G_LISTED'], "max_connections": 4,
          "max_header_bytes": 2048, "max_body_bytes": 256, "request_timeout_ms": 1000,
          "rate_per_second": 0.01, "rate_burst": 3'
mkconfig "$tmp/sim/attestd.json" "$tmp/main.json" "{\"api\": {$main_api}}"
t0=$(date +%s%N)
start_daemon "$tmp/main.json" "$sock" main || { echo "FAIL: the daemon did not become ready"; cat "$tmp/main.err"; exit 1; }
main=$dpid
echo "#    daemon ready in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
call root GET /v1/verdict
expect "verdict trusted at start" 200
check "socket mode is the default 0666" '[ "$(stat -c %a "$sock")" = 666 ]'

# ---- authorization per scope --------------------------------------------------------
nonce='{"nonce":"ZGFlbW9uLWFwaSB0ZXN0"}'
for role in root listed-uid listed-gid listed-supp-gid unlisted; do
        for route in /v1/verdict /v1/status /healthz /readyz /metrics; do
                call "$role" GET "$route"
                expect "$role GET $route" 200
        done
        if [ "$role" = unlisted ]; then tok=403 tokerr=forbidden; else tok=200 tokerr=; fi
        call "$role" GET /v1/token
        expect "$role GET /v1/token" $tok $tokerr
        [ $tok = 200 ] && check "$role got a JWT" 'grep -q "\"token\":\"eyJ" <<<"$body"'
        call "$role" POST /v1/attest -H 'Content-Type: application/json' --data "$nonce"
        expect "$role POST /v1/attest" $tok $tokerr
        [ $tok = 200 ] && check "$role fresh attestation is trusted" 'grep -q "\"verdict\":\"trusted\"" <<<"$body"'
        if [ "$role" = root ]; then ref=202 referr=; else ref=403 referr=forbidden; fi
        call "$role" POST /v1/refresh
        expect "$role POST /v1/refresh" $ref $referr
done
check "the token handout is audited with the caller's uid" \
        'grep -q "\"event\":\"token_issued\",\"caller\":{\"uid\":$U_GIDS," "$tmp/sim/audit.jsonl"'
check "403s are not audited as handouts" '! grep -q "\"uid\":$U_OTHER," "$tmp/sim/audit.jsonl"'

# ---- per-uid rate limit: burst 3, 0.01/s ---------------------------------------------
who[rate-uid]="--reuid=$U_RATE --regid=$U_RATE --clear-groups"
for i in 1 2 3; do
        call rate-uid GET /v1/token
        expect "rate uid: token request $i of the burst of 3" 200
done
call rate-uid GET /v1/token
expect "rate uid: token request 4 is limited" 429 rate_limited
retry=$(printf '%s\n' "$hdrs" | sed -n 's/^Retry-After: \([0-9]*\)$/\1/p')
check "429 carries Retry-After (${retry:-none} s)" '[ "${retry:-0}" -ge 1 ]'
call rate-uid POST /v1/attest -H 'Content-Type: application/json' --data "$nonce"
expect "rate uid: the limit covers POST /v1/attest" 429 rate_limited
call rate-uid GET /v1/verdict
expect "rate uid: public routes are not limited" 200
call listed-gid GET /v1/token
expect "another uid (2 of its 3 used) is still served" 200

# ---- a reload raises the limits; the rate limiter starts afresh --------------------
mkconfig "$tmp/main.json" "$tmp/main.json" '{"api": {"rate_per_second": 1000, "rate_burst": 1000}}'
reloaded=
for i in $(seq 100); do
        kill -HUP "$main"
        sleep 0.1
        call root GET /v1/status
        grep -q '"last_reload_ok":true' <<<"$body" && ! grep -q '"last_reload_at":null' <<<"$body" &&
                { reloaded=1; break; }
done
check "SIGHUP reloads the configuration" '[ -n "$reloaded" ]'
call rate-uid GET /v1/token
expect "rate uid is served under the reloaded limits" 200

# ---- protocol bounds: max_header_bytes 2048, max_body_bytes 256 ----------------------
H='Host: localhost\r\n'                   # rejected by the server: it closes
HC='Host: localhost\r\nConnection: close\r\n' # answered by the API
big=$(head -c 3000 /dev/zero | tr '\0' a)
raw "oversized header" 431 "GET /healthz HTTP/1.1\r\n${H}X-Big: $big\r\n\r\n" header_too_large
raw "oversized header, head never ends" 431 "GET /healthz HTTP/1.1\r\n${H}X-Big: $big" header_too_large
many=$(for i in $(seq 70); do printf 'X-%d: 1\\r\\n' "$i"; done)
raw "too many header fields" 431 "GET /healthz HTTP/1.1\r\n${H}${many}\r\n" header_too_large
raw "oversized body (Content-Length 1000)" 413 \
        "POST /v1/attest HTTP/1.1\r\n${H}Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n" body_too_large
raw "Transfer-Encoding: chunked" 501 \
        "POST /v1/attest HTTP/1.1\r\n${H}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{}\r\n0\r\n\r\n" \
        not_implemented
raw "malformed request line" 400 "GARBAGE\r\n\r\n" bad_request
raw "request line with two spaces" 400 "GET  /healthz HTTP/1.1\r\n${H}\r\n" bad_request
raw "request target not a path" 400 "GET http://localhost/healthz HTTP/1.1\r\n${H}\r\n" bad_request
raw "header without a colon" 400 "GET /healthz HTTP/1.1\r\n${H}Broken header\r\n\r\n" bad_request
raw "conflicting Content-Length" 400 \
        "POST /v1/attest HTTP/1.1\r\n${H}Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}" bad_request
raw "HTTP/2.0" 505 "GET /healthz HTTP/2.0\r\n${H}\r\n"
raw "HTTP/1.0 is spoken" 200 "GET /healthz HTTP/1.0\r\n\r\n" '"status":"ok"'
for path in '/v1/../v1/verdict' '//v1/verdict' '/v1/verdict%2f' '/v1/verdict/' '/V1/VERDICT' \
            '/v1/./verdict' '/v1/verdict/..' '/%761/verdict' '/v1//verdict'; do
        printf 'GET %s HTTP/1.1\r\n%b\r\n' "$path" "$HC" | $py "$client" raw "$sock" >"$tmp/raw.out"
        st=$(sed -n '1s/^HTTP\/1.1 \([0-9]*\).*/\1/p' "$tmp/raw.out")
        check "path trick $path: ${st:-none}, never 200" 'one_of "$st" 400 404'
done
raw "unknown route" 404 "GET /v1/nope HTTP/1.1\r\n${HC}\r\n" not_found
raw "DELETE /v1/verdict" 405 "DELETE /v1/verdict HTTP/1.1\r\n${HC}\r\n" 'Allow: GET, HEAD'
raw "GET /v1/attest" 405 "GET /v1/attest HTTP/1.1\r\n${HC}\r\n" 'Allow: POST'
raw "PUT /v1/refresh" 405 "PUT /v1/refresh HTTP/1.1\r\n${HC}Content-Length: 0\r\n\r\n" 'Allow: POST'
raw "unknown method" 405 "BREW /healthz HTTP/1.1\r\n${HC}\r\n" method_not_allowed
raw "max_age=3600 is accepted" 200 "GET /v1/verdict?max_age=3600 HTTP/1.1\r\n${HC}\r\n" '"verdict":"trusted"'
for q in '?max_age=abc' '?max_age=-1' '?foo=1' '?max_age=1&max_age=2' '?max_age=' '?max_age=1&' \
         '?max_age=99999999999' '#frag'; do
        raw "query junk /v1/verdict$q" 400 "GET /v1/verdict$q HTTP/1.1\r\n${HC}\r\n" bad_request
done
raw "query on a route without one" 400 "GET /healthz?x=1 HTTP/1.1\r\n${HC}\r\n" bad_request
raw "GET with a body" 400 "GET /v1/verdict HTTP/1.1\r\n${HC}Content-Length: 2\r\n\r\n{}" bad_request
nonce65=$(head -c 65 /dev/zero | base64 -w0)
for b in '' 'not json' '[]' '{}' '{"nonce":5}' '{"nonce":"***"}' '{"nonce":""}' '{"nonce":"YWJj"}x' \
         '{"nonce":"YQ"}' '{"nonce":"YQ==","x":1}' '{"nonce":"YQ==","nonce":"Yg=="}' "{\"nonce\":\"$nonce65\"}"; do
        raw "bad nonce body '${b:0:24}'" 400 \
                "POST /v1/attest HTTP/1.1\r\n${HC}Content-Type: application/json\r\nContent-Length: ${#b}\r\n\r\n$b" \
                bad_request
done
for ct in 'text/plain' 'application/jsonx' 'application/x-www-form-urlencoded'; do
        raw "Content-Type $ct" 415 \
                "POST /v1/attest HTTP/1.1\r\n${HC}Content-Type: $ct\r\nContent-Length: 15\r\n\r\n{\"nonce\":\"YQ==\"}" \
                unsupported_media_type
done
raw "no Content-Type" 415 "POST /v1/attest HTTP/1.1\r\n${HC}Content-Length: 15\r\n\r\n{\"nonce\":\"YQ==\"}" \
        unsupported_media_type
st=$(curl -sv --expect100-timeout 5 --max-time 10 -H 'Expect: 100-continue' -H 'Content-Type: application/json' \
     --data "$nonce" --unix-socket "$sock" -o /dev/null -w '%{http_code}' http://localhost/v1/attest 2>"$tmp/curl.err")
check "Expect: 100-continue gets 100 Continue, then the reply ($st)" \
        'grep -q "^< HTTP/1.1 100 Continue" "$tmp/curl.err" && [ "$st" = 200 ]'
raw "Content-Type with charset is JSON" 200 \
        "POST /v1/attest HTTP/1.1\r\n${HC}Content-Type: application/json; charset=utf-8\r\nContent-Length: 16\r\n\r\n{\"nonce\":\"YWI=\"}" \
        '"verdict":"trusted"'

# facts CMD...: run an api-client scenario, keep its key=value output in $facts
facts() {
        facts=$($py "$client" "$@" 2>&1)
        echo "#    $*: $(tr '\n' ' ' <<<"$facts")"
}
fact() {        # fact KEY: the value of KEY in $facts
        tr ' ' '\n' <<<"$facts" | sed -n "s/^$1=//p" | head -1
}

# ---- connection limit: max_connections 4 -----------------------------------------------
facts connlimit "$sock" 4
check "4 connections held and counted by the daemon" \
        '[ "$(fact held)" = 4 ] && [ "$(fact status)" = 200 ] && [ "$(fact connections)" = 4 ]'
check "the 5th connection gets 503 too_many_connections" \
        '[ "$(fact extra_status)" = 503 ] && grep -q too_many_connections <<<"$facts"'
check "... immediately ($(fact extra_ms) ms) with Retry-After, and is closed" \
        '[ "$(fact extra_ms)" -lt 1000 ] && [ "$(fact extra_retry_after)" = 1 ] && [ "$(fact extra_closed)" = 1 ]'
check "held connections are still served meanwhile" '[ "$(fact held_again)" = 200 ]'
check "after one closes, a new connection is served" '[ "$(fact after_close)" = 200 ]'
call root GET /metrics
check "refused connections are counted in /metrics" \
        'grep -q "^attestd_api_connections_refused_total [1-9]" <<<"$body"'

# ---- slow clients: request_timeout_ms 1000 ------------------------------------------------
facts slowloris "$sock" 300
check "a client trickling a byte every 300 ms gets 408" '[ "$(fact slow_status)" = 408 ]'
check "... and is closed within 1.5 s of its first byte ($(fact slow_ms) ms)" \
        '[ "$(fact slow_closed)" = 1 ] && [ "$(fact slow_ms)" -ge 900 ] && [ "$(fact slow_ms)" -le 1500 ]'
check "other clients are served meanwhile ($(fact others_ok)/$(fact others), worst $(fact others_worst_ms) ms)" \
        '[ "$(fact others)" -ge 5 ] && [ "$(fact others_ok)" = "$(fact others)" ] && [ "$(fact others_worst_ms)" -lt 500 ]'
if [ "${ATTESTD_SLOW_TESTS:-0}" = 1 ]; then
        facts idle "$sock" 40
        check "an idle connection is closed after 30 s ($(fact idle_ms) ms), without a reply" \
                '[ "$(fact idle_closed)" = 1 ] && [ "$(fact idle_ms)" -ge 29000 ] && [ "$(fact idle_ms)" -le 33000 ] &&
                 [ "$(fact idle_bytes)" = 0 ]'
else
        echo "#    skipped: the 30 s idle timeout (ATTESTD_SLOW_TESTS=1 waits for it)"
fi

# ---- pipelining, HEAD, half-close ----------------------------------------------------------
facts pipeline "$sock" "GET /healthz" "GET /v1/status"
check "two pipelined GETs: two replies in order" \
        'grep -q "^1 200 .*body={\"status\":\"ok\"}" <<<"$facts" && grep -q "^2 200 .*body={\"version\"" <<<"$facts" &&
         grep -q "^trailing=0 closed=1" <<<"$facts"'
facts pipeline "$sock" "HEAD /v1/verdict" "GET /healthz"
check "HEAD has a Content-Length and no body" \
        'grep -q "^1 200 cl=[1-9][0-9]* body=-" <<<"$facts" && grep -q "^2 200 .*body={\"status\":\"ok\"}" <<<"$facts" &&
         grep -q "^trailing=0 closed=1" <<<"$facts"'
facts pipeline "$sock" "HEAD /metrics" "HEAD /v1/token" "GET /readyz"
check "HEAD on metrics; HEAD /v1/token is 405 (every hand-out is audited)" \
        'grep -q "^1 200 cl=[1-9][0-9]* body=-" <<<"$facts" && grep -q "^2 405 cl=[1-9][0-9]* body=-" <<<"$facts" &&
         grep -q "^3 200 .*body={\"status\":\"ready\"}" <<<"$facts" && grep -q "^trailing=0 closed=1" <<<"$facts"'
raw "half-close after a complete request still gets its reply" 200 "GET /healthz HTTP/1.1\r\n${H}\r\n" \
        '"status":"ok"' --shut

# ---- clients that vanish ---------------------------------------------------------------------
facts flood "$sock" 20000
check "a client pipelining $(fact flood_requests) requests without reading has few answered ahead \
($(fact flood_served_ahead))" '[ "$(fact flood_served_ahead)" -lt 1000 ]'
call root GET /healthz
expect "alive after a client reset mid-response" 200
facts orphan "$sock"
call root POST /v1/attest -H 'Content-Type: application/json' --data "$nonce"
expect "alive after a client left before its fresh attestation" 200

# ---- the socket file and its directory ----------------------------------------------------
# other daemons on the same simulated CVM, each with its own audit log
# side NAME SOCKET [API-JSON]: write $tmp/NAME.json for a daemon serving SOCKET
side() {
        mkconfig "$tmp/sim/attestd.json" "$tmp/$1.json" \
                "{\"api\": {\"socket\": \"$2\"${3:+, $3}}, \"audit\": {\"file\": \"$tmp/$1.audit\"}}"
}
# refused NAME: run the daemon of $tmp/NAME.json in the foreground; it must fail
refused() {
        timeout 60 "$attestd" --config "$tmp/$1.json" >"$tmp/$1.out" 2>"$tmp/$1.err"
}

mkdir -m 0755 "$tmp/s660"
side mode660 "$tmp/s660/attestd.sock" '"socket_mode": "0660"'
if start_daemon "$tmp/mode660.json" "$tmp/s660/attestd.sock" mode660; then
        check "socket_mode 0660 gives the socket mode 0660, owned by root" \
                '[ "$(stat -c %a:%u:%g "$tmp/s660/attestd.sock")" = 660:0:0 ]'
        c=$(as unlisted curl -s -o /dev/null -w '%{http_code}' --unix-socket "$tmp/s660/attestd.sock" \
            http://localhost/healthz)
        check "... and others cannot connect to it (got ${c})" '[ "$c" = 000 ]'
        stop_daemon "$dpid"
        rc=$?
        check "that daemon stops cleanly (exit $rc) and removes its socket" \
                '[ "$rc" = 0 ] && [ ! -e "$tmp/s660/attestd.sock" ]'
else
        bad "the socket_mode 0660 daemon did not start"
        cat "$tmp/mode660.err"
fi

for mode in 0775 0757 1777; do
        mkdir -m $mode "$tmp/dir$mode"
        side "dir$mode" "$tmp/dir$mode/attestd.sock"
        refused "dir$mode"
        rc=$?
        check "socket directory mode $mode: the daemon refuses to start (exit $rc)" \
                '[ "$rc" != 0 ] && [ "$rc" != 124 ] && [ ! -e "$tmp/dir$mode/attestd.sock" ]'
        check "... saying why on stderr" "grep -q 'writable by group or others' '$tmp/dir$mode.err'"
done

mkdir -m 0755 "$tmp/stale"
$py -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$tmp/stale/attestd.sock"
side stale "$tmp/stale/attestd.sock"
if [ -S "$tmp/stale/attestd.sock" ] && start_daemon "$tmp/stale.json" "$tmp/stale/attestd.sock" stale; then
        ok "a stale socket (nobody listening) is replaced and served"
        check "... and the replacement is logged" "grep -q 'Replaced the stale socket' '$tmp/stale.err'"
        stop_daemon "$dpid"
else
        bad "a stale socket blocked the daemon"
        cat "$tmp/stale.err"
fi

ino=$(stat -c %i "$sock")
side live "$sock"
refused live
rc=$?
check "a live socket (the main daemon's) is not replaced: the second daemon exits $rc" \
        '[ "$rc" != 0 ] && [ "$rc" != 124 ] && grep -q "another process is serving" "$tmp/live.err"'
check "... the main daemon's socket is untouched and serves" \
        '[ "$(stat -c %i "$sock")" = "$ino" ] && [ "$(status_of "$sock")" = 200 ]'

mkdir -m 0755 "$tmp/file"
echo "not a socket" >"$tmp/file/attestd.sock"
side file "$tmp/file/attestd.sock"
refused file
rc=$?
check "a regular file at the socket path is not replaced: the daemon exits $rc" \
        '[ "$rc" != 0 ] && [ "$rc" != 124 ] && grep -q "is not a socket" "$tmp/file.err" &&
         [ "$(cat "$tmp/file/attestd.sock")" = "not a socket" ]'

# ---- the daemon survived all of it ------------------------------------------------------
call root GET /healthz
expect "healthz at the end" 200
call unlisted GET /v1/verdict
expect "verdict at the end" 200
check "... still trusted" 'grep -q "\"verdict\":\"trusted\"" <<<"$body"'
check "the daemon never crashed" 'kill -0 "$main" && ! grep -q -E "AddressSanitizer|runtime error|LeakSanitizer" "$tmp/main.err"'
stop_daemon "$main"
rc=$?
check "SIGTERM: exit $rc, the socket removed" '[ "$rc" = 0 ] && [ ! -e "$sock" ]'
# ---- SIGTERM while a fresh attestation hangs past the drain timeout -------------------------
# A clean exit, nothing leaked (the run in flight is freed) and no
# use-after-free of the API by the orphaned caller.
mkdir -m 0755 "$tmp/drain"
side drain "$tmp/drain/attestd.sock"
if start_daemon "$tmp/drain.json" "$tmp/drain/attestd.sock" drain; then
        "$sim" fault --dir "$tmp/sim" hang --count 0 >/dev/null
        curl -s -o "$tmp/drain.reply" -w '%{http_code}' --max-time 30 --unix-socket "$tmp/drain/attestd.sock" \
                -H 'Content-Type: application/json' --data "$nonce" http://localhost/v1/attest >"$tmp/drain.code" &
        cpid=$!
        pids+=("$cpid")
        for i in $(seq 100); do
                curl -s --max-time 5 --unix-socket "$tmp/drain/attestd.sock" http://localhost/v1/status |
                        grep -q '"state":"attesting"' && break
                sleep 0.1
        done
        t0=$(date +%s%N)
        stop_daemon "$dpid"
        rc=$?
        ms=$(( ($(date +%s%N) - t0) / 1000000 ))
        wait "$cpid"
        check "SIGTERM with a fresh attestation hanging: exit $rc after $ms ms (5 s drain)" \
                '[ "$rc" = 0 ] && [ "$ms" -ge 4500 ] && [ "$ms" -lt 15000 ]'
        check "... its caller is answered or cut off, not left hanging ($(cat "$tmp/drain.code"))" \
                'one_of "$(cat "$tmp/drain.code")" 503 000'
        "$sim" fault --dir "$tmp/sim" clear >/dev/null
else
        bad "the drain daemon did not start"
        cat "$tmp/drain.err"
fi

check_no_sanitizer_report
daemon_finish
