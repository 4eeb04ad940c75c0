"""RSA in pure Python for RS256: key generation, PKCS#1 v1.5 signatures, PEM keys, a self-signed
X.509 certificate. No `cryptography` wheel: the one-file binary stays small (it unpacks every
library it carries into tmpfs at each start).

Only what the agent needs: RSA-2048 with e = 65537 and SHA-256. Private operations use the
Chinese remainder theorem; signatures are checked by re-encoding and comparing in constant time.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import secrets
from dataclasses import dataclass

E = 65537
# DigestInfo prefix of SHA-256 (RFC 8017 9.2 note 1)
SHA256_PREFIX = bytes.fromhex("3031300d060960864801650304020105000420")
RSA_OID = bytes.fromhex("06092a864886f70d0101010500")  # rsaEncryption, NULL parameters
SHA256_RSA_OID = bytes.fromhex("06092a864886f70d01010b0500")  # sha256WithRSAEncryption, NULL
SMALL_PRIMES = [p for p in range(3, 2000, 2) if all(p % d for d in range(3, int(p ** 0.5) + 1, 2))]


# ---- DER (only the types used here) ----

def _len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def tlv(tag: int, body: bytes) -> bytes:
    """One DER element."""
    return bytes([tag]) + _len(len(body)) + body


def der_int(value: int) -> bytes:
    """INTEGER (non-negative)."""
    raw = value.to_bytes(value.bit_length() // 8 + 1, "big")
    return tlv(0x02, raw)


def seq(*items: bytes) -> bytes:
    """SEQUENCE of already-encoded items."""
    return tlv(0x30, b"".join(items))


def read_tlv(data: bytes, pos: int) -> tuple[int, bytes, int]:
    """(tag, body, position after) of the element at pos; ValueError on truncation."""
    tag, length = data[pos], data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(data[pos:pos + count], "big")
        pos += count
    body = data[pos:pos + length]
    if len(body) != length:
        raise ValueError("truncated DER")
    return tag, body, pos + length


def read_seq(body: bytes) -> list[tuple[int, bytes]]:
    """The elements of a SEQUENCE body."""
    items, pos = [], 0
    while pos < len(body):
        tag, item, pos = read_tlv(body, pos)
        items.append((tag, item))
    return items


# ---- keys ----

def _probably_prime(n: int, rounds: int = 40) -> bool:
    if any(n % p == 0 for p in SMALL_PRIMES):
        return n in SMALL_PRIMES
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for _ in range(rounds):
        x = pow(secrets.randbelow(n - 3) + 2, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def _prime(bits: int) -> int:
    while True:
        candidate = secrets.randbits(bits) | (3 << (bits - 2)) | 1  # top two bits set: n has 2*bits bits
        if candidate % E != 1 and _probably_prime(candidate):
            return candidate


@dataclass(frozen=True)
class PrivateKey:
    """An RSA private key with its CRT values."""

    n: int
    d: int
    p: int
    q: int

    @classmethod
    def generate(cls, bits: int = 2048) -> PrivateKey:
        """A new key of `bits` bits with e = 65537."""
        while True:
            p, q = _prime(bits // 2), _prime(bits // 2)
            if p != q and (p * q).bit_length() == bits:
                phi = (p - 1) * (q - 1)
                return cls(p * q, pow(E, -1, phi), max(p, q), min(p, q))

    @property
    def size(self) -> int:
        """Modulus length in bytes."""
        return (self.n.bit_length() + 7) // 8

    def public_der(self) -> bytes:
        """RSAPublicKey (PKCS#1)."""
        return seq(der_int(self.n), der_int(E))

    def pkcs8_pem(self) -> bytes:
        """-----BEGIN PRIVATE KEY----- (PKCS#8 around PKCS#1)."""
        p, q = self.p, self.q
        rsa = seq(der_int(0), der_int(self.n), der_int(E), der_int(self.d), der_int(p), der_int(q),
                  der_int(self.d % (p - 1)), der_int(self.d % (q - 1)), der_int(pow(q, -1, p)))
        return pem("PRIVATE KEY", seq(der_int(0), seq(RSA_OID[:11], RSA_OID[11:]), tlv(0x04, rsa)))

    @classmethod
    def from_pem(cls, data: bytes) -> PrivateKey:
        """A PKCS#8 or PKCS#1 PEM private key; ValueError when it is neither."""
        der = unpem(data)
        _, body, _ = read_tlv(der, 0)
        items = read_seq(body)
        if len(items) == 3 and items[2][0] == 0x04:  # PKCS#8: version, algorithm, key octets
            _, body, _ = read_tlv(items[2][1], 0)
            items = read_seq(body)
        ints = [int.from_bytes(v, "big") for t, v in items if t == 0x02]
        if len(ints) < 6 or ints[2] != E:
            raise ValueError("not an RSA private key with e = 65537")
        return cls(ints[1], ints[3], ints[4], ints[5])

    def sign_sha256(self, message: bytes) -> bytes:
        """RSASSA-PKCS1-v1_5 with SHA-256."""
        m = int.from_bytes(encode_sha256(message, self.size), "big")
        dp, dq, qinv = self.d % (self.p - 1), self.d % (self.q - 1), pow(self.q, -1, self.p)
        m1, m2 = pow(m, dp, self.p), pow(m, dq, self.q)
        s = m2 + self.q * ((qinv * (m1 - m2)) % self.p)
        return s.to_bytes(self.size, "big")

    def verify_sha256(self, message: bytes, signature: bytes) -> bool:
        """True when signature is ours over message (constant-time comparison of the encoding)."""
        if len(signature) != self.size:
            return False
        s = int.from_bytes(signature, "big")
        if s >= self.n:
            return False
        encoded = pow(s, E, self.n).to_bytes(self.size, "big")
        return hmac.compare_digest(encoded, encode_sha256(message, self.size))


def encode_sha256(message: bytes, size: int) -> bytes:
    """EMSA-PKCS1-v1_5 encoding of SHA-256(message) for a modulus of `size` bytes."""
    digest_info = SHA256_PREFIX + hashlib.sha256(message).digest()
    return b"\x00\x01" + b"\xff" * (size - len(digest_info) - 3) + b"\x00" + digest_info


def pem(label: str, der: bytes) -> bytes:
    """PEM armour, 64 characters a line."""
    text = base64.b64encode(der).decode("ascii")
    lines = [text[i:i + 64] for i in range(0, len(text), 64)]
    return (f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n").encode()


def unpem(data: bytes) -> bytes:
    """The DER inside the first PEM block."""
    lines = data.decode("ascii", "replace").strip().splitlines()
    body = [line for line in lines if line and not line.startswith("-----")]
    return base64.b64decode("".join(body))


# ---- certificate ----

def _name(common_name: str) -> bytes:
    cn = tlv(0x06, bytes.fromhex("550403")) + tlv(0x0C, common_name.encode("utf-8"))
    return seq(tlv(0x31, seq(cn)))


def _time(moment: datetime.datetime) -> bytes:
    if moment.year < 2050:
        return tlv(0x17, moment.strftime("%y%m%d%H%M%SZ").encode())
    return tlv(0x18, moment.strftime("%Y%m%d%H%M%SZ").encode())


def self_signed_certificate(key: PrivateKey, common_name: str, days: int = 3650) -> bytes:
    """A PEM X.509 v3 certificate of the key, issued by itself (basicConstraints CA:FALSE, critical)."""
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    spki = seq(seq(RSA_OID[:11], RSA_OID[11:]), tlv(0x03, b"\x00" + key.public_der()))
    basic = seq(tlv(0x06, bytes.fromhex("551d13")), tlv(0x01, b"\xff"), tlv(0x04, seq()))
    tbs = seq(
        tlv(0xA0, der_int(2)),
        der_int(secrets.randbits(159) | 1),
        seq(SHA256_RSA_OID[:11], SHA256_RSA_OID[11:]),
        _name(common_name),
        seq(_time(now - datetime.timedelta(minutes=5)), _time(now + datetime.timedelta(days=days))),
        _name(common_name),
        spki,
        tlv(0xA3, seq(basic)),
    )
    signature = key.sign_sha256(tbs)
    cert = seq(tbs, seq(SHA256_RSA_OID[:11], SHA256_RSA_OID[11:]), tlv(0x03, b"\x00" + signature))
    return pem("CERTIFICATE", cert)
