"""The balena supervisor's v2 API (seed 001, as ../shared/legacy/balena-v2.md records it).

Registered into the balena app by compat.balena.dialect.build(), behind its auth rule.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.responses import Response, StreamingResponse

from compat.balena import express
from compat.balena.common import (
    APP_NOT_FOUND,
    NEED_SERVICE,
    SERVICE_NOT_FOUND,
    Call,
    legacy_text,
    text_error,
)
from compat.base import Router, answers
from handlers import supervisor_version
from handlers.engine.supervisor import MissingService, NotLocalMode, ServiceNotFound
from handlers.errors import AppNotFound, NotFound, UpdatesLocked
from handlers.jsvalues import canonical_id

ROUTES = Router(case_insensitive=True)


def failed(status: int, prefix: str = "") -> Any:
    """Failures answered as {"status":"failed","message":"<prefix><message>"}."""
    return answers(status, lambda err: express.send_json({"status": "failed", "message": f"{prefix}{err}"}, status))


JSON_503 = {Exception: failed(503)}
# service actions: 404/503 text as 2019; a held lock answers 423 JSON instead of hanging (as newest)
SERVICE_ERRORS = {AppNotFound: legacy_text(404, APP_NOT_FOUND),
                  ServiceNotFound: legacy_text(404, SERVICE_NOT_FOUND),
                  MissingService: legacy_text(503, NEED_SERVICE), UpdatesLocked: failed(423),
                  Exception: text_error(503)}


def js_truthy(value: Any) -> bool:
    """The v2 routes used `force` raw: JavaScript truthiness (the string "false" forces)."""
    return value not in (None, False, 0, "") and not (isinstance(value, float) and math.isnan(value))


def force_of(call: Call) -> bool:
    """Raw `force` or the device's lock override."""
    return js_truthy(call.body.get("force")) or call.services.lock_override()


def supervisor(call: Call) -> Any:
    return call.services.supervisor


# ---- state ----

@ROUTES.add("GET", "/v2/applications/state", errors=JSON_503)
async def get_applications_state(call: Call) -> Response:
    """{appName: {appId, commit, services: {name: {status, releaseId, downloadProgress}}}}."""
    state = await call.run(supervisor(call).status.applications_state)
    return express.send_json(state, request=call.request)


@ROUTES.add("GET", "/v2/applications/:appId/state", errors=JSON_503)
async def get_application_state(call: Call) -> Response:
    """Every app's state (the appId is ignored, as in 2019): local, dependent, commit."""
    state = await call.run(supervisor(call).status.app_state)
    return express.send_json(state, request=call.request)


@ROUTES.add("GET", "/v2/state/status", errors=JSON_503)
async def get_state_status(call: Call) -> Response:
    """status, appState, overallDownloadProgress, containers, images[, release]."""
    state = await call.run(supervisor(call).status.state_status)
    return express.send_json(state, request=call.request)


# ---- service and app actions ----

async def _service_action(call: Call, action: str) -> Response:
    body = call.body
    await call.run(supervisor(call).service_action, call.request.path_params["appId"], action,
                   body.get("serviceName"), body.get("imageId"), force_of(call))
    return express.send("OK", request=call.request)


@ROUTES.add("POST", "/v2/applications/:appId/restart-service", errors=SERVICE_ERRORS)
async def post_restart_service(call: Call) -> Response:
    """Stop and remove the container, create and start it again."""
    return await _service_action(call, "restart")


@ROUTES.add("POST", "/v2/applications/:appId/stop-service", errors=SERVICE_ERRORS)
async def post_stop_service(call: Call) -> Response:
    """Stop the container (kept); the engine leaves it stopped until start-service or a new target."""
    return await _service_action(call, "stop")


@ROUTES.add("POST", "/v2/applications/:appId/start-service", errors=SERVICE_ERRORS)
async def post_start_service(call: Call) -> Response:
    """Start the container."""
    return await _service_action(call, "start")


def _app_id(call: Call) -> int | None:
    """doRestart/doPurge looked the app up by the path's string: only a canonical number ("12",
    not "012", "12abc", "١２" or 5000 digits) names an app."""
    return canonical_id(call.request.path_params["appId"])


@ROUTES.add("POST", "/v2/applications/:appId/restart", errors={
    # doRestart dereferenced the missing app: node's TypeError text reached the client
    AppNotFound: legacy_text(503, "Cannot read property 'services' of undefined"),
    Exception: text_error(503)})
async def post_restart(call: Call) -> Response:
    """Recreate every container of the app."""
    app_id = _app_id(call)
    if app_id is None:
        raise AppNotFound("App not found")
    await call.run(supervisor(call).restart, app_id, force_of(call))
    return express.send("OK", request=call.request)


@ROUTES.add("POST", "/v2/applications/:appId/purge", errors={
    AppNotFound: legacy_text(503, APP_NOT_FOUND), Exception: text_error(503)})
