"""Step inference (handlers/engine/steps.py, balena-v2.md 3.2) on hand-made current and target states."""

from __future__ import annotations

from typing import Any

from handlers.engine.compose import DeviceInfo, create_config, strategy
from handlers.engine.compose_compare import comparable, current_networks, prepared
from handlers.engine.current import Container, Current
from handlers.engine.recreate_guard import WINDOW, RecreateGuard
from handlers.engine.steps import Facts, Wanted, WantedApp, infer

DEVICE = DeviceInfo(uuid="u", device_type="t", os_version="o", supervisor_version="v", device_name="n",
                    api_key="k", api_port=48484, docker_socket="/var/run/docker.sock")
IMAGE = {"Id": "sha256:" + "1" * 64, "Config": {"Env": ["PATH=/bin"], "Cmd": ["sh"]}}


def svc(name: str, sid: int, image_id: int, release: int = 1, **extra: Any) -> dict[str, Any]:
    return {"serviceName": name, "serviceId": sid, "imageId": image_id, "releaseId": release, "appId": 1,
            "image": "app", "environment": {}, "labels": {}, **extra}


def wanted(service: dict[str, Any], available: bool = True, running: bool = True) -> Wanted:
    config, extra, form = prepared(service, "app", DEVICE, IMAGE if available else None)
    return Wanted(1, "app", service, config, form, "app:latest", IMAGE["Id"] if available else None, extra,
                  strategy(service), running)


def container(service: dict[str, Any], cid: str = "c" * 64, running: bool = True, created: str = "2019") -> Container:
    """What the engine would show for a container made from the service's config."""
    config = create_config(service, "app", DEVICE, IMAGE["Id"])
    attrs = {"Id": cid, "Name": f"/{service['serviceName']}_{service['imageId']}_{service['releaseId']}",
             "Image": IMAGE["Id"], "Created": created, "State": {"Running": running, "Status": "running" if running else "exited"},
             "Config": {**config, "Env": IMAGE["Config"]["Env"] + config["Env"], "Cmd": ["sh"]},
             "HostConfig": config["HostConfig"],
             "NetworkSettings": {"Networks": {config["HostConfig"]["NetworkMode"]: {}}}}
    found = Container(cid, attrs["Name"][1:], 1, service["serviceId"], service["serviceName"], service["imageId"],
                      service["releaseId"], IMAGE["Id"], created, attrs["State"]["Status"], running, attrs)
    found.form = comparable({**attrs["Config"], "HostConfig": attrs["HostConfig"]}, None, cid, current_networks(attrs))
    return found


def app(*services: Wanted, commit: str = "c1", volumes: dict[str, Any] | None = None) -> dict[int, WantedApp]:
    return {1: WantedApp(1, "app", commit, list(services), {"default": {}}, volumes or {})}


def ready(current: Current | None = None) -> Current:
    """The app's default network exists."""
    current = current or Current()
    current.networks[(1, "default")] = {"Name": "1_default", "Driver": "bridge", "Labels": {"io.balena.supervised": "true"}}
    return current


def actions(steps: list[Any]) -> list[str]:
    return [s.describe() for s in steps]


def test_install_makes_network_and_volume_before_starting() -> None:
    steps = infer(Current(), app(wanted(svc("main", 1, 11, volumes=["data:/d"])), volumes={"data": {}}), Facts())
    assert actions(steps) == ["createNetwork 1_default", "createVolume 1_data"]
    steps = infer(ready(), app(wanted(svc("main", 1, 11))), Facts())
    assert actions(steps) == ["start main_11_1"]


def test_depends_on_waits_for_the_dependency() -> None:
    db, web = svc("db", 1, 11), svc("web", 2, 12, depends_on=["db"])
    assert actions(infer(ready(), app(wanted(db), wanted(web)), Facts())) == ["start db_11_1"]
    current = ready(Current(containers=[container(db)]))
    assert actions(infer(current, app(wanted(db), wanted(web)), Facts())) == ["start web_12_1"]


