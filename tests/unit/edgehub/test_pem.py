"""handlers.edgehub.pem (pycryptodome's ASN.1 reader) against keys and certificates made by the
cryptography library (OpenSSL), and against broken, encrypted and foreign blocks."""

from __future__ import annotations

import base64
import datetime
from pathlib import Path

import certifi
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from handlers.edgehub.pem import parse_pem
from handlers.errors import InvalidInput

PEM, RAW = serialization.Encoding.PEM, serialization.NoEncryption()
PKCS8, OPENSSL = serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


def certificate(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, extensions: bool) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "edgehub-test")])
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now)
               .not_valid_after(now + datetime.timedelta(days=1)))
    if extensions:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    return builder.sign(key, hashes.SHA256()).public_bytes(PEM)


GOOD = {
    "ec certificate": ("CERTIFICATE", certificate(EC_KEY, False)),
    "rsa certificate with extensions": ("CERTIFICATE", certificate(RSA_KEY, True)),
    "certifi's bundle": ("CERTIFICATE", Path(certifi.where()).read_bytes()),
    "pkcs1 rsa": ("RSA PRIVATE KEY", RSA_KEY.private_bytes(PEM, OPENSSL, RAW)),
    "pkcs8 rsa": ("PRIVATE KEY", RSA_KEY.private_bytes(PEM, PKCS8, RAW)),
    "sec1 ec": ("EC PRIVATE KEY", EC_KEY.private_bytes(PEM, OPENSSL, RAW)),
    "pkcs8 ec": ("PRIVATE KEY", ec.generate_private_key(ec.SECP384R1()).private_bytes(PEM, PKCS8, RAW)),
    "pkcs8 ed25519": ("PRIVATE KEY", ed25519.Ed25519PrivateKey.generate().private_bytes(PEM, PKCS8, RAW)),
    "dsa": ("DSA PRIVATE KEY", dsa.generate_private_key(1024).private_bytes(PEM, OPENSSL, RAW)),
    "spki rsa": ("PUBLIC KEY", RSA_KEY.public_key().public_bytes(PEM, serialization.PublicFormat.SubjectPublicKeyInfo)),
    "spki ec": ("PUBLIC KEY", EC_KEY.public_key().public_bytes(PEM, serialization.PublicFormat.SubjectPublicKeyInfo)),
    "pkcs1 public": ("RSA PUBLIC KEY", RSA_KEY.public_key().public_bytes(PEM, serialization.PublicFormat.PKCS1)),
}


@pytest.mark.parametrize("name", GOOD)
def test_what_openssl_writes_is_accepted(name: str) -> None:
    label, data = GOOD[name]
    assert parse_pem(data) == {"type": label, "data": base64.b64encode(data).decode()}


def tampered_rsa_key() -> bytes:
    body = b"".join(RSA_KEY.private_bytes(PEM, OPENSSL, RAW).splitlines()[1:-1])
    der = bytearray(base64.b64decode(body))
    der[200] ^= 1  # inside the private exponent: still DER, no longer a key
    return b"-----BEGIN RSA PRIVATE KEY-----\n" + base64.encodebytes(bytes(der)) + b"-----END RSA PRIVATE KEY-----\n"


BAD = {
    "empty": b"",
    "no pem": b"hello",
    "pkcs8 encrypted": RSA_KEY.private_bytes(PEM, PKCS8, serialization.BestAvailableEncryption(b"secret")),
    "openssl encrypted": RSA_KEY.private_bytes(PEM, OPENSSL, serialization.BestAvailableEncryption(b"secret")),
    "broken der": GOOD["ec certificate"][1].replace(b"M", b"A", 5),
    "unknown label after a good block": GOOD["ec certificate"][1] + b"-----BEGIN FOO-----\nAAAA\n-----END FOO-----\n",
    "truncated": GOOD["ec certificate"][1][:-40],
    "not base64": b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
    "a key labelled certificate": GOOD["pkcs1 rsa"][1].replace(b"RSA PRIVATE KEY", b"CERTIFICATE"),
    "a certificate labelled key": GOOD["ec certificate"][1].replace(b"CERTIFICATE", b"PRIVATE KEY"),
    "inconsistent rsa key": tampered_rsa_key(),
}


@pytest.mark.parametrize("name", BAD)
def test_anything_else_is_refused(name: str) -> None:
    with pytest.raises(InvalidInput):
        parse_pem(BAD[name])
