"""handlers.accounts.logins and handlers.accounts.jwt_rs256: tokens, refusals, the admin password, the users file."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path

import pytest

from handlers.accounts.jwt_rs256 import CERT_FILE, KEY_FILE, Signer, TokenInvalid, b64url
from handlers.accounts.logins import ADMIN_ACCOUNT, OS_ACCOUNT, Auth, LoginFailed, PasswordRejected
from handlers.accounts.os_accounts import FileAccounts
from handlers.accounts.passwords import check_password, hash_password
from handlers.store import Store


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("keys")
    Signer.load_or_create(folder)
    return folder


@pytest.fixture
def users(tmp_path: Path) -> Path:
    path = tmp_path / "users"
    path.write_text(f"alice:{hash_password('alice-pw')}:users\nbob:{hash_password('bob-pw')}:users,sudo\n")
    return path


@pytest.fixture
def auth(tmp_path: Path, keys: Path, users: Path) -> Auth:
    for name in (KEY_FILE, CERT_FILE):
        (tmp_path / name).write_bytes((keys / name).read_bytes())
    store = Store(tmp_path / "db")
    store.open()
    return Auth(store, tmp_path, FileAccounts(users), "sudo,wheel", 3600, Clock())


def forge(header: dict[str, object], claims: dict[str, object], signature: bytes = b"") -> str:
    part = lambda value: b64url(json.dumps(value).encode())
    return f"{part(header)}.{part(claims)}.{b64url(signature)}"


def test_key_and_certificate_are_made_once_and_kept(tmp_path: Path) -> None:
    first = Signer.load_or_create(tmp_path)
    assert (tmp_path / KEY_FILE).stat().st_mode & 0o777 == 0o600
    assert Signer.load_or_create(tmp_path).certificate == first.certificate
    assert first.certificate.startswith(b"-----BEGIN CERTIFICATE-----\n")


def test_prepare_makes_a_missing_key_and_leaves_an_existing_one_for_first_use(auth: Auth, tmp_path: Path,
                                                                             users: Path) -> None:
    auth.prepare()  # the key is there: loaded by the first request that needs it, not at start
    assert auth._signer is None  # type: ignore[attr-defined]
    assert auth.verify(auth.login("alice", "alice-pw", OS_ACCOUNT).token).identity == "alice"
    store = Store(tmp_path / "fresh-db")
    store.open()
    fresh = Auth(store, tmp_path / "fresh", FileAccounts(users), "sudo", 3600, Clock())
    fresh.prepare()  # first start: made in the background
    deadline = time.monotonic() + 60
    while not Signer.exists(tmp_path / "fresh") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert fresh.certificate.startswith(b"-----BEGIN CERTIFICATE-----\n")
    assert (tmp_path / "fresh" / KEY_FILE).stat().st_mode & 0o777 == 0o600


def test_token_verifies_with_the_certificate_alone(auth: Auth) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    token = auth.login("admin", "p@ssw0rd", ADMIN_ACCOUNT).token
    head, body, sig = token.split(".")
    public = x509.load_pem_x509_certificate(auth.certificate).public_key()
    public.verify(base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)), f"{head}.{body}".encode(),
                  padding.PKCS1v15(), hashes.SHA256())  # type: ignore[call-arg, union-attr]
    assert json.loads(base64.urlsafe_b64decode(head + "==")) == {"alg": "RS256", "typ": "JWT"}
    claims = auth.verify(token)
    assert (claims.identity, claims.m, claims.exp - claims.orig_iat) == ("admin", 2, 3600)


def test_expired_token_is_refused(auth: Auth) -> None:
    token = auth.login("alice", "alice-pw", OS_ACCOUNT).token
    auth._clock.now += 3600  # type: ignore[attr-defined]
    with pytest.raises(TokenInvalid, match="expired"):
        auth.verify(token)


def test_alg_none_hs256_with_the_certificate_and_foreign_keys_are_refused(auth: Auth, tmp_path: Path) -> None:
    claims = {"exp": 1_800_000_000, "identity": "admin", "m": 2, "orig_iat": 0, "jti": "x"}
    with pytest.raises(TokenInvalid):
        auth.verify(forge({"alg": "none", "typ": "JWT"}, claims))
    with pytest.raises(TokenInvalid):
        auth.verify(forge({"alg": "none"}, claims)[:-1] + ".")
    head = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64url(json.dumps(claims).encode())
    mac = hmac.new(auth.certificate, f"{head}.{body}".encode(), hashlib.sha256).digest()
    with pytest.raises(TokenInvalid, match="alg"):
        auth.verify(f"{head}.{body}.{b64url(mac)}")
    foreign = Signer.load_or_create(tmp_path / "other")
    with pytest.raises(TokenInvalid, match="signature"):
        auth.verify(foreign.sign(claims))
    token = auth.login("alice", "alice-pw", OS_ACCOUNT).token
    head, body, sig = token.split(".")
    tampered = b64url(json.dumps({**claims, "identity": "root"}).encode())
    with pytest.raises(TokenInvalid):
        auth.verify(f"{head}.{tampered}.{sig}")
    for junk in ("", "a.b", "a.b.c", "...", token + "x"):
        with pytest.raises(TokenInvalid):
            auth.verify(junk)


def test_logins(auth: Auth) -> None:
    assert auth.verify(auth.login("alice", "alice-pw", OS_ACCOUNT).token).identity == "alice"
    for user, password, m in [("alice", "nope", 0), ("admin", "p@ssw0rd", 0), ("alice", "alice-pw", 2),
                              ("admin", "nope", 2), ("", "", 0), ("alice", "alice-pw", 1)]:
        with pytest.raises(LoginFailed):
            auth.login(user, password, m)


def test_admin_rule_and_groups(auth: Auth) -> None:
    alice = auth.verify(auth.login("alice", "alice-pw", OS_ACCOUNT).token)
    bob = auth.verify(auth.login("bob", "bob-pw", OS_ACCOUNT).token)
    admin = auth.verify(auth.login("admin", "p@ssw0rd", ADMIN_ACCOUNT).token)
    assert [auth.is_admin(c) for c in (alice, bob, admin)] == [False, True, True]


def test_default_password_must_be_changed_then_reset_brings_the_rule_back(auth: Auth) -> None:
    admin = auth.verify(auth.login("admin", "p@ssw0rd", ADMIN_ACCOUNT).token)
    alice = auth.verify(auth.login("alice", "alice-pw", OS_ACCOUNT).token)
    assert auth.must_change_password(admin) and not auth.must_change_password(alice)
    with pytest.raises(PasswordRejected):
        auth.change_admin_password("wrong", "s3cret-new")
    with pytest.raises(PasswordRejected):
        auth.change_admin_password("p@ssw0rd", "p@ssw0rd")
    with pytest.raises(PasswordRejected):
        auth.change_admin_password("p@ssw0rd", "")
    auth.change_admin_password("p@ssw0rd", "s3cret-new")
    assert not auth.must_change_password(admin)
    with pytest.raises(LoginFailed):
        auth.login("admin", "p@ssw0rd", ADMIN_ACCOUNT)
    auth.login("admin", "s3cret-new", ADMIN_ACCOUNT)
    auth.reset_admin_password()
    assert auth.must_change_password(admin)
    auth.login("admin", "p@ssw0rd", ADMIN_ACCOUNT)


def test_logout_revokes_only_that_token(auth: Auth) -> None:
    first = auth.login("alice", "alice-pw", OS_ACCOUNT).token
    second = auth.login("alice", "alice-pw", OS_ACCOUNT).token
    auth.logout(first)
    with pytest.raises(TokenInvalid, match="revoked"):
        auth.verify(first)
    assert auth.verify(second).identity == "alice"
    auth.logout("garbage")  # nothing to revoke, no error


def test_password_hashes() -> None:
    stored = hash_password("pw")
    assert stored.startswith("scrypt$") and check_password("pw", stored)
    assert not check_password("PW", stored) and not check_password("pw", "junk")
    assert hash_password("pw") != stored  # salted
