#!/bin/bash
# The long-running daemon against the simulated CVM: every transition of the
# verdict it serves. start -> trusted; a policy violation -> untrusted with
# the exact reasons; emulator faults -> the right state (a held token keeps
# the node trusted but stale, never a token that did not verify); TPM
# paused, dropped and reset; token expiry with MAA down -> unknown; SIGHUP
# with a good and a bad policy; the audit chain after kill -9 mid-write; a
# 64-way POST /v1/attest batched into few MAA requests, each caller's nonce
# in its token.
set -u
srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
builddir=${top_builddir:-$srcdir}
sim="$srcdir/tests/sim/cvm-sim"
attestd="$builddir/daemon/attestd"
attestctl="$builddir/client/attestctl"
for t in swtpm curl; do
        command -v $t >/dev/null || { echo "SKIP: $t missing"; exit 77; }
done
[ -x "$attestd" ] && [ -x "$attestctl" ] || { echo "SKIP: attestd/attestctl not built"; exit 77; }

tmp=$(mktemp -d /tmp/attestd-daemon.XXXXXX)
chmod 0755 "$tmp"
dpid=
cleanup() {
        [ -n "$dpid" ] && kill -9 "$dpid" 2>/dev/null
        for d in "$tmp"/sim-*; do [ -d "$d" ] && "$sim" stop --dir "$d" >/dev/null 2>&1; done
        rm -rf "$tmp"
}
trap cleanup EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; [ -f "$tmp/daemon.log" ] && tail -20 "$tmp/daemon.log"; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }

# json FILE EXPR: evaluate a python expression over the document d
json() {
        /usr/bin/python3 - "$1" "$2" <<'PY'
import json, sys
try:
    d = json.load(open(sys.argv[1]))
except Exception as e:
    print("<not json: %s>" % e); sys.exit(0)
v = eval(sys.argv[2])
print(json.dumps(v) if not isinstance(v, str) else v)
PY
}

# GET PATH: body to $tmp/body, prints the status code
get() { curl -s -o "$tmp/body" -w '%{http_code}' --max-time 10 --unix-socket "$sock" "http://localhost$1"; }
post() { curl -s -o "$tmp/body" -w '%{http_code}' --max-time 30 --unix-socket "$sock" -X POST "http://localhost$1"; }

# config SRC DST KEY=JSON...: patch a config
config() {
        local src=$1 dst=$2; shift 2
        /usr/bin/python3 - "$src" "$dst" "$@" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
for kv in sys.argv[3:]:
    k, v = kv.split("=", 1)
    sec, key = k.split(".")
    c.setdefault(sec, {})[key] = json.loads(v)
json.dump(c, open(sys.argv[2], "w"), indent=1)
PY
}

start_daemon() {
        "$attestd" --config "$1" --log-level debug >"$tmp/daemon.log" 2>&1 &
        dpid=$!
        for _ in $(seq 100); do
                [ -S "$sock" ] && [ "$(get /healthz)" = 200 ] && return 0
                kill -0 "$dpid" 2>/dev/null || return 1
                sleep 0.1
        done
        return 1
}

stop_daemon() {
        [ -n "$dpid" ] || return 0
        kill -TERM "$dpid" 2>/dev/null
        wait "$dpid"
        local rc=$?
        dpid=
        return $rc
}

# wait_verdict WANT [SECONDS]: poll /v1/verdict until its "verdict" is WANT
wait_verdict() {
        local want=$1 n=$((${2:-20} * 10)) got
        for _ in $(seq "$n"); do
                get /v1/verdict >/dev/null
                got=$(json "$tmp/body" 'd["verdict"]')
                [ "$got" = "$want" ] && return 0
                sleep 0.1
        done
        echo "verdict is '$got', waited for '$want'"
        return 1
}

