"""Configuration: flags override environment, environment overrides defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from app import Settings, parse_listen


def test_defaults() -> None:
    s = Settings.from_sources([], {})
    assert s.listen == "0.0.0.0:48484"
    assert s.data_dir == Path("/var/lib/polyvisor")
    assert s.root == Path("/")
    assert s.dialects == ("balena", "hassio", "gosd", "platform")
    assert s.balena_profile == "v10"
    assert s.api_key is None
    assert s.listen_groups() == {"0.0.0.0:48484": ("balena", "hassio", "gosd", "platform")}


def test_environment_then_flags() -> None:
    env = {"POLYVISOR_LISTEN": "127.0.0.1:9000", "POLYVISOR_DATA_DIR": "/d", "RESIN_SUPERVISOR_API_KEY": "r",
           "BALENA_SUPERVISOR_API_KEY": "b", "POLYVISOR_BALENA_PROFILE": "legacy",
           "DOCKER_HOST": "unix:///x.sock", "DBUS_SYSTEM_BUS_ADDRESS": "unix:path=/bus"}
    s = Settings.from_sources([], env)
    assert (s.listen, s.data_dir, s.api_key, s.balena_profile) == ("127.0.0.1:9000", Path("/d"), "b", "legacy")
    assert (s.docker_host, s.dbus_address) == ("unix:///x.sock", "unix:path=/bus")
    s = Settings.from_sources(["--listen", "unix:/run/pv.sock", "--api-key", "f", "--balena-profile", "v10"],
                              {**env, "POLYVISOR_API_KEY": "p"})
    assert (s.listen, s.api_key, s.balena_profile) == ("unix:/run/pv.sock", "f", "v10")
    assert s.port_of("balena") == 0


def test_per_dialect_listen_groups() -> None:
    s = Settings.from_sources(["--dialect-listen", "hassio=127.0.0.1:80"],
                              {"POLYVISOR_LISTEN_GOSD": "0.0.0.0:8000", "POLYVISOR_DIALECTS": "balena,gosd,hassio"})
    assert s.listen_groups() == {"0.0.0.0:48484": ("balena",), "0.0.0.0:8000": ("gosd",),
                                 "127.0.0.1:80": ("hassio",)}
    assert s.port_of("gosd") == 8000 and s.port_of("balena") == 48484


@pytest.mark.parametrize("argv", [["--dialects", "nope"], ["--dialects", ","], ["--balena-profile", "v9"],
                                  ["--listen", "nohost"], ["--listen", "h:99999"], ["--listen", "unix:"],
                                  ["--dialect-listen", "gosd"], ["--dialect-listen", "x=1.2.3.4:5"],
                                  ["--device-type", "RaspberryPi3"], ["--device-type", "rpi3:"],
                                  ["--device-type", "a:b:c"], ["--device-type", ":amd64"]])
def test_bad_values_exit_with_a_message(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        Settings.from_sources(argv, {})
    assert exit_info.value.code == 2
    assert "error" in capsys.readouterr().err


def test_device_type_from_environment_or_flag() -> None:
    assert Settings.from_sources([], {}).device_type is None  # derived at run time
    s = Settings.from_sources([], {"POLYVISOR_DEVICE_TYPE": "genericx86-64-ext"})
    assert s.device_type == "genericx86-64-ext"
    s = Settings.from_sources(["--device-type", "raspberrypi3:armv7hf"], {"POLYVISOR_DEVICE_TYPE": "x"})
    assert s.device_type == "raspberrypi3:armv7hf"


def test_help_lists_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        Settings.from_sources(["--help"], {})
    text = capsys.readouterr().out
    for flag in ("--listen", "--data-dir", "--api-key", "--root", "--dialects", "--balena-profile",
                 "--docker-host", "--dbus-address", "--dialect-listen", "POLYVISOR_LISTEN_<NAME>",
                 "--device-type", "POLYVISOR_DEVICE_TYPE"):
        assert flag in text


def test_parse_listen() -> None:
    assert parse_listen("[::]:48484") == ("::", 48484)
    assert parse_listen(":80") == ("0.0.0.0", 80)
    assert parse_listen("unix:/a/b") == ("/a/b", 0)


def test_api_key_command_takes_the_agents_settings() -> None:
    assert Settings.from_sources([], {}).command is None  # plain `polyvisor [flags]` runs the agent
    for argv in (["api-key", "--data-dir", "/d"], ["--data-dir", "/d", "api-key"]):
        s = Settings.from_sources(argv, {})
        assert (s.command, s.data_dir) == ("api-key", Path("/d"))
    s = Settings.from_sources(["api-key"], {"POLYVISOR_DATA_DIR": "/e"})
    assert (s.command, s.data_dir) == ("api-key", Path("/e"))


def test_unknown_command_exits_with_a_message(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        Settings.from_sources(["apikey"], {})
    assert exit_info.value.code == 2
    assert "invalid choice: 'apikey'" in capsys.readouterr().err


def test_max_connections_per_listen_address() -> None:
    assert Settings.from_sources([], {}).max_connections == 512
    assert Settings.from_sources([], {"POLYVISOR_MAX_CONNECTIONS": "0"}).max_connections == 0  # no cap
    assert Settings.from_sources(["--max-connections", "64"], {"POLYVISOR_MAX_CONNECTIONS": "9"}).max_connections == 64
    with pytest.raises(SystemExit):
        Settings.from_sources(["--max-connections", "-1"], {})
