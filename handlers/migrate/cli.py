"""`polyvisor migrate --from-balena <folder>`: take the device over from the balena supervisor.

Reads the supervisor's database (never writing it), checks everything, then stores it in the
agent's data folder in one transaction; prints what was taken and what has no counterpart.
Exit 0 when taken over, 1 with one line on stderr when not (nothing of ours written), 2 on usage.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from handlers.errors import PolyvisorError
from handlers.host.hostfs import HostFS
from handlers.migrate import balena, balena_db
from handlers.store import Store

# a constant, not the docstring: the frozen binary is built with optimize=2, which drops docstrings
USAGE = "polyvisor [--data-dir DIR] [--root DIR] [--boot-dir DIR] migrate --from-balena FOLDER"
HELP = (f"FOLDER is the balena supervisor's data folder ({balena_db.HOST_FOLDER} on balenaOS; /data in "
        "its container); stop the supervisor's container first. Its database is only read. The uuid "
        "comes from config.json on the boot partition (--boot-dir, under --root).")


def parser() -> argparse.ArgumentParser:
    """The command's own options."""
    found = argparse.ArgumentParser(prog="polyvisor migrate", usage=USAGE, description=HELP)
    found.add_argument("--from-balena", metavar="FOLDER", required=True,
                       help="the balena supervisor's data folder (holding database.sqlite)")
    found.add_argument("--again", action="store_true",
                       help="take over again although this data folder already was (by default a second "
                            "run changes nothing)")
    return found


def config_json(root: Path, boot_dir: str) -> dict[str, Any]:
    """config.json of the boot partition ({} when absent); LegacyDataError when it is not JSON."""
    path = f"{boot_dir}/config.json"
    text = HostFS(root).read_text(path)
    if text is None:
        return {}
    try:
        value = json.loads(text)
    except ValueError as err:
        raise balena_db.LegacyDataError(f"{path} is not JSON ({err}): fix it or give --boot-dir") from err
    return value if isinstance(value, dict) else {}


def run(args: Sequence[str], data_dir: Path, root: Path, boot_dir: str, out: TextIO, err: TextIO) -> int:
    """The command on the agent's settings; its exit status."""
    options = parser().parse_args(list(args))
    folder = Path(options.from_balena)
    try:
        earlier = None if options.again else balena.done(data_dir)
        if earlier:
            print(f"{data_dir} was taken over from {earlier['from']} at {earlier['at']}: nothing done "
                  "(--again takes it over again)", file=out)
            return 0
        legacy = balena_db.read(folder)
        found = balena.plan(legacy, config_json(root, boot_dir))
    except PolyvisorError as problem:
        print(f"polyvisor: migrate: {problem}", file=err)
        return 1
    except (ValueError, TypeError, KeyError, AttributeError) as problem:  # rows of shapes v10 never wrote
        print(f"polyvisor: migrate: {folder} holds data of a shape migrate cannot read "
              f"({type(problem).__name__}: {problem}): nothing was taken over", file=err)
        return 1
    target = Store(data_dir)
    try:
        target.open()
        balena.store(found, target, {"from": str(legacy.path), "at": datetime.now(UTC).isoformat(timespec="seconds")})
    except (OSError, sqlite3.Error, PolyvisorError) as problem:
        print(f"polyvisor: migrate: cannot write the agent's data folder {data_dir}: {problem} "
              "(nothing was taken over)", file=err)
        return 1
    finally:
        target.close()
    print(f"taken over from {legacy.path} into {data_dir}:", file=out)
    for line in found.taken:
        print(f"  {line}", file=out)
    if found.left:
        print("not taken:", file=out)
        for line in found.left:
            print(f"  {line}", file=out)
    return 0
