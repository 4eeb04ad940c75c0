"""The resin supervisor's Go helper (gosuper): its own API, for the node supervisor on a unix socket.

Served only on an address of its own (GOSUPER_SOCKET, POLYVISOR_LISTEN_GOSUPER or
--dialect-listen gosuper=...), never on the main port. No auth, as in the legacy: the socket's
permissions are the boundary. Routes of both route sets (../shared/legacy/balena-v1.md 1.1):
c7a7ba93 (2016, v2.6.3+, Go 1.6.3) and 58bb6607 (2018, the last before ec1b36ab removed the helper,
Go 1.8.3); each route answers as the last helper that served it did. gorilla/mux v1.4 routing:
paths cleaned with a 301, exact case, no trailing-slash leniency, and a known path with another
method is the same `404 page not found` as an unknown one (mux had no 405 before v1.6.1).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from compat.base import BodyTooLarge, Context, Dialect, DialectApp, Router, read_body
from compat.gohttp import TEXT_PLAIN, go_envelope, mux_redirect, not_found_page
from compat.gojson import GoJSONError, GoStruct, decode
from compat.gosuper import units
from compat.responses import Text
from handlers.errors import NotFound
from handlers.host.appdata import DataFolderError, valid_app_id

log = logging.getLogger("polyvisor.gosuper")

ROUTES = Router()

# The bodies as the Go structs declared them; the 2016 routes decoded with Go 1.6 (type errors
# without the field's name), the 2018 ones with Go 1.8.
PURGE_BODY = GoStruct("PurgeBody", {"ApplicationId": "any"}, field_context=False)
DISPLAY_BODY_2016 = GoStruct("LogToDisplayBody", {"Enable": "bool"}, field_context=False)
DISPLAY_BODY = GoStruct("LogToDisplayBody", {"Enable": "bool"})
VPN_BODY = GoStruct("VPNBody", {"Enable": "bool"})
RESTART_BODY = GoStruct("RestartServiceBody", {"Name": "string"})

# IPAddressHandler's dockerMatch, as c34454bb (v6.5.3, the last helper with /v1/ipaddr) had it;
# unanchored (Go's MatchString), so `mydocker0` and `tun10` are left out too. The 2016 one
# lacked balena and resin-dns, which no device of that time had.
IGNORED_INTERFACES = re.compile(r"(balena[0-9]+)|(docker[0-9]+)|(rce[0-9]+)|(tun[0-9]+)|(resin-vpn)|(resin-dns)")

POWER_TEXTS = {"reboot": "Logind unavailable, cannot reboot.",
               "shutdown": "Logind unavailable, cannot shut down."}
# Go read any body; more than this is refused with the envelope rather than read into memory
BODY_LIMIT = 1 << 20
METHODS_OF_PING = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")
INT64 = 2**63


@dataclass
class Call:
    """One request as a gosuper route sees it."""

    request: Request
    context: Context

    @property
    def services(self) -> Any:
        return self.context.services

    async def run(self, fn: Any, *args: Any) -> Any:
        """Run a blocking domain call in a worker thread."""
        return await run_in_threadpool(fn, *args)

    async def body(self, struct: GoStruct) -> dict[str, Any]:
        """The body decoded as json.NewDecoder(r.Body).Decode(&struct) did (GoJSONError)."""
        try:
            data = await read_body(self.request, BODY_LIMIT)
        except BodyTooLarge as err:
            raise GoJSONError("http: request body too large") from err
        return decode(data, struct)


def post_ping(call: Call) -> Response:
    """fmt.Fprintln(w, "OK"): Go sniffed the content type."""
    return Text("OK\n", 200, TEXT_PLAIN)


for _method in METHODS_OF_PING:  # mux route without .Methods(): every method, listed for the spec
    ROUTES.add(_method, "/ping", any_method=True)(post_ping)


@ROUTES.add("GET", "/v1/ipaddr", era="2016")
async def get_ipaddr(call: Call) -> Response:
    """IPv4 addresses of the interfaces that are up, not loopback, not engine or VPN ones."""
    found = await call.run(call.services.network.up_ipv4, IGNORED_INTERFACES)
    return go_envelope({"IPAddresses": found or None})  # Go's nil slice is null


def app_id_of(value: Any) -> str:
    """parsePurgeBody: a string as is, a non-zero number as strconv.Itoa(int(v)), else ""."""
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value != 0:
        # int(v) of a float64 out of int64's range is 0x8000000000000000 on amd64
        return str(int(value)) if -INT64 <= value < INT64 else str(-INT64)
    return ""


@ROUTES.add("POST", "/v1/purge", era="2016")
async def post_purge(call: Call) -> Response:
    """Delete the app's data folder and make it again, empty (the first failing check answers)."""
    log.info("Purging /data")
    try:
        app_id = app_id_of((await call.body(PURGE_BODY))["ApplicationId"])
    except GoJSONError:
        return go_envelope("Error", "Invalid request", 400)
    if not app_id:
        return go_envelope("Error", "applicationId is required", 400)
    if not valid_app_id(app_id):
        return go_envelope("Error", f"Invalid applicationId '{app_id}'", 400)
    try:
        await call.run(call.services.appdata.purge, app_id)
    except NotFound as err:
        return go_envelope("Error", str(err), 404)
    except DataFolderError as err:
        return go_envelope("Error", str(err), 500)
    return go_envelope("OK")


