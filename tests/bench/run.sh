#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# tests/bench/run.sh [--smoke] BUILDDIR
#
# Every attestd benchmark in one run, each with a baseline measured in the
# same run (absolute numbers on shared machines are noise; ratios are not):
#   1. cached GET /v1/verdict: throughput (h2load) and p50/p99 (bench-client)
#      at 1, 10 and 100 connections, against trivial-server (the ceiling);
#   2. the same while POST /v1/refresh keeps an attestation running all the
#      time, against case 1;
#   3. `attestctl verdict` end to end against a one-shot `attestd --once`;
#   4. N concurrent POST /v1/attest against N sequential ones: MAA requests
#      (from the simulator's request log) and wall time;
#   5. daemon RSS idle and under load (against trivial-server), and time from
#      process start to the first trusted verdict (against --once).
# Targets are printed PASS/MISS for information. Exit status: 0 when every
# benchmark ran, 1 when one could not, 77 when a tool is missing, 2 on bad
# usage. --smoke runs every benchmark tiny (seconds) to keep this working.
#
# Environment: BENCH_REPS (repeats per figure; medians are reported),
# BENCH_KEEP=1 (keep the work directory), BENCH_TMPDIR (where to make it).

set -u

usage() {
        echo "usage: $0 [--smoke] BUILDDIR" >&2
        exit 2
}

SMOKE=0
case "${1:-}" in
--smoke) SMOKE=1; shift ;;
-h|--help) usage ;;
esac
[ $# -eq 1 ] || usage
B=$(cd "$1" 2>/dev/null && pwd) || { echo "run.sh: no build directory '$1'" >&2; exit 2; }
SRC=$(cd "$(dirname "$0")/../.." && pwd)

skip() {
        echo "run.sh: SKIP: $*"
        exit 77
}

command -v h2load >/dev/null 2>&1 || skip "h2load not found (Debian: nghttp2-client; tests/scripts/install-deps.sh)"
command -v swtpm >/dev/null 2>&1 || skip "swtpm not found (the simulated CVM needs it)"
[ -x /usr/bin/python3 ] || skip "/usr/bin/python3 not found (the simulated CVM needs it)"
ATTESTD=$B/daemon/attestd
BC=$B/tests/bench/bench-client
TRIVIAL=$B/tests/bench/trivial-server
for f in "$ATTESTD" "$BC" "$TRIVIAL"; do
        [ -x "$f" ] || { echo "run.sh: $f is missing: build first (make)" >&2; exit 1; }
done
ATTESTCTL=$B/client/attestctl          # libc + jansson only: never a libtool wrapper
[ -x "$ATTESTCTL" ] || { echo "run.sh: no attestctl in $B/client" >&2; exit 1; }
ATTESTCTL_STATIC=$B/client/attestctl-static    # measured too when built (make attestctl-static)

if [ $SMOKE = 1 ]; then
        REPS=${BENCH_REPS:-1}; REFRESH_REPS=1
        N_C1=500; N_C10=2000; N_C100=2000
        CTL_RUNS=10; CTL_WARMUP=1; ONCE_RUNS=2
        ATTEST_CONC=16; ATTEST_SEQ=4; STARTS=1
else
        REPS=${BENCH_REPS:-5}; REFRESH_REPS=${BENCH_REPS:-3}
        N_C1=50000; N_C10=200000; N_C100=200000
        CTL_RUNS=200; CTL_WARMUP=5; ONCE_RUNS=10
        ATTEST_CONC=64; ATTEST_SEQ=64; STARTS=5
fi
CONNS="1 10 100"
WARM_N=2000
REFRESH_INTERVAL_MS=20

W=$(mktemp -d "${BENCH_TMPDIR:-/tmp}/attestd-bench.XXXXXX") || exit 1
SIM=$W/sim
SOCK=$SIM/attestd.sock
TSOCK=$W/trivial.sock
CFG=$W/attestd.json
LOG=$W/attestd.log
SUP_PID=        # bench-client first-verdict, the daemon's parent
DAEMON_PID=
TRIVIAL_PID=
LOOP_PID=
SAMPLER_PID=
STATUS=0

stop_job() {    # pid: SIGTERM, then wait (it is our child)
        [ -n "$1" ] || return 0
        kill -TERM "$1" 2>/dev/null
        wait "$1" 2>/dev/null
        return 0
}

# shellcheck disable=SC2317  # invoked by the trap
cleanup() {
        stop_job "$LOOP_PID"; LOOP_PID=
        stop_job "$SAMPLER_PID"; SAMPLER_PID=
        stop_job "$SUP_PID"; SUP_PID=
        stop_job "$TRIVIAL_PID"; TRIVIAL_PID=
        "$SRC/tests/sim/cvm-sim" stop --dir "$SIM" >/dev/null 2>&1
        if [ "${BENCH_KEEP:-0}" = 1 ]; then
                echo "work directory kept: $W"
        else
                rm -rf "$W"
        fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

broken() {
        echo "ERROR: $*"
        STATUS=1
}

# ---- small helpers ------------------------------------------------------------

kv() {          # kv LINE KEY: the value of KEY=value in LINE
        printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -1
}

median() {      # median of the arguments (numbers)
        printf '%s\n' "$@" | grep -v '^$' | sort -g | awk '{ v[NR] = $1 }
                END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2];
                      else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

ratio() {       # ratio A B [DIGITS]
        awk -v a="$1" -v b="$2" -v d="${3:-2}" 'BEGIN {
                if (a == "nan" || b == "nan" || b + 0 == 0) print "nan"; else printf "%.*f\n", d, a / b }'
}

fmt() {         # fmt NUMBER [DIGITS]
        awk -v a="$1" -v d="${2:-0}" 'BEGIN { if (a == "nan" || a == "") print "nan"; else printf "%.*f\n", d, a }'
}

target_line() {         # target_line NAME OK(1/0) DETAIL
        if [ "$2" = 1 ]; then
                printf '  PASS  %-52s %s\n' "$1" "$3"
        else
                printf '  MISS  %-52s %s\n' "$1" "$3"
        fi
}

le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "nan" && a + 0 <= b + 0) }'; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "nan" && a + 0 >= b + 0) }'; }

