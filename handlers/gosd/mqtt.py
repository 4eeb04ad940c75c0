"""gosd's MQTT v5 client (mqttd/mqttd.go) on paho-mqtt 2.x: one connection to MQTT_URL
(`mqtt://user:pass@host:port`), clean start, keep-alive 10 s, reconnecting for ever, subscribed
to what the nodes publish. paho is imported by start(), so an agent without a broker never
loads it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

from handlers.errors import InvalidInput

log = logging.getLogger(__name__)

# What gosd subscribed to (mqttd.go doRun), with its QoS; plans/+/term with No Local, so that the
# retained copies of our own term writes do not come back as operator input.
SUBSCRIPTIONS = (("nodes/+/rpc/recv", 2, False), ("nodes/+/status", 1, False), ("nodes/+/network", 1, False),
                 ("nodes/+/msg/+", 1, False), ("plans/+/term", 1, True))

# topic, payload, retained (a broker's stored copy rather than a live message)
Handler = Callable[[str, bytes, bool], None]


def parse_url(url: str) -> tuple[str, int, str | None, str | None]:
    """host, port, username, password of `mqtt://[user[:pass]@]host[:port]` (tcp:// too)."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "tcp") or not parts.hostname:
        raise InvalidInput(f"MQTT URL must be mqtt://[user:pass@]host[:port], not {url!r}")
    user = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    return parts.hostname, parts.port or 1883, user, password


def no_delay(client: Any, userdata: Any, sock: Any) -> None:
    """TCP_NODELAY, as Go's net.Dial set it for gosd: without it a QoS 2 round trip waits on
    delayed ACKs (some 40 ms per exchange)."""
    import socket

    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError):  # not a TCP socket (a proxy's, a test's)
        pass


class Mqtt:
    """One MQTT v5 session; `handler` gets every message of the subscriptions (paho's thread)."""

    def __init__(self, url: str, handler: Handler, client_id: str = "gosd-1", keepalive: int = 10) -> None:
        self.host, self.port, self.username, self.password = parse_url(url)
        self.handler = handler
        self.client_id = client_id
        self.keepalive = keepalive
        self._client: Any = None
        self._lock = threading.Lock()
        self.connected = threading.Event()

    def start(self) -> None:
        """Connect in paho's own thread (first use only); it reconnects after every loss."""
        with self._lock:
            if self._client is not None:
                return
            import paho.mqtt.client as paho

            client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=self.client_id,
                                 protocol=paho.MQTTv5)
            if self.username is not None:
                client.username_pw_set(self.username, self.password)
            client.on_connect = self._on_connect
            client.on_disconnect = self._on_disconnect
            client.on_message = self._on_message
            client.on_socket_open = no_delay
            client.reconnect_delay_set(min_delay=1, max_delay=10)
            client.connect_async(self.host, self.port, keepalive=self.keepalive, clean_start=True)
            client.loop_start()
            self._client = client

    def publish(self, topic: str, payload: bytes, qos: int = 0, retain: bool = False) -> None:
        """Publish (QoS 1/2 messages are kept by paho and sent once connected)."""
        self.start()
        self._client.publish(topic, payload, qos=qos, retain=retain)

    def stop(self) -> None:
        """Disconnect and end paho's thread."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.disconnect()
            client.loop_stop()
        self.connected.clear()

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if getattr(reason, "is_failure", False):
            log.warning("MQTT %s:%s refused the connection: %s", self.host, self.port, reason)
            return
        from paho.mqtt.subscribeoptions import SubscribeOptions

        client.subscribe([(topic, SubscribeOptions(qos=qos, noLocal=no_local))
                          for topic, qos, no_local in SUBSCRIPTIONS])
        log.info("MQTT connected to %s:%s", self.host, self.port)
        self.connected.set()

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        self.connected.clear()
        log.info("MQTT disconnected from %s:%s: %s", self.host, self.port, reason)

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        try:
            self.handler(message.topic, bytes(message.payload), bool(message.retain))
        except Exception:  # one bad message must not end paho's thread
            log.exception("MQTT message on %s", message.topic)
