"""Test PKI of the simulated Azure CVM (all keys/certs live under DIR/pki)."""

import datetime
import ipaddress
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

TCG_KP_AIK_CERTIFICATE = ObjectIdentifier("2.23.133.8.3")


def now():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def name(cn, org=None, ou=None):
    attrs = []
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    if ou:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs)


def rsa_key(bits=2048):
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def ec_key(curve=ec.SECP256R1):
    return ec.generate_private_key(curve())


def _hash_for(key):
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size >= 384:
        return hashes.SHA384()
    return hashes.SHA256()


def cert(subject, pubkey, issuer_name, issuer_key, ca=False, days=365,
         eku=None, san_ip=None, not_before=None, path_len=None, hash_alg=None,
         key_usage=None):
    nb = not_before or (now() - datetime.timedelta(hours=1))
    b = (x509.CertificateBuilder()
         .subject_name(subject).issuer_name(issuer_name).public_key(pubkey)
         .serial_number(x509.random_serial_number())
         .not_valid_before(nb).not_valid_after(nb + datetime.timedelta(days=days))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=path_len if ca else None),
                        critical=True)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(pubkey), critical=False))
    if ca:
        ku = key_usage or dict(digital_signature=True, key_cert_sign=True, crl_sign=True)
    else:
        ku = key_usage or dict(digital_signature=True)
    full = dict(digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False,
                crl_sign=False, encipher_only=False, decipher_only=False)
    full.update(ku)
    b = b.add_extension(x509.KeyUsage(**full), critical=True)
    if issuer_key is not None and issuer_name != subject:
        b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            issuer_key.public_key()), critical=False)
    if eku:
        b = b.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    if san_ip:
        b = b.add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address(san_ip))]), critical=False)
    return b.sign(issuer_key, hash_alg or _hash_for(issuer_key))


def self_signed_ca(cn, key, org=None, days=3650):
    n = name(cn, org)
    return cert(n, key.public_key(), n, key, ca=True, days=days)


def pem(c):
    return c.public_bytes(serialization.Encoding.PEM)


def der(c):
    return c.public_bytes(serialization.Encoding.DER)


def key_pem(k):
    return k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                           serialization.NoEncryption())


def load_key(data):
    return serialization.load_pem_private_key(data, None)


def write(path, data, mode=0o644):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def verify_issued_by(child, issuer):
    """Raise InvalidSignature/ValueError unless issuer's key signed child."""
    from cryptography.hazmat.primitives.asymmetric import padding
    if child.issuer != issuer.subject:
        raise ValueError("issuer name mismatch")
    pub = issuer.public_key()
    if isinstance(pub, rsa.RSAPublicKey):
        pub.verify(child.signature, child.tbs_certificate_bytes, padding.PKCS1v15(),
                   child.signature_hash_algorithm)
    elif isinstance(pub, ec.EllipticCurvePublicKey):
        pub.verify(child.signature, child.tbs_certificate_bytes,
                   ec.ECDSA(child.signature_hash_algorithm))
    else:
        raise ValueError("unsupported issuer key type")


def check_validity(c, at=None):
    at = at or now()
    nb = c.not_valid_before.replace(tzinfo=datetime.timezone.utc)
    na = c.not_valid_after.replace(tzinfo=datetime.timezone.utc)
    if at < nb or at > na:
        raise ValueError("certificate '%s' not valid now" % c.subject.rfc4514_string())
