#!/usr/bin/python3
"""Independent AzureGuest request builder and response checker for the
simulated-CVM integration tests.

Deliberately shares NO code with tests/sim (the emulator): it re-implements
from AZURE-PROTOCOL.md only what a client needs, from evidence that the tests
gather with tpm2-tools and curl.

Evidence directory (written by sim-lib/common.sh gather_evidence):
  hcl.bin akcert.bin ak.pub quote.msg quote.sig pcrs.bin eventlog.bin
  enc.pub cert.attest cert.sig  and  thim.json (SNP) or tdquote.json (TDX)
"""

import argparse
import base64
import datetime
import hashlib
import json
import os
import struct
import sys
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID


def b64(b):
    return base64.b64encode(b).decode()


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def unb64u(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def rd(d, name):
    with open(os.path.join(d, name), "rb") as f:
        return f.read()


def fail(msg):
    print("guestreq: FAIL: %s" % msg, file=sys.stderr)
    sys.exit(1)


# ---- independent parsers -------------------------------------------------------
def der_trim(buf):
    """Cut the zero padding after a DER SEQUENCE (outer length)."""
    if buf[0] != 0x30:
        raise ValueError("not DER")
    l = buf[1]
    if l < 0x80:
        return buf[:2 + l]
    n = l & 0x7F
    return buf[:2 + n + int.from_bytes(buf[2:2 + n], "big")]


def hcl_split(blob):
    if blob[:4] != b"HCLA":
        raise ValueError("no HCLA header")
    rtype, htype, vsize = struct.unpack_from("<III", blob, 1216 + 8)
    return {"hw": blob[32:32 + 1184], "type": rtype, "hash": htype,
            "runtime": blob[1236:1236 + vsize]}


def tpm_rsa_public(tpm2b):
    """(n, e, attrs, policy, raw TPMT_PUBLIC) from a TPM2B_PUBLIC."""
    size = struct.unpack(">H", tpm2b[:2])[0]
    t = tpm2b[2:2 + size]
    typ, name_alg, attrs = struct.unpack(">HHI", t[:8])
    plen = struct.unpack(">H", t[8:10])[0]
    policy = t[10:10 + plen]
    o = 10 + plen
    sym = struct.unpack(">H", t[o:o + 2])[0]
    o += 2 if sym == 0x10 else 6
    scheme = struct.unpack(">H", t[o:o + 2])[0]
    o += 2 if scheme == 0x10 else 4
    bits, exp = struct.unpack(">HI", t[o:o + 6])
    o += 6
    nlen = struct.unpack(">H", t[o:o + 2])[0]
    n = int.from_bytes(t[o + 2:o + 2 + nlen], "big")
    return n, exp or 65537, attrs, policy, t


def parse_log(data):
    """Crypto-agile event log → (sha256 PCR replay dict, events)."""
    size = struct.unpack_from("<I", data, 28)[0]
    spec = data[32:32 + size]
    assert spec[:15] == b"Spec ID Event03"
    n = struct.unpack_from("<I", spec, 24)[0]
    sizes = {}
    for i in range(n):
        a, s = struct.unpack_from("<HH", spec, 28 + 4 * i)
        sizes[a] = s
    off = 32 + size
    pcr = {i: bytes(32) for i in range(24)}
    events = []
    while off < len(data):
        idx, typ, cnt = struct.unpack_from("<III", data, off)
        off += 12
        dig = {}
        for _ in range(cnt):
            a = struct.unpack_from("<H", data, off)[0]
            dig[a] = data[off + 2:off + 2 + sizes[a]]
            off += 2 + sizes[a]
        es = struct.unpack_from("<I", data, off)[0]
        ev = data[off + 4:off + 4 + es]
        off += 4 + es
        events.append((idx, typ, dig, ev))
        if typ == 3:  # EV_NO_ACTION is never extended
            if ev[:16] == b"StartupLocality\0" and idx == 0:
                pcr[0] = bytes(31) + ev[16:17]
            continue
        pcr[idx] = hashlib.sha256(pcr[idx] + dig[0x000B]).digest()
    return pcr, events


def append_event(log, pcr, data):
    """A valid extra EV_EFI_ACTION event (sha1+sha256) at the end of the log."""
    out = struct.pack("<III", pcr, 0x80000007, 2)
    out += struct.pack("<H", 0x0004) + hashlib.sha1(data).digest()
    out += struct.pack("<H", 0x000B) + hashlib.sha256(data).digest()
    return log + out + struct.pack("<I", len(data)) + data


def rogue_chain_for(pub, ca_is_ec=False):
    """Self-signed rogue CA → leaf cert for pub (DER leaf, PEM chain)."""
    now = datetime.datetime.utcnow()
    k = ec.generate_private_key(ec.SECP384R1())
    cn = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rogue test CA")])
    ca = (x509.CertificateBuilder().subject_name(cn).issuer_name(cn).public_key(k.public_key())
          .serial_number(1).not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(k, hashes.SHA384()))
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rogue leaf")]))
            .issuer_name(cn).public_key(pub).serial_number(2)
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30)).sign(k, hashes.SHA384()))
    return (leaf.public_bytes(serialization.Encoding.DER),
            leaf.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(serialization.Encoding.PEM),
            ca, k)


