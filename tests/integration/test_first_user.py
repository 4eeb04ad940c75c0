"""What a first-time user meets, on real agent processes: the key, the access log, the start-up report."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from integration.components import NO_BUS, NO_ENGINE
from integration.processes import wait_until

REPO = Path(__file__).resolve().parents[2]
KEY = "firstuserkey_0123456789"


def api_key_command(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`python app.py api-key ARGS`, with no POLYVISOR_* variables but the given ones."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("POLYVISOR_")}
    return subprocess.run([sys.executable, str(REPO / "app.py"), "api-key", *args], capture_output=True,
                          text=True, timeout=60, check=False, env={**environ, **(env or {})})


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Name -> (size, mtime in ns) of the database's files (the agent makes its RSA key meanwhile)."""
    files = sorted(folder.glob("polyvisor.sqlite*"))
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in files}


def log_lines(agent: Any, pattern: str, timeout: float = 10.0) -> list[str]:
    """The agent's log lines matching `pattern`, once there is at least one."""
    found: list[str] = []

    def check() -> bool:
        found[:] = [line for line in agent.log.read_text().splitlines() if re.search(pattern, line)]
        return bool(found)

    wait_until(check, timeout, f"a log line matching {pattern!r}", agent.process, agent.log)
    return found


def access_lines(agent: Any) -> list[str]:
    """The access log lines so far, without their time stamp: `LEVEL polyvisor.access: ...`."""
    lines = agent.log.read_text().splitlines()
    return [line.split(" ", 2)[2] for line in lines if " polyvisor.access: " in line]


