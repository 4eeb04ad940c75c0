"""The networking routes of a real agent process inside a network namespace with veth pairs.

Addresses are 10.213.5x.x and exist only inside the namespaces the tests make.
"""

from __future__ import annotations

import base64
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest_plugins = ["integration.platform_fixtures"]  # pv5_netns

PASSWORD = "Pv5-admin-pw"


def setup_namespace(name: str) -> None:
    """pv5a (default route metric 50), pv5b (metric 60), pv5c (down): each a veth to a peer."""
    from integration.platform_fixtures import ip

    for link, peer in (("pv5a", "pv5ap"), ("pv5b", "pv5bp"), ("pv5c", "pv5cp")):
        ip("-n", name, "link", "add", link, "type", "veth", "peer", "name", peer)
    ip("-n", name, "addr", "add", "10.213.50.1/24", "dev", "pv5a")
    ip("-n", name, "addr", "add", "10.213.51.1/24", "dev", "pv5b")
    ip("-n", name, "addr", "add", "10.213.53.1/24", "dev", "pv5c")
    for link in ("pv5a", "pv5ap", "pv5b", "pv5bp", "pv5cp"):
        ip("-n", name, "link", "set", link, "up")
    ip("-n", name, "route", "add", "default", "via", "10.213.50.254", "dev", "pv5a", "metric", "50")
    ip("-n", name, "route", "add", "default", "via", "10.213.51.254", "dev", "pv5b", "metric", "60")


@pytest.fixture
def net(start_agent: Callable[..., Any], pv5_netns: Callable[[], str], tmp_path: Path,
        host_root: Path) -> Iterator[tuple[Any, str, Path]]:
    """(client with an admin token, namespace, the agent's root) for an agent inside the namespace."""
    name = pv5_netns()
    setup_namespace(name)
    (host_root / "etc/resolv.conf").write_text("search example.test\nnameserver 10.213.50.53\n")
    agent = start_agent(netns=name, docker_host=None, dbus_address=None, listen=f"unix:{tmp_path / 'a.sock'}")
    with agent.client() as client:
        basic = base64.b64encode(b"admin:p@ssw0rd").decode()
        first = client.get("/auth/token?m=2", headers={"Authorization": f"Basic {basic}"}).json()["token"]
        client.put("/auth/user/admin/password", headers={"Authorization": f"Bearer {first}"},
                   json={"old": "p@ssw0rd", "new": PASSWORD})
        basic = base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
        token = client.get("/auth/token?m=2", headers={"Authorization": f"Basic {basic}"}).json()["token"]
        client.headers["Authorization"] = f"Bearer {token}"
        yield client, name, host_root


def by_name(client: Any) -> dict[str, dict[str, Any]]:
    response = client.get("/platform/api/networking/interfaces")
    assert response.status_code == 200, response.text
    return {i["name"]: i for i in response.json()}


def test_interfaces_from_netlink(net: tuple[Any, str, Path]) -> None:
    client, _, _ = net
    found = by_name(client)
    assert "lo" not in found
    a, b, c = found["pv5a"], found["pv5b"], found["pv5c"]
    assert (a["uuid"], a["type"], a["typeId"], a["mtu"]) == ("pv5a", "Ethernet", 1, 1500)
    assert a["addresses"][0] == "10.213.50.1/24" and a["addresses"][1].startswith("fe80::")
    assert (a["gateway"], a["ipv4Metric"], a["isDefault"], a["connected"]) == (["10.213.50.254"], 50, True, True)
    assert (b["gateway"], b["ipv4Metric"], b["isDefault"]) == (["10.213.51.254"], 60, False)
    assert a["dns"] == ["10.213.50.53"]
    assert (c["connected"], c["gateway"], c["dns"]) == (False, [], [])
    assert set(a["iocounters"]) == {"ifindex", "bytesSent", "bytesRecv", "packetsSent", "packetsRecv", "errin",
                                    "errout", "dropin", "dropout", "fifoin", "fifoout"}


def test_route_order_rewrites_metrics(net: tuple[Any, str, Path]) -> None:
    from integration.platform_fixtures import ip_out

    client, name, _ = net
    response = client.post("/platform/api/networking/interfaces/route",
                           json={"ipv6": False, "sortedGUIDList": ["pv5b", "pv5a"]})
    assert (response.status_code, response.content) == (201, b"")
    routes = ip_out("-n", name, "-4", "route", "show", "default")
    assert "via 10.213.51.254 dev pv5b metric 100" in routes
    assert "via 10.213.50.254 dev pv5a metric 200" in routes
    assert by_name(client)["pv5b"]["isDefault"] is True
    response = client.post("/platform/api/networking/interfaces/route", json={"sortedGUIDList": ["nope0"]})
    assert (response.status_code, list(response.json()["errors"])) == (400, ["networking"])
    response = client.post("/platform/api/networking/interfaces/route", json={"sortedGUIDList": []})
    assert (response.status_code, response.content) == (422, b'{"errors":{"networking":"empty list"}}')
    assert ip_out("-n", name, "-4", "route", "show", "default") == routes  # refused: nothing changed


