#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""soak-load: mixed client load on attestd's unix socket, for tests/soak/soak.sh.

    soak-load.py --socket SOCK --stats FILE [--rate R] [--timeout S] [--seed N]

Runs until SIGTERM or SIGINT, then writes FILE a last time and exits 0 when
every request got an acceptable answer, 1 otherwise. SIGUSR1 pauses the
load (every worker closes its connections once its request in flight is
answered), SIGUSR2 resumes it. FILE (JSON, replaced atomically every
second) holds the counts so far: replies per route and status, early
disconnects per kind, errors with the first few messages, whether the load
is paused and how many requests are in flight.

Workers, at --rate 1 (every rate is multiplied by R):
  verdict-ka    3 kept-alive connections, 20 GET /v1/verdict/s each (a tenth
                with ?max_age=, a tenth HEAD), reconnecting every 20-400 requests
  verdict-new   15/s, a new connection each (every fourth: Connection: close)
  token         3/s GET /v1/token, new connections
  mixed         8/s over one kept-alive connection: /v1/status, /metrics,
                /healthz, /readyz in turn
  attest        every 4 s a burst of 1-6 concurrent POST /v1/attest, each
                with a fresh 32-byte nonce that its token must echo
  refresh       every 6 s POST /v1/refresh
  early         4/s a client that misbehaves: connects and leaves, leaves
                mid-head or mid-body, never reads its reply, resets while a
                reply is written, half-reads /metrics, resets a POST
                /v1/attest before its answer, idles, half-closes (that one
                must still get its reply)

