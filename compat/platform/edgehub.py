"""edgehub-agent's local routes: macaddr, profile, AppHub, EdgeBus and PEM uploads (seed 004).

edgehub-agent answers errors gin's way, `{"message":"..."}` (gin.H; gosd-platform.md B.2), not
rest-server's `{"errors":{...}}`; "not installed" / "no data" is a bare 404 as the page shows it.
The JWT check and the admin's default-password 403 are compat.platform.dialect's (GUARDED).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from compat.base import BodyTooLarge, Context, Router, answers, read_body
from compat.platform.kit import Answer, BindError, as_json, bare, bind, run, status_only
from compat.responses import CompactJSON
from handlers.errors import InvalidId, InvalidInput, NotFound, NotSupported, PolyvisorError, Unavailable

log = logging.getLogger("polyvisor.platform")

routes = Router()  # compat.platform.dialect serves it after its own routes

PEM_LIMIT = 1 << 20  # an uploaded PEM (a CA bundle is a few KB)


def message(status: int, text: str) -> Response:
    """gin's c.JSON(status, gin.H{"message": text})."""
    return CompactJSON({"message": text}, status)


def _message(status: int) -> Answer:
    def answer(key: str, err: BaseException) -> Response:
        if not isinstance(err, PolyvisorError):
            log.error("unexpected failure: %r", err, exc_info=err)
            return message(status, "internal error")
        return message(status, str(err) or type(err).__name__)

    return answers(status, answer)


# "The request has been applied but got errors": 422 {"message"}; bad input is 400 where the
# page lists a 400, else 422 too.
APPLIED: Mapping[type[BaseException], Answer] = {
    InvalidId: _message(422), NotSupported: _message(422), InvalidInput: _message(422),
    NotFound: _message(422), Unavailable: _message(422), PolyvisorError: _message(422), Exception: _message(422),
}
NOT_INSTALLED = {"errors": {**APPLIED, NotSupported: bare(404)}}
CHECKED = {"errors": {**APPLIED, InvalidInput: _message(400)}}


async def _bind(request: Request, struct: str, fields: Mapping[str, type], required: tuple[str, ...] = (),
                status: int = 422) -> dict[str, Any] | Response:
    """The JSON body (gin's ShouldBindJSON); a bad one is {"message": <Go's text>} with `status`."""
    try:
        return await bind(request, struct, fields, required)
    except BindError as err:
        return message(status, str(err))


@routes.add("GET", "/edgehub/api/macaddr", **NOT_INSTALLED)
async def get_macaddr(request: Request, context: Context) -> Response:
    """"XX:XX:XX:XX:XX:XX" of the default-route interface; 404 without one."""
    return as_json(await run(context.services.edgehub_local.macaddr))


@routes.add("GET", "/edgehub/api/profile", errors=APPLIED)
async def get_profile(request: Request, context: Context) -> Response:
    """Agent versions and function support, keys sorted (gin's map order)."""
    return as_json(await run(context.services.edgehub_local.profile))


@routes.add("GET", "/edgehub/api/apphub/status", **NOT_INSTALLED)
async def get_apphub_status(request: Request, context: Context) -> Response:
    """{"status": running | stopped | unknown or not available | unknown status: X}; 404 not installed."""
    return as_json({"status": await run(context.services.edgehub_local.apphub_status)})


@routes.add("PUT", "/edgehub/api/apphub/service", errors=APPLIED)
async def put_apphub_service(request: Request, context: Context) -> Response:
    """{"action": start | stop | restart} -> 204."""
    body = await _bind(request, "AppHubService", {"action": str}, ("action",))
    if isinstance(body, Response):
        return body
    await run(context.services.edgehub_local.apphub_control, body["action"])
    return status_only(204)


@routes.add("PUT", "/edgehub/api/apphub/log/config", **CHECKED)
async def put_apphub_log_config(request: Request, context: Context) -> Response:
    """{"logFile"?: bool, "logLevel"?: error | info} -> 204; 400 empty or bad values."""
    body = await _bind(request, "AppHubLogConfig", {"logFile": bool, "logLevel": str}, status=400)
    if isinstance(body, Response):
        return body
    await run(context.services.edgehub_local.set_apphub_log_config, body.get("logFile"), body.get("logLevel"))
    return status_only(204)


@routes.add("GET", "/edgehub/api/edgebus/status", **NOT_INSTALLED)
async def get_edgebus_status(request: Request, context: Context) -> Response:
    """{"enabled", "mqttBrokerStatus" (mochi-mqtt's keys, from mosquitto's $SYS), "clientStatus"}."""
    return as_json(await run(context.services.edgehub_local.edgebus_status))


@routes.add("PUT", "/edgehub/api/edgebus/config", errors=APPLIED)
async def put_edgebus_config(request: Request, context: Context) -> Response:
    """{"enabled": bool}: enable and start, or stop and disable, the broker; the body back."""
    body = await _bind(request, "EdgeBusConfig", {"enabled": bool}, ("enabled",))
    if isinstance(body, Response):
        return body
    return as_json(await run(context.services.edgehub_local.set_edgebus, body["enabled"]))


def form_file(content_type: str, body: bytes, field: str) -> bytes:
    """The content of the multipart form's file part `field` (gin's c.FormFile); InvalidInput
    with Go's texts otherwise."""
    import email.parser  # first use only
    import email.policy

    if not content_type.lower().startswith("multipart/form-data"):
        raise InvalidInput("request Content-Type isn't multipart/form-data")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1", "replace")
    parsed = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not parsed.is_multipart():
        raise InvalidInput("multipart: NextPart: EOF")
    for part in parsed.iter_parts():
        disposition = part.get("Content-Disposition", "")
        if (part.get_param("name", header="content-disposition") == field and "filename" in disposition):
            payload = part.get_payload(decode=True)
            return payload if isinstance(payload, bytes) else b""
    raise InvalidInput("http: no such file")


@routes.add("POST", "/edgehub/api/pem/temp", **CHECKED)
async def post_pem_temp(request: Request, context: Context) -> Response:
    """multipart `file`: {"type": the PEM label, "data": base64 of the file}; 400 for anything else."""
    from handlers.edgehub.pem import parse_pem

    try:
        body = await read_body(request, PEM_LIMIT)
    except BodyTooLarge:
        return message(400, "http: request body too large")
    content = form_file(request.headers.get("content-type", ""), body, "file")
    return as_json(await run(parse_pem, content))
