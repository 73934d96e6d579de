"""The simulator daemon: owns swtpm, provisions it like an Azure vTPM, runs the
paravisor proxy, the MAA/IMDS emulator and a control socket for the CLI."""

import ctypes
import hashlib
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from . import eventlog, faults, hcl, maa, pki, tpm, vtpm
from .tpm import u32

log = logging.getLogger("sim")

CMD_INIT = 2
CMD_SHUTDOWN = 3


def pdeathsig():
    """Child helper: die with SIGTERM when the simulator daemon dies (strictly:
    when the thread that started it ends, hence Sim.spawner)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def shq(s):
    return "'" + str(s).replace("'", "'\\''") + "'"


class Sim:
    def __init__(self, opts):
        self.opts = opts
        self.dir = os.path.abspath(opts["dir"])
        self.tee = opts.get("tee", "snp")
        self.token_lifetime = int(opts.get("token_lifetime", 28800))
        self.hcl_version = int(opts.get("hcl_version", 2))
        self.aes_key_bits = int(opts.get("aes_key_bits", 256))
        self.delay_s = int(opts.get("paravisor_delay_ms", 300)) / 1000.0
        self.vmid = opts.get("vmid") or str(uuid.uuid4()).upper()
        self.seed = secrets.token_bytes(32)
        self.faults = faults.FaultState()
        self.tamper = {}
        self.stop_event = threading.Event()
        self.swtpm = None
        self.up = None
        self.paravisor = None
        self.regen = None
        self.emu = None
        self.ctl_sock = None
        self.trust = {}
        self.started = time.time()
        self.report_writes = 0
        self.swtpm_restarts = 0
        # swtpm is always started from this one thread, which lives as long
        # as the daemon: PR_SET_PDEATHSIG fires when the forking thread ends.
        self.spawner = ThreadPoolExecutor(max_workers=1)
        self.state_lock = threading.RLock()
        rd = os.path.join(self.dir, "run")
        if len(rd) + len("/control.sock") > 100:
            rd = tempfile.mkdtemp(prefix="cvmsim-", dir="/tmp")
        self.rundir = rd

    def path(self, rel):
        return os.path.join(self.dir, rel)

    # ---- swtpm ---------------------------------------------------------------
    def start_swtpm(self):
        st = self.path("swtpm")
        shutil.rmtree(st, ignore_errors=True)
        os.makedirs(st)
        os.makedirs(self.rundir, exist_ok=True)
        self.data_path = os.path.join(self.rundir, "tpm-data.sock")
        self.ctrl_path = os.path.join(self.rundir, "tpm-ctrl.sock")
        self.spawner.submit(self.spawn_swtpm).result()
        self.up = vtpm.Upstream(self.data_path)
        self.up.connect(timeout=10)

    def spawn_swtpm(self):
        """Run swtpm on the state in DIR/swtpm (kept across restarts)."""
        st = self.path("swtpm")
        for p in (self.data_path, self.ctrl_path):
            if os.path.exists(p):
                os.unlink(p)
        argv = ["swtpm", "socket", "--tpm2",
                "--server", "type=unixio,path=%s" % self.data_path,
                "--ctrl", "type=unixio,path=%s" % self.ctrl_path,
                "--tpmstate", "dir=%s" % st,
                "--flags", "not-need-init,startup-clear",
                "--log", "file=%s,level=1" % self.path("swtpm.log")]
        self.swtpm = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                      stdout=open(self.path("swtpm.out"), "ab"),
                                      stderr=subprocess.STDOUT, preexec_fn=pdeathsig,
                                      close_fds=True)
        with open(self.path("swtpm.pid"), "w") as f:
            f.write("%d\n" % self.swtpm.pid)
        deadline = time.monotonic() + 15
        while not (os.path.exists(self.data_path) and os.path.exists(self.ctrl_path)):
            if self.swtpm.poll() is not None:
                raise RuntimeError("swtpm exited with status %s (see %s)"
                                   % (self.swtpm.returncode, self.path("swtpm.log")))
            if time.monotonic() > deadline:
                raise RuntimeError("swtpm did not create its sockets within 15 s")
            time.sleep(0.005)

    def swtpm_exited(self):
        with self.state_lock:
            return self.swtpm.poll() is not None

    def crash_tpm(self, cmd):
        """Fault tpm-crash: SIGKILL swtpm with cmd in flight, then run it again
        on its saved state (NV indices and persistent objects survive, like
        after a power loss) and boot it like `reboot` does. Nothing else
        reaches the TPM meanwhile (the upstream lock is held throughout)."""
        with self.state_lock, self.up.lock:
            try:
                if self.up.sock is not None:
                    self.up.sock.sendall(cmd)
            except OSError:
                pass
            self.swtpm.kill()
            self.swtpm.wait()
            self.up.close()
            self.spawner.submit(self.spawn_swtpm).result()
            self.up.connect(timeout=10)
            self.swtpm_restarts += 1
            self.tamper.pop("pcr", None)
            self.extend_log()
            self.write_report(bytes(64))
        self.save_state()
        log.info("swtpm restarted after a crash (pid %d)", self.swtpm.pid)

    def tpm_reset(self):
        """_TPM_Init through swtpm's control channel, then TPM2_Startup(CLEAR)."""
        with self.up.lock:
            vtpm.swtpm_ctrl(self.ctrl_path, CMD_INIT, u32(0))
            try:
                vtpm.startup(self.up)
            except (OSError, ConnectionError):
                self.up.close()
                self.up.connect(timeout=5)
                vtpm.startup(self.up)

    # ---- PKI -----------------------------------------------------------------
    def gen_pki(self):
        t0 = time.monotonic()
        os.makedirs(self.path("pki"), exist_ok=True)
        k = {}
        k["vtpm_ca"] = pki.rsa_key()
        k["maa_sign"] = pki.rsa_key()
        k["ark"] = pki.ec_key(ec.SECP384R1)
        k["ask"] = pki.ec_key(ec.SECP384R1)
        k["vcek"] = pki.ec_key(ec.SECP384R1)
        k["tdx_root"] = pki.ec_key()
        k["tdx_att"] = pki.ec_key()
        k["tls_ca"] = pki.ec_key()
        k["tls"] = pki.ec_key()
        self.keys = k
        c = {}
        c["vtpm_ca"] = pki.self_signed_ca("Simulated Global Virtual TPM CA - 03", k["vtpm_ca"],
                                          org="attestd cvm-sim")
        c["ark"] = pki.self_signed_ca("ARK-Milan", k["ark"], org="Advanced Micro Devices (simulated)")
        c["ask"] = pki.cert(pki.name("SEV-Milan", "Advanced Micro Devices (simulated)"),
                            k["ask"].public_key(), c["ark"].subject, k["ark"], ca=True,
                            days=3650, path_len=0)
        c["vcek"] = pki.cert(pki.name("SEV-VCEK", "Advanced Micro Devices (simulated)"),
                             k["vcek"].public_key(), c["ask"].subject, k["ask"], days=2555)
        c["tdx_root"] = pki.self_signed_ca("Intel SGX Root CA (simulated)", k["tdx_root"],
                                           org="Intel Corporation (simulated)")
        c["tdx_att"] = pki.cert(pki.name("TD Quote Attestation Key (simulated)",
                                         "Intel Corporation (simulated)"),
                                k["tdx_att"].public_key(), c["tdx_root"].subject, k["tdx_root"],
                                days=3650)
        c["tls_ca"] = pki.self_signed_ca("cvm-sim test CA", k["tls_ca"], org="attestd cvm-sim")
        c["tls"] = pki.cert(pki.name("127.0.0.1"), k["tls"].public_key(), c["tls_ca"].subject,
                            k["tls_ca"], days=30, san_ip="127.0.0.1",
                            eku=[x509.oid.ExtendedKeyUsageOID.SERVER_AUTH])
        self.trust = c
        P = self.path
        pki.write(P("pki/vtpm-ca.pem"), pki.pem(c["vtpm_ca"]))
        pki.write(P("pki/vtpm-ca.key"), pki.key_pem(k["vtpm_ca"]), 0o600)
        pki.write(P("pki/ark.pem"), pki.pem(c["ark"]))
        pki.write(P("pki/ask.pem"), pki.pem(c["ask"]))
        pki.write(P("pki/vcek.pem"), pki.pem(c["vcek"]))
        pki.write(P("pki/vcek.key"), pki.key_pem(k["vcek"]), 0o600)
        pki.write(P("pki/vcek-chain.pem"), pki.pem(c["vcek"]) + pki.pem(c["ask"]) + pki.pem(c["ark"]))
        pki.write(P("pki/tdx-root.pem"), pki.pem(c["tdx_root"]))
        pki.write(P("pki/tdx-attest.pem"), pki.pem(c["tdx_att"]))
        pki.write(P("pki/tdx-attest.key"), pki.key_pem(k["tdx_att"]), 0o600)
        pki.write(P("pki/tls-server.pem"), pki.pem(c["tls"]))
        pki.write(P("pki/tls-server.key"), pki.key_pem(k["tls"]), 0o600)
        pki.write(P("ca.pem"), pki.pem(c["tls_ca"]))
        self.snp = hcl.SnpPlatform(k["vcek"], self.seed, int(self.opts.get("snp_version", 2)))
        self.tdx = hcl.TdxPlatform(hashlib.sha256(self.seed + b"tdx-mac").digest(), self.seed)
        self.tdx_att_key = k["tdx_att"]
        self.tdx_chain_pem = pki.pem(c["tdx_att"]) + pki.pem(c["tdx_root"])
        log.info("PKI generated in %.3f s", time.monotonic() - t0)

    def issue_ak_cert(self, ca_cert, ca_key):
        n = self.ak_pub.n
        from cryptography.hazmat.primitives.asymmetric import rsa
        pub = rsa.RSAPublicNumbers(self.ak_pub.e, n).public_key()
        c = pki.cert(pki.name(self.vmid), pub, ca_cert.subject, ca_key, days=365,
                     eku=[pki.TCG_KP_AIK_CERTIFICATE])
        return pki.der(c)

    # ---- provisioning --------------------------------------------------------
    def provision_tpm_keys(self):
        up = self.up
        banks = vtpm.active_banks(up)
        want = [tpm.ALG_SHA1, tpm.ALG_SHA256]
        if sorted(a for a, p in banks if p) != want:
            vtpm.pcr_allocate(up, want)
            self.tpm_reset()
        h, self.ak_pub = vtpm.create_primary(up, tpm.RH_OWNER, tpm.ak_template())
        vtpm.evict(up, h, vtpm.AK_HANDLE)
        vtpm.flush(up, h)
        h, self.ek_pub = vtpm.create_primary(up, tpm.RH_ENDORSEMENT, tpm.ek_template())
        vtpm.flush(up, h)

    def extend_log(self):
        data = open(self.path("eventlog.bin"), "rb").read()
        algs, loc, events = eventlog.parse(data)
        with self.up.lock:
            for ev in events:
                if ev.type == eventlog.EV_NO_ACTION:
                    continue
                vtpm.pcr_extend(self.up, ev.pcr, ev.digests)

    def provision(self):
        t0 = time.monotonic()
        self.start_swtpm()
        t_sw = time.monotonic()
        pki_err = []

        def pki_thread():
            try:
                self.gen_pki()
            except Exception as e:  # reported below
                log.exception("PKI generation failed")
                pki_err.append(e)

        th = threading.Thread(target=pki_thread)
        th.start()
        self.provision_tpm_keys()
        log_b = eventlog.build_boot_log(self.seed)
        pki.write(self.path("eventlog.bin"), log_b.serialize())
        self.extend_log()
        t_tpm = time.monotonic()
        th.join()
        if pki_err:
            raise RuntimeError("PKI generation failed: %s" % pki_err[0])
        up = self.up
        attrs = (tpm.NV_OWNERWRITE | tpm.NV_AUTHWRITE | tpm.NV_OWNERREAD |
                 tpm.NV_AUTHREAD | tpm.NV_NO_DA)
        self.ak_cert_der = self.issue_ak_cert(self.trust["vtpm_ca"], self.keys["vtpm_ca"])
        pki.write(self.path("pki/ak-cert.der"), self.ak_cert_der)
        vtpm.nv_define(up, vtpm.NV_AK_CERT, 2048, attrs)
        self.write_ak_cert(self.ak_cert_der)
        vtpm.nv_define(up, vtpm.NV_HCL_REPORT, hcl.HCL_NV_SIZE, attrs)
        ud_attrs = tpm.NV_OWNERWRITE | tpm.NV_AUTHWRITE | tpm.NV_OWNERREAD | tpm.NV_AUTHREAD
        vtpm.nv_define(up, vtpm.NV_USER_DATA, 64, ud_attrs)
        vtpm.nv_write(up, vtpm.NV_USER_DATA, bytes(64))
        self.write_report(bytes(64))
        log.info("provisioned: swtpm %.3f s, tpm keys+log %.3f s, total %.3f s",
                 t_sw - t0, t_tpm - t_sw, time.monotonic() - t0)

    def write_ak_cert(self, der):
        vtpm.nv_write(self.up, vtpm.NV_AK_CERT, der + bytes(2048 - len(der)))

    # ---- HCL report ----------------------------------------------------------
    def vm_configuration(self):
        thumb = hcl.b64url(hashlib.sha256(pki.der(self.trust["vtpm_ca"])).digest())
        return {"console-enabled": True, "root-cert-thumbprint": thumb,
                "secure-boot": not self.tamper.get("secure-boot-off", False),
                "tpm-enabled": True, "tpm-persisted": False, "vmUniqueId": self.vmid}

    def build_report(self, user_data):
        t = self.tamper
        ak = (self.ak_pub.modulus, self.ak_pub.e)
        if t.get("ak-mismatch"):
            if not hasattr(self, "rogue_ak"):
                self.rogue_ak = pki.rsa_key().public_key().public_numbers()
            ak = (self.rogue_ak.n.to_bytes(256, "big"), self.rogue_ak.e)
        # HCLEkPub is omitted: AK + EK + vm-configuration + user-data need
        # 2437 bytes, more than swtpm's 2048-byte NV index limit (see README).
        ek = (self.ek_pub.modulus, self.ek_pub.e) if self.opts.get("hcl_ek") else None
        vmcfg = self.vm_configuration()
        claims = hcl.runtime_claims(ak, ek, vmcfg, user_data)
        rd = hcl.report_data_for(claims)
        if t.get("hcl-binding"):
            # the stored runtime claims are not the ones the hardware signed
            vmcfg = dict(vmcfg)
            vmcfg["console-enabled"] = False
            claims = hcl.runtime_claims(ak, ek, vmcfg, user_data)
        dbg = bool(t.get("debuggable"))
        if self.tee == "tdx":
            hw = self.tdx.report(rd, dbg)
            rtype = hcl.REPORT_TYPE_TDX
        else:
            hw = self.snp.report(rd, dbg)
            rtype = hcl.REPORT_TYPE_SNP
        return hcl.hcl_report(hw, rtype, claims, self.hcl_version)

    def write_report(self, user_data):
        with self.state_lock, self.up.lock:
            blob = self.build_report(user_data)
            vtpm.nv_write(self.up, vtpm.NV_HCL_REPORT, blob)
            self.report_writes += 1
            self.last_user_data = user_data
        pki.write(self.path("hcl-report.bin"), blob)
        log.info("HCL report written (user-data %s…)", user_data[:8].hex().upper())

    def regenerate_from_nv(self):
        """What the paravisor does after the guest wrote 0x01400002."""
        if self.tamper.get("paravisor-stuck"):
            log.info("paravisor stuck: not regenerating the report")
            return
        with self.state_lock, self.up.lock:
            try:
                pub = vtpm.nv_read_public(self.up, vtpm.NV_USER_DATA)
            except tpm.TpmError as e:
                log.warning("user-data index unreadable (%s); report not regenerated", e)
                return
            auth = vtpm.NV_USER_DATA
            if pub["attrs"] & tpm.NV_OWNERREAD:
                auth = tpm.RH_OWNER
            size = min(pub["size"], 64)
            try:
                data = vtpm.nv_read(self.up, vtpm.NV_USER_DATA, size, auth)
            except tpm.TpmError as e:
                log.warning("cannot read user data (%s); report not regenerated", e)
                return
            self.write_report((data + bytes(64))[:64])

    def user_data_written(self):
        if self.tamper.get("paravisor-stuck"):
            log.info("user data written; paravisor stuck, ignoring")
            return
        self.regen.schedule()

    # ---- operations (control socket) ----------------------------------------
    def reboot(self):
        with self.state_lock, self.up.lock:
            self.tpm_reset()
            self.tamper.pop("pcr", None)
            self.extend_log()
            self.write_report(bytes(64))
        self.save_state()
        log.info("rebooted")
        return {"rebooted": True}

    def do_tamper(self, what, pcr=None):
        with self.state_lock:
            if what == "restore":
                self.tamper.clear()
                self.write_ak_cert(self.ak_cert_der)
                return self.reboot()
            if what == "pcr":
                pcr = 4 if pcr is None else int(pcr)
                if not 0 <= pcr <= 7:
                    raise ValueError("--pcr must be 0..7")
                junk = os.urandom(32)
                vtpm.pcr_extend(self.up, pcr, {tpm.ALG_SHA1: hashlib.sha1(junk).digest(),
                                               tpm.ALG_SHA256: hashlib.sha256(junk).digest()})
                self.tamper.setdefault("pcr", []).append(pcr)
            elif what == "ak-cert":
                if "rogue_ca" not in self.keys:
                    self.keys["rogue_ca"] = pki.rsa_key()
                    self.trust["rogue_ca"] = pki.self_signed_ca(
                        "Simulated Global Virtual TPM CA - 03", self.keys["rogue_ca"],
                        org="attestd cvm-sim")  # same name as the real CA, other key
                    pki.write(self.path("pki/rogue-ca.pem"), pki.pem(self.trust["rogue_ca"]))
                der = self.issue_ak_cert(self.trust["rogue_ca"], self.keys["rogue_ca"])
                self.write_ak_cert(der)
                self.tamper["ak-cert"] = True
            elif what in ("secure-boot-off", "debuggable", "hcl-binding", "ak-mismatch"):
                self.tamper[what] = True
                self.write_report(self.last_user_data)
            elif what == "paravisor-stuck":
                self.tamper[what] = True
            else:
                raise ValueError("unknown tamper kind %r" % what)
        self.save_state()
        return {"tamper": dict(self.tamper)}

    def tpm_healthy(self):
        try:
            with self.up.lock:
                self.up.call(tpm.CC_GetCapability, params=u32(6) + u32(0x100) + u32(1))
            return True
        except Exception as e:
            log.warning("TPM health check failed: %s", e)
            return False

    def status(self):
        return {
            "running": True, "pid": os.getpid(),
            "swtpm_pid": self.swtpm.pid if self.swtpm else None,
            "swtpm_alive": self.swtpm is not None and self.swtpm.poll() is None,
            "tpm_ok": self.tpm_healthy(), "tee": self.tee, "dir": self.dir,
            "tpm_port": self.paravisor.port, "maa_url": self.emu.url,
            "imds_url": self.emu.imds_url, "uptime_s": round(time.time() - self.started, 3),
            "tamper": dict(self.tamper), "faults": self.faults.snapshot(),
            "report_writes": self.report_writes,
            "swtpm_restarts": self.swtpm_restarts,
            "regen_pending": self.regen.pending(),
            "proxy": dict(self.paravisor.stats), "emulator": dict(self.emu.counts),
            "kids": [k.kid for k in self.emu.keys],
        }

    def control(self, req):
        cmd = req.get("cmd")
        if cmd == "status":
            return self.status()
        if cmd == "fault":
            kind = req["kind"]
            if kind == "clear":
                self.faults.clear()
                return {"faults": self.faults.snapshot()}
            if kind not in faults.ALL:
                raise ValueError("unknown fault kind %r" % kind)
            if kind == "key-rotation":
                return {"kid": self.emu.rotate(bool(req.get("drop_old")))}
            opts = {}
            for k in ("retry_after", "delay_ms", "rc", "cc"):
                if req.get(k) is not None:
                    opts[k] = req[k]
            self.faults.set(kind, int(req.get("count", 1)), **opts)
            return {"faults": self.faults.snapshot()}
        if cmd == "tamper":
            return self.do_tamper(req["what"], req.get("pcr"))
        if cmd == "reboot":
            return self.reboot()
        if cmd == "stop":
            self.stop_event.set()
            return {"stopping": True}
        raise ValueError("unknown command %r" % cmd)

    def serve_control(self):
        while not self.stop_event.is_set():
            try:
                conn, _ = self.ctl_sock.accept()
            except OSError:
                return
            threading.Thread(target=self._control_conn, args=(conn,), daemon=True).start()

    def _control_conn(self, conn):
        try:
            conn.settimeout(60)
            f = conn.makefile("rwb")
            line = f.readline(65536)
            try:
                req = json.loads(line)
                rsp = {"ok": True, "result": self.control(req)}
            except Exception as e:
                log.exception("control request failed")
                rsp = {"ok": False, "error": str(e)}
            f.write(json.dumps(rsp).encode() + b"\n")
            f.flush()
        except OSError:
            pass
        finally:
            conn.close()

    # ---- files -----------------------------------------------------------------
    def write_files(self):
        P = self.path
        tcti = "swtpm:host=127.0.0.1,port=%d" % self.paravisor.port
        env = [
            ("ATTESTD_SIM_DIR", self.dir), ("ATTESTD_SIM_TEE", self.tee),
            ("ATTESTD_SIM_TCTI", tcti), ("ATTESTD_SIM_TPM_PORT", self.paravisor.port),
            ("ATTESTD_SIM_MAA_URL", self.emu.url), ("ATTESTD_SIM_IMDS_URL", self.emu.imds_url),
            ("ATTESTD_SIM_CA_FILE", P("ca.pem")), ("ATTESTD_SIM_EVENTLOG", P("eventlog.bin")),
            ("ATTESTD_SIM_CONFIG", P("attestd.json")), ("ATTESTD_SIM_POLICY", P("policy.json")),
            ("ATTESTD_SIM_SOCKET", P("attestd.sock")), ("ATTESTD_SIM_AUDIT", P("audit.jsonl")),
            ("ATTESTD_SIM_REQUESTS", P("maa-requests.jsonl")),
            ("ATTESTD_SIM_VTPM_CA", P("pki/vtpm-ca.pem")),
            ("ATTESTD_SIM_VCEK_CHAIN", P("pki/vcek-chain.pem")),
            ("ATTESTD_SIM_VMID", self.vmid),
            ("ATTESTD_SIM_TOKEN_LIFETIME", self.token_lifetime),
            ("ATTESTD_SIM_PARAVISOR_DELAY_MS", int(self.delay_s * 1000)),
            ("ATTESTD_SIM_PID", os.getpid()), ("ATTESTD_SIM_SWTPM_PID", self.swtpm.pid),
            ("TPM2TOOLS_TCTI", tcti),
        ]
        pki.write(P("env"), "".join("export %s=%s\n" % (k, shq(v)) for k, v in env).encode())
        cfg = {
            "log": {"level": "info", "format": "text"},
            "tpm": {"tcti": tcti, "pcrs": [0, 1, 2, 3, 4, 5, 6, 7], "event_log": P("eventlog.bin")},
            "maa": {"endpoint": self.emu.url, "mode": "guest", "ca_file": P("ca.pem")},
            "imds": {"endpoint": self.emu.imds_url},
            "api": {"socket": P("attestd.sock")},
            "policy": {"file": P("policy.json")},
            "audit": {"file": P("audit.jsonl")},
        }
        pki.write(P("attestd.json"), (json.dumps(cfg, indent=2) + "\n").encode())
        src = self.opts.get("policy_src")
        if src and os.path.exists(src):
            shutil.copyfile(src, P("policy.json"))
        else:
            raise RuntimeError("default policy not found at %s" % src)
        self.save_state()

    def save_state(self):
        st = {"pid": os.getpid(), "swtpm_pid": self.swtpm.pid if self.swtpm else None,
              "dir": self.dir, "rundir": self.rundir, "tee": self.tee,
              "control": os.path.join(self.rundir, "control.sock"),
              "tpm_port": self.paravisor.port if self.paravisor else None,
              "maa_url": self.emu.url if self.emu else None,
              "imds_url": self.emu.imds_url if self.emu else None,
              "vmid": self.vmid, "tamper": dict(self.tamper),
              "token_lifetime": self.token_lifetime}
        pki.write(self.path("state.json"), (json.dumps(st, indent=1) + "\n").encode())

    # ---- main --------------------------------------------------------------------
    def setup(self):
        t0 = time.monotonic()
        self.provision()
        self.emu = maa.Emulator(self)
        self.emu.bind()
        self.emu.set_signing_key(self.keys["maa_sign"])
        self.regen = vtpm.Regenerator(self.delay_s, self.regenerate_from_nv)
        self.paravisor = vtpm.Paravisor(self.up, self.ctrl_path, self.faults,
                                        self.user_data_written, self.crash_tpm)
        ctl = os.path.join(self.rundir, "control.sock")
        if os.path.exists(ctl):
            os.unlink(ctl)
        self.ctl_sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.ctl_sock.bind(ctl)
        os.chmod(ctl, 0o600)
        self.ctl_sock.listen(16)
        self.emu.start()
        self.paravisor.start()
        threading.Thread(target=self.serve_control, daemon=True).start()
        self.write_files()
        log.info("ready in %.3f s", time.monotonic() - t0)

    def shutdown(self):
        log.info("shutting down")
        for fn in (lambda: self.paravisor and self.paravisor.stop(),
                   lambda: self.regen and self.regen.stop(),
                   lambda: self.emu and self.emu.stop(),
                   lambda: self.ctl_sock and self.ctl_sock.close()):
            try:
                fn()
            except Exception:
                log.exception("shutdown step failed")
        if self.up:
            self.up.close()
        if self.swtpm and self.swtpm.poll() is None:
            try:
                vtpm.swtpm_ctrl(self.ctrl_path, CMD_SHUTDOWN, timeout=3)
            except Exception as e:
                log.info("swtpm CMD_SHUTDOWN failed: %s", e)
            try:
                self.swtpm.wait(3)
            except subprocess.TimeoutExpired:
                self.swtpm.terminate()
                try:
                    self.swtpm.wait(3)
                except subprocess.TimeoutExpired:
                    self.swtpm.kill()
                    self.swtpm.wait()
        for p in ("swtpm.pid",):
            try:
                os.unlink(self.path(p))
            except OSError:
                pass
        if self.rundir != os.path.join(self.dir, "run"):
            shutil.rmtree(self.rundir, ignore_errors=True)
        else:
            for n in ("tpm-data.sock", "tpm-ctrl.sock", "control.sock"):
                try:
                    os.unlink(os.path.join(self.rundir, n))
                except OSError:
                    pass


