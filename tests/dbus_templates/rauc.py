"""A python-dbusmock template for RAUC's installer (de.pengutronix.rauc.Installer at /).

Loaded by Debian's dbusmock under /usr/bin/python3 (not the project's venv):
    python3 -m dbusmock --template tests/dbus_templates/rauc.py [-p '{"result": 0}']
Install(source) reads the bundle as rauc would (a missing file fails: Completed(1) and LastError),
keeps its path, size and SHA-256 for org.freedesktop.DBus.Mock.Bundles(), and a moment later
(from the main loop, after the method's reply, as the real installer thread does) emits
Completed(i result). Mock.SetResult(result, last_error) makes the next installs fail or succeed.
Every call is recorded for Mock.GetCalls.
"""

# This file is exec'd by dbusmock under Debian's python3, which has these modules (the venv has not).
import hashlib

import dbus
import dbus.service
from dbusmock import MOCK_IFACE
from gi.repository import GLib

BUS_NAME = "de.pengutronix.rauc"
MAIN_OBJ = "/"
MAIN_IFACE = "de.pengutronix.rauc.Installer"
SYSTEM_BUS = True
COMPLETED_DELAY_MS = 200


def _complete(mock, result, last_error):
    mock.UpdateProperties(MAIN_IFACE, {"Operation": dbus.String("idle"), "LastError": dbus.String(last_error)})
    mock.EmitSignal(MAIN_IFACE, "Completed", "i", [dbus.Int32(result)])
    return False  # a GLib one-shot


def _install(mock, source):
    source = str(source)
    try:
        with open(source, "rb") as bundle:
            data = bundle.read()
    except OSError as err:
        result, last_error = 1, f"Failed to open bundle: {err}"
    else:
        mock.bundles.append((source, len(data), hashlib.sha256(data).hexdigest()))
        result, last_error = mock.result, mock.last_error
    mock.UpdateProperties(MAIN_IFACE, {"Operation": dbus.String("installing")})
    GLib.timeout_add(COMPLETED_DELAY_MS, _complete, mock, result, last_error)


def load(mock, parameters):
    """The Installer's properties and Install; the result of installs from -p {"result": n}."""
    mock.bundles = []
    mock.result = int(parameters.get("result", 0))
    mock.last_error = str(parameters.get("last_error", ""))
    mock.install = _install
    mock.AddProperties(MAIN_IFACE, dbus.Dictionary({
        "Operation": dbus.String("idle"),
        "LastError": dbus.String(""),
        "Progress": dbus.Struct((0, "", 0), signature="isi"),
        "Compatible": dbus.String(parameters.get("compatible", "hassos-rpi3")),
        "Variant": dbus.String(""),
        "BootSlot": dbus.String("A"),
    }, signature="sv"))
    mock.AddMethods(MAIN_IFACE, [("Install", "s", "", "self.install(self, args[0])")])


@dbus.service.method(MOCK_IFACE, in_signature="", out_signature="a(sts)")
def Bundles(self):
    """(path, size, sha256) of every bundle Install read."""
    return dbus.Array(self.bundles, signature="(sts)")


@dbus.service.method(MOCK_IFACE, in_signature="is", out_signature="")
def SetResult(self, result, last_error):
    """What the next installs' Completed carries, and the LastError they leave."""
    self.result = int(result)
    self.last_error = str(last_error)
