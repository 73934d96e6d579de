#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Fault injection against the real daemon and the simulated CVM. One daemon
# (one pid from start to end) goes through every `cvm-sim fault` kind, every
# tamper kind, swtpm killed mid-command and restarted, TPM errors, IMDS down,
# a full disk under the audit log, SIGHUP storms, clients leaving mid-reply
# and clock jumps; each case injects, drives a run, observes, clears and
# checks that the node is fresh and trusted again. Throughout, a poller
# records every /v1/verdict and /v1/token reply, and an oracle
# (faults-oracle.py judge) counts the false `trusted` among them. Crashes:
# the pid must not change, the exit status must be 0 and no sanitizer may
# report; leaks: LeakSanitizer at exit (ASan builds) and the open fds before
# and after the sequence (RSS is reported). A TDX daemon takes the IMDS
# faults at run time (SNP caches the VCEK chain after the first fetch).
# Needs root for the audit-disk-full case (a tmpfs in a private mount
# namespace); clock jumps shift only the daemon's clocks (LD_PRELOAD shim
# tests/integration/clockshift.c), never the machine's.
# Exit 0 pass, 1 fail, 77 skip.
set -u
. "$(dirname "$0")/daemon-lib.sh"
oracle="$srcdir/tests/integration/faults-oracle.py"
attestctl="$builddir/client/attestctl"
daemon_require
[ -x "$attestctl" ] || { echo "SKIP: $attestctl not built"; exit 77; }
t_start=$(date +%s)
daemon_setup faults --token-lifetime 30
d=$tmp/sim
sock=$d/attestd.sock
events=$tmp/events.jsonl
: >"$events"
tried=0
not_tried=()
fresh='v["verdict"] == "trusted" and not v["stale"]'
# a run failed: no new token (the held one stale, or expired), the failure reported
failing='s["consecutive_failures"] >= 1 and s["last_error"] is not None and (v["verdict"] == "unknown" or v["stale"])'

o() { $py "$oracle" "$@"; }
# run [S]: a run that started after this call has completed
run() { o run "$sock" --timeout "${1:-30}"; }
waitv() { o wait "$sock" "$1" --timeout "${2:-20}"; }
# simfault DIR KIND [options], fault KIND [options]: arm a fault (kinds used are noted)
simfault() { echo "$2" >>"$tmp/kinds-used"; timeout 30 "$sim" fault --dir "$@" >/dev/null; }
fault() { simfault "$d" "$@"; }
tamper() { echo "$1" >>"$tmp/kinds-used"; timeout 30 "$sim" tamper --dir "$d" "$@" >/dev/null; }
# the kinds the sim offers: `cvm-sim fault|tamper --help`
kinds_offered() { "$sim" "$1" --help | grep -o '{[^}]*}' | head -1 | tr -d '{}' | tr ',' '\n'; }
maa_url_of() { sed -n "s/^export ATTESTD_SIM_MAA_URL=//p" "$1/env" | tr -d "'"; }
# applied KIND: how often the sim has applied fault KIND so far
applied() {
        timeout 30 "$sim" status --dir "$d" --json |
                $py -c 'import json,sys; print(json.load(sys.stdin)["faults"]["applied"].get(sys.argv[1], 0))' "$1"
}
event() {       # event NAME [JSON members]: for the oracle
        printf '{"t":%s,"ev":"%s"%s}\n' "$(date +%s.%N)" "$1" "${2:+,$2}" >>"$events"
}
maa_index() { wc -l <"$d/maa-requests.jsonl"; }
begin() {
        local now
        now=$(date +%s%N)
        [ -n "${case_t0:-}" ] && echo "#    ($(( (now - case_t0) / 1000000 )) ms)"
        case_t0=$now
        tried=$((tried + 1))
        echo "# case $tried: $*"
}
skip_case() { not_tried+=("$1: $2"); echo "# not tried: $1: $2"; }
# recovered NAME: trusted and fresh again
recovered() {
        run >/dev/null
        if waitv "$fresh" 20 >"$tmp/wait.out"; then ok "$1: recovered, trusted and fresh"; else bad "$1: no recovery"; cat "$tmp/wait.out"; fi
}
# observe NAME EXPR [S]: the python EXPR over s (status) and v (verdict) holds
observe() {
        if waitv "$2" "${3:-10}" >"$tmp/wait.out"; then ok "$1"; else bad "$1"; cat "$tmp/wait.out"; fi
}
last_code() { o get "$sock" /v1/status '(b["last_error"] or {}).get("code")'; }
fds() { ls "/proc/$dpid/fd" | wc -l; }
rss() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$dpid/status"; }
# settle: the poller idle and the daemon's fd count steady (3 equal samples)
settle() {
        local a b c i
        touch "$tmp/poll/pause"
        for i in $(seq 200); do [ -e "$tmp/poll/paused" ] && break; sleep 0.01; done
        a=-1 b=-2 c=$(fds)
        for i in $(seq 100); do
                [ "$a" = "$b" ] && [ "$b" = "$c" ] && break
                sleep 0.05
                a=$b b=$c c=$(fds)
        done
}
resume() { rm -f "$tmp/poll/pause"; }