# wait_attempts N: until the daemon has finished N attestations in all
wait_attempts() {
        for _ in $(seq 300); do
                get /v1/status >/dev/null
                [ "$(json "$tmp/body" 'sum(d["attestations"].values())')" -ge "$1" ] && return 0
                sleep 0.1
        done
        return 1
}
attempts() { get /v1/status >/dev/null; json "$tmp/body" 'sum(d["attestations"].values())'; }
# refresh: start a run now and wait for its end. Backoff has full jitter, so
# even with a 10-minute ceiling the daemon may retry on its own within a
# second or two (p = 1/300 per failure): let such a run end, then start ours.
refresh() {
        local n _
        for _ in 1 2 3; do
                n=$(attempts)
                post /v1/refresh >/dev/null
                [ "$(json "$tmp/body" 'd["status"]')" = scheduled ] && { wait_attempts $((n + 1)); return; }
                echo "# a run is in flight already; waiting for its end"
                wait_attempts $((n + 1)) || return 1
        done
        echo "refresh not scheduled"
        return 1
}
jti() { get /v1/verdict >/dev/null; json "$tmp/body" 'd["token"]["jti"] if d.get("token") else None'; }

# ---- start -> trusted --------------------------------------------------------
d="$tmp/sim-snp"
timeout 90 "$sim" start --dir "$d" >/dev/null || { echo "cannot start the sim"; exit 1; }
sock="$d/attestd.sock"
cfg="$tmp/attestd.json"
# No automatic retries here: every run is started by the test (POST /v1/refresh).
config "$d/attestd.json" "$cfg" 'refresh.backoff_initial_ms=600000' 'refresh.backoff_max_ms=600000' \
        'api.rate_per_second=1000' 'api.rate_burst=1000' 'maa.timeout_ms=2000' 'maa.connect_timeout_ms=1000'
check "daemon starts and serves" start_daemon "$cfg"
check "start -> trusted" wait_verdict trusted
code=$(get /v1/verdict)
check "GET /v1/verdict is 200 when trusted" [ "$code" = 200 ]
check "verdict document carries policy sha256 and token fields" \
        [ "$(json "$tmp/body" 'len(d["policy"]["sha256"]) == 64 and d["token"]["exp"] > d["token"]["iat"] and d["stale"] is False')" = true ]
check "readyz 200 once trusted" [ "$(get /readyz)" = 200 ]
"$attestctl" verdict --socket "$sock" >/dev/null
check "attestctl verdict exits 0 when trusted" [ $? = 0 ]
code=$(get '/v1/verdict?max_age=0')
sleep 1.1
code=$(get '/v1/verdict?max_age=0')
check "max_age=0 narrows trusted to unknown (503, too-old)" \
        [ "$code $(json "$tmp/body" 'd["reasons"][0]["code"]')" = "503 too-old" ]

# ---- what the daemon returns matches proto/schema ---------------------------------
validate() { /usr/bin/python3 "$srcdir/tests/scripts/validate-json.py" "$@" >"$tmp/validate.out" 2>&1 || { cat "$tmp/validate.out"; return 1; }; }
if /usr/bin/python3 -c 'import jsonschema' 2>/dev/null; then
        get /v1/verdict >/dev/null; cp "$tmp/body" "$tmp/verdict.json"
        get /v1/status >/dev/null; cp "$tmp/body" "$tmp/status.json"
        get /v1/token >/dev/null; cp "$tmp/body" "$tmp/token.json"
        get /v1/nope >/dev/null; cp "$tmp/body" "$tmp/error.json"
        get /healthz >/dev/null; cp "$tmp/body" "$tmp/health.json"
        get /readyz >/dev/null; cp "$tmp/body" "$tmp/ready.json"
        curl -s -o "$tmp/attest.json" --unix-socket "$sock" -H 'Content-Type: application/json' \
                -d '{"nonce":"AAECAwQ="}' http://localhost/v1/attest
        post /v1/refresh >/dev/null; cp "$tmp/body" "$tmp/refresh.json"
        wait_attempts 3 >/dev/null
        check "live /v1/verdict matches verdict.schema.json" validate verdict "$tmp/verdict.json"
        check "live /v1/status matches status.schema.json" validate status "$tmp/status.json"
        check "live /v1/token matches token-response.schema.json" validate token-response "$tmp/token.json"
        check "live 404 matches error.schema.json" validate error "$tmp/error.json"
        check "live /healthz and /readyz match their schemas" \
                validate health-response "$tmp/health.json" && validate ready-response "$tmp/ready.json"
        check "live POST /v1/attest matches attest-response.schema.json" validate attest-response "$tmp/attest.json"
        check "live POST /v1/refresh matches refresh-response.schema.json" validate refresh-response "$tmp/refresh.json"
        /usr/bin/python3 -c 'import json,sys