proc_kb() {     # proc_kb PID FIELD (VmRSS, VmHWM, RssAnon, RssFile) in kB
        awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null
}

cpu_ns() {      # CPU time of every thread of PID so far, in ns (schedstat)
        cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f\n", s }'
}

pss_kb() {
        awk '$1 == "Pss:" { print $2 }' "/proc/$1/smaps_rollup" 2>/dev/null
}

maa_attests() { # attestation requests the simulated MAA has seen
        if [ -f "$SIM/maa-requests.jsonl" ]; then
                awk '/\/attest\// { n++ } END { print n + 0 }' "$SIM/maa-requests.jsonl"
        else
                echo 0
        fi
}

wait_maa_quiet() {      # until no attestation reached MAA for 0.5 s (at most 20 s)
        local last now i=0
        last=$(maa_attests)
        while [ $i -lt 40 ]; do
                sleep 0.5
                now=$(maa_attests)
                [ "$now" = "$last" ] && return 0
                last=$now
                i=$((i + 1))
        done
}

h2load_rps() {  # h2load_rps SOCKET N C: req/s, or nothing when not every request succeeded
        local out ok
        out=$(h2load --h1 -B "unix:$1" -n "$2" -c "$3" http://localhost/v1/verdict 2>&1)
        ok=$(printf '%s\n' "$out" | sed -n 's/^requests: .* \([0-9]*\) succeeded.*/\1/p')
        [ "$ok" = "$2" ] || { printf '%s\n' "$out" | tail -5 >&2; return 1; }
        printf '%s\n' "$out" | sed -n 's/^finished in [^,]*, \([0-9.]*\) req\/s.*/\1/p'
}

n_for() {
        case "$1" in 1) echo $N_C1 ;; 10) echo $N_C10 ;; *) echo $N_C100 ;; esac
}

