"""--hassio-addons-core-url: the add-on core repository, on by default, off when empty."""

from __future__ import annotations

import pytest

from app import ADDONS_CORE_URL, Settings

ENV = "POLYVISOR_HASSIO_ADDONS_CORE_URL"


def test_default_is_the_official_repository() -> None:
    assert Settings.from_sources([], {}).hassio_addons_core_url == ADDONS_CORE_URL
    assert ADDONS_CORE_URL == "https://github.com/home-assistant/hassio-addons"  # 138's URL_HASSIO_ADDONS


@pytest.mark.parametrize(("argv", "environ", "expected"), [
    ([], {ENV: ""}, None),  # an empty variable switches it off (other options ignore empty ones)
    (["--hassio-addons-core-url="], {}, None),
    (["--hassio-addons-core-url", ""], {ENV: "git://127.0.0.1/x"}, None),  # the flag wins
    ([], {ENV: "git://127.0.0.1:9418/addons#beta"}, "git://127.0.0.1:9418/addons#beta"),
    (["--hassio-addons-core-url", "file:///srv/addons"], {ENV: ""}, "file:///srv/addons"),
])
def test_flag_over_environment(argv: list[str], environ: dict[str, str], expected: str | None) -> None:
    assert Settings.from_sources(argv, environ).hassio_addons_core_url == expected


def test_a_bad_branch_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        Settings.from_sources(["--hassio-addons-core-url", "https://x/y#two words"], {})
    assert "--hassio-addons-core-url must be a git URL" in capsys.readouterr().err