def test_missing_image_is_fetched_or_waited_for() -> None:
    want = wanted(svc("main", 1, 11), available=False)
    assert actions(infer(ready(), app(want), Facts())) == ["fetch app:latest"]
    assert actions(infer(ready(), app(want), Facts(downloading={"app:latest"}))) == ["noop main_11_1"]
    assert actions(infer(ready(), app(want), Facts(waiting_retry={"app:latest"}))) == ["noop main_11_1"]


def test_local_mode_never_fetches() -> None:
    """2019 _nextStepForService: needsDownload is false in local mode, so a missing image goes
    straight to start (which fails at create) and download-then-kill kills the old container."""
    local = Facts(local_mode=True)
    missing = wanted(svc("main", 1, 11), available=False)
    assert actions(infer(ready(), app(missing), local)) == ["start main_11_1"]
    current = ready(Current(containers=[container(svc("main", 1, 11))]))
    for label in ("download-then-kill", "kill-then-download", "delete-then-download"):
        new = wanted(svc("main", 1, 12, labels={"io.balena.update.strategy": label}), available=False)
        assert actions(infer(current, app(new), local)) == ["kill main_11_1"], label
    new = wanted(svc("main", 1, 12, labels={"io.balena.update.strategy": "hand-over"}), available=False)
    assert actions(infer(current, app(new), local)) == ["handover main_11_1"]


def test_strategies_on_a_changed_service() -> None:
    old = svc("main", 1, 11)
    current = ready(Current(containers=[container(old)]))
    for label, available, expected in [
        ("download-then-kill", False, "fetch app:latest"),
        ("download-then-kill", True, "kill main_11_1"),
        ("kill-then-download", False, "kill main_11_1"),
        ("delete-then-download", False, "kill main_11_1"),
        ("hand-over", False, "fetch app:latest"),
        ("hand-over", True, "handover main_11_1"),
    ]:
        new = svc("main", 1, 11, environment={"V": "2"}, labels={"io.balena.update.strategy": label})
        assert actions(infer(current, app(wanted(new, available)), Facts())) == [expected], label


def test_running_flags_and_metadata() -> None:
    service = svc("main", 1, 11)
    stopped = ready(Current(containers=[container(service, running=False)]))
    assert actions(infer(stopped, app(wanted(service)), Facts(current_commit="c1"))) == ["start main_11_1"]
    # a container this agent started and that exited by itself is left to docker's restart policy
    assert infer(stopped, app(wanted(service)), Facts(started={"c" * 64}, current_commit="c1")) == []
    running = ready(Current(containers=[container(service)]))
    assert actions(infer(running, app(wanted(service, running=False)), Facts(current_commit="c1"))) == ["stop main_11_1"]
    renamed = svc("main", 1, 11, release=2)
    assert actions(infer(running, app(wanted(renamed)), Facts())) == ["updateMetadata main_11_1"]  # renamed to main_11_2
    assert actions(infer(running, app(wanted(service), commit="c9"), Facts(current_commit="c1"))) == ["updateCommit c9"]
    assert infer(running, app(wanted(service), commit="c1"), Facts(current_commit="c1")) == []


def test_departed_service_and_app_are_killed_network_removed_after() -> None:
    a, b = svc("a", 1, 11), svc("b", 2, 12)
    current = ready(Current(containers=[container(a, "a" * 64), container(b, "b" * 64)]))
    assert actions(infer(current, app(wanted(a)), Facts(current_commit="c1"))) == ["kill b_12_1"]
    assert sorted(actions(infer(current, {}, Facts()))) == ["kill a_11_1", "kill b_12_1"]
    assert actions(infer(ready(), {}, Facts())) == ["removeNetwork 1_default"]
    # volumes are never removed implicitly
    current = ready()
    current.volumes[(1, "data")] = {"Name": "1_data", "Labels": {"io.balena.supervised": "true"}}
    assert actions(infer(current, {}, Facts())) == ["removeNetwork 1_default"]


def test_duplicates_keep_the_newest() -> None:
    service = svc("main", 1, 11)
    current = ready(Current(containers=[container(service, "a" * 64, created="2019-01"),
                                        container(service, "b" * 64, created="2019-02")]))
    steps = infer(current, app(wanted(service)), Facts(current_commit="c1"))
    assert [(s.action, s.current.id[:1] if s.current else "") for s in steps] == [("kill", "a")]


