"""Log fan-out (balena-v2.md 5.1): the agent's system messages and its containers' output.

Every subscriber gets every record produced after it subscribed while the gate is open (local
mode and SUPERVISOR_LOG_CONTROL, as the legacy local backend); no history.
Container output is followed only while someone listens: one thread per stream (stdout and
stderr apart, as the 2019 supervisor read them), started for each running supervised
container and for containers that start later, stopped when the last subscriber leaves.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from handlers.docker import Engine
from handlers.engine.apps import SUPERVISED, label

log = logging.getLogger("polyvisor.logs")

Record = dict[str, Any]
Subscriber = Callable[[Record], None]
WATCH_INTERVAL = 1.0  # how often new containers are looked for while someone listens


def parse_line(raw: bytes) -> tuple[int, str]:
    """`<RFC3339Nano timestamp> <text>` -> (ms since epoch, text); now when unparsable."""
    # a tty (the default) ends lines with \r\n
    text = raw.decode("utf-8", errors="replace").rstrip("\n").removesuffix("\r")
    stamp, sep, rest = text.partition(" ")
    if sep:
        try:
            main, _, frac = stamp.rstrip("Z").partition(".")
            when = datetime.fromisoformat(main + "+00:00").timestamp() + float(f"0.{frac or 0}")
            return int(when * 1000), rest
        except ValueError:
            pass
    return int(time.time() * 1000), text


class Logs:
    """Subscribers and the followers feeding them."""

    def __init__(self, engine: Engine, service_names: Callable[[int], str | None] | None = None,
                 gate: Callable[[], bool] = lambda: True) -> None:
        self._engine = engine
        self._service_names = service_names or (lambda _sid: None)
        # the legacy local backend published only while local mode and SUPERVISOR_LOG_CONTROL were
        # on; the answer is read at most once a second
        self._gate = gate
        self._gate_at = -1.0
        self._gate_open = True
        self._lock = threading.Lock()
        self._subscribers: list[Subscriber] = []
        self._followed: dict[str, list[Any]] = {}  # container id -> open streams
        self._watcher: threading.Thread | None = None
        self._stop = threading.Event()

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Start receiving records; the returned function stops it."""
        with self._lock:
            self._subscribers.append(callback)
            first = len(self._subscribers) == 1
        if first:
            self._start_watching()

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)
                last = not self._subscribers
            if last:
                self._stop_watching()

        return unsubscribe

    @property
    def listening(self) -> bool:
        """True while at least one subscriber is connected."""
        return bool(self._subscribers)

    def _open(self) -> bool:
        now = time.monotonic()
        if now - self._gate_at >= 1.0:
            try:
                self._gate_open = bool(self._gate())
            except Exception:  # noqa: BLE001 - the store may be closing; keep the last answer
                log.debug("log gate unreadable", exc_info=True)
            self._gate_at = now
        return self._gate_open

    def publish(self, record: Record) -> None:
        """Send a record to every subscriber (while the gate is open)."""
        with self._lock:
            targets = list(self._subscribers)
        if not targets or not self._open():
            return
        for callback in targets:
            try:
                callback(record)
            except Exception:  # a dead subscriber must not stop the others
                log.debug("log subscriber failed", exc_info=True)

    def system(self, message: str, error: bool = False) -> None:
        """A supervisor system message: {"message", "isSystem": true[, "isStdErr": true]}."""
        log.info("%s", message)
        record: Record = {"message": message, "isSystem": True}
        if error:
            record["isStdErr"] = True
        self.publish(record)

    # ---- container output ----

    def _start_watching(self) -> None:
        self._stop = threading.Event()
        self._watcher = threading.Thread(target=self._watch, args=(self._stop,), name="logs-watch", daemon=True)
        self._watcher.start()

    def _stop_watching(self) -> None:
        self._stop.set()
        with self._lock:
            streams = [s for group in self._followed.values() for s in group]
            self._followed.clear()
        for stream in streams:
            _close(stream)

    def _watch(self, stop: threading.Event) -> None:
        since = int(time.time())
        while not stop.is_set():
            try:
                running = self._running()
            except Exception:  # noqa: BLE001 - engine away: look again next second
                running = {}
            with self._lock:
                gone = [cid for cid in self._followed if cid not in running]
                for cid in gone:
                    for stream in self._followed.pop(cid):
                        _close(stream)
                new = {cid: meta for cid, meta in running.items() if cid not in self._followed}
                for cid in new:
                    self._followed[cid] = []
            for cid, meta in new.items():
                for stdout in (True, False):
                    threading.Thread(target=self._follow, args=(cid, meta, stdout, since, stop),
                                     name=f"logs-{cid[:12]}", daemon=True).start()
            stop.wait(WATCH_INTERVAL)

    def _running(self) -> dict[str, dict[str, Any]]:
        def read(client: Any) -> dict[str, dict[str, Any]]:
            found: dict[str, dict[str, Any]] = {}
            for key in SUPERVISED:
                for item in client.api.containers(filters={"label": key}):
                    labels = item.get("Labels") or {}
                    name = (item.get("Names") or ["/"])[0].lstrip("/")
                    image_id = name.rsplit("_", 2)[1] if name.count("_") >= 2 else None
                    service_id = label(labels, "service-id")
                    found[item["Id"]] = {"serviceId": int(service_id) if service_id and service_id.isdigit() else None,
                                         "imageId": int(image_id) if image_id and image_id.isdigit() else None,
                                         "serviceName": label(labels, "service-name")}
            return found

        return self._engine.call(read)

    def _follow(self, container_id: str, meta: dict[str, Any], stdout: bool, since: int,
                stop: threading.Event) -> None:
        try:
            stream = self._engine.call(lambda c: c.api.logs(
                container_id, stdout=stdout, stderr=not stdout, stream=True, follow=True,
                timestamps=True, since=since))
        except Exception:  # noqa: BLE001 - the container went away before its logs were opened
            return
        with self._lock:
            if stop.is_set() or container_id not in self._followed:
                _close(stream)
                return
            self._followed[container_id].append(stream)
        pending = b""
        try:
            for chunk in stream:
                pending += chunk
                while b"\n" in pending:
                    line, pending = pending.split(b"\n", 1)
                    self._emit(meta, stdout, line)
        except Exception:  # noqa: BLE001, S110 - the stream was closed under us, or the container went
            pass
        if pending and not stop.is_set():
            self._emit(meta, stdout, pending)

    def _emit(self, meta: dict[str, Any], stdout: bool, line: bytes) -> None:
        timestamp, message = parse_line(line)
        # the name comes from the target (serviceNameFromId): output of a container whose service
        # the target does not have is dropped, as the legacy resolver's failure dropped it
        name = self._service_names(meta["serviceId"]) if meta.get("serviceId") is not None else None
        if name is None:
            return
        self.publish({"serviceName": name, "serviceId": meta.get("serviceId"), "imageId": meta.get("imageId"),
                      "isStdout": stdout, "timestamp": timestamp, "message": message})


def _close(stream: Any) -> None:
    try:
        stream.close()
    except Exception:  # noqa: BLE001, S110 - closing a dead stream
        pass
