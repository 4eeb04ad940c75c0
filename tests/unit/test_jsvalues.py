"""JavaScript's and Go's readings of request input: JSON.parse, parseInt, qs, strconv.Atoi,
encoding/json. Expected values are what node (V8) and Go answer for the same input."""

from __future__ import annotations

import math
from typing import Any

import pytest

from compat import gojson
from compat.balena import qs
from compat.platform.kit import atoi
from handlers.engine.terminal import window_size
from handlers.jsvalues import JSParseError, canonical_id, js_number, js_string, json_parse, parse_int

BIG = "1" * 5000  # more digits than Python's int() takes (4300)


@pytest.mark.parametrize(("literal", "expected"), [
    ("12", 12), ("-7", -7), ("123456789012345", 123456789012345),
    ("9007199254740993", 9007199254740992.0), ("12345678901234567890", 1.2345678901234567e19),  # doubles
    ("9" * 400, math.inf), ("-" + BIG, -math.inf)])
def test_integer_literals_are_js_numbers(literal: str, expected: float) -> None:
    assert js_number(literal) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("12abc", 12), (" \t\n7", 7), ("\u00a0\ufeff\u3000-3", -3), ("+4", 4), ("abc", None), ("", None),
    ("١", None), ("１", None), ("²", None), ("1١", 1),  # parseInt reads ASCII digits only
    ("\x1c5", None),  # Python's \s has \x1c, JavaScript's white space does not
    ("1e+21", 1), ("Infinity", None), (BIG, math.inf)])
def test_parse_int(text: str, expected: float | None) -> None:
    assert parse_int(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("12", 12), ("0", 0), ("012", None), ("12abc", None), ("١", None), ("-1", None),
    ("9" * 16, 9999999999999999), ("9" * 17, None), (BIG, None)])
def test_canonical_id(text: str, expected: int | None) -> None:
    assert canonical_id(text) == expected


def test_json_parse_numbers_as_v8() -> None:
    value = json_parse(f'{{"a": {BIG}, "b": -{BIG}, "c": 1e400, "d": 12345678901234567890, "e": 1.5}}')
    assert value == {"a": math.inf, "b": -math.inf, "c": math.inf, "d": 12345678901234567168, "e": 1.5}
    assert js_string(value["a"]) == "Infinity" and js_string(value["d"]) == "12345678901234567000"


@pytest.mark.parametrize(("text", "message"), [
    ('{"a":NaN}', "SyntaxError: Unexpected token N in JSON at position 5"),
    ('{"x":"NaN","a":-Infinity}', "SyntaxError: Unexpected token I in JSON at position 16"),
    ("[Infinity]", "SyntaxError: Unexpected token I in JSON at position 1"),
    ('{"a":-x}', "SyntaxError: Unexpected token x in JSON at position 6"),
    ('{"a":1.}', "SyntaxError: Unexpected token } in JSON at position 7"),
    ('{"a":1e+}', "SyntaxError: Unexpected token } in JSON at position 8"),
    ('{"a":"\\q"}', "SyntaxError: Unexpected token q in JSON at position 7"),
    ('{"a":"open', "SyntaxError: Unexpected end of JSON input"),
    ('{"a":1} x', "SyntaxError: Unexpected token x in JSON at position 8"),
    ("[" * 5000 + "]" * 5000, "RangeError: Maximum call stack size exceeded"),
])
def test_json_parse_errors_as_v8(text: str, message: str) -> None:
    with pytest.raises(JSParseError) as info:
        json_parse(text)
    assert str(info.value) == message


def test_moderate_nesting_parses() -> None:
    assert json_parse("[" * 200 + "1" + "]" * 200) is not None


def test_js_string_of_deep_arrays_needs_no_recursion() -> None:
    deep: Any = [7]
    for _ in range(100_000):
        deep = [deep]
    assert js_string(deep) == "7"
    assert js_string([1, [2, [3, None]], [], {"a": 1}]) == "1,2,3,,,[object Object]"


