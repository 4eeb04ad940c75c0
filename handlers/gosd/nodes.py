"""The key/value state gosd kept in Redis, fed from MQTT (state/store.go, mqttd/mqttd.go).

Keys are MQTT topics: `nodes/<id>/status|network|msg/<name>|rpc/recv` as the nodes publish
them, `plans/<id>/running|term|dialog|notification` as the jobs and the operator write them.
Every write of a `plans/*` key is republished to MQTT, retained, QoS 1 (gosd's keyspace
listener), and a write of `nodes/<id>/rpc/send` is forwarded to the node (QoS 0), as gosd did.
The values live in memory: the broker's retained topics are what outlives a restart.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from handlers.errors import InvalidInput
from handlers.gosd.waits import Mailbox

if TYPE_CHECKING:
    from handlers.gosd.mqtt import Mqtt

log = logging.getLogger(__name__)

# gosd's error when a key is missing (redigo's ErrNil, what GetMsg/GetStatus returned to Lua)
NIL = "redigo: nil returned"


class Nodes:
    """Node and plan state by key; watchers woken on each write of their key."""

    def __init__(self, mqtt_url: str | None = None, client_id: str = "gosd-1") -> None:
        self._values: dict[str, str] = {}
        self._watchers: dict[str, set[Mailbox]] = {}
        self._lock = threading.Lock()
        self.listeners: list[Callable[[str, bytes], None]] = []  # every live message (the RPC replies)
        self.mqtt: Mqtt | None = None
        if mqtt_url:
            from handlers.gosd.mqtt import Mqtt

            try:
                self.mqtt = Mqtt(mqtt_url, self.received, client_id)
            except InvalidInput as err:  # the agent serves on; jobs then cannot reach nodes
                log.error("gosd: %s", err)

    def start(self) -> None:
        """Connect to the broker, if one is configured (paho is loaded here, not before)."""
        if self.mqtt is not None:
            self.mqtt.start()

    def close(self) -> None:
        """Disconnect from the broker."""
        if self.mqtt is not None:
            self.mqtt.stop()

    def get(self, key: str) -> str | None:
        """The value of a key, None when it was never set."""
        with self._lock:
            return self._values.get(key)

    def set(self, key: str, value: str) -> str | None:
        """Set a key (the previous value back), wake its watchers, republish as gosd did."""
        with self._lock:
            previous = self._values.get(key)
            self._values[key] = value
            watchers = list(self._watchers.get(key, ()))
        for box in watchers:
            box.put(value)
        self._forward(key, value.encode("utf-8", "surrogateescape"))
        return previous

    def _forward(self, key: str, payload: bytes) -> None:
        if self.mqtt is None:
            return
        parts = key.split("/")
        if parts[0] == "plans":
            self.mqtt.publish(key, payload, qos=1, retain=True)
        elif parts[0] == "nodes" and len(parts) == 4 and parts[2:] == ["rpc", "send"]:
            self.mqtt.publish(key, payload, qos=0)

    def received(self, topic: str, payload: bytes, retained: bool = False) -> None:
        """A message from the broker: recorded under its topic. A retained copy (what the broker
        kept from before we subscribed) is state, never the operator's answer to a question
        asked now, so it wakes no watcher."""
        value = payload.decode("utf-8", "surrogateescape")
        with self._lock:
            self._values[topic] = value
            watchers = [] if retained else list(self._watchers.get(topic, ()))
        for box in watchers:
            box.put(value)
        if not retained:
            for listener in list(self.listeners):
                listener(topic, payload)

    def watch(self, key: str, box: Mailbox) -> None:
        """Put every value written to `key` from now on into `box`."""
        with self._lock:
            self._watchers.setdefault(key, set()).add(box)

    def unwatch(self, key: str, box: Mailbox) -> None:
        """Stop watching."""
        with self._lock:
            boxes = self._watchers.get(key)
            if boxes is not None:
                boxes.discard(box)
                if not boxes:
                    del self._watchers[key]

    def status(self, node_id: str) -> str | None:
        """nodes/<id>/status as the node published it."""
        return self.get(f"nodes/{node_id}/status")

    def network(self, node_id: str) -> str | None:
        """nodes/<id>/network."""
        return self.get(f"nodes/{node_id}/network")

    def message(self, node_id: str, name: str) -> str | None:
        """nodes/<id>/msg/<name>."""
        return self.get(f"nodes/{node_id}/msg/{name}")
