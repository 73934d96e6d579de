#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# tests/soak/soak.sh [--minutes N | --seconds N] [--valgrind] [--rate R] BUILDDIR
#
# Soak test: attestd on the simulated CVM with short-lived tokens (a refresh
# every ~4 s), mixed client load (tests/soak/soak-load.py) and a fault, a
# tamper, a TPM reset or a SIGHUP every 10 s; the daemon's memory, fds and
# counters sampled every 10 s. Fails unless the daemon stayed up (same pid),
# every request got an acceptable answer, the node came back to a fresh
# trusted verdict once the faults were cleared, the audit chain verifies
# across its rotations, SIGTERM ends it with status 0, and (runs of 2
# minutes or more) memory and fds stayed flat after warm-up; with
# --valgrind (default 200 s, lower rate) the heap in use must stay flat and
# it fails on any memcheck error, definite or indirect leak, or fd left open
# at exit. Defaults: 10 minutes, --rate 1. Not part of `make check`
# (minutes); `make soak-smoke` runs it for 20 s. See tests/soak/README.md.
#
# Exit status: 0 pass, 1 fail, 2 usage, 77 a tool is missing.
# Environment: SOAK_KEEP=1 keeps the work directory (kept anyway on failure).

# shellcheck disable=SC2016,SC2119  # check() evaluates its expression; daemon_require takes no script args
set -u

usage() {
        echo "usage: $0 [--minutes N | --seconds N] [--valgrind] [--rate R] BUILDDIR" >&2
        exit 2
}

DURATION='' VALGRIND=0 RATE=''
while [ $# -gt 1 ]; do
        case "$1" in
        --minutes) [ $# -gt 2 ] || usage; DURATION=$(($2 * 60)); shift 2 ;;
        --seconds) [ $# -gt 2 ] || usage; DURATION=$(($2 + 0)); shift 2 ;;
        --rate) [ $# -gt 2 ] || usage; RATE=$2; shift 2 ;;
        --valgrind) VALGRIND=1; shift ;;
        *) usage ;;
        esac
