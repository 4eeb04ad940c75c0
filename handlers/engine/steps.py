"""Step inference: what to do next to move the current state toward the target (balena-v2.md 3.2).

Pure: the reconciler reads the engine and the store, prepares `Wanted` services and `Facts`,
and infer() returns the steps of one iteration. Nothing here touches the engine.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from handlers.engine.compose import SUPERVISOR_NETWORK, named_volumes
from handlers.engine.compose_compare import differences, networks_differ, volumes_differ
from handlers.engine.current import Container, Current
from handlers.engine.recreate_guard import RecreateGuard, fingerprint

log = logging.getLogger("polyvisor.steps")

# Steps that run under the app's update lock (balena-v2.md 3.3).
LOCKED = ("stop", "kill", "updateMetadata", "handover")


@dataclass
class Wanted:
    """A target service, prepared: its create config and comparable form."""

    app_id: int
    app_name: str
    service: dict[str, Any]
    config: dict[str, Any]
    form: dict[str, Any]
    image: str  # normalised image name
    image_docker_id: str | None  # None: not in the engine yet
    extra_networks: dict[str, dict[str, Any]]
    strategy: str
    running: bool
    needs_supervisor_network: bool = False

    @property
    def service_id(self) -> int:
        return int(self.service["serviceId"])

    @property
    def name(self) -> str:
        return str(self.service["serviceName"])

    @cached_property
    def fingerprint(self) -> str:
        """Changes when the service's target does (what the recreate guard holds a service for)."""
        return fingerprint(self.form, self.image_docker_id, self.service["imageId"], self.service.get("releaseId"))


@dataclass
class WantedApp:
    """A target app: its services, networks and volumes (default network and used volumes added)."""

    app_id: int
    name: str
    commit: str | None
    services: list[Wanted]
    networks: dict[str, dict[str, Any]]
    volumes: dict[str, dict[str, Any]]


@dataclass
class Facts:
    """What the inference needs besides current and target."""

    downloading: set[str] = field(default_factory=set)
    waiting_retry: set[str] = field(default_factory=set)  # images in pull back-off
    started: set[str] = field(default_factory=set)  # container ids this process started
    stopping: set[str] = field(default_factory=set)  # container ids being stopped
    current_commit: str | None = None
    fetch_allowed: bool = True
    # local mode never downloads: balena push built the images on the device (application-manager
    # _nextStepForService, "Don't attempt to fetch any images in local mode"); a missing one fails
    # at container creation, after download-then-kill has removed the old container
    local_mode: bool = False
    # image housekeeping (managed devices outside local mode, balena-v2.md 3.2 step 2)
    housekeeping: bool = False
    available: list[dict[str, Any]] = field(default_factory=list)  # image records the engine has
    dangling: list[str] = field(default_factory=list)  # engine ids of untagged, undigested, unrecorded images
    guard: RecreateGuard | None = None  # services left running after recreations that did not converge


@dataclass
class Step:
    """One action of an iteration."""

    action: str
    app_id: int = 0
    current: Container | None = None
    target: Wanted | None = None
    name: str = ""
    config: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        """`kill main_1_1`, `fetch image:tag`, `createNetwork 1_default` (logs and tests)."""
        what = self.name or (self.target.image if self.action == "fetch" and self.target else "")
        if not what and self.current is not None:
            what = self.current.name
        if not what and self.target is not None:
            what = f"{self.target.name}_{self.target.service['imageId']}_{self.target.service.get('releaseId')}"
        return f"{self.action} {what}".strip()