def record(name: str, image_id: int, release: int = 1, docker_id: str = IMAGE["Id"], service: str = "main",
           sid: int = 1) -> dict[str, Any]:
    """A row of the image table, as Images.rows() gives it."""
    return {"name": name, "appId": 1, "serviceId": sid, "serviceName": service, "imageId": image_id,
            "releaseId": release, "dockerImageId": docker_id}


def chores(current: Current, targets: dict[int, WantedApp], available: list[dict[str, Any]],
           dangling: list[str] | None = None, downloading: set[str] | None = None) -> list[Any]:
    return infer(current, targets, Facts(housekeeping=True, available=available, dangling=dangling or [],
                                         downloading=downloading or set()))


def test_housekeeping_saves_unrecorded_target_images_first() -> None:
    main = svc("main", 1, 11)
    old = record("old:latest", 5, docker_id="sha256:" + "5" * 64)
    steps = chores(ready(), app(wanted(main)), [old], dangling=["sha256:" + "d" * 64])
    assert actions(steps) == ["cleanup dangling images", "saveImage app:latest"]  # removals wait for the save


def test_housekeeping_removes_only_what_nothing_uses() -> None:
    main = svc("main", 1, 11)
    used = record("app:latest", 11)
    by_container = record("running:latest", 9, docker_id="sha256:" + "9" * 64)
    unused = record("old:latest", 5, docker_id="sha256:" + "5" * 64)
    running = container(main)
    running.image = by_container["dockerImageId"]  # the container still runs the previous image
    steps = chores(ready(Current(containers=[running])), app(wanted(main)), [used, by_container, unused])
    assert actions(steps) == ["removeImage old:latest"]
    assert steps[0].config["record"] is unused


def test_housekeeping_keeps_the_delta_source_of_a_pending_download() -> None:
    want = wanted(svc("main", 1, 12, release=2), available=False)
    previous = record("app:v1", 11)
    assert actions(chores(ready(), app(want), [previous])) == ["fetch app:latest"]  # app:v1 kept
    other = record("other:latest", 7, docker_id="sha256:" + "7" * 64, service="other", sid=2)
    other["appId"] = 2
    assert actions(chores(ready(), app(want), [previous, other])) == ["removeImage other:latest"]


def test_no_housekeeping_while_downloading_or_in_local_mode() -> None:
    unused = record("old:latest", 5, docker_id="sha256:" + "5" * 64)
    want = wanted(svc("main", 1, 11), available=False)
    assert actions(chores(ready(), app(want), [unused], downloading={"app:latest"})) == ["noop main_11_1"]
    assert actions(infer(ready(), app(wanted(svc("main", 1, 11))), Facts(available=[unused]))) == ["start main_11_1"]


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def misread(service: dict[str, Any], cid: str = "c" * 64) -> Container:
    """A container made from its target that a comparison bug reads as different (the issue's
    trap: a hostname the engine filled in)."""
    found = container(service, cid)
    found.form = {**found.form, "Hostname": "name-the-engine-chose"}
    return found


def recreate(guard: RecreateGuard, steps: list[Any]) -> None:
    """What the executor tells the guard once a kill step for a changed service has run."""
    for step in steps:
        if "changes" in step.config:
            guard.recreated((step.app_id, step.target.name), step.config["changes"], step.config["target"])


def test_recreate_guard_leaves_a_service_that_never_converges_running(caplog: Any) -> None:
    clock = Clock()
    guard = RecreateGuard(clock=clock)
    service = svc("main", 1, 11)
    current = ready(Current(containers=[misread(service)]))
    for _ in range(3):
        steps = infer(current, app(wanted(service)), Facts(guard=guard, current_commit="c1"))
        assert actions(steps) == ["kill main_11_1"] and steps[0].config["changes"] == ["Hostname"]
        recreate(guard, steps)
        clock.now += 10
    with caplog.at_level("WARNING", logger="polyvisor.recreate_guard"):
        for _ in range(5):  # left running: no steps, the app is applied
            assert infer(current, app(wanted(service)), Facts(guard=guard, current_commit="c1")) == []
            clock.now += 60
    warned = [r.getMessage() for r in caplog.records if r.name == "polyvisor.recreate_guard"]
    assert len(warned) == 1 and "['Hostname']" in warned[0] and "3 times in 20 s" in warned[0]
    assert list(guard.held()) == [(1, "main")]
    # a genuine change of the target recreates it again, as do a new image and a new release
    changed = wanted(svc("main", 1, 11, environment={"V": "2"}))
    assert actions(infer(current, app(changed), Facts(guard=guard))) == ["kill main_11_1"]
    assert guard.held() == {}


