"""handlers.host.network.Network inside network namespaces the test makes (the host's are never touched)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from handlers.host.network import Network
from integration.processes import ip

# What a device's own interfaces carry, and what the engine, VPN and supervisor put beside them.
OWN = {"pv0": "10.213.7.1", "pv1": "10.213.8.1"}
INTERNAL = {"docker0": "10.213.9.1", "balena0": "10.213.10.1", "resin-vpn": "10.213.11.1",
            "br-0123456789ab": "10.213.12.1"}
DOWN = {"pvdown": "10.213.13.1"}


def device_namespace(netns: Callable[[], str]) -> str:
    """A namespace with veth pairs: our own interfaces, internal ones and one left down."""
    name = netns()
    pairs = [("pv0", "pv1"), ("docker0", "balena0"), ("resin-vpn", "br-0123456789ab"), ("pvdown", "pvpeer")]
    addresses = {**OWN, **INTERNAL, **DOWN}
    for a, b in pairs:
        ip("-n", name, "link", "add", a, "type", "veth", "peer", "name", b)
    for link, address in addresses.items():
        ip("-n", name, "addr", "add", f"{address}/24", "dev", link)
    for link in [link for pair in pairs for link in pair if link not in DOWN]:
        ip("-n", name, "link", "set", link, "up")
    return name


def test_device_ipv4_in_namespace(netns: Callable[[], str]) -> None:
    name = device_namespace(netns)
    network = Network(netns=name)
    assert sorted(network.device_ipv4()) == sorted(OWN.values())
    seen = {(a.interface, a.address) for a in network.addresses()}
    assert ("lo", "127.0.0.1") in seen  # listed, but not the device's address
    assert ("docker0", INTERNAL["docker0"]) in seen
    assert not any(a.interface == "pvdown" for a in network.addresses())


def test_empty_namespace_has_no_address(netns: Callable[[], str]) -> None:
    assert Network(netns=netns()).device_ipv4() == []


def test_agent_in_namespace_reports_its_addresses(netns: Callable[[], str], start_agent: Callable[..., Any],
                                                  tmp_path: Path) -> None:
    name = device_namespace(netns)
    # its loopback is the namespace's: talk to it over a unix socket instead
    agent = start_agent(netns=name, listen=f"unix:{tmp_path / 'agent.sock'}")
    response = agent.get("/v1/device")
    assert response.status_code == 200, response.text
    assert sorted(response.json()["ip_address"].split(" ")) == sorted(OWN.values())
