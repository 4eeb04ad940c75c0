"""The balena supervisor's v1 API (seeds 000 and 001, as ../shared/legacy/balena-v1.md records it)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from compat import express
from compat.balena import Call, envelope_error
from compat.base import Router
from handlers.device import DeviceState

ROUTES = Router(case_insensitive=True)


@ROUTES.add("GET", "/ping", body=False)
async def get_ping(call: Call) -> Response:
    """res.send('OK')."""
    return express.send("OK", request=call.request)


@ROUTES.add("GET", "/v1/healthy", body=False)
async def get_healthy(call: Call) -> Response:
    """200 OK while the agent's store answers; 500 otherwise (sendStatus in both cases)."""
    try:
        healthy = await call.run(call.services.store.ping)
    except Exception:
        healthy = False
    return express.send_status(200 if healthy else 500, call.request)


def device_body(state: DeviceState) -> dict[str, Any]:
    """The v1 device document: legacy keys in legacy order, each only when known."""
    body: dict[str, Any] = {
        "api_port": state.api_port,
        "ip_address": " ".join(state.ip_addresses),
    }
    if state.os_version is not None:
        body["os_version"] = state.os_version
    body.update(
        supervisor_version=state.supervisor_version,
        update_pending=state.flags.pending,
        update_failed=state.flags.failed,
        update_downloaded=state.flags.downloaded,
    )
    if state.flags.commit is not None:
        body["commit"] = state.flags.commit
    if state.has_service:
        # "Running" is reported as "Idle" for backwards compatibility (device-state.coffee)
        body["status"] = "Idle" if state.status == "Running" else state.status
        body["download_progress"] = state.download_progress
    return body


@ROUTES.add("GET", "/v1/device", body=False, errors={Exception: envelope_error(500)})
async def get_device(call: Call) -> Response:
    """The device's state; any failure is 500 {"Data":"","Error":"<message>"}."""
    state = await call.run(call.services.device.state)
    return express.send_json(device_body(state), request=call.request)
