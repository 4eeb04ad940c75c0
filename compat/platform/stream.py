"""Server-Sent Events as gin's c.SSEvent writes them, and the multiplexed /platform/api/events.

gin-contrib/sse frames: `event:<name>\\ndata:<compact JSON>\\n\\n`, Content-Type
`text/event-stream;charset=utf-8`, Cache-Control `no-cache`. A route serves SSE instead of
JSON when the client sends `Accept: text/event-stream` (what EventSource sends).
Readings are shared between clients: one read per source and interval, however many listen.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import StreamingResponse

from compat.base import Context, Router

routes = Router()  # compat.platform.dialect serves it after its own routes

log = logging.getLogger("polyvisor.platform.sse")

CONTENT_TYPE = "text/event-stream;charset=utf-8"


def wants_stream(request: Request) -> bool:
    """True when the client asks for an event stream."""
    return "text/event-stream" in request.headers.get("accept", "")


def frame(event: str, data: Any) -> bytes:
    """One SSE frame the way gin-contrib/sse encodes it."""
    return b"event:" + event.encode() + b"\ndata:" + orjson.dumps(data) + b"\n\n"


class Snapshots:
    """The latest reading of each source, re-read at most once per `ttl` seconds for all clients."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._values: dict[Callable[[], Any], tuple[float, Any]] = {}
        self._locks: dict[Callable[[], Any], asyncio.Lock] = {}

    async def get(self, source: Callable[[], Any]) -> Any:
        """The source's reading, from the cache when fresh."""
        lock = self._locks.setdefault(source, asyncio.Lock())
        async with lock:
            cached = self._values.get(source)
            if cached is not None and time.monotonic() - cached[0] < self.ttl:
                return cached[1]
            value = await run_in_threadpool(source)
            self._values[source] = (time.monotonic(), value)
            return value


def _snapshots(context: Context) -> Snapshots:
    platform = context.services.platform
    if getattr(platform, "snapshots", None) is None:
        platform.snapshots = Snapshots(max(platform.sse_interval * 0.9, 0.05))
    snapshots: Snapshots = platform.snapshots
    return snapshots


def event_stream(request: Request, context: Context, sources: Mapping[str, Callable[[], Any]]) -> StreamingResponse:
    """Every `sse_interval` seconds, one frame per source (event name -> reader); errors skip a source."""
    interval = float(context.services.platform.sse_interval)
    snapshots = _snapshots(context)

    async def frames() -> AsyncIterator[bytes]:
        while True:
            for event, source in sources.items():
                try:
                    value = await snapshots.get(source)
                except Exception as err:  # noqa: BLE001 - a source the machine lacks: leave its event out
                    log.debug("sse %s: %s", event, err)
                    continue
                yield frame(event, value)
            await asyncio.sleep(interval)  # Starlette ends the stream when the client goes

    return StreamingResponse(frames(), 200, {"Cache-Control": "no-cache"}, CONTENT_TYPE)


@routes.add("GET", "/platform/api/events", domain="Events")
async def get_events(request: Request, context: Context) -> StreamingResponse:
    """diskdrives, hwmon, netifaces, processes, pwrstatus, systemperf (snmptrap: no source)."""
    p = context.services.platform
    return event_stream(request, context, {
        "diskdrives": p.disks.list, "hwmon": p.sensors.all, "netifaces": p.netconfig.interfaces,
        "processes": p.processes.list, "pwrstatus": p.power_status, "systemperf": p.sysinfo.systemperf,
    })
