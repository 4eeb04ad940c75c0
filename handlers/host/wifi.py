"""Wi-Fi adapters, networks and profiles through NetworkManager on the system D-Bus."""

from __future__ import annotations

import socket
from typing import Any

from handlers.errors import BusUnavailable, InvalidInput, NotFound, NotSupported
from handlers.host.bus import Bus
from handlers.host.dhcp import NM, NM_PATH, nm_running

DEVICE = "org.freedesktop.NetworkManager.Device"
WIRELESS = "org.freedesktop.NetworkManager.Device.Wireless"
AP = "org.freedesktop.NetworkManager.AccessPoint"
SETTINGS_PATH = "/org/freedesktop/NetworkManager/Settings"
SETTINGS = "org.freedesktop.NetworkManager.Settings"
CONNECTION = "org.freedesktop.NetworkManager.Settings.Connection"
NM_DEVICE_TYPE_WIFI = 2
KEY_MGMT = {"wpa-psk": "WPA2-Personal", "sae": "WPA3-Personal", "wpa-eap": "WPA2-Enterprise",
            "none": "WEP", "owe": "OWE"}
# NM80211ApSecurityFlags
PAIR_CCMP, PAIR_TKIP, KEY_MGMT_PSK, KEY_MGMT_8021X, KEY_MGMT_SAE = 0x8, 0x4, 0x100, 0x200, 0x400
NM_802_11_AP_FLAGS_PRIVACY = 0x1


def channel_of(mhz: int) -> int:
    """The 802.11 channel of a centre frequency."""
    if mhz == 2484:
        return 14
    if 2412 <= mhz < 2484:
        return (mhz - 2407) // 5
    if 5000 <= mhz < 5900:
        return (mhz - 5000) // 5
    if 5955 <= mhz < 7125:
        return (mhz - 5950) // 5
    return 0


def security_of(flags: int, wpa: int, rsn: int) -> tuple[str, str, bool]:
    """(authenticationAlgorithm, cipherAlgorithm, securityEnabled) from an AP's flags."""
    both = wpa | rsn
    if both & KEY_MGMT_SAE:
        auth = "WPA3-Personal"
    elif both & KEY_MGMT_8021X:
        auth = "WPA2-Enterprise" if rsn else "WPA-Enterprise"
    elif both & KEY_MGMT_PSK:
        auth = "WPA2-Personal" if rsn else "WPA-Personal"
    elif flags & NM_802_11_AP_FLAGS_PRIVACY:
        auth = "WEP"
    else:
        auth = "Open"
    cipher = "AES" if both & PAIR_CCMP else ("TKIP" if both & PAIR_TKIP else ("WEP" if auth == "WEP" else "None"))
    return auth, cipher, auth != "Open"


