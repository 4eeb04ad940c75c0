"""What the balena dialect module and its v1 and v2 route tables share: the supervisor eras
(profiles), one request as a route sees it, and the legacy error answers and texts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from compat.balena import express
from compat.base import Context, answers


@dataclass(frozen=True)
class Profile:
    """What differs between the supervisor eras; one entry per difference."""

    # "Error" of the reboot/shutdown success envelope: null from v7.1.24 (PR #608), "" before.
    ok_error: str | None
    # POST /v1/purge without an appId: v10's text, or the 2016 node text.
    purge_missing_id: str
    # which express the answers imitate (compat.balena.express.ERA) and its body-parser limit:
    # '10mb' in 2019, body-parser's 100 kB default in 2016
    era: str
    body_limit: int
    # express set X-Powered-By on every answer until the supervisor turned it off (660d9ff6, 2018)
    powered_by: bool = False
    # 2016 api.coffee: POST /v1/update answered 204 whatever happened
    update_always_204: bool = False
    # 2016: reboot/shutdown piped the Go helper's answer (application/json, no charset, no ETag)
    power_piped_from_go: bool = False
    # 2016: the routes looked any given appId up in the app table: 400 `App not found` when absent
    any_app_id_looked_up: bool = False
    # 2016: /v1/apps/:id/start took the update lock (the 2019 start step took none)
    start_takes_lock: bool = False
    # 2016: GET /v1/apps/:id answered the app row (appId string, commit, imageId, env); 2019 the
    # Service with env {} and no imageId (its route read properties the class did not have)
    app_from_db_row: bool = False
    # GET /ping without the key: 2016 api.coffee ran the key check as the app's first middleware,
    # /ping included (balena-v1.md 2.1, 3); 8d5633a1 (v10.3.7) moved /ping before it, and issue 3
    # keeps v10 open. Routes name this field in their `open` option.
    ping_open: bool = True


PROFILES = {
    "v10": Profile(ok_error=None, purge_missing_id="Invalid or missing appId", era="2019",
                   body_limit=express.BODY_LIMIT),
    "legacy": Profile(ok_error="", purge_missing_id="Missing app id", era="2016", body_limit=100 * 1024,
                      powered_by=True, update_always_204=True, power_piped_from_go=True,
                      any_app_id_looked_up=True, start_takes_lock=True, app_from_db_row=True,
                      ping_open=False),
}

@dataclass
class Call:
    """One request as a balena route sees it."""

    request: Request
    context: Context
    profile: Profile
    body: dict[str, Any]

    @property
    def services(self) -> Any:
        return self.context.services

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run a blocking domain call in a worker thread."""
        return await run_in_threadpool(fn, *args)


def envelope_error(status: int) -> Callable[[BaseException], Response]:
    """Failures answered as {"Data":"","Error":"<message>"} (node's reboot/shutdown/device style)."""
    return answers(status, lambda err: express.send_json({"Data": "", "Error": str(err)}, status))


def text_error(status: int) -> Callable[[BaseException], Response]:
    """Failures answered as the bare message in text/html (node's res.status(n).send(msg))."""
    return answers(status, lambda err: express.send(str(err), status))


# src/lib/messages.ts: the texts the v1 and v2 routes answered, whatever the domain error says.
APP_NOT_FOUND = (
    "App not found: an app needs to be installed for this endpoint to work.\n"
    "\tIf you've recently moved this device from another app,\n"
    "\tplease push an app and wait for it to be installed first."
)
SERVICE_NOT_FOUND = "Service not found, a container must exist for this endpoint to work"
NEED_SERVICE = "This endpoint requires one of imageId or serviceName"


def legacy_text(status: int, text: str) -> Callable[[BaseException], Response]:
    """Failures answered with one fixed legacy text in text/html."""
    return answers(status, lambda err: express.send(text, status))
