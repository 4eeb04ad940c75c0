"""RSA keys for RS256 from pycryptodome: key generation, PKCS#1 v1.5 signatures with SHA-256, the
PEM files and a self-signed X.509 certificate.

The library does every operation on key material: prime generation (Miller-Rabin and Lucas,
FIPS 186-4), blinded private operations in constant-time C arithmetic, each signature checked
against the public key before it is returned (a fault in one CRT half cannot leak the key), and
the padding check of a verification. This module only frames what it makes, with the library's
DER encoder: PKCS#8 in PEM for the key, byte for byte what the earlier pure-Python code wrote,
and the certificate's fields. Only RSA with e = 65537 and SHA-256 is used.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import secrets
from dataclasses import dataclass

from Crypto.Math.Numbers import Integer
from Crypto.PublicKey import RSA
from Crypto.Signature import pkcs1_15
from Crypto.Util.asn1 import (
    DerBitString,
    DerBoolean,
    DerInteger,
    DerNull,
    DerObject,
    DerObjectId,
    DerOctetString,
    DerSequence,
    DerSetOf,
)

E = 65537
RSA_ENCRYPTION = "1.2.840.113549.1.1.1"
SHA256_WITH_RSA = "1.2.840.113549.1.1.11"
SHA256 = "2.16.840.1.101.3.4.2.1"
COMMON_NAME = "2.5.4.3"
BASIC_CONSTRAINTS = "2.5.29.19"
UTF8_STRING, UTC_TIME, GENERALIZED_TIME = 0x0C, 0x17, 0x18

# pycryptodome falls back to pure-Python integers, which are not constant time, when its C
# arithmetic (Crypto.Math._nat) does not load: a binary that lost the library would still sign.
CONSTANT_TIME = Integer.__name__ == "IntegerNat"


@dataclass
class _Digest:
    """A digest as pkcs1_15 takes it (its Hash protocol: `oid` and `digest()`)."""

    oid: str
    value: bytes

    def digest(self) -> bytes:
        """The digest bytes."""
        return self.value


def _sha256(message: bytes) -> _Digest:
    # hashlib's SHA-256 (OpenSSL, in the binary anyway) rather than pycryptodome's own copy
    return _Digest(SHA256, hashlib.sha256(message).digest())


class PrivateKey:
    """An RSA private key with e = 65537 (a pycryptodome key, checked for consistency)."""

    def __init__(self, key: RSA.RsaKey) -> None:
        if not CONSTANT_TIME:
            raise RuntimeError("pycryptodome's constant-time arithmetic (Crypto.Math._nat) is missing")
        if not key.has_private() or key.e != E:
            raise ValueError("not an RSA private key with e = 65537")
        self._key = key
        self._signer = pkcs1_15.new(key)
        self._verifier = pkcs1_15.new(key.public_key())

    @classmethod
    def generate(cls, bits: int = 2048) -> PrivateKey:
        """A new key of `bits` bits."""
        return cls(RSA.generate(bits, e=E))

    @classmethod
    def from_pem(cls, data: bytes) -> PrivateKey:
        """A PKCS#8 or PKCS#1 PEM private key; ValueError when it is neither or is inconsistent."""
        outer = DerSequence().decode(unpem(data), strict=True)
        if len(outer) == 3 and isinstance(outer[2], bytes):  # PKCS#8: version, algorithm, key octets
            algorithm = DerSequence().decode(outer[1], strict=True, nr_elements=(1, 2))
            if DerObjectId().decode(algorithm[0], strict=True).value != RSA_ENCRYPTION:
                raise ValueError("not an RSA key")
            rsa = DerOctetString().decode(outer[2], strict=True).payload
            outer = DerSequence().decode(rsa, strict=True)
        if len(outer) != 9 or not outer.hasOnlyInts() or outer[0] != 0:
            raise ValueError("not a two-prime RSA private key")
        _, n, e, d, p, q = outer[:6]
        # construct() checks p*q = n, that p and q are prime and that d inverts e
        return cls(RSA.construct((n, e, d, p, q), consistency_check=True))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PrivateKey) and self._key == other._key

    __hash__ = None  # type: ignore[assignment]

    @property
    def n(self) -> int:
        """The modulus."""
        return int(self._key.n)

    @property
    def size(self) -> int:
        """Modulus length in bytes."""
        return int(self._key.size_in_bytes())

    def public_der(self) -> bytes:
        """RSAPublicKey (PKCS#1)."""
        return DerSequence([self.n, E]).encode()

    def pkcs8_pem(self) -> bytes:
        """-----BEGIN PRIVATE KEY----- (PKCS#8 around PKCS#1), the library's CRT values."""
        k = self._key
        rsa = DerSequence([0, k.n, k.e, k.d, k.p, k.q, k.dp, k.dq, k.invq]).encode()
        return pem("PRIVATE KEY", DerSequence([0, _algorithm(RSA_ENCRYPTION), DerOctetString(rsa)]).encode())

    def sign_sha256(self, message: bytes) -> bytes:
        """RSASSA-PKCS1-v1_5 with SHA-256."""
        return self._signer.sign(_sha256(message))

    def verify_sha256(self, message: bytes, signature: bytes) -> bool:
        """True when signature is ours over message (RSASSA-PKCS1-v1_5, SHA-256)."""
        try:
            self._verifier.verify(_sha256(message), signature)
        except (ValueError, TypeError):
            return False
        return True