class Wifi:
    """GET wifi/interfaces, GET wifi/networks/:uuid, DELETE wifi/interface/:uuid/profile/:name."""

    def __init__(self, bus: Bus) -> None:
        self._bus = bus

    def _prop(self, path: str, interface: str, name: str, default: Any = None) -> Any:
        try:
            return self._bus.get_property((NM, path, interface), name)
        except BusUnavailable:
            return default

    def _devices(self) -> dict[str, str]:
        """Wi-Fi interface name -> device object path ({} when NetworkManager is not running)."""
        if not nm_running(self._bus):
            return {}
        (paths,) = self._bus.call((NM, NM_PATH, NM), "GetDevices")
        found = {}
        for path in paths:
            if self._prop(path, DEVICE, "DeviceType") == NM_DEVICE_TYPE_WIFI:
                found[str(self._prop(path, DEVICE, "Interface", ""))] = path
        return found

    def _profiles(self, iface: str | None) -> list[tuple[str, dict[str, Any]]]:
        """(connection path, settings) of every Wi-Fi profile usable on `iface`."""
        (paths,) = self._bus.call((NM, SETTINGS_PATH, SETTINGS), "ListConnections")
        found = []
        for path in paths:
            (settings,) = self._bus.call((NM, path, CONNECTION), "GetSettings")
            conn = {k: v[1] for k, v in settings.get("connection", {}).items()}
            if conn.get("type") != "802-11-wireless":
                continue
            bound = conn.get("interface-name")
            if iface is None or not bound or bound == iface:
                found.append((path, settings))
        return found

    def interfaces(self) -> list[dict[str, Any]]:
        """Wi-Fi adapters with their profiles (empty when there is none or no NetworkManager)."""
        found = []
        for iface, path in self._devices().items():
            try:
                index = socket.if_nametoindex(iface)
            except OSError:
                index = 0
            profiles = []
            for _, settings in self._profiles(iface):
                conn = {k: v[1] for k, v in settings.get("connection", {}).items()}
                per_user = bool(conn.get("permissions"))
                profiles.append({"name": conn.get("id", ""), "allUserProfile": not per_user,
                                 "groupPolicyProfile": False, "perUserProfile": per_user})
            found.append({"ifIndex": index, "uuid": iface,
                          "description": str(self._prop(path, DEVICE, "Driver", "")), "profiles": profiles})
        return found

    def _device(self, iface: str) -> str:
        devices = self._devices()
        if not nm_running(self._bus):
            raise NotSupported("NetworkManager is not running")
        if iface not in devices:
            raise NotFound(f"no Wi-Fi interface {iface}")
        return devices[iface]

    def networks(self, iface: str) -> list[dict[str, Any]]:
        """Access points the adapter sees, strongest first."""
        device = self._device(iface)
        (aps,) = self._bus.call((NM, device, WIRELESS), "GetAllAccessPoints")
        active = str(self._prop(device, WIRELESS, "ActiveAccessPoint", "/"))
        by_ssid = {}
        for _, settings in self._profiles(iface):
            ssid = settings.get("802-11-wireless", {}).get("ssid", ("ay", b""))[1]
            by_ssid[bytes(ssid)] = settings["connection"]["id"][1]
        found = []
        for ap in aps:
            props = {name: self._prop(ap, AP, name) for name in
                     ("Ssid", "HwAddress", "Strength", "Frequency", "Flags", "WpaFlags", "RsnFlags", "Mode")}
            ssid = bytes(props["Ssid"] or b"")
            auth, cipher, secured = security_of(props["Flags"] or 0, props["WpaFlags"] or 0, props["RsnFlags"] or 0)
            strength = int(props["Strength"] or 0)
            entry: dict[str, Any] = {
                "alreadyConnected": ap == active, "authenticationAlgorithm": auth,
                "channel": channel_of(int(props["Frequency"] or 0)), "cipherAlgorithm": cipher,
                "connectable": True, "infrastructureType": "Ad hoc" if props["Mode"] == 1 else "Infrastructure",
                "profileAvailable": ssid in by_ssid, "profileName": by_ssid.get(ssid, ""),
                "ssid": ssid.decode("utf-8", "replace"), "securityEnabled": secured,
                "signalQuality": strength, "signalStrength": strength // 2 - 100,  # Windows' mapping
                "bssid": str(props["HwAddress"] or "").upper(),
                "physicalTypes": ["802.11ac" if int(props["Frequency"] or 0) >= 5000 else "802.11n"],
            }
            found.append(entry)
        return sorted(found, key=lambda e: -e["signalQuality"])

    def delete_profile(self, iface: str, name: str) -> None:
        """Delete the named Wi-Fi profile of the adapter."""
        if not name.strip():
            raise InvalidInput("invalid profile name")
        self._device(iface)
        for path, settings in self._profiles(iface):
            if settings["connection"]["id"][1] == name:
                self._bus.call((NM, path, CONNECTION), "Delete")
                return
        raise NotFound(f"no profile {name} on {iface}")
