"""Simulated devices for scripts/fleet-sim: each one the agent's own TargetSource
(handlers/engine/target_source.py, the module the agent polls with) with a store and a reconciler
of its own that only record, in one process, one thread per device.

The shims stand in for handlers/store.Store (get/set of `target_url_etag`) and
handlers/engine/reconciler.Reconciler (poll_seconds, set_target, trigger): set_target writes into
the Ledger when which device got which release, which is what the run measures.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from handlers.engine.target_source import TargetSource

STACK = 256 * 1024   # per device thread; 10,000 threads fit in 2.5 GiB of address space, little of it touched
OWN_EVERY = 100      # device 0, 100, 200 ... has a document of its own; the rest share the group's


def document(name: str, release: str) -> dict[str, Any]:
    """A local-mode target (handlers.engine.target.validate accepts it): one app of three services,
    the size of a small real fleet's target (about 2 KiB of JSON)."""
    def service(service_id: int, service_name: str, image: str, extra: dict[str, Any]) -> dict[str, Any]:
        return {"serviceName": service_name, "image": image, "imageId": 100 + service_id,
                "serviceId": service_id, "releaseId": 7, "commit": release, "running": True,
                "restart": "always", "environment": {"RELEASE": release, "LOG_LEVEL": "info"},
                "labels": {"io.balena.features.supervisor-api": "1"}, **extra}
    digest = "@sha256:" + "5f" * 32
    services = {
        "1": service(1, "main", "registry.example.com/fleet/main:2.4.1" + digest,
                     {"ports": ["8080:80"], "volumes": ["data:/data"], "depends_on": ["mqtt"],
                      "environment": {"RELEASE": release, "LOG_LEVEL": "info", "MQTT_URL": "mqtt://mqtt:1883",
                                      "SAMPLE_SECONDS": "10", "UPLOAD_URL": "https://data.example.com/v1/upload"}}),
        "2": service(2, "mqtt", "registry.example.com/fleet/mosquitto:2.0.18" + digest,
                     {"expose": [1883], "volumes": ["mqtt:/mosquitto/data"]}),
        "3": service(3, "telemetry", "registry.example.com/fleet/telemetry:1.9.0" + digest,
                     {"network_mode": "host", "cap_add": ["NET_ADMIN"], "mem_limit": "64m",
                      "healthcheck": {"test": ["CMD", "/bin/telemetry", "--check"], "interval": "30s"}}),
    }
    app = {"name": "fleet-app", "commit": release, "releaseId": 7, "services": services,
           "volumes": {"data": {}, "mqtt": {}}, "networks": {}}
    return {"local": {"name": name, "config": {"SUPERVISOR_LOCAL_MODE": "0", "HOST_CONFIG_gpu_mem": "16"},
                      "apps": {"1": app}},
            "dependent": {"apps": [], "devices": []}}


def release_of(target: Any) -> str:
    """The commit of the target's first app: which document a device got."""
    app = next(iter(target.apps.values()), None)
    return str(app.commit) if app is not None else ""


class Ledger:
    """Which device got which release when, shared by every device's reconciler shim."""

    def __init__(self, count: int) -> None:
        self.got: list[dict[str, float]] = [{} for _ in range(count)]  # device -> release -> first time
        self.counts: Counter[str] = Counter()
        self.targeted = 0  # devices with any target
        self.triggers = 0
        self._changed = threading.Condition()

    def record(self, device: int, release: str, at: float) -> None:
        with self._changed:
            releases = self.got[device]
            if not releases:
                self.targeted += 1
            if release not in releases:
                releases[release] = at
                self.counts[release] += 1
            self._changed.notify_all()

    def wait(self, done: Any, timeout: float) -> bool:
        """Wait until done() (called under the lock) is true; False at the timeout."""
        with self._changed:
            return self._changed.wait_for(done, timeout)


class DeviceStore:
    """handlers/store.Store as the target source uses it: get/set of config values."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def get(self, key: str, default: str | None = None) -> str | None:
        return self.values.get(key, default)

    def set(self, **values: str) -> None:
        self.values.update(values)


class DeviceReconciler:
    """Reconciler as the target source uses it: the poll interval, set_target, trigger."""

    def __init__(self, device: int, ledger: Ledger, interval: float) -> None:
        self.device = device
        self.ledger = ledger
        self.interval = interval

    def poll_seconds(self) -> float:
        return self.interval

    def set_target(self, target: Any, source: str, force: bool = False) -> None:
        self.ledger.record(self.device, release_of(target), time.time())

    def trigger(self, force: bool = False, from_api: bool = True) -> None:
        self.ledger.triggers += 1


class Errors(logging.Handler):
    """Counts the target source's warnings (failed fetches) instead of printing 10,000 lines."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0
        self.first: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        if len(self.first) < 5:
            self.first.append(record.getMessage())


class Fleet:
    """N devices polling base_url/target/<device>; the documents live under www/. A device's store
    and reconciler outlive its poller, so reboot() is the agent restarting on a provisioned device."""

    def __init__(self, count: int, base_url: str, www: Path, interval: float) -> None:
        self.count = count
        self.www = www
        self.names = [f"dev{i:05d}" for i in range(count)]
        self.urls = [f"{base_url}/target/{name}" for name in self.names]
        self.own = set(range(0, count, OWN_EVERY))
        self.group = [i for i in range(count) if i not in self.own]
        self.ledger = Ledger(count)
        self.errors = Errors()
        self.stores = [DeviceStore() for _ in range(count)]
        self.reconcilers = [DeviceReconciler(i, self.ledger, interval) for i in range(count)]
        self.sources: list[TargetSource] = []

    def write_documents(self, release: str) -> None:
        """The group's document and each own device's."""
        (self.www / "devices").mkdir(parents=True, exist_ok=True)
        (self.www / "groups").mkdir(parents=True, exist_ok=True)
        self.publish(release)
        for i in self.own:
            (self.www / "devices" / f"{self.names[i]}.json").write_text(
                json.dumps(document(self.names[i], f"own-{self.names[i]}")))

    def publish(self, release: str) -> float:
        """Replace the group's document atomically (rename); its mtime at least a second after the
        old one's, so nginx's ETag (mtime in seconds and size) surely changes. Returns the time."""
        path = self.www / "groups" / "default.json"
        new = path.with_name(".default.json.new")
        new.write_text(json.dumps(document("fleet-group", release)))
        now = time.time()
        if path.exists():
            now = max(now, path.stat().st_mtime + 1)
        os.utime(new, (now, now))
        os.replace(new, path)
        return time.time()

    def start(self) -> None:
        """A poller per device (the agent's start: a new device fetches at once, a provisioned one
        after the agent's first-poll delay), threads with a small stack. Raises what thread
        creation raises when the machine cannot hold more; len(self.sources) says how many run."""
        log = logging.getLogger("polyvisor.target_source")
        log.addHandler(self.errors)
        log.propagate = False
        previous = threading.stack_size(STACK)
        try:
            for url, reconciler, store in zip(self.urls, self.reconcilers, self.stores, strict=True):
                source = TargetSource(url, reconciler, store)
                source.start()
                self.sources.append(source)
        finally:
            threading.stack_size(previous)

    def stop(self) -> None:
        """Stop every poller (each wakes at once from its wait)."""
        for source in self.sources:
            source.close()
        self.sources = []
        logging.getLogger("polyvisor.target_source").removeHandler(self.errors)

    def group_times(self, release: str) -> list[float]:
        """When each group device first had `release` (only those that had it)."""
        return sorted(self.ledger.got[i][release] for i in self.group if release in self.ledger.got[i])
