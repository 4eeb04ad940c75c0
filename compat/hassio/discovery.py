"""/discovery and /services: discovery messages between add-ons and Home Assistant, and the MQTT
service record (tag 138's hassio/api/discovery.py and services.py, hassio.md §3.7-3.8).

The order of the checks is 138's, it decides which error a caller sees: the uuid lookup before
the Home Assistant check, the body validation before the add-on's rights.
"""

from __future__ import annotations

from typing import Any

import voluptuous as vol

from compat.base import Router
from compat.hassio.callers import Crash, addon_of, only_homeassistant
from compat.hassio.common import APIError, Call
from handlers.homeassistant.discovery import Message
from handlers.homeassistant.services import SCHEMAS
from handlers.homeassistant.tokens import AddonGrant

routes = Router()  # compat.hassio.dialect serves it

# hassio/api/discovery.py SCHEMA_DISCOVERY (SERVICE_ALL = vol.In(["mqtt"]))
DISCOVERY_BODY = vol.Schema({
    vol.Required("service"): vol.In(list(SCHEMAS)),
    vol.Optional("config"): vol.Maybe(dict),
})


class NoConfig(Crash):
    """POST /discovery without `config`: 138's send() lacked an argument (TypeError, aiohttp's 500)."""


def message_data(message: Message) -> dict[str, Any]:
    return {"addon": message.addon, "service": message.service, "uuid": message.uuid, "config": message.config}


async def _message(call: Call) -> Message:
    """_extract_message: the message of the path's uuid, or 400."""
    message = await call.run(call.services.hassio_discovery.get, call.params["uuid"])
    if message is None:
        raise APIError("Discovery message not found")
    return message


@routes.add("GET", "/discovery")
async def get_discovery_list(call: Call) -> dict[str, Any]:
    """Every message, for Home Assistant only."""
    only_homeassistant(call)
    messages = await call.run(call.services.hassio_discovery.messages)
    return {"discovery": [message_data(m) for m in messages]}


@routes.add("POST", "/discovery")
async def post_discovery(call: Call) -> dict[str, Any]:
    """An add-on announces a service in its `discovery` list: {uuid}."""
    body = await call.validate(DISCOVERY_BODY)
    addon = addon_of(call)
    if body["service"] not in addon.discovery:
        raise APIError("Can't use discovery!")
    if "config" not in body:
        raise NoConfig("POST /discovery without config")
    message = await call.run(call.services.hassio_discovery.send, addon.slug, body["service"], body["config"])
    return {"uuid": message.uuid}


@routes.add("GET", "/discovery/:uuid")
async def get_discovery(call: Call) -> dict[str, Any]:
    """One message (Home Assistant reads it back after a push)."""
    message = await _message(call)
    only_homeassistant(call)
    return message_data(message)


@routes.add("DELETE", "/discovery/:uuid")
async def delete_discovery(call: Call) -> bool:
    """The add-on that sent the message removes it."""
    message = await _message(call)
    addon = addon_of(call)
    if message.addon != addon.slug:
        raise APIError("Can't remove discovery message")
    await call.run(call.services.hassio_discovery.remove, message)
    return True


def _service(call: Call) -> str:
    """_extract_service: the path's service, or 400."""
    service = call.params["service"]
    if not call.services.hassio_services.known(service):
        raise APIError("Service does not exist")
    return service


def _check_access(addon: AddonGrant, service: str, provide: bool = False) -> None:
    """The add-on's `services` entry for `service`: any role reads, `provide` writes."""
    role = addon.service_role(service)
    if not role:
        raise APIError(f"No access to {service} service!")
    if provide and role != "provide":
        raise APIError(f"No access to write {service} service!")


@routes.add("GET", "/services")
async def get_services(call: Call) -> dict[str, Any]:
    """Every service: set or not, and which installed add-ons provide it."""
    found = await call.run(call.services.hassio_services.list)
    return {"services": [{"slug": s.slug, "available": s.available, "providers": s.providers} for s in found]}


@routes.add("GET", "/services/:service")
async def get_service(call: Call) -> dict[str, Any]:
    """The service's record, with the add-on that set it."""
    service = _service(call)
    _check_access(addon_of(call), service)
    record = await call.run(call.services.hassio_services.get, service)
    if record is None:
        raise APIError("Service not enabled")
    return dict(record)


@routes.add("POST", "/services/:service")
async def post_service(call: Call) -> None:
    """The providing add-on sets the record (once: a set record is 400 Unknown Error)."""
    service = _service(call)
    body = await call.validate(SCHEMAS[service])
    addon = addon_of(call)
    _check_access(addon, service)
    await call.run(call.services.hassio_services.set, service, addon.slug, body)


@routes.add("DELETE", "/services/:service")
async def delete_service(call: Call) -> None:
    """The providing add-on clears the record."""
    service = _service(call)
    _check_access(addon_of(call), service, provide=True)
    await call.run(call.services.hassio_services.delete, service)
