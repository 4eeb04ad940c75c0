"""Host config files: redsocks.conf, no_proxy and config.json under a root tree."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from handlers.errors import BusReplyError, InvalidInput
from handlers.host.hostconfig import HostConfig, HostConfigError
from handlers.host.hostfs import HostFS


class RecordingBus:
    """Unit-test stand-in for the system bus: records calls, knows no proxy units."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def call(self, target: tuple[str, str, str], method: str, signature: str = "",
             body: tuple[Any, ...] = ()) -> tuple[Any, ...]:
        self.calls.append((method, body))
        if method == "RestartUnit" and body[0] == "redsocks.service":
            raise BusReplyError("org.freedesktop.systemd1.NoSuchUnit", "Unit redsocks.service not found.")
        return ()


@pytest.fixture
def host(tmp_path: Path) -> tuple[HostConfig, RecordingBus, Path]:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/hostname").write_text("abc1234\n")
    bus = RecordingBus()
    return HostConfig(HostFS(tmp_path), bus), bus, tmp_path  # type: ignore[arg-type]


def test_read_without_proxy(host: tuple[HostConfig, RecordingBus, Path]) -> None:
    config, _, _ = host
    assert config.read() == {"hostname": "abc1234"}


def test_write_then_read_proxy(host: tuple[HostConfig, RecordingBus, Path]) -> None:
    config, bus, root = host
    config.patch({"proxy": {"password": "pw", "type": "socks5", "ip": "10.0.0.1", "port": 8123,
                            "local_ip": "1.1.1.1", "noProxy": ["a.local", "10.0.0.0/8"]}})
    conf = (root / "mnt/boot/system-proxy/redsocks.conf").read_text()
    assert conf.endswith('\ttype = socks5;\n\tip = 10.0.0.1;\n\tport = 8123;\n\tpassword = "pw";\n}\n')
    assert "local_ip = 1.1.1.1" not in conf  # only the five proxy fields are written
    assert (root / "mnt/boot/system-proxy/no_proxy").read_text() == "a.local\n10.0.0.0/8"
    body = config.read()
    assert list(body) == ["proxy", "hostname"]
    assert body["proxy"] == {"type": "socks5", "ip": "10.0.0.1", "port": "8123", "password": "pw",
                             "noProxy": ["a.local", "10.0.0.0/8"]}
    # the 2019 unanchored patterns first meet the header's local_ip and local_port: ip, port, type
    assert list(body["proxy"]) == ["ip", "port", "type", "password", "noProxy"]
    assert ("RestartUnit", ("resin-proxy-config.service", "fail")) in bus.calls


def test_read_a_file_the_2019_supervisor_wrote(host: tuple[HostConfig, RecordingBus, Path]) -> None:
    """Its stripIndent-ed header lost the last newline: the first field sat on the local_port line."""
    config, _, root = host
    folder = root / "mnt/boot/system-proxy"
    folder.mkdir(parents=True)
    (folder / "redsocks.conf").write_text(
        "base {\n\tlog_debug = off;\n\tlog_info = on;\n\tlog = stderr;\n\tdaemon = off;\n"
        "\tredirector = iptables;\n}\n\nredsocks {\n\tlocal_ip = 127.0.0.1;\n\tlocal_port = 12345;\ttype = socks5;\n"
        "\tip = 10.0.0.1;\n\tport = 8123;\n}\n")
    proxy = config.read()["proxy"]
    assert list(proxy.items()) == [("ip", "10.0.0.1"), ("type", "socks5"), ("port", "8123")]


def test_values_are_written_as_javascript_wrote_them(host: tuple[HostConfig, RecordingBus, Path]) -> None:
    config, _, root = host
    config.patch({"proxy": {"ip": "h", "port": True, "noProxy": ["a", None, 1.5]}})
    assert "\tport = true;\n" in (root / "mnt/boot/system-proxy/redsocks.conf").read_text()
    assert (root / "mnt/boot/system-proxy/no_proxy").read_text() == "a\n\n1.5"


def test_missing_hostname_file_is_the_legacy_error(host: tuple[HostConfig, RecordingBus, Path]) -> None:
    config, _, root = host
    (root / "etc/hostname").unlink()
    with pytest.raises(HostConfigError) as info:
        config.read()
    assert str(info.value) == "ENOENT: no such file or directory, open '/mnt/root/etc/hostname'"


def test_empty_proxy_removes_files(host: tuple[HostConfig, RecordingBus, Path]) -> None:
    config, _, root = host
    config.patch({"proxy": {"type": "http-connect", "ip": "h", "port": "1"}})
    config.patch({"proxy": {}})
    assert not (root / "mnt/boot/system-proxy/redsocks.conf").exists()
    assert "proxy" not in config.read()


@pytest.mark.parametrize("proxy", [{"ip": "1.2.3.4;\n}\nbase {"}, {"login": 'a"b'}, {"noProxy": ["a\nb"]}, "x"])
def test_injection_is_refused_and_nothing_written(host: tuple[HostConfig, RecordingBus, Path],
                                                  proxy: Any) -> None:
    config, _, root = host
    with pytest.raises(InvalidInput):
        config.patch({"proxy": proxy})
    assert not (root / "mnt/boot/system-proxy/redsocks.conf").exists()


def test_hostname_goes_to_config_json_and_hostnamed(host: tuple[HostConfig, RecordingBus, Path]) -> None:
    config, bus, root = host
    (root / "mnt/boot").mkdir(parents=True)
    (root / "mnt/boot/config.json").write_text('{"uuid":"u1","hostname":"old"}')
    config.patch({"hostname": "newname"})
    assert json.loads((root / "mnt/boot/config.json").read_text()) == {"uuid": "u1", "hostname": "newname"}
    assert ("SetStaticHostname", ("newname", False)) in bus.calls


def test_missing_network_changes_nothing(host: tuple[HostConfig, RecordingBus, Path]) -> None:
    config, bus, root = host
    config.patch(None)
    config.patch({})
    assert bus.calls == [] and not (root / "mnt").exists()
