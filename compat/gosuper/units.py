"""The Go helper's systemd decision chains, each step's failure text as Go wrapped it.

Every function runs in a worker thread and returns the envelope to send: (Data, Error, status).
Sources: gosuper/gosuper/api.go at c7a7ba93 (2016: VPNControl, LogToDisplayControl) and at
58bb6607 (2018: VPNStatus, LogToDisplayStatus, getUnitStatus, logToDisplayServiceName,
RestartService). Go kept one systemd connection made at start, and answered "Systemd dbus
unavailable, ..." when it had none; polyvisor connects at each request, so a bus that comes up
later is used.
"""

from __future__ import annotations

from typing import Any

from handlers.errors import BusReplyError, BusUnavailable
from handlers.host.systemd import Systemd

Envelope = tuple[Any, str, int]

VPN_UNIT = "openvpn-resin.service"
# resin-info@tty1 on newer OS images; tty-replacement before (3cbe56c9, 2016-09)
LOG_TO_DISPLAY = "resin-info@tty1.service"
LOG_TO_DISPLAY_OLD = "tty-replacement.service"
# getUnitStatus (58bb6607): any ActiveState but these counts as enabled
STOPPED_STATES = ("inactive", "deactivating")

NO_BUS = {  # the `systemd.Dbus == nil` texts, per handler
    "vpn": "Systemd dbus unavailable, cannot set VPN state.",
    "display": "Systemd dbus unavailable, cannot set log to display state.",
    "restart": "Systemd dbus unavailable, cannot restart service.",
    "status": "Systemd dbus unavailable, cannot get unit status.",
    "service": "Systemd dbus unavailable, cannot get log to display service.",
}


class Failed(Exception):
    """One step failed; str() is Go's error text at that step."""


def go_error(err: BusUnavailable) -> str:
    """godbus's Error(): the reply's message when it has one, else the error name."""
    if isinstance(err, BusReplyError):
        return err.message or err.name
    return str(err)


def _connected(units: Systemd, which: str) -> None:
    try:
        units.connect()
    except BusUnavailable as err:
        raise Failed(NO_BUS[which]) from err


def _step(text: str, call: Any, *args: Any) -> Any:
    """call(*args); a bus failure becomes Failed(text.format(error))."""
    try:
        return call(*args)
    except BusUnavailable as err:
        raise Failed(text.format(go_error(err))) from err


def vpn_control(units: Systemd, enable: bool) -> Envelope:
    """POST /v1/vpncontrol: start or stop openvpn-resin.service; 202."""
    try:
        _connected(units, "vpn")
        _step("{}", units.job, VPN_UNIT, "start" if enable else "stop")
    except Failed as err:
        return "Error", str(err), 500
    return "OK", "", 202


def unit_status(units: Systemd, unit: str) -> bool:
    """getUnitStatus: True unless ActiveState is inactive or deactivating."""
    _connected(units, "status")
    state = _step("Unable to get unit status: {}", units.unit_property, unit, "ActiveState")
    return state not in STOPPED_STATES


def vpn_status(units: Systemd) -> Envelope:
    """GET /v1/vpncontrol (2018)."""
    try:
        return unit_status(units, VPN_UNIT), "", 200
    except Failed as err:
        return "Error", f"Unable to get VPN status: {err}", 500


def display_unit(units: Systemd, second_check: bool) -> str:
    """logToDisplayServiceName: resin-info@tty1, else tty-replacement when the first has no unit
    file; "" when neither has one (2018 only: the 2016 code did not check the second)."""
    _connected(units, "service")
    text = "Unable to get log to display load status: {}"
    unit = LOG_TO_DISPLAY
    if _step(text, units.unit_property, unit, "LoadState") == "not-found":
        unit = LOG_TO_DISPLAY_OLD
        if second_check and _step(text, units.unit_property, unit, "LoadState") == "not-found":
            return ""
    return unit


def display_status(units: Systemd) -> Envelope:
    """GET /v1/log-to-display (2018); its failures say "VPN status", as the Go code did (it
    shared unitStatusHandler with VPNStatus)."""
    try:
        unit = display_unit(units, second_check=True)
    except Failed as err:
        return "Error", str(err), 500
    if not unit:
        return "Error", "Not found", 404
    try:
        return unit_status(units, unit), "", 200
    except Failed as err:
        return "Error", f"Unable to get VPN status: {err}", 500


def display_control(units: Systemd, enable: bool, era: str) -> Envelope:
    """POST /v1/set-log-to-display (era 2016) and /v1/log-to-display (2018): start and enable, or
    stop and disable the unit; Data false when it already was as asked, true when changed."""
    try:
        _connected(units, "display")
        unit = display_unit(units, second_check=era == "2018")
        if not unit:
            return "Error", "Not found", 404
        if era == "2018":
            try:
                running = unit_status(units, unit)
            except Failed as err:
                raise Failed(f"Unable to get log to display status: {err}") from err
        else:  # 2016: only "active" counted
            running = _step("Unable to get log to display status: {}", units.unit_property, unit,
                            "ActiveState") == "active"
        if running == enable:
            return False, "", 200
        if enable:
            _step("Unable to start service: {}", units.job, unit, "start")
            _step("Unable to enable service: {}", units.enable, [unit])
        else:
            _step("Unable to stop service: {}", units.job, unit, "stop")
            _step("Unable to disable service: {}", units.disable, [unit])
    except Failed as err:
        return "Error", str(err), 500
    return True, "", 200


def restart_service(units: Systemd, name: str) -> Envelope:
    """POST /v1/restart-service (2018): RestartUnit(<Name>.service, "fail"); 200."""
    try:
        _connected(units, "restart")
        _step("{}", units.job, f"{name}.service", "restart")
    except Failed as err:
        return "Error", str(err), 500
    return "OK", "", 200
