"""Jobs (api/planlog.go, api/planrun.go): create one (201, queued on the runner), list a plan's
(201, sic), the `running` document, cancel; the v1 spellings (`plan_logs`, `logs`) and the
seed's (`.../jobs/cancel`, `DELETE .../jobs/running`).
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from compat.gosd.common import (
    DIGITS,
    Call,
    MuxRouter,
    ServerError,
    answer,
    go_map,
    go_rfc3339,
    media_type,
    read_form,
)
from compat.gosd.common import store_files as store_form_files
from handlers.errors import NotFound

routes = MuxRouter()  # compat.gosd.dialect serves it
PLANS = "/gosd/api/v2/plans/:id"


def job_json(job: Any, plan_id: int | None = None) -> dict[str, Any]:
    """model.PlanLog as json.Marshal wrote it, then our `outcome` (what the runner recorded: null
    until the job ends). `plan_id` overrides the job's (the list shows 0, see get_jobs)."""
    return {"id": job.id, "job_id": job.job_id, "plan_id": job.plan_id if plan_id is None else plan_id,
            "files": go_map(job.files or {}), "extra": go_map(job.extra or {}),
            "created_at": _stamp(job.created_at), "updated_at": _stamp(job.updated_at),
            "outcome": getattr(job, "outcome", None)}


def _stamp(value: Any) -> Any:
    return go_rfc3339(value)


def runner(call: Call) -> Any:
    """handlers.gosd's runner (Services.gosd_runner)."""
    found = getattr(call.services, "gosd_runner", None)
    if found is None:
        raise ServerError("gosd runner is not configured")
    return found


async def post_jobs(call: Call) -> Response:
    """createPlanLog: a multipart body's file parts become the job's files, its text fields its
    extra (any other body is ignored); 201 with the job, queued on the runner.

    gosd inserted the job, then crashed on an unknown plan: here that is 404 and nothing is stored.
    """
    plan_id = call.int_param("id")
    queue = runner(call)  # before anything is stored
    plan = await call.run(call.store.plan, plan_id)
    if plan is None:
        raise NotFound(f"plan {plan_id}")
    files: dict[str, str] = {}
    extra: dict[str, str] = {}
    try:
        kind, _ = media_type(call.request)
    except ServerError:  # gosd looked for a multipart body only: no or a bad Content-Type is none
        kind = ""
    if kind.startswith("multipart/"):
        form = await read_form(call)
        assert form is not None
        files, extra = await store_form_files(call, form), dict(form.fields)
    job = await call.run(call.store.create_job, plan_id, files, extra)
    await call.run(queue.submit, plan, job)
    return answer(call.request, job_json(job), 201)


async def get_jobs(call: Call) -> Response:
    """planLogs: the plan's jobs by job_id, answered 201 as gosd did; `plan_id` is 0 in each
    (gosd's query did not select the column); none is `null`."""
    jobs = await call.run(call.store.jobs, call.int_param("id"))
    return answer(call.request, [job_json(job, plan_id=0) for job in jobs] or None, 201)


async def cancel(call: Call) -> Response:
    """planRunningDestroy: cancel whatever runs for the plan (the job id is ignored); `[]`."""
    await call.run(runner(call).cancel, call.int_param("id"))
    return answer(call.request, [])


@routes.add("GET", f"{PLANS}/running", where=DIGITS)
async def get_running(call: Call) -> Response:
    """planRunning: the running task of the plan, `{}` when none; our `outcome` last."""
    plan_id = call.int_param("id")
    document = dict(await call.run(runner(call).running, plan_id) or {})
    job = document.get("job")
    if document and "outcome" not in document and isinstance(job, dict) and "job_id" in job:
        found = await call.run(call.store.job, plan_id, job["job_id"])
        document["outcome"] = getattr(found, "outcome", None)
    return answer(call.request, document)


for path in (f"{PLANS}/jobs/", f"{PLANS}/running", "/gosd/api/v1/plans/:id/plan_logs/",
             "/gosd/api/v1/plans/:id/logs/"):
    routes.add("POST", path, where=DIGITS)(post_jobs)
for path in (f"{PLANS}/jobs/", "/gosd/api/v1/plans/:id/plan_logs/", "/gosd/api/v1/plans/:id/logs/"):
    routes.add("GET", path, where=DIGITS)(get_jobs)
routes.add("POST", f"{PLANS}/jobs/:job/cancel", where=DIGITS)(cancel)
routes.add("DELETE", f"{PLANS}/running", where=DIGITS)(cancel)
# the seed's spellings, which no released tag served (gosd-platform.md A.1)
routes.add("POST", f"{PLANS}/jobs/cancel", where=DIGITS)(cancel)
routes.add("DELETE", f"{PLANS}/jobs/running", where=DIGITS)(cancel)

