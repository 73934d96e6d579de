"""MAA emulator (HTTPS) and IMDS emulator (plain HTTP).

Implements AzureGuest, SevSnpVm, TdxVm, /certs and OpenID metadata as
/work/shared/design/AZURE-PROTOCOL.md §3-6 describe, verifying evidence for
real, plus the IMDS THIM (VCEK chain) and TD-quote routes (§5.3).
"""

import base64
import binascii
import hashlib
import http.server
import json
import logging
import os
import re
import select
import socket
import ssl
import struct
import threading
import time
import urllib.parse

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils as asym_utils
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from . import eventlog, faults as faultmod, hcl, pki, tpm

log = logging.getLogger("maa")

MAX_BODY = 1024 * 1024
GUEST_API_VERSIONS = ("2020-10-01", "2025-06-01")
SNP_API_VERSIONS = ("2022-08-01", "2023-04-01-preview", "2025-06-01")
TDX_API_VERSIONS = ("2023-04-01-preview", "2025-06-01")
POLICY_TEXT = "version= 1.0;authorizationrules{=> permit();};issuancerules{};"
ENC_KEY_ATTRS = (tpm.OA_DECRYPT | tpm.OA_NODA | tpm.OA_SENSITIVEDATAORIGIN |
                 tpm.OA_FIXEDPARENT | tpm.OA_FIXEDTPM)  # 0x00020432
PEM_RE = re.compile(rb"-----BEGIN CERTIFICATE-----\r?\n.+?-----END CERTIFICATE-----",
                    re.S)


class Refusal(Exception):
    """An HTTP error answer in MAA's shape; reason is a short machine id
    recorded in maa-requests.jsonl."""

    def __init__(self, reason, message, status=400, code="InvalidParameter"):
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.status = status
        self.code = code


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64std(data):
    return base64.b64encode(data).decode()


def policy_hash(text=POLICY_TEXT):
    inner = b64url(text.encode()).encode()
    return b64url(hashlib.sha256(inner).digest())


def dec_std(value, field, allow_empty=False):
    """Strict standard base64 (with padding)."""
    if not isinstance(value, str):
        raise Refusal("schema", "%s must be a base64 string" % field)
    if value == "" and allow_empty:
        return b""
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise Refusal("schema", "%s is not valid base64" % field)


