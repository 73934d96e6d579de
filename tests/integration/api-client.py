#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Raw HTTP/1.1 client for the daemon's unix socket, for daemon-api.sh.

curl cannot send broken requests, hold connections open, trickle bytes or
pipeline, so the tests use this. Every subcommand prints facts as
`key=value` lines (or the raw response); the shell test judges them.

  raw SOCK [--timeout S] [--shut]      send stdin in one write, print the
                                       reply bytes; exit 2 if the daemon did
                                       not close within the timeout
  pipeline SOCK REQ...                 send "METHOD PATH" requests in one write,
                                       print one line per parsed response
  connlimit SOCK N                     hold N connections, try one more, close one
  slowloris SOCK INTERVAL_MS           trickle a request; time other clients meanwhile
  idle SOCK TIMEOUT_S                  connect, send nothing, time the close
  flood SOCK COUNT                     pipeline COUNT GET /metrics, never read, reset
                                       mid-reply; count the replies answered ahead
  orphan SOCK                          POST /v1/attest, then reset before the reply
"""
import select
import socket
import struct
import sys
import threading
import time


def connect(path, timeout=5.0):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    return s


def read_all(s, timeout):
    """Read until EOF; returns (data, closed)."""
    data = b""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return data, False
        s.settimeout(left)
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            return data, False
        except ConnectionResetError:
            return data, True
        if not chunk:
            return data, True
        data += chunk


def reset(s):
    """Close with RST instead of FIN."""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def parse_one(data, head_only):
    """Parse one response at the start of data: (code, headers, body, rest) or None."""
    end = data.find(b"\r\n\r\n")
    if end < 0 or not data.startswith(b"HTTP/1.1 "):
        return None
    lines = data[:end].decode("latin-1").split("\r\n")
    try:
        code = int(lines[0].split(" ")[1])
    except (IndexError, ValueError):
        return None
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = 0 if head_only or code == 100 else int(headers.get("content-length", "0"))
    body = data[end + 4:end + 4 + length]
    if len(body) < length:
        return None
    return code, headers, body, data[end + 4 + length:]


def read_reply(s):
    """Read one whole response on a kept-alive connection: (code, body) or (0, b"")."""
    data = b""
    while parse_one(data, False) is None:
        chunk = s.recv(65536)
        if not chunk:
            return 0, b""
        data += chunk
    r = parse_one(data, False)
    return r[0], r[2]


def request_bytes(method, path, last):
    return ("%s %s HTTP/1.1\r\nHost: localhost\r\n%s\r\n" %
            (method, path, "Connection: close\r\n" if last else "")).encode()


def get(path, target, timeout=5.0):
    """One GET on a fresh connection: (code, body, elapsed_ms)."""
    t0 = time.monotonic()
    s = connect(path, timeout)
    s.sendall(request_bytes("GET", target, True))
    data, _ = read_all(s, timeout)
    s.close()
    r = parse_one(data, False)
    return (r[0] if r else 0), (r[2] if r else b""), (time.monotonic() - t0) * 1000


def cmd_raw(args):
    timeout, shut = 5.0, False
    while args and args[0].startswith("--"):
        if args[0] == "--timeout":
            timeout = float(args[1])
            del args[0:2]
        elif args[0] == "--shut":
            shut = True
            del args[0]
        else:
            sys.exit("unknown option " + args[0])
    s = connect(args[0], timeout)
    s.sendall(sys.stdin.buffer.read())
    if shut:
        s.shutdown(socket.SHUT_WR)
    data, closed = read_all(s, timeout)
    s.close()
    sys.stdout.buffer.write(data)
    return 0 if closed else 2


def cmd_pipeline(args):
    reqs = [a.split(" ", 1) for a in args[1:]]
    s = connect(args[0])
    s.sendall(b"".join(request_bytes(m, p, i == len(reqs) - 1) for i, (m, p) in enumerate(reqs)))
    data, closed = read_all(s, 5.0)
    s.close()
    for i, (method, _) in enumerate(reqs):
        r = parse_one(data, method == "HEAD")
        if not r:
            print("%d garbage" % (i + 1))
            break
        code, headers, body, data = r
        print("%d %d cl=%s body=%s" % (i + 1, code, headers.get("content-length", "-"),
                                       body[:60].decode("latin-1").strip() or "-"))
    print("trailing=%d closed=%d" % (len(data), closed))
    return 0


def cmd_connlimit(args):
    path, n = args[0], int(args[1])
    held = [connect(path) for _ in range(n - 1)]
    # The n-th connection asks for the status (and stays open): served, it
    # proves the daemon accepted all n (the backlog is accepted in order).
    last = connect(path)
    last.sendall(request_bytes("GET", "/v1/status", False))
    code, body = read_reply(last)
    held.append(last)
    conns = "?"
    if b'"connections":' in body:
        conns = body.split(b'"connections":')[1].split(b",")[0].split(b"}")[0].decode()
    print("held=%d status=%d connections=%s" % (len(held), code, conns))

    t0 = time.monotonic()
    s = connect(path)
    try:
        s.sendall(request_bytes("GET", "/healthz", True))
    except (BrokenPipeError, ConnectionResetError):
        pass    # the refusal came first: it is in our receive queue
    data, closed = read_all(s, 5.0)
    s.close()
    ms = (time.monotonic() - t0) * 1000
    r = parse_one(data, False)
    print("extra_status=%d extra_closed=%d extra_ms=%d extra_retry_after=%s extra_body=%s" %
          (r[0] if r else 0, closed, ms, r[1].get("retry-after", "-") if r else "-",
           r[2].decode("latin-1").strip() if r else "-"))
    # The held ones still work: one more request on the kept-alive one.
    last.sendall(request_bytes("GET", "/healthz", False))
    print("held_again=%d" % read_reply(last)[0])

    held.pop(0).close()
    code, deadline = 0, time.monotonic() + 3.0
    while code != 200 and time.monotonic() < deadline:
        code, _, _ = get(path, "/healthz")
        if code != 200:
            time.sleep(0.05)
    print("after_close=%d" % code)
    for h in held:
        h.close()
    return 0


def cmd_slowloris(args):
    path, interval = args[0], int(args[1]) / 1000.0
    req = request_bytes("GET", "/healthz", True) * 4   # longer than the deadline allows
    result = {}

    def trickle():
        # One byte, then wait out the interval watching for the reply.
        s = connect(path, 10)
        t0 = time.monotonic()
        sent, data, closed = 0, b"", False
        try:
            while sent < len(req) and not closed:
                s.send(req[sent:sent + 1])
                sent += 1
                until = time.monotonic() + interval
                while not closed and time.monotonic() < until:
                    if select.select([s], [], [], until - time.monotonic())[0]:
                        chunk = s.recv(65536)
                        data += chunk
                        closed = not chunk
        except (BrokenPipeError, ConnectionResetError):
            closed = True
        if not closed:
            more, closed = read_all(s, 5.0)
            data += more
        result["ms"] = (time.monotonic() - t0) * 1000
        result["closed"] = closed
        result["sent"] = sent
        r = parse_one(data, False)
        result["status"] = r[0] if r else 0
        s.close()

    t = threading.Thread(target=trickle)
    t.start()
    time.sleep(0.2)
    worst = 0.0
    others = []
    while t.is_alive() and len(others) < 20:
        code, _, ms = get(path, "/healthz")
        others.append(code)
        worst = max(worst, ms)
        time.sleep(0.05)
    t.join()
    print("slow_status=%d slow_closed=%d slow_ms=%d slow_sent=%d others=%d others_ok=%d others_worst_ms=%d" %
          (result["status"], result["closed"], result["ms"], result["sent"], len(others),
           others.count(200), worst))
    return 0


def cmd_idle(args):
    path, timeout = args[0], float(args[1])
    t0 = time.monotonic()
    s = connect(path)
    data, closed = read_all(s, timeout)
    print("idle_closed=%d idle_ms=%d idle_bytes=%d" % (closed, (time.monotonic() - t0) * 1000, len(data)))
    return 0


def metrics_served(path):
    """How many GET /metrics the daemon has answered, as its /metrics says (itself excluded)."""
    _, body, _ = get(path, "/metrics")
    for line in body.decode().splitlines():
        if line.startswith('attestd_api_requests_total{route="metrics",code="200"}'):
            return int(line.split()[-1])
    return 0


def cmd_flood(args):
    """Pipeline COUNT requests for /metrics (a few KiB each) and never read:
    the daemon may answer ahead only as far as the socket buffers hold
    its replies, not queue every reply in its own memory."""
    path, count = args[0], int(args[1])
    before = metrics_served(path)
    s = connect(path)
    s.setblocking(False)
    buf = request_bytes("GET", "/metrics", False) * count
    sent, deadline = 0, time.monotonic() + 1.0
    while sent < len(buf) and time.monotonic() < deadline:
        try:
            sent += s.send(buf[sent:])
        except BlockingIOError:
            time.sleep(0.01)
    time.sleep(0.3)
    ahead = metrics_served(path) - before - 1
    reset(s)
    print("flood_requests=%d flood_served_ahead=%d" % (sent // len(request_bytes("GET", "/metrics", False)), ahead))
    return 0


def cmd_orphan(args):
    body = b'{"nonce":"b3JwaGFu"}'
    s = connect(args[0])
    s.sendall(b"POST /v1/attest HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    time.sleep(0.01)
    reset(s)
    print("orphaned=1")
    return 0


COMMANDS = {
    "raw": cmd_raw, "pipeline": cmd_pipeline, "connlimit": cmd_connlimit, "slowloris": cmd_slowloris,
    "idle": cmd_idle, "flood": cmd_flood, "orphan": cmd_orphan,
}

if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] not in COMMANDS:
        sys.exit(__doc__)
    sys.exit(COMMANDS[sys.argv[1]](sys.argv[2:]))
