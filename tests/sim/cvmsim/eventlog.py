"""TCG PC Client crypto-agile event log: building the simulated boot log and
parsing/replaying logs (strictly, as a verifier would)."""

import hashlib
import struct

from . import tpm

EV_POST_CODE = 0x1
EV_NO_ACTION = 0x3
EV_SEPARATOR = 0x4
EV_S_CRTM_VERSION = 0x8
EV_EFI_VARIABLE_DRIVER_CONFIG = 0x80000001
EV_EFI_VARIABLE_BOOT = 0x80000002
EV_EFI_BOOT_SERVICES_APPLICATION = 0x80000003
EV_EFI_GPT_EVENT = 0x80000006
EV_EFI_ACTION = 0x80000007
EV_EFI_HANDOFF_TABLES = 0x80000009
EV_EFI_VARIABLE_AUTHORITY = 0x800000E0

SPEC_ID_SIGNATURE = b"Spec ID Event03\0"
STARTUP_LOCALITY_SIGNATURE = b"StartupLocality\0"

DIGEST_SIZES = {tpm.ALG_SHA1: 20, tpm.ALG_SHA256: 32,
                tpm.ALG_SHA384: 48, tpm.ALG_SHA512: 64}

EFI_GLOBAL_VARIABLE = "8be4df61-93ca-11d2-aa0d-00e098032b8c"
EFI_IMAGE_SECURITY_DATABASE = "d719b2cb-3d3a-4596-a3bc-dad00e67656f"
EFI_CERT_X509_GUID = "a5c059a1-94e4-4aa7-87b5-ab155c2bf072"
EFI_CERT_SHA256_GUID = "c1c41626-504c-4092-aca9-41f936934328"


class EventLogError(ValueError):
    pass


def efi_guid(s):
    """EFI_GUID bytes (first three fields little-endian)."""
    h = bytes.fromhex(s.replace("-", ""))
    return h[0:4][::-1] + h[4:6][::-1] + h[6:8][::-1] + h[8:16]


def guid_str(b):
    return "-".join([b[0:4][::-1].hex(), b[4:6][::-1].hex(), b[6:8][::-1].hex(),
                     b[8:10].hex(), b[10:16].hex()])


def uefi_variable_data(guid, name, data):
    uname = name.encode("utf-16-le")
    return efi_guid(guid) + struct.pack("<QQ", len(name), len(data)) + uname + data


def parse_uefi_variable_data(ev):
    if len(ev) < 32:
        raise EventLogError("UEFI_VARIABLE_DATA truncated")
    guid = guid_str(ev[0:16])
    nlen, dlen = struct.unpack_from("<QQ", ev, 16)
    if 32 + 2 * nlen + dlen != len(ev):
        raise EventLogError("UEFI_VARIABLE_DATA sizes inconsistent")
    name = ev[32:32 + 2 * nlen].decode("utf-16-le", "replace")
    return guid, name, ev[32 + 2 * nlen:]


def signature_list(type_guid, owner_guid, entries):
    """EFI_SIGNATURE_LIST with equally sized entries (owner GUID + data)."""
    size = 16 + len(entries[0])
    body = b"".join(efi_guid(owner_guid) + e for e in entries)
    return efi_guid(type_guid) + struct.pack("<III", 28 + len(body), 0, size) + body


class Event:
    def __init__(self, pcr, etype, data, digests):
        self.pcr = pcr
        self.type = etype
        self.data = data
        self.digests = digests  # {alg: bytes}


class LogBuilder:
    def __init__(self, algs=(tpm.ALG_SHA1, tpm.ALG_SHA256), locality=0):
        self.algs = list(algs)
        self.locality = locality
        self.events = []

    def add(self, pcr, etype, data, digest_of=None):
        """Append an event; its digests hash digest_of (defaults to data)."""
        src = data if digest_of is None else digest_of
        d = {a: tpm.HASHES[a](src).digest() for a in self.algs}
        self.events.append(Event(pcr, etype, data, d))

    def add_no_action(self, pcr, data):
        self.events.append(Event(pcr, EV_NO_ACTION, data,
                                 {a: bytes(DIGEST_SIZES[a]) for a in self.algs}))

    def serialize(self):
        spec = SPEC_ID_SIGNATURE + struct.pack("<IBBBBI", 0, 0, 2, 0, 2, len(self.algs))
        for a in self.algs:
            spec += struct.pack("<HH", a, DIGEST_SIZES[a])
        spec += b"\0"  # vendorInfoSize
        out = struct.pack("<II", 0, EV_NO_ACTION) + bytes(20) + struct.pack("<I", len(spec)) + spec
        for ev in self.events:
            out += struct.pack("<III", ev.pcr, ev.type, len(self.algs))
            for a in self.algs:
                out += struct.pack("<H", a) + ev.digests[a]
            out += struct.pack("<I", len(ev.data)) + ev.data
        return out


