"""The hassio foundation's tokens through the API (hassio.md §2): Home Assistant's token, the
host's machine-id, the agent's API key and add-on tokens with their roles; `polyvisor
hassio-token` and the --hassio-token / HASSIO_TOKEN provisioning."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import app
from tests.api.hassio_support import Hassio, HassioAgents, hassio_agents_fixture, hassio_fixture  # noqa: F401
from tests.api.support import API_KEY, MACHINE_ID, Agents

FORBIDDEN = b"403: Forbidden"


def tokens(agent: Hassio) -> dict[str, str]:
    """One token of each kind (the add-on's with the manager role)."""
    return {"homeassistant": agent.services.hassio_tokens.homeassistant_token(), "host": MACHINE_ID,
            "operator": API_KEY, "addon": agent.addon("manager_addon", "manager")}


def test_every_kind_of_token_is_let_in(hassio: Hassio) -> None:
    for kind, token in tokens(hassio).items():
        response = hassio.call("GET", "/supervisor/info", token=token)
        assert response.status_code == 200, kind


def test_home_assistants_token_is_made_once_and_kept(hassio_agents: HassioAgents) -> None:
    first = hassio_agents.start()
    token = first.services.hassio_tokens.homeassistant_token()
    assert re.fullmatch(r"[0-9a-f]{64}", token)
    again = hassio_agents.start(data_dir=first.agent.data_dir)
    assert again.call("GET", "/supervisor/info", token=token).status_code == 200


@pytest.mark.parametrize("token", ["", None])
def test_no_token_is_401(hassio: Hassio, token: str | None) -> None:
    response = hassio.call("GET", "/supervisor/info", token=token)
    assert (response.status_code, response.content) == (401, b"401: Unauthorized")


def test_unknown_tokens_are_403(hassio: Hassio) -> None:
    known = tokens(hassio)
    for token in ["nope", known["homeassistant"][:-1], known["addon"] + "x", MACHINE_ID.upper(), " " + API_KEY]:
        response = hassio.call("GET", "/supervisor/info", token=token)
        assert (response.status_code, response.content) == (403, FORBIDDEN), token


def test_the_blacklist_is_403_with_any_token(hassio: Hassio) -> None:
    admin = hassio.addon("admin_addon", "admin")
    for token in [*tokens(hassio).values(), admin, None, "nope"]:
        response = hassio.call("GET", "/homeassistant/api/hassio/supervisor/info", token=token)
        assert (response.status_code, response.content) == (403, FORBIDDEN), token


def test_a_removed_addon_is_unknown(hassio: Hassio) -> None:
    token = hassio.addon("gone", "admin")
    assert hassio.call("GET", "/supervisor/info", token=token).status_code == 200
    hassio.services.hassio_tokens.remove_grant("gone")
    assert hassio.call("GET", "/supervisor/info", token=token).status_code == 403


def test_addon_roles_on_the_supervisor_routes(hassio: Hassio) -> None:
    """default reads */info only; homeassistant is not cumulative; manager may change options."""
    default = hassio.addon("a_default", "default")
    assert hassio.call("GET", "/supervisor/info", token=default).status_code == 200
    for path in ["/supervisor/stats", "/supervisor/logs"]:
        assert hassio.call("GET", path, token=default).content == FORBIDDEN
    assert hassio.call("POST", "/supervisor/options", token=default, json={}).content == FORBIDDEN
    homeassistant = hassio.addon("a_ha", "homeassistant")
    assert hassio.call("GET", "/supervisor/info", token=homeassistant).content == FORBIDDEN
    backup = hassio.addon("a_backup", "backup")
    assert hassio.call("GET", "/supervisor/info", token=backup).content == FORBIDDEN
    manager = hassio.addon("a_manager", "manager")
    assert hassio.call("POST", "/supervisor/options", token=manager, json={"wait_boot": 9}).status_code == 200
    assert hassio.call("GET", "/supervisor/stats", token=manager).status_code == 200
    no_api = hassio.addon("a_noapi", "admin", hassio_api=False)
    assert hassio.call("GET", "/supervisor/info", token=no_api).content == FORBIDDEN
    assert hassio.call("GET", "/info", token=no_api).status_code == 200  # ADDONS_API_BYPASS


def test_addon_paths_past_security(hassio: Hassio) -> None:
    """default may not reach /addons/<x>/info, manager may not reach /addons/<x>/security nor
    /addons/self/security (not in the bypass either); admin reaches both (the router answers)."""
    default, manager, admin = (hassio.addon(f"r_{r}", r) for r in ("default", "manager", "admin"))
    assert hassio.call("GET", "/addons/core_ssh/info", token=default).content == FORBIDDEN
    assert hassio.call("GET", "/addons/core_ssh/info", token=manager).content != FORBIDDEN
    for path in ["/addons/core_ssh/security", "/addons/self/security"]:
        assert hassio.call("POST", path, token=manager, json={}).content == FORBIDDEN
        assert hassio.call("POST", path, token=admin, json={}).content != FORBIDDEN


# ---- polyvisor hassio-token, --hassio-token, HASSIO_TOKEN ----

def run_command(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = app.main([*argv, "hassio-token"])
    out, err = capsys.readouterr()
    return code, out, err


def test_hassio_token_command_prints_the_stored_token(hassio: Hassio, capsys: pytest.CaptureFixture[str]) -> None:
    token = hassio.services.hassio_tokens.homeassistant_token()
    assert run_command(capsys, "--data-dir", str(hassio.agent.data_dir)) == (0, f"{token}\n", "")


def test_hassio_token_command_without_a_token(agents: Agents, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_command(capsys, "--data-dir", f"{tmp_path}/never-started")
    assert (code, out) == (1, "")
    assert err.startswith("polyvisor: no hassio token in ") and "--hassio-token" in err
    balena_only = agents.start("--dialects", "balena")
    assert balena_only.client.get("/ping").status_code == 200
    code, out, err = run_command(capsys, "--data-dir", str(balena_only.data_dir))
    assert (code, out) == (1, "") and err.startswith("polyvisor: no hassio token in ")


@pytest.mark.parametrize("flags, env, expected", [
    (("--hassio-token", "flag-token"), {}, "flag-token"),
    ((), {"HASSIO_TOKEN": "env-token"}, "env-token"),
    ((), {"POLYVISOR_HASSIO_TOKEN": "own-env-token", "HASSIO_TOKEN": "env-token"}, "own-env-token"),
    (("--hassio-token", "flag-token"), {"HASSIO_TOKEN": "env-token"}, "flag-token"),
])
def test_a_provisioned_token_is_used_and_stored(hassio_agents: HassioAgents, capsys: pytest.CaptureFixture[str],
                                                 flags: tuple[str, ...], env: dict[str, str], expected: str) -> None:
    provisioned = hassio_agents.start(*flags, env=env)
    assert provisioned.call("GET", "/supervisor/info", token=expected).status_code == 200
    assert run_command(capsys, "--data-dir", str(provisioned.agent.data_dir)) == (0, f"{expected}\n", "")
    # a restart without it keeps the stored one
    again = hassio_agents.start(data_dir=provisioned.agent.data_dir)
    assert again.call("GET", "/supervisor/info", token=expected).status_code == 200


def test_a_new_provisioned_token_replaces_the_stored_one(hassio_agents: HassioAgents) -> None:
    first = hassio_agents.start()
    made = first.services.hassio_tokens.homeassistant_token()
    second = hassio_agents.start("--hassio-token", "replacement", data_dir=first.agent.data_dir)
    assert second.call("GET", "/supervisor/info", token="replacement").status_code == 200
    assert second.call("GET", "/supervisor/info", token=made).status_code == 403
