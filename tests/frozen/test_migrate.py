"""`polyvisor migrate --from-balena` in the built binary: a v10 database (integration/balena_legacy.py)
taken over into a data folder whose key `polyvisor api-key` then prints; the legacy folder is left
byte for byte; bad input is one line. Skipped without a binary as test_binary.py is (a failure with
POLYVISOR_REQUIRE_BINARY=1)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from integration.balena_legacy import API_SECRET, config_json, make_database

from frozen.test_binary import binary  # noqa: F401 (the fixture)


def run(binary: Path, *args: str) -> subprocess.CompletedProcess[str]:  # noqa: F811
    environ = {k: v for k, v in os.environ.items() if not k.startswith("POLYVISOR_")}
    return subprocess.run([str(binary), *args], check=False, capture_output=True, text=True, timeout=60, env=environ)


def test_the_binary_takes_a_v10_device_over(binary: Path, tmp_path: Path) -> None:  # noqa: F811
    legacy, data, root = tmp_path / "resin-supervisor", tmp_path / "data", tmp_path / "root"
    make_database(legacy, "polyvisor-test/busybox:latest", "sha256:" + "2" * 64)
    (root / "mnt/boot").mkdir(parents=True)
    (root / "mnt/boot/config.json").write_text(json.dumps(config_json()))
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in legacy.iterdir()}
    taken = run(binary, "migrate", "--from-balena", str(legacy), "--data-dir", str(data), "--root", str(root))
    assert (taken.returncode, taken.stderr) == (0, ""), taken.stderr
    assert taken.stdout.startswith(f"taken over from {legacy}/database.sqlite into {data}:")
    assert run(binary, "api-key", "--data-dir", str(data)).stdout == API_SECRET + "\n"
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in legacy.iterdir()} == before
    missing = run(binary, "migrate", "--from-balena", str(tmp_path / "none"), "--data-dir", str(tmp_path / "other"))
    assert missing.returncode == 1 and len(missing.stderr.splitlines()) == 1, missing.stderr
    assert missing.stderr.startswith("polyvisor: migrate: ") and not (tmp_path / "other").exists()