def test_static_ipv4_config(net: tuple[Any, str, Path]) -> None:
    from integration.platform_fixtures import ip_out

    client, name, root = net
    index = by_name(client)["pv5a"]["ifIndex"]
    body = {"ipAddress": "10.213.52.5", "subnetMask": "255.255.255.0", "defaultGateway": "10.213.52.1",
            "primaryDNS": "10.213.52.53", "secondaryDNS": None}
    response = client.put(f"/platform/api/networking/ipv4config/{index}", json=body)
    assert response.status_code == 200, response.text
    assert response.json() == {**body, "secondaryDNS": ""}
    assert "inet 10.213.52.5/24" in ip_out("-n", name, "-4", "addr", "show", "pv5a")
    assert "10.213.50.1" not in ip_out("-n", name, "-4", "addr", "show", "pv5a")
    assert "default via 10.213.52.1 dev pv5a proto static metric 50" in ip_out("-n", name, "-4", "route")
    assert (root / "etc/resolv.conf").read_text() == "search example.test\nnameserver 10.213.52.53\n"


def test_failed_change_leaves_the_interface_as_it_was(net: tuple[Any, str, Path]) -> None:
    from integration.platform_fixtures import ip_out

    client, name, root = net
    found = by_name(client)
    before = ip_out("-n", name, "-4", "addr", "show", "pv5c"), ip_out("-n", name, "-4", "route")
    resolv = (root / "etc/resolv.conf").read_text()
    # pv5c is down: the kernel takes the address but refuses a gateway on it, so all is undone
    body = {"ipAddress": "10.213.54.5", "subnetMask": "255.255.255.0", "defaultGateway": "10.213.54.1",
            "primaryDNS": "10.213.54.53"}
    response = client.put(f"/platform/api/networking/ipv4config/{found['pv5c']['ifIndex']}", json=body)
    assert response.status_code == 422 and list(response.json()["errors"]) == ["Net"], response.text
    assert (ip_out("-n", name, "-4", "addr", "show", "pv5c"), ip_out("-n", name, "-4", "route")) == before
    assert (root / "etc/resolv.conf").read_text() == resolv


@pytest.mark.parametrize("body, index", [
    ({"ipAddress": "10.213.52.5", "subnetMask": "255.255.0.255", "defaultGateway": "10.213.52.1",
      "primaryDNS": "1.1.1.1"}, "pv5a"),
    ({"ipAddress": "10.213.52.5", "subnetMask": "255.255.255.0", "defaultGateway": "10.213.99.1",
      "primaryDNS": "1.1.1.1"}, "pv5a"),
    ({"ipAddress": "not-an-ip", "subnetMask": "255.255.255.0", "defaultGateway": "10.213.52.1",
      "primaryDNS": "1.1.1.1"}, "pv5a"),
    ({"ipAddress": "10.213.52.5", "subnetMask": "255.255.255.0", "defaultGateway": "10.213.52.1",
      "primaryDNS": "1.1.1.1"}, "99999"),
    ({"ipAddress": "10.213.52.5", "subnetMask": "255.255.255.0", "defaultGateway": "10.213.52.1",
      "primaryDNS": "1.1.1.1"}, "abc"),
])
def test_bad_ipv4_config_is_422_net(net: tuple[Any, str, Path], body: dict[str, str], index: str) -> None:
    client, _, _ = net
    found = by_name(client)
    target = found[index]["ifIndex"] if index in found else index
    response = client.put(f"/platform/api/networking/ipv4config/{target}", json=body)
    assert response.status_code == 422 and list(response.json()["errors"]) == ["Net"], response.text
    assert by_name(client)["pv5a"]["addresses"][0] == "10.213.50.1/24"


def test_missing_fields_are_422_validator(net: tuple[Any, str, Path]) -> None:
    client, _, _ = net
    response = client.put(f"/platform/api/networking/ipv4config/{by_name(client)['pv5a']['ifIndex']}",
                          json={"ipAddress": "10.213.52.5"})
    assert response.status_code == 422 and list(response.json()["errors"]) == ["validator"]


@pytest.mark.skipif(any(shutil.which(c) for c in ("dhclient", "dhcpcd", "udhcpc")),
                    reason="a DHCP client is installed: it would really run")
def test_dhcp_without_networkmanager_or_client_is_422(net: tuple[Any, str, Path]) -> None:
    client, _, _ = net
    response = client.delete(f"/platform/api/networking/ipv4config/{by_name(client)['pv5a']['ifIndex']}")
    assert response.status_code == 422
    assert "no DHCP client" in response.json()["errors"]["Net"]
