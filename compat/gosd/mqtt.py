"""GET|POST /gosd/api/v2/mqtt/<key> (api/mqtt.go): gosd's raw proxy to its Redis keys (node and
plan state, e.g. `plans/1/term`), here the key/value state handlers.gosd's nodes keep.
"""

from __future__ import annotations

from starlette.responses import Response

from compat.gosd.common import Call, MuxRouter, ServerError, error, raw_json

routes = MuxRouter()  # compat.gosd.dialect serves it
# redigo's ErrNil, which gosd answered through json.ServerError for a key Redis did not have
NIL = "redigo: nil returned"
READ_SIZE = 4096  # mqttPut read the body with one Read into a 4096-byte buffer


def key_of(call: Call) -> str:
    """strings.Split(r.URL.Path, "/mqtt/")[1]: what follows the first `/mqtt/`, up to a second."""
    return str(call.request.scope["path"]).split("/mqtt/")[1]


def nodes(call: Call) -> object:
    """handlers.gosd's node state (Services.gosd_nodes)."""
    found = getattr(call.services, "gosd_nodes", None)
    if found is None:
        raise ServerError("gosd nodes are not configured")
    return found


@routes.add("GET", "/gosd/api/v2/mqtt/:key", where={"key": r"[\s\S]*"})
async def get_mqtt(call: Call) -> Response:
    """mqttGet: the key's value verbatim as application/json; a missing key is 500 `redigo: nil returned`."""
    value = await call.run(nodes(call).get, key_of(call))  # type: ignore[attr-defined]
    if value is None:
        return error(call.request, 500, NIL)
    return raw_json(value.encode("utf-8", "surrogateescape") if isinstance(value, str) else bytes(value))


@routes.add("POST", "/gosd/api/v2/mqtt/:key", where={"key": r"[\s\S]*"})
async def post_mqtt(call: Call) -> Response:
    """mqttPut: sets the key to the body (its first 4096 bytes) and answers the previous value;
    a key that had none is 500 `redigo: nil returned` (the value is set all the same)."""
    body = (await call.body())[:READ_SIZE]
    previous = await call.run(nodes(call).set, key_of(call), body.decode("utf-8", "surrogateescape"))  # type: ignore[attr-defined]
    if previous is None:
        return error(call.request, 500, NIL)
    return raw_json(previous.encode("utf-8", "surrogateescape") if isinstance(previous, str) else bytes(previous))
