"""edgehub-agent's cloud routes: conncfg, connection, data, bootstrap config (seed 004).

edgehub-agent answers gin.H{"message": ...} (gosd-platform.md B.2): 400 for a body that is
empty or not the JSON the route takes, 404 when no connection setting is stored, 422 when the
request "has been applied but got errors" (a refused connection, no connection for /data).
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from compat.base import BodyTooLarge, Context, Router, answers, read_body
from compat.platform.kit import as_json, run, status_only
from compat.responses import CompactJSON
from handlers.edgehub.cloud import Cloud
from handlers.edgehub.conncfg import ConnConfig
from handlers.errors import InvalidInput, NotFound, NotSupported, PolyvisorError, Unavailable

routes = Router()  # compat.platform.dialect serves it after its own routes

BODY_LIMIT = 1 << 20  # conncfg and bootstrap bodies
DATA_LIMIT = 1 << 20  # one /data message (the spool's bound is counted in these)


class BadBody(InvalidInput):
    """The body is empty, too large or not JSON (400)."""


def message(status: int) -> Any:
    """A table entry: gin.H{"message": err.Error()}."""
    return answers(status, lambda key, err: CompactJSON({"message": str(err) or type(err).__name__}, status))


ERRORS = {BadBody: message(400), InvalidInput: message(422), NotFound: message(404), NotSupported: message(404),
          Unavailable: message(422), PolyvisorError: message(422)}
EDGEHUB = {"domain": "message", "errors": ERRORS}


def config_of(context: Context) -> ConnConfig:
    """The Services' connection setting."""
    if context.services.edgehub_config is None:
        raise NotSupported("edgehub is not configured in this agent")
    return context.services.edgehub_config


def cloud_of(context: Context) -> Cloud:
    """The Services' cloud connection."""
    if context.services.edgehub_cloud is None:
        raise NotSupported("edgehub is not configured in this agent")
    return context.services.edgehub_cloud


async def json_body(request: Request, limit: int = BODY_LIMIT) -> Any:
    """The body as JSON; BadBody (400) when empty, over the limit or malformed."""
    try:
        raw = await read_body(request, limit)
    except BodyTooLarge:
        raise BadBody("http: request body too large") from None
    if not raw.strip():
        raise BadBody("EOF")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise BadBody("invalid character in the JSON body") from None


@routes.add("GET", "/edgehub/api/conncfg", **EDGEHUB)
async def get_conncfg(request: Request, context: Context) -> Response:
    """The stored setting, secrets masked; 404 when none."""
    return as_json(await run(config_of(context).public))


@routes.add("POST", "/edgehub/api/conncfg", **EDGEHUB)
async def post_conncfg(request: Request, context: Context) -> Response:
    """Store the setting; the stored setting back, secrets masked."""
    body = await json_body(request)
    if not isinstance(body, dict):
        raise BadBody("the connection setting must be a JSON object")
    return as_json(await run(config_of(context).set, body))


@routes.add("DELETE", "/edgehub/api/conncfg", **EDGEHUB)
async def delete_conncfg(request: Request, context: Context) -> Response:
    """Disconnect and clear the setting."""
    await run(cloud_of(context).disconnect)
    await run(config_of(context).clear)
    return status_only(200)


@routes.add("GET", "/edgehub/api/connection", **EDGEHUB)
async def get_connection(request: Request, context: Context) -> Response:
    """{"enabled","status","certRevoked","stormDetected"}."""
    return as_json(cloud_of(context).status())


@routes.add("POST", "/edgehub/api/connection", **EDGEHUB)
async def post_connection(request: Request, context: Context) -> Response:
    """{"op": "connect"|"disconnect", "conncfg"?}: 200; 422 when the connection failed (still retried)."""
    body = await json_body(request)
    if not isinstance(body, dict) or body.get("op") not in ("connect", "disconnect"):
        raise BadBody('op must be "connect" or "disconnect"')
    cloud = cloud_of(context)
    if body["op"] == "disconnect":
        await run(cloud.disconnect)
    else:
        await run(cloud.connect, body.get("conncfg"))
    return status_only(200)


@routes.add("POST", "/edgehub/api/data", **EDGEHUB)
async def post_data(request: Request, context: Context) -> Response:
    """Tag data (a non-empty JSON object) to the cloud: 201; queued on disk while the link is down."""
    body = await json_body(request, DATA_LIMIT)
    if not isinstance(body, dict) or not body:
        raise BadBody("the data must be a non-empty JSON object")
    payload = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    await run(cloud_of(context).publish_data, payload)
    return status_only(201)


@routes.add("PUT", "/edgehub/api/bootstrap/config", domain="message",
            errors={**ERRORS, BadBody: message(422)})  # the seed lists 201, 401 and 422 only
async def put_bootstrap(request: Request, context: Context) -> Response:
    """{"tenantToken": "..."} stored like the conncfg secrets: 201."""
    body = await json_body(request)
    await run(config_of(context).set_bootstrap, body)
    return status_only(201)
