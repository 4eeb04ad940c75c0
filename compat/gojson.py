"""Go's json.NewDecoder(body).Decode(&v) into a flat struct, with the errors Go gave clients.

The resin Go helper (gosuper) answered a body it could not decode with err.Error(), so these
texts reached clients. Two steps, as encoding/json does them (Go 1.6-1.8):

1. Decoder.readValue scans the first JSON value of the stream with the scanner's state machine:
   an empty body is `EOF`, a cut one `unexpected EOF`, a bad byte `invalid character 'x' <where>`;
   whatever follows the first value is never read (so `{}garbage` decodes).
2. The value is stored into the struct: keys match field names exactly or case-insensitively
   (ASCII folding, the fields here having no K or S), null leaves a field alone, and a value of
   the wrong type is an UnmarshalTypeError (Go 1.8 names the struct field, Go 1.6 does not).

The platform agent's gin (Go 1.15 and later) bound bodies the same way, with int and []string
fields too, and its scanner refused values nested deeper than 10000 (`exceeded max depth`).
The scanner here works byte by byte without recursion, so no depth and no number is too much.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SPACE = b" \t\r\n"
DIGITS = b"0123456789"
HEX = b"0123456789abcdefABCDEF"
ESCAPES = b'bfnrt\\/"'
# literal -> the bytes after its first one, each with the text Go names when another comes
LITERALS = {ord("t"): b"rue", ord("f"): b"alse", ord("n"): b"ull"}
LITERAL_NAMES = {ord("t"): "true", ord("f"): "false", ord("n"): "null"}


class GoJSONError(Exception):
    """Decode failed; str() is Go's err.Error()."""


INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1
_INTEGER = re.compile(rb"-?[0-9]{1,19}")


@dataclass(frozen=True)
class GoStruct:
    """A Go struct without json tags: its type name and each field's kind (bool, string, int,
    []string, any)."""

    name: str
    fields: Mapping[str, str]
    # Go 1.8 named the field in type errors ("Go struct field VPNBody.Enable"); 1.6 did not
    field_context: bool = True
    package: str = "main"  # how a type error names the struct: main.PurgeBody
    # Go 1.15's scanner: more nested values than this is `exceeded max depth` (None before)
    max_depth: int | None = None


def quote_char(byte: int) -> str:
    """encoding/json quoteChar: the byte as a rune in single quotes, strconv.Quote-escaped."""
    if byte == 0x27:
        return "'\\''"
    if byte == 0x22:
        return "'\"'"
    char = chr(byte)  # Go's string(c) of a byte is the rune U+00XX
    named = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v",
             "\\": "\\\\"}
    if char in named:
        return f"'{named[char]}'"
    if byte < 0x20 or byte == 0x7F:
        return f"'\\x{byte:02x}'"
    if not char.isprintable():
        return f"'\\u{byte:04x}'"
    return f"'{char}'"


def _syntax(byte: int, where: str) -> GoJSONError:
    return GoJSONError(f"invalid character {quote_char(byte)} {where}")