# ---- the daemon: config, audit on a tmpfs of its own, clock shim -----------------
cp "$d/policy.json" "$tmp/policy.json"
auditdir=$tmp/audit
mkdir -m 0755 "$auditdir"
ns=()
if [ "$(id -u)" = 0 ] && unshare -m --propagation private -- mount -t tmpfs -o size=1m tmpfs "$auditdir" 2>/dev/null; then
        # the mount exists only in the daemon's mount namespace: it goes with it
        ns=(unshare -m --propagation private -- sh -c 'mount -t tmpfs -o size=1m,mode=0755 tmpfs "$0" && exec "$@"'
            "$auditdir")
        auditview() { echo "/proc/$dpid/root$auditdir"; }
else
        skip_case "audit disk full" "needs root and mount(2) in a private mount namespace"
        auditview() { echo "$auditdir"; }
fi
preload=
shim=$builddir/tests/integration/.libs/clockshift.so
if [ -f "$shim" ]; then
        # ASan (gcc's shared runtime) wants to come first in the initial library list
        asan_rt=$(ldd "$attestd" | awk '/libasan/ { print $3 }')
        preload="${asan_rt:+$asan_rt }$shim"
else
        skip_case "clock jumps" "the shim $shim is not built"
fi
clockfile=$tmp/clock
echo "0 0" >"$clockfile"
# setclock REAL BOOT: shift the daemon's clocks (seconds), atomically
clock_now=0
setclock() {
        event clock-begin "\"old\":$clock_now,\"new\":$1"
        echo "$1 $2" >"$clockfile.new" && mv "$clockfile.new" "$clockfile"
        event clock-end "\"new\":$1"
        clock_now=$1
}
mkconfig "$d/attestd.json" "$tmp/attestd.json" "{
        \"refresh\": {\"backoff_initial_ms\": 200, \"backoff_max_ms\": 2000},
        \"maa\": {\"timeout_ms\": 1000, \"connect_timeout_ms\": 500},
        \"api\": {\"rate_per_second\": 1000, \"rate_burst\": 1000},
        \"policy\": {\"file\": \"$tmp/policy.json\"},
        \"audit\": {\"file\": \"$auditdir/audit.jsonl\"}}"
maa_url=$(maa_url_of "$d")
curl -s --cacert "$d/ca.pem" -o "$tmp/jwks-0.json" "$maa_url/certs"

# ---- case: IMDS down while the daemon starts (the VCEK chain is fetched once) -----
begin "imds-down at start"
fault imds-down --count 0
"${ns[@]}" env CLOCKSHIFT_FILE="$clockfile" ${preload:+LD_PRELOAD="$preload"} \
        "$attestd" --config "$tmp/attestd.json" >"$tmp/daemon.out" 2>"$tmp/daemon.err" &
