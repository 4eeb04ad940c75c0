"""A python-dbusmock template for systemd's manager with unit listing (org.freedesktop.systemd1).

dbusmock's own systemd template has no ListUnits, ListUnitFiles or RestartUnit, which the
platform API's service routes use. Loaded by Debian's dbusmock under /usr/bin/python3:
    python3 -m dbusmock --template tests/dbus_templates/systemd_units.py
Units come from the parameters ({"units": [[name, description, active, file_state], ...]})
or from the mock method AddUnit(name, description, active, file_state).
"""

# This file is exec'd by dbusmock, which provides these modules; nothing here runs in the venv.
import dbus

BUS_NAME = "org.freedesktop.systemd1"
MAIN_OBJ = "/org/freedesktop/systemd1"
MAIN_IFACE = "org.freedesktop.systemd1.Manager"
MOCK_IFACE = "org.freedesktop.DBus.Mock"
SYSTEM_BUS = True
NO_SUCH_UNIT = "org.freedesktop.systemd1.NoSuchUnit"


def _path(name):
    return MAIN_OBJ + "/unit/" + "".join(c if c.isalnum() else "_" for c in name)


def _unit(mock, name):
    if name not in mock.units:
        raise dbus.exceptions.DBusException(f"Unit {name} not loaded.", name=NO_SUCH_UNIT)
    return mock.units[name]


def _list_units(mock):
    return dbus.Array([
        (n, u["description"], "loaded", u["active"], "running" if u["active"] == "active" else "dead", "",
         dbus.ObjectPath(_path(n)), dbus.UInt32(0), "", dbus.ObjectPath("/"))
        for n, u in sorted(mock.units.items())], signature="(ssssssouso)")


def _list_files(mock):
    return dbus.Array([("/lib/systemd/system/" + n, u["file_state"]) for n, u in sorted(mock.units.items())],
                      signature="(ss)")


def _job(mock, name, active):
    _unit(mock, name)["active"] = active
    mock.jobs += 1
    return dbus.ObjectPath(f"{MAIN_OBJ}/job/{mock.jobs}")


def _add(mock, name, description, active, file_state):
    mock.units[str(name)] = {"description": str(description), "active": str(active), "file_state": str(file_state)}


def load(mock, parameters):
    """Manager methods, and the units given as parameters."""
    mock.units = {}
    mock.jobs = 0
    for unit in parameters.get("units", []):
        _add(mock, *unit)
    mock.AddProperties(MAIN_IFACE, {"Version": "252"})
    mock.AddMethods(MAIN_IFACE, [
        ("ListUnits", "", "a(ssssssouso)", "ret = self.list_units(self)"),
        ("ListUnitFiles", "", "a(ss)", "ret = self.list_files(self)"),
        ("StartUnit", "ss", "o", "ret = self.job(self, args[0], 'active')"),
        ("StopUnit", "ss", "o", "ret = self.job(self, args[0], 'inactive')"),
        ("RestartUnit", "ss", "o", "ret = self.job(self, args[0], 'active')"),
    ])
    mock.AddMethod(MOCK_IFACE, "AddUnit", "ssss", "", "self.add(self, *args)")
    mock.list_units = _list_units
    mock.list_files = _list_files
    mock.job = _job
    mock.add = _add