# ---- build ---------------------------------------------------------------------
def cmd_build(a):
    d = a.ev
    mut = set(a.mutate or [])
    hclb = hcl_split(rd(d, "hcl.bin"))
    runtime = hclb["runtime"]
    akcert = der_trim(rd(d, "akcert.bin"))
    akpub = rd(d, "ak.pub")
    quote, qsig = rd(d, "quote.msg"), rd(d, "quote.sig")
    pcrs = rd(d, "pcrs.bin")
    log = rd(d, "eventlog.bin")
    encpub = rd(d, a.enc_pub or "enc.pub")
    cert_attest = rd(d, a.certify or "cert.attest")
    cert_sig = rd(d, a.certify_sig or "cert.sig")
    pcrset = list(range(8))
    vals = [pcrs[32 * i:32 * i + 32] for i in range(8)]

    if "ak-cert-untrusted" in mut:
        n, e = tpm_rsa_public(akpub)[:2]
        akcert = rogue_chain_for(rsa.RSAPublicNumbers(e, n).public_key())[0]
    if "ak-cert-wrong-key" in mut:
        ca_cert = x509.load_pem_x509_certificate(open(a.vtpm_ca, "rb").read())
        ca_key = serialization.load_pem_private_key(open(a.vtpm_ca_key, "rb").read(), None)
        other = rsa.generate_private_key(65537, 2048).public_key()
        now = datetime.datetime.utcnow()
        akcert = (x509.CertificateBuilder()
                  .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "other")]))
                  .issuer_name(ca_cert.subject).public_key(other).serial_number(7)
                  .not_valid_before(now - datetime.timedelta(days=1))
                  .not_valid_after(now + datetime.timedelta(days=30))
                  .sign(ca_key, hashes.SHA256())).public_bytes(serialization.Encoding.DER)
    if "quote-signature" in mut:
        qsig = qsig[:-1] + bytes([qsig[-1] ^ 1])
    if "pcr-value" in mut:
        vals[3] = bytes([vals[3][0] ^ 0x80]) + vals[3][1:]
    if "eventlog" in mut:
        log = append_event(log, 4, b"an event the TPM never saw")
    if "enckey-certify-sig" in mut:
        cert_sig = cert_sig[:-1] + bytes([cert_sig[-1] ^ 1])
    if "hcl-binding" in mut:
        runtime = runtime.replace(b'"console-enabled":true', b'"console-enabled":false')

    if hclb["type"] == 2:
        thim = json.load(open(os.path.join(d, "thim.json")))
        chain = (thim["vcekCert"] + thim["certificateChain"]).encode()
        snp = hclb["hw"]
        if "snp-signature" in mut:
            snp = snp[:0x90] + bytes([snp[0x90] ^ 1]) + snp[0x91:]
        if "vcek-untrusted" in mut:
            vk = ec.generate_private_key(ec.SECP384R1())
            _, pems, ca, _ = rogue_chain_for(vk.public_key())
            # VCEK, ASK, ARK = rogue leaf, rogue CA, rogue CA
            chain = pems + ca.public_bytes(serialization.Encoding.PEM)
        if a.encoding == "url":
            proof = b64u(json.dumps({"SnpReport": b64u(snp), "VcekCertChain": b64u(chain)}).encode())
            rtd = b64u(runtime)
        else:
            proof = b64(json.dumps({"SnpReport": b64u(snp), "VcekCertChain": b64(chain)}).encode())
            rtd = b64(runtime)
        iso = {"Type": "SevSnp", "Evidence": {"Proof": proof, "RunTimeData": rtd}}
    elif hclb["type"] == 4:
        quote_td = unb64u(json.load(open(os.path.join(d, "tdquote.json")))["quote"])
        if "td-quote" in mut:
            quote_td = quote_td[:48 + 136] + bytes([quote_td[48 + 136] ^ 1]) + quote_td[48 + 137:]
        enc = b64u if a.encoding == "url" else b64
        iso = {"Type": "Tdx", "Evidence": {"Proof": enc(quote_td), "RunTimeData": enc(runtime)}}
    else:
        fail("unknown HCL report type %d" % hclb["type"])

    payload = {}
    if a.nonce is not None:
        payload["nonce"] = b64(a.nonce.encode())
    info = {
        "AttestationProtocolVersion": "2.0",
        "OSType": b64(b"Linux"), "OSDistro": b64(b"Debian GNU/Linux"),
        "OSVersionMajor": 12, "OSVersionMinor": 0, "OSBuild": b64(b"NotApplication"),
        "TcgLogs": "" if "eventlog-empty" in mut else b64(log),
        "ClientPayload": payload,
        "TpmInfo": {
            "AikCert": b64(akcert), "AikPub": b64(akpub),
            "PcrQuote": b64(quote), "PcrSignature": b64(qsig),
            "PcrSet": pcrset[:-1] if "pcrset" in mut else pcrset,
            "PCRs": [{"Index": i, "Digest": b64(vals[i])} for i in pcrset],
            "EncKeyPub": b64(encpub), "EncKeyCertifyInfo": b64(cert_attest),
            "EncKeyCertifyInfoSignature": b64(cert_sig),
        },
        "IsolationInfo": iso,
    }
    if "schema-missing" in mut:
        del info["TpmInfo"]["PcrQuote"]
    if "schema-type" in mut:
        info["TpmInfo"]["PcrSet"] = "0,1,2,3,4,5,6,7"
    body = {"AttestationInfo": b64u(json.dumps(info).encode())}
    sys.stdout.write(json.dumps(body))


