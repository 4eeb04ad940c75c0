"""Password hashes for the agent's own accounts: scrypt (stdlib), salted, self-describing."""

from __future__ import annotations

import hashlib
import hmac
import secrets

# n=2**14, r=8, p=1: about 16 MiB and tens of milliseconds per check
N, R, P = 2 ** 14, 8, 1


def hash_password(password: str) -> str:
    """`scrypt$n$r$p$<salt hex>$<hash hex>` of the password."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=N, r=R, p=P, dklen=32)
    return f"scrypt${N}${R}${P}${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    """True when `stored` (from hash_password) is a hash of `password`; constant-time compare."""
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        got = hashlib.scrypt(password.encode("utf-8"), salt=bytes.fromhex(salt), n=int(n), r=int(r),
                             p=int(p), dklen=len(bytes.fromhex(digest)), maxmem=64 * 1024 * 1024)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, bytes.fromhex(digest))
