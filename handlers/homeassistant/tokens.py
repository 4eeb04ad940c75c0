"""Who calls the hassio API: Home Assistant (its token), the host (its machine-id, as the HassOS CLI
sent it), the operator (the agent's API key) or an add-on (its access token and grants).

Home Assistant's token is made once (sha256 of a random uuid4, 64 hex digits, as the supervisor
made it), kept in the store and handed to the homeassistant container as HASSIO_TOKEN; an image
may provision it instead (--hassio-token / HASSIO_TOKEN). The 2018 supervisor made a new one at
every start of the container; a stored one survives restarts so a provisioned Home Assistant
keeps working. Every comparison is constant time and walks every candidate.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from handlers.errors import InvalidInput, NotFound, Unavailable
from handlers.host.identity import keys_equal
from handlers.store import Store, read_value

TOKEN_KEY = "hassio_token"
ADDONS_KEY = "hassio_addon_grants"
ROLES = ("default", "homeassistant", "backup", "manager", "admin")


def stored_token(data_dir: Path) -> str:
    """Home Assistant's token kept in `data_dir`, read without changing anything (`polyvisor
    hassio-token`); NotFound or Unavailable with what to do."""
    try:
        token = read_value(data_dir, TOKEN_KEY)
    except FileNotFoundError:
        token = None
    except (OSError, sqlite3.Error) as err:
        raise Unavailable(f"cannot read the database in {data_dir}: {err} "
                          "(run this as the user the agent runs as)") from err
    if not token:
        raise NotFound(f"no hassio token in {data_dir} yet: start the agent once with the hassio dialect "
                       "and this data folder and it makes one, or set your own with --hassio-token")
    return token


def new_token() -> str:
    """sha256(uuid4().bytes).hexdigest(): the supervisor's token form."""
    return hashlib.sha256(uuid.uuid4().bytes).hexdigest()


@dataclass(frozen=True)
class AddonGrant:
    """What an installed add-on's config.json allows it on the API (hassio.md §2.3, §5.1)."""

    slug: str
    access_token: str
    hassio_api: bool = False
    hassio_role: str = "default"
    homeassistant_api: bool = False
    auth_api: bool = False
    discovery: tuple[str, ...] = ()
    services: tuple[str, ...] = ()  # "mqtt:provide", "mqtt:want", "mqtt:need"

    def service_role(self, service: str) -> str | None:
        """provide/want/need for `service`, or None."""
        for entry in self.services:
            name, _, role = entry.partition(":")
            if name == service:
                return role
        return None


@dataclass(frozen=True)
class Caller:
    """The authenticated caller: kind is "homeassistant", "host", "operator" or "addon"."""

    kind: str
    addon: AddonGrant | None = field(default=None)

    @property
    def full_access(self) -> bool:
        return self.kind != "addon"


class Tokens:
    """Home Assistant's token and the add-on grants, in the agent's store."""

    def __init__(self, store: Store, machine_id: Callable[[], str | None], api_key: Callable[[str | None], bool],
                 given: str | None = None) -> None:
        self._store = store
        self._machine_id = machine_id
        self._api_key = api_key
        self._given = given
        self._lock = threading.Lock()

    def homeassistant_token(self) -> str:
        """Home Assistant's token: the provisioned one (stored), else the stored one, else a new one."""
        with self._lock:
            if self._given:
                if self._store.get(TOKEN_KEY) != self._given:
                    self._store.set(**{TOKEN_KEY: self._given})
                return self._given
            return self._store.get_or_create(TOKEN_KEY, new_token())

    def grants(self) -> list[AddonGrant]:
        """Every installed add-on's grant."""
        raw = self._store.get(ADDONS_KEY)
        if not raw:
            return []
        return [AddonGrant(**{**entry, "discovery": tuple(entry.get("discovery", ())),
                              "services": tuple(entry.get("services", ()))})
                for entry in json.loads(raw)]

    def grant(self, slug: str) -> AddonGrant | None:
        return next((g for g in self.grants() if g.slug == slug), None)

    def save_grant(self, grant: AddonGrant) -> None:
        """Add or replace an add-on's grant (part 2 issues the tokens when it starts add-ons)."""
        if grant.hassio_role not in ROLES:
            raise InvalidInput(f"unknown role {grant.hassio_role}")
        with self._lock:
            kept = [asdict(g) for g in self.grants() if g.slug != grant.slug]
            self._store.set(**{ADDONS_KEY: json.dumps([*kept, asdict(grant)])})

    def remove_grant(self, slug: str) -> None:
        with self._lock:
            kept = [asdict(g) for g in self.grants() if g.slug != slug]
            self._store.set(**{ADDONS_KEY: json.dumps(kept)})

    def who(self, token: str | None) -> Caller | None:
        """The caller `token` belongs to, or None. Every candidate is compared (constant time each)."""
        if not token:
            return None
        found: Caller | None = None
        if keys_equal(token, self.homeassistant_token()):
            found = Caller("homeassistant")
        machine_id = (self._machine_id() or "").strip()
        if keys_equal(token, machine_id) and found is None:
            found = Caller("host")
        if self._api_key(token) and found is None:
            found = Caller("operator")
        for grant in self.grants():
            if keys_equal(token, grant.access_token) and found is None:
                found = Caller("addon", grant)
        return found