dpid=$!
pids+=("$dpid")
for i in $(seq 300); do [ -S "$sock" ] && break; kill -0 "$dpid" 2>/dev/null || break; sleep 0.05; done
[ -S "$sock" ] || { bad "the daemon did not start"; cat "$tmp/daemon.err"; daemon_finish; exit 1; }
mkdir "$tmp/poll"
o poll "$sock" "$tmp/replies.jsonl" "$tmp/poll" &
poller=$!
pids+=("$poller")
observe "imds-down at start: unknown, maa-unreachable" \
        'v["verdict"] == "unknown" and s["last_error"]["code"] == "maa-unreachable"'
fault clear
recovered "imds-down at start"
run >/dev/null
settle
fds_before=$(fds)
rss_before=$(rss)
started_at=$(o get "$sock" /v1/status 'b["started_at"]')
resume
echo "#    daemon pid $dpid: $fds_before fds, RSS $rss_before KiB"

# ---- MAA transport faults ------------------------------------------------------------
maa_case() {    # maa_case KIND EXPR [fault options]: fail while armed, recover once cleared
        local kind=$1 expr=$2 n
        shift 2
        begin "fault $kind $*"
        n=$(applied "$kind")
        fault "$kind" "$@"
        run 40 >/dev/null
        observe "$kind: the run fails and the failure is reported ($(last_code))" "$failing and ($expr)"
        check "$kind: the sim applied it" '[ "$(applied "$kind")" -gt "$n" ]'
        fault clear
        recovered "$kind"
}
for kind in http-500 http-503 http-429 hang truncated garbage; do
        maa_case $kind 's["last_error"]["code"] == "maa-unreachable"' --count 0 --retry-after 1
done
maa_case slow 's["last_error"]["code"] == "maa-unreachable"' --count 0 --delay-ms 3000
begin "fault slow (under the timeout)"
n=$(applied slow)
fault slow --count 1 --delay-ms 300
run >/dev/null
observe "slow under the timeout: fresh and trusted" "$fresh"
check "slow: the sim applied it" '[ "$(applied slow)" -gt "$n" ]'
begin "fault refuse-evidence"
fault refuse-evidence --count 1
run >/dev/null
observe "refuse-evidence: untrusted, maa-refused" \
        'v["verdict"] == "untrusted" and [r["code"] for r in v["reasons"]] == ["maa-refused"]'
recovered refuse-evidence

# ---- MAA signing key rotated (the new kid makes the daemon fetch the keys again, at
# most every JWKS_REFETCH_MIN_INTERVAL_S = 10 s: the two rotations are far apart) -----
rotation_case() {
        local jti n
        begin "fault key-rotation $*"
        jti=$(o get "$sock" /v1/verdict 'b["token"]["jti"]')
        fault key-rotation "$@"
        n=$(ls "$tmp"/jwks-*.json | wc -l)
        curl -s --cacert "$d/ca.pem" -o "$tmp/jwks-$n.json" "$maa_url/certs"
        run >/dev/null
        observe "key-rotation $*: fresh and trusted with a new token" "$fresh and v['token']['jti'] != $jti" 25
}
rotation_case

# ---- MAA token faults: a token that does not verify never replaces the held one ------
for kind in wrong-signature wrong-issuer unknown-kid expired not-yet-valid alg-none; do
        maa_case $kind 's["last_error"]["code"] in ("token-invalid", "token-expired")' --count 0
done