done
{ [ $# -eq 1 ] && [ "${1#-}" = "$1" ]; } || usage
top_builddir=$(cd "$1" 2>/dev/null && pwd) || { echo "soak.sh: no build directory '$1'" >&2; exit 2; }
top_srcdir=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/integration/daemon-lib.sh
. "$top_srcdir/tests/integration/daemon-lib.sh"
daemon_require
[ $VALGRIND = 0 ] || command -v valgrind >/dev/null || { echo "SKIP: valgrind missing"; exit 77; }
attestctl="$builddir/client/attestctl"
[ -x "$attestctl" ] || { echo "SKIP: $attestctl not built"; exit 77; }

# Under valgrind the daemon runs ~20x slower: fewer requests, longer timeouts.
if [ $VALGRIND = 1 ]; then
        DURATION=${DURATION:-200} RATE=${RATE:-0.2} TIMEOUT_S=60 MAA_TIMEOUT_MS=15000 TPM_TIMEOUT_MS=10000
        REQUEST_TIMEOUT_MS=20000 STOP_TIMEOUT_S=180
        FAULT_ON_S=4 FAULT_OFF_S=2      # all 30 faults in 180 s
else
        DURATION=${DURATION:-600} RATE=${RATE:-1} TIMEOUT_S=10 MAA_TIMEOUT_MS=3000 TPM_TIMEOUT_MS=3000
        REQUEST_TIMEOUT_MS=5000 STOP_TIMEOUT_S=30
        FAULT_ON_S=6 FAULT_OFF_S=4      # a fault is active 6 s, then 4 s without
fi
[ "$DURATION" -ge 10 ] || usage
TOKEN_LIFETIME_S=8      # refresh.fraction 0.5: a refresh every 4 s (+-10%)
SAMPLE_S=10             # the sampling period
FLAT_MIN_S=120          # shorter runs are still warming up: flatness is reported, not judged
RSS_GROWTH_MAX_KB=512   # bounds on growth from the warm-up sample to the last one (README.md)
ANON_GROWTH_MAX_KB=256
HEAP_GROWTH_MAX_KB=64   # valgrind: bytes in use on the heap, exactly

daemon_setup soak --token-lifetime $TOKEN_LIFETIME_S
SIMD="$tmp/sim"
SOCK="$SIMD/attestd.sock"
CFG="$tmp/attestd.json"
POLICY="$tmp/policy.json"
CSV="$tmp/samples.csv"
LOADSTATS="$tmp/load.json"
FAULTLOG="$tmp/faults.log"
DLOG="$tmp/daemon.err"          # *.err: check_no_sanitizer_report reads it
VGLOG="$tmp/valgrind.log"
DPID='' DSTART='' LOADPID='' INJPID=''
cp "$SIMD/policy.json" "$POLICY"

# The simulator's config, with refreshes every few seconds, fast retries,
# timeouts that a hang fault reaches quickly (valgrind: room for its
# slowness), no rate limit in the way, and a small audit log so that it
# rotates during the run (every rotated file kept: the chain is verified).
"$py" - "$SIMD/attestd.json" "$CFG" "$POLICY" <<EOF || exit 1
import json, sys
c = json.load(open(sys.argv[1]))
c["policy"]["file"] = sys.argv[3]
c.setdefault("refresh", {}).update({"fraction": 0.5, "jitter": 0.1, "backoff_initial_ms": 500,
                                    "backoff_max_ms": 4000})
c["maa"].update({"timeout_ms": $MAA_TIMEOUT_MS, "connect_timeout_ms": min($MAA_TIMEOUT_MS, 5000)})
c["imds"]["timeout_ms"] = $MAA_TIMEOUT_MS
c["tpm"]["fresh_report_timeout_ms"] = $TPM_TIMEOUT_MS
c["api"].update({"rate_per_second": 1000, "rate_burst": 1000, "request_timeout_ms": $REQUEST_TIMEOUT_MS})
c["audit"].update({"rotate_bytes": 131072, "keep": 1000})
json.dump(c, open(sys.argv[2], "w"), indent=1)
EOF

now() { date +%s; }
fail_now() {
        bad "$*"
        KEEP_TMP=1
        echo "work directory kept: $tmp"
        exit 1
}

# ---- the daemon ------------------------------------------------------------------

get() { curl -s --max-time "$TIMEOUT_S" --unix-socket "$SOCK" "http://localhost$1"; }
# status_is EXPR: the python expression EXPR over the /v1/status document d
status_is() { get /v1/status | "$py" -c "import json, sys; d = json.load(sys.stdin); sys.exit(not ($1))" 2>/dev/null; }
starttime() { awk '{ sub(/^.*\) /, ""); print $20 }' "/proc/$1/stat" 2>/dev/null; }
alive() { [ -n "$DSTART" ] && [ "$(starttime "$DPID")" = "$DSTART" ]; }

runner=()
if [ $VALGRIND = 1 ]; then
        runner=(valgrind --leak-check=full "--errors-for-leak-kinds=definite,indirect" --error-exitcode=99
                --track-fds=yes --num-callers=30 --log-file="$VGLOG")
fi
"${runner[@]}" "$attestd" --config "$CFG" </dev/null >"$DLOG" 2>&1 &
DPID=$!
pids+=("$DPID")
DSTART=$(starttime "$DPID")
for _ in $(seq 600); do
        get /v1/verdict 2>/dev/null | grep -q '"verdict":"trusted"' && break
        kill -0 "$DPID" 2>/dev/null || break
        sleep 0.2
done
if ! alive || ! get /v1/verdict | grep -q '"verdict":"trusted"'; then
        tail -20 "$DLOG"
        fail_now "the daemon did not reach a trusted verdict"
fi

# ---- faults ------------------------------------------------------------------------

strict_policy() {       # a rule no token passes: untrusted at once, without MAA
        "$py" - "$SIMD/policy.json" "$POLICY" <<'EOF'
import json, sys
p = json.load(open(sys.argv[1]))
p["rules"].append({"id": "vm-id-pinned", "description": "only a VM that does not exist",
                   "claim": "/x-ms-azurevm-vmid",
                   "equals": "00000000-0000-0000-0000-000000000000"})
json.dump(p, open(sys.argv[2], "w"))
EOF
}

# Each action is applied, left FAULT_ON_S, undone, then FAULT_OFF_S pass.
# The first time round, each one also takes code paths for the first time.
FAULTS=(
        "fault http-500 --count 0"
        "fault http-503 --count 0 --retry-after 1"
        "tamper secure-boot-off"
        "fault http-429 --count 2 --retry-after 1"
        "fault hang --count 1"
        "hup"
        "fault slow --delay-ms 1500 --count 0"
        "fault truncated --count 0"
        "tamper pcr"
        "fault garbage --count 0"
        "fault refuse-evidence --count 1"
        "hup-policy"
        "fault wrong-signature --count 0"
        "fault wrong-issuer --count 0"
        "tamper debuggable"
        "fault unknown-kid --count 1"
        "fault expired --count 0"
        "reboot"
        "fault not-yet-valid --count 0"
        "fault alg-none --count 0"
        "tamper hcl-binding"
        "fault imds-down --count 0"
        "fault imds-500 --count 0"
        "hup-broken"
        "fault tpm-error --count 0"
        "fault tpm-drop --count 1"
        "tamper ak-mismatch"
        "fault key-rotation --drop-old"
        "tamper ak-cert"
        "tamper paravisor-stuck"
)

CYCLE_S=$((${#FAULTS[@]} * (FAULT_ON_S + FAULT_OFF_S)))
# Warmed up: after one round of every fault, or half-way, but not before 20 %.
WARM_AT=$((CYCLE_S < DURATION / 2 ? CYCLE_S : DURATION / 2))
[ $WARM_AT -ge $((DURATION / 5)) ] || WARM_AT=$((DURATION / 5))

apply_fault() {
        local what=$1
        # shellcheck disable=SC2086  # the action's words
        case "$what" in
        fault*|tamper*) "$sim" ${what%% *} --dir "$SIMD" ${what#* } >/dev/null ;;
        reboot) "$sim" reboot --dir "$SIMD" >/dev/null ;;
        hup) kill -HUP "$DPID" ;;
        hup-policy) strict_policy && kill -HUP "$DPID" ;;
        hup-broken) echo '{"name": "broken", "rules": [' >"$POLICY" && kill -HUP "$DPID" ;;
        esac
}

undo_fault() {
        case "$1" in
        "fault key-rotation"*) ;;      # permanent; --drop-old keeps /certs at one key
        fault*) "$sim" fault --dir "$SIMD" clear >/dev/null ;;
        tamper*) "$sim" tamper --dir "$SIMD" restore >/dev/null ;;
        hup-*) cp "$SIMD/policy.json" "$POLICY" && kill -HUP "$DPID" ;;
        esac
}