def setup_logging(d):
    fmt = logging.Formatter("%(asctime)s.%(msecs)03d %(name)s %(levelname)s %(message)s",
                            "%Y-%m-%dT%H:%M:%S")
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    h = logging.FileHandler(os.path.join(d, "sim.log"))
    h.setFormatter(fmt)
    root.addHandler(h)
    mh = logging.FileHandler(os.path.join(d, "maa.log"))
    mh.setFormatter(fmt)
    ml = logging.getLogger("maa")
    ml.addHandler(mh)
    ml.propagate = False


def main(argv):
    opts = json.loads(argv[1])
    notify_fd = int(argv[2])
    d = os.path.abspath(opts["dir"])
    os.makedirs(d, exist_ok=True)
    setup_logging(d)
    with open(os.path.join(d, "simd.pid"), "w") as f:
        f.write("%d\n" % os.getpid())
    sim = Sim(opts)
    signal.signal(signal.SIGTERM, lambda *a: sim.stop_event.set())
    signal.signal(signal.SIGINT, lambda *a: sim.stop_event.set())
    signal.signal(signal.SIGHUP, signal.SIG_IGN)

    def notify(msg):
        try:
            os.write(notify_fd, (msg + "\n").encode())
            os.close(notify_fd)
        except OSError:
            pass

    try:
        sim.setup()
    except Exception as e:
        log.exception("start failed")
        notify("ERROR %s" % (str(e).replace("\n", " ") or e.__class__.__name__))
        sim.shutdown()
        try:
            os.unlink(os.path.join(d, "simd.pid"))
        except OSError:
            pass
        return 1
    notify("READY " + json.dumps({"tpm_port": sim.paravisor.port, "maa_url": sim.emu.url,
                                   "imds_url": sim.emu.imds_url}))
    while not sim.stop_event.wait(0.5):
        if sim.swtpm_exited():
            log.error("swtpm exited unexpectedly (status %s)", sim.swtpm.returncode)
            break
    sim.shutdown()
    try:
        os.unlink(os.path.join(d, "simd.pid"))
    except OSError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
