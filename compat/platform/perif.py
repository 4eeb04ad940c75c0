"""rest-server's peripheral routes: hwmon, LED, watchdog, disk, redundant power, GPIO,
brightness and ETP, with the page's status codes per route."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from compat.base import Context, Router
from compat.platform.kit import as_json, bind, domain, int_param, run, status_only
from compat.platform.stream import event_stream, wants_stream
from handlers.errors import InvalidInput, NotSupported

routes = Router()  # compat.platform.dialect serves it after its own routes

HWMON = {"domain": "Hwmon"}
KINDS = {"temperatures": "temperature", "voltages": "voltage", "currents": "current", "fanspeeds": "fanspeed"}


@routes.add("GET", "/platform/api/hwmon", **HWMON)
async def get_hwmon(request: Request, context: Context) -> Response:
    """Every category with readings; 404 when there is none (SSE with Accept: text/event-stream)."""
    sensors = context.services.platform.sensors
    found = await run(sensors.all)
    if wants_stream(request):
        return event_stream(request, context, {"message": sensors.all})
    return as_json(found)


def _kind_route(path: str, category: str) -> None:
    async def get_kind(request: Request, context: Context) -> Response:
        return as_json(await run(context.services.platform.sensors.kind, category))

    get_kind.__doc__ = f"The {category} readings; 404 when there is none."
    routes.add("GET", f"/platform/api/hwmon/{path}", **HWMON)(get_kind)


for _path, _category in KINDS.items():
    _kind_route(_path, _category)

LED = {"domain": "LED"}


@routes.add("GET", "/platform/api/perif/led", **LED)
async def get_leds(request: Request, context: Context) -> Response:
    """[true, false, ...] by LED name order."""
    return as_json(await run(context.services.platform.leds.states))


@routes.add("GET", "/platform/api/perif/led/:id", **LED)
async def get_led(request: Request, context: Context) -> Response:
    """true | false; 400 for a bad id."""
    return as_json(await run(context.services.platform.leds.state, int_param(request, "id", "invalid LED index")))


@routes.add("PUT", "/platform/api/perif/led/:id", **LED)
async def put_led(request: Request, context: Context) -> Response:
    """{"status": true | false}."""
    index = int_param(request, "id", "invalid LED index")
    body = await bind(request, "LED", {"status": bool}, ("status",))
    await run(context.services.platform.leds.set, index, body["status"])
    return status_only(200)


WDT = {"domain": "WDT"}


@routes.add("GET", "/platform/api/perif/wdt", **WDT)
async def get_wdt(request: Request, context: Context) -> Response:
    """enabled, type, timeoutInSeconds, timeoutMaxInSeconds, timeoutMinInSeconds."""
    return as_json(await run(context.services.platform.watchdog.info))


@routes.add("PUT", "/platform/api/perif/wdt", **WDT)
async def put_wdt(request: Request, context: Context) -> Response:
    """{"enabled": bool, "seconds"?: int} -> {"enabled", "seconds"}; 422 out of range."""
    body = await bind(request, "WDT", {"enabled": bool, "seconds": int}, ("enabled",))
    return as_json(await run(context.services.platform.watchdog.configure, body["enabled"], body.get("seconds")))


@routes.add("PUT", "/platform/api/perif/wdt/timeout", **WDT)
async def put_wdt_timeout(request: Request, context: Context) -> Response:
    """{"seconds": int} -> {"seconds"}."""
    body = await bind(request, "WDTTimeout", {"seconds": int}, ("seconds",))
    return as_json(await run(context.services.platform.watchdog.set_timeout, body["seconds"]))


DISK = {"domain": "Disk"}


@routes.add("GET", "/platform/api/perif/disk", **DISK)
async def get_disks(request: Request, context: Context) -> Response:
    """Disks with partitions and SMART; 404 when none (SSE with Accept: text/event-stream)."""
    disks = context.services.platform.disks
    found = await run(disks.list)
    if wants_stream(request):
        return event_stream(request, context, {"message": disks.list})
    return as_json(found)


@routes.add("GET", "/platform/api/perif/disk/partition", **DISK)
async def get_partitions(request: Request, context: Context) -> Response:
    """Mounted partitions of every disk."""
    return as_json(await run(context.services.platform.disks.partitions))


@routes.add("GET", "/platform/api/perif/redundant_power", domain="Power")
async def get_redundant_power(request: Request, context: Context) -> Response:
    """No Linux source: 404 Not supported (also for SSE)."""
    return as_json(await run(context.services.platform.power_status))


GPIO = {"domain": "GPIO"}


@routes.add("GET", "/platform/api/perif/gpio/count", **GPIO)
async def get_gpio_count(request: Request, context: Context) -> Response:
    """{"count": n}."""
    return as_json({"count": await run(context.services.platform.gpio.count)})


@routes.add("GET", "/platform/api/perif/gpio/all", **GPIO)
async def get_gpio_all(request: Request, context: Context) -> Response:
    """[{"pin","dir","level"}, ...]."""
    return as_json(await run(context.services.platform.gpio.all))


@routes.add("GET", "/platform/api/perif/gpio/:id", **GPIO)
async def get_gpio(request: Request, context: Context) -> Response:
    """{"pin","dir","level"}; 400 invalid parameter."""
    return as_json(await run(context.services.platform.gpio.get, int_param(request, "id")))


@routes.add("GET", "/platform/api/perif/gpio/:id/dir", **GPIO)
async def get_gpio_dir(request: Request, context: Context) -> Response:
    """{"dir": 0 | 1}."""
    state = await run(context.services.platform.gpio.get, int_param(request, "id"))
    return as_json({"dir": state["dir"]})


@routes.add("PUT", "/platform/api/perif/gpio/:id/dir", **GPIO)
async def put_gpio_dir(request: Request, context: Context) -> Response:
    """{"dir": 0 | 1}."""
    index = int_param(request, "id")
    body = await bind(request, "GPIODir", {"dir": int}, ("dir",))
    await run(context.services.platform.gpio.set_dir, index, body["dir"])
    return status_only(200)


@routes.add("GET", "/platform/api/perif/gpio/:id/level", **GPIO)
async def get_gpio_level(request: Request, context: Context) -> Response:
    """{"level": 0 | 1}."""
    state = await run(context.services.platform.gpio.get, int_param(request, "id"))
    return as_json({"level": state["level"]})


@routes.add("PUT", "/platform/api/perif/gpio/:id/level", **GPIO)
async def put_gpio_level(request: Request, context: Context) -> Response:
    """{"level": 0 | 1}; 422 on an input pin."""
    index = int_param(request, "id")
    body = await bind(request, "GPIOLevel", {"level": int}, ("level",))
    await run(context.services.platform.gpio.set_level, index, body["level"])
    return status_only(200)


# The page lists no 404 for brightness: a machine without a backlight answers 422.
BRIGHTNESS = {"domain": "Brightness", "errors": {NotSupported: domain(422)}}


@routes.add("GET", "/platform/api/perif/brightness", **BRIGHTNESS)
async def get_brightness(request: Request, context: Context) -> Response:
    """{"min","max","value"}."""
    return as_json(await run(context.services.platform.backlight.brightness))


@routes.add("PUT", "/platform/api/perif/brightness", **BRIGHTNESS)
async def put_brightness(request: Request, context: Context) -> Response:
    """{"value": n}; 422 out of range."""
    body = await bind(request, "Brightness", {"value": int}, ("value",))
    await run(context.services.platform.backlight.set_brightness, body["value"])
    return status_only(200)


# ETP (Advantech's EEPROM user area behind SUSI/EC) has no Linux source: the documented
# not-supported answers, 204 for devicedata and 404 {"errors":{"ETP":...}} for the rest.
ETP = {"domain": "ETP", "errors": {NotSupported: domain(404)}}
ETP_MISSING = "ETP is not supported on this machine"


@routes.add("GET", "/platform/api/etp/devicedata", domain="ETP")
async def get_etp_devicedata(request: Request, context: Context) -> Response:
    """204 No Content: not supported."""
    return status_only(204)


@routes.add("GET", "/platform/api/etp/userdata", **ETP)
async def get_etp_userdata(request: Request, context: Context) -> Response:
    """404 not supported."""
    raise NotSupported(ETP_MISSING)


@routes.add("GET", "/platform/api/etp/userdata/lockstatus", **ETP)
async def get_etp_lockstatus(request: Request, context: Context) -> Response:
    """404 not supported."""
    raise NotSupported(ETP_MISSING)


@routes.add("PUT", "/platform/api/etp/userdata", **ETP)
async def put_etp_userdata(request: Request, context: Context) -> Response:
    """Body checked first (422), then 404 not supported."""
    body = await bind(request, "ETPUserData", {"userSpace1": str, "userSpace2": str})
    for key in ("userSpace1", "userSpace2"):
        if len(body.get(key, "").encode()) > 128:
            raise InvalidInput(f"The maximum length of {key[0].upper()}{key[1:]} is 128")
    raise NotSupported(ETP_MISSING)


@routes.add("PUT", "/platform/api/etp/userdata/lockstatus", **ETP)
async def put_etp_lockstatus(request: Request, context: Context) -> Response:
    """Body checked first (422), then 404 not supported."""
    body = await bind(request, "ETPLock", {"locked": bool, "password": str}, ("locked",))
    if not 1 <= len(body.get("password", "").encode()) <= 8:
        raise InvalidInput("The length of password is out of range (1~8 bytes)")
    raise NotSupported(ETP_MISSING)

