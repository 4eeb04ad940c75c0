"""PEM uploads (edgehub's `/edgehub/api/pem/temp`): every block must parse as what its label says.

The DER inside each block is walked with pycryptodome's ASN.1 reader (pure Python): certificates
(X.509 v1-v3 structure and their public key), PKCS#1 and PKCS#8 private keys, SEC1 EC private keys
and SubjectPublicKeyInfo public keys. RSA keys are rebuilt with RSA.construct, which checks that
the numbers belong together (as OpenSSL's key check did); other key types are checked for their
structure. Encrypted keys are refused: there is no password to open them with. pycryptodome's
RSA is imported on first use; its PKCS#8 and PEM modules (which load every cipher for encrypted
keys) never are.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from handlers.errors import InvalidInput

PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----", re.DOTALL)
RSA_OID = "1.2.840.113549.1.1.1"
EC_OID = "1.2.840.10045.2.1"


def parse_pem(data: bytes) -> dict[str, str]:
    """{"type": the first block's label, "data": base64 of the file} when every PEM block in it
    parses (certificates, private and public keys, unencrypted); InvalidInput otherwise."""
    blocks = list(PEM_BLOCK.finditer(data))
    if not blocks:
        raise InvalidInput("no PEM data found")
    for block in blocks:
        label = block.group(1).decode()
        check = CHECKS.get(label) or (private_key if label.endswith("PRIVATE KEY") else None)
        if check is None or label.startswith("ENCRYPTED"):
            raise InvalidInput(f"unsupported PEM type {label}")
        try:
            check(der_of(block.group(2)))
        except (ValueError, TypeError, IndexError) as err:
            raise InvalidInput(f"invalid {label}: {str(err) or type(err).__name__}") from err
    return {"type": blocks[0].group(1).decode(), "data": base64.b64encode(data).decode()}


def der_of(body: bytes) -> bytes:
    """The DER of a block's body; ValueError for an encrypted one (RFC 1421 headers) or bad base64."""
    if b"Proc-Type:" in body or b"DEK-Info:" in body:
        raise ValueError("encrypted keys are not supported")
    try:
        der = base64.b64decode(b"".join(body.split()), validate=True)
    except binascii.Error as err:
        raise ValueError(f"bad base64: {err}") from None
    if not der:
        raise ValueError("empty")
    return der


def sequence(der: bytes, count: int | tuple[int, ...] | None = None, ints: bool = False) -> Any:
    from Crypto.Util.asn1 import DerSequence

    return DerSequence().decode(der, strict=True, nr_elements=count, only_ints_expected=ints)


def rsa_private(der: bytes) -> None:
    """PKCS#1 RSAPrivateKey: version 0 and eight integers that make one key."""
    from Crypto.PublicKey import RSA

    fields = sequence(der, 9, ints=True)
    if fields[0] != 0:
        raise ValueError("not a two-prime RSA key")
    RSA.construct((fields[1], fields[2], fields[3], fields[4], fields[5]), consistency_check=True)


def rsa_public(der: bytes) -> None:
    """PKCS#1 RSAPublicKey: modulus and exponent."""
    from Crypto.PublicKey import RSA

    fields = sequence(der, 2, ints=True)
    RSA.construct((fields[0], fields[1]), consistency_check=True)


def algorithm(der: bytes) -> tuple[str, bytes | None]:
    """An AlgorithmIdentifier: (its OID, its parameters' DER or None)."""
    from Crypto.Util.asn1 import DerObjectId

    fields = sequence(der, (1, 2))
    oid = DerObjectId().decode(fields[0], strict=True).value
    return oid, fields[1] if len(fields) == 2 else None


def ec_private(der: bytes) -> None:
    """SEC1 ECPrivateKey: version 1, the private key, then optional [0] parameters, [1] public key."""
    from Crypto.Util.asn1 import DerOctetString

    fields = sequence(der, (2, 3, 4))
    if fields[0] != 1:
        raise ValueError("not a version 1 EC key")
    if not DerOctetString().decode(fields[1], strict=True).payload:
        raise ValueError("empty EC private key")


def dsa_private(der: bytes) -> None:
    """OpenSSL's DSA private key: version 0, p, q, g, y, x."""
    if sequence(der, 6, ints=True)[0] != 0:
        raise ValueError("not a DSA key")


def private_key(der: bytes) -> None:
    """PKCS#8 PrivateKeyInfo: version, algorithm, the key in an OCTET STRING (RSA and EC keys walked
    further), optional attributes and public key."""
    from Crypto.Util.asn1 import DerOctetString

    fields = sequence(der, (3, 4, 5))
    if fields[0] not in (0, 1):
        raise ValueError("unknown PKCS#8 version")
    oid, _ = algorithm(fields[1])
    inner = DerOctetString().decode(fields[2], strict=True).payload
    if oid == RSA_OID:
        rsa_private(inner)
    elif oid == EC_OID:
        ec_private(inner)
    elif not inner:
        raise ValueError("empty private key")


def public_key(der: bytes) -> None:
    """SubjectPublicKeyInfo: algorithm and a BIT STRING (an RSA key's numbers checked)."""
    from Crypto.Util.asn1 import DerBitString

    fields = sequence(der, 2)
    oid, _ = algorithm(fields[0])
    key = DerBitString().decode(fields[1], strict=True).value
    if oid == RSA_OID:
        rsa_public(key)
    elif not key:
        raise ValueError("empty public key")


def certificate(der: bytes) -> None:
    """X.509 Certificate: the signed part (optional [0] version, serial, signature algorithm,
    issuer, validity, subject, public key, optional extras), the algorithm and the signature."""
    from Crypto.Util.asn1 import DerBitString

    signed, signature_algorithm, signature = sequence(der, 3)
    fields = sequence(signed)
    first = 1 if isinstance(fields[0], bytes) and fields[0][:1] == b"\xa0" else 0
    if len(fields) < first + 6 or not isinstance(fields[first], int):
        raise ValueError("not a certificate's signed part")
    algorithm(fields[first + 1])
    for name in fields[first + 2:first + 5]:  # issuer, validity, subject
        sequence(name)
    public_key(fields[first + 5])
    algorithm(signature_algorithm)
    DerBitString().decode(signature, strict=True)


CHECKS = {
    "CERTIFICATE": certificate,
    "RSA PRIVATE KEY": rsa_private,
    "EC PRIVATE KEY": ec_private,
    "DSA PRIVATE KEY": dsa_private,
    "PRIVATE KEY": private_key,
    "RSA PUBLIC KEY": rsa_public,
    "PUBLIC KEY": public_key,
}
