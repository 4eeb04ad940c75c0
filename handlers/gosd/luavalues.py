"""Values between a job's Lua state and the host as gosd's Go side shaped them: Go's JSON
(encoding/json), Go durations (time.ParseDuration), Lua tables as gopher-json encoded them, and
the dialog document (luavm/dialog.go)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any


def go_json(value: Any) -> str:
    """JSON as Go's json.Marshal wrote it: compact, UTF-8, <, > and & escaped."""
    out = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return (out.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d*\.?\d*)(ns|us|µs|μs|ms|s|m|h)")


def parse_duration(duration: str) -> float:
    """Seconds of a Go duration ("1ms", "1.5h", "2h45m"); ValueError with Go's message."""
    body = duration[1:] if duration[:1] in "+-" else duration
    if body == "0":
        return 0.0
    total, pos = 0.0, 0
    while pos < len(body) or pos == 0:
        match = _PART.match(body, pos)
        if not match or match.group(1) in ("", "."):
            raise ValueError(f'time: invalid duration "{duration}"')
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    return -total if duration.startswith("-") else total


def number(value: float) -> int | float:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    return value


MAX_DEPTH = 200  # tables nested deeper count as nested in themselves (lupa's wrappers carry no identity)


def to_python(value: Any, lua_type: Callable[[Any], str | None], depth: int = 0) -> Any:
    """A Lua value as JSON-able Python data; ValueError with gopher-json's messages."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"json: unsupported value: {value}")
        return number(value)
    kind = lua_type(value)
    if kind != "table":
        raise ValueError(f"cannot encode {kind or type(value).__name__} to JSON")
    if depth >= MAX_DEPTH:
        raise ValueError("cannot encode recursively nested tables to JSON")
    items = list(value.items())
    if not items:
        return []  # gopher-json: an empty table is an array
    if all(isinstance(k, int | float) and not isinstance(k, bool) for k, _ in items):
        keys = sorted(items, key=lambda kv: kv[0])
        if [k for k, _ in keys] != list(range(1, len(keys) + 1)):
            raise ValueError("cannot encode sparse array")
        return [to_python(v, lua_type, depth + 1) for _, v in keys]
    if all(isinstance(k, str | bytes) for k, _ in items):
        return {(k.decode() if isinstance(k, bytes) else k): to_python(v, lua_type, depth + 1)
                for k, v in sorted(items, key=lambda kv: str(kv[0]))}
    raise ValueError("cannot encode mixed or invalid key types")


def string_map(value: Any) -> dict[str, str]:
    """A files/extra map from decoded JSON: strings kept, numbers and booleans as text, an empty
    array (how an empty Lua table encodes) or null as {}."""
    if not isinstance(value, dict):
        return {}
    out = {}
    for key, item in value.items():
        if isinstance(item, str):
            out[str(key)] = item
        elif isinstance(item, bool):
            out[str(key)] = "true" if item else "false"
        elif isinstance(item, int | float):
            out[str(key)] = str(number(item))
    return out


def text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, float):
        return str(number(value))
    return "" if value is None else str(value)


def _dialog_item(item: Any) -> dict[str, str]:
    out = {"name": text(item.get("name"))} if isinstance(item, dict) else {"name": ""}
    for key in ("message", "level"):
        if isinstance(item, dict) and item.get(key):
            out[key] = text(item[key])
    return out


def dialog_document(dialog: Any) -> dict[str, Any]:
    """gosd's Dialog struct: name, message, level, items, buttons, each left out when empty."""
    dialog = dialog if isinstance(dialog, dict) else {}
    out: dict[str, Any] = {}
    for key in ("name", "message", "level"):
        if dialog.get(key):
            out[key] = text(dialog[key])
    for key in ("items", "buttons"):
        if isinstance(dialog.get(key), list) and dialog[key]:
            out[key] = [_dialog_item(item) for item in dialog[key]]
    return out


def as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    return text(value).encode("utf-8")