# ---- TPM: errors, dropped connections, swtpm killed mid-command and restarted --------
tpm_case() {    # tpm_case NAME EXPR KIND [options]: EXPR "" when the run may succeed
        local name=$1 expr=$2 kind=$3 n
        shift 3
        begin "$name"
        n=$(applied "$kind")
        fault "$kind" "$@"
        run 40 >/dev/null
        if [ -n "$expr" ]; then
                observe "$name: the run fails, the failure is reported ($(last_code))" "$failing and ($expr)"
        else
                echo "#    $name: the run ended: $(last_code)"
        fi
        check "$name: the sim applied it" '[ "$(applied "$kind")" -gt "$n" ]'
        fault clear
        recovered "$name"
}
tpm_err='s["last_error"]["code"] == "tpm-error"'
# A single failed command or lost connection may be retried within the run: it
# may fail or not, and must recover either way.
tpm_case "tpm-error TPM_RC_FAILURE, next command" "" tpm-error --count 1
tpm_case "tpm-error TPM_RC_FAILURE at every command" "$tpm_err" tpm-error --count 0
tpm_case "tpm-error TPM_RC_RETRY at every command" "$tpm_err" tpm-error --count 0 --rc 0x922
tpm_case "tpm-error TPM_RC_OBJECT_MEMORY at Quote" "$tpm_err" tpm-error --count 0 --rc 0x902 --cc 0x158
tpm_case "tpm-error TPM_RC_FAILURE at RSA_Decrypt" "$tpm_err" tpm-error --count 0 --cc 0x159
tpm_case "tpm-drop, next command" "" tpm-drop --count 1
tpm_case "tpm-drop at every command" "$tpm_err" tpm-drop --count 0
for cc in 0x158:Quote 0x14e:NV_Read 0x159:RSA_Decrypt 0x148:Certify; do
        swtpm_pid=$(cat "$d/swtpm.pid")
        tpm_case "swtpm SIGKILLed mid-${cc#*:} and restarted" "" tpm-crash --count 1 --cc "${cc%:*}"
        check "mid-${cc#*:}: swtpm is a new process" '[ "$(cat "$d/swtpm.pid")" != "$swtpm_pid" ]'
done
rotation_case --drop-old

begin "swtpm stopped (SIGSTOP) mid-run, continued"
swtpm_pid=$(cat "$d/swtpm.pid")
n=$(o get "$sock" /v1/status 'sum(b["attestations"].values())')
kill -STOP "$swtpm_pid"
curl -s -o /dev/null --max-time 5 -X POST --unix-socket "$sock" http://localhost/v1/refresh
t0=$(date +%s%N)
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --unix-socket "$sock" http://localhost/v1/verdict)
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check "swtpm stopped: the verdict is served at once ($code in $ms ms)" '[ "$code" = 200 ] && [ "$ms" -lt 1000 ]'
observe "swtpm stopped: the run is stuck in the TPM" 's["state"] == "attesting"'
kill -CONT "$swtpm_pid"
observe "swtpm continued: the run completes" "sum(s['attestations'].values()) > $n" 20
recovered "swtpm stopped"

# ---- the node made bad: every tamper kind ---------------------------------------------
# definitive: MAA refuses the evidence or the policy fails on its claims; the
# daemon does not use the user-data binding, so paravisor-stuck leaves it trusted.
for what in pcr secure-boot-off debuggable ak-cert hcl-binding ak-mismatch paravisor-stuck; do
        begin "tamper $what"
        if [ $what = paravisor-stuck ]; then definitive=false; else definitive=true; fi
        o quiet "$sock" >/dev/null || bad "tamper $what: the daemon never became quiet"
        event tamper "\"what\":\"$what\",\"definitive\":$definitive,\"maa_index\":$(maa_index)"
        tamper $what
        run >/dev/null
        event tamper-run-done
        if $definitive; then
                observe "tamper $what: untrusted" 'v["verdict"] == "untrusted"'
                echo "#    reasons: $(o get "$sock" /v1/verdict '[(r["code"], r["rule"]) for r in b["reasons"]]')"
        else
                observe "tamper $what: the daemon does not use the binding, still fresh and trusted" "$fresh"
        fi
        # let the poller see the bad node for a while
        sleep 0.5
        event restore "\"maa_index\":$(maa_index)"
        tamper restore
        recovered "tamper $what"
done

