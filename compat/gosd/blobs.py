"""Blobs (api/blob.go), the same handlers under /gosd/api/v2/blobs (token needed) and
/gosd/api/v1/blobs (no token: gosd's auth middleware let that prefix through, since Lua hands
`BASE_URL/api/v1/blobs/<id>` to nodes).
"""

from __future__ import annotations

from urllib.parse import quote_plus

from starlette.responses import Response

from compat.gosd.common import DIGITS, SUBROUTER_CORS, Call, MuxRouter, ServerError, answer, read_form

routes = MuxRouter()  # compat.gosd.dialect serves it
# updateBlob with no file part in the body (or a body that is no multipart form)
NO_CONTENT = "not found content"


async def post_blobs(call: Call) -> Response:
    """createBlob: each file part a new blob, `{form name: id as a string}`; text fields are
    ignored, a body that is no multipart form gives `{}`."""
    form = await read_form(call)
    ids: dict[str, str] = {}
    if form is not None:
        latest = {part.name: part for part in form.files}  # a map by form name: the last part wins
        for name, part in latest.items():
            ids[name] = str(await call.run(call.store.create_blob, part.filename, part.content))
    return answer(call.request, dict(sorted(ids.items())))


def content_disposition(filename: str) -> str:
    """`attachment; filename*=UTF-8''<url.QueryEscape(filename)>` (a space is `+`, as Go's)."""
    return "attachment; filename*=UTF-8''" + quote_plus(filename, safe="", encoding="utf-8", errors="replace")


async def get_blob(call: Call) -> Response:
    """blobByID: the bytes as application/octet-stream, as an attachment (404 when unknown)."""
    blob = await call.run(call.store.blob, call.int_param("id"))
    headers = {**SUBROUTER_CORS, "Content-Disposition": content_disposition(blob.filename)}
    response = Response(bytes(blob.content), 200, headers)
    response.headers["content-type"] = "application/octet-stream"
    return response


async def put_blob(call: Call) -> Response:
    """updateBlob: the first file part replaces the blob's name and content: `{"id","filename"}`."""
    form = await read_form(call)
    if form is None or not form.files:
        raise ServerError(NO_CONTENT)
    part = form.files[0]  # gosd took one from a map (any of them); we take the first
    blob = await call.run(call.store.replace_blob, call.int_param("id"), part.filename, part.content)
    return answer(call.request, {"id": blob.id, "filename": blob.filename})


async def delete_blob(call: Call) -> Response:
    """destroyBlob: the id as a bare JSON number; nothing is deleted (a TODO in v2.2.0)."""
    return answer(call.request, call.int_param("id"))


for prefix in ("/gosd/api/v2/blobs", "/gosd/api/v1/blobs"):
    routes.add("POST", f"{prefix}/")(post_blobs)
    routes.add("GET", f"{prefix}/:id", where=DIGITS)(get_blob)
    routes.add("PUT", f"{prefix}/:id", where=DIGITS)(put_blob)
    routes.add("PATCH", f"{prefix}/:id", where=DIGITS)(put_blob)
    routes.add("DELETE", f"{prefix}/:id", where=DIGITS)(delete_blob)