# ---- response handling ----------------------------------------------------------
def envelope(resp_file):
    resp = json.load(open(resp_file))
    tok = resp["token"]
    env = json.loads(unb64u(tok))
    for k in ("EncryptedInnerKey", "EncryptionParams", "AuthenticationData", "Jwt"):
        if k not in env:
            fail("sealed envelope lacks %s" % k)
    p = env["EncryptionParams"]
    if (p.get("BlockMode"), p.get("Cipher"), p.get("BlockPadding")) != ("ChainingModeGCM", "AES", "PKCS7"):
        fail("unexpected EncryptionParams %r" % p)
    return env


def cmd_inner_key(a):
    env = envelope(a.resp)
    key = base64.b64decode(env["EncryptedInnerKey"], validate=True)
    if len(key) != 256:
        fail("EncryptedInnerKey is %d bytes" % len(key))
    open(a.out, "wb").write(key)


def cmd_decrypt(a):
    env = envelope(a.resp)
    key = open(a.aes_key, "rb").read()
    p = env["EncryptionParams"]
    if p["KeySizeInBits"] != 8 * len(key):
        fail("KeySizeInBits %s but the unsealed key has %d bytes" % (p["KeySizeInBits"], len(key)))
    iv = base64.b64decode(p["Iv"], validate=True)
    if len(iv) != 12:
        fail("IV is not 12 bytes")
    ct = base64.b64decode(env["Jwt"], validate=True)
    tag = base64.b64decode(env["AuthenticationData"], validate=True)
    jwt = AESGCM(key).decrypt(iv, ct + tag, b"Transport Key")
    sys.stdout.write(jwt.decode())


def claim_path(c, path):
    for part in path.split("/"):
        if part:
            c = c[int(part)] if isinstance(c, list) else c[part]
    return c