An error is a failed connect, a reply that does not come within the
timeout, a malformed reply, a status the route never answers with (e.g. a
verdict other than 200/403/503, a refresh other than 202/429), a verdict
body that disagrees with its status, a token that is not a JWS, or a fresh
attestation whose reply carries a token that is not a JWS, a token without
its nonce key (or the reverse), or a token that does not echo the caller's
nonce.
"""
import argparse
import base64
import json
import os
import random
import signal
import socket
import struct
import sys
import threading
import time

# statuses each route may answer with under faults and rate limits
EXPECTED = {
    "verdict": {200, 403, 503},
    "token": {200, 429, 503},
    "attest": {200, 403, 429, 503},
    "refresh": {202, 429},
    "status": {200},
    "metrics": {200},
    "healthz": {200},
    "readyz": {200, 503},
}
VERDICT_OF = {200: "trusted", 403: "untrusted", 503: "unknown"}
ERROR_SAMPLES_MAX = 20


class ReplyError(Exception):
    pass


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.routes = {}
        self.early = {}
        self.errors = 0
        self.error_samples = []
        self.inflight = 0
        self.connections = 0
        self.nonces_checked = 0

    def reply(self, route, code):
        with self.lock:
            r = self.routes.setdefault(route, {})
            r[str(code)] = r.get(str(code), 0) + 1

    def early_done(self, kind):
        with self.lock:
            self.early[kind] = self.early.get(kind, 0) + 1

    def error(self, msg):
        with self.lock:
            self.errors += 1
            if len(self.error_samples) < ERROR_SAMPLES_MAX:
                self.error_samples.append("%s %s" % (time.strftime("%H:%M:%S"), msg))

    def add(self, field, n):
        with self.lock:
            setattr(self, field, getattr(self, field) + n)

    def snapshot(self, paused):
        with self.lock:
            return {
                "time": time.time(),
                "paused": paused,
                "inflight": self.inflight,
                "requests": sum(sum(r.values()) for r in self.routes.values()),
                "routes": {k: dict(v) for k, v in self.routes.items()},
                "early": dict(self.early),
                "errors": self.errors,
                "error_samples": list(self.error_samples),
                "connections": self.connections,
                "attest_nonces_checked": self.nonces_checked,
            }


class Load:
    def __init__(self, args):
        self.path = args.socket
        self.rate = args.rate
        self.timeout = args.timeout
        self.attest_timeout = max(90.0, 6 * args.timeout)
        self.stats = Stats()
        self.stop = threading.Event()
        self.paused = threading.Event()

    def connect(self, timeout=None):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout or self.timeout)
        try:
            s.connect(self.path)
        except OSError:
            s.close()
            raise
        self.stats.add("connections", 1)
        return s


# ---- HTTP/1.1 over the unix socket ------------------------------------------------


def reset(s):
    """Close with RST rather than FIN."""
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    s.close()


def request_bytes(method, target, body=b"", ctype=None, close=False):
    head = "%s %s HTTP/1.1\r\nHost: localhost\r\n" % (method, target)
    if ctype:
        head += "Content-Type: %s\r\n" % ctype
    if body or method == "POST":
        head += "Content-Length: %d\r\n" % len(body)
    if close:
        head += "Connection: close\r\n"
    return head.encode() + b"\r\n" + body


class Conn:
    """One client connection; replies are parsed strictly enough to notice garbage."""

    def __init__(self, load, timeout=None, sock=None):
        self.s = sock or load.connect(timeout)
        self.buf = b""

    def close(self):
        self.s.close()

    def _fill(self):
        try:
            chunk = self.s.recv(65536)
        except socket.timeout:
            raise ReplyError("no reply within the timeout")
        except OSError as e:
            raise ReplyError("connection error while reading: %s" % e)
        if not chunk:
            raise ReplyError("connection closed before a complete reply")
        self.buf += chunk

    def exchange(self, raw, head_only=False):
        """Send raw, read one reply: (status, headers, body, server_closes)."""
        try:
            self.s.sendall(raw)
        except OSError as e:
            raise ReplyError("connection error while writing: %s" % e)
        return self.read_reply(head_only)

    def read_reply(self, head_only=False):
        while b"\r\n\r\n" not in self.buf:
            if len(self.buf) > 65536:
                raise ReplyError("reply head too long")
            self._fill()
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or parts[0] != "HTTP/1.1" or not parts[1].isdigit():
            raise ReplyError("bad status line %r" % lines[0][:80])
        headers = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                raise ReplyError("bad header line %r" % line[:80])
            headers[name.strip().lower()] = value.strip()
        length = headers.get("content-length")
        if length is None or not length.isdigit():
            raise ReplyError("reply without a Content-Length")
        length = 0 if head_only else int(length)
        while len(rest) < length:
            self._fill()
            rest = self.buf.partition(b"\r\n\r\n")[2]
        body, self.buf = rest[:length], rest[length:]
        return int(parts[1]), headers, body, headers.get("connection", "").lower() == "close"


# ---- checks -------------------------------------------------------------------


def b64url_json(seg):
    return json.loads(base64.urlsafe_b64decode(seg + "=" * (-len(seg) % 4)))


def check_reply(load, route, method, code, body, nonce=None):
    """Count the reply; record an error when it is not one the route may give."""
    load.stats.reply(route, code)
    if code not in EXPECTED[route]:
        load.stats.error("%s %s: status %d: %s" % (method, route, code, body[:200]))
        return
    if method == "HEAD":
        return
    try:
        if route == "metrics":
            if b"attestd_attestations_total" not in body:
                load.stats.error("/metrics without attestd_attestations_total")
            return
        doc = json.loads(body)
        if route == "verdict" and doc.get("verdict") != VERDICT_OF[code]:
            load.stats.error("verdict %r with status %d" % (doc.get("verdict"), code))
        elif route == "token" and code == 200 and doc["token"].count(".") != 2:
            load.stats.error("/v1/token: not a compact JWS")
        elif route == "status" and "state" not in doc:
            load.stats.error("/v1/status without a state")
        elif route == "attest":
            # attest-response.schema.json: the token (a JWS) and its nonce key come together,
            # whenever MAA issued a token
            tok = doc.get("token")
            if ("token" in doc) != ("nonce_key" in doc) or not isinstance(tok, (str, type(None))):
                load.stats.error("attest %d: token %r with nonce_key %r" % (code, tok, doc.get("nonce_key")))
            elif code == 200 and tok is None:
                load.stats.error("attest: 200 without a token")
            elif tok is not None:
                claims = b64url_json(tok.split(".")[1])
                echoed = claims["x-ms-runtime"]["client-payload"].get(doc["nonce_key"])
                if echoed != nonce:
                    load.stats.error("attest: token echoes %r under %r, sent %r" % (echoed, doc["nonce_key"], nonce))
                else:
                    load.stats.add("nonces_checked", 1)
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as e:
        load.stats.error("%s %s: bad body (%s): %s" % (method, route, e, body[:200]))


def one_request(load, conn, route, method, target, body=b"", ctype=None, close=False, nonce=None):
    """One exchange on conn (None: a new connection, closed after). Returns the
    connection to keep using, or None when it is gone."""
    own = conn is None
    load.stats.add("inflight", 1)
    try:
        if own:
            conn = Conn(load, load.attest_timeout if route == "attest" else None)
        code, _, rbody, closes = conn.exchange(request_bytes(method, target, body, ctype, close),
                                               head_only=method == "HEAD")
        check_reply(load, route, method, code, rbody, nonce)
        if own or closes:
            conn.close()
            return None
        return conn
    except (ReplyError, OSError) as e:
        load.stats.error("%s %s: %s" % (method, target, e))
        if conn:
            conn.close()
        return None
    finally:
        load.stats.add("inflight", -1)


# ---- workers ---------------------------------------------------------------------


def paced(load, per_second, step, on_pause=None):
    """Call step() per_second times a second (+-20% jitter) until stopped."""
    period = 1.0 / (per_second * load.rate)
    while not load.stop.is_set():
        if load.paused.is_set():
            if on_pause:
                on_pause()
            load.stop.wait(0.1)
            continue
        t0 = time.monotonic()
        step()
        left = period * random.uniform(0.8, 1.2) - (time.monotonic() - t0)
        if left > 0:
            load.stop.wait(left)


def kept_alive(load, per_second, next_request, reuse=(1 << 30, 1 << 30)):
    """Requests from next_request() -> (route, method, target) on one kept-alive
    connection, replaced after a number of requests drawn from reuse (or when
    the daemon closes it) and closed while the load is paused."""
    state = {"conn": None, "left": 0}

    def drop():
        if state["conn"]:
            state["conn"].close()
            state["conn"] = None

    def step():
        if state["conn"] is None or state["left"] <= 0:
            drop()
            try:
                state["conn"] = Conn(load)
            except OSError as e:
                load.stats.error("connect: %s" % e)
                return
            state["left"] = random.randint(*reuse)
        state["left"] -= 1
        state["conn"] = one_request(load, state["conn"], *next_request())

    paced(load, per_second, step, drop)
    drop()


def verdict_ka(load):
    def next_request():
        x = random.random()
        if x < 0.1:
            return "verdict", "HEAD", "/v1/verdict"
        if x < 0.2:
            return "verdict", "GET", "/v1/verdict?max_age=%d" % random.randint(1, 30)
        return "verdict", "GET", "/v1/verdict"

    kept_alive(load, 20, next_request, reuse=(20, 400))


def verdict_new(load):
    n = [0]

    def step():
        n[0] += 1
        one_request(load, None, "verdict", "GET", "/v1/verdict", close=n[0] % 4 == 0)

    paced(load, 15, step)


def token(load):
    paced(load, 3, lambda: one_request(load, None, "token", "GET", "/v1/token"))


def mixed(load):
    routes = [("status", "/v1/status"), ("metrics", "/metrics"), ("healthz", "/healthz"), ("readyz", "/readyz")]
    i = [0]

    def next_request():
        route, target = routes[i[0] % len(routes)]
        i[0] += 1
        return route, "GET", target

    kept_alive(load, 8, next_request)


def new_nonce():
    return base64.b64encode(os.urandom(32)).decode()


def attest_one(load):
    nonce = new_nonce()
    body = json.dumps({"nonce": nonce}).encode()
    one_request(load, None, "attest", "POST", "/v1/attest", body, "application/json", nonce=nonce)


def attest(load):
    def step():
        ts = [threading.Thread(target=attest_one, args=(load,)) for _ in range(random.randint(1, 6))]
        for t in ts:
            t.start()
        for t in ts:
            t.join()

    paced(load, 0.25, step)


def refresh(load):
    paced(load, 1 / 6, lambda: one_request(load, None, "refresh", "POST", "/v1/refresh"))


def early_kind(load, kind):
    """One misbehaving client. Only a failed connect, or a half-closed request
    that gets no reply, is an error: the daemon may close first otherwise."""
    s = load.connect()
    try:
        if kind == "connect-close":
            s.close()
        elif kind == "partial-head":
            s.sendall(b"GET /v1/verdict HTTP/1.1\r\nHo")
            s.close()
        elif kind == "partial-body":
            s.sendall(b"POST /v1/attest HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 60\r\n\r\n{\"nonce\":")
            s.close()
        elif kind == "no-read":
            s.sendall(request_bytes("GET", "/v1/verdict"))
            s.close()
        elif kind == "reset-metrics":
            s.sendall(request_bytes("GET", "/metrics"))
            reset(s)
        elif kind == "half-read-metrics":
            s.sendall(request_bytes("GET", "/metrics"))
            s.recv(100)
            s.close()
        elif kind == "orphan-attest":
            body = json.dumps({"nonce": new_nonce()}).encode()
            s.sendall(request_bytes("POST", "/v1/attest", body, "application/json"))
            time.sleep(random.uniform(0, 0.2))
            reset(s)
        elif kind == "idle":
            load.stop.wait(random.uniform(0.2, 2.0))
            s.close()
        elif kind == "half-close":
            s.sendall(request_bytes("GET", "/v1/verdict"))
            s.shutdown(socket.SHUT_WR)
            code, _, body, _ = Conn(load, sock=s).read_reply()
            check_reply(load, "verdict", "GET", code, body)
            s.close()
    except ReplyError as e:
        load.stats.error("early %s: %s" % (kind, e))
        s.close()
    except OSError:
        s.close()
    load.stats.early_done(kind)


EARLY_KINDS = ["connect-close", "partial-head", "partial-body", "no-read", "reset-metrics", "half-read-metrics",
               "orphan-attest", "idle", "half-close"]


def early(load):
    def step():
        load.stats.add("inflight", 1)
        try:
            early_kind(load, random.choice(EARLY_KINDS))
        except OSError as e:
            load.stats.error("early connect: %s" % e)
        finally:
            load.stats.add("inflight", -1)

    paced(load, 4, step)


WORKERS = [verdict_ka, verdict_ka, verdict_ka, verdict_new, token, mixed, attest, refresh, early]


def main():
    ap = argparse.ArgumentParser(description="mixed load on attestd's socket (tests/soak/soak.sh)")
    ap.add_argument("--socket", required=True)
    ap.add_argument("--stats", required=True, help="JSON counters, rewritten every second")
    ap.add_argument("--rate", type=float, default=1.0, help="multiplier of every worker's rate")
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds a reply may take (attest: 6x, >= 90)")
    ap.add_argument("--seed", type=int)
    args = ap.parse_args()
    if args.rate <= 0 or args.timeout <= 0:
        ap.error("--rate and --timeout must be positive")
    if args.seed is not None:
        random.seed(args.seed)
    load = Load(args)

    def write_stats():
        tmp = args.stats + ".tmp"
        with open(tmp, "w") as f:
            json.dump(load.stats.snapshot(load.paused.is_set()), f, indent=1, sort_keys=True)
        os.replace(tmp, args.stats)

    signal.signal(signal.SIGTERM, lambda *_: load.stop.set())
    signal.signal(signal.SIGINT, lambda *_: load.stop.set())
    signal.signal(signal.SIGUSR1, lambda *_: load.paused.set())
    signal.signal(signal.SIGUSR2, lambda *_: load.paused.clear())
    threads = [threading.Thread(target=w, args=(load,), name=w.__name__, daemon=True) for w in WORKERS]
    for t in threads:
        t.start()
    while not load.stop.is_set():
        write_stats()
        load.stop.wait(1.0)
    deadline = time.monotonic() + load.attest_timeout + 5
    for t in threads:
        t.join(max(0.1, deadline - time.monotonic()))
    stuck = [t.name for t in threads if t.is_alive()]
    if stuck:
        load.stats.error("workers still waiting at exit: %s" % ", ".join(stuck))
    write_stats()
    snap = load.stats.snapshot(True)
    print("soak-load: %d requests, %d early disconnects, %d errors" %
          (snap["requests"], sum(snap["early"].values()), snap["errors"]))
    for m in snap["error_samples"]:
        print("soak-load: error: %s" % m)
    return 0 if snap["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
