"""Compose value syntaxes turned into Docker Engine API values: durations, sizes, ports, devices."""

from __future__ import annotations

import re
from typing import Any

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNITS_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
             "m": 60_000_000_000, "h": 3_600_000_000_000}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([bkmg]?)b?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def duration_ns(value: Any) -> int:
    """'1m30s', '500ms', 10 (seconds) -> nanoseconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value * 1_000_000_000)
    text = str(value).strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return int(float(text) * 1_000_000_000)
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"bad duration {value!r}")
    return int(sum(float(n) * _UNITS_NS[u] for n, u in parts))


def size_bytes(value: Any) -> int:
    """'64m', '1g', '512k', 1048576 -> bytes."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    match = _SIZE.match(str(value))
    if not match:
        raise ValueError(f"bad size {value!r}")
    return int(float(match.group(1)) * _SIZE_UNITS[match.group(2).lower()])


def _port_range(text: str) -> list[str]:
    if "-" in text:
        low, high = text.split("-", 1)
        return [str(p) for p in range(int(low), int(high) + 1)]
    return [text]


def parse_ports(specs: list[Any]) -> tuple[dict[str, dict[str, Any]], dict[str, list[dict[str, str]]]]:
    """Compose short port syntax -> (ExposedPorts, PortBindings)."""
    exposed: dict[str, dict[str, Any]] = {}
    bindings: dict[str, list[dict[str, str]]] = {}
    for spec in specs:
        text = str(spec)
        text, _, proto = text.partition("/")
        proto = proto or "tcp"
        parts = text.rsplit(":", 2)
        container = parts[-1]
        host_port = parts[-2] if len(parts) >= 2 else ""
        host_ip = parts[-3] if len(parts) == 3 else ""
        container_ports = _port_range(container)
        host_ports = _port_range(host_port) if host_port else [""] * len(container_ports)
        if len(host_ports) != len(container_ports):
            raise ValueError(f"bad port mapping {spec!r}")
        for c_port, h_port in zip(container_ports, host_ports):
            key = f"{c_port}/{proto}"
            exposed[key] = {}
            if host_port or host_ip:
                bindings.setdefault(key, []).append({"HostIp": host_ip, "HostPort": h_port})
    return exposed, bindings


def parse_devices(specs: list[str]) -> list[dict[str, str]]:
    """'/dev/a[:/dev/b[:rwm]]' -> Devices entries."""
    found = []
    for spec in specs:
        parts = spec.split(":")
        found.append({"PathOnHost": parts[0], "PathInContainer": parts[1] if len(parts) > 1 else parts[0],
                      "CgroupPermissions": parts[2] if len(parts) > 2 else "rwm"})
    return found


def ulimits(value: Any) -> list[dict[str, Any]] | None:
    """{nofile: 1024} or {nofile: {soft, hard}} -> Ulimits."""
    if not value:
        return None
    found = []
    for name, limit in value.items():
        if isinstance(limit, dict):
            found.append({"Name": name, "Soft": limit.get("soft"), "Hard": limit.get("hard")})
        else:
            found.append({"Name": name, "Soft": limit, "Hard": limit})
    return found


def healthcheck(value: dict[str, Any]) -> dict[str, Any]:
    """Compose healthcheck -> the engine's Healthcheck (durations in ns)."""
    if value.get("disable"):
        return {"Test": ["NONE"]}
    test = value.get("test")
    out: dict[str, Any] = {}
    if isinstance(test, str):
        out["Test"] = ["CMD-SHELL", test]
    elif test is not None:
        out["Test"] = list(test)
    for key, field in (("Interval", "interval"), ("Timeout", "timeout"), ("StartPeriod", "start_period")):
        if value.get(field) is not None:
            out[key] = duration_ns(value[field])
    if value.get("retries") is not None:
        out["Retries"] = int(value["retries"])
    return out