# sleep_unless_stopped S: sleep S seconds, 1 s at a time; false once told to stop
sleep_unless_stopped() {
        local i
        for i in $(seq "$1"); do
                [ -e "$tmp/faults.stop" ] && return 1
                sleep 1
        done
        return 0
}

# In the background: every action in turn, round and round. Between two
# actions it waits while $tmp/faults.pause exists (then faults.paused), and
# ends when $tmp/faults.stop exists, each time with nothing left applied.
inject_faults() {
        local i=0 what
        trap - EXIT
        trap 'exit 1' TERM
        while [ ! -e "$tmp/faults.stop" ]; do
                if [ -e "$tmp/faults.pause" ]; then
                        touch "$tmp/faults.paused"
                        sleep 0.2
                        continue
                fi
                rm -f "$tmp/faults.paused"
                what=${FAULTS[$((i % ${#FAULTS[@]}))]}
                i=$((i + 1))
                if apply_fault "$what"; then
                        echo "$(now) $what" >>"$FAULTLOG"
                else
                        echo "$(now) FAILED $what" >>"$FAULTLOG"
                fi
                sleep_unless_stopped $FAULT_ON_S
                undo_fault "$what" || echo "$(now) FAILED undo $what" >>"$FAULTLOG"
                sleep_unless_stopped $FAULT_OFF_S
        done
}

# pause_faults / resume_faults: between two actions, nothing applied
pause_faults() {
        [ -e "$tmp/faults.stop" ] && return 0
        touch "$tmp/faults.pause"
        for _ in $(seq $((4 * (FAULT_ON_S + FAULT_OFF_S) + 120))); do
                [ -e "$tmp/faults.paused" ] && return 0
                sleep 0.25
        done
        return 1
}
resume_faults() { rm -f "$tmp/faults.pause" "$tmp/faults.paused"; }

# ---- load ------------------------------------------------------------------------------

load_field() { "$py" -c "import json, sys; print(json.load(open(sys.argv[1]))$1)" "$LOADSTATS" 2>/dev/null; }

# quiesce: no client load, no fault applied, and the daemon idle with a
# fresh trusted verdict and no connection but ours: the state in which two
# samples of memory and fds compare
quiesce() {
        local i
        pause_faults || return 1
        kill -USR1 "$LOADPID"
        for i in $(seq 600); do
                "$py" -c 'import json, sys; d = json.load(open(sys.argv[1])); sys.exit(not (d["paused"] and d["inflight"] == 0))' \
                        "$LOADSTATS" 2>/dev/null && break
                sleep 0.5
        done
        for i in $(seq $((4 * TIMEOUT_S * 3))); do
                status_is 'd["state"] == "idle" and d["verdict"] == "trusted" and not d["stale"] and d["api"]["connections"] == 1 and d["api"]["fresh_attest_queue"] == 0' &&
                        return 0
                sleep 0.25
        done
        return 1
}
resume() {
        kill -USR2 "$LOADPID"
        resume_faults
}

# ---- samples ----------------------------------------------------------------------------

kb() { awk -v f="$2:" '$1 == f { print $2 }' "$1" 2>/dev/null; }
# heap_kb PHASE: under valgrind, the bytes the daemon has allocated and not
# freed (memcheck's leak search); at warm and last with every block's stack
# in heap-PHASE.txt, for heap_growth
heap_kb() {
        local what=summary
        [ $VALGRIND = 1 ] || return 0
        case "$1" in warm|last) what="full reachable any" ;; esac
        # shellcheck disable=SC2086  # the monitor command's words
        vgdb --pid="$DPID" leak_check $what >"$tmp/heap-$1.txt" 2>/dev/null
        awk '/(definitely|indirectly|possibly) lost:|still reachable:/ {
                v = $0; sub(/.*: /, "", v); sub(/ .*/, "", v); gsub(",", "", v); s += v; n++ }
                END { if (n) printf "%d", s / 1024 }' "$tmp/heap-$1.txt"
}

# heap_growth: the allocation stacks holding more bytes at the end than after warm-up
heap_growth() {
        "$py" - "$tmp/heap-warm.txt" "$tmp/heap-last.txt" <<'EOF'
import collections, re, sys
def records(path):
    held, size, stack = collections.Counter(), None, []
    for line in open(path):
        line = re.sub(r"^==\d+== ?", "", line.rstrip("\n")).strip()
        m = re.match(r"([\d,]+) (?:\([\d,]+ direct, [\d,]+ indirect\) )?bytes in [\d,]+ blocks are .* in loss record", line)
        if m:
            size, stack = int(m.group(1).replace(",", "")), []
        elif size is not None and line:
            stack.append(re.sub(r"0x[0-9A-F]+: ", "", line))
        elif size is not None:
            held[tuple(f for f in stack if "vgpreload_memcheck" not in f and "vg_replace_malloc" not in f)[:6]] += size
            size = None
    return held
warm, last = records(sys.argv[1]), records(sys.argv[2])
grew = sorted(((last[k] - warm[k], k) for k in last if last[k] > warm[k]), reverse=True)
shrank = [warm[k] - last[k] for k in warm if warm[k] > last[k]]
print("   heap by allocation stack, warm-up -> end: %d bytes more in %d stacks, %d bytes less in %d%s" %
      (sum(d for d, _ in grew), len(grew), sum(shrank), len(shrank), "; the 5 that grew most:" if grew else ""))
for d, k in grew[:5]:
    print("     +%d bytes: %s" % (d, " <- ".join(k)))
EOF
}
echo "t_s,phase,vmrss_kb,rss_anon_kb,pss_kb,private_kb,heap_kb,fds,threads,verdict,attest_trusted,attest_untrusted,attest_refused,attest_error,api_requests,client_requests,client_errors,faults" >"$CSV"
T0=
# sample PHASE: one CSV row (and the same on stdout)
sample() {
        local m v row
        alive || fail_now "the daemon (pid $DPID) is gone"
        m=$(get /metrics | awk '
                /^attestd_attestations_total/ { split($1, a, "\""); att[a[2]] = $2 }
                /^attestd_api_requests_total/ { req += $2 }
                END { printf "%d,%d,%d,%d,%d", att["trusted"], att["untrusted"], att["refused"], att["error"], req }')
        v=$(get /v1/verdict | sed -n 's/.*"verdict":"\([a-z]*\)".*"stale":\(true\|false\).*/\1\2/p')
        v=${v/false/}; v=${v/true/(stale)}
        row="$(($(now) - T0)),$1,$(kb "/proc/$DPID/status" VmRSS),$(kb "/proc/$DPID/status" RssAnon)"
        row="$row,$(kb "/proc/$DPID/smaps_rollup" Pss),$(awk '$1 ~ /^Private_/ { s += $2 } END { print s }' "/proc/$DPID/smaps_rollup"),$(heap_kb "$1")"
        row="$row,$(find "/proc/$DPID/fd" -mindepth 1 -maxdepth 1 | wc -l),$(kb "/proc/$DPID/status" Threads),${v:-none}"
        row="$row,$m,$(load_field '["requests"]'),$(load_field '["errors"]'),$(awk '!/FAILED/ { n++ } END { print n + 0 }' "$FAULTLOG")"
        echo "$row" >>"$CSV"
        echo "$row" | awk -F, '{ printf "  %5ss %-6s rss %6s kB anon %6s kB pss %6s kB%s fds %3s thr %2s %-16s attest %s/%s/%s/%s api %7s client %7s err %s faults %s\n",
                $1, $2, $3, $4, $5, $7 == "" ? "" : " heap " $7 " kB", $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18 }'
}

# ---- the run ------------------------------------------------------------------------------

echo "== attestd soak: $DURATION s, rate $RATE, $( [ $VALGRIND = 1 ] && echo "under valgrind, " )build $builddir"
echo "   daemon pid $DPID, token lifetime $TOKEN_LIFETIME_S s, a fault every $((FAULT_ON_S + FAULT_OFF_S)) s" \
        "(all ${#FAULTS[@]} in $CYCLE_S s), warm-up sample at $WARM_AT s, work directory $tmp"
: >"$FAULTLOG"
T0=$(now)
sample start
"$py" "$srcdir/tests/soak/soak-load.py" --socket "$SOCK" --stats "$LOADSTATS" --rate "$RATE" \
        --timeout "$TIMEOUT_S" >"$tmp/load.out" 2>&1 &
LOADPID=$!
pids+=("$LOADPID")
inject_faults &
INJPID=$!
pids+=("$INJPID")
for _ in $(seq 50); do [ -s "$LOADSTATS" ] && break; sleep 0.1; done

next=$SAMPLE_S warm_done=0
while [ $(($(now) - T0)) -lt "$DURATION" ]; do
        t=$(($(now) - T0))
        if [ $warm_done = 0 ] && [ "$t" -ge "$WARM_AT" ]; then
                quiesce || fail_now "the daemon did not settle (idle, fresh and trusted) for the warm-up sample"
                sample warm
                resume
                warm_done=1
        elif [ "$t" -ge "$next" ]; then
                sample load
                next=$((t + SAMPLE_S))
        fi
        kill -0 "$LOADPID" 2>/dev/null || fail_now "the load generator died: $(tail -5 "$tmp/load.out")"
        sleep 1
done

# Faults off and undone, then the last samples: under load, and quiesced.
touch "$tmp/faults.stop"
wait "$INJPID"
"$sim" fault --dir "$SIMD" clear >/dev/null
sample end
quiesce || fail_now "the daemon did not come back to a fresh trusted verdict once the faults were cleared"
sample last
ELAPSED=$(($(now) - T0))
kill -TERM "$LOADPID"
wait "$LOADPID"
LOAD_RC=$?
cp "$tmp/sim/maa-requests.jsonl" "$tmp/maa-requests.jsonl" 2>/dev/null

# SIGTERM: a clean exit
t_stop=$(date +%s.%N)
kill -TERM "$DPID"
for _ in $(seq $((STOP_TIMEOUT_S * 10))); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$DPID" 2>/dev/null; then
        kill -9 "$DPID"
        DRC=killed
fi
wait "$DPID"
DRC=${DRC:-$?}
STOP_S=$(awk -v a="$t_stop" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')

# ---- summary ------------------------------------------------------------------------------

echo
echo "== samples ($CSV)"
column -s, -t "$CSV" | sed 's/^/   /'
echo
audit_files=()         # oldest first: audit.jsonl.N ... audit.jsonl.1 audit.jsonl
for n in $(find "$SIMD" -maxdepth 1 -name 'audit.jsonl.*' | sed 's/.*\.//' | sort -n -r); do
        audit_files+=("$SIMD/audit.jsonl.$n")
done
audit_files+=("$SIMD/audit.jsonl")
"$py" - "$LOADSTATS" "$FAULTLOG" "$CSV" "$SIMD/maa-requests.jsonl" "${audit_files[@]}" <<'EOF'
import collections, csv, json, sys
load = json.load(open(sys.argv[1]))
faults = [l.split(" ", 1)[1].strip() for l in open(sys.argv[2]) if l.strip()]
rows = list(csv.DictReader(open(sys.argv[3])))
maa = [json.loads(l) for l in open(sys.argv[4]) if l.strip()]
events = collections.Counter()
runs = collections.Counter()
callers = 0
for f in sys.argv[5:]:
    for l in open(f):
        r = json.loads(l)
        events[r["event"]] += 1
        if r["event"] == "attestation":
            runs["fresh-attest run" if r.get("fresh_callers", 0) else "refresh"] += 1
            callers += r.get("fresh_callers", 0)
def row(phase):
    return next((r for r in rows if r["phase"] == phase), rows[-1])
first, warm, last = row("start"), row("warm"), row("last")
print("== summary")
print("   %-20s %s" % ("client requests", "%d (%d errors), %d connections" % (load["requests"], load["errors"], load["connections"])))
for route in sorted(load["routes"]):
    codes = load["routes"][route]
    print("   %-20s %s" % ("  " + route, ", ".join("%s: %d" % (c, codes[c]) for c in sorted(codes))))
print("   %-20s %d (%s)" % ("early disconnects", sum(load["early"].values()),
                             ", ".join("%s %d" % kv for kv in sorted(load["early"].items()))))
print("   %-20s %d fresh-attest callers checked: the token echoed each nonce" % ("", load["attest_nonces_checked"]))
print("   %-20s trusted %s, untrusted %s, refused %s, error %s (attestd_attestations_total)" % (
    "attestations", last["attest_trusted"], last["attest_untrusted"], last["attest_refused"], last["attest_error"]))
print("   %-20s %d refreshes (scheduled or POST /v1/refresh), %d runs carrying %d fresh-attest callers (audit)" % (
    "", runs["refresh"], runs["fresh-attest run"], callers))
print("   %-20s %d attestation requests, %d answered 200 (maa-requests.jsonl)" % (
    "MAA", sum(1 for m in maa if "/attest/" in m.get("path", "")),
    sum(1 for m in maa if "/attest/" in m.get("path", "") and m.get("status") == 200)))
print("   %-20s %d applied (%s)" % ("faults", len([f for f in faults if not f.startswith("FAILED")]),
      ", ".join("%s %d" % kv for kv in sorted(collections.Counter(f.split(" --")[0] for f in faults).items()))))
print("   %-20s %s" % ("audit records", ", ".join("%s %d" % kv for kv in sorted(events.items()))))
print("   %-20s first %s kB, warm %s kB (t=%ss), last %s kB (t=%ss), max %d kB" % (
    "VmRSS", first["vmrss_kb"], warm["vmrss_kb"], warm["t_s"], last["vmrss_kb"], last["t_s"],
    max(int(r["vmrss_kb"]) for r in rows)))
print("   %-20s first %s kB, warm %s kB, last %s kB; Pss warm %s last %s kB; Private warm %s last %s kB" % (
    "RssAnon", first["rss_anon_kb"], warm["rss_anon_kb"], last["rss_anon_kb"], warm["pss_kb"], last["pss_kb"],
    warm["private_kb"], last["private_kb"]))
print("   %-20s first %s, warm %s, last %s, max %d" % ("open fds", first["fds"], warm["fds"], last["fds"],
      max(int(r["fds"]) for r in rows)))
for m in load["error_samples"]:
    print("   client error: %s" % m)
EOF
grep FAILED "$FAULTLOG" | sed 's/^/   fault injection /'
echo "   daemon               pid $DPID, $ELAPSED s of load; SIGTERM -> exit $DRC in $STOP_S s"
echo

csv_at() { awk -F, -v p="$1" -v c="$2" 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next } $2 == p { print $col[c]; exit }' "$CSV"; }
echo "== checks"
check "the daemon served the whole run (pid $DPID) and SIGTERM ended it with status 0" '[ "$DRC" = 0 ]'
check "every client request got an acceptable answer (soak-load exit $LOAD_RC)" '[ "$LOAD_RC" = 0 ]'
check "no fault injection failed" '! grep -q FAILED "$FAULTLOG"'
check "faults were injected" '[ -s "$FAULTLOG" ]'
check "the node came back to a fresh trusted verdict after the faults" '[ "$(csv_at last verdict)" = trusted ]'
runs=$(cat "${audit_files[@]}" | grep -c '"event":"attestation"')
refreshes=$(cat "${audit_files[@]}" | grep '"event":"attestation"' | grep -c '"fresh_callers":0[,}]')
check "a run every few seconds: $runs attestations ($refreshes without fresh-attest callers) in $ELAPSED s" \
        '[ $((runs * 5)) -ge "$ELAPSED" ]'
check "the audit chain verifies across ${#audit_files[@]} file(s)" '"$attestctl" audit verify "${audit_files[@]}" >/dev/null'
warm_rss=$(csv_at warm vmrss_kb) last_rss=$(csv_at last vmrss_kb)
warm_anon=$(csv_at warm rss_anon_kb) last_anon=$(csv_at last rss_anon_kb)
warm_fds=$(csv_at warm fds) last_fds=$(csv_at last fds)
warm_heap=$(csv_at warm heap_kb) last_heap=$(csv_at last heap_kb)
if [ $VALGRIND = 1 ]; then
        heap_growth
        check "heap in use flat after warm-up: $warm_heap -> $last_heap kB (growth <= $HEAP_GROWTH_MAX_KB kB)" \
                '[ -n "$warm_heap" ] && [ -n "$last_heap" ] && [ $((last_heap - warm_heap)) -le $HEAP_GROWTH_MAX_KB ]'
        echo "     (VmRSS under valgrind is valgrind's: not judged)"
elif [ "$ELAPSED" -ge $FLAT_MIN_S ]; then
        check "VmRSS flat after warm-up: $warm_rss -> $last_rss kB (growth <= $RSS_GROWTH_MAX_KB kB)" \
                '[ $((last_rss - warm_rss)) -le $RSS_GROWTH_MAX_KB ]'
        check "RssAnon flat after warm-up: $warm_anon -> $last_anon kB (growth <= $ANON_GROWTH_MAX_KB kB)" \
                '[ $((last_anon - warm_anon)) -le $ANON_GROWTH_MAX_KB ]'
else
        echo "     (a run under $FLAT_MIN_S s is still warming up: VmRSS $warm_rss -> $last_rss kB reported, not judged)"
fi
if [ "$ELAPSED" -ge $FLAT_MIN_S ] || [ $VALGRIND = 1 ]; then
        check "open fds flat: $warm_fds after warm-up, $last_fds at the end" '[ "$warm_fds" = "$last_fds" ]'
else
        echo "     (open fds $warm_fds -> $last_fds reported, not judged)"
fi
if [ $VALGRIND = 1 ]; then
        sed -n '/ERROR SUMMARY/p; /definitely lost/p; /indirectly lost/p; /All heap blocks/p; /FILE DESCRIPTORS/p' "$VGLOG" |
                sed 's/^==[0-9]*== /   valgrind: /'
        # an fd open at exit that the daemon did not inherit
        leaked_fds=$(awk '/Open .*(descriptor|socket) [0-9]+/ { fd = $0; getline; if ($0 !~ /inherited from parent/) print fd }' "$VGLOG")
        check "valgrind: no memcheck error and no definite or indirect leak" \
                '[ "$DRC" != 99 ] && grep -q "ERROR SUMMARY: 0 errors" "$VGLOG"'
        check "valgrind: no fd left open at exit${leaked_fds:+: $leaked_fds}" '[ -z "$leaked_fds" ]'
fi
check_no_sanitizer_report
if ! daemon_finish; then
        KEEP_TMP=1
        echo "work directory kept: $tmp"
        exit 1
fi
[ "${SOAK_KEEP:-0}" = 1 ] && KEEP_TMP=1 && echo "work directory kept: $tmp"
exit 0
