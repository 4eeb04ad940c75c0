"""scripts/fleet-sim on a small fleet: Debian's nginx, 20 devices running the agent's own
TargetSource, a tiny interval. The figures are checked for sense, never for speed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "fleet-sim"


def fleet_sim(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, check=False)


@pytest.fixture(scope="module")
def figures() -> dict[str, Any]:
    done = fleet_sim("--devices", "20", "--interval", "0.5", "--idle", "2", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert len(report["results"]) == 1
    return dict(report["results"][0]) | {"netns": report["netns"]}


def test_every_group_device_fetched_the_change(figures: dict[str, Any]) -> None:
    assert "not_held" not in figures
    change = figures["change"]
    assert figures["group_devices"] == 19 and figures["own_devices"] == 1  # device 0 has its own document
    assert change["fetched"] == change["of"] == 19
    assert 0 < change["p50_s"] <= change["p99_s"] <= change["p100_s"]
    assert change["own_devices_changed"] == 0
    assert change["full_fetch_body_bytes"] > 0
    assert figures["fetch_errors"] == 0, figures["first_errors"]


def test_idle_polls_are_all_304(figures: dict[str, Any]) -> None:
    idle = figures["idle"]
    assert idle["requests"] > 0
    assert set(idle["statuses"]) == {"304"}
    assert sum(idle["per_second"]) <= idle["requests"]
    assert 100 < idle["request_bytes_per_poll"] < 1000 and 100 < idle["response_bytes_per_poll"] < 1000
    assert idle["nginx_cpu_s"] >= 0 and idle["sim_cpu_s"] > 0
    if figures["netns"]:  # TCP/IP adds to the HTTP bytes: headers, handshake and close
        assert idle["ip_bytes_per_poll"] > idle["request_bytes_per_poll"] + idle["response_bytes_per_poll"]
        assert idle["ip_packets_per_poll"] >= 2
    assert max(figures["provision"]["per_second"]) > 0 and sum(figures["reboot"]["per_second"]) > 0


@pytest.mark.parametrize("args, message", [
    (["--devices", "0"], "must be more than 0: '0'"),
    (["--devices", "ten"], "not a number: 'ten'"),
    (["--interval", "-1"], "must be more than 0: '-1'"),
])
def test_bad_input_is_one_line(args: list[str], message: str) -> None:
    done = fleet_sim(*args, timeout=30)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr
