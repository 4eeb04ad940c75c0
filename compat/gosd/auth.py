"""Logins and the caller: POST /gosd/oauth/token (api/auth.go), go-oauth2's
GET|POST /gosd/api/v2/oauth/token (api/oauth2.go; its tokens the API refuses, as v2.2.0 did),
GET /gosd/api/v1/user/ (api/user.go) and GET /gosd/api/v2/ok.
"""

from __future__ import annotations

import base64
import secrets
import time
import uuid
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from starlette.responses import Response

from compat.gojson import GoJSONError, GoStruct, decode
from compat.gosd.common import (
    SUBROUTER_CORS,
    BadRequest,
    Call,
    MuxRouter,
    ServerError,
    answer,
    go_encode,
    go_map,
    go_rfc3339,
    media_type,
    read_form,
)
from compat.gosd.common import store_files as store_form_files
from handlers.errors import PolyvisorError

routes = MuxRouter()  # compat.gosd.dialect serves it
STARTED = time.monotonic()

LOGIN = GoStruct("Login", {"grant_type": "string", "username": "string", "password": "string",
                           "client_id": "string", "client_secret": "string"}, package="model")
# decodeLoginPayload reused the plan decoder's message
DECODE_ERROR = "Unable to decode plan modification JSON object: {}"