class _App:
    """Inference for one app id."""

    def __init__(self, app_id: int, target: WantedApp | None, current: Current, facts: Facts) -> None:
        self.app_id = app_id
        self.target = target
        self.facts = facts
        self.containers = [c for c in current.containers if c.app_id == app_id]
        self.networks = {n: v for (a, n), v in current.networks.items() if a == app_id}
        self.volumes = {n: v for (a, n), v in current.volumes.items() if a == app_id}
        self.steps: list[Step] = []

    def changing_networks(self) -> set[str]:
        if self.target is None:
            return set(self.networks)
        differ = {n for n, conf in self.target.networks.items()
                  if n not in self.networks or networks_differ(conf, self.networks[n])}
        return differ | (set(self.networks) - set(self.target.networks))

    def missing_volumes(self) -> set[str]:
        if self.target is None:
            return set()
        return {n for n in self.target.volumes if n not in self.volumes}

    def pairs(self) -> tuple[list[Container], list[tuple[Container | None, Wanted]]]:
        by_sid: dict[int, list[Container]] = {}
        for container in self.containers:
            by_sid.setdefault(container.service_id, []).append(container)
        removals: list[Container] = []
        pairs: list[tuple[Container | None, Wanted]] = []
        wanted = {w.service_id: w for w in (self.target.services if self.target else [])}
        for sid, found in by_sid.items():
            found.sort(key=lambda c: c.created_at)
            if sid not in wanted:
                removals.extend(found)
            else:
                removals.extend(found[:-1])  # the newest is current, older ones go
        for sid, want in wanted.items():
            pairs.append((by_sid[sid][-1] if sid in by_sid else None, want))
        return removals, pairs

    @staticmethod
    def equal(current: Container, want: Wanted) -> bool:
        return want.image_docker_id is not None and current.image == want.image_docker_id \
            and current.form == want.form

    @staticmethod
    def changes(current: Container, want: Wanted) -> list[str]:
        """What differs: the form's keys, and `image` for another image."""
        found = differences(current.form, want.form)
        return found + ["image"] if current.image != want.image_docker_id else found

    def settled(self, current: Container, want: Wanted) -> bool:
        """Equal to its target, or left as it is by the recreate guard."""
        if self.equal(current, want):
            return True
        guard = self.facts.guard
        return guard is not None and want.image_docker_id is not None and \
            guard.holds((self.app_id, want.name), self.changes(current, want), want.fingerprint)

    def pending(self, pairs: list[tuple[Container | None, Wanted]]) -> set[str]:
        """Service names with an install or update still to do."""
        return {w.name for c, w in pairs if c is None or not self.settled(c, w)
                or (c.image_id, c.release_id) != (w.service["imageId"], w.service.get("releaseId"))}

    def dependencies_met(self, want: Wanted, pending: set[str], changing: set[str], missing: set[str]) -> bool:
        if any(dep in pending for dep in want.service.get("depends_on") or []):
            return False
        prefix = f"{self.app_id}_"
        for full in {want.config["HostConfig"].get("NetworkMode", ""), *want.extra_networks}:
            if full.startswith(prefix) and full[len(prefix):] in changing:
                return False
        return not any(v in missing for v in named_volumes(want.service))

    def fetch_or_wait(self, want: Wanted) -> Step | None:
        if want.image in self.facts.downloading or want.image in self.facts.waiting_retry:
            return Step("noop", self.app_id, target=want)
        if not self.facts.fetch_allowed:
            raise RuntimeError("Cannot fetch images while executing an API action")
        return Step("fetch", self.app_id, target=want)

    def needs_download(self, want: Wanted) -> bool:
        """The engine lacks the image and may fetch it (never in local mode)."""
        return want.image_docker_id is None and not self.facts.local_mode

    def service_step(self, current: Container | None, want: Wanted, pending: set[str],
                     changing: set[str], missing: set[str]) -> Step | None:
        needs_download = self.needs_download(want)
        if current is None:
            if needs_download:
                return self.fetch_or_wait(want)
            if self.dependencies_met(want, pending, changing, missing):
                return Step("start", self.app_id, target=want)
            return None
        if current.id in self.facts.stopping:
            return Step("noop", self.app_id, current, want)
        if current.state == "dead":
            return Step("remove", self.app_id, current, want)
        if self.settled(current, want):
            if (current.image_id, current.release_id) != (want.service["imageId"], want.service.get("releaseId")):
                return Step("updateMetadata", self.app_id, current, want)
            if want.running and not current.running and current.id not in self.facts.started:
                return Step("start", self.app_id, current, want)
            if not want.running and current.running:
                return Step("stop", self.app_id, current, want)
            return None
        changes = self.changes(current, want)
        log.info("service %s changes: %s", want.name, changes
                 if current.form != want.form else f"image {current.image} -> {want.image_docker_id}")
        step = self.replace_step(current, want, pending, changing, missing)
        if step is not None and step.action in ("kill", "handover"):
            step.config.update(changes=changes, target=want.fingerprint)  # counted by the recreate guard
        return step

    def replace_step(self, current: Container, want: Wanted, pending: set[str], changing: set[str],
                     missing: set[str]) -> Step | None:
        """How a container that differs from its target is replaced (the update strategies)."""
        needs_download = self.needs_download(want)
        strategy = want.strategy
        # when the new container can start at once, the kill step starts it too (what the next
        # iteration would do; it saves an iteration and overlaps the services' downtimes)
        then_start = not needs_download and self.dependencies_met(want, pending, changing, missing)
        if strategy in ("kill-then-download", "delete-then-download"):
            delete = strategy.startswith("delete")
            return Step("kill", self.app_id, current, want,
                        config={"remove_image": delete, "then_start": then_start and not delete})
        if needs_download:
            return self.fetch_or_wait(want)
        if strategy == "hand-over":
            uses = {want.config["HostConfig"].get("NetworkMode", ""), *want.extra_networks}
            if any(f"{self.app_id}_{n}" in uses for n in changing) or \
                    any(v in missing for v in named_volumes(want.service)):
                return Step("kill", self.app_id, current, want)
            if self.dependencies_met(want, pending, changing, missing):
                return Step("handover", self.app_id, current, want)
            return Step("noop", self.app_id, current, want)
        return Step("kill", self.app_id, current, want, config={"then_start": then_start})

    def infer(self) -> list[Step]:
        removals, pairs = self.pairs()
        changing, missing = self.changing_networks(), self.missing_volumes()
        pending = self.pending(pairs)
        for container in removals:
            action = "noop" if container.id in self.facts.stopping else "kill"
            self.steps.append(Step(action, self.app_id, container))
        for current, want in pairs:
            step = self.service_step(current, want, pending, changing, missing)
            if step is not None:
                self.steps.append(step)
        self.network_steps(changing)
        for name in sorted(missing):
            assert self.target is not None
            self.steps.append(Step("createVolume", self.app_id, name=f"{self.app_id}_{name}",
                                   config=self.target.volumes[name]))
        # a changed volume is only acted on while something uses it: its users are killed
        # (v10 never removes volumes implicitly; /v2/cleanup-volumes does it on request)
        if self.target is not None:
            for name, conf in self.target.volumes.items():
                if name in self.volumes and volumes_differ(conf, self.volumes[name]):
                    self.kill_users(lambda c, n=name: any(
                        b.split(":", 1)[0] == f"{self.app_id}_{n}" for b in (c.attrs.get("HostConfig") or {}).get("Binds") or []))
        return self.steps

    def network_steps(self, changing: set[str]) -> None:
        target_nets = self.target.networks if self.target else {}
        for name in sorted(changing):
            full = f"{self.app_id}_{name}"
            users = [c for c in self.containers if full in c.form.get("Networks", [])]
            if name in self.networks and (name not in target_nets or name in changing):
                if users:
                    self.kill_users(lambda c, f=full: f in c.form.get("Networks", []))
                else:
                    self.steps.append(Step("removeNetwork", self.app_id, name=full))
            elif name not in self.networks:
                self.steps.append(Step("createNetwork", self.app_id, name=full, config=target_nets[name]))

    def kill_users(self, uses: Any) -> None:
        already = {s.current.id for s in self.steps if s.current is not None and s.action in ("kill", "noop")}
        for container in self.containers:
            if uses(container) and container.id not in already and container.id not in self.facts.stopping:
                self.steps.append(Step("kill", self.app_id, container))


