"""The password's key, iv and marker, the chained secret fields and the slug rule against tag 138's
algorithm written out with pycryptodome (legacy_snapshot.py); the inner archives against the real
securetar, both ways."""

from __future__ import annotations

import hashlib
import io
import os
import sys
import tarfile
from base64 import b64decode, b64encode
from pathlib import Path
from typing import Any

import pytest
from Crypto.Cipher import AES
from Crypto.Util import Padding
from legacy_snapshot import iv_of, key_of, marker_of

from handlers.homeassistant.snapshots import crypto, schema

PASSWORDS = ["secret", "", "pässwörd ✓", "x" * 300]


@pytest.mark.parametrize("password", PASSWORDS)
def test_key_iv_marker(password: str) -> None:
    key = crypto.password_to_key(password)
    assert key == key_of(password) and len(key) == 16
    assert crypto.key_to_iv(key) == iv_of(key)
    assert crypto.password_marker(password) == marker_of(password)
    assert len(crypto.password_marker(password)) == 1


def test_fields_are_chained_as_one_pycryptodome_cbc_object() -> None:
    key = crypto.password_to_key("secret")
    fields: dict[str, Any] = {"refresh_token": "a refresh token longer than one block", "password": "pw", "port": 8123}
    legacy = AES.new(key, AES.MODE_CBC, iv=iv_of(key))
    token = b64encode(legacy.encrypt(Padding.pad(fields["refresh_token"].encode(), 16))).decode()
    password = b64encode(legacy.encrypt(Padding.pad(b"pw", 16))).decode()
    encrypted = crypto.encrypt_fields(fields, key)
    assert encrypted == {"refresh_token": token, "password": password, "port": 8123}
    # the password continues the refresh token's chain: alone it would encrypt differently
    alone = AES.new(key, AES.MODE_CBC, iv=iv_of(key))
    assert b64encode(alone.encrypt(Padding.pad(b"pw", 16))).decode() != password
    assert crypto.decrypt_fields(encrypted, key) == fields


def test_a_null_field_does_not_advance_the_chain() -> None:
    key = crypto.password_to_key("secret")
    encrypted = crypto.encrypt_fields({"refresh_token": None, "password": "pw"}, key)
    fresh = AES.new(key, AES.MODE_CBC, iv=iv_of(key))
    assert encrypted["refresh_token"] is None
    assert Padding.unpad(fresh.decrypt(b64decode(encrypted["password"])), 16) == b"pw"
    assert crypto.decrypt_fields(encrypted, key)["password"] == "pw"


def test_a_wrong_key_is_refused() -> None:
    encrypted = crypto.encrypt_fields({"refresh_token": "t", "password": "p"}, crypto.password_to_key("right"))
    with pytest.raises(crypto.WrongPassword):
        for attempt in range(50):  # PKCS#7 of garbage passes 1 time in 256: one of 50 keys fails
            crypto.decrypt_fields(encrypted, crypto.password_to_key(f"wrong{attempt}"))
    with pytest.raises(crypto.WrongPassword):
        crypto.decrypt_fields({"password": "not base64!"}, crypto.password_to_key("right"))


def test_slug_and_date() -> None:
    date = "2018-10-20T10:00:00.123456+00:00"
    assert schema.create_slug("My Snapshot", date) == hashlib.sha1(
        b"2018-10-20t10:00:00.123456+00:00 - my snapshot").hexdigest()[:8]
    assert schema.new_date().endswith("+00:00")


def test_schema_defaults_and_refusals() -> None:
    data = schema.validate({"slug": "abcd1234", "type": "full", "name": "n", "date": "d", "extra": 1})
    assert data["homeassistant"] == {"boot": True, "ssl": False, "port": 8123, "watchdog": True, "wait_boot": 600}
    assert (data["folders"], data["addons"], data["repositories"], data["extra"]) == ([], [], [], 1)
    for bad in ({"slug": "../evil", "type": "full", "name": "n", "date": "d"},
                {"slug": "a", "type": "other", "name": "n", "date": "d"},
                {"slug": "a", "type": "full", "name": "n", "date": "d", "protected": "12", "crypto": "aes128"},
                {"slug": "a", "type": "full", "name": "n", "date": "d", "protected": "1"},
                {"slug": "a", "type": "full", "name": "n", "date": "d", "folders": ["etc"]},
                {"slug": "a", "type": "full", "name": "n", "date": "d", "repositories": [["x"]]},
                [1, 2]):
        with pytest.raises(ValueError):
            schema.validate(bad)