def _algorithm(oid: str) -> DerSequence:
    """AlgorithmIdentifier with NULL parameters (as RFC 3279 and RFC 4055 want for RSA)."""
    return DerSequence([DerObjectId(oid), DerNull()])


def pem(label: str, der: bytes) -> bytes:
    """PEM armour, 64 characters a line."""
    text = base64.b64encode(der).decode("ascii")
    lines = [text[i:i + 64] for i in range(0, len(text), 64)]
    return (f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n").encode()


def unpem(data: bytes) -> bytes:
    """The DER inside the first PEM block; ValueError when there is none."""
    lines = data.decode("ascii", "replace").strip().splitlines()
    body = [line for line in lines if line and not line.startswith("-----")]
    try:
        return base64.b64decode("".join(body), validate=True)
    except binascii.Error as err:
        raise ValueError("not PEM") from err


# ---- certificate ----

def _name(common_name: str) -> DerSequence:
    cn = DerSequence([DerObjectId(COMMON_NAME), DerObject(UTF8_STRING, common_name.encode("utf-8"))])
    return DerSequence([DerSetOf([cn.encode()])])


def _time(moment: datetime.datetime) -> DerObject:
    # RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050
    if moment.year < 2050:
        return DerObject(UTC_TIME, moment.strftime("%y%m%d%H%M%SZ").encode())
    return DerObject(GENERALIZED_TIME, moment.strftime("%Y%m%d%H%M%SZ").encode())


def self_signed_certificate(key: PrivateKey, common_name: str, days: int = 3650) -> bytes:
    """A PEM X.509 v3 certificate of the key, issued by itself (basicConstraints CA:FALSE, critical)."""
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    spki = DerSequence([_algorithm(RSA_ENCRYPTION), DerBitString(key.public_der())])
    basic = DerSequence([DerObjectId(BASIC_CONSTRAINTS), DerBoolean(True), DerOctetString(DerSequence().encode())])
    tbs = DerSequence([
        DerInteger(2, explicit=0),
        secrets.randbits(159) | 1,  # positive, at most 20 octets (RFC 5280 4.1.2.2)
        _algorithm(SHA256_WITH_RSA),
        _name(common_name),
        DerSequence([_time(now - datetime.timedelta(minutes=5)), _time(now + datetime.timedelta(days=days))]),
        _name(common_name),
        spki,
        DerSequence([basic], explicit=3),  # [3] EXPLICIT Extensions
    ]).encode()
    signature = key.sign_sha256(tbs)
    return pem("CERTIFICATE", DerSequence([tbs, _algorithm(SHA256_WITH_RSA), DerBitString(signature)]).encode())
