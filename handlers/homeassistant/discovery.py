"""Discovery messages from add-ons to Home Assistant (tag 138's hassio/discovery.py).

An add-on announces a service it runs (138: only MQTT) with the config Home Assistant needs to
use it; the message is kept (the agent's store, where 138 kept /data/discovery.json) and Home
Assistant is told: POST api/hassio_push/discovery/<uuid> with {addon, service, uuid}, after which
it reads the message back with GET /discovery/<uuid>; removing one sends DELETE to the same URL.
The pushes run on one worker thread in the order they were made, after the answer (138 used
create_task), and are skipped when Home Assistant's API is not running.
"""

from __future__ import annotations

import logging
import threading
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

import voluptuous as vol

from handlers.errors import PolyvisorError
from handlers.homeassistant import records as documents
from handlers.homeassistant.coreapi import CoreAPI, CoreUnavailable
from handlers.homeassistant.services import SCHEMAS
from handlers.store import Store

log = logging.getLogger("polyvisor.hassio.discovery")

DISCOVERY_KEY = "hassio_discovery"
PUSH_TIMEOUT = 10  # 138: make_request(..., timeout=10)


class DiscoveryError(PolyvisorError):
    """138's DiscoveryError: the config does not fit the service's schema."""


@dataclass(frozen=True)
class Message:
    """One discovery message; (addon, service) is its identity (138's attr cmp=False on the rest)."""

    addon: str
    service: str
    uuid: str
    config: Any


class Discovery:
    """The discovery messages and their pushes to Home Assistant."""

    def __init__(self, store: Store, core: CoreAPI) -> None:
        self._store = store
        self._core = core
        self._lock = threading.Lock()
        self._pushes: ThreadPoolExecutor | None = None

    def messages(self) -> list[Message]:
        """Every message, oldest first."""
        return [Message(**m) for m in documents.read(self._store, DISCOVERY_KEY, [])]

    def get(self, message_uuid: str) -> Message | None:
        return next((m for m in self.messages() if m.uuid == message_uuid), None)

    def send(self, addon: str, service: str, config: Any) -> Message:
        """Keep the message and push it; the existing one when `addon` already sent `service`.

        The config is checked against the service's schema but kept as sent (138 stored the
        caller's dict, not the validated one); DiscoveryError when it does not fit."""
        try:
            SCHEMAS[service](config)
        except vol.Invalid as err:
            log.error("Invalid discovery %s config from %s: %s", service, addon, err)  # no values: passwords
            raise DiscoveryError(f"invalid {service} config") from None
        with self._store.transaction() as db:
            kept = documents.load(db, DISCOVERY_KEY, [])
            for old in kept:
                if (old["addon"], old["service"]) == (addon, service):
                    log.warning("Duplicate discovery message from %s", addon)
                    return Message(**old)
            message = Message(addon, service, uuid.uuid4().hex, config)
            documents.save(db, DISCOVERY_KEY, [*kept, asdict(message)])
        log.info("Send discovery to Home Assistant %s from %s", service, addon)
        self._push(message, "POST")
        return message

    def remove(self, message: Message) -> None:
        """Forget the message, then tell Home Assistant (it checks the message is gone)."""
        self._drop(lambda m: m["uuid"] == message.uuid)
        log.info("Delete discovery to Home Assistant %s from %s", message.service, message.addon)
        self._push(message, "DELETE")

    def remove_addon(self, addon: str) -> None:
        """Forget every message of an add-on (its uninstall), telling Home Assistant of each."""
        for message in self._drop(lambda m: m["addon"] == addon):
            self._push(message, "DELETE")

    def close(self) -> None:
        """Drop the queued pushes (138's tasks died with the process too); one under way ends
        within its timeout."""
        with self._lock:
            pushes, self._pushes = self._pushes, None
        if pushes is not None:
            pushes.shutdown(wait=False, cancel_futures=True)

    def _drop(self, which: Any) -> list[Message]:
        with self._store.transaction() as db:
            kept = documents.load(db, DISCOVERY_KEY, [])
            documents.save(db, DISCOVERY_KEY, [m for m in kept if not which(m)])
        return [Message(**m) for m in kept if which(m)]

    def _push(self, message: Message, method: str) -> Future[None]:
        with self._lock:
            if self._pushes is None:
                self._pushes = ThreadPoolExecutor(1, thread_name_prefix="hassio-discovery")
            return self._pushes.submit(self._send_push, message, method)

    def _send_push(self, message: Message, method: str) -> None:
        """_push_discovery: skipped when the API is not running, failures only logged."""
        if not self._core.api_running():
            log.info("Discovery %s message ignored: Home Assistant's API is not running", message.uuid)
            return
        body = {"addon": message.addon, "service": message.service, "uuid": message.uuid}
        try:
            status = self._core.request(method, f"api/hassio_push/discovery/{message.uuid}", body,
                                        timeout=PUSH_TIMEOUT)
        except CoreUnavailable as err:
            log.warning("Discovery %s message fail: %s", message.uuid, err)
            return
        log.info("Discovery %s message sent (%s)", message.uuid, status)