def test_no_crypto_library_is_imported_with_the_package() -> None:
    import subprocess

    code = ("import sys, handlers.services, compat.hassio.dialect; "
            "print(sorted(m for m in ('securetar', 'cryptography', 'Crypto.Cipher') if m in sys.modules))")
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "[]"


# ---- the inner archives against the real securetar (2024.11, the format tag 138 wrote) ----

def inner_files(tar: tarfile.TarFile) -> dict[str, bytes]:
    found = {}
    for member in tar:
        stream = tar.extractfile(member) if member.isreg() else None
        if stream is not None:
            found[member.name] = stream.read()
    return found


FILES = {"a.txt": b"hello", "big.bin": os.urandom(70_000) + bytes(50_000), "empty": b""}


def add_files(tar: tarfile.TarFile) -> None:
    for name, data in FILES.items():
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


@pytest.mark.parametrize("key", [crypto.password_to_key("secret"), None], ids=["encrypted", "plain"])
@pytest.mark.parametrize("bufsize", [64 * 1024, 10240, 2048])
def test_inner_archives_open_with_securetar_and_back(key: bytes | None, bufsize: int) -> None:
    from securetar import SecureTarFile

    ours = io.BytesIO()
    with crypto.inner_tar(Path("./x.tar.gz"), "w", key, ours, bufsize) as tar:
        add_files(tar)
    if key:
        assert len(ours.getvalue()) % 16 == 0 and ours.getvalue()[:16] != b"\0" * 16  # the salt
    ours.seek(0)
    with SecureTarFile(Path("./x.tar.gz"), "r", key=key, gzip=True, bufsize=bufsize, fileobj=ours) as tar:
        assert inner_files(tar) == FILES

    theirs = io.BytesIO()
    with SecureTarFile(Path("./x.tar.gz"), "w", key=key, gzip=True, bufsize=bufsize, fileobj=theirs) as tar:
        add_files(tar)
    theirs.seek(0)
    with crypto.inner_tar(Path("./x.tar.gz"), "r", key, theirs, bufsize) as tar:
        assert inner_files(tar) == FILES
    if key is None:  # no salt, no clock in the way but the gzip mtime: the same bytes
        assert ours.getvalue()[10:] == theirs.getvalue()[10:]


def test_encrypted_inner_archive_is_securetars_stream_with_our_salt() -> None:
    """Decrypted with the salt at its head, our file is the gzip stream securetar's would be: the
    same layout byte for byte once the gzip header's time is set aside."""
    from securetar import SecureTarFile

    key = crypto.password_to_key("secret")
    ours = io.BytesIO()
    with crypto.inner_tar(Path("./x.tar.gz"), "w", key, ours, 10240) as tar:
        add_files(tar)
    theirs = io.BytesIO()
    with SecureTarFile(Path("./x.tar.gz"), "w", key=key, gzip=True, bufsize=10240, fileobj=theirs) as tar:
        add_files(tar)

    def plain(data: bytes) -> bytes:
        salt, body = data[:16], data[16:]
        return AES.new(key, AES.MODE_CBC, iv=crypto.salted_iv(key, salt)).decrypt(body)

    mine, real = plain(ours.getvalue()), plain(theirs.getvalue())
    assert len(mine) == len(real) and mine[:4] + mine[8:] == real[:4] + real[8:]


def test_a_wrong_key_does_not_read_an_inner_archive() -> None:
    ours = io.BytesIO()
    with crypto.inner_tar(Path("./x.tar.gz"), "w", crypto.password_to_key("right"), ours, 10240) as tar:
        add_files(tar)
    ours.seek(0)
    wrong = crypto.password_to_key("wrong")
    with pytest.raises((tarfile.TarError, OSError, EOFError)), crypto.inner_tar(
            Path("./x.tar.gz"), "r", wrong, ours, 10240) as tar:
        inner_files(tar)
