"""gosd's part of the agent's command line and settings (app.py keeps the option table): the
`gosd ...` command's own arguments split from the agent's flags, and the gosd options' checks.
Pure functions of their arguments; nothing of the store is imported."""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from typing import Any

DATABASE_SCHEMES = ("postgres://", "postgresql://", "sqlite:///")


def split_command(argv: Sequence[str], valued: set[str], switches: set[str],
                  commands: Collection[str]) -> tuple[list[str], list[str]]:
    """Split argv after a command word of `commands`: (the agent's flags and the command, the
    command's own arguments). `valued` are the agent's flags that take a value (their values
    are not command words: `--dialects gosd`), `switches` those that take none."""
    items = list(argv)
    index = 0
    while index < len(items):
        item = items[index]
        if item in valued:
            index += 2
            continue
        if item == "--":
            break
        if item in commands:
            return _agent_flags_first(items[:index + 1], items[index + 1:], valued, switches)
        if not item.startswith("-"):
            break  # another command (or a bad word argparse will name)
        index += 1
    return items, []


def _agent_flags_first(head: list[str], tail: list[str], valued: set[str],
                       switches: set[str]) -> tuple[list[str], list[str]]:
    """The agent's own flags given after the command word (`gosd users ls --data-dir /d`) go to the
    agent's parser, as they do for the other commands; `--` ends them."""
    rest: list[str] = []
    while tail:
        item = tail.pop(0)
        if item == "--":
            rest += tail
            break
        if item in valued and tail:
            head += [item, tail.pop(0)]
        elif item in switches or item.partition("=")[0] in valued:
            head.append(item)
        else:
            rest.append(item)
    return head, rest


def setting_error(values: Mapping[str, Any]) -> str | None:
    """What is wrong with the gosd options' values (app.py's Settings names), or None."""
    url = values["gosd_database_url"]
    if url and not str(url).startswith(DATABASE_SCHEMES):
        return "--gosd-database-url must be a postgres://, postgresql:// or sqlite:///path URL"
    if values["gosd_mqtt_url"] and "://" not in str(values["gosd_mqtt_url"]):
        return "--gosd-mqtt-url must be a URL such as mqtt://user:password@127.0.0.1:1883"
    if not str(values["gosd_base_url"]).startswith(("http://", "https://")):
        return "--gosd-base-url must be an http:// or https:// URL"
    if not str(values["gosd_expire_token"]).isdigit() or int(values["gosd_expire_token"]) < 1:
        return "--gosd-expire-token must be a positive number of seconds"
    if seconds(values["gosd_job_timeout"], -1.0) < 0:
        return "--gosd-job-timeout must be a number of seconds (0: no limit)"
    if not str(values["gosd_max_body"]).isdigit() or int(values["gosd_max_body"]) < 1:
        return "--gosd-max-body must be a positive number of bytes"
    return None


def seconds(value: Any, bad: float) -> float:
    """A non-negative number of seconds from a setting, or `bad`."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return bad
    return number if math.isfinite(number) and number >= 0 else bad
