"""JavaScript's view of the values JSON and qs give, for the legacy agents written in node:
what JSON.parse made of a body, what String() wrote into a file, what parseInt saw."""

from __future__ import annotations

import json
import math
import re
from typing import Any

# A JS number held in Python: an int when it is an integer JavaScript held exactly (at most
# Number.MAX_SAFE_INTEGER), a float otherwise (larger integers as the double JavaScript kept,
# fractions, Infinity, NaN): stored, compared and serialised like any other number.
JsNumber = int | float

MAX_SAFE_INTEGER = 2 ** 53 - 1  # Number.MAX_SAFE_INTEGER
MAX_SAFE_DIGITS = 15  # every integer of up to 15 digits is below it


def js_number(literal: str) -> JsNumber:
    """The JS number of a decimal integer literal: the double it rounds to, Infinity past its
    range (JSON.parse and parseInt never fail on long numbers; Python's int() refuses more than
    4300 digits)."""
    if len(literal.lstrip("+-")) <= MAX_SAFE_DIGITS:
        return int(literal)
    value = float(literal)  # correctly rounded, as V8's Strtod
    return int(value) if abs(value) <= MAX_SAFE_INTEGER else value


# ECMAScript StrWhiteSpaceChar: WhiteSpace (TAB, VT, FF, SP, NBSP, ZWNBSP, the Zs spaces) and
# LineTerminator (LF, CR, LS, PS); Python's \s differs (it has \x1c-\x1f and \x85).
JS_SPACE = "\t\n\v\f\r \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
# parseInt reads ASCII digits only: "١" or "１" are NaN in JavaScript (and for Go's Atoi)
_PARSE_INT = re.compile(f"[{JS_SPACE}]*([+-]?)([0-9]+)")


def parse_int(text: str) -> JsNumber | None:
    """parseInt(text, 10): leading JS white space, a sign and ASCII digits; None for NaN.
    '12abc' -> 12, '1e+21' -> 1, 'Infinity' -> None, 400 digits -> float('inf')."""
    match = _PARSE_INT.match(text)
    if match is None:
        return None
    number = js_number(match.group(2))
    return -number if match.group(1) == "-" else number


def canonical_id(text: str) -> int | None:
    """The id a path segment names when the legacy looked it up by the string itself (an object
    key, a SQL value): only a canonical ASCII number of at most 16 digits, the longest an app id
    (a double) could print as, names one; "012", "12abc", "١" and longer numbers name none."""
    return int(text) if re.fullmatch(r"0|[1-9][0-9]{0,15}", text) else None


STACK_EXCEEDED = "RangeError: Maximum call stack size exceeded"  # V8's stack overflow


class JSParseError(ValueError):
    """JSON.parse threw; the message is the error's `Name: message` as V8 wrote it."""


class _Constant(Exception):
    """Python's scanner met NaN, Infinity or -Infinity, which JSON.parse refuses."""


def _refuse_constant(name: str) -> Any:
    raise _Constant(name)


_CONSTANT = re.compile(r'"(?:[^"\\]|\\.)*"|(-?)(NaN|Infinity)', re.DOTALL)


def json_parse(text: str) -> Any:
    """JSON.parse(text) as V8 (node 6 to 10) ran it: integers as JS numbers (rounded; Infinity
    past the double range), NaN/Infinity refused, and nesting deeper than the stack allows (V8's
    parser was recursive, as Python's is) a RangeError instead of a parse."""
    try:
        return json.loads(text, parse_int=js_number, parse_constant=_refuse_constant)
    except _Constant:
        # the first constant outside a string is where the scanner stopped (the text before it
        # parsed); V8 reports its first letter (after a minus sign)
        found = next((m for m in _CONSTANT.finditer(text) if m.group(2)), None)
        position = found.start(2) if found else 0
        raise JSParseError(f"SyntaxError: Unexpected token {text[position]} in JSON at position {position}") from None
    except json.JSONDecodeError as err:
        raise JSParseError(_syntax_error(text, err)) from None
    except RecursionError:
        raise JSParseError(STACK_EXCEEDED) from None


def _syntax_error(text: str, err: json.JSONDecodeError) -> str:
    """V8's message for the error Python found: the unexpected character and its position."""
    position = err.pos
    if err.msg.startswith("Unterminated string"):
        position = len(text)
    elif err.msg.startswith("Invalid \\escape") or text[position:position + 1] == "-":
        position += 1  # V8 reads past the backslash or the minus sign before it complains
    elif text[position:position + 1] in (".", "e", "E") and text[position - 1:position] in tuple("0123456789"):
        position += 1  # a fraction or exponent without digits: V8 complains about what follows
        if text[position - 1] in "eE" and text[position:position + 1] in ("+", "-"):
            position += 1
    if position >= len(text.rstrip(" \t\n\r")):
        return "SyntaxError: Unexpected end of JSON input"
    return f"SyntaxError: Unexpected token {text[position]} in JSON at position {position}"


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
        return _join(value)
    if isinstance(value, dict):
        return "[object Object]"
    return str(value)


def _join(items: list[Any]) -> str:
    """Array.prototype.join(','), nested arrays joined the same way; without recursion, so a
    body nested as deep as the parser allows is no problem."""
    stack: list[tuple[Any, list[str]]] = [(iter(items), [])]
    while True:
        elements, parts = stack[-1]
        for item in elements:
            if isinstance(item, list):
                stack.append((iter(item), []))
                break
            parts.append("" if item is None else js_string(item))
        else:
            stack.pop()
            joined = ",".join(parts)
            if not stack:
                return joined
            stack[-1][1].append(joined)


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