def cmd_verify_jwt(a):
    jwt = open(a.jwt).read().strip()
    jwks = json.load(open(a.jwks))
    h64, p64, s64 = jwt.split(".")
    hdr = json.loads(unb64u(h64))
    claims = json.loads(unb64u(p64))
    if hdr.get("alg") != "RS256" or hdr.get("typ") != "JWT":
        fail("bad JWT header %r" % hdr)
    if hdr.get("jku") != (a.jku or a.iss + "/certs"):
        fail("jku %r" % hdr.get("jku"))
    keys = [k for k in jwks["keys"] if k.get("kid") == hdr.get("kid")]
    if len(keys) != 1:
        fail("kid %r not in JWKS" % hdr.get("kid"))
    cert = x509.load_der_x509_certificate(base64.b64decode(keys[0]["x5c"][0], validate=True))
    try:
        cert.public_key().verify(unb64u(s64), (h64 + "." + p64).encode(), padding.PKCS1v15(),
                                 hashes.SHA256())
    except Exception:
        fail("JWT signature does not verify with x5c[0] of kid %s" % hdr["kid"])
    now = time.time()
    if claims.get("iss") != a.iss:
        fail("iss %r != %r" % (claims.get("iss"), a.iss))
    if not claims["nbf"] <= now + 60 or not claims["exp"] > now - 60:
        fail("token not currently valid (nbf %s exp %s now %d)" % (claims["nbf"], claims["exp"], now))
    for exp in a.expect or []:
        path, val = exp.split("=", 1)
        got = claim_path(claims, path)
        if json.dumps(got) != val and str(got) != val:
            fail("claim %s = %s, expected %s" % (path, json.dumps(got), val))
    print(json.dumps(claims, indent=1, sort_keys=True))


def cmd_claims(a):
    """Decode a JWT payload without verifying (for fault tests)."""
    parts = open(a.jwt).read().strip().split(".")
    print(json.dumps({"header": json.loads(unb64u(parts[0])),
                      "claims": json.loads(unb64u(parts[1])),
                      "sig_len": len(unb64u(parts[2])) if len(parts) > 2 else None}))


# ---- consistency checks (test 2) -----------------------------------------------------
def cmd_consistency(a):
    d = a.ev
    hclb = hcl_split(rd(d, "hcl.bin"))
    runtime = hclb["runtime"]
    doc = json.loads(runtime)
    n, e = tpm_rsa_public(rd(d, "ak.pub"))[:2]
    ak = [k for k in doc["keys"] if k["kid"] == "HCLAkPub"][0]
    ok = 0
    if int.from_bytes(unb64u(ak["n"]), "big") != n or int.from_bytes(unb64u(ak["e"]), "big") != e:
        fail("HCLAkPub != AK public (0x81000003)")
    print("ok: HCLAkPub equals the TPM AK public key"); ok += 1
    cert = x509.load_der_x509_certificate(der_trim(rd(d, "akcert.bin")))
    pn = cert.public_key().public_numbers()
    if (pn.n, pn.e) != (n, e):
        fail("AK certificate key != AK")
    print("ok: AK certificate key equals the AK"); ok += 1
    if hclb["hash"] != 1:
        fail("ReportDataHashType != 1")
    want = hashlib.sha256(runtime).digest() + bytes(32)
    if hclb["type"] == 2:
        rdata = hclb["hw"][0x50:0x90]
    else:
        rdata = hclb["hw"][128:192]
    if rdata != want:
        fail("report_data != SHA-256(runtime JSON) || zeros")
    print("ok: report_data == SHA-256(runtime claims) || 32 zero bytes"); ok += 1
    if hclb["type"] == 2:
        thim = json.load(open(os.path.join(d, "thim.json")))
        vcek = x509.load_pem_x509_certificate(thim["vcekCert"].encode())
        rep = hclb["hw"]
        r = int.from_bytes(rep[0x2A0:0x2A0 + 72], "little")
        s = int.from_bytes(rep[0x2A0 + 72:0x2A0 + 144], "little")
        try:
            vcek.public_key().verify(utils.encode_dss_signature(r, s), rep[:0x2A0],
                                     ec.ECDSA(hashes.SHA384()))
        except Exception:
            fail("SNP report signature does not verify with the IMDS VCEK")
        print("ok: SNP report signature verifies with the VCEK from IMDS"); ok += 1
        pol = struct.unpack_from("<Q", rep, 8)[0]
        if not pol & (1 << 16) or not pol & (1 << 17) or pol & (1 << 19):
            fail("SNP policy 0x%x: SMT/reserved bits not set or DEBUG set" % pol)
        if struct.unpack_from("<I", rep, 0x30)[0] != 0 or struct.unpack_from("<I", rep, 0x34)[0] != 1:
            fail("SNP vmpl/signature_algo wrong")
        print("ok: SNP policy 0x%x (SMT, reserved bit 17, no DEBUG), vmpl 0, sig algo 1" % pol); ok += 1
    replay, _ = parse_log(rd(d, "eventlog.bin"))
    pcrs = rd(d, "pcrs.bin")
    for i in range(8):
        if replay[i] != pcrs[32 * i:32 * i + 32]:
            fail("event log replay of PCR %d != tpm2_pcrread" % i)
    print("ok: event-log replay equals tpm2_pcrread sha256 PCRs 0-7"); ok += 1
    if a.user_data is not None and doc.get("user-data") != a.user_data:
        fail("user-data %r != %r" % (doc.get("user-data"), a.user_data))
    print("consistency: %d checks passed" % ok)


