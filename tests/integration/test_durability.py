"""kill -9 loses nothing the agent answered for: keys survive, the database stays sound."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from integration.engine_support import integrity


def test_generated_key_survives_kill_9(start_agent: Callable[..., Any], tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = start_agent(api_key=None, data_dir=data)
    key = first.key
    assert key and re.fullmatch(r"[0-9a-f]{62}", key)
    assert first.get("/v1/device").status_code == 200
    first.kill()
    assert integrity(data) == "ok"

    second = start_agent(api_key=None, data_dir=data)
    assert second.key == key
    assert second.get("/v1/device").status_code == 200
    assert second.get("/v1/device", key="0" * 62).status_code == 401
    second.kill()
    assert integrity(data) == "ok"


def test_regenerated_key_survives_kill_9(start_agent: Callable[..., Any], tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = start_agent(api_key=None, data_dir=data)
    with first.client() as client:
        response = client.post("/v1/regenerate-api-key", headers={"Authorization": f"ApiKey {first.key}"})
    assert response.status_code == 200, response.text
    new_key = response.text
    assert new_key != first.key
    first.kill()  # at once after the answer: the new key must already be on disk
    assert integrity(data) == "ok"

    second = start_agent(api_key=None, data_dir=data)
    assert second.key == new_key
    assert second.get("/v1/device").status_code == 200
    assert second.get("/v1/device", key=first.key).status_code == 401
