"""The balena supervisor's v1 API (seeds 000 and 001, as ../shared/legacy/balena-v1.md records it)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from compat.balena import express
from compat.balena.common import APP_NOT_FOUND, Call, envelope_error, legacy_text, text_error
from compat.base import Router
from compat.gohttp import go_envelope
from handlers.engine.device import DeviceState
from handlers.errors import AppNotFound, InvalidInput, UpdatesLocked

ROUTES = Router(case_insensitive=True)


# /v1/healthy has been served before the key check since v9.6.2, /ping since v10.3.7; issue 3
# decides /v1/healthy is open in every profile, /ping where the profile says so (Profile.ping_open:
# the legacy profile checks the key, as 2016 did). "early" routes were registered on the app
# before the routers that carry the body parsers (in 2016: on the unparsed router; early=("2016",)
# for those only then); every other request has its body parsed.
@ROUTES.add("GET", "/ping", early=True, open="ping_open")
async def get_ping(call: Call) -> Response:
    """res.send('OK')."""
    return express.send("OK", request=call.request)


@ROUTES.add("GET", "/v1/healthy", early=True, open=True)
async def get_healthy(call: Call) -> Response:
    """200 OK while the state engine's checks pass; 500 otherwise (sendStatus in both cases)."""
    try:
        healthy = await call.run(call.services.supervisor.healthy)
    except Exception:
        healthy = False
    return express.send_status(200 if healthy else 500, call.request)


def device_body(state: DeviceState) -> dict[str, Any]:
    """The v1 device document: legacy keys in legacy order, each only when known."""
    body: dict[str, Any] = {
        "api_port": state.api_port,
        "ip_address": " ".join(state.ip_addresses),
    }
    if state.os_version is not None:
        body["os_version"] = state.os_version
    body.update(
        supervisor_version=state.supervisor_version,
        update_pending=state.flags.pending,
        update_failed=state.flags.failed,
        update_downloaded=state.flags.downloaded,
    )
    if state.flags.commit is not None:
        body["commit"] = state.flags.commit
    if state.has_service:
        # "Running" is reported as "Idle" for backwards compatibility (device-state.coffee)
        body["status"] = "Idle" if state.status == "Running" else state.status
        body["download_progress"] = state.download_progress
    return body


@ROUTES.add("GET", "/v1/device", early=("2016",), errors={Exception: envelope_error(500)})
async def get_device(call: Call) -> Response:
    """The device's state; any failure is 500 {"Data":"","Error":"<message>"}."""
    state = await call.run(call.services.device.state)
    return express.send_json(device_body(state), request=call.request)


# ---- the rest of the v1 API (balena-v1.md section 2) ----

# privateAppEnvVars: never shown by GET /v1/apps/:appId
PRIVATE_ENV = ("RESIN_SUPERVISOR_API_KEY", "RESIN_API_KEY", "BALENA_SUPERVISOR_API_KEY", "BALENA_API_KEY")

# v1.coffee: every failure of these routes is 503 with the bare message in text/html.
TEXT_503 = {Exception: text_error(503)}
# device-state reboot/shutdown: a held lock is 423, anything else 500, both in the envelope.
POWER_ERRORS = {UpdatesLocked: envelope_error(423), Exception: envelope_error(500)}
# v1StopOrStart / GET app: the app checks answer 400 text, the rest 503 text.
APP_ERRORS = {AppNotFound: text_error(400), InvalidInput: text_error(400), Exception: text_error(503)}
def not_found_2016(call: Call) -> Response:
    """The 2016 routes looked the app row up with whatever id came and answered
    AppNotFoundError's message, 400 `App not found`."""
    return express.send("App not found", 400, call.request)


def force_of(call: Call) -> bool:
    """checkTruthy(body.force), or the device's lock override."""
    return bool(express.check_truthy(call.body.get("force"))) or call.services.lock_override()


@ROUTES.add("POST", "/v1/blink", early=True)
async def post_blink(call: Call) -> Response:
    """Blink the LED for 15 s; answer at once."""
    await call.run(call.services.blink.identify)
    return express.send_status(200, call.request)


@ROUTES.add("POST", "/v1/regenerate-api-key", early=True, errors=TEXT_503)
async def post_regenerate_api_key(call: Call) -> Response:
    """A new key in the body; the old one stops working at once."""
    key = await call.run(call.services.identity.regenerate_key)
    return express.send(key, request=call.request)


@ROUTES.add("POST", "/v1/update", errors=TEXT_503)
async def post_update(call: Call) -> Response:
    """204 when the target is fetched now (a managed device with instant updates), else 202
    Accepted; `force` is taken with JavaScript truthiness, as the 2019 code passed it on raw.
    The 2016 route always answered 204."""
    force = express.js_truthy(call.body.get("force"))
    triggered = await call.run(call.services.trigger_update, force)
    if triggered or call.profile.update_always_204:
        return express.no_content()
    return express.send_status(202, call.request)


