"""auth-server's routes: login (Basic or JSON), logout, the signing certificate, admin password.

Bodies and cookie are gin-jwt's (gosd-platform.md B.2-B.3): login answers
{"code":200,"expire":"<RFC 3339, local offset>","token":"..."} and sets `jwt` (Path=/,
Max-Age, HttpOnly, Secure); logout answers {"code":200} and expires the cookie. Failed logins
are 401 {"Code":401,"Message":"..."} as the page shows.
"""

from __future__ import annotations

import base64
import binascii
import datetime

from starlette.requests import Request
from starlette.responses import Response

from compat.base import Context, Router
from compat.platform.kit import (
    BindError,
    as_json,
    atoi,
    bind,
    claims_of,
    code_message,
    find_token,
    gin_jwt_error,
    run,
    status_only,
)
from handlers.accounts.logins import ADMIN_ACCOUNT, LoginFailed, PasswordRejected

routes = Router()  # compat.platform.dialect serves it after its own routes

MISSING = "missing Username or Password"


def rfc3339(epoch: int) -> str:
    """Go's time.Format(time.RFC3339) in local time: `Z` for UTC, else the +hh:mm offset."""
    text = datetime.datetime.fromtimestamp(epoch).astimezone().isoformat(timespec="seconds")
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def cookie(value: str, max_age: int) -> str:
    """Go's http.Cookie.String() for gin's c.SetCookie("jwt", value, maxAge, "/", "", true, true)."""
    return f"jwt={value}; Path=/; Max-Age={max(max_age, 0)}; HttpOnly; Secure"


def account_type(request: Request) -> int | None:
    """?m= (absent: 0, the OS account) as strconv.Atoi read it; None when it is not a number."""
    return atoi(request.query_params.get("m", "0") or "0")


async def _login(request: Request, context: Context, user: str, password: str) -> Response:
    m = account_type(request)
    if m is None:
        return code_message(401, "incorrect Username or Password")
    auth = context.services.platform.auth
    try:
        login = await run(auth.login, user, password, m)
    except LoginFailed as err:
        return code_message(401, str(err))
    response = as_json({"code": 200, "expire": rfc3339(login.exp), "token": login.token})
    response.headers["set-cookie"] = cookie(login.token, auth.lifetime)
    return response


@routes.add("GET", "/auth/token", auth=False)
async def get_token(request: Request, context: Context) -> Response:
    """Login with `Authorization: Basic base64(user:password)`."""
    header = request.headers.get("authorization", "")
    if header[:6].lower() != "basic ":
        return code_message(401, MISSING)
    try:
        user, sep, password = base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return code_message(401, MISSING)
    if not sep or not user:
        return code_message(401, MISSING)
    return await _login(request, context, user, password)


@routes.add("POST", "/auth/login", auth=False)
async def post_login(request: Request, context: Context) -> Response:
    """Login with {"username","password"}."""
    try:
        body = await bind(request, "login", {"username": str, "password": str}, ("username", "password"))
    except BindError:
        return code_message(401, MISSING)
    return await _login(request, context, body["username"], body["password"])


@routes.add("POST", "/auth/logout", auth=False)
async def post_logout(request: Request, context: Context) -> Response:
    """{"code":200}; the cookie expires and the presented token stops working."""
    await run(context.services.platform.auth.logout, find_token(request))
    response = as_json({"code": 200})
    response.headers["set-cookie"] = cookie("", -1)
    return response


@routes.add("GET", "/auth/certificate", auth=False)
async def get_certificate(request: Request, context: Context) -> Response:
    """The PEM certificate of the signing key, as a file download."""
    pem = await run(lambda: context.services.platform.auth.certificate)
    return Response(pem, 200, {
        "Content-Description": "File Transfer",
        "Content-Transfer-Encoding": "Binary",
        "Content-Disposition": "attachment; filename=cert.pem.crt",
    }, media_type="application/octet-stream")


def _admin_only(request: Request) -> Response | None:
    if claims_of(request).m != ADMIN_ACCOUNT:
        return gin_jwt_error(401, "only the admin account may do this")
    return None


@routes.add("PUT", "/auth/user/admin/password", jwt=True, pre_change=True, domain="validator")
async def put_admin_password(request: Request, context: Context) -> Response:
    """Change the admin password: 200, 400 wrong old/unusable new, 422 body."""
    refusal = _admin_only(request)
    if refusal is not None:
        return refusal
    body = await bind(request, "password", {"old": str, "new": str}, ("old", "new"))
    try:
        await run(context.services.platform.auth.change_admin_password, body["old"], body["new"])
    except PasswordRejected as err:
        return as_json({"code": 400, "message": str(err)}, 400)
    return status_only(200)


@routes.add("DELETE", "/auth/user/admin/password", jwt=True, pre_change=True)
async def delete_admin_password(request: Request, context: Context) -> Response:
    """Reset the admin password to the factory default."""
    refusal = _admin_only(request)
    if refusal is not None:
        return refusal
    await run(context.services.platform.auth.reset_admin_password)
    return status_only(200)
