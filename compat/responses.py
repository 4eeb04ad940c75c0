"""Response classes shared by the dialects (subclass to change one thing, as Starlette does)."""

from __future__ import annotations

import json
from typing import Any

import orjson
from starlette.responses import JSONResponse, Response


class CompactJSON(JSONResponse):
    """Compact JSON in insertion order (what express, Go and gin write); orjson-encoded."""

    def __init__(self, content: Any, status_code: int = 200, headers: dict[str, str] | None = None,
                 media_type: str = "application/json; charset=utf-8") -> None:
        super().__init__(content, status_code, headers, media_type)

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class SpacedJSON(JSONResponse):
    """JSON as Python's json.dumps writes it by default (", " and ": "), as aiohttp sent it."""

    media_type = "application/json; charset=utf-8"

    def render(self, content: Any) -> bytes:
        return json.dumps(content).encode("utf-8")


class Text(Response):
    """A text body with an exact content type (no charset added unless given)."""

    def __init__(self, body: str | bytes, status_code: int = 200, media_type: str = "text/plain",
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(body, status_code, headers, None)
        self.headers["content-type"] = media_type