async def _power(call: Call, action: str) -> Response:
    if call.profile.power_piped_from_go:
        return await _power_2016(call, action)
    await call.run(call.services.power.request, action, force_of(call))
    return express.send_json({"Data": "OK", "Error": call.profile.ok_error}, 202, call.request)


async def _power_2016(call: Call, action: str) -> Response:
    """The resin era: node stopped the apps under their locks (a held lock: 423 text, another
    failure: 500 text), then piped the Go helper's answer: 202 `{"Data":"OK","Error":""}` as Go
    wrote it, `application/json` without a charset and without an ETag."""
    try:
        await call.run(call.services.power.request, action, force_of(call))
    except UpdatesLocked as err:
        return express.send(str(err), 423, call.request)
    except Exception as err:  # noqa: BLE001 - node answered every other failure as text
        return express.send(str(err), 500, call.request)
    return go_envelope("OK", "", 202)


@ROUTES.add("POST", "/v1/reboot", early=("2016",), errors=POWER_ERRORS)
async def post_reboot(call: Call) -> Response:
    """Stop the apps under their locks, answer 202, reboot through logind a second later."""
    return await _power(call, "reboot")


@ROUTES.add("POST", "/v1/shutdown", early=("2016",), errors=POWER_ERRORS)
async def post_shutdown(call: Call) -> Response:
    """As reboot, with logind's PowerOff."""
    return await _power(call, "shutdown")


@ROUTES.add("POST", "/v1/purge", errors={AppNotFound: legacy_text(503, APP_NOT_FOUND),
                                         **TEXT_503})
async def post_purge(call: Call) -> Response:
    """Empty the app's volumes: containers and volumes removed, made again, app restarted."""
    refused = await _on_body_app(call, call.services.actions.purge, call.profile.purge_missing_id)
    return refused or express.send_json({"Data": "OK", "Error": ""}, request=call.request)


@ROUTES.add("POST", "/v1/restart", errors={
    # doRestart dereferenced the missing app: node's TypeError text reached the client
    AppNotFound: legacy_text(503, "Cannot read property 'services' of undefined"),
    **TEXT_503})
async def post_restart(call: Call) -> Response:
    """Recreate the app's containers."""
    refused = await _on_body_app(call, call.services.actions.restart, "Missing app id")
    return refused or express.send("OK", request=call.request)


async def _on_body_app(call: Call, action: Any, missing: str) -> Response | None:
    """Run action(appId, force) for the body's appId; the refusal, or None when it ran. The 2016
    routes looked any given value up in their app table: `App not found` (400) when absent."""
    raw = call.body.get("appId")
    app_id = express.check_int(raw)
    legacy = call.profile.any_app_id_looked_up
    if app_id is None:
        return not_found_2016(call) if legacy and raw is not None else express.send(missing, 400, call.request)
    try:
        await call.run(action, app_id, force_of(call))
    except AppNotFound:
        if legacy:
            return not_found_2016(call)
        raise
    return None


async def _stop_or_start(call: Call, action: str) -> Response:
    app_id = express.check_int(call.request.path_params.get("appId"))
    if app_id is None:
        return not_found_2016(call) if call.profile.any_app_id_looked_up else express.send("Missing app id", 400, call.request)
    actions = call.services.actions
    if action == "stop":
        container_id = await call.run(actions.stop_service, app_id, force_of(call))  # a held lock: 503 text
    else:  # the 2019 start step took no lock; the 2016 route took it without force
        container_id = await call.run(actions.start_service, app_id, force_of(call), call.profile.start_takes_lock)
    return express.send_json({"containerId": container_id}, request=call.request)


@ROUTES.add("POST", "/v1/apps/:appId/stop", errors=APP_ERRORS)
async def post_app_stop(call: Call) -> Response:
    """Stop a single-container app: {"containerId": "..."}."""
    return await _stop_or_start(call, "stop")


@ROUTES.add("POST", "/v1/apps/:appId/start", early=("2016",), errors=APP_ERRORS)
async def post_app_start(call: Call) -> Response:
    """Start a single-container app: {"containerId": "..."}."""
    return await _stop_or_start(call, "start")


@ROUTES.add("GET", "/v1/apps/:appId", early=("2016",), errors=APP_ERRORS)
async def get_app(call: Call) -> Response:
    """The app's only service. 2019: appId, containerId, env, releaseId, commit if known; the
    route read `service.environment` and `service.image`, which the Service class of that code
    did not have, so env was always {} and imageId was left out (fixed only in 2020, 96c68166).
    2016: the app row's appId (a string), containerId, commit, imageId (the image name) and env
    without the keys."""
    app_id = express.check_int(call.request.path_params.get("appId"))
    if app_id is None:
        return not_found_2016(call) if call.profile.any_app_id_looked_up else express.send("Missing app id", 400, call.request)
    service = await call.run(call.services.actions.single_service, app_id)
    commit = call.services.device.flags.commit
    if call.profile.app_from_db_row:
        return express.send_json({
            "appId": str(app_id), "containerId": service.container_id, "commit": commit,
            "imageId": service.image, "env": {k: v for k, v in service.env.items() if k not in PRIVATE_ENV},
        }, request=call.request)
    body: dict[str, Any] = {"appId": app_id, "containerId": service.container_id, "env": {},
                            "releaseId": service.release_id}
    if commit is not None:
        body["commit"] = commit
    return express.send_json(body, request=call.request)


@ROUTES.add("GET", "/v1/device/host-config", errors=TEXT_503)
async def get_host_config(call: Call) -> Response:
    """{"network": {"proxy": {...}, "hostname": "..."}}."""
    network = await call.run(call.services.hostconfig.read)
    return express.send_json({"network": network}, request=call.request)


@ROUTES.add("PATCH", "/v1/device/host-config", errors={InvalidInput: text_error(400), **TEXT_503})
async def patch_host_config(call: Call) -> Response:
    """Write proxy and hostname; a body without `network` changes nothing and is still OK."""
    await call.run(call.services.hostconfig.patch, call.body.get("network"))
    return express.send("OK", request=call.request)


# ---- resin era only (the `legacy` profile) ----

@ROUTES.add("POST", "/v1/tcp-ping", profiles=("legacy",), early=True)
async def post_tcp_ping(call: Call) -> Response:
    """Re-enable the connectivity check (kept across restarts, unlike the in-memory original)."""
    await call.run(call.services.set_connectivity_check, True)
    return express.no_content()


@ROUTES.add("DELETE", "/v1/tcp-ping", profiles=("legacy",), early=True)
async def delete_tcp_ping(call: Call) -> Response:
    """Disable the connectivity check."""
    await call.run(call.services.set_connectivity_check, False)
    return express.no_content()


# spawn-tty (2014-2016) answered an ngrok URL of a tty.js server; we answer a URL of our own
# web terminal. The token in the URL is the credential, as the tunnel URL was.
TTY_ERRORS = {AppNotFound: text_error(503), **TEXT_503}


def _tty_app(call: Call) -> Any:
    """The body's appId: 400 `Missing app id` without one; any other value was looked up in the
    app table, so one that is no number names no app (503 `App not found`)."""
    raw = call.body.get("appId")
    if raw is None:
        return express.send("Missing app id", 400, call.request)
    app_id = express.check_int(raw)
    return express.send("App not found", 503, call.request) if app_id is None else app_id


@ROUTES.add("POST", "/v1/spawn-tty", profiles=("legacy",), errors=TTY_ERRORS)
async def post_spawn_tty(call: Call) -> Response:
    """200 with the terminal's URL as text."""
    app_id = _tty_app(call)
    if isinstance(app_id, Response):
        return app_id
    session = await call.run(call.services.terminals.spawn, app_id)
    base = str(call.request.base_url).rstrip("/")
    return express.send(f"{base}/v1/tty/{session.token}/", request=call.request)


@ROUTES.add("POST", "/v1/despawn-tty", profiles=("legacy",), errors=TTY_ERRORS)
async def post_despawn_tty(call: Call) -> Response:
    """The session's URL stops working; sendStatus(200)."""
    app_id = _tty_app(call)
    if isinstance(app_id, Response):
        return app_id
    await call.run(call.services.terminals.despawn, app_id)
    return express.send_status(200, call.request)


@ROUTES.add("GET", "/v1/tty/:token", profiles=("legacy",), early=True, open=True)
async def get_tty_page(call: Call) -> Response:
    """The terminal page (its token is the credential)."""
    if call.services.terminals.find(call.request.path_params["token"]) is None:
        return express.cannot_answer(call.request)
    return express.send(terminal_page(), request=call.request)


@ROUTES.add("WS", "/v1/tty/:token/ws", profiles=("legacy",))
async def ws_tty(socket: Any, context: Any) -> None:
    """Bridge the WebSocket to a shell: binary/text frames in, binary frames out."""
    from compat.balena.tty import bridge

    await bridge(socket, context.services.terminals)


def terminal_page() -> str:
    """The HTML of the web terminal."""
    from compat.balena.tty import PAGE

    return PAGE