def gpt_data(h):
    """UEFI_GPT_DATA: the GPT header and the used partition entries."""
    disk = efi_guid("3c0cbd2f-8a5c-4d4b-a1c0-%s" % h(b"disk")[:6].hex())
    hdr = (b"EFI PART" + struct.pack("<IIII", 0x00010000, 92, 0, 0) +
           struct.pack("<QQQQ", 1, 62914559, 34, 62914526) + disk +
           struct.pack("<QIII", 2, 128, 128, 0))
    parts = []
    for i, (ptype, pname, first, last) in enumerate((
            ("c12a7328-f81f-11d2-ba4b-00a0c93ec93b", "EFI System", 2048, 264191),
            ("0fc63daf-8483-4772-8e79-3d69d8477de4", "rootfs", 264192, 62914526))):
        uniq = efi_guid("9a1b0c2d-%04x-4e5f-8a9b-%s" % (i, h(b"part%d" % i)[:6].hex()))
        name = pname.encode("utf-16-le").ljust(72, b"\0")
        parts.append(efi_guid(ptype) + uniq + struct.pack("<QQQ", first, last, 0) + name)
    return hdr + struct.pack("<Q", len(parts)) + b"".join(parts)


def build_boot_log(seed, secure_boot=True):
    """The simulated Azure CVM boot log (UEFI firmware → shim → grub → kernel)."""
    b = LogBuilder()
    h = lambda tag: hashlib.sha256(seed + tag).digest()
    b.add_no_action(0, STARTUP_LOCALITY_SIGNATURE + bytes([0]))
    ver = "Hyper-V UEFI Release v4.1".encode("utf-16-le") + b"\0\0"
    b.add(0, EV_S_CRTM_VERSION, ver)
    b.add(0, EV_POST_CODE, b"ACPI DATA", digest_of=h(b"acpi"))
    # PCR7: Secure Boot configuration (TCG PFP 10.4.4)
    b.add(7, EV_EFI_VARIABLE_DRIVER_CONFIG,
          uefi_variable_data(EFI_GLOBAL_VARIABLE, "SecureBoot", b"\x01" if secure_boot else b"\x00"))
    owner = "77fa9abd-0359-4d32-bd60-28f4e78f784b"  # Microsoft signature owner
    certs = {name: b"\x30\x82" + h(name.encode()) * 8 for name in ("PK", "KEK", "db")}
    b.add(7, EV_EFI_VARIABLE_DRIVER_CONFIG, uefi_variable_data(
        EFI_GLOBAL_VARIABLE, "PK", signature_list(EFI_CERT_X509_GUID, owner, [certs["PK"]])))
    b.add(7, EV_EFI_VARIABLE_DRIVER_CONFIG, uefi_variable_data(
        EFI_GLOBAL_VARIABLE, "KEK", signature_list(EFI_CERT_X509_GUID, owner, [certs["KEK"]])))
    b.add(7, EV_EFI_VARIABLE_DRIVER_CONFIG, uefi_variable_data(
        EFI_IMAGE_SECURITY_DATABASE, "db", signature_list(EFI_CERT_X509_GUID, owner, [certs["db"]])))
    dbx = [h(b"dbx%d" % i) for i in range(4)]
    b.add(7, EV_EFI_VARIABLE_DRIVER_CONFIG, uefi_variable_data(
        EFI_IMAGE_SECURITY_DATABASE, "dbx", signature_list(EFI_CERT_SHA256_GUID, owner, dbx)))
    b.add(1, EV_EFI_VARIABLE_BOOT, uefi_variable_data(EFI_GLOBAL_VARIABLE, "BootOrder", b"\x00\x00"))
    b.add(1, EV_EFI_VARIABLE_BOOT, uefi_variable_data(
        EFI_GLOBAL_VARIABLE, "Boot0000", b"\x01\x00\x00\x00" + "ubuntu".encode("utf-16-le") + b"\0\0"))
    b.add(1, EV_EFI_HANDOFF_TABLES, struct.pack("<Q", 1) + h(b"smbios")[:24],
          digest_of=h(b"tables"))
    for pcr in range(0, 8):
        b.add(pcr, EV_SEPARATOR, b"\0\0\0\0")
    b.add(4, EV_EFI_ACTION, b"Calling EFI Application from Boot Option")
    b.add(5, EV_EFI_GPT_EVENT, gpt_data(h))
    b.add(7, EV_EFI_VARIABLE_AUTHORITY, uefi_variable_data(
        EFI_IMAGE_SECURITY_DATABASE, "db", efi_guid(owner) + certs["db"]))
    for i, name in enumerate((b"shimx64.efi", b"grubx64.efi", b"vmlinuz")):
        # UEFI_IMAGE_LOAD_EVENT; the digest is the image's Authenticode hash
        ev = struct.pack("<QQQQ", 0x1000000 * (i + 1), 0x100000, 0, 4) + b"\x7f\xff\x04\x00"
        b.add(4, EV_EFI_BOOT_SERVICES_APPLICATION, ev, digest_of=h(b"image:" + name))
    b.add(5, EV_EFI_ACTION, b"Exit Boot Services Invocation")
    b.add(5, EV_EFI_ACTION, b"Exit Boot Services Returned with Success")
    return b


