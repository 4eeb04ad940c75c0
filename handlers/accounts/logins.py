"""Platform logins: OS accounts (m=0, PAM) and the agent's own `admin` (m=2), as RS256 JWTs.

Claims (our choice; gin-jwt's defaults plus what our rules need): `identity` (user name),
`m` (account type), `orig_iat`, `exp`, `jti` (so a logout can revoke that one token).
The admin password is kept hashed in the store; until it differs from the factory default
`p@ssw0rd`, an admin token may only change the password or log out (must_change_password).
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from handlers.accounts.jwt_rs256 import Signer, TokenInvalid
from handlers.accounts.os_accounts import Verifier
from handlers.accounts.passwords import check_password, hash_password
from handlers.errors import InvalidInput, PolyvisorError
from handlers.store import Store

log = logging.getLogger("polyvisor.auth")

OS_ACCOUNT = 0
ADMIN_ACCOUNT = 2
ADMIN_USER = "admin"
DEFAULT_PASSWORD = "p@ssw0rd"
_HASH_KEY = "platform_admin_password"
_DEFAULT_KEY = "platform_admin_password_default"

__all__ = ["Auth", "Claims", "LoginFailed", "PasswordRejected", "TokenInvalid"]


class LoginFailed(PolyvisorError):
    """Wrong user, password or account type."""


class PasswordRejected(InvalidInput):
    """The old admin password is wrong, or the new one cannot be used."""


@dataclass(frozen=True)
class Claims:
    """What a valid token says."""

    identity: str
    m: int
    exp: int
    orig_iat: int
    jti: str


@dataclass(frozen=True)
class Login:
    """A signed token and when it expires (epoch seconds)."""

    token: str
    exp: int


class Auth:
    """Logs users in and out, checks tokens, keeps the admin password."""

    def __init__(self, store: Store, data_dir: Path, verifier: Verifier, admin_group: str = "sudo",
                 lifetime: int = 3600, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._data_dir = Path(data_dir)
        self.verifier = verifier
        self.admin_groups = {g.strip() for g in admin_group.split(",") if g.strip()}
        self.lifetime = lifetime
        self._clock = clock
        self._signer: Signer | None = None
        self._revoked: dict[str, int] = {}
        self._lock = threading.Lock()

    @property
    def signer(self) -> Signer:
        """The signing key (made on first use: RSA key generation takes a moment)."""
        with self._lock:
            if self._signer is None:
                self._signer = Signer.load_or_create(self._data_dir)
            return self._signer

    def prepare(self) -> None:
        """On the first start, make the signing key in the background so the first login does not
        wait for it; a key already made is loaded by the first request that needs it."""
        if not Signer.exists(self._data_dir):
            threading.Thread(target=self._prepare, name="jwt-key", daemon=True).start()

    def _prepare(self) -> None:
        try:
            self.signer  # noqa: B018 - made and cached by the property
        except OSError as err:  # a full or read-only data folder: tried again on first use
            log.warning("JWT signing key not made yet: %s", err)

    @property
    def certificate(self) -> bytes:
        """The PEM certificate that verifies our tokens."""
        return self.signer.certificate

    def login(self, user: str, password: str, m: int) -> Login:
        """A token for a valid account; LoginFailed otherwise."""
        if m == ADMIN_ACCOUNT:
            ok = user == ADMIN_USER and self._check_admin(password)
        elif m == OS_ACCOUNT:
            ok = bool(user) and self.verifier.check(user, password)
        else:
            raise LoginFailed("incorrect Username or Password")
        if not ok:
            raise LoginFailed("incorrect Username or Password")
        signer = self.signer  # before the clock is read: making the key takes a moment
        now = int(self._clock())
        exp = now + self.lifetime
        token = signer.sign({"exp": exp, "identity": user, "jti": secrets.token_hex(8), "m": m,
                                  "orig_iat": now})
        return Login(token, exp)

    def verify(self, token: str) -> Claims:
        """The claims of a valid, unexpired, unrevoked token; TokenInvalid otherwise."""
        raw = self.signer.verify(token, self._clock())
        try:
            claims = Claims(str(raw["identity"]), int(raw["m"]), int(raw["exp"]),
                            int(raw.get("orig_iat", 0)), str(raw.get("jti", "")))
        except (KeyError, TypeError, ValueError) as err:
            raise TokenInvalid("token is malformed") from err
        if claims.m not in (OS_ACCOUNT, ADMIN_ACCOUNT):
            raise TokenInvalid("token is malformed")
        with self._lock:
            if claims.jti and claims.jti in self._revoked:
                raise TokenInvalid("token is revoked")
        return claims

    def logout(self, token: str | None) -> None:
        """Revoke the presented token, if it is a valid one (gin-jwt revokes nothing; we do)."""
        if not token:
            return
        try:
            claims = self.verify(token)
        except TokenInvalid:
            return
        now = int(self._clock())
        with self._lock:
            self._revoked = {j: e for j, e in self._revoked.items() if e > now}
            if claims.jti:
                self._revoked[claims.jti] = claims.exp

    def is_admin(self, claims: Claims) -> bool:
        """The admin account, root, or an OS account in one of the admin groups."""
        if claims.m == ADMIN_ACCOUNT or claims.identity == "root":
            return True
        return bool(self.verifier.groups(claims.identity) & self.admin_groups)

    def admin_password_is_default(self) -> bool:
        """True until the admin password is changed (and again after a reset)."""
        return self._store.get(_DEFAULT_KEY, "true") == "true"

    def must_change_password(self, claims: Claims) -> bool:
        """An admin token while the admin password is still the factory default."""
        return claims.m == ADMIN_ACCOUNT and self.admin_password_is_default()

    def change_admin_password(self, old: str, new: str) -> None:
        """Replace the admin password; PasswordRejected when `old` is wrong or `new` unusable."""
        if not self._check_admin(old):
            raise PasswordRejected("incorrect old password")
        if not new or len(new) > 256:
            raise PasswordRejected("the new password must be 1 to 256 characters")
        if new == DEFAULT_PASSWORD:
            raise PasswordRejected("the new password must differ from the default password")
        self._store.set(**{_HASH_KEY: hash_password(new), _DEFAULT_KEY: "false"})

    def reset_admin_password(self) -> None:
        """Back to the factory default `p@ssw0rd` (which must then be changed again)."""
        self._store.set(**{_HASH_KEY: "", _DEFAULT_KEY: "true"})

    def _check_admin(self, password: str) -> bool:
        stored = self._store.get(_HASH_KEY) or ""
        if not stored:
            return secrets.compare_digest(password.encode("utf-8", "surrogateescape"),
                                          DEFAULT_PASSWORD.encode())
        return check_password(password, stored)