# start_daemon: run attestd under bench-client first-verdict; sets SUP_PID,
# DAEMON_PID and STARTUP_LINE. Returns non-zero when it never became trusted.
start_daemon() {
        local out=$W/first-verdict.out
        : >"$out"
        # shellcheck disable=SC2094  # both only append to the log
        "$BC" first-verdict "$SOCK" 60000 "$LOG" "$ATTESTD" --config "$CFG" >"$out" 2>>"$LOG" &
        SUP_PID=$!
        while ! grep -q trusted_ms "$out"; do
                if ! kill -0 "$SUP_PID" 2>/dev/null; then
                        wait "$SUP_PID" 2>/dev/null
                        SUP_PID=
                        return 1
                fi
                sleep 0.01
        done
        STARTUP_LINE=$(cat "$out")
        DAEMON_PID=$(kv "$STARTUP_LINE" pid)
}

stop_daemon() {
        stop_job "$SUP_PID"
        SUP_PID=
        DAEMON_PID=
}

# ---- the machine and the setup ---------------------------------------------------

echo "== attestd benchmarks $( [ $SMOKE = 1 ] && echo '(smoke: tiny sizes, figures are meaningless)')"
echo "date:     $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "machine:  $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), kernel $(uname -r)"
echo "load:     $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min, at start)"
echo "h2load:   $(h2load --version 2>&1 | head -1)"
echo "build:    $B ($(sed -n 's/^CFLAGS = //p' "$B/Makefile" | head -1))"
echo "repeats:  $REPS per figure (medians)"
echo

"$SRC/tests/sim/cvm-sim" start --dir "$SIM" >"$W/sim-start.out" 2>&1 || {
        cat "$W/sim-start.out"
        echo "ERROR: the simulated CVM did not start"
        exit 1
}
# The simulator's config, with rate limits that let one uid (root, the
# benchmark) send 64 fresh attests and a refresh every 20 ms.
/usr/bin/python3 - "$SIM/attestd.json" "$CFG" <<'EOF' || { echo "ERROR: cannot write the config"; exit 1; }
import json, sys
cfg = json.load(open(sys.argv[1]))
cfg.setdefault("api", {}).update({"rate_per_second": 1000, "rate_burst": 1000})
json.dump(cfg, open(sys.argv[2], "w"), indent=2)
EOF

"$TRIVIAL" "$TSOCK" >"$W/trivial.log" 2>&1 &
TRIVIAL_PID=$!
START_LINES=()
if ! start_daemon; then
        tail -20 "$LOG"
        echo "ERROR: attestd never reached a trusted verdict"
        exit 1
fi
START_LINES+=("$STARTUP_LINE")
for i in $(seq 50); do [ -S "$TSOCK" ] && break; sleep 0.01; done
[ -S "$TSOCK" ] || { echo "ERROR: trivial-server did not start"; exit 1; }

# idle memory, after the first attestation settled
sleep 1
RSS_IDLE=$(proc_kb "$DAEMON_PID" VmRSS)
ANON_IDLE=$(proc_kb "$DAEMON_PID" RssAnon)
FILE_IDLE=$(proc_kb "$DAEMON_PID" RssFile)
PSS_IDLE=$(pss_kb "$DAEMON_PID")
T_RSS_IDLE=$(proc_kb "$TRIVIAL_PID" VmRSS)

# ---- 1. cached GET /v1/verdict ---------------------------------------------------------

