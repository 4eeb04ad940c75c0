"""Password protection of a snapshot, with tag 138's parameters (hassio.md §4.5).

The inner archives are encrypted by securetar (archive.py); this module holds what securetar does
not: the key and iv derivation, the one-character `protected` marker and the chained AES-128-CBC
of the two secret Home Assistant fields in snapshot.json. `cryptography` (securetar's own
dependency) is imported on first use, never at the agent's start.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

ROUNDS = 100
RE_DIGITS = re.compile(r"\d+")
# snapshot.json's secret fields in the order 138 encrypted them through one CBC object
SECRET_FIELDS = ("refresh_token", "password")


def password_to_key(password: str) -> bytes:
    """sha256 applied 100 times to the UTF-8 password (each round over the last digest), 16 bytes."""
    key = password.encode()
    for _ in range(ROUNDS):
        key = hashlib.sha256(key).digest()
    return key[:16]


def key_to_iv(key: bytes) -> bytes:
    """The fixed iv of the secret fields: sha256 applied 100 times to the key, 16 bytes."""
    for _ in range(ROUNDS):
        key = hashlib.sha256(key).digest()
    return key[:16]


def password_marker(password: str) -> str:
    """snapshot.json's `protected`: 100 rounds of sha256 over the hex text of the previous round,
    then the first character of the sum of the decimal digit runs in the last hex text ("0" when
    there is none). Wrong passwords pass it one time in ten: the fields below catch most of them."""
    text = password
    for _ in range(ROUNDS):
        text = hashlib.sha256(text.encode()).hexdigest()
    try:
        return str(sum(int(run) for run in RE_DIGITS.findall(text)))[0]
    except IndexError:
        return "0"


class WrongPassword(ValueError):
    """The secret fields do not decrypt with this password."""


def _cipher(key: bytes) -> Any:
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    return Cipher(algorithms.AES(key), modes.CBC(key_to_iv(key)))


def encrypt_fields(fields: dict[str, Any], key: bytes) -> dict[str, Any]:
    """The secret fields (refresh_token, then password) through ONE encryptor, as 138 reused one
    pycryptodome CBC object: the second field continues the first one's chain. Each value is
    PKCS#7-padded to 16 and written as base64 text; a null field is skipped (the chain does not
    advance)."""
    from cryptography.hazmat.primitives import padding

    encryptor = _cipher(key).encryptor()
    result = dict(fields)
    for name in SECRET_FIELDS:
        value = fields.get(name)
        if value is None:
            continue
        padder = padding.PKCS7(128).padder()
        plain = padder.update(str(value).encode()) + padder.finalize()
        result[name] = base64.b64encode(encryptor.update(plain)).decode()
    return result


def decrypt_fields(fields: dict[str, Any], key: bytes) -> dict[str, Any]:
    """The reverse of encrypt_fields, in the same order through one decryptor; WrongPassword when
    a field is not base64, not padded or not UTF-8 after decryption."""
    from cryptography.hazmat.primitives import padding

    decryptor = _cipher(key).decryptor()
    result = dict(fields)
    for name in SECRET_FIELDS:
        value = fields.get(name)
        if value is None:
            continue
        try:
            data = base64.b64decode(str(value), validate=True)
            if not data or len(data) % 16:
                raise ValueError("not whole AES blocks")
            unpadder = padding.PKCS7(128).unpadder()
            plain = unpadder.update(decryptor.update(data)) + unpadder.finalize()
            result[name] = plain.decode()
        except ValueError as err:  # binascii.Error, bad padding, UnicodeDecodeError
            raise WrongPassword(f"{name} does not decrypt: {err}") from None
    return result
