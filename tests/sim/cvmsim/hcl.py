"""Azure HCL ("attestation") report, SEV-SNP report, TDX TD report and the
simulator's TD quote: building, signing, parsing and verifying.

Layouts follow /work/shared/design/AZURE-PROTOCOL.md §2 (all little-endian).
"""

import base64
import hashlib
import hmac
import json
import struct

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils as asym_utils

HCL_SIGNATURE = b"HCLA"
HCL_NV_SIZE = 2048
HW_REPORT_OFFSET = 32
HW_REPORT_SIZE = 1184
RUNTIME_OFFSET = 1216
RUNTIME_HEADER_SIZE = 20
VARDATA_OFFSET = RUNTIME_OFFSET + RUNTIME_HEADER_SIZE  # 1236

REPORT_TYPE_SNP = 2
REPORT_TYPE_TDX = 4
HASH_TYPE_SHA256 = 1
REQUEST_TYPE_AKCERT = 2

SNP_REPORT_SIZE = 1184
SNP_SIGNED_SIZE = 0x2A0
SNP_POLICY_SMT = 1 << 16
SNP_POLICY_RESERVED1 = 1 << 17
SNP_POLICY_MIGRATE_MA = 1 << 18
SNP_POLICY_DEBUG = 1 << 19

TD_REPORT_SIZE = 1024
TD_REPORTDATA_OFFSET = 128
TD_ATTR_DEBUG = 1 << 0

QUOTE_HEADER_SIZE = 48
QUOTE_BODY_SIZE = 584
QE_VENDOR_ID = bytes.fromhex("939a7233f79c4ca9940a0db3957f0607")
QUOTE_CERT_TYPE_CHAIN = 5


class ReportError(ValueError):
    pass


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(s):
    if isinstance(s, str):
        s = s.encode()
    return base64.urlsafe_b64decode(s + b"=" * (-len(s) % 4))


