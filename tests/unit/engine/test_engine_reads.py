"""Reading the engine: containers removed mid-read are skipped; numbers as the legacy JSON wrote them."""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Any

import docker.errors
import pytest
import requests

from handlers.docker import Engine
from handlers.engine.apps import inspect_supervised
from handlers.errors import EngineUnavailable


def not_found(container_id: str) -> docker.errors.NotFound:
    response = requests.Response()
    response.status_code = 404
    return docker.errors.NotFound(f"No such container: {container_id}", response=response)


class Api:
    def __init__(self, listed: dict[str, list[str]], gone: set[str], broken: set[str] = frozenset()) -> None:
        self.listed, self.gone, self.broken = listed, gone, broken
        self.inspected: list[str] = []

    def containers(self, all: bool, filters: dict[str, str]) -> list[dict[str, str]]:  # noqa: A002
        assert all
        return [{"Id": cid} for cid in self.listed.get(filters["label"], [])]

    def inspect_container(self, cid: str) -> dict[str, Any]:
        self.inspected.append(cid)
        if cid in self.gone:
            raise not_found(cid)
        if cid in self.broken:
            response = requests.Response()
            response.status_code = 500
            raise docker.errors.APIError("engine failed", response=response)
        return {"Id": cid}


class Client:
    def __init__(self, api: Api) -> None:
        self.api = api


def test_removed_containers_are_skipped_and_each_is_inspected_once() -> None:
    api = Api({"io.balena.supervised": ["a", "b", "c"], "io.resin.supervised": ["a", "d"]}, gone={"b"})
    # io.resin.* containers first, as the legacy listWithBothLabels (_.unionBy(legacy, current))
    assert [c["Id"] for c in inspect_supervised(Client(api))] == ["a", "d", "c"]
    assert api.inspected == ["a", "d", "b", "c"]


def test_other_engine_errors_still_raise() -> None:
    api = Api({"io.balena.supervised": ["a"]}, gone=set(), broken={"a"})
    with pytest.raises(docker.errors.APIError):
        inspect_supervised(Client(api))


def test_overall_download_progress_is_a_javascript_number() -> None:
    import orjson

    from handlers.engine.status import js_mean

    assert orjson.dumps([js_mean([40, 60]), js_mean([33, 34]), js_mean([])]) == b"[50,33.5,null]"


def test_images_in_imageid_order_with_the_volatile_entry_first_in_line() -> None:
    """images.getStatus: an object keyed by imageId (so ascending), volatile entries winning."""
    from types import SimpleNamespace

    from handlers.engine.current import Current
    from handlers.engine.images import Downloading
    from handlers.engine.status import Status

    def row(image_id: int, name: str) -> dict[str, Any]:
        return {"name": name, "appId": 1, "serviceId": image_id, "serviceName": f"s{image_id}",
                "imageId": image_id, "releaseId": 1, "dockerImageId": f"sha256:{image_id}"}

    images = SimpleNamespace(
        downloading={"b:2": Downloading("b:2", 1, "s7", 7, 2, progress=40)},
        deleting={(5, "old:1"): row(5, "old:1")},
        rows=lambda: [row(9, "c:1"), row(7, "b:1"), row(5, "old:1"), row(3, "a:1")],
        inspect=lambda name: {"Id": name})
    found = Status(SimpleNamespace(images=images)).images(Current())  # type: ignore[arg-type]
    assert [(i["imageId"], i["status"]) for i in found] == [
        (3, "Downloaded"), (5, "Deleting"), (7, "Downloading"), (9, "Downloaded")]
    assert "dockerImageId" not in found[2]


def test_log_records_pass_only_through_an_open_gate_and_name_target_services() -> None:
    """The legacy local backend: nothing while local mode or SUPERVISOR_LOG_CONTROL is off; a
    container line whose service the target lacks is dropped (serviceNameFromId failed)."""
    from handlers.engine import logs as logs_module

    gate = {"open": False}
    logs = logs_module.Logs(engine=None, service_names={5: "main"}.get, gate=lambda: gate["open"])  # type: ignore[arg-type]
    got: list[dict[str, Any]] = []
    logs._subscribers.append(got.append)  # no followers needed for this
    logs.system("Killing service 'main x'")
    assert got == []
    gate["open"], logs._gate_at = True, -1.0  # re-read at once
    logs.system("Killed service 'main x'")
    logs._emit({"serviceId": 5, "imageId": 11}, True, b"2019-03-11T16:05:34.506Z hello")
    logs._emit({"serviceId": 6, "imageId": 12, "serviceName": "stray"}, True, b"2019-03-11T16:05:34.506Z gone")
    assert [r["message"] for r in got] == ["Killed service 'main x'", "hello"]
    assert list(got[1]) == ["serviceName", "serviceId", "imageId", "isStdout", "timestamp", "message"]


@pytest.mark.parametrize(("address", "reason"), [
    ("unix:///nonexistent/polyvisor-unit/docker.sock", "No such file or directory"),
    ("tcp://127.0.0.1:1", "Connection refused"),  # loopback, nothing listens on port 1
])
def test_an_unreachable_engine_is_named_in_the_error(address: str, reason: str) -> None:
    # the docker SDK's own text buries the address; the legacy dockerode text named the socket
    # (`connect ENOENT /var/run/docker.sock`)
    engine = Engine(address, timeout=5)
    expected = f"^Docker engine unavailable at {re.escape(address)}: {reason}$"
    with pytest.raises(EngineUnavailable, match=expected):
        engine.call(lambda client: client.ping())
    with pytest.raises(EngineUnavailable, match=expected):
        engine.probe(timeout=1)
    assert engine.ping() is False


def test_the_default_engine_address_is_the_sdks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    assert Engine().address == "unix:///var/run/docker.sock"
    monkeypatch.setenv("DOCKER_HOST", "tcp://user:pw@10.0.0.1:2375")
    assert Engine().address == "tcp://***@10.0.0.1:2375"  # for messages: no credentials


def test_an_engine_that_never_answers_times_out_by_name(tmp_path: Path) -> None:
    with socket.socket(socket.AF_UNIX) as silent:  # accepts connections, never answers
        silent.bind(str(tmp_path / "docker.sock"))
        silent.listen(8)
        address = f"unix://{tmp_path}/docker.sock"
        engine = Engine(address, timeout=1)
        named = f"^Docker engine unavailable at {re.escape(address)}: timed out$"
        with pytest.raises(EngineUnavailable, match=named):
            engine.probe(timeout=0.5)
        with pytest.raises(EngineUnavailable, match="timed out$"):
            engine.call(lambda client: client.ping())
