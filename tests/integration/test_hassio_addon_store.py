"""The add-on store on real git (hassio.md §5.2): repositories served by `git daemon` on 127.0.0.1
and as file:// URLs, cloned, pulled and dropped by handlers/homeassistant/addons/store.py; and the
add-ons of tests/integration/addon_repos.py built and run on the private engine."""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from pathlib import Path
from typing import Any

import pytest
from conftest import free_port

from handlers.homeassistant.addons.config import validate_config
from handlers.homeassistant.addons.store import AddonStore
from integration.addon_repos import AddonRepo, GitDaemon, addon_config, git, git_daemon, image_addon
from integration.engine_support import wait_for
from integration.registry import Registry, registry

__all__ = ["git_daemon", "registry"]  # the fixtures, used by name

IMAGE = "pvtest/{arch}-addon-echo"


def rid(url: str) -> str:
    return hashlib.sha1(url.lower().encode()).hexdigest()[:8]


def new_repo(daemon: GitDaemon, **kwargs: Any) -> AddonRepo:
    return AddonRepo.create(daemon.base / f"repo-{uuid.uuid4().hex[:8]}", **kwargs)


def make_store(tmp_path: Path, core_url: str | None = None) -> AddonStore:
    store = AddonStore(tmp_path / "addons", core_url, "amd64", "qemux86-64")
    store.load()
    return store


def test_clone_over_git_daemon(git_daemon: GitDaemon, tmp_path: Path) -> None:
    repo = new_repo(git_daemon)
    repo.add_image_addon("echo", image=IMAGE)
    repo.add_build_addon("builder", base="polyvisor-test/busybox:latest")
    repo.commit("two add-ons")
    url = git_daemon.url(repo)
    store = make_store(tmp_path)
    assert store.set_repositories([url]) == [url]
    ident = rid(url)
    listed = {r.slug: r for r in store.repositories()}
    assert list(listed) == ["local", ident]  # no core repository: core_url is None
    assert (listed[ident].name, listed[ident].source, listed[ident].maintainer) == (
        "Test add-ons", url, "polyvisor tests")
    assert listed[ident].url == "https://example.invalid/addons"
    local = listed["local"]
    assert (local.name, local.source, local.maintainer) == ("Local add-ons", None, "you")
    echo, builder = store.get(f"{ident}_echo"), store.get(f"{ident}_builder")
    assert echo is not None and builder is not None
    assert (echo.build, echo.image("amd64"), echo.version) == (False, "pvtest/amd64-addon-echo", "1.0")
    assert (builder.build, builder.image("amd64")) == (True, f"{ident}/amd64-addon-builder")
    assert builder.config["location"] == str(tmp_path / "addons" / "git" / ident / "builder")
    assert builder.config["repository"] == ident and store.available(builder)
    # shallow, and nothing but the clone itself in git/
    assert git("rev-parse", "--is-shallow-repository", cwd=builder.path.parent).strip() == "true"
    assert sorted(p.name for p in (tmp_path / "addons" / "git").iterdir()) == [ident]
    # a second call with the same list clones nothing again
    head = (builder.path.parent / ".git" / "HEAD").stat().st_mtime_ns
    assert store.set_repositories([url]) == [url]
    assert (builder.path.parent / ".git" / "HEAD").stat().st_mtime_ns == head


def test_reload_follows_a_new_commit_upstream(git_daemon: GitDaemon, tmp_path: Path) -> None:
    repo = new_repo(git_daemon)
    repo.add_image_addon("echo", image=IMAGE)
    repo.commit("1.0")
    url = git_daemon.url(repo)
    store = make_store(tmp_path)
    store.set_repositories([url])
    clone = tmp_path / "addons" / "git" / rid(url)
    (clone / "stray.txt").write_text("left by someone")  # clean -xdf removes it
    (clone / "echo" / "config.json").write_text("{}")  # reset --hard restores it
    repo.add_image_addon("echo", image=IMAGE, version="1.1")
    repo.add_image_addon("second", image=IMAGE)
    head = repo.commit("1.1 and a second add-on")
    store.reload()
    assert git("rev-parse", "HEAD", cwd=clone).strip() == head
    assert not (clone / "stray.txt").exists()
    addon = store.get(f"{rid(url)}_echo")
    assert addon is not None and addon.version == "1.1"
    assert store.get(f"{rid(url)}_second") is not None


def test_a_branch_after_the_hash(git_daemon: GitDaemon, tmp_path: Path) -> None:
    repo = new_repo(git_daemon)
    repo.add_image_addon("stable", image=IMAGE)
    repo.commit("on master")
    repo.branch("beta-1")
    repo.add_image_addon("preview", image=IMAGE, version="2.0b1")
    repo.commit("on beta")
    repo.checkout("master")
    url = git_daemon.url(repo) + "#beta-1"
    store = make_store(tmp_path)
    assert store.set_repositories([url]) == [url]
    ident = rid(url)
    assert ident != rid(git_daemon.url(repo))  # the id is of the whole URL, branch included
    assert {a.slug for a in store.addons()} == {f"{ident}_stable", f"{ident}_preview"}
    repo.checkout("beta-1")
    repo.add_image_addon("preview", image=IMAGE, version="2.0b2")
    repo.commit("beta 2")
    store.reload()
    addon = store.get(f"{ident}_preview")
    assert addon is not None and addon.version == "2.0b2"
    assert git("rev-parse", "--abbrev-ref", "HEAD", cwd=addon.path.parent).strip() == "beta-1"


