"""RS256 JSON Web Tokens signed with the agent's own RSA key (pycryptodome: handlers/accounts/rsa_keys.py).

The key and a self-signed certificate are made on first start in the data folder
(jwt.key, mode 0600, and cert.pem.crt); other agents verify our tokens with the certificate
that GET /auth/certificate serves. Only RS256 is ever accepted: `alg: none`, HS256 (also
one "signed" with the public certificate as an HMAC secret) and any other header are refused.
The signature is checked before any claim is read. handlers/accounts/rsa_keys.py (and the RSA library) is
imported with the first key: an agent whose platform API is never asked never loads it.
"""

from __future__ import annotations

import base64
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from handlers.accounts.rsa_keys import PrivateKey

KEY_FILE = "jwt.key"
CERT_FILE = "cert.pem.crt"
HEADER = {"alg": "RS256", "typ": "JWT"}


class TokenInvalid(Exception):
    """The token is malformed, not ours, of another algorithm or expired (the message says which)."""


def b64url(data: bytes) -> str:
    """base64url without padding (RFC 7515)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Inverse of b64url; TokenInvalid on bad input."""
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as err:
        raise TokenInvalid("token is malformed") from err


class Signer:
    """Signs and verifies RS256 JWTs with one RSA key; holds its PEM certificate."""

    def __init__(self, key_pem: bytes, cert_pem: bytes) -> None:
        from handlers.accounts.rsa_keys import PrivateKey

        self._key: PrivateKey = PrivateKey.from_pem(key_pem)
        self.certificate = cert_pem

    @staticmethod
    def exists(folder: Path) -> bool:
        """Whether folder already holds a key and its certificate."""
        return (Path(folder) / KEY_FILE).exists() and (Path(folder) / CERT_FILE).exists()

    @classmethod
    def load_or_create(cls, folder: Path, common_name: str = "polyvisor") -> Signer:
        """The signer of folder/jwt.key, generating key and certificate on first use."""
        key_path, cert_path = Path(folder) / KEY_FILE, Path(folder) / CERT_FILE
        if not cls.exists(folder):
            key_pem, cert_pem = generate(common_name)
            Path(folder).mkdir(parents=True, exist_ok=True, mode=0o700)
            for path, data, mode in ((key_path, key_pem, 0o600), (cert_path, cert_pem, 0o644)):
                tmp = path.with_name(f".{path.name}.tmp")
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, path)
        if key_path.stat().st_mode & 0o077:  # a key copied in by hand: readable by its owner only
            os.chmod(key_path, 0o600)
        return cls(key_path.read_bytes(), cert_path.read_bytes())

    def sign(self, claims: dict[str, Any]) -> str:
        """header.payload.signature, compact serialisation."""
        signing_input = f"{b64url(orjson.dumps(HEADER))}.{b64url(orjson.dumps(claims))}"
        signature = self._key.sign_sha256(signing_input.encode("ascii"))
        return f"{signing_input}.{b64url(signature)}"

    def verify(self, token: str, now: float | None = None) -> dict[str, Any]:
        """The claims of a token we signed that has not expired; TokenInvalid otherwise."""
        parts = token.split(".")
        if len(parts) != 3 or not all(parts):
            raise TokenInvalid("token is malformed")
        try:
            header = orjson.loads(b64url_decode(parts[0]))
            claims = orjson.loads(b64url_decode(parts[1]))
        except orjson.JSONDecodeError as err:
            raise TokenInvalid("token is malformed") from err
        if not isinstance(header, dict) or header.get("alg") != "RS256" or "crit" in header:
            raise TokenInvalid("signing method (alg) is unavailable")
        if not self._key.verify_sha256(f"{parts[0]}.{parts[1]}".encode("ascii"), b64url_decode(parts[2])):
            raise TokenInvalid("signature is invalid")
        if not isinstance(claims, dict):
            raise TokenInvalid("token is malformed")
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or isinstance(exp, bool):
            raise TokenInvalid("missing exp field")
        if exp <= (time.time() if now is None else now):
            raise TokenInvalid("token is expired")
        return claims


def generate(common_name: str) -> tuple[bytes, bytes]:
    """A new RSA-2048 key (PKCS#8 PEM) and a self-signed certificate for it (10 years, PEM)."""
    from handlers.accounts.rsa_keys import PrivateKey, self_signed_certificate

    key = PrivateKey.generate(2048)
    return key.pkcs8_pem(), self_signed_certificate(key, common_name)
