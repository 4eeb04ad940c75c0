"""The services add-ons offer each other (tag 138's hassio/services/): one record per service,
set by the add-on that provides it, read by those that want or need it. 138 knew only MQTT.

The records live in the agent's store (one JSON value, written in one transaction), where 138
kept /data/services.json.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import voluptuous as vol

from handlers.errors import Conflict
from handlers.homeassistant import records as documents
from handlers.homeassistant.tokens import Tokens
from handlers.store import Store

log = logging.getLogger("polyvisor.hassio.services")

SERVICES_KEY = "hassio_services"
PROVIDE = "provide"

# hassio/validate.py NETWORK_PORT and hassio/services/validate.py SCHEMA_SERVICE_MQTT
NETWORK_PORT = vol.All(vol.Coerce(int), vol.Range(min=1, max=65535))
MQTT_SCHEMA = vol.Schema({
    vol.Required("host"): vol.Coerce(str),
    vol.Required("port"): NETWORK_PORT,
    vol.Optional("username"): vol.Coerce(str),
    vol.Optional("password"): vol.Coerce(str),
    vol.Optional("ssl", default=False): vol.Boolean(),
    vol.Optional("protocol", default="3.1.1"): vol.All(vol.Coerce(str), vol.In(["3.1", "3.1.1"])),
})
# service name -> the schema of its record (and of its discovery config)
SCHEMAS: dict[str, vol.Schema] = {"mqtt": MQTT_SCHEMA}


class ServicesError(Conflict):
    """138's ServicesError: the record is already set, or there is none to remove."""


@dataclass(frozen=True)
class ServiceInfo:
    """One entry of GET /services."""

    slug: str
    available: bool
    providers: list[str]


class ServiceRecords:
    """The service records, kept in the store."""

    def __init__(self, store: Store, tokens: Tokens) -> None:
        self._store = store
        self._tokens = tokens

    def known(self, service: str) -> bool:
        return service in SCHEMAS

    def list(self) -> list[ServiceInfo]:
        """Every service, whether its record is set, and the installed add-ons that provide it."""
        records = self._records()
        grants = self._tokens.grants()
        return [ServiceInfo(slug, bool(records.get(slug)),
                            [g.slug for g in grants if g.service_role(slug) == PROVIDE])
                for slug in SCHEMAS]

    def get(self, service: str) -> dict[str, Any] | None:
        """The record (with `addon`, the add-on that set it), or None when not set."""
        return self._records().get(service) or None

    def set(self, service: str, addon: str, data: dict[str, Any]) -> None:
        """Store a validated record for `addon`; ServicesError when one is set already (by anyone)."""
        with self._store.transaction() as db:
            records = dict(documents.load(db, SERVICES_KEY, {}))
            if records.get(service):
                log.error("%s is already provided by %s", service, records[service].get("addon"))
                raise ServicesError(f"{service} is already set")
            records[service] = {**data, "addon": addon}
            documents.save(db, SERVICES_KEY, records)
        log.info("%s provides %s", addon, service)

    def delete(self, service: str) -> None:
        """Clear the record; ServicesError when none is set (138 does not check who set it)."""
        with self._store.transaction() as db:
            records = dict(documents.load(db, SERVICES_KEY, {}))
            if not records.get(service):
                log.warning("no %s record to remove", service)
                raise ServicesError(f"{service} is not set")
            records.pop(service)
            documents.save(db, SERVICES_KEY, records)

    def _records(self) -> dict[str, Any]:
        return dict(documents.read(self._store, SERVICES_KEY, {}))
