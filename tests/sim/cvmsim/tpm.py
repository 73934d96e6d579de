"""TPM 2.0 wire marshaling for the simulated Azure vTPM.

Only the small subset of TPM 2.0 Part 2/3 the simulator needs: building raw
commands (sent by the paravisor over its upstream connection to swtpm) and
parsing the structures a guest sends to MAA (TPM2B_PUBLIC, TPMS_ATTEST).
All integers are big-endian, as on the TPM wire.
"""

import hashlib
import struct

# ---- constants (TPM 2.0 Part 2) -------------------------------------------
ST_NO_SESSIONS = 0x8001
ST_SESSIONS = 0x8002

CC_NV_UndefineSpace = 0x122
CC_EvictControl = 0x120
CC_NV_DefineSpace = 0x12A
CC_PCR_Allocate = 0x12B
CC_CreatePrimary = 0x131
CC_NV_Write = 0x137
CC_Startup = 0x144
CC_Shutdown = 0x145
CC_NV_Read = 0x14E
CC_FlushContext = 0x165
CC_NV_ReadPublic = 0x169
CC_ReadPublic = 0x173
CC_GetCapability = 0x17A
CC_PCR_Read = 0x17E
CC_PCR_Extend = 0x182
CC_PolicyPCR = 0x17F

RH_OWNER = 0x40000001
RS_PW = 0x40000009
RH_ENDORSEMENT = 0x4000000B
RH_PLATFORM = 0x4000000C

SU_CLEAR = 0x0000

ALG_RSA = 0x0001
ALG_SHA1 = 0x0004
ALG_AES = 0x0006
ALG_SHA256 = 0x000B
ALG_SHA384 = 0x000C
ALG_SHA512 = 0x000D
ALG_NULL = 0x0010
ALG_RSASSA = 0x0014
ALG_RSAES = 0x0015
ALG_ECC = 0x0023
ALG_CFB = 0x0043

HASHES = {
    ALG_SHA1: hashlib.sha1,
    ALG_SHA256: hashlib.sha256,
    ALG_SHA384: hashlib.sha384,
    ALG_SHA512: hashlib.sha512,
}
HASH_NAMES = {ALG_SHA1: "sha1", ALG_SHA256: "sha256",
              ALG_SHA384: "sha384", ALG_SHA512: "sha512"}

# TPMA_OBJECT
OA_FIXEDTPM = 1 << 1
OA_STCLEAR = 1 << 2
OA_FIXEDPARENT = 1 << 4
OA_SENSITIVEDATAORIGIN = 1 << 5
OA_USERWITHAUTH = 1 << 6
OA_ADMINWITHPOLICY = 1 << 7
OA_NODA = 1 << 10
OA_ENCRYPTEDDUPLICATION = 1 << 11
OA_RESTRICTED = 1 << 16
OA_DECRYPT = 1 << 17
OA_SIGN = 1 << 18

# TPMA_NV
NV_PPWRITE = 1 << 0
NV_OWNERWRITE = 1 << 1
NV_AUTHWRITE = 1 << 2
NV_PPREAD = 1 << 16
NV_OWNERREAD = 1 << 17
NV_AUTHREAD = 1 << 18
NV_NO_DA = 1 << 25
NV_WRITTEN = 1 << 29

ST_ATTEST_CERTIFY = 0x8017
ST_ATTEST_QUOTE = 0x8018
GENERATED_VALUE = 0xFF544347

RC_SUCCESS = 0
RC_FAILURE = 0x101


class TpmError(Exception):
    def __init__(self, cc, rc):
        super().__init__("TPM command 0x%x failed: rc=0x%x" % (cc, rc))
        self.cc = cc
        self.rc = rc


class ParseError(ValueError):
    pass


# ---- marshaling helpers ---------------------------------------------------
def u8(v):
    return struct.pack(">B", v)


def u16(v):
    return struct.pack(">H", v)


def u32(v):
    return struct.pack(">I", v)


def u64(v):
    return struct.pack(">Q", v)


def tpm2b(data):
    return u16(len(data)) + bytes(data)