echo "== 1. cached GET /v1/verdict vs trivial-server (throughput: h2load; latency: bench-client)"
( while kill -0 "$DAEMON_PID" 2>/dev/null; do proc_kb "$DAEMON_PID" VmRSS; sleep 0.05; done ) >"$W/rss.samples" &
SAMPLER_PID=$!
declare -A T_RPS A_RPS T_P50 A_P50 T_P99 A_P99 A_MAX RPS_RATIO P99_RATIO T_CPU A_CPU
for c in $CONNS; do
        n=$(n_for "$c")
        "$BC" load "$TSOCK" /v1/verdict $WARM_N "$c" >/dev/null || broken "warm-up against trivial-server failed (c=$c)"
        "$BC" load "$SOCK" /v1/verdict $WARM_N "$c" >/dev/null || broken "warm-up against attestd failed (c=$c)"
        t=(); a=(); q=(); tc=(); ac=()
        for r in $(seq "$REPS"); do
                c0=$(cpu_ns "$TRIVIAL_PID")
                x=$(h2load_rps "$TSOCK" "$n" "$c") || broken "h2load against trivial-server failed (c=$c)"
                c1=$(cpu_ns "$TRIVIAL_PID"); c2=$(cpu_ns "$DAEMON_PID")
                y=$(h2load_rps "$SOCK" "$n" "$c") || broken "h2load against attestd failed (c=$c)"
                c3=$(cpu_ns "$DAEMON_PID")
                tc+=("$(awk -v a="$c0" -v b="$c1" -v n="$n" 'BEGIN { printf "%.2f", (b - a) / n / 1000 }')")
                ac+=("$(awk -v a="$c2" -v b="$c3" -v n="$n" 'BEGIN { printf "%.2f", (b - a) / n / 1000 }')")
                echo "   c=$c rep $r  h2load req/s: trivial $(fmt "$x")  attestd $(fmt "$y");" \
                        "server CPU us/request: trivial ${tc[-1]}  attestd ${ac[-1]}"
                t+=("$x"); a+=("$y"); q+=("$(ratio "$y" "$x" 4)")
        done
        T_CPU[$c]=$(median "${tc[@]}"); A_CPU[$c]=$(median "${ac[@]}")
        # Each attestd run directly follows its trivial-server run: the ratio
        # is taken per pair, so that load drifting on a shared machine cancels.
        T_RPS[$c]=$(median "${t[@]}"); A_RPS[$c]=$(median "${a[@]}"); RPS_RATIO[$c]=$(median "${q[@]}")
        tp50=(); tp99=(); ap50=(); ap99=(); amax=(); q=()
        for r in $(seq "$REPS"); do
                x=$("$BC" load "$TSOCK" /v1/verdict "$n" "$c") || broken "bench-client against trivial-server failed (c=$c)"
                y=$("$BC" load "$SOCK" /v1/verdict "$n" "$c") || broken "bench-client against attestd failed (c=$c)"
                echo "   c=$c rep $r  bench-client p50/p99 us: trivial $(kv "$x" p50_us)/$(kv "$x" p99_us)  attestd $(kv "$y" p50_us)/$(kv "$y" p99_us) (max $(kv "$y" max_us))"
                tp50+=("$(kv "$x" p50_us)"); tp99+=("$(kv "$x" p99_us)")
                ap50+=("$(kv "$y" p50_us)"); ap99+=("$(kv "$y" p99_us)"); amax+=("$(kv "$y" max_us)")
                q+=("$(ratio "$(kv "$y" p99_us)" "$(kv "$x" p99_us)" 4)")
        done
        P99_RATIO[$c]=$(median "${q[@]}")
        T_P50[$c]=$(median "${tp50[@]}"); T_P99[$c]=$(median "${tp99[@]}")
        A_P50[$c]=$(median "${ap50[@]}"); A_P99[$c]=$(median "${ap99[@]}"); A_MAX[$c]=$(median "${amax[@]}")
done
stop_job "$SAMPLER_PID"; SAMPLER_PID=
RSS_LOAD_PEAK=$(sort -n "$W/rss.samples" | tail -1)
RSS_HWM=$(proc_kb "$DAEMON_PID" VmHWM)
ANON_LOAD=$(proc_kb "$DAEMON_PID" RssAnon)
T_RSS_HWM=$(proc_kb "$TRIVIAL_PID" VmHWM)
echo
printf '   %-5s %11s %11s %6s  %15s %15s %6s %8s  %s\n' conns "trivial r/s" "attestd r/s" ratio "trivial p50/p99" \
        "attestd p50/p99" "ratio" "max" "server CPU us/req: trivial attestd (ratio)"