def go_time_now(now: float | None = None) -> str:
    """Go's time.Now().String(): local time, nanoseconds, offset, zone and monotonic reading."""
    ns = time.time_ns() if now is None else int(now * 1e9)
    local = datetime.fromtimestamp(ns // 1_000_000_000).astimezone()
    offset = local.strftime("%z")
    zone = local.tzname() or offset
    if zone.startswith(("+", "-")):  # Go prints the numeric offset again when the zone has no name
        zone = offset
    fraction = f"{ns % 1_000_000_000:09d}".rstrip("0")
    stamp = local.strftime("%Y-%m-%d %H:%M:%S") + (f".{fraction}" if fraction else "")
    return f"{stamp} {offset} {zone} m=+{time.monotonic() - STARTED:.9f}"


def user_json(user: Any) -> dict[str, Any]:
    """model.User as json.Marshal wrote it (password never; last_login_at only when set)."""
    body: dict[str, Any] = {"id": user.id, "username": user.username, "language": user.language,
                            "timezone": user.timezone}
    if getattr(user, "last_login_at", None):
        body["last_login_at"] = go_rfc3339(user.last_login_at)
    group = user.group
    body["group"] = None if group is None else {"id": group.id, "name": group.name,
                                                "extra": go_map(group.extra)}
    body["extra"] = go_map(user.extra)
    return body


@routes.add("GET", "/gosd/api/v2/ok", auth=False)
async def get_ok(call: Call) -> Response:
    """Liveness: {"ok": "<Go time string>"}."""
    return answer(call.request, {"ok": go_time_now()})


@routes.add("POST", "/gosd/oauth/token", auth=False, cors=False)
async def post_oauth_token(call: Call) -> Response:
    """authHandler: a multipart form (its file parts stored as blobs, as formData2Blob did) or a
    JSON body; grant_type and the client are never checked."""
    kind, _ = media_type(call.request)
    if kind.startswith("multipart/"):
        form = await read_form(call)
        assert form is not None
        await store_form_files(call, form)
        login = {key: form.fields.get(key, "") for key in LOGIN.fields}
    else:
        try:
            login = decode(await call.body(), LOGIN)
        except GoJSONError as err:  # x-www-form-urlencoded lands here too
            raise BadRequest(DECODE_ERROR.format(err)) from err
    store = call.store
    try:
        user = await call.run(store.login, login["username"] or "", login["password"] or "")
    except PolyvisorError as err:  # "Not user found", the bcrypt message, "user already locked"
        raise ServerError(str(err)) from err
    token = await call.run(store.issue_token, user)
    return answer(call.request, {"access_token": token.access_token, "token_type": token.token_type,
                                 "expires_in": token.expires_in, "created_at": token.created_at},
                  cors=False, extra={"Access-Control-Allow-Origin": "*"})


# go-oauth2 v4.3.0's errors: (status, description)
OAUTH_ERRORS = {
    "invalid_request": (400, ("The request is missing a required parameter, includes an invalid parameter "
                             "value, includes a parameter more than once, or is otherwise malformed")),
    "invalid_client": (401, "Client authentication failed"),
    "invalid_grant": (401, ("The provided authorization grant (e.g., authorization code, resource owner "
                           "credentials) or refresh token is invalid, expired, revoked, does not match the "
                           "redirection URI used in the authorization request, or was issued to another client")),
    "unsupported_grant_type": (401, "The authorization grant type is not supported by the authorization server"),
    "server_error": (500, ("The authorization server encountered an unexpected condition that prevented it "
                          "from fulfilling the request")),
}
GRANTS = ("authorization_code", "password", "client_credentials", "refresh_token")


def oauth_json(data: dict[str, Any], status: int) -> Response:
    """go-oauth2's token()/tokenError(): json.NewEncoder (sorted keys, a newline), no caching."""
    headers = {**SUBROUTER_CORS, "Cache-Control": "no-store", "Pragma": "no-cache"}
    response = Response(go_encode(go_map(data)) + b"\n", status, headers)
    response.headers["content-type"] = "application/json;charset=UTF-8"
    return response


def oauth_error(name: str) -> Response:
    """One of go-oauth2's error answers."""
    status, description = OAUTH_ERRORS[name]
    return oauth_json({"error": name, "error_description": description}, status)


def oauth_token() -> str:
    """go-oauth2's access generator: base64url of a SHA-1 UUID, upper-cased, no padding."""
    raw = uuid.uuid5(uuid.uuid4(), secrets.token_hex(8)).bytes
    return base64.urlsafe_b64encode(raw).decode().rstrip("=").upper()


async def _oauth_form(call: Call) -> dict[str, str]:
    """r.FormValue: the query, then an urlencoded body (POST)."""
    values = dict(parse_qsl(call.request.url.query, keep_blank_values=True))
    if call.request.method == "POST":
        kind = call.request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind == "application/x-www-form-urlencoded":
            body = dict(parse_qsl((await call.body()).decode("utf-8", "replace"), keep_blank_values=True))
            values = {**values, **body}
    return values


@routes.add("GET", "/gosd/api/v2/oauth/token", auth=False)
@routes.add("POST", "/gosd/api/v2/oauth/token", auth=False)
async def oauth_v2_token(call: Call) -> Response:
    """go-oauth2's HandleTokenRequest with the password grant and the one configured client.

    The tokens it issues are never accepted by the API (v2.2.0 commented the check out), so none
    is kept.
    """
    form = await _oauth_form(call)
    grant = form.get("grant_type", "")
    if grant not in GRANTS:
        return oauth_error("unsupported_grant_type")
    client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
    if not client_id:
        return oauth_error("invalid_client")
    if grant != "password":  # only the password grant was meant; the others have nothing to grant
        return oauth_error("invalid_grant")
    username, password = form.get("username", ""), form.get("password", "")
    if not username or not password:
        return oauth_error("invalid_request")
    try:
        await call.run(call.store.login, username, password)
    except PolyvisorError:
        return oauth_error("server_error")
    settings = call.context.settings
    expected_id = getattr(settings, "gosd_oauth_client_id", None) or "000000"
    expected_secret = getattr(settings, "gosd_oauth_client_secret", None) or "999999"
    if not (secrets.compare_digest(client_id, expected_id) and secrets.compare_digest(client_secret, expected_secret)):
        return oauth_error("invalid_client")
    expires = int(getattr(settings, "gosd_expire_token", None) or 7200)
    return oauth_json({"access_token": oauth_token(), "token_type": "Bearer", "expires_in": expires,
                       "refresh_token": oauth_token()}, 200)


@routes.add("GET", "/gosd/api/v1/user/")
async def get_user(call: Call) -> Response:
    """currentUser: the caller."""
    return answer(call.request, user_json(call.user))