def parse(data):
    """Parse a crypto-agile log strictly. Returns (algs, locality, events)."""
    data = bytes(data)
    if len(data) < 32:
        raise EventLogError("event log too short")
    pcr, etype = struct.unpack_from("<II", data, 0)
    size = struct.unpack_from("<I", data, 28)[0]
    if etype != EV_NO_ACTION or pcr != 0 or 32 + size > len(data):
        raise EventLogError("first event is not a Spec ID EV_NO_ACTION event")
    spec = data[32:32 + size]
    if len(spec) < 29 or spec[:16] != SPEC_ID_SIGNATURE:
        raise EventLogError("missing 'Spec ID Event03' (not a crypto-agile log)")
    nalg = struct.unpack_from("<I", spec, 24)[0]
    if nalg < 1 or nalg > 8 or 28 + 4 * nalg + 1 > len(spec):
        raise EventLogError("bad algorithm count in Spec ID event")
    sizes = {}
    for i in range(nalg):
        alg, dsize = struct.unpack_from("<HH", spec, 28 + 4 * i)
        if alg in DIGEST_SIZES and DIGEST_SIZES[alg] != dsize:
            raise EventLogError("wrong digest size for alg 0x%04x" % alg)
        sizes[alg] = dsize
    off = 32 + size
    events = []
    locality = 0
    while off < len(data):
        if off + 12 > len(data):
            raise EventLogError("truncated event header at offset %d" % off)
        pcr, etype, count = struct.unpack_from("<III", data, off)
        off += 12
        if count != len(sizes):
            raise EventLogError("event at offset %d has %d digests, expected %d" % (off, count, len(sizes)))
        digests = {}
        for _ in range(count):
            if off + 2 > len(data):
                raise EventLogError("truncated digest")
            alg = struct.unpack_from("<H", data, off)[0]
            off += 2
            if alg not in sizes or alg in digests:
                raise EventLogError("unexpected digest algorithm 0x%04x" % alg)
            if off + sizes[alg] > len(data):
                raise EventLogError("truncated digest")
            digests[alg] = data[off:off + sizes[alg]]
            off += sizes[alg]
        if off + 4 > len(data):
            raise EventLogError("truncated event size")
        esize = struct.unpack_from("<I", data, off)[0]
        off += 4
        if off + esize > len(data):
            raise EventLogError("truncated event data")
        ev = data[off:off + esize]
        off += esize
        if pcr > 23:
            raise EventLogError("PCR index %d out of range" % pcr)
        if etype == EV_NO_ACTION and ev.startswith(STARTUP_LOCALITY_SIGNATURE) and len(ev) == 17:
            locality = ev[16]
        events.append(Event(pcr, etype, ev, digests))
    return sorted(sizes), locality, events


def replay(events, alg, locality=0, pcrs=range(24)):
    """Replay one bank; returns {pcr: value}."""
    size = DIGEST_SIZES[alg]
    h = tpm.HASHES[alg]
    vals = {p: bytes(size) for p in pcrs}
    if 0 in vals and locality:
        vals[0] = bytes(size - 1) + bytes([locality])
    for ev in events:
        if ev.type == EV_NO_ACTION or ev.pcr not in vals:
            continue
        vals[ev.pcr] = h(vals[ev.pcr] + ev.digests[alg]).digest()
    return vals
