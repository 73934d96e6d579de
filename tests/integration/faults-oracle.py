#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Driver helpers and the false-`trusted` oracle of faults.sh.

  poll SOCK OUT DIR         until DIR/stop exists: GET /v1/verdict every ~25 ms
                            and GET /v1/token every 4th round, one JSON line per
                            reply in OUT; DIR/pause makes it idle (it answers
                            with DIR/paused)
  run SOCK [--timeout S]    have a run complete that started after this call:
                            wait until none is in flight, POST /v1/refresh, wait
                            for one more finished attestation
  quiet SOCK [--gap S]      wait until no run is in flight and the next
                            scheduled one is at least S seconds away
  wait SOCK EXPR [--timeout S]
                            poll until the python EXPR over s (/v1/status) and
                            v (/v1/verdict) is true; print both on timeout
  get SOCK PATH [EXPR]      one GET; print EXPR over its JSON body b (default: b)
  disconnect SOCK           clients that leave mid-request and mid-response;
                            prints key=value facts
  judge ...                 count false `trusted` replies (see cmd_judge)

A reply is a false `trusted` when the node was bad or the token behind it
was not good at the moment it was served: see cmd_judge.
"""
import argparse
import base64
import calendar
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

UA = b"Host: localhost\r\nConnection: close\r\n"


# ---- HTTP over the unix socket ------------------------------------------------------
def request(sock, method, path, body=None, timeout=10.0):
    """(code, body bytes); code 0 when the daemon did not answer."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(sock)
        head = b"%s %s HTTP/1.1\r\n" % (method.encode(), path.encode()) + UA
        if body is not None:
            head += b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
        s.sendall(head + b"\r\n" + (body or b""))
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except OSError:
        return 0, b""
    finally:
        s.close()
    head, _, rest = data.partition(b"\r\n\r\n")
    try:
        return int(head.split(b" ")[1]), rest
    except (IndexError, ValueError):
        return 0, b""


def get_json(sock, path, timeout=10.0):
    code, body = request(sock, "GET", path, timeout=timeout)
    try:
        return code, json.loads(body)
    except ValueError:
        return code, None


def attempts(st):
    return sum(st["attestations"].values())


def status(sock):
    code, st = get_json(sock, "/v1/status")
    if code != 200 or st is None:
        raise RuntimeError("GET /v1/status: %d" % code)
    return st