class Reader:
    """Bounds-checked big-endian reader; every overrun raises ParseError."""

    def __init__(self, data, what="structure"):
        self.data = bytes(data)
        self.pos = 0
        self.what = what

    def take(self, n):
        if n < 0 or self.pos + n > len(self.data):
            raise ParseError("%s truncated" % self.what)
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def u8(self):
        return self.take(1)[0]

    def u16(self):
        return struct.unpack(">H", self.take(2))[0]

    def u32(self):
        return struct.unpack(">I", self.take(4))[0]

    def u64(self):
        return struct.unpack(">Q", self.take(8))[0]

    def tpm2b(self):
        return self.take(self.u16())

    def remaining(self):
        return len(self.data) - self.pos

    def end(self):
        if self.pos != len(self.data):
            raise ParseError("%s has %d trailing bytes" % (self.what, self.remaining()))


def pw_auth(password=b""):
    """A TPM_RS_PW authorization (one session) with its u32 size prefix."""
    sess = u32(RS_PW) + tpm2b(b"") + u8(0) + tpm2b(password)
    return u32(len(sess)) + sess


def command(cc, handles=(), params=b"", sessions=None):
    """Build a command. sessions: None (no auth area) or raw auth area bytes."""
    body = b"".join(u32(h) for h in handles)
    tag = ST_NO_SESSIONS
    if sessions is not None:
        body += sessions
        tag = ST_SESSIONS
    body += params
    return u16(tag) + u32(10 + len(body)) + u32(cc) + body


def header(buf):
    """(tag, size, code) of a command or response header (10 bytes)."""
    return struct.unpack(">HII", buf[:10])


