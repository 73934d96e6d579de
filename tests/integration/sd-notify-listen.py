#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Stand-in for systemd's notification socket, for daemon-systemd.sh.

  sd-notify-listen.py NOTIFY_PATH LOG [API_SOCKET]

Binds an AF_UNIX datagram socket at NOTIFY_PATH and appends one line per
datagram to LOG: "<CLOCK_MONOTONIC usec> <fields joined by '|'>". With
API_SOCKET, a datagram carrying READY=1 is answered by an immediate
GET /healthz on API_SOCKET before anything else happens, and the line ends
with " probe=<HTTP status>" (0: no connection): readiness must mean the
API already serves. Runs until killed.
"""
import signal
import socket
import sys
import time


def probe(path):
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect(path)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        s.close()
        return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else 0
    except (OSError, ValueError, IndexError):
        return 0


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    notify_path, log_path = sys.argv[1], sys.argv[2]
    api = sys.argv[3] if len(sys.argv) == 4 else None
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(notify_path)
    with open(log_path, "a", buffering=1) as log:
        while True:
            msg = s.recv(4096)
            t = time.monotonic_ns() // 1000
            fields = msg.decode("utf-8", "replace").strip("\n").split("\n")
            line = "%d %s" % (t, "|".join(fields))
            if api and "READY=1" in fields:
                line += " probe=%d" % probe(api)
            log.write(line + "\n")


if __name__ == "__main__":
    main()