def dec_url(value, field):
    """Strict base64url, padding optional."""
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9_-]*={0,2}", value):
        raise Refusal("schema", "%s is not valid base64url" % field)
    s = value.rstrip("=")
    if len(s) % 4 == 1:
        raise Refusal("schema", "%s has an invalid base64url length" % field)
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def dec_any(value, field):
    """Standard or URL-safe base64, padded or not (MAA evidently accepts both
    for SNP/TDX Proof, RunTimeData and VcekCertChain, see §3.3)."""
    if not isinstance(value, str) or not value:
        raise Refusal("schema", "%s must be a non-empty base64 string" % field)
    if not re.fullmatch(r"[A-Za-z0-9+/_-]+={0,2}", value):
        raise Refusal("schema", "%s is not valid base64" % field)
    if "+" in value or "/" in value:
        if "-" in value or "_" in value:
            raise Refusal("schema", "%s mixes base64 alphabets" % field)
    s = value.rstrip("=").replace("-", "+").replace("_", "/")
    if len(s) % 4 == 1:
        raise Refusal("schema", "%s has an invalid base64 length" % field)
    try:
        return base64.b64decode(s + "=" * (-len(s) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise Refusal("schema", "%s is not valid base64" % field)


def require(obj, key, typ, where):
    if not isinstance(obj, dict) or key not in obj:
        raise Refusal("schema", "%s is missing required field '%s'" % (where, key))
    v = obj[key]
    if typ is int:
        if isinstance(v, bool) or not isinstance(v, int):
            raise Refusal("schema", "%s.%s must be an integer" % (where, key))
    elif not isinstance(v, typ):
        raise Refusal("schema", "%s.%s has the wrong type" % (where, key))
    return v


def split_pem_chain(data):
    certs = []
    for m in PEM_RE.finditer(data):
        try:
            certs.append(x509.load_pem_x509_certificate(m.group(0)))
        except ValueError:
            raise Refusal("vcek-chain", "certificate chain contains an invalid certificate")
    return certs


def same_cert(a, b):
    return pki.der(a) == pki.der(b)


def rsa_from_public(pub):
    return rsa.RSAPublicNumbers(pub.e, pub.n).public_key()


class SigningKey:
    def __init__(self, key, url):
        self.key = key
        subj = pki.name(url)
        self.cert = pki.cert(subj, key.public_key(), subj, key, ca=False, days=365,
                             hash_alg=hashes.SHA256())
        self.kid = base64.b64encode(hashlib.sha256(pki.der(self.cert)).digest()).decode()

    def jwk(self):
        return {"alg": "RS256", "kid": self.kid, "kty": "RSA", "use": "sig",
                "x5c": [b64std(pki.der(self.cert))]}


class Emulator:
    def __init__(self, sim):
        self.sim = sim
        self.faults = sim.faults
        self.lock = threading.Lock()
        self.req_lock = threading.Lock()
        self.requests_path = os.path.join(sim.dir, "maa-requests.jsonl")
        self.maa_server = None
        self.imds_server = None
        self.url = None
        self.keys = []       # published JWKS (current first)
        self.current = None
        self.stray = None    # unpublished key for wrong-signature / unknown-kid
        self.stopping = threading.Event()
        self.counts = {"requests": 0, "tokens": 0, "refusals": 0}

    # ---- lifecycle --------------------------------------------------------
    def bind(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(self.sim.path("pki/tls-server.pem"),
                            self.sim.path("pki/tls-server.key"))
        self.maa_server = TlsServer(("127.0.0.1", 0), MaaHandler, ctx, self)
        self.imds_server = Server(("127.0.0.1", 0), ImdsHandler, self)
        self.url = "https://127.0.0.1:%d" % self.maa_server.server_address[1]
        self.imds_url = "http://127.0.0.1:%d" % self.imds_server.server_address[1]

    def set_signing_key(self, key):
        sk = SigningKey(key, self.url)
        self.current = sk
        self.keys = [sk]
        pki.write(self.sim.path("pki/maa-signing-%d.pem" % 0), pki.pem(sk.cert))

    def start(self):
        for srv in (self.maa_server, self.imds_server):
            threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.2},
                             daemon=True).start()

    def stop(self):
        self.stopping.set()
        for srv in (self.maa_server, self.imds_server):
            if srv:
                srv.shutdown()
                srv.server_close()

    def rotate(self, drop_old=False):
        key = pki.rsa_key()
        sk = SigningKey(key, self.url)
        with self.lock:
            n = len(self.keys)
            self.keys = [sk] + ([] if drop_old else self.keys)
            self.current = sk
        pki.write(self.sim.path("pki/maa-signing-%d.pem" % n), pki.pem(sk.cert))
        log.info("signing key rotated: new kid %s (old keys %s)", sk.kid,
                 "dropped" if drop_old else "still published")
        return sk.kid

    def jwks(self):
        with self.lock:
            return {"keys": [k.jwk() for k in self.keys]}

    # ---- recording --------------------------------------------------------
    def record(self, entry):
        entry = dict(entry)
        entry.setdefault("time", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        line = json.dumps(entry, sort_keys=False) + "\n"
        with self.req_lock:
            with open(self.requests_path, "a") as f:
                f.write(line)
                f.flush()

    # ---- tokens -----------------------------------------------------------
    def make_jwt(self, claims):
        """Sign claims (applying any pending token fault); returns (jwt, fault)."""
        now = int(time.time())
        lifetime = self.sim.token_lifetime
        base = {"exp": now + lifetime, "iat": now, "iss": self.url,
                "jti": os.urandom(32).hex(), "nbf": now}
        fault = self.faults.take("maa", faultmod.MAA_TOKEN)
        kind = fault[0] if fault else None
        with self.lock:
            key = self.current
            if kind in ("wrong-signature", "unknown-kid") and self.stray is None:
                self.stray = SigningKey(pki.rsa_key(), self.url)
        header_kid = key.kid
        signer = key.key
        alg = "RS256"
        if kind == "wrong-issuer":
            base["iss"] = "https://attacker.attest.example.net"
        elif kind == "expired":
            base.update(iat=now - lifetime - 3600, nbf=now - lifetime - 3600, exp=now - 3600)
        elif kind == "not-yet-valid":
            base.update(iat=now + 3600, nbf=now + 3600, exp=now + 3600 + lifetime)
        elif kind == "wrong-signature":
            signer = self.stray.key
        elif kind == "unknown-kid":
            signer = self.stray.key
            header_kid = self.stray.kid
        elif kind == "alg-none":
            alg = "none"
        payload = dict(base)
        payload.update(claims)
        hdr = {"alg": alg, "jku": self.url + "/certs", "kid": header_kid, "typ": "JWT"}
        if alg == "none":
            hdr = {"alg": "none", "typ": "JWT"}
        signing_input = (b64url(json.dumps(hdr, separators=(",", ":")).encode()) + "." +
                         b64url(json.dumps(payload, separators=(",", ":"),
                                           sort_keys=True).encode()))
        if alg == "none":
            return signing_input + ".", kind
        sig = signer.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return signing_input + "." + b64url(sig), kind

    def seal(self, jwt, enc_pub):
        bits = self.sim.aes_key_bits
        key = os.urandom(bits // 8)
        iv = os.urandom(12)
        out = AESGCM(key).encrypt(iv, jwt.encode(), b"Transport Key")
        ct, tag = out[:-16], out[-16:]
        wrapped = rsa_from_public(enc_pub).encrypt(key, padding.PKCS1v15())
        env = {"AuthenticationData": b64std(tag),
               "EncryptedInnerKey": b64std(wrapped),
               "EncryptionParams": {"BlockMode": "ChainingModeGCM", "BlockPadding": "PKCS7",
                                    "Cipher": "AES", "Iv": b64std(iv), "KeySizeInBits": bits},
               "Jwt": b64std(ct)}
        return b64url(json.dumps(env, separators=(",", ":")).encode())

    # ---- evidence verification --------------------------------------------
    def verify_vcek_chain(self, pem_chain):
        certs = split_pem_chain(pem_chain)
        if len(certs) < 3:
            raise Refusal("vcek-chain", "VcekCertChain must hold VCEK, ASK and ARK (got %d certificates)" % len(certs))
        vcek, ask, ark = certs[0], certs[1], certs[2]
        anchors = self.sim.trust
        if not same_cert(ark, anchors["ark"]):
            raise Refusal("vcek-chain", "ARK in VcekCertChain is not the trusted AMD root")
        try:
            pki.verify_issued_by(ask, ark)
            pki.verify_issued_by(vcek, ask)
            for c in (vcek, ask, ark):
                pki.check_validity(c)
        except (InvalidSignature, ValueError) as e:
            raise Refusal("vcek-chain", "VCEK certificate chain does not verify: %s" % (e or "bad signature"))
        pub = vcek.public_key()
        if not isinstance(pub, ec.EllipticCurvePublicKey) or pub.curve.name != "secp384r1":
            raise Refusal("vcek-chain", "VCEK key is not ECDSA P-384")
        return pub

    def verify_snp(self, snp_report, pem_chain):
        if len(snp_report) != hcl.SNP_REPORT_SIZE:
            raise Refusal("snp-report", "SnpReport must be 1184 bytes, got %d" % len(snp_report))
        vcek = self.verify_vcek_chain(pem_chain)
        try:
            hcl.snp_verify_signature(snp_report, vcek)
        except hcl.ReportError as e:
            raise Refusal("snp-signature", str(e))
        f = hcl.snp_fields(snp_report)
        if f["version"] < 2:
            raise Refusal("snp-report", "unsupported SNP report version %d" % f["version"])
        return f

    def verify_td_quote(self, quote):
        try:
            q = hcl.parse_td_quote(quote)
        except hcl.ReportError as e:
            raise Refusal("td-quote", str(e))
        certs = split_pem_chain(q["chain"])
        if len(certs) < 2:
            raise Refusal("td-quote", "TD quote certification data lacks the key chain")
        leaf, root = certs[0], certs[-1]
        if not same_cert(root, self.sim.trust["tdx_root"]):
            raise Refusal("td-quote", "TD quote does not chain to the trusted Intel root")
        try:
            pki.verify_issued_by(leaf, root)
            pki.check_validity(leaf)
        except (InvalidSignature, ValueError):
            raise Refusal("td-quote", "TD quote attestation key certificate does not verify")
        leaf_pub = leaf.public_key().public_bytes(serialization.Encoding.X962,
                                                  serialization.PublicFormat.UncompressedPoint)
        if leaf_pub != q["att_key"]:
            raise Refusal("td-quote", "TD quote attestation key differs from its certificate")
        try:
            leaf.public_key().verify(asym_utils.encode_dss_signature(*q["sig"]), q["signed"],
                                     ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise Refusal("td-quote", "TD quote signature does not verify")
        return q

    @staticmethod
    def check_binding(report_data, runtime):
        if report_data[:32] != hashlib.sha256(runtime).digest() or any(report_data[32:]):
            raise Refusal("hcl-binding",
                          "report data does not match SHA-256 of the runtime data")

    @staticmethod
    def parse_runtime(runtime):
        try:
            doc = json.loads(runtime.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise Refusal("runtime-json", "runtime data is not valid JSON")
        if not isinstance(doc, dict):
            raise Refusal("runtime-json", "runtime data is not a JSON object")
        return doc

    def isolation(self, iso, aik):
        """Verify IsolationInfo; returns (x-ms-isolation-tee claims or None,
        runtime doc or None)."""
        typ = require(iso, "Type", str, "IsolationInfo")
        if typ == "TrustedLaunch":
            return None, None
        if typ not in ("SevSnp", "Tdx"):
            raise Refusal("schema", "IsolationInfo.Type '%s' is not supported" % typ)
        ev = require(iso, "Evidence", dict, "IsolationInfo")
        proof = dec_any(require(ev, "Proof", str, "IsolationInfo.Evidence"), "Evidence.Proof")
        runtime = dec_any(require(ev, "RunTimeData", str, "IsolationInfo.Evidence"),
                          "Evidence.RunTimeData")
        if typ == "SevSnp":
            try:
                pdoc = json.loads(proof)
            except ValueError:
                raise Refusal("schema", "Evidence.Proof is not a JSON document")
            if not isinstance(pdoc, dict):
                raise Refusal("schema", "Evidence.Proof is not a JSON object")
            rep = dec_any(require(pdoc, "SnpReport", str, "Proof"), "Proof.SnpReport")
            chain = dec_any(require(pdoc, "VcekCertChain", str, "Proof"), "Proof.VcekCertChain")
            f = self.verify_snp(rep, chain)
            self.check_binding(f["report_data"], runtime)
            tee = {"x-ms-attestation-type": "sevsnpvm",
                   "x-ms-compliance-status": "azure-compliant-cvm"}
            tee.update(hcl.snp_claims(rep))
        else:
            q = self.verify_td_quote(proof)
            self.check_binding(q["report_data"], runtime)
            tee = {"x-ms-attestation-type": "tdxvm",
                   "x-ms-compliance-status": "azure-compliant-cvm"}
            tee.update(hcl.tdx_claims(q))
        doc = self.parse_runtime(runtime)
        akjwk = None
        for k in doc.get("keys", []) if isinstance(doc.get("keys"), list) else []:
            if isinstance(k, dict) and k.get("kid") == "HCLAkPub":
                akjwk = k
        if akjwk is None:
            raise Refusal("hcl-akpub", "runtime data has no HCLAkPub key")
        try:
            n = int.from_bytes(hcl.b64url_decode(akjwk["n"]), "big")
            e = int.from_bytes(hcl.b64url_decode(akjwk["e"]), "big")
        except (KeyError, TypeError, ValueError, binascii.Error):
            raise Refusal("hcl-akpub", "HCLAkPub is not a valid RSA JWK")
        if n != aik.n or e != aik.e:
            raise Refusal("hcl-akpub", "HCLAkPub in the HCL report is not the TPM AK (AikPub)")
        tee["x-ms-runtime"] = doc
        return tee, doc

    def verify_guest(self, info):
        W = "AttestationInfo"
        pv = require(info, "AttestationProtocolVersion", str, W)
        os_type = dec_std(require(info, "OSType", str, W), "OSType").decode("utf-8", "replace")
        os_distro = dec_std(require(info, "OSDistro", str, W), "OSDistro").decode("utf-8", "replace")
        os_build = dec_std(require(info, "OSBuild", str, W), "OSBuild").decode("utf-8", "replace")
        vers = []
        for k in ("OSVersionMajor", "OSVersionMinor"):
            v = info.get(k)
            if isinstance(v, str) and v.isdigit():
                v = int(v)
            if isinstance(v, bool) or not isinstance(v, int):
                raise Refusal("schema", "%s.%s must be an integer" % (W, k))
            vers.append(v)
        tcg = dec_std(require(info, "TcgLogs", str, W), "TcgLogs", allow_empty=True)
        payload = require(info, "ClientPayload", dict, W)
        ti = require(info, "TpmInfo", dict, W)
        iso = require(info, "IsolationInfo", dict, W)
        T = "TpmInfo"

        # AK and its certificate
        aik_raw = dec_std(require(ti, "AikPub", str, T), "AikPub")
        try:
            aik = tpm.parse_tpm2b_public(aik_raw)
        except tpm.ParseError as e:
            raise Refusal("aikpub", "AikPub is not a valid RSA TPM2B_PUBLIC: %s" % e)
        if not (aik.attrs & tpm.OA_SIGN and aik.attrs & tpm.OA_RESTRICTED and
                aik.attrs & tpm.OA_FIXEDTPM) or aik.key_bits != 2048:
            raise Refusal("aikpub", "AikPub is not a restricted RSA-2048 signing key")
        cert_der = dec_std(require(ti, "AikCert", str, T), "AikCert")
        try:
            akcert = x509.load_der_x509_certificate(cert_der)
        except ValueError:
            raise Refusal("ak-cert", "AikCert is not a DER X.509 certificate")
        try:
            pki.verify_issued_by(akcert, self.sim.trust["vtpm_ca"])
            pki.check_validity(akcert)
        except (InvalidSignature, ValueError) as e:
            raise Refusal("ak-cert", "AikCert does not chain to the trusted vTPM CA: %s"
                          % (e or "bad signature"))
        cpub = akcert.public_key()
        if (not isinstance(cpub, rsa.RSAPublicKey) or cpub.public_numbers().n != aik.n or
                cpub.public_numbers().e != aik.e):
            raise Refusal("ak-cert", "AikCert's key is not AikPub")
        akey = rsa_from_public(aik)

        def aik_verify(sig, data, reason, what):
            if len(sig) != 256:
                raise Refusal(reason, "%s must be a raw 256-byte RSASSA signature" % what)
            try:
                akey.verify(sig, data, padding.PKCS1v15(), hashes.SHA256())
            except InvalidSignature:
                raise Refusal(reason, "%s does not verify with AikPub" % what)

        # PCR quote
        pcrset = require(ti, "PcrSet", list, T)
        if (not pcrset or any(isinstance(p, bool) or not isinstance(p, int) or not 0 <= p < 24
                              for p in pcrset) or len(set(pcrset)) != len(pcrset)):
            raise Refusal("schema", "TpmInfo.PcrSet must be distinct PCR indices 0-23")
        pcrset_sorted = sorted(pcrset)
        quote_raw = dec_std(require(ti, "PcrQuote", str, T), "PcrQuote")
        qsig = dec_std(require(ti, "PcrSignature", str, T), "PcrSignature")
        aik_verify(qsig, quote_raw, "quote-signature", "PcrSignature")
        try:
            quote = tpm.Attest(quote_raw)
        except tpm.ParseError as e:
            raise Refusal("quote", "PcrQuote is not a TPMS_ATTEST: %s" % e)
        if quote.type != tpm.ST_ATTEST_QUOTE:
            raise Refusal("quote", "PcrQuote is not a quote (type 0x%04x)" % quote.type)
        if quote.pcr_select != [(tpm.ALG_SHA256, pcrset_sorted)]:
            raise Refusal("quote", "quoted PCR selection is not sha256:%s" % pcrset_sorted)
        pcrs = require(ti, "PCRs", list, T)
        values = {}
        for ent in pcrs:
            idx = require(ent, "Index", int, "PCRs[]")
            dig = dec_std(require(ent, "Digest", str, "PCRs[]"), "PCRs[].Digest")
            if len(dig) != 32 or idx in values:
                raise Refusal("schema", "PCRs entry %d invalid or repeated" % idx)
            values[idx] = dig
        if sorted(values) != pcrset_sorted:
            raise Refusal("pcr-digest", "PCRs do not list exactly the PCRs in PcrSet")
        ordered = [values[i] for i in pcrset_sorted]
        if hashlib.sha256(b"".join(ordered)).digest() != quote.pcr_digest:
            raise Refusal("pcr-digest", "PCR values do not match the quote's pcrDigest")

        # event log replay
        try:
            algs, locality, events = eventlog.parse(tcg)
        except eventlog.EventLogError as e:
            raise Refusal("eventlog", "TcgLogs is not a valid TCG event log: %s" % e)
        if tpm.ALG_SHA256 not in algs:
            raise Refusal("eventlog", "TcgLogs has no SHA-256 bank")
        replayed = eventlog.replay(events, tpm.ALG_SHA256, locality, pcrset_sorted)
        bad = [i for i in pcrset_sorted if replayed[i] != values[i]]
        if bad:
            raise Refusal("eventlog-replay",
                          "TcgLogs does not replay to the quoted PCRs (PCR %s)" %
                          ",".join(map(str, bad)))
        sb_log = None
        have = set()
        for ev in events:
            if ev.type == eventlog.EV_EFI_VARIABLE_DRIVER_CONFIG:
                if hashlib.sha256(ev.data).digest() != ev.digests[tpm.ALG_SHA256]:
                    raise Refusal("eventlog", "EV_EFI_VARIABLE_DRIVER_CONFIG digest mismatch")
                try:
                    guid, name, data = eventlog.parse_uefi_variable_data(ev.data)
                except eventlog.EventLogError as e:
                    raise Refusal("eventlog", str(e))
                have.add(name)
                if name == "SecureBoot" and ev.pcr == 7:
                    sb_log = data == b"\x01"

        # ephemeral key and its certification
        enc_raw = dec_std(require(ti, "EncKeyPub", str, T), "EncKeyPub")
        try:
            enc = tpm.parse_tpm2b_public(enc_raw)
        except tpm.ParseError as e:
            raise Refusal("enckey", "EncKeyPub is not a valid RSA TPM2B_PUBLIC: %s" % e)
        if enc.attrs != ENC_KEY_ATTRS:
            raise Refusal("enckey", "EncKeyPub objectAttributes 0x%08x, expected 0x%08x"
                          % (enc.attrs, ENC_KEY_ATTRS))
        if (enc.name_alg != tpm.ALG_SHA256 or enc.key_bits != 2048 or enc.sym is not None
                or enc.scheme not in (tpm.ALG_NULL, tpm.ALG_RSAES)
                or len(enc.modulus) != 256):
            raise Refusal("enckey", "EncKeyPub is not an RSA-2048 SHA-256 decryption key")
        expect_policy = tpm.policy_pcr_digest(pcrset_sorted, ordered)
        if enc.auth_policy != expect_policy:
            raise Refusal("enckey", "EncKeyPub authPolicy is not PolicyPCR over the quoted PCRs")
        cert_raw = dec_std(require(ti, "EncKeyCertifyInfo", str, T), "EncKeyCertifyInfo")
        csig = dec_std(require(ti, "EncKeyCertifyInfoSignature", str, T),
                       "EncKeyCertifyInfoSignature")
        aik_verify(csig, cert_raw, "enckey-certify", "EncKeyCertifyInfoSignature")
        try:
            certify = tpm.Attest(cert_raw)
        except tpm.ParseError as e:
            raise Refusal("enckey-certify", "EncKeyCertifyInfo is not a TPMS_ATTEST: %s" % e)
        if certify.type != tpm.ST_ATTEST_CERTIFY:
            raise Refusal("enckey-certify", "EncKeyCertifyInfo is not a certification (type 0x%04x)" % certify.type)
        if certify.certified_name != enc.name():
            raise Refusal("enckey-certify", "EncKeyCertifyInfo certifies a different key than EncKeyPub")

        tee, runtime = self.isolation(iso, aik)
        vmcfg = runtime.get("vm-configuration", {}) if runtime else {}
        if not isinstance(vmcfg, dict):
            vmcfg = {}
        secureboot = bool(sb_log) and vmcfg.get("secure-boot", True) is True
        claims = {
            "secureboot": secureboot,
            "x-ms-attestation-type": "azurevm",
            "x-ms-azurevm-attestation-protocol-ver": pv,
            "x-ms-azurevm-attested-pcrs": pcrset_sorted,
            "x-ms-azurevm-bootdebug-enabled": False,
            "x-ms-azurevm-dbvalidated": secureboot and "db" in have,
            "x-ms-azurevm-dbxvalidated": secureboot and "dbx" in have,
            "x-ms-azurevm-debuggersdisabled": True,
            "x-ms-azurevm-default-securebootkeysvalidated":
                secureboot and {"PK", "KEK", "db"} <= have,
            "x-ms-azurevm-elam-enabled": False,
            "x-ms-azurevm-flightsigning-enabled": False,
            "x-ms-azurevm-hvci-policy": 0,
            "x-ms-azurevm-hypervisordebug-enabled": False,
            "x-ms-azurevm-is-windows": os_type.lower() == "windows",
            "x-ms-azurevm-kerneldebug-enabled": False,
            "x-ms-azurevm-osbuild": os_build,
            "x-ms-azurevm-osdistro": os_distro,
            "x-ms-azurevm-ostype": os_type,
            "x-ms-azurevm-osversion-major": vers[0],
            "x-ms-azurevm-osversion-minor": vers[1],
            "x-ms-azurevm-signingdisabled": True,
            "x-ms-azurevm-testsigning-enabled": False,
            "x-ms-policy-hash": policy_hash(),
            "x-ms-runtime": {
                "client-payload": payload,
                "keys": [{"e": b64url(enc.e.to_bytes(3, "big")), "key_ops": ["encrypt"],
                          "kid": "TpmEphemeralEncryptionKey", "kty": "RSA",
                          "n": b64url(enc.modulus)}],
            },
            "x-ms-ver": "1.0",
        }
        if isinstance(vmcfg.get("vmUniqueId"), str):
            claims["x-ms-azurevm-vmid"] = vmcfg["vmUniqueId"]
        if tee is not None:
            claims["x-ms-isolation-tee"] = tee
        return claims, enc

    def runtime_data(self, body, report_data):
        rd = body.get("runtimeData")
        if rd is None:
            return None
        if not isinstance(rd, dict):
            raise Refusal("schema", "runtimeData must be an object")
        data = dec_any(require(rd, "data", str, "runtimeData"), "runtimeData.data")
        dtype = require(rd, "dataType", str, "runtimeData")
        if dtype not in ("JSON", "Binary"):
            raise Refusal("schema", "runtimeData.dataType must be JSON or Binary")
        self.check_binding(report_data, data)
        return self.parse_runtime(data) if dtype == "JSON" else None

    def verify_sevsnpvm(self, body):
        rep = dec_any(require(body, "report", str, "request"), "report")
        try:
            doc = json.loads(rep)
            if not isinstance(doc, dict):
                raise ValueError
        except ValueError:
            raise Refusal("schema", "report is not a base64url JSON document")
        snp = dec_any(require(doc, "SnpReport", str, "report"), "report.SnpReport")
        chain = dec_any(require(doc, "VcekCertChain", str, "report"), "report.VcekCertChain")
        f = self.verify_snp(snp, chain)
        runtime = self.runtime_data(body, f["report_data"])
        claims = {"x-ms-attestation-type": "sevsnpvm",
                  "x-ms-compliance-status": "azure-compliant-cvm",
                  "x-ms-policy-hash": policy_hash(), "x-ms-ver": "1.0"}
        claims.update(hcl.snp_claims(snp))
        if runtime is not None:
            claims["x-ms-runtime"] = runtime
        return claims

    def verify_tdxvm(self, body):
        quote = dec_any(require(body, "quote", str, "request"), "quote")
        q = self.verify_td_quote(quote)
        runtime = self.runtime_data(body, q["report_data"])
        attrs = struct.unpack("<Q", q["td_attributes"])[0]
        claims = {"attester_tcb_status": "UpToDate",
                  "dbgstat": "enabled" if attrs & hcl.TD_ATTR_DEBUG else "disabled",
                  "eat_profile": "https://aka.ms/maa-eat-profile-tdxvm",
                  "intuse": "generic",
                  "x-ms-attestation-type": "tdxvm",
                  "x-ms-compliance-status": "azure-compliant-cvm",
                  "x-ms-policy-hash": policy_hash(), "x-ms-ver": "1.0"}
        claims.update(hcl.tdx_claims(q, platform=True))
        if runtime is not None:
            claims["x-ms-runtime"] = runtime
        return claims


# ---- HTTP servers -------------------------------------------------------------
class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, addr, handler, emu):
        self.emu = emu
        super().__init__(addr, handler)


class TlsServer(Server):
    """TLS handshake happens in the per-connection thread, so a client that
    never completes it cannot block the accept loop."""

    def __init__(self, addr, handler, ctx, emu):
        self.ctx = ctx
        super().__init__(addr, handler, emu)

    def finish_request(self, request, client_address):
        request.settimeout(30)
        try:
            tls = self.ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as e:
            log.info("TLS handshake with %s failed: %s", client_address, e)
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            try:
                tls.close()
            except OSError:
                pass


class BaseHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "cvm-sim"
    sys_version = ""
    timeout = 60
    service = "maa"

    def log_message(self, fmt, *args):
        log.info("%s %s - %s", self.service, self.address_string(), fmt % args)

    @property
    def emu(self):
        return self.server.emu

    def send_json(self, status, obj, headers=None, close=False):
        body = json.dumps(obj, separators=(",", ":")).encode()
        self.send_raw(status, body, "application/json; charset=utf-8", headers, close)

    def send_raw(self, status, body, ctype, headers=None, close=False, send_len=None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body) if send_len is None else send_len))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def read_body(self):
        """Read the request body; returns bytes or raises Refusal."""
        if self.headers.get("Transfer-Encoding"):
            raise Refusal("http", "chunked request bodies are not supported", 411,
                          "LengthRequired")
        cl = self.headers.get("Content-Length")
        if cl is None or not cl.isdigit():
            raise Refusal("http", "Content-Length required", 411, "LengthRequired")
        n = int(cl)
        if n > MAX_BODY:
            raise Refusal("http", "request body exceeds %d bytes" % MAX_BODY, 413,
                          "RequestEntityTooLarge")
        data = self.rfile.read(n)
        if len(data) != n:
            raise Refusal("http", "request body truncated", 400, "BadRequest")
        return data

    def record(self, status, **kw):
        u = urllib.parse.urlsplit(self.path)
        e = {"service": self.service, "method": self.command, "path": self.path,
             "route": u.path, "status": status}
        e.update(kw)
        self.emu.record(e)


def maa_error(status, code, message):
    if status >= 500:
        return {"Error": {"Code": code, "Message": message}}
    return {"error": {"code": code, "message": message}}


class MaaHandler(BaseHandler):
    service = "maa"

    def refuse(self, r, **rec):
        close = r.status in (411, 413)
        self.send_json(r.status, maa_error(r.status, r.code, r.message), close=close)
        self.emu.counts["refusals"] += 1
        log.info("refused %s: %s (%s)", self.path, r.message, r.reason)
        self.record(r.status, error=r.message, reason=r.reason, **rec)

    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        if u.path == "/cvm-sim/health":  # simulator probe: never recorded or faulted
            return self.send_json(200, {"ok": True})
        if u.path == "/certs":
            self.send_json(200, self.emu.jwks())
            self.record(200)
        elif u.path == "/.well-known/openid-configuration":
            url = self.emu.url
            self.send_json(200, {
                "claims_supported": ["cnf", "exp", "iat", "iss", "jti", "nbf", "nonce",
                                     "secureboot", "x-ms-attestation-type",
                                     "x-ms-isolation-tee", "x-ms-policy-hash",
                                     "x-ms-runtime", "x-ms-ver"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "issuer": url, "jwks_uri": url + "/certs",
                "response_types_supported": ["token", "none"],
                "revocation_endpoint": url + "/revoke"})
            self.record(200)
        elif u.path.startswith("/attest/"):
            self.refuse(Refusal("http", "method GET not allowed", 405, "MethodNotAllowed"))
        else:
            self.refuse(Refusal("http", "no route for %s" % u.path, 404, "NotFound"))

    def do_PUT(self):
        self.refuse(Refusal("http", "method not allowed", 405, "MethodNotAllowed"))

    do_DELETE = do_PATCH = do_PUT

    def do_POST(self):
        u = urllib.parse.urlsplit(self.path)
        routes = {"/attest/AzureGuest": GUEST_API_VERSIONS,
                  "/attest/SevSnpVm": SNP_API_VERSIONS,
                  "/attest/TdxVm": TDX_API_VERSIONS}
        if u.path not in routes:
            if u.path in ("/certs", "/.well-known/openid-configuration"):
                return self.refuse(Refusal("http", "method POST not allowed", 405,
                                           "MethodNotAllowed"))
            return self.refuse(Refusal("http", "no route for %s" % u.path, 404, "NotFound"))
        self.emu.counts["requests"] += 1
        q = urllib.parse.parse_qs(u.query, keep_blank_values=True)
        av = q.get("api-version")
        if not av:
            return self.refuse(Refusal("http", "the api-version query parameter is required",
                                       400, "MissingApiVersionParameter"))
        if len(av) != 1 or av[0] not in routes[u.path]:
            return self.refuse(Refusal("http", "api-version '%s' is not supported for %s"
                                       % (",".join(av), u.path), 400,
                                       "InvalidApiVersionParameter"))
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "application/json":
            # drain a reasonable body so keep-alive stays in sync
            try:
                self.read_body()
            except Refusal:
                self.close_connection = True
            return self.refuse(Refusal("http", "Content-Type must be application/json",
                                       415, "UnsupportedMediaType"))
        try:
            raw = self.read_body()
        except Refusal as r:
            return self.refuse(r)
        decoded = None
        try:
            body = json.loads(raw)
            if not isinstance(body, dict):
                raise ValueError
        except ValueError:
            body = None
        if u.path == "/attest/AzureGuest" and body is not None:
            try:
                decoded = json.loads(dec_url(body.get("AttestationInfo"), "AttestationInfo"))
            except (Refusal, ValueError):
                decoded = None
        rec = {"body": decoded if decoded is not None else
               (body if body is not None else raw[:4096].decode("latin-1"))}

        fault = self.emu.faults.take("maa", faultmod.MAA_TRANSPORT)
        kind, opts = fault if fault else (None, {})
        if kind:
            rec["fault"] = kind
            log.info("fault %s applied to %s", kind, u.path)
        if kind in ("http-500", "http-503", "http-429"):
            status = int(kind[5:])
            headers = {}
            if status == 429:
                headers["Retry-After"] = str(opts.get("retry_after", 2))
                err = maa_error(429, "TooManyRequests", "Rate limit exceeded; retry later")
            elif status == 503:
                headers["Retry-After"] = str(opts.get("retry_after", 2)) if opts.get("retry_after") else None
                headers = {k: v for k, v in headers.items() if v}
                err = maa_error(503, "ServiceUnavailable", "The service is unavailable")
            else:
                err = maa_error(500, "InternalServerError", "An internal error occurred")
            self.send_json(status, err, headers)
            return self.record(status, **rec)
        if kind == "hang":
            self.record(0, **rec)
            self.hang()
            return
        if kind == "slow":
            time.sleep(int(opts.get("delay_ms", 3000)) / 1000.0)
        if kind == "garbage":
            self.send_raw(200, b"<html><body>upstream proxy error</body></html>\n",
                          "application/json; charset=utf-8")
            return self.record(200, **rec)
        if kind == "refuse-evidence":
            return self.refuse(Refusal("fault", "Attestation evidence was rejected by policy "
                                       "(injected refuse-evidence fault)"), **rec)

        status, resp, extra = self.attest(u.path, body, raw, decoded)
        rec.update(extra)
        out = json.dumps(resp, separators=(",", ":")).encode()
        if kind == "truncated":
            self.send_raw(status, out[:max(1, len(out) // 2)], "application/json; charset=utf-8",
                          close=True, send_len=len(out))
            self.close_connection = True
            return self.record(status, **rec)
        self.send_raw(status, out, "application/json; charset=utf-8")
        self.record(status, **rec)

    def attest(self, route, body, raw, decoded):
        try:
            if body is None:
                raise Refusal("schema", "request body is not a JSON object")
            if route == "/attest/AzureGuest":
                if decoded is None:
                    require(body, "AttestationInfo", str, "request")
                    raise Refusal("schema", "AttestationInfo is not base64url-encoded JSON")
                if not isinstance(decoded, dict):
                    raise Refusal("schema", "AttestationInfo is not a JSON object")
                claims, enc = self.emu.verify_guest(decoded)
                jwt, tfault = self.emu.make_jwt(claims)
                token = self.emu.seal(jwt, enc)
            elif route == "/attest/SevSnpVm":
                claims = self.emu.verify_sevsnpvm(body)
                if "nonce" in body:
                    claims["nonce"] = body["nonce"]
                jwt, tfault = self.emu.make_jwt(claims)
                token = jwt
            else:
                claims = self.emu.verify_tdxvm(body)
                if "nonce" in body:
                    claims["nonce"] = body["nonce"]
                jwt, tfault = self.emu.make_jwt(claims)
                token = jwt
        except Refusal as r:
            self.emu.counts["refusals"] += 1
            log.info("refused %s: %s (%s)", route, r.message, r.reason)
            return r.status, maa_error(r.status, r.code, r.message), {
                "error": r.message, "reason": r.reason}
        self.emu.counts["tokens"] += 1
        extra = {"jwt": jwt}
        if tfault:
            extra["fault"] = tfault
        return 200, {"token": token}, extra

    def hang(self):
        """Never answer: wait until the client goes away (or shutdown)."""
        sock = self.connection
        deadline = time.monotonic() + 3600
        while time.monotonic() < deadline and not self.emu.stopping.is_set():
            try:
                r, _, _ = select.select([sock], [], [], 0.5)
                if r:
                    if isinstance(sock, ssl.SSLSocket) and sock.pending():
                        sock.recv(65536)
                        continue
                    if not sock.recv(65536):
                        break
            except (OSError, ValueError, ssl.SSLError):
                break
        self.close_connection = True


class ImdsHandler(BaseHandler):
    service = "imds"

    def fault(self):
        f = self.emu.faults.take("imds")
        if not f:
            return False
        kind = f[0]
        log.info("fault %s applied to IMDS %s", kind, self.path)
        if kind == "imds-down":
            self.record(0, fault=kind)
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return True
        self.send_json(500, {"error": "Internal server error"})
        self.record(500, fault=kind)
        return True

    def not_found(self):
        self.send_json(404, {"error": "Not found"})
        self.record(404)

    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        if u.path == "/cvm-sim/health":  # simulator probe: never recorded or faulted
            return self.send_json(200, {"ok": True})
        if self.fault():
            return
        if u.path != "/metadata/THIM/amd/certification":
            return self.not_found()
        if (self.headers.get("Metadata") or "").lower() != "true":
            self.send_json(400, {"error": "Bad request. Required metadata header not specified"})
            return self.record(400)
        if self.emu.sim.tee != "snp":
            return self.not_found()
        t = self.emu.sim.trust
        self.send_json(200, {"cacheControl": "86400",
                             "certificateChain": (pki.pem(t["ask"]) + pki.pem(t["ark"])).decode(),
                             "tcbm": self.emu.sim.snp.tcbm(),
                             "vcekCert": pki.pem(t["vcek"]).decode()})
        self.record(200)

    def do_POST(self):
        u = urllib.parse.urlsplit(self.path)
        try:
            raw = self.read_body()
        except Refusal as r:
            self.send_json(r.status, {"error": r.message}, close=True)
            return self.record(r.status)
        if self.fault():
            return
        if u.path != "/acc/tdquote" or self.emu.sim.tee != "tdx":
            return self.not_found()
        try:
            body = json.loads(raw)
            rep = dec_any(body["report"], "report")
            self.emu.sim.tdx.check_report(rep)
        except (ValueError, KeyError, TypeError, Refusal, hcl.ReportError) as e:
            msg = getattr(e, "message", None) or str(e) or "invalid request"
            self.send_json(400, {"error": "Bad request: %s" % msg})
            return self.record(400, error=msg)
        quote = hcl.td_quote(rep, self.emu.sim.tdx_att_key, self.emu.sim.tdx_chain_pem)
        self.send_json(200, {"quote": b64url(quote)})
        self.record(200)
