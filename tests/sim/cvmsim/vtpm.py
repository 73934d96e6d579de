"""The simulated Azure vTPM: a connection to swtpm, the raw TPM operations the
simulator needs, and the "paravisor" proxy that guests talk to.

The proxy listens on P (data) and P+1 (control) like swtpm's TCP server, so
the TCTI string swtpm:host=127.0.0.1,port=P works unchanged. It relays each
client command byte-exact to one persistent upstream connection to swtpm
(commands of concurrent clients are interleaved at command granularity, like
a TPM device without resource manager), watches for successful NV_Write to
the user-data index 0x01400002 and, after a delay, rewrites the HCL report at
0x01400001 by injecting its own commands between client commands.
"""

import errno
import logging
import socket
import struct
import threading
import time

from . import tpm
from .tpm import (u16, u32, tpm2b, command, pw_auth, TpmError)

log = logging.getLogger("vtpm")

NV_HCL_REPORT = 0x01400001
NV_USER_DATA = 0x01400002
NV_AK_CERT = 0x01C101D0
AK_HANDLE = 0x81000003
NV_BUFFER_MAX = 1024
MAX_COMMAND = 64 * 1024


def recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            if not buf:
                return None
            raise ConnectionError("connection closed mid-message")
        buf += chunk
    return bytes(buf)


def read_message(sock):
    """Read one TPM command/response (10-byte header + body); None on EOF."""
    hdr = recv_exact(sock, 10)
    if hdr is None:
        return None
    size = struct.unpack(">I", hdr[2:6])[0]
    if size < 10 or size > MAX_COMMAND:
        raise ConnectionError("bad TPM message size %d" % size)
    body = recv_exact(sock, size - 10) if size > 10 else b""
    if body is None:
        raise ConnectionError("connection closed mid-message")
    return hdr + body


