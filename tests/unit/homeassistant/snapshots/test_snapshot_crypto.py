"""The password's key, iv and marker, the chained secret fields and the slug rule against tag 138's
algorithm written out with pycryptodome (legacy_snapshot.py)."""

from __future__ import annotations

import hashlib
import sys
from base64 import b64decode, b64encode
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


def test_cryptography_and_securetar_are_not_imported_with_the_package() -> None:
    import subprocess

    code = ("import sys, handlers.services, compat.hassio.dialect; "
            "print(sorted(m for m in ('securetar', 'cryptography', 'Crypto') if m in sys.modules))")
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "securetar" not in found.stdout and "cryptography" not in found.stdout
