"""os-release is read from memory while its file is unchanged (polled routes ask for it on every
request) and read again as soon as it changes."""

from __future__ import annotations

import os
from pathlib import Path

from handlers.host.hostfs import HostFS


def test_read_again_when_the_file_changes(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    release = tmp_path / "etc" / "os-release"
    release.write_text('PRETTY_NAME="one"\n')
    fs = HostFS(tmp_path)
    assert fs.os_release() == {"PRETTY_NAME": "one"}
    fs.os_release()["PRETTY_NAME"] = "changed by a caller"
    assert fs.os_release() == {"PRETTY_NAME": "one"}  # a copy each time
    fs.write_atomic("/etc/os-release", 'PRETTY_NAME="two"\nVARIANT_ID=dev\n')
    assert fs.os_release() == {"PRETTY_NAME": "two", "VARIANT_ID": "dev"}
    release.write_text('PRETTY_NAME="six"\nVARIANT_ID=dev\n')  # in place, same size
    os.utime(release, ns=(1, 1))
    assert fs.os_release()["PRETTY_NAME"] == "six"


def test_the_fallback_and_no_file(tmp_path: Path) -> None:
    fs = HostFS(tmp_path)
    assert fs.os_release() == {}
    (tmp_path / "usr" / "lib").mkdir(parents=True)
    (tmp_path / "usr" / "lib" / "os-release").write_text("ID=debian\n")
    assert fs.os_release() == {"ID": "debian"}
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "os-release").write_text("ID=balena-os\n")
    assert fs.os_release() == {"ID": "balena-os"}
