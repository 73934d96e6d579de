#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Local HTTPS + HTTP test server for tests/integration/http-client.sh.

Serves canned answers that exercise daemon/http.c and daemon/maa.c: normal
answers, hangs, huge and truncated bodies, Retry-After in both forms,
redirects, slow answers, and fake MAA / IMDS routes. Listens on 127.0.0.1
only, on ports chosen by the kernel, which it writes as "TLS_PORT
PLAIN_PORT" to --port-file (atomically) once both sockets listen. Exits by
itself after --lifetime seconds.
"""
import argparse
import base64
import email.utils
import json
import os
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

REDIRECT_HITS = 0
LOCK = threading.Lock()

THIM_PEM = ("-----BEGIN CERTIFICATE-----\nMIIBVEK\n-----END CERTIFICATE-----\n")
THIM_CHAIN = ("-----BEGIN CERTIFICATE-----\nMIIBASK\n-----END CERTIFICATE-----\n"
              "-----BEGIN CERTIFICATE-----\nMIIBARK\n-----END CERTIFICATE-----\n")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # keep the test log readable
        pass

    def send_body(self, status, body, ctype="application/json", headers=()):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def read_body(self):
        n = int(self.headers.get("Content-Length", "0"))
        return self.rfile.read(n) if n else b""

    def do_GET(self):
        global REDIRECT_HITS
        url = urlparse(self.path)
        q = parse_qs(url.query)
        p = url.path
        if p == "/ok":
            self.send_body(200, '{"ok":true}')
        elif p == "/conn":
            self.send_body(200, str(self.client_address[1]), "text/plain")
        elif p == "/hang":
            time.sleep(30)
            self.send_body(200, "late")
        elif p == "/slow":
            time.sleep(int(q.get("ms", ["100"])[0]) / 1000.0)
            self.send_body(200, "slow", "text/plain")
        elif p == "/huge":
            n = 2 * 1024 * 1024
            self.send_response(200)
            self.send_header("Content-Length", str(n))
            self.end_headers()
            chunk = b"x" * 65536
            try:
                for _ in range(n // len(chunk)):
                    self.wfile.write(chunk)
            except OSError:
                pass
            self.close_connection = True
        elif p == "/huge-chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            chunk = b"y" * 65536
            try:
                for _ in range(32):
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.write(b"0\r\n\r\n")
            except OSError:
                pass
            self.close_connection = True
        elif p == "/retry-delta":
            self.send_body(429, '{"error":{"code":"TooManyRequests","message":"slow down"}}',
                           headers=[("Retry-After", "7")])
        elif p == "/retry-date":
            when = email.utils.formatdate(time.time() + 30, usegmt=True)
            self.send_body(503, "", headers=[("Retry-After", when)])
        elif p == "/truncated":
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"only ten b")
            self.wfile.flush()
            self.close_connection = True
        elif p == "/redirect":
            self.send_body(302, "moved", "text/plain", headers=[("Location", "/redirect-target")])
        elif p == "/redirect-target":
            with LOCK:
                REDIRECT_HITS += 1
            self.send_body(200, "followed", "text/plain")
        elif p == "/hits":
            with LOCK:
                self.send_body(200, str(REDIRECT_HITS), "text/plain")
        elif p == "/certs":
            self.send_body(200, '{"keys":[{"kid":"k1","kty":"RSA","x5c":["AAAA"]}]}')
        elif p == "/metadata/THIM/amd/certification":
            if self.headers.get("Metadata") != "true":
                self.send_body(400, '{"error":"Metadata header missing"}')
                return
            self.send_body(200, json.dumps({"vcekCert": THIM_PEM, "tcbm": "7308000000000003",
                                            "certificateChain": THIM_CHAIN, "cacheControl": "86400"}))
        else:
            self.send_body(404, '{"error":{"code":"NotFound","message":"no such route"}}')

    def do_POST(self):
        url = urlparse(self.path)
        q = parse_qs(url.query)
        body = self.read_body()
        if url.path == "/echo":
            self.send_body(200, json.dumps({
                "method": self.command,
                "body": body.decode("latin-1"),
                "user_agent": self.headers.get("User-Agent"),
                "content_type": self.headers.get("Content-Type"),
                "expect": self.headers.get("Expect"),
            }))
        elif url.path == "/attest/AzureGuest":
            if q.get("api-version") != ["2020-10-01"]:
                self.send_body(404, '{"error":{"code":"NotFound","message":"api-version"}}')
                return
            info = json.loads(body)["AttestationInfo"]
            inner = json.loads(base64.urlsafe_b64decode(info + "=" * (-len(info) % 4)))
            tok = "eyJhbGciOiJSUzI1NiJ9.%s.c2ln" % base64.urlsafe_b64encode(
                inner["OSDistro"].encode()).decode().rstrip("=")
            self.send_body(200, json.dumps({"token": tok}))
        elif url.path == "/acc/tdquote":
            report = json.loads(body)["report"]
            raw = base64.urlsafe_b64decode(report + "=" * (-len(report) % 4))
            quote = b"\x04\x00\x02\x00\x81\x00\x00\x00" + raw[:1024] + b"\x00" * 100
            self.send_body(200, json.dumps({"quote": base64.b64encode(quote).decode()}))
        else:
            self.send_body(404, '{"error":{"code":"NotFound","message":"no such route"}}')


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256


class TLSServer(Server):
    def __init__(self, addr, handler, ctx):
        super().__init__(addr, handler)
        self.ctx = ctx

    def get_request(self):
        sock, addr = self.socket.accept()
        # handshake in the handler thread, never in the accept loop
        return self.ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def handle_error(self, request, client_address):
        pass  # failed handshakes are what some tests want


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--lifetime", type=float, default=300)
    a = ap.parse_args()

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    tls = TLSServer(("127.0.0.1", 0), Handler, ctx)
    plain = Server(("127.0.0.1", 0), Handler)
    plain.handle_error = lambda request, client_address: None
    for s in (tls, plain):
        threading.Thread(target=s.serve_forever, daemon=True).start()
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d %d\n" % (tls.server_address[1], plain.server_address[1]))
    os.rename(tmp, a.port_file)
    time.sleep(a.lifetime)
    return 0


if __name__ == "__main__":
    sys.exit(main())
