"""HassOS detection from the CPE name, the features list and the latest versions
(handlers/homeassistant/host.py, hassos.py); nothing here reaches a bus or an engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from handlers.docker import Engine
from handlers.homeassistant.hassos import HassOS
from handlers.homeassistant.host import Cpe, HassioHost, HostState, parse_cpe
from handlers.host.bus import Bus

HASSOS = "cpe:2.3:o:home_assistant:hassos:1.11:*:production:*:*:*:rpi3:*"


@pytest.mark.parametrize(("name", "expected"), [
    (HASSOS, Cpe("hassos", "1.11", "rpi3")),
    ("cpe:2.3:o:home_assistant:hassos:2.0\\:rc1:*:dev:*:*:*:ova:*", Cpe("hassos", "2.0:rc1", "ova")),
    ("cpe:/o:debian:debian_linux:9", Cpe("debian_linux", "9", None)),
    ("cpe:2.3:o:too:short", None),
    ("hassos", None),
    ("", None),
    (None, None),
])
def test_parse_cpe(name: str | None, expected: Cpe | None) -> None:
    assert parse_cpe(name) == expected


@pytest.mark.parametrize(("systemd", "hostname", "rauc", "cpe", "features", "hassos"), [
    (True, True, True, HASSOS, ["reboot", "shutdown", "services", "hostname", "hassos"], True),
    (True, True, False, HASSOS, ["reboot", "shutdown", "services", "hostname"], False),  # no RAUC
    (True, True, True, "cpe:/o:debian:debian_linux:9", ["reboot", "shutdown", "services", "hostname"], False),
    (False, True, True, HASSOS, ["hostname"], False),
    (True, False, True, HASSOS, ["reboot", "shutdown", "services"], False),
    (False, False, False, "", [], False),
])
def test_features_and_hassos_detection(systemd: bool, hostname: bool, rauc: bool, cpe: str,
                                       features: list[str], hassos: bool) -> None:
    state = HostState(systemd, hostname, rauc, {"OperatingSystemCPEName": cpe} if hostname else {})
    assert state.features() == features
    assert (state.hassos is not None) == hassos


def test_empty_properties_are_null() -> None:
    state = HostState(True, True, False, {"Chassis": "", "KernelRelease": "6.1"})
    assert (state.value("Chassis"), state.value("KernelRelease"), state.value("Deployment")) == (None, "6.1", None)


def test_latest_versions_come_from_the_version_file(tmp_path: Path) -> None:
    hassos = HassOS(HassioHost(Bus("unix:path=/nonexistent"), Engine("unix:///nonexistent")), Engine(""), tmp_path)
    assert hassos.latest("rpi3") == (None, None)  # nothing fetched yet
    hassos.version_file = lambda: {"hassos": {"rpi3": "2.4", "ova": "2.5"}, "hassos-cli": 8}
    assert hassos.latest("rpi3") == ("2.4", "8")
    assert hassos.latest("tinker") == (None, "8")
    assert hassos.latest(None) == (None, "8")