def record_key(record: dict[str, Any]) -> tuple[Any, ...]:
    """An image record's metadata (the legacy compared records without their ids)."""
    return (record["name"], record["appId"], record["serviceId"], record["serviceName"], record["imageId"],
            record["releaseId"])


def wanted_key(want: Wanted) -> tuple[Any, ...]:
    """The image record a target service needs."""
    release = want.service.get("releaseId")
    return (want.image, want.app_id, want.service_id, want.name, int(want.service["imageId"]),
            int(release) if release is not None else None)


def delta_source(want: Wanted, available: list[dict[str, Any]]) -> str | None:
    """bestDeltaSource: the recorded image of the same service and app, else of the same service
    name, else of the same app. Kept while the target's image is still to be downloaded."""
    for match in (lambda r: r["serviceName"] == want.name and r["appId"] == want.app_id,
                  lambda r: r["serviceName"] == want.name,
                  lambda r: r["appId"] == want.app_id):
        for record in available:
            if match(record):
                return str(record["name"])
    return None


def housekeeping(current: Current, targets: dict[int, WantedApp], facts: Facts) -> list[Step]:
    """_compareImages: `cleanup` of dangling images, `saveImage` for target images the engine has
    but no record describes exactly, then (only when nothing is to be saved) `removeImage` for
    recorded images that neither a container nor the target uses, nor a pending download needs
    as its delta source."""
    steps = [Step("cleanup", name="dangling images", config={"ids": list(facts.dangling)})] if facts.dangling else []
    wanted = [w for app in targets.values() for w in app.services]
    recorded = {record_key(r) for r in facts.available}
    save = {wanted_key(w): w for w in wanted if w.image_docker_id is not None and wanted_key(w) not in recorded}
    steps.extend(Step("saveImage", w.app_id, target=w, name=w.image) for w in save.values())
    if save:
        return steps
    in_use = {wanted_key(w) for w in wanted}
    for container in current.containers:
        by_id = [r for r in facts.available if r["dockerImageId"] == container.image]
        exact = [r for r in by_id if r["imageId"] == container.image_id]
        if exact or by_id:
            in_use.add(record_key((exact or by_id)[0]))
    sources = {delta_source(w, facts.available) for w in wanted if w.image_docker_id is None}
    steps.extend(Step("removeImage", int(r["appId"]), name=str(r["name"]), config={"record": r})
                 for r in facts.available if record_key(r) not in in_use and r["name"] not in sources)
    return steps


