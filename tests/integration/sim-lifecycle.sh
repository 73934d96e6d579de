#!/bin/bash
# start/stop/status are idempotent, leave no processes behind, write the
# promised files; two simulators run side by side; start failures are clean.
set -euo pipefail
. "$(dirname "$0")/sim-lib/common.sh"
t_init

A=$T_TMP/a
B=$T_TMP/b
t0=$(date +%s%N)
sim_start "$A"
t1=$(date +%s%N)
say "# start took $(( (t1 - t0) / 1000000 )) ms (incl. CLI)"
check "start < 10 s" [ $(( (t1 - t0) / 1000000 )) -lt 10000 ]
PA=$(cat "$A/simd.pid")
SA=$(cat "$A/swtpm.pid")
check "status: healthy (exit 0)" timeout 30 "$SIM" status --dir "$A"
check "start again: idempotent, same pids" bash -c "timeout 30 '$SIM' start --dir '$A' | grep -q 'already running' && [ \$(cat '$A/simd.pid') = $PA ]"
for f in env attestd.json policy.json eventlog.bin ca.pem maa.log; do
    check "DIR/$f exists" [ -s "$A/$f" ]
done
check "env has the promised variables" bash -c "
    . '$A/env' && [ -n \"\$ATTESTD_SIM_TCTI\" ] && [ -n \"\$ATTESTD_SIM_MAA_URL\" ] && [ -n \"\$ATTESTD_SIM_IMDS_URL\" ] &&
    [ -f \"\$ATTESTD_SIM_CA_FILE\" ] && [ -f \"\$ATTESTD_SIM_EVENTLOG\" ] && [ \"\$ATTESTD_SIM_DIR\" = '$A' ] &&
    [ \"\${ATTESTD_SIM_MAA_URL%/}\" = \"\$ATTESTD_SIM_MAA_URL\" ] && [[ \$ATTESTD_SIM_IMDS_URL == http://127.0.0.1:* ]]"
check "attestd.json has exactly the daemon's keys, absolute paths, pointing at the sim" "$PY" -c '
import json,sys,os
c=json.load(open(sys.argv[1])); d=sys.argv[2]
env=dict(l[7:].split("=",1) for l in open(d+"/env").read().splitlines())
env={k:v.strip("'\''") for k,v in env.items()}
assert set(c)=={"log","tpm","maa","imds","api","policy","audit"}
assert c["log"]=={"level":"info","format":"text"}
assert c["tpm"]=={"tcti":env["ATTESTD_SIM_TCTI"],"pcrs":list(range(8)),"event_log":d+"/eventlog.bin"}
assert c["maa"]=={"endpoint":env["ATTESTD_SIM_MAA_URL"],"mode":"guest","ca_file":d+"/ca.pem"}
assert c["imds"]=={"endpoint":env["ATTESTD_SIM_IMDS_URL"]}
assert c["api"]=={"socket":d+"/attestd.sock"} and c["policy"]=={"file":d+"/policy.json"} and c["audit"]=={"file":d+"/audit.jsonl"}
' "$A/attestd.json" "$A"
check "policy.json is a copy of proto/policy-guest.json" cmp -s "$A/policy.json" "$REPO_ROOT/proto/policy-guest.json"
check "MAA TLS verifies with DIR/ca.pem (curl)" curl -sSf --cacert "$A/ca.pem" -o /dev/null "$ATTESTD_SIM_MAA_URL/certs"
check "MAA TLS fails without the CA" bash -c "! curl -sSf -o /dev/null '$ATTESTD_SIM_MAA_URL/certs' 2>/dev/null"

say "# a second simulator in parallel"
sim_start "$B" --tee tdx
PB=$(cat "$B/simd.pid")
check "both healthy" bash -c "timeout 30 '$SIM' status --dir '$A' >/dev/null && timeout 30 '$SIM' status --dir '$B' >/dev/null"
check "different ports" bash -c ". '$A/env'; a=\"\$ATTESTD_SIM_TPM_PORT \$ATTESTD_SIM_MAA_URL\"; . '$B/env'; [ \"\$a\" != \"\$ATTESTD_SIM_TPM_PORT \$ATTESTD_SIM_MAA_URL\" ]"
check "TPMs are independent (different AKs)" bash -c "
    (. '$A/env'; tpm2_readpublic -c 0x81000003 -o '$T_TMP/a.pub' >/dev/null; tpm2_flushcontext -t) &&
    (. '$B/env'; tpm2_readpublic -c 0x81000003 -o '$T_TMP/b.pub' >/dev/null; tpm2_flushcontext -t) &&
    ! cmp -s '$T_TMP/a.pub' '$T_TMP/b.pub'"

say "# stop"
check "stop A" timeout 30 "$SIM" stop --dir "$A"
check "A's processes are gone" bash -c "! kill -0 $PA 2>/dev/null && ! kill -0 $SA 2>/dev/null || { grep -q '^State:.*Z' /proc/$PA/status 2>/dev/null; }"
check "status A: exit 1 when stopped" bash -c "! timeout 30 '$SIM' status --dir '$A' >/dev/null"
check "stop A again: idempotent, exit 0" bash -c "timeout 30 '$SIM' stop --dir '$A' | grep -q 'not running'"
check "B still healthy after A stopped" timeout 30 "$SIM" status --dir "$B"
check "A's ports are free again (restart in the same DIR works)" bash -c "timeout 90 '$SIM' start --dir '$A' >/dev/null && timeout 30 '$SIM' status --dir '$A' >/dev/null"
PA2=$(cat "$A/simd.pid")
SA2=$(cat "$A/swtpm.pid")
SB=$(cat "$B/swtpm.pid")
timeout 30 "$SIM" stop --dir "$A" >/dev/null
timeout 30 "$SIM" stop --dir "$B" >/dev/null
check "no simulator processes left" bash -c "for p in $PA2 $SA2 $PB $SB; do if [ -d /proc/\$p ] && ! grep -q '^State:.*Z' /proc/\$p/status; then echo alive \$p; exit 1; fi; done"

say "# stop after SIGKILL of the simulator daemon: swtpm is not orphaned"
sim_start "$A"
PA3=$(cat "$A/simd.pid")
SA3=$(cat "$A/swtpm.pid")
kill -9 "$PA3"
for _ in $(seq 100); do
    [ -d /proc/$SA3 ] && ! grep -q '^State:.*Z' /proc/$SA3/status 2>/dev/null || break
    sleep 0.05
done
check "swtpm died with its parent (PDEATHSIG)" bash -c "! [ -d /proc/$SA3 ] || grep -q '^State:.*Z' /proc/$SA3/status"
check "stop after a crash exits 0" timeout 30 "$SIM" stop --dir "$A"

say "# start failure is reported and cleaned up"
check "start with a missing policy file fails with a clear message" bash -c "
    ! timeout 60 '$SIM' start --dir '$T_TMP/c' --policy /nonexistent 2>'$T_TMP/c.err' && grep -q 'policy' '$T_TMP/c.err'"
check "failed start leaves no simulator pid file" bash -c "! [ -f '$T_TMP/c/simd.pid' ]"

t_done