def pcr_selection(alg_pcrs):
    """TPML_PCR_SELECTION from [(alg, [pcr...]), ...] with 3-byte bitmaps."""
    out = u32(len(alg_pcrs))
    for alg, pcrs in alg_pcrs:
        bm = bytearray(3)
        for p in pcrs:
            bm[p // 8] |= 1 << (p % 8)
        out += u16(alg) + u8(3) + bytes(bm)
    return out


def parse_pcr_selection(r):
    sels = []
    n = r.u32()
    if n > 16:
        raise ParseError("too many PCR banks in selection")
    for _ in range(n):
        alg = r.u16()
        size = r.u8()
        if size < 3 or size > 32:
            raise ParseError("bad sizeofSelect %d" % size)
        bm = r.take(size)
        pcrs = [i for i in range(size * 8) if bm[i // 8] & (1 << (i % 8))]
        sels.append((alg, pcrs))
    return sels


# ---- TPMT_PUBLIC ----------------------------------------------------------
def rsa_public(attrs, name_alg=ALG_SHA256, auth_policy=b"", sym=None,
               scheme=(ALG_NULL, None), key_bits=2048, exponent=0,
               unique=b""):
    """Marshal a TPMT_PUBLIC for an RSA key."""
    out = u16(ALG_RSA) + u16(name_alg) + u32(attrs) + tpm2b(auth_policy)
    if sym is None:
        out += u16(ALG_NULL)
    else:
        out += u16(sym[0]) + u16(sym[1]) + u16(sym[2])
    out += u16(scheme[0])
    if scheme[0] != ALG_NULL:
        out += u16(scheme[1])
    out += u16(key_bits) + u32(exponent) + tpm2b(unique)
    return out


def ak_template():
    """Azure-like AK: restricted RSA-2048 RSASSA-SHA256 signing key."""
    attrs = (OA_FIXEDTPM | OA_FIXEDPARENT | OA_SENSITIVEDATAORIGIN |
             OA_USERWITHAUTH | OA_NODA | OA_RESTRICTED | OA_SIGN)
    return rsa_public(attrs, scheme=(ALG_RSASSA, ALG_SHA256))


EK_POLICY = bytes.fromhex(
    "837197674484b3f81a90cc8d46a5d724fd52d76e06520b64f2a1da1b331469aa")


def ek_template():
    """TCG EK Credential Profile template L-1 (RSA 2048), as tpm2_createek."""
    attrs = (OA_FIXEDTPM | OA_FIXEDPARENT | OA_SENSITIVEDATAORIGIN |
             OA_ADMINWITHPOLICY | OA_RESTRICTED | OA_DECRYPT)
    return rsa_public(attrs, auth_policy=EK_POLICY, sym=(ALG_AES, 128, ALG_CFB),
                      unique=bytes(256))


class Public:
    """Parsed TPMT_PUBLIC (RSA only; other types are rejected)."""

    def __init__(self, raw):
        self.raw = bytes(raw)
        r = Reader(raw, "TPMT_PUBLIC")
        self.type = r.u16()
        self.name_alg = r.u16()
        self.attrs = r.u32()
        self.auth_policy = r.tpm2b()
        if self.type != ALG_RSA:
            raise ParseError("key type 0x%04x is not RSA" % self.type)
        self.sym_alg = r.u16()
        self.sym = None
        if self.sym_alg != ALG_NULL:
            self.sym = (self.sym_alg, r.u16(), r.u16())
        self.scheme = r.u16()
        self.scheme_hash = None
        if self.scheme != ALG_NULL:
            self.scheme_hash = r.u16()
        self.key_bits = r.u16()
        self.exponent = r.u32()
        self.modulus = r.tpm2b()
        r.end()
        if self.name_alg not in HASHES:
            raise ParseError("unsupported nameAlg 0x%04x" % self.name_alg)

    @property
    def e(self):
        return self.exponent or 65537

    @property
    def n(self):
        return int.from_bytes(self.modulus, "big")

    def name(self):
        return u16(self.name_alg) + HASHES[self.name_alg](self.raw).digest()


def parse_tpm2b_public(raw):
    """TPM2B_PUBLIC (size-prefixed) → Public; the size must cover it exactly."""
    r = Reader(raw, "TPM2B_PUBLIC")
    inner = r.tpm2b()
    r.end()
    return Public(inner)


# ---- TPMS_ATTEST ----------------------------------------------------------
class Attest:
    def __init__(self, raw):
        self.raw = bytes(raw)
        r = Reader(raw, "TPMS_ATTEST")
        self.magic = r.u32()
        self.type = r.u16()
        if self.magic != GENERATED_VALUE:
            raise ParseError("TPMS_ATTEST magic is 0x%08x, not 0xff544347" % self.magic)
        self.qualified_signer = r.tpm2b()
        self.extra_data = r.tpm2b()
        self.clock = r.u64()
        self.reset_count = r.u32()
        self.restart_count = r.u32()
        self.safe = r.u8()
        self.firmware_version = r.u64()
        if self.type == ST_ATTEST_QUOTE:
            self.pcr_select = parse_pcr_selection(r)
            self.pcr_digest = r.tpm2b()
        elif self.type == ST_ATTEST_CERTIFY:
            self.certified_name = r.tpm2b()
            self.certified_qname = r.tpm2b()
        else:
            raise ParseError("TPMS_ATTEST type 0x%04x not supported" % self.type)
        r.end()


def policy_pcr_digest(sel_pcrs, pcr_values, alg=ALG_SHA256):
    """PolicyPCR digest from an empty policy (TPM 2.0 Part 3, 23.7)."""
    h = HASHES[alg]
    pcr_digest = h(b"".join(pcr_values)).digest()
    sel = pcr_selection([(alg, sel_pcrs)])
    return h(bytes(h().digest_size) + u32(CC_PolicyPCR) + sel + pcr_digest).digest()


# ---- response parsing -----------------------------------------------------
def check_response(cc, rsp):
    tag, size, rc = header(rsp)
    if rc != RC_SUCCESS:
        raise TpmError(cc, rc)
    return tag


def response_params(rsp, nhandles=0):
    """Return (handles, parameter bytes) of a successful response."""
    tag, size, rc = header(rsp)
    r = Reader(rsp[10:size], "response")
    handles = [r.u32() for _ in range(nhandles)]
    if tag == ST_SESSIONS:
        plen = r.u32()
        params = r.take(plen)
    else:
        params = r.take(r.remaining())
    return handles, params