for c in $CONNS; do
        printf '   %-5s %11s %11s %6s  %15s %15s %6s %8s  %s\n' "$c" "$(fmt "${T_RPS[$c]}")" "$(fmt "${A_RPS[$c]}")" \
                "$(fmt "${RPS_RATIO[$c]}" 2)" \
                "$(fmt "${T_P50[$c]}")/$(fmt "${T_P99[$c]}")" "$(fmt "${A_P50[$c]}")/$(fmt "${A_P99[$c]}")" \
                "$(fmt "${P99_RATIO[$c]}" 2)" "$(fmt "${A_MAX[$c]}")" \
                "$(fmt "${T_CPU[$c]}" 1) $(fmt "${A_CPU[$c]}" 1) ($(ratio "${A_CPU[$c]}" "${T_CPU[$c]}"))"
done
echo "   (medians of $REPS runs; latencies in microseconds (bench-client), max = attestd's; ratios ="
echo "    attestd / trivial-server, median of the per-run ratios, each attestd run right after its"
echo "    trivial-server run; server CPU = all its threads' schedstat time during the h2load run / N)"
echo

# ---- 2. the same while refreshes run continuously ------------------------------------------

echo "== 2. cached GET /v1/verdict while POST /v1/refresh every ${REFRESH_INTERVAL_MS} ms keeps an attestation running"
M0=$(maa_attests)
"$BC" loop "$SOCK" POST /v1/refresh $REFRESH_INTERVAL_MS >"$W/refresh-loop.out" 2>&1 &
LOOP_PID=$!
R0=$(date +%s.%N)
sleep 0.3
declare -A R_RPS R_P50 R_P99 R_MAX RT_RPS RT_P99 RT_MAX
for c in $CONNS; do
        n=$(n_for "$c")
        a=(); t=(); p50=(); p99=(); mx=(); tp99=(); tmx=()
        for r in $(seq "$REFRESH_REPS"); do
                y=$(h2load_rps "$SOCK" "$n" "$c") || broken "h2load against attestd under refresh failed (c=$c)"
                x=$(h2load_rps "$TSOCK" "$n" "$c") || broken "h2load against trivial-server under refresh failed (c=$c)"
                l=$("$BC" load "$SOCK" /v1/verdict "$n" "$c") || broken "bench-client against attestd under refresh failed (c=$c)"
                k=$("$BC" load "$TSOCK" /v1/verdict "$n" "$c") || broken "bench-client against trivial-server under refresh failed (c=$c)"
                echo "   c=$c rep $r  attestd $(fmt "$y") req/s, p50/p99/max $(kv "$l" p50_us)/$(kv "$l" p99_us)/$(kv "$l" max_us) us;  trivial $(fmt "$x") req/s, p99/max $(kv "$k" p99_us)/$(kv "$k" max_us) us"
                a+=("$y"); t+=("$x"); p50+=("$(kv "$l" p50_us)"); p99+=("$(kv "$l" p99_us)"); mx+=("$(kv "$l" max_us)")
                tp99+=("$(kv "$k" p99_us)"); tmx+=("$(kv "$k" max_us)")
        done
        R_RPS[$c]=$(median "${a[@]}"); RT_RPS[$c]=$(median "${t[@]}")
        R_P50[$c]=$(median "${p50[@]}"); R_P99[$c]=$(median "${p99[@]}"); R_MAX[$c]=$(median "${mx[@]}")
        RT_P99[$c]=$(median "${tp99[@]}"); RT_MAX[$c]=$(median "${tmx[@]}")