class _Scanner:
    """encoding/json's scanner: one byte at a time; the end of a top-level value is seen late."""

    def __init__(self, max_depth: int | None = None) -> None:
        self.max_depth = max_depth
        self.stack: list[str] = []  # "key" (reading an object key), "value" (object value), "array"
        self.state = "begin"
        self.literal = b""  # the rest of true/false/null still expected
        self.literal_name = ""
        self.hex_left = 0

    def step(self, c: int) -> bool:
        """Feed one byte; True when the top-level value ended before it."""
        state = self.state
        if state in ("begin", "begin_or_empty", "key_or_empty", "key"):
            return self._begin(c)
        if state == "end":
            return self._end(c)
        if state == "string":
            if c == 0x22:
                self.state = "end"
            elif c == 0x5C:
                self.state = "escape"
            elif c < 0x20:
                raise _syntax(c, "in string literal")
            return False
        if state == "escape":
            if c == 0x75:
                self.state, self.hex_left = "hex", 4
            elif c in ESCAPES:
                self.state = "string"
            else:
                raise _syntax(c, "in string escape code")
            return False
        if state == "hex":
            if c not in HEX:
                raise _syntax(c, "in \\u hexadecimal character escape")
            self.hex_left -= 1
            if not self.hex_left:
                self.state = "string"
            return False
        if state == "literal":
            if c != self.literal[0]:
                raise _syntax(c, f"in literal {self.literal_name} (expecting {quote_char(self.literal[0])})")
            self.literal = self.literal[1:]
            if not self.literal:
                self.state = "end"
            return False
        return self._number(c)

    def _begin(self, c: int) -> bool:
        if c in SPACE:
            return False
        if self.state == "begin_or_empty" and c == 0x5D:
            self.stack.pop()
            self.state = "end"
            return False
        if self.state == "key_or_empty" and c == 0x7D:
            self.stack.pop()
            self.state = "end"
            return False
        if self.state in ("key", "key_or_empty"):
            if c != 0x22:
                raise _syntax(c, "looking for beginning of object key string")
            self.state = "string"
            return False
        return self._value(c)

    def _value(self, c: int) -> bool:
        if c in b"{[" and self.max_depth is not None and len(self.stack) >= self.max_depth:
            raise _syntax(c, "exceeded max depth")  # pushParseState (Go 1.15)
        if c == 0x7B:
            self.stack.append("key")
            self.state = "key_or_empty"
        elif c == 0x5B:
            self.stack.append("array")
            self.state = "begin_or_empty"
        elif c == 0x22:
            self.state = "string"
        elif c == 0x2D:
            self.state = "neg"
        elif c == 0x30:
            self.state = "zero"
        elif 0x31 <= c <= 0x39:
            self.state = "int"
        elif c in LITERALS:
            self.state, self.literal, self.literal_name = "literal", LITERALS[c], LITERAL_NAMES[c]
        else:
            raise _syntax(c, "looking for beginning of value")
        return False

    def _number(self, c: int) -> bool:
        state = self.state
        if state == "neg":
            if c not in DIGITS:
                raise _syntax(c, "in numeric literal")
            self.state = "zero" if c == 0x30 else "int"
            return False
        if state == "int" and c in DIGITS:
            return False
        if state in ("int", "zero"):
            if c == 0x2E:
                self.state = "dot"
                return False
            if c in b"eE":
                self.state = "exp"
                return False
            return self._end(c)
        if state == "dot":
            if c not in DIGITS:
                raise _syntax(c, "after decimal point in numeric literal")
            self.state = "fraction"
            return False
        if state == "fraction":
            if c in DIGITS:
                return False
            if c in b"eE":
                self.state = "exp"
                return False
            return self._end(c)
        if state in ("exp", "exp_sign"):
            if state == "exp" and c in b"+-":
                self.state = "exp_sign"
                return False
            if c not in DIGITS:
                raise _syntax(c, "in exponent of numeric literal")
            self.state = "exp_digits"
            return False
        if c in DIGITS:  # exp_digits
            return False
        return self._end(c)

    def _end(self, c: int) -> bool:
        self.state = "end"
        if not self.stack:
            return True  # stateEndTop: the value is complete; nothing after it is read
        if c in SPACE:
            return False
        top = self.stack[-1]
        if top == "key":
            if c != 0x3A:
                raise _syntax(c, "after object key")
            self.stack[-1] = "value"
            self.state = "begin"
        elif top == "value":
            if c == 0x2C:
                self.stack[-1] = "key"
                self.state = "key"
            elif c == 0x7D:
                self.stack.pop()
            else:
                raise _syntax(c, "after object key:value pair")
        elif c == 0x2C:
            self.state = "begin"
        elif c == 0x5D:
            self.stack.pop()
        else:
            raise _syntax(c, "after array element")
        return False


def first_value(data: bytes, max_depth: int | None = None) -> bytes:
    """The first JSON value of the stream (Decoder.readValue); GoJSONError as Go reported it."""
    scanner = _Scanner(max_depth)
    for index, byte in enumerate(data):
        if scanner.step(byte):
            return data[:index]
        if scanner.state == "end" and not scanner.stack:
            return data[:index + 1]  # } or ]: Go invents a space and stops at once
    try:
        if scanner.step(0x20):  # at EOF the decoder feeds a space, then gives up
            return data
    except GoJSONError:
        pass
    raise GoJSONError("unexpected EOF" if data.strip(SPACE) else "EOF")


def _value_end(data: bytes, i: int) -> int:
    """Where the (already validated) value starting at data[i] ends."""
    first = data[i]
    if first == 0x22:
        i += 1
        while data[i] != 0x22:
            i += 2 if data[i] == 0x5C else 1
        return i + 1
    if first in b"{[":
        depth = 0
        while True:
            byte = data[i]
            if byte == 0x22:
                i = _value_end(data, i)
                continue
            depth += 1 if byte in b"{[" else -1 if byte in b"}]" else 0
            i += 1
            if depth == 0:
                return i
    while i < len(data) and data[i] not in SPACE and data[i] not in b",}]":
        i += 1
    return i


