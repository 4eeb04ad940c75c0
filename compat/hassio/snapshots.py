"""/snapshots: list, reload, make full or partial, upload, info, remove, download, restore full or
partial (tag 138's hassio/api/snapshots.py, hassio.md §4).

Schemas as 138 declared them. A snapshot or restore runs in a worker thread while the API keeps
answering; a second one meanwhile is 400 with message null, as every failure of those calls.
`download` was not wrapped by api_process: an unknown slug crashed it (500).
"""

from __future__ import annotations

import logging
from typing import Any

import voluptuous as vol
from starlette.requests import ClientDisconnect
from starlette.responses import FileResponse, Response

from compat.base import Router
from compat.hassio.common import APIError, Call, Crash
from handlers.homeassistant.snapshots.manager import Snapshots
from handlers.homeassistant.snapshots.snapshot import Snapshot

log = logging.getLogger("polyvisor.hassio.snapshots")
routes = Router()  # compat.hassio.dialect serves it

# hassio/snapshots/validate.py ALL_FOLDERS
ALL_FOLDERS = ["homeassistant", "share", "addons/local", "ssl"]
CONTENT_TYPE_TAR = "application/tar"
UPLOAD_CHUNK = 1024 * 1024  # bytes gathered before a write in a worker thread

SCHEMA_RESTORE_PARTIAL = vol.Schema({
    vol.Optional("password"): vol.Any(None, vol.Coerce(str)),
    vol.Optional("homeassistant"): vol.Boolean(),
    vol.Optional("addons"): vol.All([vol.Coerce(str)], vol.Unique()),
    vol.Optional("folders"): vol.All([vol.In(ALL_FOLDERS)], vol.Unique()),
})

SCHEMA_RESTORE_FULL = vol.Schema({
    vol.Optional("password"): vol.Any(None, vol.Coerce(str)),
})

SCHEMA_SNAPSHOT_FULL = vol.Schema({
    vol.Optional("name"): vol.Coerce(str),
    vol.Optional("password"): vol.Any(None, vol.Coerce(str)),
})

SCHEMA_SNAPSHOT_PARTIAL = SCHEMA_SNAPSHOT_FULL.extend({
    vol.Optional("addons"): vol.All([vol.Coerce(str)], vol.Unique()),
    vol.Optional("folders"): vol.All([vol.In(ALL_FOLDERS)], vol.Unique()),
})


def manager(call: Call) -> Snapshots:
    found: Snapshots | None = call.services.hassio_snapshots
    if found is None:  # a Services made by hand without snapshots
        raise Crash("no snapshots on this agent")
    return found


async def extract_snapshot(call: Call) -> Snapshot:
    """_extract_snapshot: the snapshot of the path, else 400 "Snapshot does not exist"."""
    found: Snapshot | None = await call.run(manager(call).get, call.params["snapshot"])
    if found is None:
        raise APIError("Snapshot does not exist")
    return found


@routes.add("GET", "/snapshots")
async def listing(call: Call) -> dict[str, Any]:
    """Every snapshot: slug, name, date, type, protected."""
    found: list[Snapshot] = await call.run(manager(call).listing)
    return {"snapshots": [{"slug": s.slug, "name": s.data["name"], "date": s.data["date"], "type": s.type,
                           "protected": s.protected} for s in found]}


@routes.add("POST", "/snapshots/reload")
async def reload(call: Call) -> bool:
    await call.run(manager(call).reload)
    return True


@routes.add("POST", "/snapshots/new/full")
async def snapshot_full(call: Call) -> dict[str, Any] | bool:
    """All installed add-ons and folders; {slug} or 400 with message null."""
    body = await call.validate(SCHEMA_SNAPSHOT_FULL)
    slug = await call.run(manager(call).new_full, body.get("name", ""), body.get("password"))
    return {"slug": slug} if slug else False


@routes.add("POST", "/snapshots/new/partial")
async def snapshot_partial(call: Call) -> dict[str, Any] | bool:
    body = await call.validate(SCHEMA_SNAPSHOT_PARTIAL)
    slug = await call.run(manager(call).new_partial, body.get("name", ""), body.get("addons"),
                          body.get("folders"), body.get("password"))
    return {"slug": slug} if slug else False


@routes.add("POST", "/snapshots/new/upload")
async def upload(call: Call) -> dict[str, Any] | bool:
    """The raw body (any content type, no size limit: 138 streamed request.content) as a snapshot
    file; {slug}, or 400 with message null when it is not a complete snapshot, its slug exists or
    it cannot be written. Nothing is kept on failure."""
    snapshots = manager(call)
    part = await call.run(snapshots.new_part)
    try:
        with part.open("wb") as target:
            pending = bytearray()
            async for chunk in call.request.stream():
                pending += chunk
                if len(pending) >= UPLOAD_CHUNK:
                    await call.run(target.write, bytes(pending))
                    pending.clear()
            await call.run(target.write, bytes(pending))
    except OSError as err:
        await call.run(snapshots.discard, part)
        log.error("Can't write new snapshot file: %s", err)
        return False
    except ClientDisconnect:  # 138: CancelledError -> False
        await call.run(snapshots.discard, part)
        log.warning("upload of a snapshot: the client went away")
        return False
    except BaseException:
        await call.run(snapshots.discard, part)
        raise
    slug = await call.run(snapshots.import_part, part)
    return {"slug": slug} if slug else False


@routes.add("GET", "/snapshots/:snapshot/info")
async def info(call: Call) -> dict[str, Any]:
    snapshot = await extract_snapshot(call)
    return {
        "slug": snapshot.slug,
        "type": snapshot.type,
        "name": snapshot.data["name"],
        "date": snapshot.data["date"],
        "size": await call.run(lambda: snapshot.size),
        "protected": snapshot.protected,
        "homeassistant": snapshot.homeassistant.get("version"),
        "addons": [{key: addon[key] for key in ("slug", "name", "version", "size")} for addon in snapshot.addons],
        "repositories": list(snapshot.data["repositories"]),
        "folders": snapshot.folders,
    }


@routes.add("POST", "/snapshots/:snapshot/remove")
async def remove(call: Call) -> bool:
    snapshot = await extract_snapshot(call)
    removed: bool = await call.run(manager(call).remove, snapshot.slug)
    return removed


@routes.add("POST", "/snapshots/:snapshot/restore/full")
async def restore_full(call: Call) -> bool:
    """Refused (400 null) for a partial snapshot, a wrong password or while another runs."""
    snapshot = await extract_snapshot(call)
    body = await call.validate(SCHEMA_RESTORE_FULL)
    restored: bool = await call.run(manager(call).restore_full, snapshot.slug, body.get("password"))
    return restored


@routes.add("POST", "/snapshots/:snapshot/restore/partial")
async def restore_partial(call: Call) -> bool:
    snapshot = await extract_snapshot(call)
    body = await call.validate(SCHEMA_RESTORE_PARTIAL)
    restored: bool = await call.run(manager(call).restore_partial, snapshot.slug, body.get("homeassistant", False),
                                    body.get("addons"), body.get("folders"), body.get("password"))
    return restored


@routes.add("GET", "/snapshots/:snapshot/download")
async def download(call: Call) -> Response:
    """The snapshot file as application/tar; an unknown slug is 138's 500 (no api_process here)."""
    found: Snapshot | None = await call.run(manager(call).get, call.params["snapshot"])
    if found is None:
        raise Crash("Snapshot does not exist (download: no api_process, 500 as tag 138)")
    return FileResponse(found.path, media_type=CONTENT_TYPE_TAR)
