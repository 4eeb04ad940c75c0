"""An add-on's options against its own schema: tag 138's option schema language and messages.

The expected values and messages were taken from 138's validate_options run on these inputs: a
value is what changed against GOOD after validation, a text is the vol.Invalid's message (the API
humanizes it). Unknown keys are dropped with a warning.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

import pytest
import voluptuous as vol

from handlers.homeassistant.addons.options import LegacyCrash, options_schema, validate_options

DROP = object()  # the key is left out

SCHEMA = {"name": "str", "count": "int(1,10)", "ratio": "float(0.5,2.5)?", "on": "bool?", "mail": "email?",
          "link": "url?", "port": "port?", "code": "match(^[a-z]+$)?", "hosts": ["str"],
          "users": [{"name": "str", "age": "int?", "tags": ["str"]}],
          "login": {"user": "str", "keys": ["str?"], "pin": "int(0,)?"}, "any": "int?"}
GOOD = {"name": "n", "count": 5, "hosts": [], "users": [], "login": {"user": "u", "keys": []}}
OPTION_CASES = [
    ('minimal', {}, {}),
    ('int text', {'count': '7'}, {'count': 7}),
    ('int low', {'count': 0}, 'value must be at least 1.0'),
    ('int high', {'count': 11}, 'value must be at most 10.0'),
    ('int float', {'count': 2.9}, {'count': 2}),
    ('int word', {'count': 'seven'}, 'expected int'),
    ('int bool', {'count': True}, {'count': 1}),
    ('float ok', {'ratio': '1.5'}, {'ratio': 1.5}),
    ('float low', {'ratio': 0.1}, 'value must be at least 0.5'),
    ('float high', {'ratio': 3}, 'value must be at most 2.5'),
    ('bool text', {'on': 'yes'}, {'on': True}),
    ('bool bad', {'on': 'maybe'}, 'expected boolean'),
    ('email ok', {'mail': 'a@example.org'}, {'mail': 'a@example.org'}),
    ('email bad', {'mail': 'nobody'}, 'expected an Email'),
    ('url ok', {'link': 'http://example.org'}, {'link': 'http://example.org'}),
    ('url bad', {'link': 'example'}, 'expected a URL'),
    ('port ok', {'port': '8080'}, {'port': 8080}),
    ('port zero', {'port': 0}, 'value must be at least 1'),
    ('port big', {'port': 65536}, 'value must be at most 65535'),
    ('match ok', {'code': 'abc'}, {'code': 'abc'}),
    ('match bad', {'code': 'ABC'}, 'does not match regular expression'),
    ('str number', {'name': 5}, {'name': '5'}),
    ('str null', {'name': None}, "Missing required option 'name'"),
    ('missing name', {'name': DROP}, 'Missing option name in root'),
    ('missing login', {'login': DROP}, 'Missing option login in root'),
    ('missing hosts', {'hosts': DROP}, 'Missing option hosts in root'),
    ('unknown key', {'other': 1}, {}),
    ('list ok', {'hosts': ['a', 2]}, {'hosts': ['a', '2']}),
    ('list null item', {'hosts': ['a', None]}, "Missing required option 'hosts'"),
    ('list text', {'hosts': 'ab'}, {'hosts': ['a', 'b']}),
    ('list dicts', {'users': [{'name': 'x', 'tags': ['t'], 'age': '3', 'zzz': 1}]},
     {'users': [{'name': 'x', 'tags': ['t'], 'age': 3}]}),
    ('list dict missing', {'users': [{'name': 'x'}]}, 'Missing option tags in users'),
    ('list dict bad age', {'users': [{'name': 'x', 'tags': [], 'age': 'old'}]}, 'expected int'),
    ('nested missing user', {'login': {'keys': []}}, 'Missing option user in login'),
    ('nested unknown', {'login': {'user': 'u', 'keys': ['k'], 'extra': 1}},
     {'login': {'user': 'u', 'keys': ['k']}}),
    ('nested keys null', {'login': {'user': 'u', 'keys': [None]}}, "Missing required option 'keys'"),
    ('nested pin', {'login': {'user': 'u', 'keys': [], 'pin': '-1'}}, 'value must be at least 0.0'),
    ('optional null', {'any': None}, "Missing required option 'any'"),
]


@pytest.mark.parametrize(("changes", "expected"), [c[1:] for c in OPTION_CASES],
                         ids=[c[0] for c in OPTION_CASES])
def test_options(changes: dict[str, Any], expected: dict[str, Any] | str) -> None:
    options = copy.deepcopy(GOOD)
    for key, value in changes.items():
        if value is DROP:
            options.pop(key)
        else:
            options[key] = value
    if isinstance(expected, str):
        with pytest.raises(vol.Invalid) as err:
            validate_options(SCHEMA, options)
        assert str(err.value) == expected
    else:
        result = validate_options(SCHEMA, options)
        assert {k: v for k, v in result.items() if GOOD.get(k, DROP) != v} == expected


def test_unknown_options_are_dropped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "polyvisor.hassio.addons"):
        result = validate_options({"a": "str", "b": {"c": "int?"}}, {"a": "x", "z": 1, "b": {"y": 2}})
    assert result == {"a": "x", "b": {}}
    assert [r.getMessage() for r in caplog.records] == ["Unknown options z", "Unknown options y"]


@pytest.mark.parametrize(("schema", "options", "message"), [
    ({"a": []}, {"a": [1]}, "Type error for a"),  # an empty list in the schema
    ({"a": {"b": []}}, {"a": {"b": [1]}}, "Type error for a"),
    ({"a": ""}, {"a": 1}, "Fatal error for a type "),  # the empty element the schema pattern lets through
    ({"a": "?"}, {"a": 1}, "Fatal error for a type ?"),
    ({"a": "str"}, "text", "expected dict"),
    ({"a": "str"}, None, "expected dict"),
    ({"a": "int"}, {"a": [1]}, "expected int"),
    ({"a": "str", "b": "str"}, {}, "Missing option a in root"),  # the first in schema order
])
def test_schema_corners(schema: dict[str, Any], options: Any, message: str) -> None:
    with pytest.raises(vol.Invalid) as err:
        validate_options(schema, options)
    assert str(err.value) == message


def test_optional_keys_may_be_left_out() -> None:
    assert validate_options({"a": "str?", "b": "int(1,)?", "c": ["str"]}, {"c": []}) == {"c": []}
    assert validate_options({"a": "str?"}, {}) == {}


def test_lists_iterate_text_and_dicts_as_138_did() -> None:
    assert validate_options({"a": ["str"]}, {"a": "xy"}) == {"a": ["x", "y"]}
    assert validate_options({"a": ["str"]}, {"a": {"k": 1}}) == {"a": ["k"]}


@pytest.mark.parametrize(("schema", "options"), [
    ({"a": ["str"]}, {"a": 5}),  # 138 iterated the number: TypeError
    ({"a": ["str"]}, {"a": None}),
    ({"a": {"b": "str"}}, {"a": "x"}),  # 138 called .items(): AttributeError
    ({"a": {"b": "str"}}, {"a": None}),
    ({"a": [{"b": "str"}]}, {"a": ["x"]}),
    ({"a": "match([)"}, {"a": "x"}),  # 138 compiled a broken pattern: re.error
])
def test_where_138_crashed(schema: dict[str, Any], options: Any) -> None:
    """LegacyCrash is a TypeError: the dialect's body validation answers it 500 as aiohttp did."""
    with pytest.raises(LegacyCrash):
        validate_options(schema, options)
    assert issubclass(LegacyCrash, TypeError) and not issubclass(LegacyCrash, vol.Invalid)


def test_schema_false_takes_any_dict() -> None:
    assert validate_options(False, {"anything": [1, {"x": None}]}) == {"anything": [1, {"x": None}]}
    with pytest.raises(vol.Invalid, match="expected dict"):
        validate_options(False, ["x"])
    schema = options_schema({"a": "int"})
    assert vol.Schema(vol.Any(None, schema))(None) is None  # 138's SCHEMA_OPTIONS: null resets them
    assert schema({"a": "3"}) == {"a": 3}
