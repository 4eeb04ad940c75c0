"""The resin Go helper's API (gosuper) in process: routing, envelope, decoder texts, purge.

No bus here (the D-Bus routes answer their "unavailable" texts; tests/integration/test_gosuper.py
drives them on dbusmock). Every response is checked against spec/gosuper.yaml.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

import app
from tests.api.support import ENV, make_root
from tests.openapi import check_response

STEM = "gosuper"
JSON = "application/json"
TEXT = "text/plain; charset=utf-8"


@dataclass
class Helper:
    """The gosuper dialect alone, as on its socket."""

    client: TestClient
    root: Path

    def request(self, method: str, path: str, body: bytes | None = None) -> httpx.Response:
        """Send, check against the spec, return."""
        response = self.client.request(method, path, content=body, follow_redirects=False)
        check_response(STEM, response, method, path)
        return response

    def envelope(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        """(status, body) of an application/json envelope answer."""
        response = self.request(method, path, body)
        assert response.headers["content-type"] == JSON
        assert response.headers["content-length"] == str(len(response.content))
        assert not response.content.endswith(b"\n")
        return response.status_code, response.content


def start(tmp_path: Path, env: dict[str, str] | None = None) -> Iterator[Helper]:
    root = make_root(tmp_path / "root")
    argv = ["--data-dir", str(tmp_path / "data"), "--root", str(root), "--dialects", "gosuper"]
    settings = app.Settings.from_sources(argv, {**ENV, "GOSUPER_SOCKET": str(tmp_path / "gosuper.sock"),
                                                **(env or {})})
    with TestClient(app.create_app(settings)) as client:
        yield Helper(client, root)


@pytest.fixture
def helper(tmp_path: Path) -> Iterator[Helper]:
    yield from start(tmp_path)


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "PROPFIND"])
def test_ping_answers_any_method(helper: Helper, method: str) -> None:
    response = helper.request(method, "/ping", b"ignored")
    assert (response.status_code, response.content) == (200, b"OK\n")
    assert response.headers["content-type"] == TEXT and response.headers["content-length"] == "3"
    assert "server" not in response.headers


def test_head_ping_has_the_length_and_no_body(helper: Helper) -> None:
    response = helper.request("HEAD", "/ping")
    assert (response.status_code, response.content, response.headers["content-length"]) == (200, b"", "3")


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/nope"), ("GET", "/ping/"), ("GET", "/PING"), ("GET", "/v1/reboot"), ("POST", "/v1/ipaddr"),
    ("HEAD", "/v1/ipaddr"), ("PUT", "/v1/purge"), ("DELETE", "/v1/vpncontrol"), ("OPTIONS", "/v1/reboot"),
    ("GET", "/v1/restart-service"), ("GET", "/v1/set-log-to-display"), ("GET", "/v1/reboot/"),
    ("GET", "/v1/blink"), ("GET", "/"),
])
def test_mux_404_page_for_unknown_paths_and_methods(helper: Helper, method: str, path: str) -> None:
    response = helper.request(method, path)
    assert response.status_code == 404
    assert response.headers["content-type"] == TEXT
    if method != "HEAD":
        assert response.content == b"404 page not found\n"


def test_power_without_logind_is_the_recorded_500(helper: Helper) -> None:
    assert helper.envelope("POST", "/v1/reboot") == (
        500, b'{"Data":"Error","Error":"Logind unavailable, cannot reboot."}')
    assert helper.envelope("POST", "/v1/shutdown", b"{not json") == (
        500, b'{"Data":"Error","Error":"Logind unavailable, cannot shut down."}')


# (route, body, Go's error text): the decoder runs before the bus is needed
DECODER_ERRORS = [
    ("/v1/vpncontrol", b"", "EOF"),
    ("/v1/vpncontrol", b"  \r\n", "EOF"),
    ("/v1/vpncontrol", b'{"Enable":', "unexpected EOF"),
    ("/v1/vpncontrol", b"{Enable:true}", "invalid character 'E' looking for beginning of object key string"),
    ("/v1/vpncontrol", b"<xml/>", "invalid character '\\u003c' looking for beginning of value"),
    ("/v1/vpncontrol", b'{"Enable":yes}', "invalid character 'y' looking for beginning of value"),
    ("/v1/vpncontrol", b'{"Enable":tru}', "invalid character '}' in literal true (expecting 'e')"),
    ("/v1/vpncontrol", b'{"Enable" true}', "invalid character 't' after object key"),
    ("/v1/vpncontrol", b'{"Enable":"true"}',
     "json: cannot unmarshal string into Go struct field VPNBody.Enable of type bool"),
    ("/v1/vpncontrol", b'{"enable":1}', "json: cannot unmarshal number into Go struct field VPNBody.Enable of type bool"),
    ("/v1/vpncontrol", b"[true]", "json: cannot unmarshal array into Go value of type main.VPNBody"),
    ("/v1/log-to-display", b'{"ENABLE":{}}',
     "json: cannot unmarshal object into Go struct field LogToDisplayBody.Enable of type bool"),
    ("/v1/set-log-to-display", b'{"Enable":"on"}', "json: cannot unmarshal string into Go value of type bool"),
    ("/v1/set-log-to-display", b"", "EOF"),
    ("/v1/restart-service", b'{"name":42}',
     "json: cannot unmarshal number into Go struct field RestartServiceBody.Name of type string"),
    ("/v1/restart-service", b'"x"', "json: cannot unmarshal string into Go value of type main.RestartServiceBody"),
]


@pytest.mark.parametrize(("path", "body", "text"), DECODER_ERRORS)
def test_undecodable_bodies_get_the_go_decoder_text(helper: Helper, path: str, body: bytes, text: str) -> None:
    assert helper.envelope("POST", path, body) == (400, b'{"Data":"Error","Error":"' + text.encode() + b'"}')


@pytest.mark.parametrize(("path", "body", "text"), [
    ("/v1/vpncontrol", b'{"enable":true} trailing words', "cannot set VPN state."),
    ("/v1/vpncontrol", b"null", "cannot set VPN state."),
    ("/v1/set-log-to-display", b'{"Enable":false}', "cannot set log to display state."),
    ("/v1/log-to-display", b"{}", "cannot set log to display state."),
    ("/v1/restart-service", b'{"Name":"x"}', "cannot restart service."),
])
def test_decodable_bodies_reach_the_bus_check(helper: Helper, path: str, body: bytes, text: str) -> None:
    assert helper.envelope("POST", path, body) == (
        500, b'{"Data":"Error","Error":"Systemd dbus unavailable, ' + text.encode() + b'"}')


def test_status_routes_without_a_bus(helper: Helper) -> None:
    assert helper.envelope("GET", "/v1/vpncontrol") == (
        500, b'{"Data":"Error","Error":"Unable to get VPN status: Systemd dbus unavailable, cannot get unit status."}')
    assert helper.envelope("GET", "/v1/log-to-display") == (
        500, b'{"Data":"Error","Error":"Systemd dbus unavailable, cannot get log to display service."}')


def test_ipaddr_shape(helper: Helper) -> None:
    status, body = helper.envelope("GET", "/v1/ipaddr")
    assert status == 200 and body.startswith(b'{"Data":{"IPAddresses":') and body.endswith(b'},"Error":""}')


# ---- purge: the decision chain (main_test.go's table and the rest) ----

def app_folder(helper: Helper, app_id: str, data_path: str = "resin-data") -> Path:
    """A data folder with content: files, a dotfile, a lock file and a sub-folder."""
    folder = helper.root / data_path / app_id
    (folder / "sub").mkdir(parents=True)
    for name in ("db.sqlite", ".hidden", "resin-updates.lock", "sub/file"):
        (folder / name).write_text("x")
    return folder


@pytest.mark.parametrize(("body", "status", "text"), [
    (b"", 400, "Invalid request"),
    (b"{bad", 400, "Invalid request"),
    (b"[1]", 400, "Invalid request"),
    (b"{}", 400, "applicationId is required"),
    (b'{"appId":1}', 400, "applicationId is required"),
    (b'{"applicationId":""}', 400, "applicationId is required"),
    (b'{"applicationId":0}', 400, "applicationId is required"),
    (b'{"applicationId":true}', 400, "applicationId is required"),
    (b'{"applicationId":null}', 400, "applicationId is required"),
    (b'{"applicationId":["1"]}', 400, "applicationId is required"),
    (b'{"applicationId":"hi"}', 400, "Invalid applicationId 'hi'"),
    (b'{"applicationId":"../1"}', 400, "Invalid applicationId '../1'"),
    (b'{"applicationId":"1/../../etc"}', 400, "Invalid applicationId '1/../../etc'"),
    (b'{"applicationId":" 1"}', 400, "Invalid applicationId ' 1'"),
    (b'{"applicationId":"+1"}', 400, "Invalid applicationId '+1'"),
    (b'{"applicationId":"18446744073709551616"}', 400, "Invalid applicationId '18446744073709551616'"),
    (b'{"applicationId":"' + b"1" * 5000 + b'"}', 400, f"Invalid applicationId '{'1' * 5000}'"),
    (b'{"applicationId":"\u0661"}', 400, "Invalid applicationId '\u0661'"),  # "١": ParseUint reads ASCII
    (b'{"applicationId":' + b"1" * 5000 + b'}', 400, "Invalid request"),  # past float64: a decode error
    (b'{"applicationId":-3}', 400, "Invalid applicationId '-3'"),
    (b'{"applicationId":1e30}', 400, "Invalid applicationId '-9223372036854775808'"),
    (b'{"applicationId":"2"}', 404, "Invalid applicationId '2': Directory does not exist"),
    (b'{"applicationId":2}', 404, "Invalid applicationId '2': Directory does not exist"),
])
def test_purge_refusals(helper: Helper, body: bytes, status: int, text: str) -> None:
    folder = app_folder(helper, "1")
    assert helper.envelope("POST", "/v1/purge", body) == (
        status, b'{"Data":"Error","Error":"' + text.encode() + b'"}')
    assert len(list(folder.rglob("*"))) == 5  # untouched


@pytest.mark.parametrize("body", [b'{"applicationId":"1"}', b'{"applicationId":1}', b'{"APPLICATIONID":1.9}',
                                  b'  {"applicationId":"1","x":[{}]} {"more":"ignored"}'])
def test_purge_empties_and_remakes_the_folder(helper: Helper, body: bytes) -> None:
    folder = app_folder(helper, "1")
    other = app_folder(helper, "12")
    assert helper.envelope("POST", "/v1/purge", body) == (200, b'{"Data":"OK","Error":""}')
    assert folder.is_dir() and not folder.is_symlink() and list(folder.iterdir()) == []
    assert folder.stat().st_mode & 0o777 == 0o755 & ~current_umask()
    assert len(list(other.rglob("*"))) == 5


def test_purge_of_a_symlinked_folder_removes_the_link_only(helper: Helper, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious").write_text("keep")
    (helper.root / "resin-data").mkdir()
    (helper.root / "resin-data" / "7").symlink_to(outside)
    assert helper.envelope("POST", "/v1/purge", b'{"applicationId":"7"}') == (200, b'{"Data":"OK","Error":""}')
    folder = helper.root / "resin-data" / "7"
    assert folder.is_dir() and not folder.is_symlink() and list(folder.iterdir()) == []
    assert (outside / "precious").read_text() == "keep"


def test_purge_keeps_symlinks_inside_and_their_targets(helper: Helper, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious").write_text("keep")
    folder = app_folder(helper, "3")
    (folder / "link").symlink_to(outside)
    assert helper.envelope("POST", "/v1/purge", b'{"applicationId":3}')[0] == 200
    assert list(folder.iterdir()) == [] and (outside / "precious").read_text() == "keep"


def test_purge_of_a_dangling_symlink_is_not_found(helper: Helper) -> None:
    (helper.root / "resin-data").mkdir()
    (helper.root / "resin-data" / "4").symlink_to(helper.root / "nowhere")
    assert helper.envelope("POST", "/v1/purge", b'{"applicationId":"4"}')[0] == 404


def test_purge_failure_is_a_500_with_the_os_text(helper: Helper) -> None:
    data = helper.root / "resin-data"
    data.mkdir()
    (data / "5").symlink_to(data / "5")  # a loop: stat fails with ELOOP, even for root
    status, body = helper.envelope("POST", "/v1/purge", b'{"applicationId":"5"}')
    assert (status, body) == (500, b'{"Data":"Error","Error":"stat ' + str(data / "5").encode()
                              + b': too many levels of symbolic links"}')
    assert (data / "5").is_symlink()


def test_resin_data_path_is_honoured(tmp_path: Path) -> None:
    for helper in start(tmp_path, {"RESIN_DATA_PATH": "/mnt/data/apps"}):
        folder = app_folder(helper, "9", "mnt/data/apps")
        default = app_folder(helper, "9")
        assert helper.envelope("POST", "/v1/purge", b'{"applicationId":"9"}')[0] == 200
        assert list(folder.iterdir()) == [] and len(list(default.rglob("*"))) == 5


def test_envelope_escapes_as_go_marshal_does(helper: Helper) -> None:
    status, body = helper.envelope("POST", "/v1/purge", '{"applicationId":"<a&b>\u2028"}'.encode())
    assert (status, body) == (400, b'{"Data":"Error","Error":"Invalid applicationId \'\\u003ca\\u0026b\\u003e\\u2028\'"}')


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_settings_keep_gosuper_off_the_main_port(capsys: Any) -> None:
    assert "gosuper" not in app.Settings.from_sources([], {}).dialects
    with_socket = app.Settings.from_sources([], {"GOSUPER_SOCKET": "/var/run/resin/gosuper.sock"})
    assert with_socket.listen_groups() == {"0.0.0.0:48484": ("balena", "hassio", "gosd", "platform"),
                                           "unix:/var/run/resin/gosuper.sock": ("gosuper",)}
    flagged = app.Settings.from_sources(["--dialects", "gosuper", "--dialect-listen", "gosuper=127.0.0.1:4000"],
                                        {"GOSUPER_SOCKET": "/x.sock"})
    assert flagged.listen_groups() == {"127.0.0.1:4000": ("gosuper",)}
    named = app.Settings.from_sources(["--dialects", "gosuper"], {"GOSUPER_SOCKET": "/x.sock",
                                                                  "POLYVISOR_LISTEN_GOSUPER": "unix:/y.sock"})
    assert named.listen_groups() == {"unix:/y.sock": ("gosuper",)}
    assert app.Settings.from_sources(["--dialects", "balena"], {"GOSUPER_SOCKET": "/x.sock"}).dialects == ("balena",)
    for argv in (["--dialects", "balena,gosuper"], ["--dialects", "balena,gosuper", "--listen", "unix:/a",
                                                     "--dialect-listen", "gosuper=unix:/a"]):
        with pytest.raises(SystemExit):
            app.Settings.from_sources(argv, {})
        assert "an address of its own" in capsys.readouterr().err