# ---- runtime claims ---------------------------------------------------------
def jwk_rsa(kid, key_ops, n_bytes, e_int):
    """RSA JWK with the member order of real HCL reports: kid,key_ops,kty,e,n."""
    e_bytes = e_int.to_bytes((e_int.bit_length() + 7) // 8, "big")
    return {"kid": kid, "key_ops": key_ops, "kty": "RSA",
            "e": b64url(e_bytes), "n": b64url(n_bytes)}


def runtime_claims(ak, ek, vmcfg, user_data):
    """Compact runtime-claims JSON bytes (key order keys, vm-configuration,
    user-data). ak/ek are (modulus bytes, exponent int); user_data 64 bytes."""
    keys = [jwk_rsa("HCLAkPub", ["sign"], ak[0], ak[1])]
    if ek is not None:
        keys.append(jwk_rsa("HCLEkPub", ["encrypt"], ek[0], ek[1]))
    doc = {"keys": keys, "vm-configuration": vmcfg}
    if user_data is not None:
        doc["user-data"] = user_data.hex().upper()
    return json.dumps(doc, separators=(",", ":")).encode()


def report_data_for(claims):
    return hashlib.sha256(claims).digest() + bytes(32)


# ---- HCL container ----------------------------------------------------------
def hcl_report(hw_report, report_type, claims, version=2, nv_size=HCL_NV_SIZE):
    if len(hw_report) == TD_REPORT_SIZE:
        hw_report = hw_report + bytes(HW_REPORT_SIZE - TD_REPORT_SIZE)
    if len(hw_report) != HW_REPORT_SIZE:
        raise ValueError("hardware report must be 1184 bytes")
    vsize = len(claims)
    hdr = HCL_SIGNATURE + struct.pack("<III", version, VARDATA_OFFSET + vsize,
                                      REQUEST_TYPE_AKCERT) + bytes(16)
    rt = struct.pack("<5I", RUNTIME_HEADER_SIZE + vsize, 1, report_type,
                     HASH_TYPE_SHA256, vsize)
    blob = hdr + hw_report + rt + claims
    if len(blob) > nv_size:
        raise ValueError("HCL report (%d bytes) exceeds NV size %d" % (len(blob), nv_size))
    return blob + bytes(nv_size - len(blob))


def parse_hcl(blob):
    """Split an HCL report; returns dict(version, report_type, hw, claims)."""
    if len(blob) < VARDATA_OFFSET or blob[:4] != HCL_SIGNATURE:
        raise ReportError("not an HCL report (no HCLA signature)")
    version, report_size, request_type = struct.unpack("<III", blob[4:16])
    data_size, rt_version, rtype, htype, vsize = struct.unpack(
        "<5I", blob[RUNTIME_OFFSET:VARDATA_OFFSET])
    if rtype not in (REPORT_TYPE_SNP, REPORT_TYPE_TDX):
        raise ReportError("unsupported HCL report type %d" % rtype)
    if htype != HASH_TYPE_SHA256:
        raise ReportError("unsupported report-data hash type %d" % htype)
    if VARDATA_OFFSET + vsize > len(blob) or data_size != RUNTIME_HEADER_SIZE + vsize:
        raise ReportError("inconsistent runtime data size")
    hw = blob[HW_REPORT_OFFSET:HW_REPORT_OFFSET + HW_REPORT_SIZE]
    if rtype == REPORT_TYPE_TDX:
        hw = hw[:TD_REPORT_SIZE]
    return {"version": version, "report_size": report_size,
            "request_type": request_type, "report_type": rtype, "hw": hw,
            "claims": blob[VARDATA_OFFSET:VARDATA_OFFSET + vsize]}


# ---- SEV-SNP ----------------------------------------------------------------
def _tcb(bootloader, tee, snp, microcode):
    return bytes([bootloader, tee, 0, 0, 0, 0, snp, microcode])


class SnpPlatform:
    """A simulated AMD SEV-SNP platform: constant launch fields + a VCEK."""

    def __init__(self, vcek_key, seed, version=2):
        self.vcek_key = vcek_key
        self.version = version
        h = lambda tag, n: hashlib.sha512(seed + tag).digest()[:n]
        self.measurement = h(b"measurement", 48)
        self.id_key_digest = h(b"idkey", 48)
        self.report_id = h(b"reportid", 32)
        self.chip_id = h(b"chipid", 64)
        self.tcb = _tcb(3, 0, 8, 115)
        self.guest_svn = 2
        self.policy = 0x1F | SNP_POLICY_SMT | SNP_POLICY_RESERVED1  # 0x3001f

    def tcbm(self):
        """THIM tcbm string: the TCB as 16 hex chars, most significant first."""
        return self.tcb[::-1].hex().upper()

    def report(self, report_data, debuggable=False):
        if len(report_data) != 64:
            raise ValueError("report_data must be 64 bytes")
        policy = self.policy | (SNP_POLICY_DEBUG if debuggable else 0)
        r = bytearray(SNP_REPORT_SIZE)
        struct.pack_into("<IIQ", r, 0x00, self.version, self.guest_svn, policy)
        r[0x10:0x20] = b"\x01" + bytes(15)            # family_id
        r[0x20:0x30] = b"\x02" + bytes(15)            # image_id
        struct.pack_into("<II", r, 0x30, 0, 1)        # vmpl 0, ECDSA-P384-SHA384
        r[0x38:0x40] = self.tcb                       # current_tcb
        struct.pack_into("<Q", r, 0x40, 1)            # platform_info: SMT enabled
        struct.pack_into("<I", r, 0x48, 0)            # author_key_en etc.
        r[0x50:0x90] = report_data
        r[0x90:0xC0] = self.measurement
        r[0xE0:0x110] = self.id_key_digest
        r[0x140:0x160] = self.report_id
        r[0x160:0x180] = b"\xff" * 32                 # report_id_ma
        r[0x180:0x188] = self.tcb                     # reported_tcb
        if self.version >= 3:
            r[0x188:0x18B] = bytes([0x19, 0x11, 0x01])  # cpuid fam/model/step
        r[0x1A0:0x1E0] = self.chip_id
        r[0x1E0:0x1E8] = self.tcb                     # committed_tcb
        r[0x1E8:0x1F0] = bytes([4, 0x34, 1, 0, 4, 0x34, 1, 0])
        r[0x1F0:0x1F8] = self.tcb                     # launch_tcb
        sig = self.vcek_key.sign(bytes(r[:SNP_SIGNED_SIZE]), ec.ECDSA(hashes.SHA384()))
        rr, ss = asym_utils.decode_dss_signature(sig)
        r[0x2A0:0x2A0 + 72] = rr.to_bytes(72, "little")
        r[0x2A0 + 72:0x2A0 + 144] = ss.to_bytes(72, "little")
        return bytes(r)


def snp_verify_signature(report, vcek_pub):
    if len(report) != SNP_REPORT_SIZE:
        raise ReportError("SNP report must be 1184 bytes, got %d" % len(report))
    sig_algo = struct.unpack_from("<I", report, 0x34)[0]
    if sig_algo != 1:
        raise ReportError("SNP signature_algo %d is not ECDSA-P384-SHA384" % sig_algo)
    rr = int.from_bytes(report[0x2A0:0x2A0 + 72], "little")
    ss = int.from_bytes(report[0x2A0 + 72:0x2A0 + 144], "little")
    der = asym_utils.encode_dss_signature(rr, ss)
    try:
        vcek_pub.verify(der, report[:SNP_SIGNED_SIZE], ec.ECDSA(hashes.SHA384()))
    except InvalidSignature:
        raise ReportError("SNP report signature does not verify with the VCEK")


def snp_fields(report):
    version, guest_svn, policy = struct.unpack_from("<IIQ", report, 0)
    vmpl = struct.unpack_from("<I", report, 0x30)[0]
    reported = report[0x180:0x188]
    return {
        "version": version, "guest_svn": guest_svn, "policy": policy,
        "vmpl": vmpl, "family_id": report[0x10:0x20], "image_id": report[0x20:0x30],
        "report_data": report[0x50:0x90], "measurement": report[0x90:0xC0],
        "host_data": report[0xC0:0xE0], "id_key_digest": report[0xE0:0x110],
        "author_key_digest": report[0x110:0x140], "report_id": report[0x140:0x160],
        "reported_tcb": reported, "chip_id": report[0x1A0:0x1E0],
    }


def snp_claims(report):
    """MAA's x-ms-sevsnpvm-* claims for an SNP report (hex lower-case).
    SVNs are taken from reported_tcb (see tests/sim/README.md)."""
    f = snp_fields(report)
    t = f["reported_tcb"]
    pol = f["policy"]
    return {
        "x-ms-sevsnpvm-authorkeydigest": f["author_key_digest"].hex(),
        "x-ms-sevsnpvm-bootloader-svn": t[0],
        "x-ms-sevsnpvm-familyId": f["family_id"].hex(),
        "x-ms-sevsnpvm-guestsvn": f["guest_svn"],
        "x-ms-sevsnpvm-hostdata": f["host_data"].hex(),
        "x-ms-sevsnpvm-idkeydigest": f["id_key_digest"].hex(),
        "x-ms-sevsnpvm-imageId": f["image_id"].hex(),
        "x-ms-sevsnpvm-is-debuggable": bool(pol & SNP_POLICY_DEBUG),
        "x-ms-sevsnpvm-launchmeasurement": f["measurement"].hex(),
        "x-ms-sevsnpvm-microcode-svn": t[7],
        "x-ms-sevsnpvm-migration-allowed": bool(pol & SNP_POLICY_MIGRATE_MA),
        "x-ms-sevsnpvm-reportdata": f["report_data"].hex(),
        "x-ms-sevsnpvm-reportid": f["report_id"].hex(),
        "x-ms-sevsnpvm-smt-allowed": bool(pol & SNP_POLICY_SMT),
        "x-ms-sevsnpvm-snpfw-svn": t[6],
        "x-ms-sevsnpvm-tee-svn": t[1],
        "x-ms-sevsnpvm-vmpl": f["vmpl"],
    }


# ---- TDX ----------------------------------------------------------------------
class TdxPlatform:
    """A simulated TDX module: TD reports MAC'ed with a platform secret."""

    def __init__(self, mac_key, seed):
        self.mac_key = mac_key
        h = lambda tag, n: hashlib.sha512(seed + tag).digest()[:n]
        self.cpusvn = bytes.fromhex("0606131503ff00030000000000000000")
        self.tee_tcb_svn = bytes.fromhex("02010600000000000000000000000000")
        self.mrseam = h(b"mrseam", 48)
        self.mrtd = h(b"mrtd", 48)
        self.rtmr = [h(b"rtmr%d" % i, 48) for i in range(4)]
        self.xfam = bytes.fromhex("e718060000000000")
        self.attributes = 0x0000000010000000  # SEPT_VE_DISABLE

    def tee_tcb_info(self):
        t = bytearray(239)
        t[0:8] = bytes.fromhex("ff01030000000000")   # valid
        t[8:24] = self.tee_tcb_svn
        t[24:72] = self.mrseam
        # mrsignerseam (72..119) and attributes (120..127) zero (Intel module)
        t[128:144] = self.tee_tcb_svn                  # tee_tcb_svn2 (TDX 1.5)
        return bytes(t)

    def tdinfo(self, debuggable):
        attrs = self.attributes | (TD_ATTR_DEBUG if debuggable else 0)
        t = bytearray(512)
        struct.pack_into("<Q", t, 0, attrs)
        t[8:16] = self.xfam
        t[16:64] = self.mrtd
        for i in range(4):
            t[208 + 48 * i:256 + 48 * i] = self.rtmr[i]
        return bytes(t)

    def report(self, report_data, debuggable=False):
        if len(report_data) != 64:
            raise ValueError("report_data must be 64 bytes")
        tcb = self.tee_tcb_info()
        info = self.tdinfo(debuggable)
        r = bytearray(TD_REPORT_SIZE)
        r[0:4] = bytes([0x81, 0, 0, 0])
        r[16:32] = self.cpusvn
        r[32:80] = hashlib.sha384(tcb).digest()
        r[80:128] = hashlib.sha384(info).digest()
        r[128:192] = report_data
        r[224:256] = hmac.new(self.mac_key, bytes(r[:224]), hashlib.sha256).digest()
        r[256:495] = tcb
        r[512:1024] = info
        return bytes(r)

    def check_report(self, r):
        """What the quoting enclave checks before quoting (EVERIFYREPORT2)."""
        if len(r) != TD_REPORT_SIZE:
            raise ReportError("TD report must be 1024 bytes, got %d" % len(r))
        if r[0] != 0x81:
            raise ReportError("TD report type is 0x%02x, not 0x81" % r[0])
        mac = hmac.new(self.mac_key, r[:224], hashlib.sha256).digest()
        if not hmac.compare_digest(mac, r[224:256]):
            raise ReportError("TD report MAC does not verify on this platform")
        if hashlib.sha384(r[256:495]).digest() != r[32:80]:
            raise ReportError("TD report tee_tcb_info_hash mismatch")
        if hashlib.sha384(r[512:1024]).digest() != r[80:128]:
            raise ReportError("TD report tee_info_hash mismatch")


def td_quote_body(r):
    """DCAP v4 TD quote body (584 bytes) from a 1024-byte TD report."""
    tcb = r[256:495]
    info = r[512:1024]
    return (tcb[8:24] + tcb[24:72] + tcb[72:120] + tcb[120:128] +
            info[0:8] + info[8:16] + info[16:64] + info[64:112] + info[112:160] +
            info[160:208] + info[208:400] + r[128:192])


def td_quote(r, att_key, cert_chain_pem):
    header = struct.pack("<HHIHH", 4, 2, 0x81, 0, 0) + QE_VENDOR_ID + bytes(20)
    body = td_quote_body(r)
    der = att_key.sign(header + body, ec.ECDSA(hashes.SHA256()))
    rr, ss = asym_utils.decode_dss_signature(der)
    pub = att_key.public_key().public_bytes(serialization.Encoding.X962,
                                            serialization.PublicFormat.UncompressedPoint)[1:]
    cert = struct.pack("<HI", QUOTE_CERT_TYPE_CHAIN, len(cert_chain_pem)) + cert_chain_pem
    sigdata = rr.to_bytes(32, "big") + ss.to_bytes(32, "big") + pub + cert
    return header + body + struct.pack("<I", len(sigdata)) + sigdata


def parse_td_quote(q):
    """Parse the simulator's TD quote; returns dict with header/body fields,
    the raw signed bytes, signature (r,s), attestation key and cert chain."""
    if len(q) < QUOTE_HEADER_SIZE + QUOTE_BODY_SIZE + 4:
        raise ReportError("TD quote too short (%d bytes)" % len(q))
    version, key_type, tee_type = struct.unpack_from("<HHI", q, 0)
    if version != 4:
        raise ReportError("TD quote version %d, expected 4" % version)
    if key_type != 2:
        raise ReportError("TD quote attestation key type %d, expected 2 (ECDSA-P256)" % key_type)
    if tee_type != 0x81:
        raise ReportError("TD quote TEE type 0x%x, expected 0x81" % tee_type)
    body = q[QUOTE_HEADER_SIZE:QUOTE_HEADER_SIZE + QUOTE_BODY_SIZE]
    off = QUOTE_HEADER_SIZE + QUOTE_BODY_SIZE
    siglen = struct.unpack_from("<I", q, off)[0]
    off += 4
    if siglen < 134 or off + siglen > len(q):
        raise ReportError("TD quote signature data length invalid")
    sd = q[off:off + siglen]
    if any(q[off + siglen:]):
        raise ReportError("TD quote has non-zero trailing bytes")
    ctype, clen = struct.unpack_from("<HI", sd, 128)
    if ctype != QUOTE_CERT_TYPE_CHAIN or 134 + clen != len(sd):
        raise ReportError("TD quote certification data invalid")
    b = body
    return {
        "signed": q[:off - 4], "sig": (int.from_bytes(sd[0:32], "big"),
                                       int.from_bytes(sd[32:64], "big")),
        "att_key": b"\x04" + sd[64:128], "chain": sd[134:134 + clen],
        "tee_tcb_svn": b[0:16], "mrseam": b[16:64], "mrsignerseam": b[64:112],
        "seam_attributes": b[112:120], "td_attributes": b[120:128],
        "xfam": b[128:136], "mrtd": b[136:184], "mrconfigid": b[184:232],
        "mrowner": b[232:280], "mrownerconfig": b[280:328],
        "rtmr": [b[328 + 48 * i:376 + 48 * i] for i in range(4)],
        "report_data": b[520:584],
    }


def td_report_fields(r):
    """Quote-body-equivalent fields straight from a TD report."""
    return parse_td_quote_fields(td_quote_body(r))


def parse_td_quote_fields(b):
    return {"tee_tcb_svn": b[0:16], "mrseam": b[16:64], "mrsignerseam": b[64:112],
            "seam_attributes": b[112:120], "td_attributes": b[120:128],
            "xfam": b[128:136], "mrtd": b[136:184], "mrconfigid": b[184:232],
            "mrowner": b[232:280], "mrownerconfig": b[280:328],
            "rtmr": [b[328 + 48 * i:376 + 48 * i] for i in range(4)],
            "report_data": b[520:584]}


def tdx_claims(f, platform=False):
    """tdx_* claims (hex lower-case). platform=True adds the TdxVm-only ones."""
    attrs = struct.unpack("<Q", f["td_attributes"])[0]
    c = {
        "tdx_mrseam": f["mrseam"].hex(),
        "tdx_mrtd": f["mrtd"].hex(),
        "tdx_report_data": f["report_data"].hex(),
        "tdx_rtmr0": f["rtmr"][0].hex(),
        "tdx_rtmr1": f["rtmr"][1].hex(),
        "tdx_rtmr2": f["rtmr"][2].hex(),
        "tdx_rtmr3": f["rtmr"][3].hex(),
        "tdx_seamsvn": struct.unpack("<H", f["tee_tcb_svn"][0:2])[0],
        "tdx_td_attributes": f["td_attributes"].hex(),
        "tdx_td_attributes_debug": bool(attrs & TD_ATTR_DEBUG),
        "tdx_tee_tcb_svn": f["tee_tcb_svn"].hex(),
        "tdx_xfam": f["xfam"].hex(),
    }
    if platform:
        c.update({
            "tdx_mrconfigid": f["mrconfigid"].hex(),
            "tdx_mrowner": f["mrowner"].hex(),
            "tdx_mrownerconfig": f["mrownerconfig"].hex(),
            "tdx_mrsignerseam": f["mrsignerseam"].hex(),
            "tdx_seam_attributes": f["seam_attributes"].hex(),
            "tdx_td_attributes_key_locker": bool(attrs & (1 << 31)),
            "tdx_td_attributes_perfmon": bool(attrs & (1 << 63)),
            "tdx_td_attributes_protection_keys": bool(attrs & (1 << 30)),
            "tdx_td_attributes_septve_disable": bool(attrs & (1 << 28)),
        })
    return c
