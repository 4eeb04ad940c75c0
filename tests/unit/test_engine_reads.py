"""Reading the engine: containers removed mid-read are skipped; numbers as the legacy JSON wrote them."""

from __future__ import annotations

from typing import Any

import docker.errors
import pytest
import requests

from handlers.apps import inspect_supervised


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

    from handlers.status import js_mean

    assert orjson.dumps([js_mean([40, 60]), js_mean([33, 34]), js_mean([])]) == b"[50,33.5,null]"
