"""The legacy APIs ("dialects"): one module each, with its routes, envelope, auth and errors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from compat.base import Context, Dialect, Mux

DIALECTS: tuple[str, ...] = ("balena", "hassio", "gosd", "platform")


def _load(name: str) -> Dialect:
    from importlib import import_module

    module = import_module(f"compat.{name}")
    dialect: Dialect = module.DIALECT
    return dialect


def build_asgi(settings: Any, services: Any, names: Sequence[str]) -> Mux:
    """One ASGI app serving `names`; each request goes to the dialect owning its path."""
    context = Context(settings, services)
    dialects = [_load(name) for name in names]
    return Mux([(d, d.build(context)) for d in dialects], services)
