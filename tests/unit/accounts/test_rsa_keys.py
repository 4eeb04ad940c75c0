"""handlers.accounts.rsa_keys (pycryptodome) against the cryptography library: keys, signatures, the
certificate, and the files the earlier pure-Python code wrote."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from handlers.accounts import rsa_keys
from handlers.accounts.jwt_rs256 import CERT_FILE, KEY_FILE, Signer, TokenInvalid, b64url_decode
from handlers.accounts.rsa_keys import PrivateKey, self_signed_certificate

HANDLERS = Path(rsa_keys.__file__).parent
# made by the pure-Python code before the move to a library (see its README)
PURE_PYTHON = Path(__file__).parent / "data" / "rsa-keys-pure-python"


def load(pem: bytes) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def pkcs1v15(theirs: rsa.RSAPrivateKey, data: bytes, algorithm: hashes.HashAlgorithm | None = None) -> bytes:
    return theirs.sign(data, padding.PKCS1v15(), algorithm or hashes.SHA256())


@pytest.fixture(scope="module")
def key() -> PrivateKey:
    return PrivateKey.generate(2048)


def test_the_constant_time_arithmetic_is_in_use() -> None:
    # without Crypto.Math._nat pycryptodome would fall back to Python integers; we refuse to sign then
    assert rsa_keys.CONSTANT_TIME


def test_generated_key_is_read_by_cryptography_and_back(key: PrivateKey) -> None:
    pem = key.pkcs8_pem()
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----\n")
    theirs = load(pem)
    numbers = theirs.private_numbers()
    assert theirs.key_size == 2048 and numbers.public_numbers.e == 65537 and numbers.public_numbers.n == key.n
    assert rsa.rsa_crt_iqmp(numbers.p, numbers.q) == numbers.iqmp  # the CRT values are the library's, right
    assert PrivateKey.from_pem(pem) == key and PrivateKey.from_pem(pem).pkcs8_pem() == pem


def test_keys_made_by_cryptography_are_read_in_both_formats() -> None:
    made = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for fmt in (serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL):
        pem = made.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())
        ours = PrivateKey.from_pem(pem)
        made.public_key().verify(ours.sign_sha256(b"data"), b"data", padding.PKCS1v15(), hashes.SHA256())
        # written back as PKCS#8, exactly as cryptography writes it
        assert ours.pkcs8_pem() == made.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                      serialization.NoEncryption())


def test_signatures_agree_both_ways(key: PrivateKey) -> None:
    theirs = load(key.pkcs8_pem())
    # PKCS#1 v1.5 is deterministic: the same key signs the same bytes identically
    assert key.sign_sha256(b"abc") == pkcs1v15(theirs, b"abc")
    signature = pkcs1v15(theirs, b"payload")
    assert key.verify_sha256(b"payload", signature)
    assert not key.verify_sha256(b"other", signature)
    assert not key.verify_sha256(b"payload", signature[:-1])
    assert not key.verify_sha256(b"payload", b"\x00" + signature)
    assert not key.verify_sha256(b"payload", b"\xff" * len(signature))
    assert not key.verify_sha256(b"payload", b"")


def test_only_pkcs1v15_with_sha256_verifies(key: PrivateKey) -> None:
    theirs = load(key.pkcs8_pem())
    pss = theirs.sign(b"payload", padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())
    assert not key.verify_sha256(b"payload", pss)
    for other in (hashes.SHA1(), hashes.SHA384(), hashes.SHA512()):
        assert not key.verify_sha256(b"payload", pkcs1v15(theirs, b"payload", other))
    foreign = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert not key.verify_sha256(b"payload", pkcs1v15(foreign, b"payload"))
    with pytest.raises(InvalidSignature):
        foreign.public_key().verify(key.sign_sha256(b"x"), b"x", padding.PKCS1v15(), hashes.SHA256())


def test_certificate_is_valid_x509(key: PrivateKey) -> None:
    cert = x509.load_pem_x509_certificate(self_signed_certificate(key, "polyvisor"))
    assert cert.subject.rfc4514_string() == "CN=polyvisor" and cert.issuer == cert.subject
    assert cert.version == x509.Version.v3
    assert 0 < cert.serial_number < 1 << 159
    assert cert.signature_algorithm_oid == x509.oid.SignatureAlgorithmOID.RSA_WITH_SHA256
    public = cert.public_key()
    assert isinstance(public, rsa.RSAPublicKey) and public.public_numbers().n == key.n
    public.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), hashes.SHA256())
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and not constraints.value.ca and len(cert.extensions) == 1
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days >= 3649
    # RFC 5280 DER: cryptography re-encodes what it parsed to the same bytes
    assert rsa_keys.pem("CERTIFICATE", cert.public_bytes(serialization.Encoding.DER)) == \
        cert.public_bytes(serialization.Encoding.PEM)


def test_files_of_the_pure_python_code_keep_working(tmp_path: Path) -> None:
    for name in (KEY_FILE, CERT_FILE):
        shutil.copy(PURE_PYTHON / name, tmp_path / name)
    (tmp_path / KEY_FILE).chmod(0o644)  # as git checks it out: tightened on load
    key_before, cert_before = (tmp_path / KEY_FILE).read_bytes(), (tmp_path / CERT_FILE).read_bytes()
    signer = Signer.load_or_create(tmp_path)
    assert (tmp_path / KEY_FILE).stat().st_mode & 0o777 == 0o600
    # same files, same certificate for the clients that pinned it
    assert (tmp_path / KEY_FILE).read_bytes() == key_before and signer.certificate == cert_before
    # a token signed before the upgrade still verifies, and a new one verifies with the old certificate
    old_token = (PURE_PYTHON / "token").read_text().strip()
    assert signer.verify(old_token)["identity"] == "admin"
    head, body, sig = signer.sign({"exp": 4102444800, "identity": "alice"}).split(".")
    public = x509.load_pem_x509_certificate(cert_before).public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    public.verify(b64url_decode(sig), f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
    # the key reads back byte for byte, and the same token comes out of the same claims
    assert PrivateKey.from_pem(key_before).pkcs8_pem() == key_before
    assert signer.sign(signer.verify(old_token)) == old_token
    with pytest.raises(TokenInvalid, match="expired"):
        signer.verify(old_token, now=4102444800)


def test_garbage_and_inconsistent_keys_are_refused(key: PrivateKey) -> None:
    for junk in (b"", b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
                 b"-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n",
                 key.pkcs8_pem()[:400] + b"\n-----END PRIVATE KEY-----\n"):
        with pytest.raises(ValueError):
            PrivateKey.from_pem(junk)
    theirs = load(key.pkcs8_pem()).private_numbers()
    p, q, d, n = theirs.p, theirs.q, theirs.d, theirs.public_numbers.n
    broken = rsa_keys.DerSequence([0, n, 65537, d + 2, p, q, theirs.dmp1, theirs.dmq1, theirs.iqmp]).encode()
    with pytest.raises(ValueError):  # d does not invert e: the library's consistency check
        PrivateKey.from_pem(rsa_keys.pem("RSA PRIVATE KEY", broken))
    three = rsa.generate_private_key(public_exponent=3, key_size=2048)
    with pytest.raises(ValueError, match="65537"):
        PrivateKey.from_pem(three.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption()))


def test_no_rsa_arithmetic_of_our_own() -> None:
    # modular exponentiation, inverses and prime tests on key material belong to the library
    for path in (HANDLERS / "rsa_keys.py", HANDLERS / "jwt_rs256.py"):
        assert not re.search(r"\bpow\(|probably_prime|def _prime\b", path.read_text()), path