async def _power(call: Call, action: str) -> Response:
    if not await call.run(call.services.power.logind_reachable):
        return go_envelope("Error", POWER_TEXTS[action], 500)
    await call.run(call.services.power.schedule, action)
    return go_envelope("OK", "", 202)


@ROUTES.add("POST", "/v1/reboot", era="2018")
async def post_reboot(call: Call) -> Response:
    """202 at once, logind's Reboot(false) a second later; its outcome is never reported."""
    return await _power(call, "reboot")


@ROUTES.add("POST", "/v1/shutdown", era="2018")
async def post_shutdown(call: Call) -> Response:
    """As reboot, with PowerOff(false)."""
    return await _power(call, "shutdown")


async def _with_body(call: Call, struct: GoStruct, chain: Any, *args: Any) -> Response:
    """Decode the body (400 with Go's decoder error), then run the chain with its fields."""
    try:
        body = await call.body(struct)
    except GoJSONError as err:
        return go_envelope("Error", str(err), 400)
    values = [bool(v) if struct.fields[k] == "bool" else (v or "") for k, v in body.items()]
    return go_envelope(*await call.run(chain, call.services.systemd, *values, *args))


@ROUTES.add("POST", "/v1/vpncontrol", era="2018")
async def post_vpncontrol(call: Call) -> Response:
    """{"Enable": bool}: start or stop openvpn-resin.service; 202."""
    return await _with_body(call, VPN_BODY, units.vpn_control)


@ROUTES.add("GET", "/v1/vpncontrol", era="2018")
async def get_vpncontrol(call: Call) -> Response:
    """Whether openvpn-resin.service is running."""
    return go_envelope(*await call.run(units.vpn_status, call.services.systemd))


@ROUTES.add("POST", "/v1/set-log-to-display", era="2016")
async def post_set_log_to_display(call: Call) -> Response:
    """The 2016 name and decision chain of log to display."""
    return await _with_body(call, DISPLAY_BODY_2016, units.display_control, "2016")


@ROUTES.add("POST", "/v1/log-to-display", era="2018")
async def post_log_to_display(call: Call) -> Response:
    """{"Enable": bool}: start and enable, or stop and disable the display unit."""
    return await _with_body(call, DISPLAY_BODY, units.display_control, "2018")


@ROUTES.add("GET", "/v1/log-to-display", era="2018")
async def get_log_to_display(call: Call) -> Response:
    """Whether the display unit is running; 404 when the OS has none."""
    return go_envelope(*await call.run(units.display_status, call.services.systemd))


@ROUTES.add("POST", "/v1/restart-service", era="2018")
async def post_restart_service(call: Call) -> Response:
    """{"Name": "x"}: systemd RestartUnit("x.service", "fail"); 200."""
    return await _with_body(call, RESTART_BODY, units.restart_service)


class GosuperApp(DialectApp):
    """The helper's gorilla/mux router on net/http."""

    def __init__(self, context: Context) -> None:
        super().__init__(context, ROUTES)

    async def handle(self, request: Request) -> Response:
        """Clean path, route (404 page otherwise), handler; an unexpected failure is sendError's 500."""
        redirect = mux_redirect(request)
        if redirect is not None:
            return redirect
        path = request.scope["path"]
        route, _, allowed = self.router.match(request.method, path, head_as_get=False)
        if route is None and allowed and path == "/ping":
            route = self.router.match("GET", path)[0]  # the any-method route takes any token
        if route is None:
            return not_found_page()
        call = Call(request, self.context)
        try:
            answer = route.endpoint(call)
            return answer if isinstance(answer, Response) else await answer
        except Exception as err:  # never a traceback: Go's sendError form
            log.exception("%s %s failed", request.method, path)
            return go_envelope("Error", str(err), 500)


def build(context: Context) -> GosuperApp:
    """The gosuper app."""
    return GosuperApp(context)


DIALECT = Dialect("gosuper", ("/ping", "/v1"), build)