def test_recreate_guard_new_release_is_a_new_target() -> None:
    guard = RecreateGuard(clock=Clock())
    service, released = svc("main", 1, 11), svc("main", 1, 12, release=2)
    current = ready(Current(containers=[misread(service)]))
    for _ in range(3):
        recreate(guard, infer(current, app(wanted(service)), Facts(guard=guard, current_commit="c1")))
    assert infer(current, app(wanted(service)), Facts(guard=guard, current_commit="c1")) == []
    assert actions(infer(current, app(wanted(released)), Facts(guard=guard))) == ["kill main_11_1"]


def test_recreate_guard_counts_one_difference_against_one_target_within_the_window() -> None:
    clock = Clock()
    guard = RecreateGuard(clock=clock)
    key = (1, "main")
    for changes, target in ((["Env"], "t1"), (["Env"], "t1"), (["Hostname"], "t1"), (["Env"], "t2")):
        guard.recreated(key, changes, target)
    assert not guard.holds(key, ["Env"], "t1")  # two of the same difference against the same target
    clock.now += WINDOW + 1
    guard.recreated(key, ["Env"], "t1")
    assert not guard.holds(key, ["Env"], "t1")  # the earlier ones are out of the window
    guard.recreated(key, ["Env"], "t1")
    guard.recreated(key, ["Env"], "t1")
    assert guard.holds(key, ["Env"], "t1") and guard.holds(key, ["Env"], "t1")
    assert not guard.holds((1, "other"), ["Env"], "t1")


def test_a_held_service_does_not_block_its_dependants() -> None:
    guard = RecreateGuard(clock=Clock())
    db, web = svc("db", 1, 11), svc("web", 2, 12, depends_on=["db"])
    current = ready(Current(containers=[misread(db)]))
    for _ in range(3):
        steps = infer(current, app(wanted(db), wanted(web)), Facts(guard=guard))
        assert actions(steps) == ["kill db_11_1"]  # web waits for db's update
        recreate(guard, steps)
    assert actions(infer(current, app(wanted(db), wanted(web)), Facts(guard=guard))) == ["start web_12_1"]


class FakeApi:
    """The docker SDK calls a kill makes, recorded."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def stop(self, container_id: str, timeout: int) -> None:
        self.calls.append(f"stop {container_id[:1]}")

    def remove_container(self, container_id: str, v: bool) -> None:
        self.calls.append(f"remove {container_id[:1]}")


def test_the_executor_counts_kills_of_changed_services_only() -> None:
    from types import SimpleNamespace

    from handlers.engine.executor import Executor

    api = FakeApi()
    client = SimpleNamespace(api=api)
    owner = SimpleNamespace(engine=SimpleNamespace(call=lambda action: action(client)), status={}, started=set(),
                            logs=SimpleNamespace(system=lambda *a, **k: None), guard=RecreateGuard(clock=Clock()))
    service = svc("main", 1, 11)
    current = ready(Current(containers=[misread(service)]))
    executor = Executor(owner)  # type: ignore[arg-type]

    def kill_changed() -> None:
        (step,) = infer(current, app(wanted(service)), Facts(guard=owner.guard, current_commit="c1"))
        step.config["then_start"] = False
        executor.run(step)

    kill_changed()
    kill_changed()
    executor.run(infer(current, {}, Facts())[0])  # a departed service's kill is no recreation
    assert api.calls == ["stop c", "remove c"] * 3
    assert actions(infer(current, app(wanted(service)), Facts(guard=owner.guard))) == ["kill main_11_1"]
    kill_changed()
    assert infer(current, app(wanted(service)), Facts(guard=owner.guard, current_commit="c1")) == []
