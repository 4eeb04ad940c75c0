"""JavaScript's String() of the values JSON and qs give, for the legacy agents written in node:
what parseInt saw, what a template string wrote into a file."""

from __future__ import annotations

import math
from typing import Any


def js_string(value: Any) -> str:
    """JavaScript's String(value) for what JSON and qs give: numbers as V8 prints them, arrays
    joined with commas (null inside as empty), objects as [object Object]."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):  # JSON.parse gives doubles
        return _js_number(float(value)) if abs(value) > 2 ** 53 else str(value)
    if isinstance(value, float):
        return _js_number(value)
    if isinstance(value, list):
        return ",".join("" if v is None else js_string(v) for v in value)
    if isinstance(value, dict):
        return "[object Object]"
    return str(value)


def _js_number(x: float) -> str:
    """ECMAScript Number::toString (radix 10), from Python's shortest round-trip digits."""
    if math.isnan(x):
        return "NaN"
    if x in (float("inf"), float("-inf")):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0:
        return "0"
    sign = "-" if x < 0 else ""
    mantissa, _, exponent = repr(abs(x)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0")
    point = len(whole) + int(exponent or 0) - (len(whole + fraction) - len(digits))
    digits = digits.rstrip("0")
    k = len(digits)
    if k <= point <= 21:
        return sign + digits + "0" * (point - k)
    if 0 < point <= 21:
        return sign + digits[:point] + "." + digits[point:]
    if -6 < point <= 0:
        return sign + "0." + "0" * -point + digits
    e = point - 1
    tail = f"e{'+' if e >= 0 else '-'}{abs(e)}"
    return sign + digits + tail if k == 1 else sign + digits[0] + "." + digits[1:] + tail
