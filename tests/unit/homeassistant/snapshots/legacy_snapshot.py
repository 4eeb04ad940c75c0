"""Tag 138's snapshot file written out from hassio.md §4 with tarfile and pycryptodome (the library
138 used), independent of handlers.homeassistant.snapshots: what the legacy supervisor wrote and
how it read it back. The tests build and read archives with this to prove both directions.

Layout: an uncompressed tar (Python 3.7's default GNU format) made by adding a temporary folder
as "." (so "./snapshot.json", "./<name>.tar.gz"); each inner file a streamed tar.gz ("w|gz"),
encrypted when there is a password: a random 16-byte salt, then AES-128-CBC with
iv = sha256^100(key + salt)[:16], each write PKCS#7-padded only when not whole blocks; reading
decrypts blindly.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tarfile
import tempfile
from base64 import b64decode, b64encode
from collections.abc import Callable
from pathlib import Path
from typing import Any

from Crypto.Cipher import AES
from Crypto.Util import Padding


def key_of(password: str) -> bytes:
    data = password.encode()
    for _ in range(100):
        data = hashlib.sha256(data).digest()
    return data[:16]


def iv_of(key: bytes) -> bytes:
    for _ in range(100):
        key = hashlib.sha256(key).digest()
    return key[:16]


def marker_of(password: str) -> str:
    for _ in range(100):
        password = hashlib.sha256(password.encode()).hexdigest()
    try:
        return str(sum(map(int, re.findall(r"\d+", password))))[0]
    except (ValueError, IndexError):
        return "0"


class LegacySecureFile:
    """hassio/utils/tar.py SecureTarFile's file object, written out."""

    def __init__(self, path: Path, mode: str, key: bytes) -> None:
        self.file = path.open(f"{mode}b")
        if mode == "r":
            salt = self.file.read(16)
        else:
            salt = os.urandom(16)
            self.file.write(salt)
        iv = key + salt
        for _ in range(100):
            iv = hashlib.sha256(iv).digest()
        self.aes = AES.new(key, AES.MODE_CBC, iv=iv[:16])

    def write(self, data: bytes) -> None:
        if len(data) % 16:
            data = Padding.pad(data, 16)
        self.file.write(self.aes.encrypt(data))

    def read(self, size: int = 0) -> bytes:
        return self.aes.decrypt(self.file.read(size))

    def close(self) -> None:
        self.file.close()


def open_inner(path: Path, mode: str, key: bytes | None) -> tuple[tarfile.TarFile, Any]:
    """tarfile.open(... "w|gz"/"r|gz") on the plain or encrypted file; (tar, file to close)."""
    stream_mode: Any = f"{mode}|gz"
    if key is None:
        return tarfile.open(str(path), stream_mode, format=tarfile.GNU_FORMAT), None
    secure: Any = LegacySecureFile(path, mode, key)
    return tarfile.open(fileobj=secure, mode=stream_mode, format=tarfile.GNU_FORMAT), secure


def write_inner(path: Path, key: bytes | None, fill: Callable[[tarfile.TarFile], None]) -> None:
    tar, secure = open_inner(path, "w", key)
    with tar:
        fill(tar)
    if secure:
        secure.close()


def write_snapshot(path: Path, data: dict[str, Any], inner: dict[str, Callable[[tarfile.TarFile], None]],
                   password: str | None = None) -> dict[str, Any]:
    """A snapshot file as 138 wrote it: `data` is snapshot.json before protection (secrets in
    clear text); `inner` maps folder or add-on names to functions filling their tar."""
    data = json.loads(json.dumps(data))
    key = key_of(password) if password else None
    if key and password:
        aes = AES.new(key, AES.MODE_CBC, iv=iv_of(key))  # one object for both fields: chained
        home = data.setdefault("homeassistant", {})
        for field in ("refresh_token", "password"):
            if home.get(field) is not None:
                home[field] = b64encode(aes.encrypt(Padding.pad(home[field].encode(), 16))).decode()
        data["protected"], data["crypto"] = marker_of(password), "aes128"
    with tempfile.TemporaryDirectory() as temp:
        for name, fill in inner.items():
            write_inner(Path(temp, f"{name.replace('/', '_')}.tar.gz"), key, fill)
        Path(temp, "snapshot.json").write_text(json.dumps(data, indent=2))
        with tarfile.open(path, "w:", format=tarfile.GNU_FORMAT) as tar:
            tar.add(temp, arcname=".")
    return data


def read_snapshot(path: Path, password: str | None, into: Path) -> dict[str, Any]:
    """138's reading: snapshot.json through extractfile("./snapshot.json"), the outer tar extracted
    whole, the secret fields decrypted in order with one cipher, each inner archive extracted
    into `into/<name>`."""
    with tarfile.open(path, "r:") as tar:
        stream = tar.extractfile("./snapshot.json")
        assert stream is not None
        data: dict[str, Any] = json.loads(stream.read())
        outer = into / ".outer"
        tar.extractall(outer, filter="fully_trusted")
    key = key_of(password) if password else None
    if data.get("protected") is not None:
        assert password and marker_of(password) == data["protected"], "the marker refuses the password"
        aes = AES.new(key, AES.MODE_CBC, iv=iv_of(key))  # type: ignore[arg-type]
        home = data["homeassistant"]
        for field in ("refresh_token", "password"):
            if home.get(field) is not None:
                home[field] = Padding.unpad(aes.decrypt(b64decode(home[field])), 16).decode()
    names = [*data.get("folders", []), *(a["slug"] for a in data.get("addons", []))]
    for name in names:
        inner, secure = open_inner(outer / f"{name.replace('/', '_')}.tar.gz", "r", key)
        with inner:
            inner.extractall(into / name, filter="fully_trusted")
        if secure:
            secure.close()
    return data