@pytest.mark.parametrize(("text", "expected"), [
    ("a=1&a=2", {"a": ["1", "2"]}),
    ("a[b]=1&c[]=x&c[]=y", {"a": {"b": "1"}, "c": ["x", "y"]}),
    ("a=1&a[b]=2", {"a": ["1", {"b": "2"}]}),  # qs merges a string with an object into an array
    ("a[b]=2&a=1", {"a": {"b": "2", "1": True}}),
    ("a[b]=1&a[b][c]=2", {"a": {"b": ["1", {"c": "2"}]}}),
    ("a[2]=x&a[0]=y", {"a": ["y", "x"]}),  # sparse indexes, compacted
    ("a[500]=x", {"a": {"500": "x"}}),  # past arrayLimit (max(100, parameters)): a key
    ("a[]=1&a[x]=2", {"a": {"0": "1", "x": "2"}}),
    ("a[b=c]=d", {"a": {"b=c": "d"}}), ("x=%E0%A4%A&y=%41+b", {"x": "%E0%A4%A", "y": "A b"}),
    ("&=1&b", {"b": ""}),
])
def test_qs(text: str, expected: dict[str, Any]) -> None:
    assert qs.parse(text, text.count("&")) == expected


def test_qs_deep_keys_need_no_recursion() -> None:
    found = qs.parse("a" + "[b]" * 50_000 + "=1", 0)
    depth = 0
    node: Any = found["a"]
    while isinstance(node, dict):
        node, depth = node["b"], depth + 1
    assert (depth, node) == (50_000, "1")


@pytest.mark.parametrize(("text", "expected"), [
    ("12", 12), ("+7", 7), ("-5", -5), ("2147483646", 2147483646), ("9223372036854775807", 2 ** 63 - 1),
    ("9223372036854775808", None), ("99999999999999999999", None), (BIG, None),
    ("١", None), ("１", None), ("²", None), (" 5", None), ("5 ", None), ("1_0", None), ("", None), ("0x10", None)])
def test_atoi(text: str, expected: int | None) -> None:
    assert atoi(text) == expected


WDT = gojson.GoStruct("WDT", {"enabled": "bool", "seconds": "int", "names": "[]string"}, package="",
                      max_depth=10000)


def test_go_decode_reads_the_first_value_only_and_skips_unknown_fields() -> None:
    body = f'  {{"Enabled": true, "seconds": 15, "junk": {BIG}, "deep": {"[" * 9000}{"]" * 9000}}} trailing {{'
    assert gojson.decode(body.encode(), WDT) == {"enabled": True, "seconds": 15, "names": None}
    assert gojson.decode(b'{"names": ["a", null, "b"]}', WDT)["names"] == ["a", "", "b"]


@pytest.mark.parametrize(("text", "message"), [
    ("", "EOF"), (" \n", "EOF"), ('{"seconds":', "unexpected EOF"),
    (f'{{"seconds":{BIG}}}', f"json: cannot unmarshal number {BIG} into Go struct field WDT.seconds of type int"),
    ('{"seconds":1e2}', "json: cannot unmarshal number 1e2 into Go struct field WDT.seconds of type int"),
    ('{"seconds":"1"}', "json: cannot unmarshal string into Go struct field WDT.seconds of type int"),
    ('{"names":["a",1]}', "json: cannot unmarshal number into Go struct field WDT.names of type string"),
    ('{"names":"a"}', "json: cannot unmarshal string into Go struct field WDT.names of type []string"),
    ("[1]", "json: cannot unmarshal array into Go value of type WDT"),
    ('{"seconds":NaN}', "invalid character 'N' looking for beginning of value"),
    ('{"seconds":-Infinity}', "invalid character 'I' in numeric literal"),
    ('{"x":' + "[" * 10000 + "]" * 10000 + "}", "invalid character '[' exceeded max depth"),
])
def test_go_decode_errors(text: str, message: str) -> None:
    with pytest.raises(gojson.GoJSONError) as info:
        gojson.decode(text.encode(), WDT)
    assert str(info.value) == message


@pytest.mark.parametrize(("pair", "expected"), [
    ([24, 80], (24, 80)), ([24.9, 80], (24, 80)), ((0, -3), (1, 1)), ([10 ** 400, 5000], (1000, 1000)),
    ([math.inf, 1], None), ([math.nan, 1], None), (["24", 80], None), ([True, 80], None), ([24], None),
    (None, None), ({"a": 1}, None)])
def test_window_size(pair: Any, expected: tuple[int, int] | None) -> None:
    assert window_size(pair) == expected
