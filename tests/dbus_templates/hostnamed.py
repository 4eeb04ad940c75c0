"""A python-dbusmock template for systemd-hostnamed (org.freedesktop.hostname1).

Loaded by Debian's dbusmock under /usr/bin/python3 (not the project's venv):
    python3 -m dbusmock --template tests/dbus_templates/hostnamed.py [-p '{"Hostname": "x"}']
The setters update the properties and emit PropertiesChanged, as hostnamed does; every call
is recorded for org.freedesktop.DBus.Mock.GetCalls. org.freedesktop.DBus.Mock.Reset() puts the
properties back as loaded (the test fixtures call it before each test).
"""

# This file is exec'd by dbusmock under Debian's python3, which has these modules (the venv has not).
import dbus
import dbus.service
from dbusmock import MOCK_IFACE

BUS_NAME = "org.freedesktop.hostname1"
MAIN_OBJ = "/org/freedesktop/hostname1"
MAIN_IFACE = "org.freedesktop.hostname1"
SYSTEM_BUS = True

DEFAULTS = {
    "Hostname": "polyvisor-test",
    "StaticHostname": "polyvisor-test",
    "PrettyHostname": "",
    "Chassis": "embedded",
    "KernelRelease": "6.1.0-polyvisor",
    "OperatingSystemPrettyName": "balenaOS 2.38.0+rev1",
    "OperatingSystemCPEName": "",
    "Deployment": "",
}


def _set_static(mock, name, _interactive):
    # hostnamed makes a valid static hostname the kernel (transient) hostname as well
    changes = {"StaticHostname": dbus.String(name)}
    if name:
        changes["Hostname"] = dbus.String(name)
    mock.UpdateProperties(MAIN_IFACE, changes)


def _set_transient(mock, name, _interactive):
    mock.UpdateProperties(MAIN_IFACE, {"Hostname": dbus.String(name)})


def _set_pretty(mock, name, _interactive):
    mock.UpdateProperties(MAIN_IFACE, {"PrettyHostname": dbus.String(name)})


def load(mock, parameters):
    """Add hostnamed's properties (overridable through -p) and setters."""
    values = {key: dbus.String(parameters.get(key, default)) for key, default in DEFAULTS.items()}
    mock.loaded_properties = dict(values)
    mock.AddProperties(MAIN_IFACE, dbus.Dictionary(values, signature="sv"))
    mock.AddMethods(MAIN_IFACE, [
        ("SetStaticHostname", "sb", "", _set_static),
        ("SetHostname", "sb", "", _set_transient),
        ("SetPrettyHostname", "sb", "", _set_pretty),
    ])


@dbus.service.method(MOCK_IFACE, in_signature="", out_signature="")
def Reset(self):
    """Put every property back to its value at load time."""
    self.UpdateProperties(MAIN_IFACE, dict(self.loaded_properties))
