"""The legacy APIs ("dialects"): one module or package each, with its routes, envelope, auth and errors.

A dialect is compat/<name>.py, or the package compat/<name>/ whose dialect.py assembles it.
Shared by all of them: base (context, routing, error tables), responses, access (the access
log), gohttp and gojson (what Go's net/http and encoding/json showed clients). A dialect never
imports another dialect.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from compat.base import Context, Dialect, Mux

DIALECTS: tuple[str, ...] = ("balena", "hassio", "gosd", "platform", "gosuper")
# Served only on an address of their own, and then without being asked for: the resin Go helper
# (gosuper) answers on the node supervisor's unix socket, never on the main port.
OWN_ADDRESS_ONLY: tuple[str, ...] = ("gosuper",)
DEFAULT_DIALECTS: tuple[str, ...] = tuple(d for d in DIALECTS if d not in OWN_ADDRESS_ONLY)


def _load(name: str) -> Dialect:
    from importlib import import_module

    module = import_module(f"compat.{name}")
    if hasattr(module, "__path__"):  # a package: its dialect module assembles the dialect
        module = import_module(f"compat.{name}.dialect")
    dialect: Dialect = module.DIALECT
    return dialect


def build_asgi(settings: Any, services: Any, names: Sequence[str]) -> Mux:
    """One ASGI app serving `names`; each request goes to the dialect owning its path."""
    context = Context(settings, services)
    dialects = [_load(name) for name in names]
    return Mux([(d, d.build(context)) for d in dialects], services)
