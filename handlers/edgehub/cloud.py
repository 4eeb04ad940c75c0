"""edgehub-agent's cloud connection: one MQTT 3.1.1 client (paho-mqtt 2.x, imported on first
connect) to the conncfg's broker, over TLS and/or WebSocket, with its own reconnect loop.

- Credentials: the conncfg's username/password; or a deviceTokenCredential (conncfg.decode_token);
  or DeviceOn: GET <dccsUrl>/v1/serviceCredentials/<iotKey> (WISE-PaaS DCCS) whose answer
  {"serviceHost", "credential": {"protocols": {"mqtt"|"mqtt+ssl": {"port","username","password"}}}}
  gives the broker (fetched again before each connection attempt).
- Reconnect: capped exponential back-off with jitter, BACKOFF_BASE * 2**n up to BACKOFF_CAP seconds,
  each delay drawn from [delay/2, delay]. More than STORM_DROPS losses of an established connection
  within STORM_WINDOW seconds is a connection storm (`stormDetected`); the back-off then stays at
  the cap until the window holds no more than STORM_DROPS losses.
- `certRevoked`: the broker's TLS alert says it refused our certificate (revoked, bad, unknown CA,
  certificate required), or, with a client certificate presented over TLS, the broker closed the
  connection before its CONNACK (TLS 1.3 refuses the certificate after the handshake, and the
  alert is not always read before the close); cleared by the next successful connection.
- Data: published QoS 1 on `Advantech/<device id>/data`; while the enabled connection is down
  (or older messages wait) each message is a file in the spool folder (written atomically,
  fsynced; handlers/edgehub/spool.py), sent in order once connected, removed on PUBACK. Bound:
  SPOOL_MAX_MESSAGES messages or SPOOL_MAX_BYTES bytes; beyond, publish_data refuses (422) and
  nothing stored is dropped.
- The profile goes to `Advantech/<device id>/update/platform/profile` (QoS 1) on each connect.
"""

from __future__ import annotations

import json
import logging
import random
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from handlers.edgehub.conncfg import ConnConfig, decode_token
from handlers.edgehub.spool import DRAIN_WINDOW, Spool
from handlers.edgehub.transport import fetch_dccs, tls_context
from handlers.errors import InvalidInput, NotFound, Unavailable

log = logging.getLogger("polyvisor.edgehub")

BACKOFF_BASE = 1.0
BACKOFF_CAP = 60.0
STORM_DROPS = 5  # more than 5 losses ...
STORM_WINDOW = 600.0  # ... within 10 minutes
CONNACK_TIMEOUT = 5.0  # a broker that takes the TCP connection but never answers CONNECT
CONNECT_WAIT = 8.0  # POST connection waits this long for the first attempt's outcome
KEEPALIVE = 30
REFUSED_CERT = ("REVOKED", "BAD_CERTIFICATE", "UNKNOWN_CA", "CERTIFICATE_REQUIRED", "CERTIFICATE_UNKNOWN",
                "UNSUPPORTED_CERTIFICATE")


class NotConnected(Unavailable):
    """The cloud connection is not enabled (POST data answers 422)."""


class CertRevoked(Unavailable):
    """The broker refused our client certificate."""


def device_id(cfg: dict[str, Any]) -> str:
    """The id in the topics: the conncfg's uuid, else its mac, else the username."""
    for name in ("uuid", "mac", "username"):
        value = str(cfg.get(name) or "").replace(":", "").replace("/", "").replace("+", "").replace("#", "")
        if value:
            return value
    return "edgehub"


