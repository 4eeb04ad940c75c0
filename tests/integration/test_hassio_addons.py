"""Add-ons on the real dockerd through the `Addons` manager (hassio.md §5): an image add-on (its
image made with `docker import` of busybox, two versions) and a local-build add-on (a Dockerfile
FROM the busybox image) in the local repository folder; containers inspected, stdin, logs, stats,
tokens honoured by part 1's role table, boot stages, bad input with nothing half-installed.

The tests' dockerd runs with --bridge none: the manager then makes no `hassio` bridge and runs
the add-ons with network_mode none (params.py); the tests reach them only through the engine.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from compat.hassio.security import allowed
from handlers.docker import Engine
from handlers.errors import InvalidInput
from handlers.homeassistant.addons.installed import Installed
from handlers.homeassistant.addons.manager import Addons
from handlers.homeassistant.addons.store import AddonStore
from handlers.homeassistant.tokens import Tokens
from handlers.store import Store
from integration.addon_repos import AddonRepo, GitDaemon, git_daemon, image_addon
from integration.components import busybox_rootfs
from integration.engine_support import wait_for
from integration.registry import Registry, registry

__all__ = ["git_daemon", "registry"]  # fixtures of addon_repos and registry, taken by name

ARCH, MACHINE = "amd64", "qemux86-64"
IMAGE = "pvtest/amd64-addon-echo"
BASE = "pvtest/amd64-base"  # 138's build_from pattern takes no '-' in the repository's namespace
ECHO_SCRIPT = "cat /data/options.json; echo; echo started; while read line; do echo \"got $line\"; done"
ECHO: dict[str, Any] = {"name": "Echo", "version": "1.0", "slug": "echo", "description": "echoes stdin", "startup": "services",
        "boot": "auto", "options": {"message": "hi", "count": 2}, "schema": {"message": "str", "count": "int(1,10)"},
        "image": "pvtest/{arch}-addon-echo", "stdin": True, "hassio_api": True, "hassio_role": "manager",
        "ports": {"8000/tcp": None}, "environment": {"GREETING": "hello"}, "map": ["share:rw", "config"],
        "timeout": 10}
BUILDER = {"name": "Builder", "version": "0.1", "slug": "builder", "description": "built here",
           "startup": "application", "boot": "manual", "options": {}, "schema": False}
DOCKERFILE = """ARG BUILD_FROM
FROM $BUILD_FROM
ARG BUILD_VERSION
RUN echo "built $BUILD_VERSION" > /built
CMD ["sh", "-c", "cat /built; trap 'exit 0' TERM; sleep 3600 & wait"]
"""


def import_echo(client: Any, version: str) -> None:
    """IMAGE:<version>, labelled as a hassio add-on image, unless present."""
    import docker.errors

    try:
        client.images.get(f"{IMAGE}:{version}")
    except docker.errors.ImageNotFound:
        client.api.import_image_from_data(
            busybox_rootfs(), repository=IMAGE, tag=version,
            changes=["ENV PATH=/bin", f"LABEL io.hass.version={version}", f'CMD ["sh", "-c", {json.dumps(ECHO_SCRIPT)}]'])


def write_addon(local: Path, folder: str, config: dict[str, Any], **files: str) -> None:
    (local / folder).mkdir(parents=True, exist_ok=True)
    (local / folder / "config.json").write_text(json.dumps(config))
    for name, text in files.items():
        (local / folder / name).write_text(text)


class Rig:
    """The manager over a store, a data folder and the private engine."""

    def __init__(self, root: Path, docker_host: str, busybox: str) -> None:
        self.folder = root / "hassio"
        self.local = self.folder / "addons" / "local"
        self.db = Store(root / "data")
        self.db.open()
        self.tokens = Tokens(self.db, lambda: None, lambda key: False)
        self.engine = Engine(docker_host)
        write_addon(self.local, "echo", ECHO, **{"icon.png": "PNG", "CHANGELOG.md": "# 1.0\n", "README.md": "Echo"})
        write_addon(self.local, "builder", BUILDER, Dockerfile=DOCKERFILE,
                    **{"build.json": json.dumps({"build_from": {ARCH: f"{BASE}:latest"}})})
        self.removed: list[str] = []
        self.addons = self.make()

    def make(self) -> Addons:
        store = AddonStore(self.folder / "addons", None, ARCH, MACHINE)
        addons = Addons(store, Installed(self.db), self.engine, self.tokens, self.folder, ARCH, MACHINE,
                        timezone=lambda: "Europe/Amsterdam", on_uninstall=self.removed.append)
        addons.load()
        return addons

    def close(self) -> None:
        self.engine.close()
        self.db.close()


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory, docker_host: str, docker_client: Any,
        busybox_image: str) -> Iterator[Rig]:
    import_echo(docker_client, "1.0")
    docker_client.images.get(busybox_image).tag(BASE, "latest")
    found = Rig(tmp_path_factory.mktemp("addons"), docker_host, busybox_image)
    yield found
    for slug in found.addons.installed_slugs():
        found.addons.uninstall(slug)
    for image in docker_client.images.list(name=IMAGE) + docker_client.images.list(name="local/amd64-addon-builder"):
        docker_client.images.remove(image.id, force=True)
    docker_client.images.remove(f"{BASE}:latest")
    found.close()


@pytest.fixture(autouse=True)
def echo_image(docker_client: Any) -> None:
    """IMAGE:1.0 present (an uninstall removes the add-on's images, as 138's did)."""
    import_echo(docker_client, "1.0")


def container(client: Any, slug: str) -> Any:
    import docker.errors

    try:
        return client.containers.get(f"addon_{slug}")
    except docker.errors.NotFound:
        return None


def logs_contain(rig: Rig, slug: str, text: bytes) -> bool:
    return text in rig.addons.logs(slug)


def test_image_addon_lifecycle(rig: Rig, docker_client: Any) -> None:
    addons = rig.addons
    assert addons.info("local_echo")["state"] == "none"
    assert addons.install("local_echo") is True
    assert addons.install("local_echo") is False  # 138: already installed -> False (400, message null)
    info = addons.info("local_echo")
    assert (info["version"], info["last_version"], info["state"], info["build"]) == ("1.0", "1.0", "stopped", False)
    assert addons.start("local_echo") is True
    found = container(docker_client, "local_echo")
    assert found.name == "addon_local_echo" and found.attrs["Config"]["Hostname"] == "local-echo"
    env = dict(line.split("=", 1) for line in found.attrs["Config"]["Env"])
    assert env["GREETING"] == "hello" and env["TZ"] == "Europe/Amsterdam" and len(env["HASSIO_TOKEN"]) == 64
    host = found.attrs["HostConfig"]
    data = rig.folder / "addons" / "data" / "local_echo"
    assert f"{data}:/data:rw" in host["Binds"] and f"{rig.folder}/share:/share:rw" in host["Binds"]
    assert f"{rig.folder}/homeassistant:/config:ro" in host["Binds"]
    assert (host["Init"], host["Privileged"], host["NetworkMode"]) == (True, False, "none")
    assert found.attrs["Config"]["OpenStdin"] is True
    assert json.loads((data / "options.json").read_text()) == {"message": "hi", "count": 2}
    assert addons.state("local_echo") == "started" and addons.is_running("local_echo")
    wait_for(lambda: logs_contain(rig, "local_echo", b"started\n"), 20, "the add-on's first lines")
    assert b'"message": "hi"' in addons.logs("local_echo")

    # stdin reaches the process; stats of the running container
    assert addons.stdin("local_echo", b"ping") is True
    wait_for(lambda: logs_contain(rig, "local_echo", b"got ping\n"), 20, "stdin echoed")
    stats = addons.stats("local_echo")
    assert stats.memory_usage > 0

    # its token opens the API with its role (manager), as part 1's table reads it
    caller = rig.tokens.who(env["HASSIO_TOKEN"])
    assert caller is not None and caller.addon is not None and caller.addon.hassio_role == "manager"
    assert allowed(caller, "/supervisor/info") and not allowed(caller, "/addons/local_echo/security")

    # restart: a new container and a new token
    assert addons.restart("local_echo") is True
    again = container(docker_client, "local_echo")
    token = dict(line.split("=", 1) for line in again.attrs["Config"]["Env"])["HASSIO_TOKEN"]
    assert again.id != found.id and token != env["HASSIO_TOKEN"]
    assert rig.tokens.who(env["HASSIO_TOKEN"]) is None and rig.tokens.who(token) is not None

    # stop removes the container (138 never kept one)
    assert addons.stop("local_echo") is True
    assert container(docker_client, "local_echo") is None and addons.state("local_echo") == "stopped"
    assert addons.stop("local_echo") is False
    with pytest.raises(InvalidInput, match="^No stats available$"):
        addons.stats("local_echo")

    # update: a new version in the store and its image
    with pytest.raises(InvalidInput, match="^No update available!$"):
        addons.update("local_echo")
    assert addons.start("local_echo") is True
    import_echo(docker_client, "1.1")
    write_addon(rig.local, "echo", {**ECHO, "version": "1.1"})
    addons.load()
    assert addons.info("local_echo")["last_version"] == "1.1"
    assert addons.update("local_echo") is True
    info = addons.info("local_echo")
    assert (info["version"], info["state"]) == ("1.1", "started")
    labels = docker_client.images.get(f"{IMAGE}:latest").labels
    assert labels["io.hass.version"] == "1.1"
    assert [t for i in docker_client.images.list(name=IMAGE) for t in i.tags if t.endswith(":1.0")] == []

    # uninstall: container, images, data, token and discovery messages gone
    assert addons.uninstall("local_echo") is True
    assert container(docker_client, "local_echo") is None
    assert docker_client.images.list(name=IMAGE) == [] and not data.exists()
    assert rig.tokens.who(token) is None and rig.removed[-1] == "local_echo"
    assert addons.info("local_echo")["state"] == "none"
    write_addon(rig.local, "echo", ECHO)
    addons.load()


def test_local_build_addon(rig: Rig, docker_client: Any) -> None:
    addons = rig.addons
    assert addons.info("local_builder")["build"] is True
    assert addons.install("local_builder") is True
    image = docker_client.images.get("local/amd64-addon-builder:latest")
    assert image.labels["io.hass.version"] == "0.1" and image.labels["io.hass.type"] == "addon"
    assert image.labels["io.hass.name"] == "Builder"
    assert addons.start("local_builder") is True
    wait_for(lambda: logs_contain(rig, "local_builder", b"built 0.1\n"), 20, "the built image's output")
    with pytest.raises(InvalidInput, match="^STDIN not supported by add-on$"):
        addons.stdin("local_builder", b"x")
    before = image.id
    (rig.local / "builder" / "Dockerfile").write_text(DOCKERFILE.replace("built", "rebuilt"))
    assert addons.rebuild("local_builder") is True
    assert docker_client.images.get("local/amd64-addon-builder:latest").id != before
    assert addons.state("local_builder") == "started"
    wait_for(lambda: logs_contain(rig, "local_builder", b"rebuilt 0.1\n"), 20, "the rebuilt image's output")
    with pytest.raises(InvalidInput, match="^Only local build addons are supported$"):
        addons.install("local_echo") and addons.rebuild("local_echo")
    assert addons.uninstall("local_builder") is True
    assert docker_client.images.list(name="local/amd64-addon-builder") == []
    assert addons.uninstall("local_echo") is True


def test_listing_info_assets(rig: Rig) -> None:
    addons = rig.addons
    listing = addons.listing()
    echo = next(a for a in listing["addons"] if a["slug"] == "local_echo")
    assert list(echo) == ["name", "slug", "description", "version", "installed", "available", "detached",
                          "repository", "build", "url", "icon", "logo"]
    assert (echo["installed"], echo["repository"], echo["icon"], echo["logo"]) == (None, "local", True, False)
    assert any(r["slug"] == "local" for r in listing["repositories"])
    info = addons.info("local_echo")
    assert info["protected"] is True and info["auto_update"] is None and info["long_description"] == "Echo"
    assert info["network"] == {"8000/tcp": None} and info["services"] == [] and info["rating"] == 4
    assert addons.asset("local_echo", "icon") == b"PNG"
    assert addons.asset("local_echo", "changelog") == b"# 1.0\n"
    with pytest.raises(InvalidInput, match="^No logo found!$"):
        addons.asset("local_echo", "logo")


def test_bad_input(rig: Rig, docker_client: Any) -> None:
    addons = rig.addons
    calls: tuple[Any, ...] = (addons.info, addons.install, addons.start, addons.uninstall)
    for call in calls:
        with pytest.raises(InvalidInput, match="^Addon does not exist$"):
            call("local_nothing")
    calls = (addons.start, addons.stop, addons.update, addons.logs, addons.uninstall)
    for call in calls:
        with pytest.raises(InvalidInput, match="^Addon is not installed$"):
            call("local_echo")
    with pytest.raises(InvalidInput, match="^Addon is not installed$"):
        addons.set_options("local_echo", {"boot": "manual"})

    # an image nobody has: nothing half-installed
    write_addon(rig.local, "ghost", {**ECHO, "slug": "ghost", "image": "pvtest/{arch}-addon-ghost"})
    addons.load()
    assert addons.install("local_ghost") is False
    assert "local_ghost" not in addons.installed_slugs()
    assert not (rig.folder / "addons" / "data" / "local_ghost").exists()
    shutil.rmtree(rig.local / "ghost")
    addons.load()

    # invalid options: 138's messages, nothing stored
    assert addons.install("local_echo") is True
    with pytest.raises(InvalidInput) as caught:
        addons.set_options("local_echo", {"options": {"message": "x", "count": 50}})
    # 138's SCHEMA_OPTIONS.extend({options: Any(None, addon.schema)}): Any keeps None's error
    assert str(caught.value) == "not a valid value for dictionary value @ data['options']. Got {'message': 'x', 'count': 50}"
    assert addons.info("local_echo")["options"] == {"message": "hi", "count": 2}
    assert addons.set_options("local_echo", {"options": {"message": "yo", "count": 3}, "boot": "manual",
                                             "network": {"8000/tcp": 18000, "9/udp": 9}}) is True
    info = addons.info("local_echo")
    assert (info["boot"], info["network"]) == ("manual", {"8000/tcp": 18000})  # undeclared port dropped
    assert addons.set_options("local_echo", {"options": None, "network": None}) is True
    assert addons.set_security("local_echo", False) is True and addons.info("local_echo")["protected"] is False
    assert addons.uninstall("local_echo") is True

    # options the schema needs and the defaults lack: start refuses as 138's API did
    write_addon(rig.local, "strict", {**ECHO, "slug": "strict", "schema": {**ECHO["schema"], "name": "str"}})
    addons.load()
    import_echo(docker_client, "1.0")  # the same image, removed with local_echo
    assert addons.install("local_strict") is True
    with pytest.raises(InvalidInput) as caught:
        addons.start("local_strict")
    assert str(caught.value) == "Missing option name in root. Got {'message': 'hi', 'count': 2}"  # humanize_error
    assert container(docker_client, "local_strict") is None
    assert addons.uninstall("local_strict") is True
    shutil.rmtree(rig.local / "strict")
    addons.load()


def test_host_network_addon(rig: Rig, docker_client: Any) -> None:
    """host_network: the machine's network (this engine's only one besides none), `hassio` and
    `homeassistant` resolving to the host itself, no ports published."""
    write_addon(rig.local, "hostnet", {**ECHO, "slug": "hostnet", "host_network": True})
    addons = rig.addons
    addons.load()
    assert addons.install("local_hostnet") is True and addons.start("local_hostnet") is True
    found = container(docker_client, "local_hostnet")
    assert found.attrs["HostConfig"]["NetworkMode"] == "host"
    hosts = found.exec_run(["cat", "/etc/hosts"]).output.decode()
    assert "127.0.0.1\thassio" in hosts and "127.0.0.1\thomeassistant" in hosts
    assert addons.info("local_hostnet")["network"] is None
    assert addons.uninstall("local_hostnet") is True
    shutil.rmtree(rig.local / "hostnet")
    addons.load()


def test_boot_auto(rig: Rig, docker_client: Any) -> None:
    addons = rig.addons
    assert addons.install("local_echo") is True and addons.install("local_builder") is True
    addons.boot("initialize")
    assert addons.state("local_echo") == "stopped"
    addons.boot("services")  # echo: boot auto, startup services
    assert addons.state("local_echo") == "started"
    addons.boot("application")  # builder: boot manual
    assert addons.state("local_builder") == "stopped"
    assert addons.set_options("local_builder", {"boot": "auto"})
    addons.boot("application")
    assert addons.state("local_builder") == "started"
    for slug in ("local_echo", "local_builder"):
        assert addons.uninstall(slug) is True


def test_backup_restore(rig: Rig, docker_client: Any, tmp_path: Path) -> None:
    addons = rig.addons
    assert addons.install("local_builder") is True and addons.start("local_builder") is True
    data = rig.folder / "addons" / "data" / "local_builder"
    (data / "state.txt").write_text("kept")
    meta = addons.backup("local_builder", tmp_path / "snap")
    assert meta == {"slug": "local_builder", "name": "Builder", "version": "0.1"}
    saved = json.loads((tmp_path / "snap" / "addon.json").read_text())
    assert set(saved) == {"user", "system", "version", "state"} and saved["state"] == "started"
    assert (tmp_path / "snap" / "image.tar").stat().st_size > 0
    assert (tmp_path / "snap" / "data" / "state.txt").read_text() == "kept"
    assert addons.uninstall("local_builder") is True
    assert addons.restore("local_builder", tmp_path / "snap") is True
    assert (data / "state.txt").read_text() == "kept" and addons.state("local_builder") == "started"
    assert docker_client.images.get("local/amd64-addon-builder:0.1")
    assert addons.uninstall("local_builder") is True
    # a broken addon.json or a slug naming a path: refused, nothing installed or written
    (tmp_path / "snap" / "addon.json").write_text(json.dumps({**saved, "state": "paused"}))
    with pytest.raises(InvalidInput, match="^cannot restore add-on local_builder: state 'paused'$"):
        addons.restore("local_builder", tmp_path / "snap")
    with pytest.raises(InvalidInput, match="^invalid add-on slug"):
        addons.restore("local_../../x", tmp_path / "snap")
    assert addons.installed_slugs() == [] and not data.exists()


def test_addons_from_git(rig: Rig, docker_client: Any, request: pytest.FixtureRequest) -> None:
    """A custom repository over git daemon with an image add-on and a local build, installed and run."""
    daemon: GitDaemon = request.getfixturevalue("git_daemon")
    repo = AddonRepo.create(daemon.base / "custom")
    image = image_addon(docker_client, "pvtest/{arch}-addon-gitimage", "2.0")
    repo.add_image_addon("gitimage", image=image, version="2.0", stdin=True)
    repo.add_build_addon("gitbuild", base=f"{BASE}:latest", version="3.0")
    repo.commit("two add-ons")
    url = daemon.url(repo)
    addons = Addons(AddonStore(rig.folder / "addons", None, ARCH, MACHINE), Installed(rig.db), rig.engine,
                    rig.tokens, rig.folder, ARCH, MACHINE, repositories=lambda: [url])
    addons.load()
    addons.load_repositories()  # clones the configured repository
    ident = next(r["slug"] for r in addons.listing()["repositories"] if r["source"] == url)
    for slug, version in ((f"{ident}_gitimage", "2.0"), (f"{ident}_gitbuild", "3.0")):
        assert addons.install(slug) is True and addons.start(slug) is True
        line = f"started {version}\n".encode()
        wait_for(lambda s=slug, t=line: logs_contain(rig, s, t), 20, f"{slug} started")  # type: ignore[misc]
        assert json.loads(addons.logs(slug).split(b"\n", 1)[0]) == {"message": "hello"}
    assert addons.stdin(f"{ident}_gitimage", b"over git") is True
    wait_for(lambda: logs_contain(rig, f"{ident}_gitimage", b"stdin: over git\n"), 20, "stdin echoed")
    for slug in (f"{ident}_gitimage", f"{ident}_gitbuild"):
        assert addons.uninstall(slug) is True
    addons.set_repositories([])


def test_agent_boots_auto_addons(start_agent: Any, docker_client: Any, docker_host: str, tmp_path: Path) -> None:
    """The agent's start: the store loaded, boot: auto add-ons started by stage, each with a token
    the hassio API takes with the add-on's role, and refuses once the add-on is uninstalled."""
    data_dir, folder = tmp_path / "data", tmp_path / "hassio"
    write_addon(folder / "addons" / "local", "echo", ECHO)
    db = Store(data_dir)
    db.open()
    try:  # installed before: what POST /addons/local_echo/install left
        installed = Installed(db)
        store = AddonStore(folder / "addons", None, ARCH, MACHINE)
        store.load()
        found = store.get("local_echo")
        assert found is not None
        installed.install("local_echo", found.config)
    finally:
        db.close()
    (folder / "addons" / "data" / "local_echo").mkdir(parents=True)
    import_echo(docker_client, "1.0")
    docker_client.images.get(f"{IMAGE}:1.0").tag(IMAGE, "latest")
    args = ["--dialects=hassio", "--device-type=qemux86-64", f"--hassio-data={folder},privileged=false"]
    agent = start_agent(data_dir=data_dir, ready="/supervisor/ping", args=args)
    try:
        running = wait_for(lambda: container(docker_client, "local_echo"), 30, "addon_local_echo")
        env = dict(line.split("=", 1) for line in running.attrs["Config"]["Env"])
        with agent.client() as client:
            answer = client.get("/supervisor/info", headers={"X-HASSIO-KEY": env["HASSIO_TOKEN"]})
            assert answer.status_code == 200, answer.text  # manager role: /supervisor/.+
            assert client.get("/supervisor/info", headers={"X-HASSIO-KEY": "e" * 64}).status_code == 403
        assert json.loads((folder / "addons" / "data" / "local_echo" / "options.json").read_text()) == ECHO["options"]
        # uninstalled (by a manager on the same data, as the route would): the token is refused
        db = Store(data_dir)
        db.open()
        try:
            engine = Engine(docker_host)
            addons = Addons(AddonStore(folder / "addons", None, ARCH, MACHINE), Installed(db), engine,
                            Tokens(db, lambda: None, lambda key: False), folder, ARCH, MACHINE)
            addons.load()
            assert addons.uninstall("local_echo") is True
            engine.close()
        finally:
            db.close()
        with agent.client() as client:
            assert client.get("/supervisor/info", headers={"X-HASSIO-KEY": env["HASSIO_TOKEN"]}).status_code == 403
    finally:
        agent.stop()
        running = container(docker_client, "local_echo")
        if running is not None:
            running.remove(force=True)


def test_image_pulled_from_a_registry(rig: Rig, docker_client: Any, request: pytest.FixtureRequest) -> None:
    """An image the engine lacks is pulled as `<image>:<version>` (the tests' registry on
    127.0.0.1), tagged latest, and both tags go with the uninstall."""
    hub: Registry = request.getfixturevalue("registry")
    image = image_addon(docker_client, "pvtest/{arch}-addon-pulled", "4.0", registry=hub)
    write_addon(rig.local, "pulled", {**ECHO, "slug": "pulled", "version": "4.0", "image": image})
    addons = rig.addons
    addons.load()
    name = image.replace("{arch}", ARCH)
    assert docker_client.images.list(name=name) == []
    assert addons.install("local_pulled") is True
    assert {f"{name}:4.0", f"{name}:latest"} <= set(docker_client.images.get(f"{name}:latest").tags)
    assert addons.start("local_pulled") is True
    wait_for(lambda: logs_contain(rig, "local_pulled", b"started 4.0\n"), 20, "the pulled image's output")
    assert addons.uninstall("local_pulled") is True
    assert docker_client.images.list(name=name) == []
    shutil.rmtree(rig.local / "pulled")
    addons.load()
