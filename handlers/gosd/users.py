"""gosd's users: bcrypt password hashes, its login errors word for word, and its lock of a user
after more than 5 failed logins within an hour (api/auth.go, storage/user.go of v2.2.0).

bcrypt is imported on the first hash or check, so an agent that never sees a gosd login does
not load it.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from handlers.errors import InvalidInput, PolyvisorError

LOCK_WINDOW = 3600.0  # api/auth.go lockTimeOut: failures older than 1 h are forgotten
MAX_RETRY = 5  # api/auth.go maxRetry: a 6th failure within the window locks the user
BCRYPT_COST = 10  # Go's bcrypt.DefaultCost
# Go's bcrypt reads at most 72 bytes of a password; Python's bcrypt 5 refuses longer ones
BCRYPT_MAX = 72
# The message x/crypto/bcrypt's ErrMismatchedHashAndPassword carried
MISMATCH = "crypto/bcrypt: hashedPassword is not the hash of the given password"
TOO_SHORT = "crypto/bcrypt: hashedSecret too short to be a bcrypted password"


class LoginError(PolyvisorError):
    """A refused login; str() is gosd's error text, which it answered with status 500."""


class UnknownUser(LoginError):
    """No user of that name (gosd: "Not user found")."""

    def __init__(self) -> None:
        super().__init__("Not user found")


class WrongPassword(LoginError):
    """The password does not match (gosd: storage.CheckPassword's message with bcrypt's)."""

    def __init__(self, username: str, reason: str = MISMATCH) -> None:
        super().__init__(f'store: invalid password for "{username}" ({reason})')


class UserLocked(LoginError):
    """More than 5 failed logins within the hour (gosd v2.1+: "user already locked")."""

    def __init__(self) -> None:
        super().__init__("user already locked")


class UserExists(InvalidInput):
    """`users add` of a name already taken."""


def hash_password(password: str) -> str:
    """A bcrypt hash at Go's default cost."""
    import bcrypt

    return bcrypt.hashpw(password.encode()[:BCRYPT_MAX], bcrypt.gensalt(BCRYPT_COST)).decode()


def check_password(username: str, password: str, hashed: str | None) -> None:
    """Nothing when `password` matches `hashed`, else WrongPassword with the bcrypt reason."""
    import bcrypt

    if not hashed or len(hashed) < 59:
        raise WrongPassword(username, TOO_SHORT)
    try:
        ok = bcrypt.checkpw(password.encode()[:BCRYPT_MAX], hashed.encode())  # constant time inside
    except ValueError:
        ok = False
    if not ok:
        raise WrongPassword(username)


@dataclass
class Failures:
    """Failed logins per user id in this process's memory, as gosd kept them (lost on restart)."""

    window: float = LOCK_WINDOW
    limit: int = MAX_RETRY
    clock: Any = time.monotonic
    _seen: dict[int, deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def locked(self, user_id: int) -> bool:
        """True when the user failed more than `limit` times within the window."""
        with self._lock:
            now = self.clock()
            times = self._seen.get(user_id)
            if not times:
                return False
            while times and times[0] + self.window < now:
                times.popleft()
            return len(times) > self.limit

    def record(self, user_id: int) -> None:
        """One more failure now."""
        with self._lock:
            self._seen.setdefault(user_id, deque()).append(self.clock())