def test_a_repository_without_repository_json_is_ignored(git_daemon: GitDaemon, tmp_path: Path,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    repo = new_repo(git_daemon, name=None)
    repo.add_image_addon("hidden", image=IMAGE)
    repo.commit("no repository.json")
    url = git_daemon.url(repo)
    store = make_store(tmp_path)
    with caplog.at_level(logging.WARNING, "polyvisor.hassio.addons"):
        assert store.set_repositories([url]) == [url]  # cloned, as 138 did
    assert not store.addons()
    # 138 listed the repository itself, unnamed, with none of its add-ons
    listed = store.repository(rid(url))
    assert listed is not None and (listed.name, listed.maintainer, listed.url) == ("unknown", "unknown", url)
    assert "Can't read repository information from" in caplog.text
    assert str(tmp_path / "addons" / "git" / rid(url) / "repository.json") in caplog.text


def test_an_unreachable_url_is_left_out(git_daemon: GitDaemon, tmp_path: Path,
                                        caplog: pytest.LogCaptureFixture) -> None:
    repo = new_repo(git_daemon)
    repo.add_image_addon("echo", image=IMAGE)
    repo.commit()
    good = git_daemon.url(repo)
    port = free_port()
    closed = f"git://user:secret@127.0.0.1:{port}/nothing"  # the password is never logged
    missing = git_daemon.url(git_daemon.base / "no-such-repository")
    github = "https://github.com/hassio-addons/repository"  # refused by git here: OFFLINE_GIT
    store = make_store(tmp_path)
    with caplog.at_level(logging.ERROR, "polyvisor.hassio.addons"):
        assert store.set_repositories([closed, good, missing, github, "not a url#bad branch"]) == [good]
    for url in (f"git://***@127.0.0.1:{port}/nothing", missing, github):
        assert f"Can't load from repository {url}" in caplog.text
    assert "Traceback" not in caplog.text and "secret" not in caplog.text
    # nothing half-made: only the good clone, no temporary folder
    assert sorted(p.name for p in (tmp_path / "addons" / "git").iterdir()) == [rid(good)]
    assert [r.slug for r in store.repositories()] == ["local", rid(good)]


def test_invalid_config_json_is_skipped(git_daemon: GitDaemon, tmp_path: Path,
                                        caplog: pytest.LogCaptureFixture) -> None:
    repo = new_repo(git_daemon)
    repo.add_image_addon("good", image=IMAGE)
    repo.add_addon("nostartup", addon_config("nostartup", startup=None))
    repo.add_addon("badport", addon_config("badport", ports={"80/tcp": 70000}))
    repo.write("broken/config.json", "{not json")
    repo.add_addon("deep", addon_config("deep"), folder="nested/deeper/deep")
    repo.commit("good and bad")
    url = git_daemon.url(repo)
    store = make_store(tmp_path)
    with caplog.at_level(logging.WARNING, "polyvisor.hassio.addons"):
        store.set_repositories([url])
    ident = rid(url)
    assert {a.slug for a in store.addons()} == {f"{ident}_good", f"{ident}_deep"}
    clone = tmp_path / "addons" / "git" / ident
    assert f"Can't read {clone / 'nostartup' / 'config.json'}: required key not provided @ data['startup']" \
        in caplog.text
    assert f"Can't read {clone / 'badport' / 'config.json'}: value must be at most 65535" in caplog.text
    assert f"Can't read {clone / 'broken' / 'config.json'}" in caplog.text


def test_local_repository_add_ons(tmp_path: Path) -> None:
    (tmp_path / "addons" / "git" / ".a0d7b954.clone-0123abcd" / ".git").mkdir(parents=True)  # a kill -9
    (tmp_path / "addons" / ".core.clone-0123abcd").mkdir()
    store = make_store(tmp_path)
    assert sorted(p.name for p in (tmp_path / "addons").rglob("*")) == ["git", "local"]
    local = tmp_path / "addons" / "local"
    assert local.is_dir() and (tmp_path / "addons" / "git").is_dir()
    assert store.addons() == []
    (local / "mine").mkdir()
    (local / "mine" / "config.json").write_text(json.dumps(addon_config("mine", startup="before", extra=1)))
    (local / "mine" / "secret").symlink_to("/etc")  # never followed
    store.load()
    addon = store.get("local_mine")
    assert addon is not None and addon.repository == "local"
    assert addon.config["startup"] == "services" and "extra" not in addon.config
    assert (addon.build, addon.image("aarch64")) == (True, "local/aarch64-addon-mine")
    (local / "mine" / "config.json").write_text(json.dumps(addon_config("mine", machine=["raspberrypi3"],
                                                                                   arch=["amd64"])))
    store.load()
    addon = store.get("local_mine")
    assert addon is not None and not store.available(addon)  # qemux86-64 is not in its machine list
    assert addon.available("amd64", "raspberrypi3") and not addon.available("armhf", "raspberrypi3")


def test_dropped_repositories_are_removed_and_core_comes_from_its_url(git_daemon: GitDaemon,
                                                                      tmp_path: Path) -> None:
    core, custom = new_repo(git_daemon), new_repo(git_daemon)
    core.add_image_addon("ssh", image=IMAGE)
    core.commit("core")
    custom.add_image_addon("echo", image=IMAGE)
    custom.commit("custom")
    url = custom.file_url
    store = make_store(tmp_path, core_url=core.file_url)
    assert store.addons() == []  # load() clones nothing
    assert store.set_repositories([url]) == [url]
    assert [r.slug for r in store.repositories()] == ["core", "local", rid(url)]
    core_repo = store.repository("core")
    assert core_repo is not None and (core_repo.name, core_repo.source) == ("Official add-ons", None)
    assert {a.slug for a in store.addons()} == {"core_ssh", f"{rid(url)}_echo"}
    # after a restart, load() reads what is on disk without git
    again = make_store(tmp_path, core_url=core.file_url)
    assert {a.slug for a in again.addons()} == {"core_ssh", f"{rid(url)}_echo"}
    assert again.set_repositories([]) == []
    assert not (tmp_path / "addons" / "git" / rid(url)).exists()
    assert {a.slug for a in again.addons()} == {"core_ssh"}
    # core switched off: not listed, not read
    off = make_store(tmp_path, core_url="")
    assert [r.slug for r in off.repositories()] == ["local"] and off.addons() == []


def test_the_test_add_ons_build_and_run(docker_client: Any, busybox_image: str, tmp_path: Path,
                                        registry: Registry) -> None:
    """addon_repos' two kinds on the private engine: the imported image and the Dockerfile build;
    and the image pushed to the tests' registry and pulled back."""
    repo = AddonRepo.create(tmp_path / "repo")
    image_addon(docker_client, IMAGE, "1.0")
    pushed = image_addon(docker_client, IMAGE, "2.0", registry=registry)
    assert pushed == f"{registry.address}/{IMAGE}"
    assert validate_config(addon_config("echo", image=pushed))["image"] == pushed  # 138's image pattern
    docker_client.images.pull(pushed.replace("{arch}", "amd64"), tag="2.0")
    folder = repo.add_build_addon("builder", base=busybox_image)
    repo.commit()
    args = {"BUILD_VERSION": "1.0", "BUILD_ARCH": "amd64"}
    built, _ = docker_client.images.build(path=str(folder), tag="local/amd64-addon-builder:1.0", pull=False,
                                          forcerm=True, buildargs=args)
    try:
        runs = [("pvtest/amd64-addon-echo:1.0", b"started 1.0"), (built.id, b"started 1.0"),
                (f"{registry.address}/pvtest/amd64-addon-echo:2.0", b"started 2.0")]
        for image, line in runs:
            container = docker_client.containers.run(image, detach=True, network_mode="none")

            def started(c: Any = container, expected: bytes = line) -> bool:
                return expected in c.logs()

            try:
                wait_for(started, timeout=30, what=f"{image} started")
            finally:
                container.remove(force=True)
    finally:
        docker_client.images.remove("local/amd64-addon-builder:1.0", force=True)
        docker_client.images.remove("pvtest/amd64-addon-echo:1.0", force=True)
        docker_client.images.remove(f"{registry.address}/pvtest/amd64-addon-echo:2.0", force=True)


def test_git_failures_are_domain_errors_with_gits_message_logged(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    from handlers.homeassistant.addons import git as git_module

    target = tmp_path / "clone"
    repo = git_module.GitRepository(target, (tmp_path / "nowhere").as_uri())
    with caplog.at_level(logging.ERROR, "polyvisor.hassio.addons"), pytest.raises(git_module.GitError):
        repo.clone()
    assert "git clone failed (exit 128)" in caplog.text
    assert "does not appear to be a git repository" in caplog.text  # git's own message
    assert not target.exists() and list(tmp_path.iterdir()) == []  # no temporary folder left
    # a server that accepts and never answers: the timeout kills git and its helpers
    import socket

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        monkeypatch.setattr(git_module, "CLONE_TIMEOUT", 1.0)
        hanging = git_module.GitRepository(target, f"git://127.0.0.1:{silent.getsockname()[1]}/x")
        with pytest.raises(git_module.GitError, match="timed out"):
            hanging.clone()
    assert not target.exists() and list(tmp_path.iterdir()) == []
    monkeypatch.setenv("PATH", str(tmp_path))  # no git binary
    with pytest.raises(git_module.GitError, match="cannot run"):
        git_module.GitRepository(target, "git://127.0.0.1:9/x").clone()
