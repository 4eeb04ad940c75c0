"""qs 6's parse() as body-parser's urlencoded({extended: true}) called it: `allowPrototypes`,
`depth: Infinity`, `arrayLimit: max(100, parameter count)`.

`a=1&a=2` -> {"a": ["1", "2"]}, `a[b]=1` -> {"a": {"b": "1"}}, `a[]=1` and `a[0]=1` -> arrays,
and the odd merges qs makes of keys that disagree (`a=1&a[b]=2` -> {"a": ["1", {"b": "2"}]}).
Keys of any depth build their objects in a loop; qs merged two keys recursively, so a merge
deeper than the stack allows is a RecursionError here as node's was a RangeError.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote


class _Hole:
    """A missing element of a sparse JS array (`a[2]=x` makes [ , , x]); compact() drops them."""


HOLE = _Hole()
_SEGMENT = re.compile(r"\[[^\[\]]*\]")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_INDEX = re.compile(r"\[[0-9]+\]")


def decode_uri_component(text: str) -> str:
    """JavaScript's decodeURIComponent: %XX sequences as UTF-8; ValueError (its URIError) for a `%`
    not followed by two hex digits or bytes that are not UTF-8."""
    if "%" not in text:
        return text
    if _BAD_ESCAPE.search(text):
        raise ValueError("URI malformed")
    try:
        return unquote(text, errors="strict")
    except UnicodeDecodeError as err:
        raise ValueError("URI malformed") from err


def decode(text: str) -> str:
    """qs's decoder: `+` is a space, then decodeURIComponent; text it cannot decode stays as is."""
    text = text.replace("+", " ")
    try:
        return decode_uri_component(text)
    except ValueError:
        return text


def parse(text: str, parameters: int) -> dict[str, Any]:
    """qs.parse(text, {allowPrototypes: true, depth: Infinity, arrayLimit: max(100, parameters)})."""
    values: dict[str, Any] = {}
    for part in text.split("&"):
        bracket_equals = part.find("]=")
        at = part.find("=") if bracket_equals == -1 else bracket_equals + 1
        key, value = (decode(part), "") if at == -1 else (decode(part[:at]), decode(part[at + 1:]))
        if key in values:
            values[key] = (values[key] if isinstance(values[key], list) else [values[key]]) + [value]
        else:
            values[key] = value
    result: Any = {}
    limit = max(100, parameters)
    for key, value in values.items():
        if key:  # parseKeys ignores an empty key
            result = merge(result, _parse_object(_chain(key), value, limit))
    if any(_INDEX.search(key) for key in values):  # only an index segment leaves holes
        compact(result)
    return dict(result) if isinstance(result, dict) else {}


def _chain(key: str) -> list[str]:
    """parseKeys: the parent before the first `[`, then every `[segment]` (depth Infinity)."""
    first = _SEGMENT.search(key)
    parent = key[:first.start()] if first else key
    return ([parent] if parent else []) + [m.group(0) for m in _SEGMENT.finditer(key)]


def _parse_object(chain: list[str], value: Any, limit: int) -> Any:
    """parseObject: the leaf wrapped by each key of the chain, innermost first."""
    leaf = value
    for root in reversed(chain):
        if root == "[]":
            leaf = list(leaf) if isinstance(leaf, list) else [leaf]  # [].concat(leaf)
            continue
        clean = root[1:-1] if root.startswith("[") and root.endswith("]") else root
        # an index: String(parseInt(clean)) === clean, within the array limit
        if (clean != root and clean.isascii() and clean.isdigit() and (clean == "0" or clean[0] != "0")
                and len(clean) <= 6 and int(clean) <= limit):
            leaf = [HOLE] * int(clean) + [leaf]  # obj = []; obj[index] = leaf
        else:
            leaf = {clean: leaf}
    return leaf


def _array_to_object(items: list[Any]) -> dict[str, Any]:
    return {str(i): item for i, item in enumerate(items) if item is not HOLE}


def merge(target: Any, source: Any) -> Any:
    """qs utils.merge: `source` into `target` (recursive, as qs's was)."""
    if source == "" or source is HOLE:  # !source
        return target
    if not isinstance(source, (dict, list)):
        if isinstance(target, list):
            target.append(source)
        elif isinstance(target, dict):
            target[source] = True
        else:
            return [target, source]
        return target
    if not isinstance(target, (dict, list)):
        return [target, *(source if isinstance(source, list) else [source])]  # [target].concat(source)
    if isinstance(target, list) and isinstance(source, list):
        for i, item in enumerate(source):
            if item is HOLE:  # forEach skips holes
                continue
            if i < len(target) and target[i] is not HOLE:
                if isinstance(target[i], (dict, list)):
                    target[i] = merge(target[i], item)
                else:
                    target.append(item)
            else:
                target.extend([HOLE] * (i + 1 - len(target)))
                target[i] = item
        return target
    into = _array_to_object(target) if isinstance(target, list) else target
    pairs = _array_to_object(source).items() if isinstance(source, list) else source.items()
    for key, value in pairs:
        into[key] = merge(into[key], value) if key in into else value
    return into


def compact(value: Any) -> None:
    """qs utils.compact: every array loses its holes (breadth first, no recursion)."""
    queue = [value]
    seen: set[int] = set()
    while queue:
        node = queue.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, list):
            node[:] = [item for item in node if item is not HOLE]
            queue.extend(item for item in node if isinstance(item, (dict, list)))
        elif isinstance(node, dict):
            queue.extend(item for item in node.values() if isinstance(item, (dict, list)))