def rfc3339(s):
    return calendar.timegm(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ")) if s else None


# ---- poll ---------------------------------------------------------------------------
def b64u_json(part):
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def cmd_poll(a):
    out = open(a.out, "a", buffering=1)
    stop, pause, paused = (os.path.join(a.dir, n) for n in ("stop", "pause", "paused"))
    n = 0
    while not os.path.exists(stop):
        if os.path.exists(pause):
            open(paused, "w").close()
            time.sleep(0.01)
            continue
        if os.path.exists(paused):
            os.unlink(paused)
        route = "/v1/token" if n % 4 == 3 else "/v1/verdict"
        n += 1
        t0 = time.time()
        code, body = request(a.sock, "GET", route, timeout=10.0)
        rec = {"t0": t0, "t1": time.time(), "route": route, "code": code}
        try:
            doc = json.loads(body) if body else None
        except ValueError:
            doc = None
            rec["garbage"] = body[:200].decode("latin-1")
        if route == "/v1/verdict" and doc is not None:
            rec["verdict"] = doc.get("verdict")
            rec["stale"] = doc.get("stale")
            rec["token"] = doc.get("token")
            rec["reasons"] = [r.get("code") for r in doc.get("reasons") or []]
        elif route == "/v1/token" and code == 200 and doc is not None:
            rec["jwt"] = doc.get("token")
        out.write(json.dumps(rec) + "\n")
        time.sleep(0.025)
    return 0


# ---- waits ---------------------------------------------------------------------------
def cmd_run(a):
    deadline = time.monotonic() + a.timeout
    while True:
        st = status(a.sock)
        if st["state"] != "attesting":
            n0 = attempts(st)
            break
        if time.monotonic() > deadline:
            print("a run stayed in flight for %s s" % a.timeout)
            return 1
        time.sleep(0.02)
    code, body = request(a.sock, "POST", "/v1/refresh")
    if code != 202:
        print("POST /v1/refresh: %d %s" % (code, body[:200]))
        return 1
    while time.monotonic() < deadline:
        st = status(a.sock)
        if attempts(st) > n0:
            return 0
        time.sleep(0.02)
    print("no attestation finished within %s s: %s" % (a.timeout, json.dumps(st)))
    return 1


def cmd_quiet(a):
    deadline = time.monotonic() + a.timeout
    while time.monotonic() < deadline:
        st = status(a.sock)
        nxt = rfc3339(st.get("next_refresh_at"))
        if st["state"] != "attesting" and nxt is not None and nxt - time.time() >= a.gap:
            return 0
        time.sleep(0.05)
    print("the daemon did not become quiet within %s s" % a.timeout)
    return 1


def cmd_wait(a):
    deadline = time.monotonic() + a.timeout
    s = v = None
    while True:
        s = status(a.sock)
        _, v = get_json(a.sock, "/v1/verdict")
        try:
            if v is not None and eval(a.expr, {}, {"s": s, "v": v}):
                return 0
        except (KeyError, TypeError, IndexError):
            pass
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    print("timed out after %s s waiting for %s" % (a.timeout, a.expr))
    print("status: %s" % json.dumps(s))
    print("verdict: %s" % json.dumps(v))
    return 1


def cmd_get(a):
    code, b = get_json(a.sock, a.path)
    print(json.dumps(eval(a.expr, {}, {"b": b, "code": code})))
    return 0


# ---- clients that leave --------------------------------------------------------------
def rst(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def cmd_disconnect(a):
    """Every way a client can leave; the daemon must notice each one."""
    facts = {"clients": 0, "errors": 0}
    lock = threading.Lock()
    nonce = b'{"nonce":"ZGlzY29ubmVjdA=="}'
    routes = [("GET", "/metrics", None), ("GET", "/v1/verdict", None), ("GET", "/v1/status", None),
              ("GET", "/v1/token", None), ("GET", "/healthz", None), ("POST", "/v1/attest", nonce)]

    def req(method, path, body):
        h = b"%s %s HTTP/1.1\r\nHost: localhost\r\n" % (method.encode(), path.encode())
        if body is not None:
            h += b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
        return h + b"\r\n" + (body or b"")

    def one(kind, method, path, body):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        try:
            s.connect(a.sock)
            if kind == "silent":            # connect, send nothing, close
                s.close()
            elif kind == "fin":             # request, then close at once
                s.sendall(req(method, path, body))
                s.close()
            elif kind == "rst":             # request, then reset at once
                s.sendall(req(method, path, body))
                rst(s)
            elif kind == "partial":         # half a request line, reset
                s.sendall(req(method, path, body)[:7])
                rst(s)
            elif kind == "few-bytes":       # read a few bytes of the reply, reset
                s.sendall(req(method, path, body))
                s.recv(7)
                rst(s)
            elif kind == "half-close":      # shut down writing, read nothing, reset
                s.sendall(req(method, path, body))
                s.shutdown(socket.SHUT_WR)
                rst(s)
            with lock:
                facts["clients"] += 1
        except OSError:
            with lock:
                facts["errors"] += 1
            s.close()

    jobs = [("silent", "GET", "/", None)] * 20
    for kind in ("fin", "rst", "partial", "few-bytes", "half-close"):
        for method, path, body in routes:
            jobs += [(kind, method, path, body)] * 5
    threads = []
    for i, j in enumerate(jobs):
        t = threading.Thread(target=one, args=j)
        t.start()
        threads.append(t)
        if len(threads) >= 32:
            threads.pop(0).join()
    for t in threads:
        t.join()
    for k, v in sorted(facts.items()):
        print("%s=%s" % (k, v))
    return 0


# ---- the oracle ------------------------------------------------------------------------
def load_jsonl(path):
    out = []
    try:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line:
                    try:
                        out.append(json.loads(line))
                    except ValueError:
                        pass
    except OSError:
        pass
    return out


class Verifier:
    """RS256 over the union of every JWKS the issuer published during the run.
    Shares no code with the daemon (python3-cryptography)."""

    def __init__(self, jwks_files, issuer):
        from cryptography import x509
        self.issuer = issuer
        self.keys = {}
        for p in jwks_files:
            for k in json.load(open(p)).get("keys", []):
                der = base64.b64decode(k["x5c"][0])
                self.keys[k["kid"]] = x509.load_der_x509_certificate(der).public_key()

    def check(self, jwt):
        """None when jwt is a good RS256 token of the issuer, else why not."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding
        parts = jwt.split(".")
        if len(parts) != 3:
            return "not a compact JWS"
        hdr, claims = b64u_json(parts[0]), b64u_json(parts[1])
        if hdr.get("alg") != "RS256":
            return "alg %r" % hdr.get("alg")
        key = self.keys.get(hdr.get("kid"))
        if key is None:
            return "kid %r was never published" % hdr.get("kid")
        sig = base64.urlsafe_b64decode(parts[2] + "=" * (-len(parts[2]) % 4))
        try:
            key.verify(sig, (parts[0] + "." + parts[1]).encode(), padding.PKCS1v15(), hashes.SHA256())
        except Exception:
            return "the signature does not verify"
        if claims.get("iss") != self.issuer:
            return "iss %r" % claims.get("iss")
        return None


def cmd_judge(a):
    """Every trusted /v1/verdict reply and every /v1/token hand-out is checked:

    - its token was issued by the MAA emulator (its jti is in maa-requests.jsonl),
      untouched by a token fault, RS256 with a key the issuer published, right iss;
    - the token was valid when served by the daemon's clock (faults.sh may shift
      it, see the "clock" events): exp not passed, nbf not beyond the skew;
    - the policy passes on its claims (attestctl policy eval);
    - the node was not bad: none after a run that started after a tamper had
      completed, until the restore ("tamper"/"tamper-run-done"/"restore" events),
      and no token from evidence sent after a tamper (MAA request index).
    """
    replies = load_jsonl(a.replies)
    events = load_jsonl(a.events)
    verifier = Verifier(a.jwks, a.issuer)
    issued = {}
    with open(a.maa_log) as f:
        maa_log = [json.loads(line) for line in f]
    for i, r in enumerate(maa_log):     # i: the line, as faults.sh counts them
        if r.get("jwt"):
            jti = b64u_json(r["jwt"].split(".")[1]).get("jti")
            issued[jti] = {"jwt": r["jwt"], "fault": r.get("fault"), "index": i}

    # the daemon's clock offset: (since, offsets possibly in effect)
    clock = []
    for e in events:
        if e["ev"] == "clock-begin":
            clock.append((e["t"], {e["old"], e["new"]}))
        elif e["ev"] == "clock-end":
            clock.append((e["t"], {e["new"]}))

    def offsets(t0, t1):
        cur, seen = {0}, set()
        for t, offs in clock:
            if t <= t0:
                cur = offs
            elif t <= t1:
                seen |= offs
        return cur | seen

    windows = []    # (what, definitive, t_tamper, maa_index, t_done, t_restore)
    for e in events:
        if e["ev"] == "tamper":
            windows.append({"what": e["what"], "definitive": e["definitive"], "t": e["t"],
                            "maa": e["maa_index"], "done": None, "restore": None, "maa_restore": None})
        elif e["ev"] == "tamper-run-done" and windows:
            windows[-1]["done"] = e["t"]
        elif e["ev"] == "restore" and windows:
            windows[-1]["restore"] = e["t"]
            windows[-1]["maa_restore"] = e["maa_index"]

    policy_cache = {}

    def policy_ok(jti, jwt):
        if jti not in policy_cache:
            with tempfile.NamedTemporaryFile("w", suffix=".jwt", delete=False) as f:
                f.write(jwt)
            rc = subprocess.call([a.attestctl, "policy", "eval", "--policy", a.policy, "--claims", f.name],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            os.unlink(f.name)
            policy_cache[jti] = rc == 0
        return policy_cache[jti]

    false, n_trusted, n_tokens, unanswered, jtis = [], 0, 0, 0, set()
    for r in replies:
        if r["code"] == 0:
            unanswered += 1
            continue
        if r["route"] == "/v1/verdict":
            if r.get("verdict") != "trusted":
                continue
            n_trusted += 1
            tok = r.get("token") or {}
            jti, served_exp = tok.get("jti"), tok.get("exp")
            if r["code"] != 200:
                false.append((r, "trusted with HTTP %d" % r["code"]))
                continue
        elif r["code"] == 200:
            n_tokens += 1
            jti = b64u_json(r["jwt"].split(".")[1]).get("jti")
            served_exp = None
        else:
            continue
        jtis.add(jti)
        why = []
        rec = issued.get(jti)
        if rec is None:
            false.append((r, "jti %s was never issued by MAA" % jti))
            continue
        if r["route"] == "/v1/token" and r["jwt"] != rec["jwt"]:
            why.append("the token handed out differs from the one MAA issued")
        bad = verifier.check(rec["jwt"])
        if bad:
            why.append("token does not verify: " + bad)
        if rec["fault"] in a.token_faults:
            why.append("token made by the fault %s" % rec["fault"])
        claims = b64u_json(rec["jwt"].split(".")[1])
        if served_exp is not None and served_exp != claims["exp"]:
            why.append("verdict exp %s != token exp %s" % (served_exp, claims["exp"]))
        offs = offsets(r["t0"], r["t1"])
        now_min, now_max = int(r["t0"] + min(offs)), int(r["t1"] + max(offs))
        if claims["exp"] <= now_min:
            why.append("expired: exp %d <= daemon clock %d" % (claims["exp"], now_min))
        if claims["nbf"] - a.skew > now_max:
            why.append("not yet valid: nbf %d - skew %d > daemon clock %d" % (claims["nbf"], a.skew, now_max))
        if not policy_ok(jti, rec["jwt"]):
            why.append("the policy fails on its claims")
        for w in windows:
            end = w["restore"] if w["restore"] is not None else float("inf")
            if w["definitive"] and w["done"] is not None and w["done"] <= r["t0"] < end:
                why.append("served after a run on the tampered node (%s) completed" % w["what"])
            mend = w["maa_restore"] if w["maa_restore"] is not None else float("inf")
            if w["definitive"] and w["maa"] <= rec["index"] < mend:
                why.append("token from evidence of the tampered node (%s)" % w["what"])
        if why:
            false.append((r, "; ".join(why)))
    print("replies=%d trusted=%d tokens=%d distinct_jti=%d unanswered=%d false_trusted=%d"
          % (len(replies), n_trusted, n_tokens, len(jtis), unanswered, len(false)))
    for r, why in false[:20]:
        print("#    false trusted at %.3f (%s): %s" % (r["t0"], r["route"], why))
    return 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("poll")
    p.add_argument("sock")
    p.add_argument("out")
    p.add_argument("dir")
    p.set_defaults(fn=cmd_poll)
    p = sub.add_parser("run")
    p.add_argument("sock")
    p.add_argument("--timeout", type=float, default=30)
    p.set_defaults(fn=cmd_run)
    p = sub.add_parser("quiet")
    p.add_argument("sock")
    p.add_argument("--gap", type=float, default=2)
    p.add_argument("--timeout", type=float, default=40)
    p.set_defaults(fn=cmd_quiet)
    p = sub.add_parser("wait")
    p.add_argument("sock")
    p.add_argument("expr")
    p.add_argument("--timeout", type=float, default=20)
    p.set_defaults(fn=cmd_wait)
    p = sub.add_parser("get")
    p.add_argument("sock")
    p.add_argument("path")
    p.add_argument("expr", nargs="?", default="b")
    p.set_defaults(fn=cmd_get)
    p = sub.add_parser("disconnect")
    p.add_argument("sock")
    p.set_defaults(fn=cmd_disconnect)
    p = sub.add_parser("judge")
    p.add_argument("--replies", required=True)
    p.add_argument("--events", required=True)
    p.add_argument("--maa-log", required=True)
    p.add_argument("--jwks", nargs="+", required=True)
    p.add_argument("--issuer", required=True)
    p.add_argument("--policy", required=True)
    p.add_argument("--attestctl", required=True)
    p.add_argument("--skew", type=int, default=60)
    p.add_argument("--token-faults", nargs="*", default=[])
    p.set_defaults(fn=cmd_judge)
    a = ap.parse_args()
    return a.fn(a)


if __name__ == "__main__":
    sys.exit(main())
