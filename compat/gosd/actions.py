"""GET /gosd/api/v1/{action}/ (api/action.go): a JSON file served verbatim, the caller's group's
own (`<data>/gosd/data/<group id>/<action>.json`), else the shared one (`<data>/gosd/data/<action>.json`),
else a default of ours with the shape of the files gosd shipped (nodes, sidebar, user).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
from starlette.responses import Response

from compat.gosd.common import Call, MuxRouter, ServerError, raw_json

routes = MuxRouter()  # compat.gosd.dialect serves it

# Ours, in the shape of gosd's data/*.json (what its web UI reads): a drone and a depot with
# their points, the sidebar's entries, the user card.
DEFAULTS: dict[str, Any] = {
    "nodes": [
        {"id": 1, "name": "drone-1", "description": "", "created_at": "2021-01-01T00:00:00.000Z",
         "updated_at": "2021-01-01T00:00:00.000Z",
         "points": [{"id": 1, "name": "status", "node_id": 1, "point_type_id": 1,
                     "created_at": "2021-01-01T00:00:00.000Z", "updated_at": "2021-01-01T00:00:00.000Z",
                     "point_type_name": "drone_status"}],
         "type_name": "air"},
        {"id": 2, "name": "depot-1", "description": "", "created_at": "2021-01-01T00:00:00.000Z",
         "updated_at": "2021-01-01T00:00:00.000Z", "points": [], "type_name": "depot"},
    ],
    "sidebar": [{"type": "overview"}, {"type": "plan"}, {"type": "node", "args": "drone"},
                {"type": "node", "args": "depot"}],
    "user": {"id": 1, "email": "admin@localhost", "created_at": "2021-01-01T00:00:00.000Z",
             "updated_at": "2021-01-01T00:00:00.000Z"},
}


def data_folder(call: Call) -> Path:
    """<data dir>/gosd/data, the folder of the action files."""
    return Path(call.context.settings.data_dir) / "gosd" / "data"


def read_action(folder: Path, group_id: int | None, action: str) -> bytes:
    """The action's file (the group's, else the shared one, else our default); ServerError with
    ioutil.ReadFile's text when there is none. `action` is one path segment (mux's `{action}`):
    with no slash in it, the file it names is always inside the folder."""
    if "/" in action or "\x00" in action:  # never from the router; refused all the same
        raise ServerError(f"open data/{action}.json: invalid argument")
    candidates = ([folder / str(group_id) / f"{action}.json"] if group_id is not None else [])
    candidates.append(folder / f"{action}.json")
    for path in candidates:
        try:
            return path.read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            continue
        except OSError as err:  # a name too long, no permission: Go's error text, as ReadFile gave it
            text = os.strerror(err.errno) if err.errno else str(err)
            raise ServerError(f"open data/{action}.json: {text[:1].lower()}{text[1:]}") from None
    if action in DEFAULTS:
        return orjson.dumps(DEFAULTS[action])
    raise ServerError(f"open data/{action}.json: no such file or directory")


@routes.add("GET", "/gosd/api/v1/:action/")
async def get_action(call: Call) -> Response:
    """actionHandler: the file's bytes as application/json (no miniflux headers)."""
    group = getattr(call.user, "group", None) if call.user is not None else None
    content = await call.run(read_action, data_folder(call), getattr(group, "id", None), call.param("action"))
    return raw_json(content)