# ---- a full disk under the audit log ----------------------------------------------------
if [ ${#ns[@]} -gt 0 ]; then
        begin "audit disk full"
        av=$(auditview)
        dd if=/dev/zero of="$av/fill" bs=4k 2>/dev/null
        run >/dev/null
        observe "disk full: the audit failure is in /v1/status" \
                'not s["audit"]["healthy"] and s["audit"]["error"]'
        echo "#    audit error: $(o get "$sock" /v1/status 'b["audit"]["error"]')"
        o get "$sock" /metrics >/dev/null
        n=$(curl -s --unix-socket "$sock" http://localhost/metrics | sed -n 's/^attestd_audit_write_failures_total \([0-9]*\)$/\1/p')
        check "disk full: attestd_audit_write_failures_total counts it ($n)" '[ "${n:-0}" -ge 1 ]'
        check "disk full: the daemon logs it" 'grep -q "The audit trail is failing" "$tmp/daemon.err"'
        observe "disk full: the daemon keeps attesting and serving (fresh and trusted)" "$fresh"
        # every token hand-out is audited: none leaves unrecorded
        code=$(curl -s -o "$tmp/tok.json" -w '%{http_code}' --unix-socket "$sock" http://localhost/v1/token)
        check "disk full: GET /v1/token is refused, 503 audit_unavailable ($code)" \
                '[ "$code" = 503 ] && grep -q "\"audit_unavailable\"" "$tmp/tok.json" && ! grep -q "eyJ" "$tmp/tok.json"'
        code=$(curl -s -o "$tmp/att.json" -w '%{http_code}' --max-time 30 --unix-socket "$sock" \
                -H 'Content-Type: application/json' -d '{"nonce":"ZGlzay1mdWxs"}' http://localhost/v1/attest)
        check "disk full: POST /v1/attest is refused, 503 audit_unavailable ($code)" \
                '[ "$code" = 503 ] && grep -q "\"audit_unavailable\"" "$tmp/att.json" && ! grep -q "eyJ" "$tmp/att.json"'
        rm -f "$av/fill"
        run >/dev/null
        observe "space again: the audit log is healthy" 's["audit"]["healthy"]'
        cp "$av/audit.jsonl" "$tmp/audit-copy.jsonl"
        check "the audit chain is intact after the full disk" '"$attestctl" audit verify "$tmp/audit-copy.jsonl" >/dev/null'
        recovered "audit disk full"
fi

# ---- SIGHUP storms while attesting and serving ------------------------------------------
begin "SIGHUP storm (200), good configuration"
curl -s -o /dev/null -X POST --unix-socket "$sock" http://localhost/v1/refresh
for i in $(seq 200); do kill -HUP "$dpid"; done
observe "after 200 SIGHUPs: the last reload applied" 's["config"]["last_reload_ok"] and s["config"]["last_reload_at"]'
recovered "SIGHUP storm"
begin "SIGHUP storm (100) with a broken policy, then the good one"
cp "$tmp/policy.json" "$tmp/policy.good"
echo '{"name": "broken", "rules": [' >"$tmp/policy.json"
curl -s -o /dev/null -X POST --unix-socket "$sock" http://localhost/v1/refresh
for i in $(seq 100); do kill -HUP "$dpid"; done
observe "broken policy: every reload refused, reported" \
        'not s["config"]["last_reload_ok"] and s["config"]["last_reload_errors"]'
observe "broken policy: the running one is kept, still trusted" 'v["verdict"] == "trusted"'
cp "$tmp/policy.good" "$tmp/policy.json"
kill -HUP "$dpid"
observe "the good policy again: reload applied" 's["config"]["last_reload_ok"]'
recovered "SIGHUP storm, broken policy"

# ---- clients that leave mid-request and mid-response ------------------------------------
begin "client disconnects (FIN, RST, partial, few bytes read, pipelined flood, orphaned attests)"
o disconnect "$sock" >"$tmp/disconnect.out"
$py "$srcdir/tests/integration/api-client.py" flood "$sock" 2000 >>"$tmp/disconnect.out"
echo "#    $(tr '\n' ' ' <"$tmp/disconnect.out")"
observe "client disconnects: every connection closed by the daemon" 's["api"]["connections"] == 1' 20
recovered "client disconnects"

# ---- clock jumps (the daemon's clocks only) ---------------------------------------------
if [ -n "$preload" ]; then
        begin "wall clock 2 h ahead"
        setclock 7200 0
        observe "clock ahead: the held token is expired at once (unknown)" \
                'v["verdict"] == "unknown" and v["reasons"][0]["code"] == "token-expired"' 5
        run >/dev/null
        observe "clock ahead: MAA's tokens look expired (token-invalid), never trusted" \
                'v["verdict"] == "unknown" and s["last_error"]["code"] in ("token-invalid", "token-expired")'
        setclock 0 0
        recovered "wall clock ahead"
        begin "wall clock 30 min behind"
        setclock -1800 0
        run >/dev/null
        observe "clock behind: MAA's tokens are not yet valid (token-invalid)" \
                's["last_error"]["code"] == "token-invalid"'
        observe "clock behind: the held token is not yet valid either, never trusted" 'v["verdict"] == "unknown"' 5
        setclock 0 0
        recovered "wall clock behind"
        begin "resume after 1 h of suspend (wall and boot clocks +1 h)"
        n=$(o get "$sock" /v1/status 'sum(b["attestations"].values())')
        setclock 3600 3600
        for i in $(seq 200); do grep -q "Resumed after" "$tmp/daemon.err" && break; sleep 0.05; done
        check "resume: noticed within the daemon's 5 s clock check" 'grep -q "Resumed after" "$tmp/daemon.err"'
        observe "resume: the daemon attests by itself" "sum(s['attestations'].values()) > $n" 15
        observe "resume: the held token expired, MAA's look expired too: unknown" 'v["verdict"] == "unknown"' 5
        setclock 0 3600
        recovered "resume"
fi

# ---- the end: same process, nothing leaked, no false trusted ----------------------------
run >/dev/null
settle
fds_after=$(fds)
rss_after=$(rss)
resume
check "the daemon is the same process ($dpid, started $started_at)" \
        'kill -0 "$dpid" && [ "$(o get "$sock" /v1/status "b[\"started_at\"]")" = "$started_at" ]'

# ---- IMDS at run time: a TDX node asks IMDS for a TD quote at every attestation ---------
td=$tmp/sim-tdx
if timeout 90 "$sim" start --dir "$td" --tee tdx --token-lifetime 30 >/dev/null; then
        mkconfig "$td/attestd.json" "$tmp/tdx.json" '{
                "refresh": {"backoff_initial_ms": 200, "backoff_max_ms": 2000},
                "api": {"rate_per_second": 1000, "rate_burst": 1000}}'
        "$attestd" --config "$tmp/tdx.json" >"$tmp/tdx.out" 2>"$tmp/tdx.err" &
        tpid=$!
        pids+=("$tpid")
        for i in $(seq 300); do [ -S "$td/attestd.sock" ] && break; kill -0 "$tpid" 2>/dev/null || break; sleep 0.05; done
        mkdir "$tmp/poll-tdx"
        o poll "$td/attestd.sock" "$tmp/replies-tdx.jsonl" "$tmp/poll-tdx" &
        tpoller=$!
        pids+=("$tpoller")
        curl -s --cacert "$td/ca.pem" -o "$tmp/jwks-tdx.json" "$(maa_url_of "$td")/certs"
        for kind in imds-down imds-500; do
                begin "$kind at run time (TDX)"
                if ! o wait "$td/attestd.sock" "$fresh" --timeout 20 >"$tmp/wait.out"; then
                        bad "$kind: the TDX daemon is not trusted"; cat "$tmp/wait.out"; continue
                fi
                simfault "$td" $kind --count 0
                o run "$td/attestd.sock" >/dev/null
                if o wait "$td/attestd.sock" "$failing and s['last_error']['code'] == 'maa-unreachable'" \
                        --timeout 10 >"$tmp/wait.out"; then ok "$kind: the run fails (maa-unreachable)"
                else bad "$kind: the run did not fail as it should"; cat "$tmp/wait.out"; fi
                simfault "$td" clear
                o run "$td/attestd.sock" >/dev/null
                if o wait "$td/attestd.sock" "$fresh" --timeout 20 >"$tmp/wait.out"; then ok "$kind: recovered"
                else bad "$kind: no recovery"; cat "$tmp/wait.out"; fi
        done
        touch "$tmp/poll-tdx/stop"
        wait "$tpoller"
        kill -TERM "$tpid"
        wait "$tpid"
        rc=$?
        check "the TDX daemon exits cleanly ($rc)" '[ "$rc" = 0 ]'
        o judge --replies "$tmp/replies-tdx.jsonl" --events /dev/null --maa-log "$td/maa-requests.jsonl" \
                --jwks "$tmp/jwks-tdx.json" --issuer "$(maa_url_of "$td")" \
                --policy "$td/policy.json" --attestctl "$attestctl" >"$tmp/judge-tdx.out"
        cat "$tmp/judge-tdx.out"
        false_tdx=$(sed -n 's/.*false_trusted=\([0-9]*\).*/\1/p' "$tmp/judge-tdx.out" | head -1)
        check "TDX: every poll was answered" 'grep -q "unanswered=0 " "$tmp/judge-tdx.out"'
        "$sim" stop --dir "$td" >/dev/null
else
        bad "cannot start the TDX sim"
        false_tdx=0
fi

touch "$tmp/poll/stop"
wait "$poller"
# the audit log before the daemon (and its mount namespace) goes away
cp "$(auditview)/audit.jsonl" "$tmp/audit-final.jsonl" 2>/dev/null
kill -TERM "$dpid"
wait "$dpid"
rc=$?
check "SIGTERM: the daemon exits cleanly ($rc)" '[ "$rc" = 0 ]'
check "the audit chain of the whole sequence is intact" '"$attestctl" audit verify "$tmp/audit-final.jsonl" >/dev/null'

# ---- the oracle -----------------------------------------------------------------------
o judge --replies "$tmp/replies.jsonl" --events "$events" --maa-log "$d/maa-requests.jsonl" \
        --jwks "$tmp"/jwks-[0-9]*.json --issuer "$maa_url" --policy "$tmp/policy.json" \
        --attestctl "$attestctl" --token-faults wrong-signature wrong-issuer unknown-kid expired \
        not-yet-valid alg-none >"$tmp/judge.out"
cat "$tmp/judge.out"
false_main=$(sed -n 's/.*false_trusted=\([0-9]*\).*/\1/p' "$tmp/judge.out" | head -1)
false_trusted=$(( ${false_main:-1} + ${false_tdx:-1} ))
unanswered=$(sed -n 's/.*unanswered=\([0-9]*\).*/\1/p' "$tmp/judge.out" | head -1)
check "no false trusted ($false_trusted)" '[ "$false_trusted" = 0 ]'
check "every poll was answered (${unanswered:-?} unanswered)" '[ "${unanswered:-1}" = 0 ]'
check "the poller saw trusted replies to judge" 'grep -q "trusted=[1-9]" "$tmp/judge.out"'

for what in fault tamper; do
        missing=$(kinds_offered $what | grep -v -x -F -f "$tmp/kinds-used" | tr '\n' ' ')
        check "every \`cvm-sim $what\` kind was tried${missing:+ (missing: $missing)}" '[ -z "$missing" ]'
done

crashes=0
[ "$rc" = 0 ] || crashes=$((crashes + 1))
san=$(cat "$tmp"/*.err | grep -c -E "ERROR: AddressSanitizer|runtime error|SUMMARY: UndefinedBehaviorSanitizer")
crashes=$((crashes + ${san:-0}))
leaks=$(cat "$tmp"/*.err | grep -c "ERROR: LeakSanitizer")
[ "$fds_after" -gt "$fds_before" ] && leaks=$((leaks + 1))
check_no_sanitizer_report
check "no fd leaked (before $fds_before, after $fds_after)" '[ "$fds_after" -le "$fds_before" ]'
if grep -q -a __lsan "$attestd"; then
        echo "#    leaks: LeakSanitizer at exit, and the open fds; RSS is reported only (ASan's quarantine keeps freed memory)"
else
        echo "#    leaks: the open fds (not an ASan build: no LeakSanitizer); RSS is reported only"
fi
reasons=$(printf '%s; ' "${not_tried[@]}")
echo "faults tried: $tried, not tried: ${#not_tried[@]}${not_tried:+ (${reasons%; })}, false trusted: $false_trusted," \
     "crashes: $crashes, leaks: $leaks, fds before/after: $fds_before/$fds_after," \
     "rss before/after: $rss_before/$rss_after KiB, $(( $(date +%s) - t_start )) s"
daemon_finish
