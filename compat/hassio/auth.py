"""POST /auth: an add-on with auth_api checks a Home Assistant login (tag 138's hassio/api/auth.py,
hassio.md §2.5): ok when Home Assistant accepts it, 400 with message null when not.

Credentials, in 138's order: an Authorization header (aiohttp's BasicAuth.decode), a JSON body
when the Content-Type is exactly application/json, a form when it is exactly
application/x-www-form-urlencoded; anything else is "Auth method not detected!". 138 read these
without api_validate, so what its parsers raised escaped api_process: aiohttp's 500 page, kept
here (BadCredentials) for the same inputs.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any
from urllib.parse import parse_qsl

from compat.base import Router
from compat.hassio.callers import Crash, addon_of
from compat.hassio.common import APIError, Call

routes = Router()  # compat.hassio.dialect serves it

JSON_TYPE = "application/json"
FORM_TYPE = "application/x-www-form-urlencoded"


class BadCredentials(Crash):
    """Credentials 138's parsers choked on (ValueError, JSONDecodeError, AttributeError): a 500."""


def basic(header: str) -> tuple[str, str]:
    """aiohttp 3.4's BasicAuth.decode: `Basic <base64 of login:password>`, latin-1."""
    parts = header.strip().split(" ")
    if len(parts) != 2:
        raise BadCredentials("Could not parse authorization header.")
    if parts[0].strip().lower() != "basic":
        raise BadCredentials("Unknown authorization method")
    try:
        decoded = base64.b64decode(parts[1].encode("ascii")).decode("latin-1")
    except (binascii.Error, UnicodeEncodeError) as err:
        raise BadCredentials("Invalid base64 encoding.") from err
    login, _, password = decoded.partition(":")
    return login, password


def from_dict(data: Any) -> tuple[Any, Any]:
    """_process_dict: `username` (or `user`, when username is empty) and `password`."""
    if not hasattr(data, "get"):
        raise BadCredentials(f"credentials are a {type(data).__name__}, not an object")
    return data.get("username") or data.get("user"), data.get("password")


def form(body: bytes) -> dict[str, str]:
    """aiohttp's request.post() for a form: first value of each name; Python 3.7's parse_qsl also
    split on `;`."""
    try:
        text = body.rstrip().decode("utf-8")
    except UnicodeDecodeError as err:
        raise BadCredentials("form is not UTF-8") from err
    fields: dict[str, str] = {}
    for name, value in parse_qsl(text.replace(";", "&"), keep_blank_values=True, encoding="utf-8"):
        fields.setdefault(name, value)
    return fields


@routes.add("POST", "/auth")
async def post_auth(call: Call) -> bool:
    """Check the login with Home Assistant (or its cache while it is down)."""
    addon = addon_of(call)
    if not addon.auth_api:
        raise APIError("Can't use Home Assistant auth!")
    headers = call.request.headers
    if "authorization" in headers:
        username, password = basic(headers["authorization"])
    elif headers.get("content-type") == JSON_TYPE:
        body = await call.body()
        try:
            data = json.loads(body.decode("utf-8"))
        except ValueError as err:  # JSONDecodeError, UnicodeDecodeError
            raise BadCredentials("body is not JSON") from err
        username, password = from_dict(data)
    elif headers.get("content-type") == FORM_TYPE:
        username, password = from_dict(form(await call.body()))
    else:
        raise APIError("Auth method not detected!")
    accepted: bool = await call.run(call.services.hassio_auth.check_login, addon.slug, username, password)
    return accepted
