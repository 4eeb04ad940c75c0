"""Bad credentials of every kind the dialects could be fooled by: none, wrong keys, keys in the
wrong place, and forged or expired JWTs (alg none, HS256 keyed with the served certificate, a
foreign RS256 key, the agent's own key past `exp`). Each variant is (headers, query, cookies)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conftest import API_KEY
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

Sent = tuple[dict[str, str], dict[str, str], dict[str, str]]


def b64url(data: bytes) -> str:
    """base64url without padding (RFC 7515)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def admin_claims(expired: bool = False) -> dict[str, Any]:
    """The claims an admin token carries (handlers/accounts/logins.py's layout), valid for an hour or past."""
    now = int(time.time())
    exp = now - 3600 if expired else now + 3600
    return {"exp": exp, "identity": "admin", "jti": "0123456789abcdef", "m": 2, "orig_iat": exp - 3600}


def jwt(header: dict[str, Any], claims: dict[str, Any], sign: Callable[[bytes], bytes]) -> str:
    """A compact JWT with the given signing function."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    return f"{signing_input}.{b64url(sign(signing_input.encode()))}"


def rs256(key: Any) -> Callable[[bytes], bytes]:
    """An RS256 signer with a cryptography private key."""
    return lambda data: key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def forged_tokens(certificate: str, data_dir: Path) -> dict[str, str]:
    """name -> a token the platform must refuse."""
    foreign = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    own = serialization.load_pem_private_key((data_dir / "jwt.key").read_bytes(), password=None)
    return {
        "alg-none": jwt({"alg": "none", "typ": "JWT"}, admin_claims(), lambda _: b""),
        "hs256-certificate": jwt({"alg": "HS256", "typ": "JWT"}, admin_claims(),
                                 lambda data: hmac.new(certificate.encode(), data, hashlib.sha256).digest()),
        "foreign-rs256": jwt({"alg": "RS256", "typ": "JWT"}, admin_claims(), rs256(foreign)),
        "expired": jwt({"alg": "RS256", "typ": "JWT"}, admin_claims(expired=True), rs256(own)),
        "garbage": "not.a.jwt",
    }


def variants(certificate: str, data_dir: Path) -> dict[str, Sent]:
    """name -> (headers, query, cookies), every one of them wrong for every protected route."""
    wrong = "wrongkey_0123456789"
    found: dict[str, Sent] = {
        "none": ({}, {}, {}),
        "empty-authorization": ({"Authorization": ""}, {}, {}),
        "bearer-wrong-key": ({"Authorization": f"Bearer {wrong}"}, {}, {}),
        "apikey-wrong-key": ({"Authorization": f"ApiKey {wrong}"}, {}, {}),
        "query-wrong-key": ({}, {"apikey": wrong}, {}),
        "query-empty-key": ({}, {"apikey": ""}, {}),
        "key-case-changed": ({"Authorization": f"Bearer {API_KEY.upper()}"}, {}, {}),
        "key-prefix": ({"Authorization": f"Bearer {API_KEY[:-1]}"}, {}, {}),
        "key-extended": ({"Authorization": f"Bearer {API_KEY}0"}, {}, {}),
        "basic-with-key": ({"Authorization": "Basic " + base64.b64encode(f"{API_KEY}:".encode()).decode()}, {}, {}),
        "hassio-wrong-key": ({"X-HASSIO-KEY": wrong}, {}, {}),
    }
    for name, token in forged_tokens(certificate, data_dir).items():
        found[f"jwt-{name}-bearer"] = ({"Authorization": f"Bearer {token}"}, {}, {})
        if name in ("alg-none", "expired"):
            found[f"jwt-{name}-query"] = ({}, {"token": token}, {})
            found[f"jwt-{name}-cookie"] = ({}, {}, {"jwt": token})
    return found
