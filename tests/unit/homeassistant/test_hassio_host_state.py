"""HassOS detection from the CPE name and the features list (handlers/homeassistant/host.py)."""

from __future__ import annotations

import pytest

from handlers.homeassistant.host import Cpe, HostState, parse_cpe

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