for i, l in enumerate(open(sys.argv[1])):
    json.dump(json.loads(l), open("%s/audit-%d.json" % (sys.argv[2], i), "w"))' "$d/audit.jsonl" "$tmp"
        check "every audit record so far matches audit-record.schema.json" validate audit-record "$tmp"/audit-*.json
else
        echo "skip schema checks: python3-jsonschema missing"
fi

# ---- policy violation -> untrusted with the exact reasons ----------------------
"$sim" tamper --dir "$d" secure-boot-off >/dev/null
refresh
check "tamper secure-boot-off -> untrusted" wait_verdict untrusted 1
code=$(get /v1/verdict)
check "GET /v1/verdict is 403 when untrusted" [ "$code" = 403 ]
check "the reasons are exactly the secure-boot rule" [ "$(json "$tmp/body" \
        '[(r["code"], r["rule"], r["claim"], r["expected"], r["actual"]) for r in d["reasons"]] == [("policy-failed", "secure-boot", "/secureboot", {"equals": True}, False)]')" = true ]
"$attestctl" verdict --socket "$sock" >/dev/null
check "attestctl verdict exits 1 when untrusted" [ $? = 1 ]
"$sim" tamper --dir "$d" debuggable >/dev/null
refresh
get /v1/verdict >/dev/null
rules=$(json "$tmp/body" 'sorted(r["rule"] for r in d["reasons"])')
check "two violations -> both rules in the reasons ($rules)" [ "$rules" = '["secure-boot", "snp-not-debuggable"]' ]
"$sim" tamper --dir "$d" restore >/dev/null
refresh
check "restore -> trusted again" wait_verdict trusted 1

# ---- emulator faults while a valid token is held --------------------------------
# Transient or bad answers never replace the held token: the node stays
# trusted, marked stale, with the same jti; a refusal is untrusted.
for f in http-500 http-503 http-429 truncated garbage wrong-signature wrong-issuer unknown-kid expired \
         not-yet-valid alg-none tpm-error hang; do
        held=$(jti)
        "$sim" fault --dir "$d" "$f" --count 0 --retry-after 1 >/dev/null
        refresh
        get /v1/verdict >/dev/null
        check "fault $f: trusted but stale, the held token kept" [ "$(json "$tmp/body" \
                "d['verdict'] == 'trusted' and d['stale'] is True and d['token']['jti'] == '$held'")" = true ]
        get /v1/status >/dev/null
        check "fault $f: the failure is reported in /v1/status" \
                [ "$(json "$tmp/body" 'd["last_error"] is not None and d["consecutive_failures"] >= 1')" = true ]
        "$sim" fault --dir "$d" clear >/dev/null
        refresh
        get /v1/verdict >/dev/null
        check "fault $f cleared: fresh and trusted" \
                [ "$(json "$tmp/body" "d['verdict'] == 'trusted' and d['stale'] is False and d['token']['jti'] != '$held'")" = true ]
done
held=$(jti)
"$sim" fault --dir "$d" slow --delay-ms 500 --count 0 >/dev/null
refresh
get /v1/verdict >/dev/null
check "fault slow (under the timeout): fresh and trusted" \
        [ "$(json "$tmp/body" "d['verdict'] == 'trusted' and d['stale'] is False and d['token']['jti'] != '$held'")" = true ]
"$sim" fault --dir "$d" clear >/dev/null
"$sim" fault --dir "$d" key-rotation --drop-old >/dev/null
refresh
get /v1/verdict >/dev/null
check "MAA signing key rotated: the new key is fetched, fresh and trusted" \
        [ "$(json "$tmp/body" 'd["verdict"] == "trusted" and d["stale"] is False')" = true ]
"$sim" fault --dir "$d" refuse-evidence --count 1 >/dev/null
refresh
code=$(get /v1/verdict)
check "fault refuse-evidence -> untrusted (403, maa-refused)" \
        [ "$code $(json "$tmp/body" 'd["reasons"][0]["code"]')" = "403 maa-refused" ]
