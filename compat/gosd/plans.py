"""Plans (api/plan.go, api/payload.go): list, create (201), replace, delete, as JSON or as a
multipart form whose file parts become blobs.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from compat.gojson import GoJSONError, GoStruct, decode, first_value
from compat.gosd.common import (
    DIGITS,
    BadRequest,
    Call,
    Form,
    MuxRouter,
    answer,
    go_map,
    media_type,
    read_form,
)
from compat.gosd.common import store_files as store_form_files
from handlers.errors import NotFound

routes = MuxRouter()  # compat.gosd.dialect serves it

PLAN = GoStruct("Plan", {"id": "int", "name": "string", "description": "string", "node_id": "int",
                         "files": "any", "extra": "any"}, package="model")
DECODE_ERROR = "Unable to decode plan modification JSON object: {}"
MAPS = ("files", "extra")


def plan_json(plan: Any, files: Any = ..., extra: Any = ...) -> dict[str, Any]:
    """model.Plan as json.Marshal wrote it (no group, no timestamps); files and extra as read
    from the database ({} when empty) unless the request's own are given (null when absent)."""
    return {"id": plan.id, "name": plan.name, "description": plan.description, "node_id": plan.node_id,
            "files": go_map(plan.files or {}) if files is ... else go_map(files),
            "extra": go_map(plan.extra or {}) if extra is ... else go_map(extra)}


def _go_int64(error: GoJSONError) -> GoJSONError:
    """The decoder names Go's int; model.Plan's fields are int64."""
    text = str(error)
    return GoJSONError(text + "64") if text.endswith("of type int") else error


def _string_map(raw: Any, name: str) -> dict[str, str] | None:
    """A map[string]string field: null stays nil, a null value is "", anything else a type error."""
    if raw is None:
        return None
    kinds = {list: "array", str: "string", bool: "bool", int: "number", float: "number"}
    if not isinstance(raw, dict):
        raise GoJSONError(f"json: cannot unmarshal {kinds.get(type(raw), 'number')} into Go struct field "
                          f"Plan.{name} of type map[string]string")
    found: dict[str, str] = {}
    for key, value in raw.items():
        if value is not None and not isinstance(value, str):
            kind = "object" if isinstance(value, dict) else kinds.get(type(value), "number")
            raise GoJSONError(f"json: cannot unmarshal {kind} into Go struct field Plan.{name} of type string")
        found[key] = value or ""
    return found


def decode_plan(body: bytes) -> dict[str, Any]:
    """decodePlanCreationPayload: model.Plan's fields from JSON; BadRequest with gosd's message."""
    try:
        fields = decode(body, PLAN)
        whole = json.loads(first_value(body))
        if isinstance(whole, dict):
            for name in MAPS:  # the field's key, matched as Go does (exactly, else case-insensitively)
                keys = [k for k in whole if k == name] or [k for k in whole if k.lower() == name]
                fields[name] = _string_map(whole[keys[-1]], name) if keys else None
    except GoJSONError as err:
        raise BadRequest(DECODE_ERROR.format(_go_int64(err))) from err
    return {"name": fields["name"] or "", "description": fields["description"] or "",
            "node_id": fields["node_id"] or 0, "files": fields["files"], "extra": fields["extra"]}


async def form_plan(call: Call, form: Form) -> dict[str, Any]:
    """A multipart plan: name, description, node_id; other text fields are `extra`, each file part
    a new blob in `files` (ParseInt's failure is node 0)."""
    params = dict(form.fields)
    name, description = params.pop("name", ""), params.pop("description", "")
    node = params.pop("node_id", "")
    try:
        node_id = int(node) if node.lstrip("+-").isascii() and node.lstrip("+-").isdigit() else 0
    except ValueError:
        node_id = 0
    if not -(2 ** 63) <= node_id < 2 ** 63:
        node_id = 0
    return {"name": name, "description": description, "node_id": node_id,
            "files": await store_form_files(call, form), "extra": params}


async def read_plan(call: Call) -> tuple[dict[str, Any], bool]:
    """The plan of the request body: (fields, whether it was a multipart form)."""
    kind, _ = media_type(call.request)
    if kind.startswith("multipart/"):
        form = await read_form(call)
        assert form is not None
        return await form_plan(call, form), True
    return decode_plan(await call.body()), False


@routes.add("GET", "/gosd/api/v2/plans/")
async def get_plans(call: Call) -> Response:
    """plans: the caller's group's plans by id; none is `null`."""
    plans = await call.run(call.store.plans, call.user.group.id)
    return answer(call.request, [plan_json(plan) for plan in plans] or None)


@routes.add("POST", "/gosd/api/v2/plans/")
async def post_plans(call: Call) -> Response:
    """createPlan: 201 with the plan; its group is the caller's user id (gosd's, which matches
    the group `gosd users add` made)."""
    fields, _ = await read_plan(call)
    plan = await call.run(call.store.create_plan, call.user.id, fields)
    return answer(call.request, plan_json(plan, fields["files"], fields["extra"]), 201)


@routes.add("PUT", "/gosd/api/v2/plans/:id", where=DIGITS)
async def put_plan(call: Call) -> Response:
    """updatePlan: the request's plan replaces the stored one wholesale, echoed with the path's id.

    An unknown id with a JSON body is echoed all the same (gosd's UPDATE hit no row); with a
    multipart body gosd crashed (a nil plan), here it is 404 before any file is stored.
    """
    plan_id = call.int_param("id")
    stored = await call.run(call.store.plan, plan_id)
    kind, _ = media_type(call.request)
    if stored is None and kind.startswith("multipart/"):
        raise NotFound(f"plan {plan_id}")
    fields, _ = await read_plan(call)
    if stored is not None:
        await call.run(call.store.update_plan, plan_id, fields)
    return answer(call.request, {"id": plan_id, "name": fields["name"], "description": fields["description"],
                                 "node_id": fields["node_id"], "files": go_map(fields["files"]),
                                 "extra": go_map(fields["extra"])})


@routes.add("DELETE", "/gosd/api/v2/plans/:id", where=DIGITS)
async def delete_plan(call: Call) -> Response:
    """planDestroy: the deleted plan (its jobs and blobs stay), 404 when unknown."""
    plan_id = call.int_param("id")
    plan = await call.run(call.store.delete_plan, plan_id)
    if plan is None:
        raise NotFound(f"plan {plan_id}")
    return answer(call.request, plan_json(plan))