def test_api_key_command_reads_the_key_of_a_running_agent(start_agent: Callable[..., Any],
                                                          tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    none_yet = api_key_command("--data-dir", str(empty))
    assert none_yet.returncode == 1 and none_yet.stdout == ""
    assert "start the agent once" in none_yet.stderr and "--api-key" in none_yet.stderr
    assert not empty.exists(), "the command made the data folder"

    agent = start_agent(api_key=None, docker_host=None, dbus_address=None)  # the agent makes a key
    before = snapshot(agent.data_dir)
    by_flag = api_key_command("--data-dir", str(agent.data_dir))
    by_env = api_key_command(env={"POLYVISOR_DATA_DIR": str(agent.data_dir)})
    assert by_flag.returncode == 0, by_flag.stderr
    assert by_flag.stdout == by_env.stdout == f"{agent.key}\n" and len(agent.key) == 62
    assert snapshot(agent.data_dir) == before  # read alongside the agent (WAL), nothing written

    # the printed key opens both dialects that take it: balena's header or ?apikey=, hassio's X-HASSIO-KEY
    printed = by_flag.stdout.strip()
    assert agent.get("/v2/version", key=printed).status_code == 200
    assert agent.get("/v2/version", key=None, params={"apikey": printed}).status_code == 200
    assert agent.get("/v2/version", key="wrong").status_code == 401
    assert agent.get("/supervisor/info", key=None, headers={"X-HASSIO-KEY": printed}).json()["result"] == "ok"
    assert agent.get("/supervisor/info", key=None, headers={"X-HASSIO-KEY": "wrong"}).text == "403: Forbidden"

    agent.stop()
    stopped = snapshot(agent.data_dir)
    assert api_key_command("--data-dir", str(agent.data_dir)).stdout == f"{agent.key}\n"
    assert snapshot(agent.data_dir) == stopped  # no -wal or -shm left behind by the reader
    assert agent.key not in agent.log.read_text()


def test_access_log_masks_keys_at_every_level(start_agent: Callable[..., Any]) -> None:
    debug = start_agent(api_key=KEY, docker_host=None, dbus_address=None, args=["--log-level", "debug"])
    assert debug.get("/ping", key=None, params={"first": "1"}).status_code == 200
    assert debug.get("/v2/version", key=None, params={"apikey": KEY, "x": "1"}).status_code == 200
    assert debug.get("/v2/version").status_code == 200  # Authorization: ApiKey <key>
    assert debug.get("/v2/version", key=None, params={"apikey": "not" + KEY}).status_code == 401
    assert debug.get("/gosd/api/v2/ok", key=None, params={"token": KEY}).status_code == 200
    assert debug.get("/api/ping", key=None, headers={"Cookie": f"jwt={KEY}"}).status_code == 200
    assert debug.get("/v1/apps/12").status_code == 503  # no engine
    log_lines(debug, r"polyvisor\.access: GET /v1/apps/12 ")  # the last request's line is out
    timing = r" - \d+\.\d{3} ms$"
    lines = access_lines(debug)
    assert all(re.search(timing, line) for line in lines), lines
    # a line goes out once its answer is sent: the fixture's readiness pings may come later, and
    # the order of lines may differ from the order of answers
    access = [re.sub(timing, "", line) for line in lines]
    ours = sorted(line for line in access if line != "DEBUG polyvisor.access: GET /ping 200")
    assert ours == sorted([
        "DEBUG polyvisor.access: GET /ping?first=1 200",
        "DEBUG polyvisor.access: GET /v2/version?apikey=***&x=1 200",
        "DEBUG polyvisor.access: GET /v2/version 200",
        "INFO polyvisor.access: GET /v2/version?apikey=*** 401",
        "DEBUG polyvisor.access: GET /gosd/api/v2/ok?token=*** 200",
        "DEBUG polyvisor.access: GET /api/ping 200",
        "INFO polyvisor.access: GET /v1/apps/12 503",
    ])
    assert "DEBUG polyvisor.access: GET /ping 200" in access  # the fixture's readiness checks
    assert KEY not in debug.log.read_text()  # nor in any other line, debug ones included

    info = start_agent(api_key=KEY, docker_host=None, dbus_address=None,
                       data_dir=debug.data_dir.parent / "d2")
    assert info.get("/ping", key=None).status_code == 200
    assert info.get("/v2/version", key=None, params={"apikey": "wrong"}).status_code == 401
    log_lines(info, r"polyvisor\.access: ")
    logged = [re.sub(timing, "", line) for line in access_lines(info)]
    assert logged == ["INFO polyvisor.access: GET /v2/version?apikey=*** 401"]  # /ping: debug only


def test_start_up_report_names_what_does_not_answer(start_agent: Callable[..., Any], host_root: Path) -> None:
    target = "https://user:pw-secret@127.0.0.1:1/target?token=tok-secret"
    agent = start_agent(api_key=KEY, docker_host=None, dbus_address=None, args=["--target-url", target])
    described = log_lines(agent, r"INFO polyvisor: polyvisor \S+: data folder")
    assert described[0].split("INFO polyvisor: ", 1)[1].split(": ", 1)[1] == (
        f"data folder {agent.data_dir}, root {host_root}, dialects balena, hassio, gosd, platform, "
        "balena profile v10, target URL https://***@127.0.0.1:1/target?token=***")
    assert log_lines(agent, r"INFO polyvisor: serving balena, hassio, gosd, platform on 127\.0\.0\.1:\d+$")
    engine = log_lines(agent, r"WARNING polyvisor: Docker engine unavailable at ")
    assert engine[0].endswith(f"at {NO_ENGINE}: No such file or directory; serving on without it: "
                              "the routes that need it answer errors until it is back")
    bus = log_lines(agent, r"WARNING polyvisor: D-Bus unavailable at ")
    assert f"at {NO_BUS}: [Errno 2] No such file or directory; serving on without it" in bus[0]
    # the agent goes on, and the error of a route that needs the engine names the socket
    assert agent.get("/ping", key=None).status_code == 200
    response = agent.get("/v1/apps/12")
    named = f"Docker engine unavailable at {NO_ENGINE}: No such file or directory"
    assert (response.status_code, response.text) == (503, named)
    text = agent.log.read_text()
    assert "pw-secret" not in text and "tok-secret" not in text and KEY not in text


def test_start_up_report_with_engine_and_bus(start_agent: Callable[..., Any], docker_host: str,
                                             system_bus: str) -> None:
    agent = start_agent(api_key=KEY)
    engine = log_lines(agent, r"INFO polyvisor: Docker engine at ")
    assert re.search(rf"at {re.escape(docker_host)} answered: version \d+\.\S+, API 1\.\d+$", engine[0])
    bus = log_lines(agent, r"INFO polyvisor: D-Bus at ")
    assert bus[0].endswith(f"D-Bus at {system_bus} answered, with logind, hostnamed, systemd")
    assert "WARNING" not in agent.log.read_text()


def test_gosuper_alone_probes_no_engine(start_agent: Callable[..., Any], tmp_path: Path) -> None:
    """The Go helper's API uses D-Bus only: no warning about an engine it never needs."""
    path = tmp_path / "gosuper.sock"
    agent = start_agent(listen=f"unix:{path}", args=["--dialects", "gosuper"], docker_host=None,
                        env={"GOSUPER_SOCKET": str(path)})
    assert log_lines(agent, r"INFO polyvisor: D-Bus at .* answered")
    assert log_lines(agent, r"INFO polyvisor: polyvisor \S+: .* dialects gosuper, ")
    assert "Docker engine" not in agent.log.read_text()
