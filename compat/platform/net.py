"""rest-server's networking routes: interfaces (netlink), route order, IPv4 configuration, Wi-Fi."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from compat.base import Context, Router
from compat.platform.kit import as_json, atoi, bind, domain, run, status_only
from compat.platform.stream import event_stream, wants_stream
from handlers.errors import InvalidId, InvalidInput

routes = Router()  # compat.platform.dialect serves it after its own routes


@routes.add("GET", "/platform/api/networking/interfaces", domain="networking")
async def get_interfaces(request: Request, context: Context) -> Response:
    """Adapters with addresses, gateways, DNS, metrics, counters (SSE with Accept: text/event-stream)."""
    netconfig = context.services.platform.netconfig
    if wants_stream(request):
        return event_stream(request, context, {"message": netconfig.interfaces})
    found = netconfig.interfaces_in_memory()  # no dump to wait for: cheaper than the thread pool's hop
    return as_json(found if found is not None else await run(netconfig.interfaces))


# An unknown uuid is 400 {"errors":{"networking":..}}; an empty list 422 "empty list".
@routes.add("POST", "/platform/api/networking/interfaces/route", domain="networking",
            errors={InvalidId: domain(400)})
async def post_route_order(request: Request, context: Context) -> Response:
    """{"ipv6": bool, "sortedGUIDList": [uuid...]} -> 201; default-route metrics rewritten."""
    body = await bind(request, "RouteOrder", {"ipv6": bool, "sortedGUIDList": list})
    names = body.get("sortedGUIDList") or []  # []string: the decoder refused any other element
    if not names:
        raise InvalidInput("empty list")
    await run(context.services.platform.netconfig.route_order, names, bool(body.get("ipv6")))
    return status_only(201)


NET = {"domain": "Net", "errors": {InvalidId: domain(422)}}
FIELDS = ("ipAddress", "subnetMask", "defaultGateway", "primaryDNS", "secondaryDNS")


def _if_index(request: Request) -> int:
    """strconv.Atoi of :ifIndex; an index no interface has is the domain's InvalidId too."""
    text = request.path_params["ifIndex"]
    index = atoi(text)
    if index is None:
        raise InvalidId(f"invalid interface index {text!r}")
    return index


@routes.add("PUT", "/platform/api/networking/ipv4config/:ifIndex", **NET)
async def put_ipv4config(request: Request, context: Context) -> Response:
    """Static address, mask, gateway and DNS; echoed back. A failed change is rolled back (422)."""
    index = _if_index(request)
    body = await bind(request, "IPv4Config", {k: str for k in FIELDS}, FIELDS[:4])
    dns = [body["primaryDNS"], body.get("secondaryDNS") or ""]
    await run(context.services.platform.netconfig.set_static, index, body["ipAddress"], body["subnetMask"],
              body["defaultGateway"], dns)
    return as_json({k: body.get(k) or "" for k in FIELDS})


@routes.add("DELETE", "/platform/api/networking/ipv4config/:ifIndex", **NET)
async def delete_ipv4config(request: Request, context: Context) -> Response:
    """DHCP on the interface (NetworkManager, else the system's DHCP client)."""
    await run(context.services.platform.netconfig.enable_dhcp, _if_index(request))
    return status_only(200)


WIFI = {"domain": "WiFi"}


@routes.add("GET", "/platform/api/networking/wifi/interfaces", **WIFI)
async def get_wifi_interfaces(request: Request, context: Context) -> Response:
    """Wi-Fi adapters and their profiles (NetworkManager); [] when none."""
    return as_json(await run(context.services.platform.wifi.interfaces))


@routes.add("GET", "/platform/api/networking/wifi/networks/:uuid", **WIFI)
async def get_wifi_networks(request: Request, context: Context) -> Response:
    """Access points of the adapter."""
    return as_json(await run(context.services.platform.wifi.networks, request.path_params["uuid"]))


@routes.add("DELETE", "/platform/api/networking/wifi/interface/:uuid/profile/:name", **WIFI,
            errors={InvalidInput: domain(400)})
async def delete_wifi_profile(request: Request, context: Context) -> Response:
    """Delete a profile; 400 "invalid profile name" when it is blank."""
    await run(context.services.platform.wifi.delete_profile, request.path_params["uuid"],
              request.path_params["name"])
    return status_only(200)