done
R1=$(date +%s.%N)
stop_job "$LOOP_PID"; LOOP_PID=
wait_maa_quiet
REFRESHES=$(( $(maa_attests) - M0 ))
REFRESH_SECONDS=$(awk -v a="$R0" -v b="$R1" 'BEGIN { printf "%.1f", b - a }')
grep -q 'statuses=202:' "$W/refresh-loop.out" || broken "the refresh loop got no 202: $(cat "$W/refresh-loop.out")"
[ "$REFRESHES" -gt 0 ] || broken "no refresh reached MAA during benchmark 2"
echo
echo "   $REFRESHES attestations reached MAA in ${REFRESH_SECONDS} s ($(ratio "$REFRESHES" "$REFRESH_SECONDS" 1)/s); refresh loop: $(cat "$W/refresh-loop.out")"
printf '   %-5s %12s %8s %13s %8s %9s   %s\n' conns "attestd r/s" "vs 1." "p50/p99 us" "p99 vs 1." "max us" "trivial under the same load: r/s (vs 1.), p99/max us"
for c in $CONNS; do
        printf '   %-5s %12s %8s %13s %8s %9s   %s\n' "$c" "$(fmt "${R_RPS[$c]}")" "$(ratio "${R_RPS[$c]}" "${A_RPS[$c]}")" \
                "$(fmt "${R_P50[$c]}")/$(fmt "${R_P99[$c]}")" "$(ratio "${R_P99[$c]}" "${A_P99[$c]}")" "$(fmt "${R_MAX[$c]}")" \
                "$(fmt "${RT_RPS[$c]}") ($(ratio "${RT_RPS[$c]}" "${T_RPS[$c]}")), $(fmt "${RT_P99[$c]}")/$(fmt "${RT_MAX[$c]}")"
done
echo "   (vs 1. = this figure / the same figure in benchmark 1; the trivial server shows what the"
echo "    CPU taken by the refreshes (simulator + daemon) costs a server that does no refreshing)"
echo

# ---- 3. attestctl verdict vs one-shot attestation ------------------------------------------

echo "== 3. attestctl verdict (process start to exit) vs attestd --once (full attestation)"
CTL=$("$BC" spawn "$CTL_RUNS" "$CTL_WARMUP" \
        "$ATTESTCTL" verdict --socket "$SOCK") || broken "attestctl verdict failed: $CTL"
echo "   attestctl verdict  ($CTL_RUNS runs): $CTL"
CTL_STATIC=
if [ -x "$ATTESTCTL_STATIC" ]; then
        CTL_STATIC=$("$BC" spawn "$CTL_RUNS" "$CTL_WARMUP" "$ATTESTCTL_STATIC" verdict --socket "$SOCK") ||
                broken "attestctl-static verdict failed: $CTL_STATIC"
        echo "   attestctl-static   ($CTL_RUNS runs): $CTL_STATIC"
fi
TRUE_RUN=$("$BC" spawn "$CTL_RUNS" "$CTL_WARMUP" /bin/true)
echo "   /bin/true          ($CTL_RUNS runs): $TRUE_RUN"
ONCE=$("$BC" spawn "$ONCE_RUNS" 0 "$ATTESTD" --once --config "$CFG") || broken "attestd --once failed: $ONCE"
echo "   attestd --once     ($ONCE_RUNS runs, each a new process: no cached AK, JWKS or TLS session): $ONCE"
CTL_P50=$(kv "$CTL" p50_us); CTL_P99=$(kv "$CTL" p99_us); ONCE_P50=$(kv "$ONCE" p50_us)
SPEEDUP=$(ratio "$ONCE_P50" "$CTL_P50" 0)
echo
echo "   attestctl verdict median $(fmt "$CTL_P50") us, p99 $(fmt "$CTL_P99") us; attestd --once median $(fmt "$(awk -v u="$ONCE_P50" 'BEGIN { print u / 1000 }')" 1) ms"
echo "   ratio --once / attestctl verdict: ${SPEEDUP}x$( [ -n "$CTL_STATIC" ] && echo "  (attestctl-static: $(ratio "$ONCE_P50" "$(kv "$CTL_STATIC" p50_us)" 0)x, median $(fmt "$(kv "$CTL_STATIC" p50_us)") us)")"
echo