check "token withheld after a refusal" [ "$(get /v1/token)" = 503 ]
refresh
check "after the refusal -> trusted again" wait_verdict trusted 1
check "token served when trusted" [ "$(get /v1/token)" = 200 ]
"$sim" fault --dir "$d" refuse-evidence --count 1 >/dev/null
code=$(curl -s -o "$tmp/attest-refused.json" -w '%{http_code}' --max-time 30 --unix-socket "$sock" \
        -H 'Content-Type: application/json' -d '{"nonce":"AAECAwQ="}' http://localhost/v1/attest)
check "POST /v1/attest refused by MAA: 403 maa-refused, neither token nor nonce_key" \
        [ "$code $(json "$tmp/attest-refused.json" '[d["reasons"][0]["code"], "token" in d, "nonce_key" in d]')" = \
          '403 ["maa-refused", false, false]' ]
refresh
check "... and trusted again" wait_verdict trusted 1

# ---- the TPM paused, dropped, reset ---------------------------------------------
swtpm_pid=$(cat "$d/swtpm.pid")
n=$(attempts)
kill -STOP "$swtpm_pid"
post /v1/refresh >/dev/null
sleep 1
code=$(get /v1/verdict)
check "swtpm stopped: the API still answers at once, verdict trusted" [ "$code" = 200 ]
kill -CONT "$swtpm_pid"
check "swtpm continued: the refresh completes" wait_attempts $((n + 1))
"$sim" fault --dir "$d" tpm-drop --count 1 >/dev/null
refresh
refresh
get /v1/verdict >/dev/null
check "tpm-drop: reconnects and is fresh and trusted again" \
        [ "$(json "$tmp/body" 'd["verdict"] == "trusted" and d["stale"] is False')" = true ]
"$sim" reboot --dir "$d" >/dev/null
refresh
get /v1/verdict >/dev/null
check "TPM reset (VM reboot): fresh and trusted" \
        [ "$(json "$tmp/body" 'd["verdict"] == "trusted" and d["stale"] is False')" = true ]

# ---- SIGHUP: a good policy applies at once, a bad one is refused ----------------
pol="$tmp/policy.json"
cp "$d/policy.json" "$pol"
config "$cfg" "$cfg" "policy.file=\"$pol\""
kill -HUP "$dpid"
sleep 0.5
/usr/bin/python3 - "$pol" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
p["rules"].append({"id": "vm-id-pinned", "description": "only this one VM",
                   "claim": "/x-ms-azurevm-vmid", "equals": "00000000-0000-0000-0000-000000000000"})
json.dump(p, open(sys.argv[1], "w"))
PY
n=$(attempts)
kill -HUP "$dpid"
check "SIGHUP with a stricter policy: untrusted without a new attestation" wait_verdict untrusted 5
check "... and the failed rule is the new one" [ "$(json "$tmp/body" '[r["rule"] for r in d["reasons"]]')" = '["vm-id-pinned"]' ]
check "... and no MAA round trip was needed" [ "$(attempts)" = "$n" ]
sha_before=$(json "$tmp/body" 'd["policy"]["sha256"]')
echo '{"name": "broken", "rules": [' >"$pol"
kill -HUP "$dpid"
sleep 0.5
get /v1/status >/dev/null
check "SIGHUP with a broken policy: refused and reported in /v1/status" \
        [ "$(json "$tmp/body" 'd["config"]["last_reload_ok"] is False and len(d["config"]["last_reload_errors"]) > 0')" = true ]
get /v1/verdict >/dev/null
check "... the running policy is kept" [ "$(json "$tmp/body" 'd["policy"]["sha256"]')" = "$sha_before" ]
cp "$d/policy.json" "$pol"
kill -HUP "$dpid"
check "SIGHUP with the good policy again: trusted" wait_verdict trusted 5
check "SIGTERM: clean exit 0" stop_daemon
check "audit chain intact after the run" "$attestctl" audit verify "$d/audit.jsonl"
grep -q '"event":"config_reload"' "$d/audit.jsonl" && grep -q '"event":"verdict_change"' "$d/audit.jsonl" &&
        grep -q '"event":"token_issued"' "$d/audit.jsonl" && grep -q '"event":"shutdown"' "$d/audit.jsonl"
check "audit has startup, verdict changes, token hand-outs, reloads and shutdown" [ $? = 0 ]
no_jws() { ! grep -q 'eyJ[A-Za-z0-9_-]*\.eyJ' "$1"; }
check "no bearer token ever reaches the audit log" no_jws "$d/audit.jsonl"

# ---- kill -9 mid-write: the chain stays verifiable ------------------------------
for i in 1 2 3 4 5; do
        start_daemon "$cfg" >/dev/null || break
        wait_verdict trusted >/dev/null
        ( for _ in $(seq 200); do curl -s -o /dev/null --unix-socket "$sock" http://localhost/v1/token; done ) &
        load=$!
        sleep 0.$((RANDOM % 9 + 1))
        kill -9 "$dpid"
        wait "$dpid" 2>/dev/null
        dpid=
        kill "$load" 2>/dev/null
        wait "$load" 2>/dev/null
done
check "after 5 kill -9 under audit load, the chain verifies" "$attestctl" audit verify "$d/audit.jsonl"

# ---- 64 concurrent POST /v1/attest are batched -----------------------------------
start_daemon "$cfg" >/dev/null
wait_verdict trusted >/dev/null
before=$(grep -c '/attest/' "$d/maa-requests.jsonl")
/usr/bin/python3 - "$sock" "$tmp/attest-results.json" <<'PY'
import base64, json, os, socket, sys, threading
sock, out = sys.argv[1], sys.argv[2]
results = [None] * 64
def one(i):
    nonce = base64.b64encode(os.urandom(32)).decode()
    body = json.dumps({"nonce": nonce}).encode()
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(60)
    s.connect(sock)
    s.sendall(b"POST /v1/attest HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    data = b""
    while True:
        c = s.recv(65536)
        if not c:
            break
        data += c
    head, _, rb = data.partition(b"\r\n\r\n")
    code = int(head.split()[1])
    doc = json.loads(rb)
    ok = False
    if code == 200:
        payload = doc["token"].split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        ok = claims["x-ms-runtime"]["client-payload"][doc["nonce_key"]] == nonce
    results[i] = {"code": code, "nonce_ok": ok}
ts = [threading.Thread(target=one, args=(i,)) for i in range(64)]
[t.start() for t in ts]
[t.join() for t in ts]
json.dump(results, open(out, "w"))
bad = [r for r in results if not (r and r["code"] == 200 and r["nonce_ok"])]
if bad:
    print("attest failures:", bad[:5])
PY
after=$(grep -c '/attest/' "$d/maa-requests.jsonl")
batch=$(json "$cfg" 'd["api"].get("attest_batch_size", 16)')
limit=$(((64 + batch - 1) / batch))
check "64 concurrent attests: all 200 and each nonce in its own token" \
        [ "$(json "$tmp/attest-results.json" 'all(r and r["code"] == 200 and r["nonce_ok"] for r in d)')" = true ]
check "64 concurrent attests: $((after - before)) MAA requests <= ceil(64/$batch) = $limit" [ $((after - before)) -le "$limit" ]
stop_daemon

# ---- token expiry with MAA down -> unknown ---------------------------------------
d2="$tmp/sim-short"
timeout 90 "$sim" start --dir "$d2" --token-lifetime 8 >/dev/null || { echo "cannot start the sim"; exit 1; }
sock="$d2/attestd.sock"
config "$d2/attestd.json" "$tmp/short.json" 'refresh.backoff_initial_ms=500' 'refresh.backoff_max_ms=1000' \
        'refresh.fraction=0.8' 'maa.timeout_ms=1000' 'maa.connect_timeout_ms=1000'
start_daemon "$tmp/short.json" >/dev/null
check "short-lived token: trusted" wait_verdict trusted
"$sim" fault --dir "$d2" http-503 --count 0 >/dev/null
n=$(attempts)
post /v1/refresh >/dev/null
wait_attempts $((n + 1))
get /v1/verdict >/dev/null
check "MAA down, token still valid: trusted and stale" \
        [ "$(json "$tmp/body" 'd["verdict"] == "trusted" and d["stale"] is True')" = true ]
check "MAA down past exp: unknown" wait_verdict unknown 15
code=$(get /v1/verdict)
check "... 503 with token-expired" [ "$code $(json "$tmp/body" 'd["reasons"][0]["code"]')" = "503 token-expired" ]
check "... no token handed out" [ "$(get /v1/token)" = 503 ]
check "... readyz 503" [ "$(get /readyz)" = 503 ]
"$sim" fault --dir "$d2" clear >/dev/null
check "MAA back: trusted again without intervention" wait_verdict trusted 15
stop_daemon

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