async def post_purge(call: Call) -> Response:
    """Empty the app's volumes and recreate its containers."""
    app_id = _app_id(call)
    if app_id is None:
        raise AppNotFound("App not found")
    await call.run(supervisor(call).purge, app_id, force_of(call))
    return express.send("OK", request=call.request)


# ---- device ----

@ROUTES.add("GET", "/v2/version")
async def get_version(call: Call) -> Response:
    """{"status":"success","version":"<version>"} (no leading v)."""
    return express.send_json({"status": "success", "version": supervisor_version(call.services.device.reported_version)}, request=call.request)


@ROUTES.add("GET", "/v2/containerId", errors=JSON_503)
async def get_container_id(call: Call) -> Response:
    """All services' container ids, or one with ?serviceName= / ?service=."""
    found = await call.run(supervisor(call).container_ids)
    query = call.request.query_params
    if "serviceName" not in query and "service" not in query:  # a map: later containers win (keyBy)
        return express.send_json({"status": "success", "services": dict(found)}, request=call.request)
    wanted = query.get("serviceName") or query.get("service")  # JS ||: an empty one falls through
    match = next((cid for name, cid in found if name == wanted), None)  # _.find: the first
    if match is None:
        return express.send_json({"status": "failed", "message": "Could not find service with that name"}, 503)
    return express.send_json({"status": "success", "containerId": match}, request=call.request)


@ROUTES.add("GET", "/v2/device/name", errors=JSON_503)
async def get_device_name(call: Call) -> Response:
    """{"status":"success","deviceName":"<name>"}."""
    name = await call.run(lambda: supervisor(call).targets.name())
    return express.send_json({"status": "success", "deviceName": name}, request=call.request)


@ROUTES.add("GET", "/v2/device/tags", errors=JSON_503)
async def get_device_tags(call: Call) -> Response:
    """{"status":"success","tags":[{id, name, value}]}."""
    tags = await call.run(supervisor(call).tags)
    return express.send_json({"status": "success", "tags": tags}, request=call.request)


@ROUTES.add("GET", "/v2/cleanup-volumes", errors=JSON_503)
async def get_cleanup_volumes(call: Call) -> Response:
    """Remove volumes no running container uses (target volumes kept, as v10.0.1)."""
    await call.run(supervisor(call).cleanup_volumes)
    return express.send_json({"status": "success"}, request=call.request)


# ---- local mode ----

@ROUTES.add("GET", "/v2/local/target-state", errors={
    NotLocalMode: failed(400), Exception: failed(503)})
async def get_local_target_state(call: Call) -> Response:
    """{"status":"success","state":{"local":{name, config, apps},"dependent":{apps, devices}}}."""
    state = await call.run(supervisor(call).local_target)
    return express.send_json({"status": "success", "state": state}, request=call.request)


@ROUTES.add("POST", "/v2/local/target-state", errors={Exception: failed(400)})
async def post_local_target_state(call: Call) -> Response:
    """Validate, store and apply (the answer does not wait for the apply). Only reading whether
    the device is in local mode answers 503; any failure of storing the target is 400 with its
    message, as v2.ts did."""
    try:
        await call.run(supervisor(call).local_mode)
    except Exception as err:  # noqa: BLE001 - the config could not be read
        return failed(503, "Could not apply target state: ")(err)
    await call.run(supervisor(call).set_local_target, call.body)
    return express.send_json({"status": "success", "message": "OK"}, request=call.request)


@ROUTES.add("GET", "/v2/local/device-info", errors={
    NotFound: failed(503, "Could not fetch device information: "), Exception: failed(503, "Could not fetch device information: ")})
async def get_local_device_info(call: Call) -> Response:
    """{"status":"success","info":{"arch","deviceType"}} (v10.0.2 spelling)."""
    found = await call.run(supervisor(call).device_type)
    return express.send_json({"status": "success", "info": {"arch": found["arch"], "deviceType": found["slug"]}},
                             request=call.request)


@ROUTES.add("GET", "/v2/local/logs")
async def get_local_logs(call: Call) -> Response:
    """NDJSON for as long as the client stays: a first system line, then every record."""
    logs = supervisor(call).logs
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=10_000)

    def put(record: dict[str, Any]) -> None:
        def add() -> None:
            if not queue.full():  # a reader that stopped reading loses records, never the agent memory
                queue.put_nowait(record)

        loop.call_soon_threadsafe(add)

    unsubscribe = logs.subscribe(put)

    async def lines() -> AsyncIterator[bytes]:
        try:
            yield orjson.dumps({"message": "Streaming logs", "isSystem": True}) + b"\n"
            while True:
                yield orjson.dumps(await queue.get()) + b"\n"
        finally:
            unsubscribe()

    # res.write with no type set: node sends no Content-Type at all
    return StreamingResponse(lines(), status_code=200, media_type=None)
