"""Pure-Python RSA against the cryptography library: keys, signatures and the certificate."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from handlers.accounts.rsa_keys import PrivateKey, self_signed_certificate


@pytest.fixture(scope="module")
def key() -> PrivateKey:
    return PrivateKey.generate(2048)


def test_key_is_read_by_cryptography_and_back(key: PrivateKey) -> None:
    loaded = serialization.load_pem_private_key(key.pkcs8_pem(), password=None)
    assert isinstance(loaded, rsa.RSAPrivateKey) and loaded.key_size == 2048
    numbers = loaded.private_numbers()
    assert (numbers.public_numbers.n, numbers.public_numbers.e, numbers.d) == (key.n, 65537, key.d)
    assert PrivateKey.from_pem(key.pkcs8_pem()) == key


def test_keys_made_by_cryptography_are_read() -> None:
    made = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for fmt in (serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL):
        pem = made.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())
        ours = PrivateKey.from_pem(pem)
        signature = ours.sign_sha256(b"data")
        made.public_key().verify(signature, b"data", padding.PKCS1v15(), hashes.SHA256())


def test_signatures_agree_both_ways(key: PrivateKey) -> None:
    theirs = serialization.load_pem_private_key(key.pkcs8_pem(), password=None)
    assert isinstance(theirs, rsa.RSAPrivateKey)
    # PKCS#1 v1.5 is deterministic: the same key signs the same bytes identically
    assert key.sign_sha256(b"abc") == theirs.sign(b"abc", padding.PKCS1v15(), hashes.SHA256())
    signature = theirs.sign(b"payload", padding.PKCS1v15(), hashes.SHA256())
    assert key.verify_sha256(b"payload", signature)
    assert not key.verify_sha256(b"other", signature)
    assert not key.verify_sha256(b"payload", signature[:-1])
    assert not key.verify_sha256(b"payload", b"\xff" * len(signature))
    pss = theirs.sign(b"payload", padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())
    assert not key.verify_sha256(b"payload", pss)


def test_certificate_is_valid_x509(key: PrivateKey) -> None:
    cert = x509.load_pem_x509_certificate(self_signed_certificate(key, "polyvisor"))
    assert cert.subject.rfc4514_string() == "CN=polyvisor" and cert.issuer == cert.subject
    assert cert.version == x509.Version.v3
    public = cert.public_key()
    assert isinstance(public, rsa.RSAPublicKey) and public.public_numbers().n == key.n
    public.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), hashes.SHA256())
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and not constraints.value.ca
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days >= 3649


def test_garbage_is_not_a_key() -> None:
    with pytest.raises((ValueError, IndexError)):
        PrivateKey.from_pem(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(InvalidSignature):
        other.public_key().verify(PrivateKey.generate(2048).sign_sha256(b"x"), b"x", padding.PKCS1v15(),
                                  hashes.SHA256())