class Upstream:
    """One persistent connection to swtpm's data socket (unix)."""

    def __init__(self, path):
        self.path = path
        self.sock = None
        self.lock = threading.RLock()

    def connect(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(self.path)
                self.sock = s
                return
            except OSError:
                s.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def close(self):
        with self.lock:
            if self.sock:
                self.sock.close()
                self.sock = None

    def transact(self, cmd):
        with self.lock:
            if self.sock is None:
                self.connect(timeout=2.0)
            try:
                self.sock.sendall(cmd)
                rsp = read_message(self.sock)
                if rsp is None:
                    raise ConnectionError("swtpm closed the connection")
                return rsp
            except OSError:
                self.close()
                raise

    def call(self, cc, handles=(), params=b"", auth=None, nh_out=0):
        """Run a command; auth = None (no sessions) or a list of passwords,
        one password session per authorized handle."""
        sessions = None
        if auth is not None:
            area = b""
            for pw in auth:
                area += pw_auth(pw)[4:]
            sessions = u32(len(area)) + area
        rsp = self.transact(command(cc, handles, params, sessions))
        tpm.check_response(cc, rsp)
        return tpm.response_params(rsp, nh_out)


# ---- TPM operations (caller may hold up.lock to make sequences atomic) ------
def startup(up, su=tpm.SU_CLEAR):
    up.call(tpm.CC_Startup, params=u16(su))


def pcr_allocate(up, algs):
    sel = tpm.pcr_selection([(a, list(range(24))) for a in algs])
    up.call(tpm.CC_PCR_Allocate, [tpm.RH_PLATFORM], sel, auth=[b""])


def active_banks(up):
    _, p = up.call(tpm.CC_GetCapability, params=u32(5) + u32(0) + u32(16))
    r = tpm.Reader(p[5:])
    return [(alg, pcrs) for alg, pcrs in tpm.parse_pcr_selection(r)]


def create_primary(up, hierarchy, template):
    sens = tpm2b(tpm2b(b"") + tpm2b(b""))
    params = sens + tpm2b(template) + tpm2b(b"") + u32(0)
    (handle,), p = up.call(tpm.CC_CreatePrimary, [hierarchy], params, auth=[b""], nh_out=1)
    r = tpm.Reader(p)
    pub = tpm.Public(r.tpm2b())
    return handle, pub


def flush(up, handle):
    up.call(tpm.CC_FlushContext, params=u32(handle))


def evict(up, handle, persistent):
    up.call(tpm.CC_EvictControl, [tpm.RH_OWNER, handle], u32(persistent), auth=[b""])


def read_public(up, handle):
    _, p = up.call(tpm.CC_ReadPublic, [handle])
    r = tpm.Reader(p)
    return tpm.Public(r.tpm2b())


def nv_define(up, index, size, attrs):
    pub = u32(index) + u16(tpm.ALG_SHA256) + u32(attrs) + tpm2b(b"") + u16(size)
    up.call(tpm.CC_NV_DefineSpace, [tpm.RH_OWNER], tpm2b(b"") + tpm2b(pub), auth=[b""])


def nv_undefine(up, index):
    up.call(tpm.CC_NV_UndefineSpace, [tpm.RH_OWNER, index], auth=[b""])


def nv_read_public(up, index):
    _, p = up.call(tpm.CC_NV_ReadPublic, [index])
    r = tpm.Reader(tpm.Reader(p).tpm2b())
    idx, name_alg, attrs = r.u32(), r.u16(), r.u32()
    r.tpm2b()
    return {"index": idx, "attrs": attrs, "size": r.u16()}


def nv_write(up, index, data, auth_handle=tpm.RH_OWNER, offset=0):
    with up.lock:
        pos = 0
        while pos < len(data):
            chunk = data[pos:pos + NV_BUFFER_MAX]
            up.call(tpm.CC_NV_Write, [auth_handle, index],
                    tpm2b(chunk) + u16(offset + pos), auth=[b""])
            pos += len(chunk)


def nv_read(up, index, size, auth_handle=tpm.RH_OWNER):
    out = b""
    with up.lock:
        while len(out) < size:
            n = min(NV_BUFFER_MAX, size - len(out))
            _, p = up.call(tpm.CC_NV_Read, [auth_handle, index], u16(n) + u16(len(out)),
                           auth=[b""])
            out += tpm.Reader(p).tpm2b()
    return out


def pcr_extend(up, pcr, digests):
    vals = u32(len(digests)) + b"".join(u16(a) + d for a, d in digests.items())
    up.call(tpm.CC_PCR_Extend, [pcr], vals, auth=[b""])


def pcr_read(up, alg, pcrs):
    """Read PCRs of one bank (≤8 per command)."""
    out = {}
    todo = list(pcrs)
    while todo:
        batch = todo[:8]
        _, p = up.call(tpm.CC_PCR_Read, params=tpm.pcr_selection([(alg, batch)]))
        r = tpm.Reader(p)
        r.u32()
        sel = tpm.parse_pcr_selection(r)
        n = r.u32()
        got = sel[0][1] if sel else []
        for i in range(n):
            out[got[i]] = r.tpm2b()
        todo = [p_ for p_ in todo if p_ not in out]
        if not got:
            raise TpmError(tpm.CC_PCR_Read, tpm.RC_FAILURE)
    return out


def swtpm_ctrl(path, cmd, payload=b"", rsp_len=4, timeout=10.0):
    """One swtpm control-channel command (e.g. CMD_INIT=2, CMD_SHUTDOWN=3)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
        s.sendall(u32(cmd) + payload)
        rsp = recv_exact(s, rsp_len)
        if rsp is None:
            raise ConnectionError("swtpm control channel closed")
        res = struct.unpack(">I", rsp[:4])[0]
        if res != 0:
            raise TpmError(cmd, res)
    finally:
        s.close()


# ---- the paravisor proxy ---------------------------------------------------
def bind_pair(host="127.0.0.1", attempts=200):
    """Bind two listening TCP sockets on adjacent ports P, P+1 (no release
    race: both stay bound). The kernel chooses P; retry if P+1 is taken."""
    for _ in range(attempts):
        a = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        a.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        a.bind((host, 0))
        port = a.getsockname()[1]
        if port >= 65535:
            a.close()
            continue
        b = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        b.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            b.bind((host, port + 1))
        except OSError as e:
            a.close()
            b.close()
            if e.errno == errno.EADDRINUSE:
                continue
            raise
        a.listen(16)
        b.listen(16)
        return a, b, port
    raise OSError("could not bind two adjacent loopback ports")


class Paravisor:
    def __init__(self, upstream, ctrl_path, faults, on_user_data_written, on_crash):
        self.up = upstream
        self.ctrl_path = ctrl_path
        self.faults = faults
        self.on_user_data_written = on_user_data_written
        self.on_crash = on_crash
        self.data_sock, self.ctrl_sock, self.port = bind_pair()
        self.stopping = False
        self.clients = set()
        self.clients_lock = threading.Lock()
        self.stats = {"commands": 0, "clients": 0, "user_data_writes": 0}

    def start(self):
        for fn, s in ((self._serve_data, self.data_sock), (self._serve_ctrl, self.ctrl_sock)):
            threading.Thread(target=self._accept_loop, args=(s, fn), daemon=True).start()

    def stop(self):
        self.stopping = True
        for s in (self.data_sock, self.ctrl_sock):
            try:
                s.close()
            except OSError:
                pass
        with self.clients_lock:
            for c in list(self.clients):
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _accept_loop(self, lsock, fn):
        while not self.stopping:
            try:
                conn, _ = lsock.accept()
            except OSError:
                if self.stopping:
                    return
                time.sleep(0.01)
                continue
            threading.Thread(target=self._client, args=(conn, fn), daemon=True).start()

    def _client(self, conn, fn):
        with self.clients_lock:
            self.clients.add(conn)
        try:
            fn(conn)
        except (OSError, ConnectionError) as e:
            log.debug("client connection ended: %s", e)
        except Exception:
            log.exception("proxy client handler failed")
        finally:
            with self.clients_lock:
                self.clients.discard(conn)
            try:
                conn.close()
            except OSError:
                pass

    def _serve_data(self, conn):
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.stats["clients"] += 1
        while True:
            cmd = read_message(conn)
            if cmd is None:
                return
            tag, size, cc = tpm.header(cmd)
            fault = self.faults.take("tpm", accept=lambda kind, opts: opts.get("cc") in (None, cc))
            if fault is not None:
                kind, opts = fault
                if kind == "tpm-drop":
                    log.info("fault tpm-drop: closing client mid-command 0x%x", cc)
                    conn.shutdown(socket.SHUT_RDWR)
                    return
                if kind == "tpm-crash":
                    log.info("fault tpm-crash: swtpm killed with command 0x%x in flight", cc)
                    self.on_crash(cmd)
                    conn.shutdown(socket.SHUT_RDWR)
                    return
                if kind == "tpm-error":
                    rc = int(opts.get("rc", tpm.RC_FAILURE))
                    log.info("fault tpm-error: answering command 0x%x with rc 0x%x", cc, rc)
                    conn.sendall(u16(tpm.ST_NO_SESSIONS) + u32(10) + u32(rc))
                    continue
            rsp = self.up.transact(cmd)
            self.stats["commands"] += 1
            if cc == tpm.CC_NV_Write and size >= 18:
                index = struct.unpack(">I", cmd[14:18])[0]
                rc = struct.unpack(">I", rsp[6:10])[0]
                if index == NV_USER_DATA and rc == 0:
                    self.stats["user_data_writes"] += 1
                    self.on_user_data_written()
            conn.sendall(rsp)

    def _serve_ctrl(self, conn):
        up = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        up.connect(self.ctrl_path)
        done = threading.Event()

        def pump(src, dst):
            try:
                while True:
                    b = src.recv(65536)
                    if not b:
                        break
                    dst.sendall(b)
            except OSError:
                pass
            finally:
                for s in (src, dst):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                done.set()

        t = threading.Thread(target=pump, args=(up, conn), daemon=True)
        t.start()
        pump(conn, up)
        t.join(5)
        up.close()


class Regenerator:
    """Debounced delayed job: schedule() (re)arms it, run in its own thread."""

    def __init__(self, delay_s, fn):
        self.delay_s = delay_s
        self.fn = fn
        self.cond = threading.Condition()
        self.deadline = None
        self.stopping = False
        self.runs = 0
        threading.Thread(target=self._loop, daemon=True).start()

    def schedule(self):
        with self.cond:
            self.deadline = time.monotonic() + self.delay_s
            self.cond.notify()

    def pending(self):
        return self.deadline is not None

    def stop(self):
        with self.cond:
            self.stopping = True
            self.cond.notify()

    def _loop(self):
        while True:
            with self.cond:
                while not self.stopping:
                    if self.deadline is None:
                        self.cond.wait()
                        continue
                    left = self.deadline - time.monotonic()
                    if left <= 0:
                        break
                    self.cond.wait(left)
                if self.stopping:
                    return
                self.deadline = None
            try:
                self.fn()
                self.runs += 1
            except Exception:
                log.exception("report regeneration failed")