# ---- 4. concurrent fresh attestations are batched ---------------------------------------------

echo "== 4. $ATTEST_CONC concurrent POST /v1/attest vs $ATTEST_SEQ sequential"
wait_maa_quiet
M0=$(maa_attests)
CONC=$("$BC" attest "$SOCK" "$ATTEST_CONC" concurrent) || broken "concurrent attests failed: $CONC"
M1=$(maa_attests)
SEQ=$("$BC" attest "$SOCK" "$ATTEST_SEQ" sequential) || broken "sequential attests failed: $SEQ"
M2=$(maa_attests)
MAA_CONC=$((M1 - M0)); MAA_SEQ=$((M2 - M1))
echo "   concurrent: $CONC"
echo "   sequential: $SEQ"
CONC_WALL=$(kv "$CONC" wall_ms); SEQ_WALL=$(kv "$SEQ" wall_ms)
# per-request cost, so that the smoke run's different counts still compare
SEQ_PER=$(ratio "$SEQ_WALL" "$ATTEST_SEQ" 3); CONC_PER=$(ratio "$CONC_WALL" "$ATTEST_CONC" 3)
echo
echo "   MAA requests: concurrent $MAA_CONC for $ATTEST_CONC callers (batch size $(/usr/bin/python3 -c \
        "import json,sys; print(json.load(open(sys.argv[1])).get('api', {}).get('attest_batch_size', 16))" "$CFG")), sequential $MAA_SEQ for $ATTEST_SEQ"
echo "   wall time: concurrent $(fmt "$CONC_WALL" 1) ms, sequential $(fmt "$SEQ_WALL" 1) ms" \
        "(per caller: $(fmt "$CONC_PER" 2) vs $(fmt "$SEQ_PER" 2) ms, ratio sequential/concurrent $(ratio "$SEQ_PER" "$CONC_PER" 1)x)"
echo "   MAA requests per caller: concurrent $(ratio "$MAA_CONC" "$ATTEST_CONC" 3), sequential $(ratio "$MAA_SEQ" "$ATTEST_SEQ" 3)"
echo

# ---- 5. memory and start-up ------------------------------------------------------------------

echo "== 5. memory (VmRSS/VmHWM from /proc/PID/status) and start to first trusted verdict"
for i in $(seq 2 "$STARTS"); do
        stop_daemon
        if ! start_daemon; then
                broken "attestd restart $i never reached a trusted verdict"
                break
        fi
        START_LINES+=("$STARTUP_LINE")
done
st=(); sl=()
for l in "${START_LINES[@]}"; do
        echo "   start: $l"
        st+=("$(kv "$l" trusted_ms)"); sl+=("$(kv "$l" listen_ms)")
done
START_MS=$(median "${st[@]}"); LISTEN_MS=$(median "${sl[@]}")
ONCE_MS=$(awk -v u="$ONCE_P50" 'BEGIN { print u / 1000 }')
echo
echo "   idle RSS:        attestd $RSS_IDLE kB (anon $ANON_IDLE, file-backed $FILE_IDLE, PSS $PSS_IDLE) vs trivial-server $T_RSS_IDLE kB: $(ratio "$RSS_IDLE" "$T_RSS_IDLE" 1)x"
echo "   under load (1.): attestd VmHWM $RSS_HWM kB (peak sampled VmRSS $RSS_LOAD_PEAK, anon after $ANON_LOAD) vs trivial-server VmHWM $T_RSS_HWM kB: $(ratio "$RSS_HWM" "$T_RSS_HWM" 1)x"
echo "   start to first trusted verdict: median $(fmt "$START_MS" 1) ms over ${#st[@]} starts (socket answering after $(fmt "$LISTEN_MS" 1) ms)" \
        "vs attestd --once $(fmt "$ONCE_MS" 1) ms: $(ratio "$START_MS" "$ONCE_MS" 2)x"
echo

# ---- summary -------------------------------------------------------------------------------

