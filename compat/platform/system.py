"""rest-server's system routes: host info, display count and screenshots, systemperf, devmgr,
services (systemd), processes and remote control (logind)."""

from __future__ import annotations

import base64

from starlette.requests import Request
from starlette.responses import Response

from compat.base import Context, Router
from compat.platform.kit import as_json, bare, bind, domain, int_param, run, status_only
from compat.platform.stream import event_stream, wants_stream
from handlers.errors import InvalidInput, NotFound, NotSupported, PolyvisorError
from handlers.host.units import ACTIONS

routes = Router()  # compat.platform.dialect serves it after its own routes

HOST = {"domain": "Host", "errors": {PolyvisorError: domain(422), NotSupported: domain(422)}}


@routes.add("GET", "/platform/api/host/info", **HOST)
async def get_host_info(request: Request, context: Context) -> Response:
    """BIOS, boot time, uptime, OS, docker version (when the engine answers)."""
    return as_json(await run(context.services.platform.sysinfo.host_info))


@routes.add("GET", "/platform/api/host/display/count", **HOST)
async def get_display_count(request: Request, context: Context) -> Response:
    """Connected DRM connectors, a bare JSON number."""
    return as_json(await run(context.services.platform.devices.display_count))


async def _screenshot(request: Request, context: Context) -> bytes:
    index = int_param(request, "index", "invalid display index")
    png: bytes = await run(context.services.platform.screens.capture, index)
    return png


@routes.add("GET", "/platform/api/host/screenshot/:index", **HOST)
async def get_screenshot(request: Request, context: Context) -> Response:
    """{"data":"<base64 PNG>","mediaType":"image/png"}."""
    png = await _screenshot(request, context)
    return as_json({"data": base64.b64encode(png).decode(), "mediaType": "image/png"})


@routes.add("GET", "/platform/api/host/screenshot/:index/file", **HOST)
async def get_screenshot_file(request: Request, context: Context) -> Response:
    """The PNG itself."""
    return Response(await _screenshot(request, context), 200, media_type="image/png")


@routes.add("GET", "/platform/api/systemperf", domain="Systemperf")
async def get_systemperf(request: Request, context: Context) -> Response:
    """{"cpu":{"info","usage"},"memory":{...}} (SSE with Accept: text/event-stream)."""
    sysinfo = context.services.platform.sysinfo
    if wants_stream(request):
        return event_stream(request, context, {"message": sysinfo.systemperf})
    return as_json(await run(sysinfo.systemperf))


@routes.add("GET", "/platform/api/systemperf/cpu", domain="Systemperf")
async def get_systemperf_cpu(request: Request, context: Context) -> Response:
    """{"info": gopsutil InfoStat of CPU 0, "usage": [percent per logical CPU]}."""
    return as_json(await run(context.services.platform.sysinfo.cpu))


@routes.add("GET", "/platform/api/systemperf/memory", domain="Systemperf")
async def get_systemperf_memory(request: Request, context: Context) -> Response:
    """gopsutil's VirtualMemoryStat."""
    return as_json(await run(context.services.platform.sysinfo.memory))


@routes.add("GET", "/platform/api/devmgr", domain="DevMgr")
async def get_devmgr(request: Request, context: Context) -> Response:
    """PCI and USB devices from sysfs."""
    return as_json(await run(context.services.platform.devices.list))


@routes.add("GET", "/platform/api/service/list", domain="Service")
async def get_service_list(request: Request, context: Context) -> Response:
    """systemd's service units: name, displayName, description, status."""
    return as_json(await run(context.services.platform.units.list))


@routes.add("GET", "/platform/api/service/:name", domain="Service")
async def get_service(request: Request, context: Context) -> Response:
    """{"status": running | stopped | disabled | unknown}."""
    status = await run(context.services.platform.units.status, request.path_params["name"])
    return as_json({"status": status})


@routes.add("PUT", "/platform/api/service/:name", domain="Service")
async def put_service(request: Request, context: Context) -> Response:
    """{"action": start | stop | restart} -> 204."""
    body = await bind(request, "ServiceAction", {"action": str}, ("action",))
    if body["action"] not in ACTIONS:
        raise InvalidInput(f"unknown action {body['action']!r}: use start, stop or restart")
    await run(context.services.platform.units.control, request.path_params["name"], body["action"])
    return status_only(204)


PROCESSES = {"domain": "Processes"}


@routes.add("GET", "/platform/api/processes", **PROCESSES)
async def get_processes(request: Request, context: Context) -> Response:
    """Running processes (SSE with Accept: text/event-stream)."""
    processes = context.services.platform.processes
    if wants_stream(request):
        return event_stream(request, context, {"message": processes.list})
    return as_json(await run(processes.list))


@routes.add("DELETE", "/platform/api/processes/:pid", admin=True, **PROCESSES)
async def delete_process(request: Request, context: Context) -> Response:
    """SIGKILL the process: 400 Invalid PID, 422 when it cannot be killed."""
    pid = int_param(request, "pid", "Invalid PID")
    await run(context.services.platform.processes.kill, pid)
    return status_only(200)


CONTROL = {"domain": "Control", "admin": True, "errors": {NotSupported: domain(422)}}


@routes.add("POST", "/platform/api/control/reboot", **CONTROL)
async def post_reboot(request: Request, context: Context) -> Response:
    """Answer 200, then reboot through logind."""
    await run(context.services.platform.control.request, "reboot")
    return status_only(200)


@routes.add("POST", "/platform/api/control/shutdown", **CONTROL)
async def post_shutdown(request: Request, context: Context) -> Response:
    """Answer 200, then power off through logind."""
    await run(context.services.platform.control.request, "shutdown")
    return status_only(200)


DISPLAY = {"domain": "Control", "errors": {NotSupported: bare(404), NotFound: domain(422)}}


@routes.add("GET", "/platform/api/control/display", **DISPLAY)
async def get_display(request: Request, context: Context) -> Response:
    """204 when the display can be switched on and off here, 404 otherwise."""
    await run(context.services.platform.backlight.display_method)
    return status_only(204)


@routes.add("PUT", "/platform/api/control/display", domain="Control",
            errors={NotSupported: domain(422)})
async def put_display(request: Request, context: Context) -> Response:
    """{"status": "on" | "off"}."""
    body = await bind(request, "Display", {"status": str}, ("status",))
    if body["status"] not in ("on", "off"):
        raise InvalidInput("status must be on or off")
    await run(context.services.platform.backlight.set_display, body["status"] == "on")
    return status_only(200)
