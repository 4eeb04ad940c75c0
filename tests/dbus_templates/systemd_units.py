"""A python-dbusmock template for systemd's manager with units (org.freedesktop.systemd1).

dbusmock's own systemd template has no ListUnits, ListUnitFiles, RestartUnit, LoadUnit or unit
file calls, which the platform API's service routes and the resin Go helper's routes use. Loaded
by Debian's dbusmock under /usr/bin/python3:
    python3 -m dbusmock --template tests/dbus_templates/systemd_units.py
Units come from the parameters ({"units": [[name, description, active, file_state], ...]}) or
from the mock methods AddUnit(name, description, active, file_state) and RemoveUnit(name).

As real systemd does: each unit is an object at /org/freedesktop/systemd1/unit/<escaped name>
with the org.freedesktop.systemd1.Unit properties Id, LoadState, ActiveState and UnitFileState;
LoadUnit answers for any name (a name without a unit file gets LoadState "not-found", which
ListUnits and ListUnitFiles leave out); jobs on such a unit fail with NoSuchUnit.
"""

# This file is exec'd by dbusmock, which provides these modules; nothing here runs in the venv.
import dbus
from dbusmock import mockobject

BUS_NAME = "org.freedesktop.systemd1"
MAIN_OBJ = "/org/freedesktop/systemd1"
MAIN_IFACE = "org.freedesktop.systemd1.Manager"
UNIT_IFACE = "org.freedesktop.systemd1.Unit"
MOCK_IFACE = "org.freedesktop.DBus.Mock"
SYSTEM_BUS = True
NO_SUCH_UNIT = "org.freedesktop.systemd1.NoSuchUnit"
FILE_NOT_FOUND = "org.freedesktop.DBus.Error.FileNotFound"


def _path(name):
    """sd_bus_path_encode: every byte but a-z, A-Z and (not first) 0-9 as _xx."""
    escaped = "".join(c if c.isascii() and (c.isalpha() or (i and c.isdigit())) else f"_{ord(c):02x}"
                      for i, c in enumerate(name))
    return MAIN_OBJ + "/unit/" + escaped


def _properties(unit):
    return {"LoadState": unit["load"], "ActiveState": unit["active"], "UnitFileState": unit["file_state"]}


def _unit(mock, name):
    unit = mock.units.get(str(name))
    if unit is None or unit["load"] == "not-found":
        raise dbus.exceptions.DBusException(f"Unit {name} not found.", name=NO_SUCH_UNIT)
    return unit


def _listed(mock):
    return sorted((n, u) for n, u in mock.units.items() if u["load"] != "not-found")


def _list_units(mock):
    return dbus.Array([
        (n, u["description"], "loaded", u["active"], "running" if u["active"] == "active" else "dead", "",
         dbus.ObjectPath(_path(n)), dbus.UInt32(0), "", dbus.ObjectPath("/"))
        for n, u in _listed(mock)], signature="(ssssssouso)")


def _list_files(mock):
    return dbus.Array([("/lib/systemd/system/" + n, u["file_state"]) for n, u in _listed(mock)],
                      signature="(ss)")


def _set(mock, name, **changes):
    unit = mock.units[str(name)]
    unit.update(changes)
    mockobject.objects[_path(name)].UpdateProperties(UNIT_IFACE, _properties(unit))


def _job(mock, name, active):
    _unit(mock, name)
    _set(mock, name, active=active)
    mock.jobs += 1
    return dbus.ObjectPath(f"{MAIN_OBJ}/job/{mock.jobs}")


def _files(mock, names, state):
    changes = []
    for name in names:
        if str(name) not in mock.units or mock.units[str(name)]["load"] == "not-found":
            raise dbus.exceptions.DBusException(f"Unit file {name} does not exist.", name=FILE_NOT_FOUND)
        _set(mock, name, file_state=state)
        changes.append(("symlink" if state == "enabled" else "unlink", f"/etc/systemd/system/{name}", ""))
    return dbus.Array(changes, signature="(sss)")


def _add(mock, name, description, active, file_state, load="loaded"):
    name = str(name)
    unit = {"description": str(description), "active": str(active), "file_state": str(file_state),
            "load": load}
    if name in mock.units:
        mock.units[name] = unit
        _set(mock, name)
        return
    mock.units[name] = unit
    mock.AddObject(_path(name), UNIT_IFACE, {"Id": name, **_properties(unit)}, [])


def _load_unit(mock, name):
    if str(name) not in mock.units:
        _add(mock, name, "", "inactive", "", load="not-found")
    return dbus.ObjectPath(_path(name))


def _remove(mock, name):
    if str(name) in mock.units:
        _set(mock, name, load="not-found", active="inactive", file_state="")


def load(mock, parameters):
    """Manager methods, and the units given as parameters."""
    mock.units = {}
    mock.jobs = 0
    mock.list_units = _list_units
    mock.list_files = _list_files
    mock.job = _job
    mock.add = _add
    mock.load_unit = _load_unit
    mock.remove = _remove
    mock.files = _files
    for unit in parameters.get("units", []):
        _add(mock, *unit)
    mock.AddProperties(MAIN_IFACE, {"Version": "252"})
    mock.AddMethods(MAIN_IFACE, [
        ("ListUnits", "", "a(ssssssouso)", "ret = self.list_units(self)"),
        ("ListUnitFiles", "", "a(ss)", "ret = self.list_files(self)"),
        ("LoadUnit", "s", "o", "ret = self.load_unit(self, args[0])"),
        ("StartUnit", "ss", "o", "ret = self.job(self, args[0], 'active')"),
        ("StopUnit", "ss", "o", "ret = self.job(self, args[0], 'inactive')"),
        ("RestartUnit", "ss", "o", "ret = self.job(self, args[0], 'active')"),
        ("ReloadOrRestartUnit", "ss", "o", "ret = self.job(self, args[0], 'active')"),
        # the hassio dialect powers the host through systemd (supervisor 138), not logind
        ("Reboot", "", "", ""),
        ("PowerOff", "", "", ""),
        ("EnableUnitFiles", "asbb", "ba(sss)", "ret = (False, self.files(self, args[0], 'enabled'))"),
        ("DisableUnitFiles", "asb", "a(sss)", "ret = self.files(self, args[0], 'disabled')"),
        # recorded only (the self-update's rollback guard); the tests run the guard's command themselves
        ("StartTransientUnit", "ssa(sv)a(sa(sv))", "o",
         "self.jobs += 1; ret = dbus.ObjectPath(f'/org/freedesktop/systemd1/job/{self.jobs}')"),
    ])
    mock.AddMethod(MOCK_IFACE, "AddUnit", "ssss", "", "self.add(self, *args)")
    mock.AddMethod(MOCK_IFACE, "RemoveUnit", "s", "", "self.remove(self, args[0])")
