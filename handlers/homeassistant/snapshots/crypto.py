"""Password protection of a snapshot, with tag 138's parameters (hassio.md §4.5).

- the key derivation, the one-character `protected` marker and the chained AES-128-CBC of the two
  secret Home Assistant fields in snapshot.json;
- `inner_tar`: the inner tar.gz archives in securetar's format as tag 138 wrote and read them (the
  SecureTarFile of hassio 2018 and securetar up to 2024.11): a random 16-byte salt, then the
  gzipped tar stream through AES-128-CBC keyed by the password's key, with the iv derived from
  key and salt by 100 rounds of sha256. Each write of the tar stream is a multiple of 16 bytes but
  the last one, which alone is PKCS#7-padded (not at all when it is whole blocks too); readers
  never unpad (gzip stops at its own end).

AES comes from pycryptodome (the platform's RS256 keys already need it), imported on first use.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

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


BLOCK = 16


def _aes_cbc(key: bytes, iv: bytes) -> Any:
    from Crypto.Cipher import AES

    return AES.new(key, AES.MODE_CBC, iv)


def pad(data: bytes) -> bytes:
    """PKCS#7 to whole 16-byte blocks (a whole block of 16s when `data` is whole blocks)."""
    count = BLOCK - len(data) % BLOCK
    return data + bytes([count]) * count


def unpad(data: bytes) -> bytes:
    """The reverse of pad; ValueError when the last block is not PKCS#7 padding."""
    count = data[-1] if data else 0
    if not 0 < count <= BLOCK or data[-count:] != bytes([count]) * count:
        raise ValueError("Invalid padding bytes.")
    return data[:-count]


def encrypt_fields(fields: dict[str, Any], key: bytes) -> dict[str, Any]:
    """The secret fields (refresh_token, then password) through ONE encryptor, as 138 reused one
    pycryptodome CBC object: the second field continues the first one's chain. Each value is
    PKCS#7-padded to 16 and written as base64 text; a null field is skipped (the chain does not
    advance)."""
    encryptor = _aes_cbc(key, key_to_iv(key))
    result = dict(fields)
    for name in SECRET_FIELDS:
        value = fields.get(name)
        if value is None:
            continue
        result[name] = base64.b64encode(encryptor.encrypt(pad(str(value).encode()))).decode()
    return result


def decrypt_fields(fields: dict[str, Any], key: bytes) -> dict[str, Any]:
    """The reverse of encrypt_fields, in the same order through one decryptor; WrongPassword when
    a field is not base64, not padded or not UTF-8 after decryption."""
    decryptor = _aes_cbc(key, key_to_iv(key))
    result = dict(fields)
    for name in SECRET_FIELDS:
        value = fields.get(name)
        if value is None:
            continue
        try:
            data = base64.b64decode(str(value), validate=True)
            if not data or len(data) % 16:
                raise ValueError("not whole AES blocks")
            result[name] = unpad(decryptor.decrypt(data)).decode()
        except ValueError as err:  # binascii.Error, bad padding, UnicodeDecodeError
            raise WrongPassword(f"{name} does not decrypt: {err}") from None
    return result


def salted_iv(key: bytes, salt: bytes) -> bytes:
    """An inner archive's iv: sha256 applied 100 times to key + salt, 16 bytes."""
    iv = key + salt
    for _ in range(ROUNDS):
        iv = hashlib.sha256(iv).digest()
    return iv[:BLOCK]


class _Encrypted:
    """The file object tarfile streams an encrypted inner archive through (no `name`: tarfile then
    writes an empty name into the gzip header, as it did through securetar)."""

    def __init__(self, fileobj: IO[bytes], key: bytes, writing: bool) -> None:
        self._file = fileobj
        if writing:
            salt = os.urandom(BLOCK)
            fileobj.write(salt)
        else:
            salt = fileobj.read(BLOCK)
            if len(salt) != BLOCK:
                raise tarfile.ReadError("encrypted archive shorter than its salt")
        self._cipher = _aes_cbc(key, salted_iv(key, salt))
        self._rest = b""

    def write(self, data: bytes) -> None:
        if len(data) % BLOCK:
            data = pad(data)
        self._file.write(self._cipher.encrypt(data))

    def read(self, size: int = -1) -> bytes:
        """Whole blocks decrypted; a part of a block waits for the next read (at the end of the
        file it is dropped, as securetar's decryptor dropped it)."""
        while True:
            chunk = self._file.read(size)
            data = self._rest + chunk
            whole = len(data) - len(data) % BLOCK
            self._rest = data[whole:]
            if whole:
                return bytes(self._cipher.decrypt(data[:whole]))
            if not chunk:
                return b""


@contextmanager
def inner_tar(name: Path, mode: str, key: bytes | None, fileobj: IO[bytes],
              bufsize: int) -> Iterator[tarfile.TarFile]:
    """An inner tar.gz (`mode` "r" or "w") read from or written to `fileobj`: a stream through AES
    with a key, else a plain gzip file named `name` (compression level 6), as securetar's
    SecureTarFile(name, mode, key, gzip=True, bufsize, fileobj) opened them."""
    opener: Any = tarfile.open  # the mode is built here: typeshed's overloads want literals
    if key is None:
        with opener(name=str(name), mode=f"{mode}:gz", dereference=False, bufsize=bufsize, fileobj=fileobj,
                    compresslevel=6) as tar:
            yield tar
    else:
        with opener(fileobj=_Encrypted(fileobj, key, mode == "w"), mode=f"{mode}|gz", dereference=False,
                    bufsize=bufsize) as tar:
            yield tar