def cmd_platform(a):
    """SevSnpVm / TdxVm request body (SPEC models.tsp, CAT encoding)."""
    d = a.ev
    h = hcl_split(rd(d, "hcl.bin"))
    runtime = h["runtime"]
    if a.mutate == "binding":
        runtime = runtime.replace(b'"tpm-enabled":true', b'"tpm-enabled":false')
    body = {"runtimeData": {"data": b64u(runtime), "dataType": "JSON"}}
    if a.nonce is not None:
        body["nonce"] = a.nonce
    if h["type"] == 2:
        thim = json.load(open(os.path.join(d, "thim.json")))
        chain = (thim["vcekCert"] + thim["certificateChain"]).encode()
        body["report"] = b64u(json.dumps({"SnpReport": b64u(h["hw"]),
                                          "VcekCertChain": b64u(chain)}).encode())
    else:
        body["quote"] = json.load(open(os.path.join(d, "tdquote.json")))["quote"]
    sys.stdout.write(json.dumps(body))


def cmd_runtime(a):
    h = hcl_split(open(a.hcl, "rb").read())
    sys.stdout.write(h["runtime"].decode())


def cmd_tdreport(a):
    h = hcl_split(open(a.hcl, "rb").read())
    sys.stdout.write(json.dumps({"report": b64u(h["hw"][:1024])}))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("build")
    p.add_argument("--ev", required=True)
    p.add_argument("--encoding", choices=("std", "url"), default="std")
    p.add_argument("--mutate", action="append")
    p.add_argument("--nonce")
    p.add_argument("--enc-pub")
    p.add_argument("--certify")
    p.add_argument("--certify-sig")
    p.add_argument("--vtpm-ca")
    p.add_argument("--vtpm-ca-key")
    p.set_defaults(fn=cmd_build)
    p = sub.add_parser("inner-key")
    p.add_argument("--resp", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(fn=cmd_inner_key)
    p = sub.add_parser("decrypt")
    p.add_argument("--resp", required=True)
    p.add_argument("--aes-key", required=True)
    p.set_defaults(fn=cmd_decrypt)
    p = sub.add_parser("verify-jwt")
    p.add_argument("--jwt", required=True)
    p.add_argument("--jwks", required=True)
    p.add_argument("--iss", required=True)
    p.add_argument("--expect", action="append")
    p.add_argument("--jku", help="expected jku (default ISS/certs)")
    p.set_defaults(fn=cmd_verify_jwt)
    p = sub.add_parser("claims")
    p.add_argument("--jwt", required=True)
    p.set_defaults(fn=cmd_claims)
    p = sub.add_parser("consistency")
    p.add_argument("--ev", required=True)
    p.add_argument("--user-data")
    p.set_defaults(fn=cmd_consistency)
    p = sub.add_parser("platform")
    p.add_argument("--ev", required=True)
    p.add_argument("--nonce")
    p.add_argument("--mutate")
    p.set_defaults(fn=cmd_platform)
    p = sub.add_parser("runtime")
    p.add_argument("--hcl", required=True)
    p.set_defaults(fn=cmd_runtime)
    p = sub.add_parser("tdreport")
    p.add_argument("--hcl", required=True)
    p.set_defaults(fn=cmd_tdreport)
    a = ap.parse_args()
    a.fn(a)


if __name__ == "__main__":
    main()
