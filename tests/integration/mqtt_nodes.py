"""Simulated gosd nodes on a real MQTT broker (the role of sb-im's ncp agent): each one publishes
its status (retained) and network, and answers JSON-RPC 2.0 requests from
`nodes/<id>/rpc/send` on `nodes/<id>/rpc/recv`, or never answers (silent=True).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from typing import Any

from handlers.gosd.mqtt import no_delay, parse_url

Method = Callable[[Any], Any]  # params -> result (an exception: a JSON-RPC error)


class Node:
    """One simulated node; `requests` lists every request it got (re-sends too)."""

    def __init__(self, url: str, node_id: str, methods: dict[str, Method] | None = None,
                 silent: bool = False, status: dict[str, Any] | None = None) -> None:
        self.host, self.port, self.username, self.password = parse_url(url)
        self.id = node_id
        self.methods = dict(methods or {})
        self.silent = silent
        self.status = status if status is not None else {"status": {"link_id": 1, "lat": "22.6876423",
                                                                    "lng": "114.2248673"}}
        self.requests: list[dict[str, Any]] = []
        self.ready = threading.Event()
        self._client: Any = None

    def start(self, timeout: float = 10.0) -> Node:
        """Connect, subscribe, publish status and network; wait until subscribed."""
        import paho.mqtt.client as paho

        client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"node-{self.id}-{uuid.uuid4().hex[:6]}",
                             protocol=paho.MQTTv5)
        if self.username is not None:
            client.username_pw_set(self.username, self.password)
        client.on_connect = self._on_connect
        client.on_subscribe = lambda *args: self.ready.set()
        client.on_message = self._on_message
        client.on_socket_open = no_delay  # as a Go node's net.Dial
        client.connect(self.host, self.port, keepalive=10)
        client.loop_start()
        self._client = client
        if not self.ready.wait(timeout):
            raise RuntimeError(f"node {self.id} did not subscribe within {timeout} s")
        return self

    def publish(self, topic: str, payload: Any, retain: bool = False) -> None:
        """Publish JSON under nodes/<id>/<topic>, waiting for the broker's acknowledgement."""
        info = self._client.publish(f"nodes/{self.id}/{topic}", json.dumps(payload), qos=1, retain=retain)
        info.wait_for_publish(5)

    def stop(self) -> None:
        """Disconnect."""
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        client.subscribe(f"nodes/{self.id}/rpc/send", qos=2)
        client.publish(f"nodes/{self.id}/status", json.dumps(self.status), qos=1, retain=True)
        client.publish(f"nodes/{self.id}/network", json.dumps({"loss": 0, "delay": 12}), qos=1, retain=True)

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        request = json.loads(message.payload)
        self.requests.append(request)
        if self.silent or "id" not in request:
            return
        method = self.methods.get(request.get("method"))
        if method is None:
            reply = {"error": {"code": -32601, "message": "Method not found"}}
        else:
            try:
                reply = {"result": method(request.get("params"))}
            except Exception as err:  # noqa: BLE001 (a method that fails answers a JSON-RPC error)
                reply = {"error": {"code": 1, "message": str(err)}}
        client.publish(f"nodes/{self.id}/rpc/recv",
                       json.dumps({"jsonrpc": "2.0", "id": request["id"], **reply}), qos=2)
