"""Image housekeeping on a managed device (balena-v2.md 3.2 step 2), on the real dockerd and registry:
images no container and no target service uses are removed with their records, dangling images are
cleaned up, and a local-mode device keeps everything."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker.errors

from integration.components import busybox_rootfs
from integration.engine_support import converged, managed, post_target, service, target, wait_for
from integration.registry import Registry, registry  # noqa: F401 - the fixture


def present(client: Any, name: str) -> bool:
    try:
        client.images.get(name)
        return True
    except docker.errors.ImageNotFound:
        return False


def dangling_image(client: Any) -> str:
    """An image that lost its only tag to a newer import: untagged, without digests."""
    for marker in ("1", "2"):
        client.api.import_image_from_data(busybox_rootfs(), repository="pv-housekeeping", tag="moving",
                                          changes=[f"ENV D={marker}"])
        if marker == "1":
            first = client.images.get("pv-housekeeping:moving").id
    client.images.remove("pv-housekeeping:moving")
    image = client.images.get(first)
    assert image.tags == [] and not image.attrs.get("RepoDigests")
    return str(first)


def test_unused_and_dangling_images_are_removed_on_a_managed_device(
        start_agent: Callable[..., Any], clean_engine: Any, registry: Registry, tmp_path: Path) -> None:  # noqa: F811
    a1, a2 = (registry.push(clean_engine, "pv/hka", tag, f"hka-{tag}") for tag in ("v1", "v2"))
    b1 = registry.push(clean_engine, "pv/hkb", "v1", "hkb-v1")
    dangling = dangling_image(clean_engine)
    source = tmp_path / "target.json"

    def publish(a: str, release: int) -> None:
        services = {1: service("a", 10 + release, a), 2: service("b", 20, b1)}
        source.write_text(json.dumps(managed(services, f"h{release}", release=release)))

    publish(a1, 1)
    agent = start_agent(args=["--target-url", source.as_uri(), "--log-level", "info"])
    wait_for(converged(agent, 2, "h1"), 120, "release 1")
    wait_for(lambda: not present(clean_engine, dangling), 30, "the dangling image cleaned up")
    assert present(clean_engine, a1) and present(clean_engine, b1)

    publish(a2, 2)
    wait_for(converged(agent, 2, "h2"), 120, "release 2")
    wait_for(lambda: not present(clean_engine, a1), 30, "the image release 2 no longer uses removed")
    assert present(clean_engine, a2) and present(clean_engine, b1)  # in use: kept
    log = agent.log.read_text(errors="replace")
    assert f"Deleting image '{a1}'" in log and f"Deleted image '{a1}'" in log
    assert f"Deleted image '{b1}'" not in log

    agent.stop()
    # the records went with the image: a restarted agent does not try again, and keeps what is used
    agent = start_agent(args=["--target-url", source.as_uri()])
    wait_for(converged(agent, 2, "h2"), 60, "release 2 after a restart")
    assert present(clean_engine, a2) and present(clean_engine, b1)


def test_local_mode_keeps_old_images(start_agent: Callable[..., Any], clean_engine: Any,
                                     registry: Registry) -> None:  # noqa: F811
    c1, c2 = (registry.push(clean_engine, "pv/hkc", tag, f"hkc-{tag}") for tag in ("v1", "v2"))
    for image in (c1, c2):  # local mode never pulls: the images are on the device (balena push builds them)
        clean_engine.images.pull(image)
    dangling = dangling_image(clean_engine)
    agent = start_agent()
    post_target(agent, target({1: service("c", 31, c1)}, release=1, commit="l1"))
    wait_for(converged(agent, 1, "l1"), 120, "release 1")
    post_target(agent, target({1: service("c", 32, c2)}, release=2, commit="l2"))
    wait_for(converged(agent, 1, "l2"), 120, "release 2")
    assert present(clean_engine, c1) and present(clean_engine, dangling)  # ignoreImages in local mode, as legacy
    clean_engine.images.remove(dangling)
