"""An add-on's own options checked against the schema its config.json declares, in the schema
language of tag 138 (hassio/addons/validate.py validate_options):

    "name": "str"                     any value, as text          (also bool, email, url, port)
    "count": "int(1,10)"              int, optional bounds        ("float(0.5,)" likewise)
    "code": "match(^[a-z]+$)"         text matching the pattern
    "note": "str?"                    `?`: may be left out
    "hosts": ["str"]                  a list of elements
    "users": [{"name": "str", "age": "int?"}]   a list of one-level dicts
    "login": {"user": "str", "keys": ["str"]}   one nested dict

Errors are vol.Invalid with 138's texts: `Missing option <key> in <root|parent key>`, `Missing
required option '<key>'` (a null value), `Type error for <key>`, or voluptuous's own (`expected int`,
`value must be at most 10.0`...). Unknown keys are dropped with a warning, not refused. A schema of
`false` takes any dict unchanged.

Where 138's validator itself crashed (a list option given a number, a nested dict given text) it
raises LegacyCrash, a TypeError, which the hassio dialect answers as the legacy did: 500.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import voluptuous as vol

from handlers.homeassistant.addons.config import NETWORK_PORT, RE_SCHEMA_ELEMENT

log = logging.getLogger("polyvisor.hassio.addons")


class LegacyCrash(TypeError):
    """138's validator raised something past voluptuous here (aiohttp's 500 in the API)."""


def options_schema(schema: Any) -> vol.Schema:
    """138's Addon.schema: a voluptuous schema of the options for an add-on's `schema` value."""
    if isinstance(schema, bool):
        return vol.Schema(dict)
    return vol.Schema(vol.All(dict, _validator(schema)))


def validate_options(schema: Any, options: Any) -> dict[str, Any]:
    """`options` checked against the add-on's `schema`: the values as 138 kept them."""
    result: dict[str, Any] = options_schema(schema)(options)
    return result


def _validator(schema: dict[str, Any]) -> Any:
    def validate(struct: dict[str, Any]) -> dict[str, Any]:
        options: dict[str, Any] = {}
        for key, value in struct.items():
            if key not in schema:
                log.warning("Unknown options %s", key)
                continue
            typ = schema[key]
            try:
                if isinstance(typ, list):
                    options[key] = _list(typ[0], value, key)
                elif isinstance(typ, dict):
                    options[key] = _dict(typ, value, key)
                else:
                    options[key] = _single(typ, value, key)
            except (IndexError, KeyError):  # e.g. an empty list in the schema
                raise vol.Invalid(f"Type error for {key}") from None
        _check_missing(schema, options, "root")
        return options

    return validate


def _single(typ: str, value: Any, key: str) -> Any:
    """One element: a null value is a missing required option; else coerced by its type."""
    if value is None:
        raise vol.Invalid(f"Missing required option '{key}'")
    match = RE_SCHEMA_ELEMENT.match(typ)
    if match is None:  # config.py refuses such a schema; 138 crashed on it (None.group)
        raise LegacyCrash(f"schema element {typ!r} of {key} is not one 138 knew")
    bounds = {name[2:]: float(found) for name in ("i_min", "i_max", "f_min", "f_max")
              if (found := match.group(name))}
    if typ.startswith("str"):
        return str(value)
    if typ.startswith("int"):
        return vol.All(vol.Coerce(int), vol.Range(**bounds))(value)
    if typ.startswith("float"):
        return vol.All(vol.Coerce(float), vol.Range(**bounds))(value)
    if typ.startswith("bool"):
        return vol.Boolean()(value)
    if typ.startswith("email"):
        return vol.Email()(value)
    if typ.startswith("url"):
        return vol.Url()(value)
    if typ.startswith("port"):
        return NETWORK_PORT(value)
    if typ.startswith("match"):
        try:
            pattern = re.compile(match.group("match"))
        except re.error as err:  # 138 crashed compiling it
            raise LegacyCrash(f"match() of {key} is no regular expression: {err}") from None
        return vol.Match(pattern)(str(value))
    raise vol.Invalid(f"Fatal error for {key} type {typ}")  # the empty element "" (or "?")


def _list(typ: Any, values: Any, key: str) -> list[Any]:
    if not isinstance(values, (list, tuple, str, dict)):
        # 138 iterated the value: a number or bool crashed it; text and dicts went by character/key
        raise LegacyCrash(f"option {key} is a list, got {type(values).__name__}")
    if isinstance(typ, dict):
        return [_dict(typ, element, key) for element in values]
    return [_single(typ, element, key) for element in values]


def _dict(typ: dict[str, Any], values: Any, key: str) -> dict[str, Any]:
    if not isinstance(values, dict):  # 138 called .items() on it
        raise LegacyCrash(f"option {key} is a dict, got {type(values).__name__}")
    options: dict[str, Any] = {}
    for c_key, c_value in values.items():
        if c_key not in typ:
            log.warning("Unknown options %s", c_key)
            continue
        if isinstance(typ[c_key], list):
            options[c_key] = _list(typ[c_key][0], c_value, c_key)
        else:
            options[c_key] = _single(typ[c_key], c_value, c_key)
    _check_missing(typ, options, key)
    return options


def _check_missing(schema: dict[str, Any], found: dict[str, Any], root: str) -> None:
    """The first schema key (in schema order; 138 took a set's order) that is neither given nor `?`."""
    for key, typ in schema.items():
        if key in found or (isinstance(typ, str) and typ.endswith("?")):
            continue
        raise vol.Invalid(f"Missing option {key} in {root}")
