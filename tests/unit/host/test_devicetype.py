"""Where the device type comes from (handlers/host/devicetype.py): --device-type, the boot partition,
else on an image that is not balenaOS the generic type of the machine's architecture."""

from __future__ import annotations

from pathlib import Path

import pytest

from handlers.errors import NotFound
from handlers.host.devicetype import device_type, parse_option
from handlers.host.hostfs import HostFS

BALENA = 'ID="balena-os"\nNAME="balenaOS"\n'
DEBIAN = 'ID=debian\nNAME="Debian GNU/Linux"\n'


def host(tmp_path: Path, os_release: str, boot: dict[str, str] | None = None) -> HostFS:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/os-release").write_text(os_release)
    (tmp_path / "mnt/boot").mkdir(parents=True)
    for name, text in (boot or {}).items():
        (tmp_path / "mnt/boot" / name).write_text(text)
    return HostFS(tmp_path)


@pytest.mark.parametrize(("machine", "slug", "arch"), [
    ("x86_64", "genericx86-64-ext", "amd64"), ("aarch64", "generic-aarch64", "aarch64"),
    ("armv7l", "generic-armv7ahf", "armv7hf"), ("i686", "qemux86", "i386"),
])
def test_other_images_get_the_machines_generic_type(tmp_path: Path, machine: str, slug: str, arch: str) -> None:
    assert device_type(host(tmp_path, DEBIAN), "/mnt/boot", machine=machine) == {"slug": slug, "arch": arch}


def test_balena_os_without_its_file_keeps_the_legacy_answer(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="^ENOENT: no such file or directory, open "
                                       "'/mnt/root/resin-boot/device-type.json'$"):
        device_type(host(tmp_path, BALENA), "/mnt/boot", machine="x86_64")


def test_resin_os_counts_as_balena_os(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        device_type(host(tmp_path, 'ID="resin-os"\nNAME="Resin OS"\n'), "/mnt/boot", machine="aarch64")


def test_the_file_wins_over_the_machine(tmp_path: Path) -> None:
    fs = host(tmp_path, DEBIAN, {"device-type.json": '{"slug": "raspberrypi3", "arch": "armv7hf"}'})
    assert device_type(fs, "/mnt/boot", machine="aarch64") == {"slug": "raspberrypi3", "arch": "armv7hf"}


def test_the_option_wins_over_everything(tmp_path: Path) -> None:
    fs = host(tmp_path, BALENA, {"device-type.json": '{"slug": "raspberrypi3", "arch": "armv7hf"}'})
    assert device_type(fs, "/mnt/boot", "intel-nuc:amd64", machine="aarch64") == {"slug": "intel-nuc", "arch": "amd64"}
    # without ARCH: the machine's
    assert device_type(fs, "/mnt/boot", "raspberrypi4-64", machine="aarch64") == \
        {"slug": "raspberrypi4-64", "arch": "aarch64"}


def test_unknown_machine_says_what_to_set(tmp_path: Path) -> None:
    fs = host(tmp_path, DEBIAN)
    with pytest.raises(NotFound, match="set --device-type SLUG:ARCH"):
        device_type(fs, "/mnt/boot", machine="mips64")
    with pytest.raises(NotFound, match="give beaglebone-black:ARCH"):
        device_type(fs, "/mnt/boot", "beaglebone-black", machine="mips64")


@pytest.mark.parametrize(("text", "parsed"), [
    ("genericx86-64-ext", ("genericx86-64-ext", None)), ("raspberrypi3:armv7hf", ("raspberrypi3", "armv7hf")),
    (" jetson-tx2:aarch64 ", ("jetson-tx2", "aarch64")),
])
def test_option_syntax(text: str, parsed: tuple[str, str | None]) -> None:
    assert parse_option(text) == parsed
