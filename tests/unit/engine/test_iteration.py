"""One iteration of the apply loop: one image list for every image check, and when it pauses."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import docker.errors
import requests

from handlers.engine.images import Images
from handlers.engine.pacing import NOOP_PAUSE, PAUSE, RUSH, Pacing
from handlers.engine.steps import Step

BUSYBOX = "sha256:" + "b" * 64
ALPINE = "sha256:" + "a" * 64
LISTED: list[dict[str, Any]] = [{"Id": BUSYBOX, "RepoTags": ["busybox:latest", "mirror/busybox:1"], "RepoDigests": None},
          {"Id": ALPINE, "RepoTags": ["<none>:<none>"], "RepoDigests": ["alpine@sha256:" + "d" * 64]}]


class Api:
    """The image calls of the SDK's APIClient, counting them."""

    def __init__(self, listed: list[dict[str, Any]]) -> None:
        self.listed = listed
        self.calls: list[str] = []

    def images(self, all: bool) -> list[dict[str, Any]]:
        self.calls.append("list")
        return self.listed

    def inspect_image(self, name: str) -> dict[str, Any]:
        self.calls.append(name)
        aliases = {"docker.io/library/busybox:latest": BUSYBOX}  # a name docker resolves, the list spells otherwise
        for image in self.listed:
            if image["Id"] in (name, aliases.get(name)):
                return {"Id": image["Id"], "Config": {"Cmd": ["sh"]}}
        response = requests.Response()
        response.status_code = 404
        raise docker.errors.ImageNotFound(f"No such image: {name}", response=response)


class Engine:
    def __init__(self, api: Api) -> None:
        self.client = SimpleNamespace(api=api)

    def call(self, action: Any) -> Any:
        return action(self.client)


def test_one_list_per_iteration_and_one_inspect_per_image_id() -> None:
    api = Api(LISTED)
    images = Images(Engine(api), store=None, logs=None)  # type: ignore[arg-type]
    find = images.lookup(images.listed())
    assert find("busybox:latest") == {"Id": BUSYBOX, "Config": {"Cmd": ["sh"]}}
    assert find("mirror/busybox:1")["Id"] == BUSYBOX  # type: ignore[index]
    assert find("alpine@sha256:" + "d" * 64)["Id"] == ALPINE  # type: ignore[index]
    assert api.calls == ["list", BUSYBOX, ALPINE]
    # the next iteration: one list, no inspect (an image id's content never changes)
    api.calls.clear()
    find = images.lookup(images.listed())
    assert find(BUSYBOX)["Id"] == BUSYBOX  # type: ignore[index]
    assert find("busybox:latest")["Id"] == BUSYBOX  # type: ignore[index]
    assert api.calls == ["list"]


def test_names_the_list_spells_otherwise_are_inspected_and_gone_images_forgotten() -> None:
    api = Api(LISTED)
    images = Images(Engine(api), store=None, logs=None)  # type: ignore[arg-type]
    find = images.lookup(images.listed())
    assert find("docker.io/library/busybox:latest")["Id"] == BUSYBOX  # type: ignore[index]
    assert find("missing:latest") is None
    assert api.calls == ["list", "docker.io/library/busybox:latest", "missing:latest"]
    find("busybox:latest")
    api.listed = LISTED[1:]  # busybox removed behind the agent's back
    api.calls.clear()
    find = images.lookup(images.listed())
    assert find("busybox:latest") is None
    assert api.calls == ["list", "busybox:latest"]
    api.listed = LISTED  # pulled again: inspected again
    api.calls.clear()
    images.lookup(images.listed())("busybox:latest")
    assert api.calls == ["list", BUSYBOX]


def test_an_iteration_that_made_progress_is_followed_at_once() -> None:
    pacing = Pacing()
    assert pacing.after([Step("createNetwork", 1, name="1_default")], api_waiting=False) == 0.0
    assert pacing.after([Step("start", 1, name="main")], api_waiting=False) == 0.0
    assert pacing.after([Step("updateCommit", name="r1")], api_waiting=False) == 0.0


def test_it_pauses_when_waiting_repeating_rushing_or_asked_to() -> None:
    pacing = Pacing()
    assert pacing.after([Step("noop", 1, name="main")], api_waiting=False) == NOOP_PAUSE
    kill = [Step("kill", 1, name="main_1_1")]
    assert pacing.after(kill, api_waiting=False) == 0.0
    assert pacing.after(kill, api_waiting=False) == PAUSE  # a kill that failed quietly is inferred again
    assert pacing.after(kill, api_waiting=False) == PAUSE
    pacing = Pacing()
    waits = [pacing.after([Step("start", 1, name=f"s{i}")], api_waiting=False) for i in range(RUSH + 1)]
    assert waits == [0.0] * RUSH + [PAUSE]
    assert pacing.after([Step("start", 1, name="other")], api_waiting=True) == PAUSE  # an API action waits