def _skip_space(data: bytes, i: int) -> int:
    while data[i] in SPACE:
        i += 1
    return i


def _members(data: bytes) -> list[tuple[str, bytes]]:
    """The (key, raw value) pairs of a validated top-level object, in order."""
    found: list[tuple[str, bytes]] = []
    i = _skip_space(data, data.index(b"{") + 1)
    while data[i] != 0x7D:
        end = _value_end(data, i)
        key = _string(data[i:end])
        i = _skip_space(data, _skip_space(data, end) + 1)
        end = _value_end(data, i)
        found.append((key, data[i:end]))
        i = _skip_space(data, end)
        if data[i] == 0x2C:
            i = _skip_space(data, i + 1)
    return found


def _elements(data: bytes) -> list[bytes]:
    """The raw values of a validated array, in order."""
    found: list[bytes] = []
    i = _skip_space(data, 1)
    while data[i] != 0x5D:
        end = _value_end(data, i)
        found.append(data[i:end])
        i = _skip_space(data, end)
        if data[i] == 0x2C:
            i = _skip_space(data, i + 1)
    return found


def _string(raw: bytes) -> str:
    """A validated string literal; invalid UTF-8 and lone surrogates become U+FFFD, as in Go."""
    text: str = json.loads(raw.decode("utf-8", errors="replace"))
    return "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in text)


def _kind(raw: bytes) -> str:
    """The JSON kind of a raw value, as UnmarshalTypeError names it."""
    return {0x22: "string", 0x7B: "object", 0x5B: "array", 0x74: "bool", 0x66: "bool",
            0x6E: "null"}.get(raw[0], "number")


def _store(raw: bytes, kind: str, struct: GoStruct, field: str | None) -> Any:
    """One value stored into a field of `kind`; GoJSONError for a type mismatch."""
    found = _kind(raw)
    if kind == "any":
        if found == "string":
            return _string(raw)
        if found == "number":
            number = float(raw)
            if number in (float("inf"), float("-inf")):
                raise _type_error(f"number {raw.decode()}", "float64", struct, field)
            return number
        # bool, nil, []interface{} or map[string]interface{}: the helper only used strings and numbers
        return {"bool": raw == b"true", "null": None, "array": [], "object": {}}[found]
    if kind == "int":  # ParseInt(literal, 10, 64): a fraction, an exponent or overflow names the literal
        if found == "number" and _INTEGER.fullmatch(raw) and INT64_MIN <= int(raw) <= INT64_MAX:
            return int(raw)
        raise _type_error(f"number {raw.decode()}" if found == "number" else found, kind, struct, field)
    if kind == "[]string" and found == "array":
        items, error = [], None
        for item in _elements(raw):
            if _kind(item) in ("string", "null"):  # null leaves the element ""
                items.append(_string(item) if _kind(item) == "string" else "")
            else:
                error = error or _type_error(_kind(item), "string", struct, field)
        if error is not None:
            raise error
        return items
    if found == kind:
        return _string(raw) if kind == "string" else raw == b"true"
    raise _type_error(found, kind, struct, field)


def _type_error(value: str, go_type: str, struct: GoStruct, field: str | None) -> GoJSONError:
    if field is not None and struct.field_context:
        return GoJSONError(f"json: cannot unmarshal {value} into Go struct field {struct.name}.{field} "
                           f"of type {go_type}")
    return GoJSONError(f"json: cannot unmarshal {value} into Go value of type {go_type}")


def decode(data: bytes, struct: GoStruct) -> dict[str, Any]:
    """Decode the body into the struct: each field's value (None where nothing was stored)."""
    value = first_value(data, struct.max_depth).strip(SPACE)
    result: dict[str, Any] = dict.fromkeys(struct.fields)
    found = _kind(value)
    if found == "null":
        return result
    if found != "object":
        raise _type_error(found, f"{struct.package}.{struct.name}" if struct.package else struct.name, struct, None)
    error: GoJSONError | None = None
    for key, raw in _members(value):
        field = next((f for f in struct.fields if f == key), None) or next(
            (f for f in struct.fields if key.isascii() and f.lower() == key.lower()), None)
        if field is None or (_kind(raw) == "null" and struct.fields[field] != "any"):
            continue  # null leaves a bool or string alone; it sets an interface{} to nil
        try:
            result[field] = _store(raw, struct.fields[field], struct, field)
        except GoJSONError as err:  # Go keeps going and reports the first one (saveError)
            error = error or err
    if error is not None:
        raise error
    return result