echo "== summary (load at end: $(cut -d' ' -f1-3 /proc/loadavg))"
printf '   %-44s %s\n' "verdict r/s c=1/10/100 (h2load)" \
        "$(fmt "${A_RPS[1]}")/$(fmt "${A_RPS[10]}")/$(fmt "${A_RPS[100]}") = $(fmt "${RPS_RATIO[1]}" 2)/$(fmt "${RPS_RATIO[10]}" 2)/$(fmt "${RPS_RATIO[100]}" 2) of trivial"
printf '   %-44s %s\n' "server CPU us per verdict c=10" "$(fmt "${A_CPU[10]}" 1) (trivial $(fmt "${T_CPU[10]}" 1))"
printf '   %-44s %s\n' "verdict p50/p99 us c=10 (bench-client)" "$(fmt "${A_P50[10]}")/$(fmt "${A_P99[10]}") (trivial $(fmt "${T_P50[10]}")/$(fmt "${T_P99[10]}"))"
printf '   %-44s %s\n' "under refresh r/s c=10, p99 us" "$(fmt "${R_RPS[10]}") ($(ratio "${R_RPS[10]}" "${A_RPS[10]}") of 1.), $(fmt "${R_P99[10]}") ($(ratio "${R_P99[10]}" "${A_P99[10]}")x of 1.)"
printf '   %-44s %s\n' "attestctl verdict median/p99 us" "$(fmt "$CTL_P50")/$(fmt "$CTL_P99"); --once $(fmt "$ONCE_MS" 1) ms = ${SPEEDUP}x"
printf '   %-44s %s\n' "fresh attests: MAA requests conc/seq" "$MAA_CONC/$MAA_SEQ for $ATTEST_CONC/$ATTEST_SEQ callers; wall $(fmt "$CONC_WALL")/$(fmt "$SEQ_WALL") ms"
printf '   %-44s %s\n' "RSS idle / under load (VmHWM) kB" "$RSS_IDLE / $RSS_HWM"
printf '   %-44s %s\n' "start to first trusted verdict ms" "$(fmt "$START_MS" 1)"
echo
echo "== targets (informational; 2-core machine)"
r10=$(fmt "${RPS_RATIO[10]}" 2)
ge "$r10" 0.85 && ok=1 || ok=0
target_line "cached verdict >= 85% of trivial-server (c=10)" "$ok" "$r10"
for c in 1 100; do
        x=$(fmt "${RPS_RATIO[$c]}" 2)
        ge "$x" 0.85 && ok=1 || ok=0
        target_line "  (same at c=$c, not a target)" "$ok" "$x"
done
awk -v p="${A_P99[10]}" 'BEGIN { exit !(p != "nan" && p + 0 < 1000) }' && ok=1 || ok=0
target_line "cached verdict p99 < 1 ms (c=10)" "$ok" "$(fmt "${A_P99[10]}") us"
le "$CTL_P50" 2000 && ok=1 || ok=0
target_line "attestctl verdict median <= 2 ms" "$ok" "$(fmt "$CTL_P50") us"
ge "$SPEEDUP" 100 && ok=1 || ok=0
target_line "attestctl verdict >= 100x faster than --once" "$ok" "${SPEEDUP}x"
le "$RSS_IDLE" 8192 && ok=1 || ok=0
target_line "RSS idle <= 8 MiB" "$ok" "$RSS_IDLE kB"
le "$PSS_IDLE" 8192 && ok=1 || ok=0
target_line "  (same as PSS: shared library pages split, not a target)" "$ok" "$PSS_IDLE kB"
le "$RSS_HWM" 16384 && ok=1 || ok=0
target_line "RSS under load <= 16 MiB (VmHWM)" "$ok" "$RSS_HWM kB"
[ $SMOKE = 1 ] && echo "   (smoke run: the sizes are too small for these to mean anything)"
echo
if [ $STATUS = 0 ]; then
        echo "all benchmarks ran"
else
        echo "ERROR: at least one benchmark could not run (see ERROR lines above)"
fi
exit $STATUS