def infer(current: Current, targets: dict[int, WantedApp], facts: Facts) -> list[Step]:
    """The steps of the next iteration; [] when the current state is the target."""
    if any(w.needs_supervisor_network for a in targets.values() for w in a.services) \
            and current.supervisor_network is None:
        return [Step("ensureSupervisorNetwork", name=SUPERVISOR_NETWORK)]
    if facts.housekeeping and not facts.downloading:
        chores = housekeeping(current, targets, facts)
        if chores:  # the only steps of this iteration, as legacy
            return chores
    steps: list[Step] = []
    for app_id in sorted(current.app_ids() | set(targets)):
        steps.extend(_App(app_id, targets.get(app_id), current, facts).infer())
    steps = _unique(steps)
    if not steps and targets:
        commit = next(iter(targets.values())).commit
        if commit is not None and commit != facts.current_commit:
            steps.append(Step("updateCommit", name=commit))
    return steps


def _unique(steps: Iterable[Step]) -> list[Step]:
    seen: set[tuple[str, str, str]] = set()
    out = []
    for step in steps:
        record = step.config.get("record")
        key = (step.action, step.current.id if step.current else "", (step.name or
               (step.target.image if step.action == "fetch" and step.target else step.describe()))
               + (f"#{record['imageId']}" if record else ""))
        if key not in seen:
            seen.add(key)
            out.append(step)
    return out


def only_noops(steps: list[Step]) -> bool:
    """True when every step only waits (download running, container stopping)."""
    return bool(steps) and all(s.action == "noop" for s in steps)