class Cloud:
    """The cloud connection behind /edgehub/api/connection and /edgehub/api/data."""

    def __init__(self, config: ConnConfig, folder: Path, profile: Callable[[], dict[str, Any]] | None = None,
                 version: str = "") -> None:
        self.config = config
        self.folder = folder
        self.spool = Spool(folder / "spool")
        self.profile = profile
        self.version = version
        # _lock: the thread, the client and the drop window; _order: the order of publications
        # (held around paho's publish); _plock: the spooled messages paho holds (taken inside paho's
        # callbacks, which run under paho's own locks: it never waits on paho nor on another lock)
        self._lock = threading.RLock()
        self._order = threading.Lock()
        self._plock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._client: Any = None
        self._connected = threading.Event()
        self._outcome = threading.Event()
        self._error: str | None = None
        self._cert_revoked = False
        self._drops: deque[float] = deque()
        self._pending: dict[int, Path] = {}  # mid -> spooled file handed to paho
        self._topic = ""
        self._active: dict[str, Any] = {}
        self._failures = 0
        self._last_log = ""

    # ---- status ----
    def storm(self) -> bool:
        """More than STORM_DROPS losses in the last STORM_WINDOW seconds."""
        now = time.monotonic()
        with self._lock:
            while self._drops and now - self._drops[0] > STORM_WINDOW:
                self._drops.popleft()
            return len(self._drops) > STORM_DROPS

    def status(self) -> dict[str, Any]:
        """GET connection."""
        return {"enabled": self._thread is not None, "status": "connected" if self._connected.is_set() else
                "disconnected", "certRevoked": self._cert_revoked, "stormDetected": self.storm()}

    # ---- connect / disconnect ----
    def restore(self) -> None:
        """At the agent's start: reconnect when the connection was enabled (nothing waits)."""
        try:
            if self.config.enabled and self.config.get() is not None:
                log.info("edgehub: restoring the cloud connection")
                self._start()
        except Exception as err:  # noqa: BLE001 - the agent starts whatever the stored state
            log.warning("edgehub: the cloud connection was not restored: %s", type(err).__name__)

    def connect(self, cfg: Any = None) -> None:
        """POST connection op=connect: store cfg first when given, then (re)connect; waits up to
        CONNECT_WAIT for the first attempt: its failure is Unavailable (422), the loop keeps trying."""
        if cfg is not None:
            self.config.set(cfg)
        if self.config.get() is None:
            raise NotFound("no connection setting")
        self.disconnect(keep_enabled=True)
        self.config.enabled = True
        self._start()
        if not self._outcome.wait(CONNECT_WAIT):
            raise Unavailable("the broker did not answer yet; still trying")
        if not self._connected.is_set():
            raise Unavailable(self._error or "not connected; still trying")

    def disconnect(self, keep_enabled: bool = False) -> None:
        """POST connection op=disconnect: close and stop retrying."""
        if not keep_enabled:
            self.config.enabled = False
        with self._lock:
            thread, self._thread = self._thread, None
            self._stop.set()
            client = self._client
        if client is not None:
            try:
                client.disconnect()
            except Exception as err:  # noqa: BLE001 - a half-open socket
                log.debug("edgehub: disconnect: %r", err)
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=15)
        self._connected.clear()

    def close(self) -> None:
        """The agent stops: end the connection, keep the enabled flag (restored at next start)."""
        self.disconnect(keep_enabled=True)

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._stop = threading.Event()
            self._outcome.clear()
            self._error = None
            self._thread = threading.Thread(target=self._run, args=(self._stop,), name="edgehub-cloud", daemon=True)
            self._thread.start()

    # ---- the connection loop ----
    def _settings(self) -> dict[str, Any]:
        cfg = self.config.get()
        if cfg is None:
            raise NotFound("no connection setting")
        merged = dict(cfg)
        if cfg.get("deviceTokenCredential"):
            merged.update(decode_token(cfg["deviceTokenCredential"]))
        deviceon = cfg.get("deviceon") or {}
        if deviceon.get("dccsUrl") and deviceon.get("iotKey"):
            merged.update(fetch_dccs(deviceon["dccsUrl"], deviceon["iotKey"], bool(cfg.get("enableTLS"))))
        if not merged.get("mqttHost"):
            raise InvalidInput("no broker host")
        merged.setdefault("mqttPort", 8883 if merged.get("enableTLS") else 1883)
        return merged

    def _make_client(self, settings: dict[str, Any]) -> Any:
        import paho.mqtt.client as paho

        client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"edgehub-{device_id(settings)}",
                             clean_session=True, protocol=paho.MQTTv311,
                             transport="websockets" if settings.get("overWebSocket") else "tcp",
                             reconnect_on_failure=False)
        if settings.get("username") or settings.get("password"):
            client.username_pw_set(settings.get("username") or "", settings.get("password") or None)
        if settings.get("enableTLS"):
            client.tls_set_context(tls_context(settings, self.folder))
            if settings.get("skipCertVerify"):
                client.tls_insecure_set(True)
        client.max_queued_messages_set(0)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_log = self._on_log
        return client

    def _delay(self, attempt: int) -> float:
        top = BACKOFF_CAP if self.storm() else min(BACKOFF_CAP, BACKOFF_BASE * 2 ** min(attempt, 16))
        return random.uniform(top / 2, top)

    def _fail(self, message: str) -> None:
        self._failures += 1
        self._error = message
        log.warning("edgehub: cloud connection failed: %s", message)
        self._outcome.set()

    def _run(self, stop: threading.Event) -> None:
        attempt = 0
        client = None
        key: Any = None
        while not stop.is_set():
            try:
                settings = self._settings()
                new_key = json.dumps(settings, sort_keys=True)
                if client is None or new_key != key:
                    client, key = self._make_client(settings), new_key
                    with self._lock:
                        self._client = client
                    with self._plock:
                        self._pending.clear()
                self._topic = f"Advantech/{device_id(settings)}"
                self._active = settings
                client.connect(settings["mqttHost"], int(settings["mqttPort"]), keepalive=KEEPALIVE)
            except ssl.SSLError as err:
                self._tls_refused(err)
            except (OSError, Unavailable, InvalidInput, NotFound, ValueError) as err:
                self._fail(str(err) if isinstance(err, (Unavailable, InvalidInput, NotFound)) else
                           f"{type(err).__name__}: {getattr(err, 'strerror', None) or 'connection failed'}")
            else:
                if self._serve(client, stop):
                    attempt = 0
            if stop.is_set():
                break
            stop.wait(self._delay(attempt))
            attempt += 1
        with self._lock:
            if self._client is client:
                self._client = None
        self._connected.clear()

    def _tls_refused(self, err: ssl.SSLError) -> None:
        text = f"{err.reason or ''} {err}".upper()
        if any(mark in text for mark in REFUSED_CERT) and "VERIFY_FAILED" not in text:
            self._cert_revoked = True
            self._fail(f"the broker refused our certificate ({err.reason})")
        else:
            self._fail(f"TLS failed: {err.reason or type(err).__name__}")

    def _serve(self, client: Any, stop: threading.Event) -> bool:
        """Run the connection until it ends; True when it had been established."""
        import paho.mqtt.client as paho

        deadline = time.monotonic() + CONNACK_TIMEOUT
        was_up = False
        failures = self._failures
        self._last_log = ""
        while not stop.is_set():
            try:
                rc = client.loop(timeout=0.2)
            except ssl.SSLError as err:
                self._tls_refused(err)
                break
            except OSError as err:
                self._fail(f"{type(err).__name__}: {err.strerror or 'connection lost'}")
                break
            if rc != paho.MQTT_ERR_SUCCESS:
                break
            if self._connected.is_set():
                was_up = True
                self._drain(client)
            elif was_up:
                break
            elif time.monotonic() > deadline:
                self._fail("the broker did not answer CONNECT")
                client.disconnect()
                client.loop(timeout=0.2)
                break
        if not was_up and failures == self._failures and not stop.is_set():
            text = self._last_log.upper()
            # TLS 1.3 checks the client's certificate after the handshake: the broker's alert may be
            # read, or the socket only found closed; with our certificate presented, either is a refusal
            presented = bool(self._active.get("enableTLS") and self._active.get("mqttCert"))
            if any(mark in text for mark in REFUSED_CERT) or presented:
                self._cert_revoked = True
                self._fail("the broker refused our certificate")
            else:
                self._fail("the broker closed the connection before CONNACK")
        if was_up and not stop.is_set():
            with self._lock:
                self._drops.append(time.monotonic())
            log.warning("edgehub: the cloud connection was lost; reconnecting")
        self._connected.clear()
        return was_up

    def _drain(self, client: Any) -> None:
        """Hand the next spooled messages to paho (in order, at most DRAIN_WINDOW unacknowledged)."""
        with self._order:
            with self._plock:
                handed = len(self._pending)
            if handed >= DRAIN_WINDOW or len(self.spool) <= handed:
                return
            for path in self.spool.peek(handed)[:DRAIN_WINDOW - handed]:
                try:
                    payload = path.read_bytes()
                except FileNotFoundError:
                    continue
                info = client.publish(f"{self._topic}/data", payload, qos=1)
                with self._plock:
                    self._pending[info.mid] = path

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if getattr(reason, "is_failure", False):
            self._fail(f"the broker refused the connection: {reason}")
            return
        # paho resends the messages it still holds (same mids): _pending stays as it is
        self._cert_revoked = False
        self._error = None
        self._connected.set()
        self._outcome.set()
        host = self._active.get("mqttHost")
        log.info("edgehub: connected to the cloud broker %s:%s%s%s", host, self._active.get("mqttPort"),
                 " (TLS)" if self._active.get("enableTLS") else "",
                 " over WebSocket" if self._active.get("overWebSocket") else "")
        # the probe may wait on D-Bus: never in the thread that runs the connection
        threading.Thread(target=lambda: self.publish_profile(self._profile()), name="edgehub-profile",
                         daemon=True).start()

    def _on_log(self, client: Any, userdata: Any, level: int, text: str) -> None:
        if level == 8:  # MQTT_LOG_ERR: what ended a connection (paho logs no credentials)
            self._last_log = text

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        self._connected.clear()

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason: Any, properties: Any) -> None:
        with self._plock:
            path = self._pending.pop(mid, None)
        if path is not None:
            self.spool.remove(path)

    # ---- publishing ----
    def _profile(self) -> dict[str, Any]:
        if self.profile is not None:
            try:
                return dict(self.profile())
            except Exception as err:  # noqa: BLE001 - the connection must not fail on the probe
                log.warning("edgehub: profile probe failed: %r", err)
        return {"agent:version:edgehub-agent": f"v{self.version}"}

    def publish_profile(self, profile: dict[str, Any]) -> None:
        """The profile on `Advantech/<id>/update/platform/profile` (QoS 1, when connected)."""
        client = self._client
        if client is not None and self._connected.is_set():
            payload = json.dumps(profile, separators=(",", ":"), sort_keys=True).encode()
            client.publish(f"{self._topic}/update/platform/profile", payload, qos=1)

    def publish_data(self, payload: bytes) -> None:
        """POST data: publish now when connected and nothing waits, else spool (in order);
        NotConnected (422) when the connection is not enabled."""
        if self._thread is None:
            raise NotConnected("the cloud connection is not enabled")
        with self._order:
            client = self._client
            with self._plock:
                handed = len(self._pending)
            if client is not None and self._connected.is_set() and not handed and len(self.spool) == 0:
                info = client.publish(f"{self._topic}/data", payload, qos=1)
                if info.rc == 0:
                    return
            self.spool.put(payload)
