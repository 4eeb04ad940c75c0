"""What the frozen tests read of dist/manifest.json and dist/SHA256SUMS."""

from __future__ import annotations

import json
from pathlib import Path


def own_entries(folder: Path, name: str) -> tuple[object, str]:
    """The manifest's entry and the SHA256SUMS line of one binary: another architecture's binary
    left in dist/ by an earlier `scripts/build --arch` is listed too, and is not this test's."""
    document = json.loads((folder / "manifest.json").read_text())
    entries = document["versions"][document["latest"]]
    entry = next((item for item in entries.values() if item["url"] == name), None)
    lines = [line for line in (folder / "SHA256SUMS").read_text().splitlines() if line.endswith(f"  {name}")]
    return (document["latest"], entry), "\n".join(lines)
