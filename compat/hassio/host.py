"""/host: info from hostnamed, reboot and shutdown through systemd after the managed containers stop, options, reload, services."""

from __future__ import annotations

from typing import Any

import voluptuous as vol

from compat.base import Router
from compat.hassio.common import Call
from handlers.homeassistant.system import HassioSystem

routes = Router()  # compat.hassio.dialect serves it

SCHEMA_OPTIONS = vol.Schema({vol.Optional("hostname"): vol.Coerce(str)})  # api/host.py


def system(call: Call) -> HassioSystem:
    """The services' HassioSystem (built with every Services)."""
    found = call.services.hassio_system
    assert found is not None, "Services.build makes hassio_system"
    return found


@routes.add("GET", "/host/info")
async def info(call: Call) -> dict[str, Any]:
    """{chassis, cpe, features, hostname, operating_system, deployment, kernel}; empty strings null."""
    return await call.run(system(call).host.info)


@routes.add("POST", "/host/options")
async def options(call: Call) -> None:
    """{hostname?}: SetStaticHostname(name, false)."""
    body = await call.validate(SCHEMA_OPTIONS)
    if "hostname" in body:
        await call.run(system(call).host.set_hostname, body["hostname"])


@routes.add("POST", "/host/reboot")
async def reboot(call: Call) -> None:
    """Stop the add-on and Home Assistant containers, then systemd's Reboot()."""
    await call.run(system(call).host.power, "reboot")


@routes.add("POST", "/host/shutdown")
async def shutdown(call: Call) -> None:
    """Stop the add-on and Home Assistant containers, then systemd's PowerOff()."""
    await call.run(system(call).host.power, "shutdown")


@routes.add("POST", "/host/reload")
async def reload(call: Call) -> None:
    """Read the unit list again."""
    await call.run(system(call).host.reload)


@routes.add("GET", "/host/services")
async def services(call: Call) -> dict[str, Any]:
    """{services: [{name, description, state}]}: loaded *.service units."""
    return {"services": await call.run(system(call).host.services)}


def _unit_job(action: str) -> Any:
    async def endpoint(call: Call) -> None:
        await call.run(system(call).host.unit_job, call.params["service"], action)

    endpoint.__name__ = f"service_{action}"
    endpoint.__doc__ = f"POST /host/services/{{service}}/{action}: the unit's job in mode `replace`."
    return endpoint


for _action in ("stop", "start", "restart", "reload"):  # api/__init__.py's order
    routes.add("POST", f"/host/services/:service/{_action}")(_unit_job(_action))
