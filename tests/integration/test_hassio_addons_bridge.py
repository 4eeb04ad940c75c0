"""An add-on on the `hassio` bridge, as tag 138 ran it: a dockerd of its own with bridge
networking, inside a network namespace made for this module, so its bridges (docker0 and hassio,
172.30.32.0/23) exist only there and the machine's own network is never touched. The add-on is inspected through the
engine and `docker exec`; nothing reaches it through a bridge address.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from handlers.docker import Engine
from handlers.homeassistant.addons.installed import Installed
from handlers.homeassistant.addons.manager import Addons
from handlers.homeassistant.addons.params import GATEWAY, NETWORK
from handlers.homeassistant.addons.store import AddonStore
from handlers.homeassistant.tokens import Tokens
from handlers.store import Store
from integration.components import Dockerd, busybox_rootfs, ip
from integration.engine_support import wait_for

CONFIG = {"name": "Web", "version": "1.0", "slug": "web", "description": "on the bridge", "startup": "services",
          "boot": "manual", "options": {}, "schema": False, "image": "pvtest/{arch}-addon-web",
          "ports": {"80/tcp": None}}


class NetnsDockerd(Dockerd):
    """Dockerd in a network namespace: its bridges live there only."""

    def __init__(self, workdir: Path, netns: str) -> None:
        super().__init__(workdir)
        self.netns = netns

    def argv(self, storage_driver: str | None) -> list[str]:
        # nsenter, not `ip netns exec`: that remounts /sys and dockerd then finds no cgroups
        # and with the default bridge: an engine with bridge networking, as on a device
        argv = [arg for arg in super().argv(storage_driver) if arg != "--bridge=none"]
        return ["nsenter", f"--net=/run/netns/{self.netns}", *argv]


@pytest.fixture(scope="module")
def bridged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(docker host, netns name) of a dockerd inside a new network namespace."""
    import uuid

    name = f"pv-test-{uuid.uuid4().hex[:8]}"
    ip("netns", "add", name)
    daemon = NetnsDockerd(Path(tempfile.mkdtemp(prefix="pv-dockerd-netns-")), name)
    try:
        ip("-n", name, "link", "set", "lo", "up")
        daemon.start()
        yield daemon.host, name
    finally:
        daemon.stop()
        ip("netns", "delete", name)


def test_addon_on_the_hassio_bridge(bridged: tuple[str, str], tmp_path: Path) -> None:
    import docker

    host, netns = bridged
    client = docker.DockerClient(base_url=host, timeout=60)
    engine = Engine(host)
    db = Store(tmp_path / "data")
    db.open()
    try:
        client.api.import_image_from_data(
            busybox_rootfs(), repository="pvtest/amd64-addon-web", tag="1.0",
            changes=["ENV PATH=/bin", 'CMD ["sh", "-c", "trap \'exit 0\' TERM; sleep 3600 & wait"]'])
        folder = tmp_path / "hassio"
        (folder / "addons" / "local" / "web").mkdir(parents=True)
        (folder / "addons" / "local" / "web" / "config.json").write_text(json.dumps(CONFIG))
        addons = Addons(AddonStore(folder / "addons", None, "amd64", "qemux86-64"), Installed(db), engine,
                        Tokens(db, lambda: None, lambda key: False), folder, "amd64", "qemux86-64")
        addons.load()
        assert addons.install("local_web") is True
        assert addons.set_options("local_web", {"network": {"80/tcp": 18080}}) is True
        assert addons.start("local_web") is True
        container = client.containers.get("addon_local_web")
        networks = container.attrs["NetworkSettings"]["Networks"]
        assert list(networks) == [NETWORK]  # not on the default bridge
        assert "local-web" in (networks[NETWORK]["Aliases"] or [])
        assert networks[NETWORK]["IPAddress"].startswith("172.30.33.")
        hosts = container.attrs["HostConfig"]
        assert sorted(hosts["ExtraHosts"]) == sorted([f"homeassistant:{GATEWAY}", f"hassio:{GATEWAY}"])
        assert hosts["DnsSearch"] == ["."]
        assert hosts["PortBindings"] == {"80/tcp": [{"HostIp": "", "HostPort": "18080"}]}
        found = client.networks.get(NETWORK).attrs["IPAM"]["Config"][0]
        assert (found["Subnet"], found["Gateway"], found["IPRange"]) == ("172.30.32.0/23", GATEWAY, "172.30.33.0/24")
        etc_hosts = container.exec_run(["cat", "/etc/hosts"]).output.decode()
        assert f"{GATEWAY}\thassio" in etc_hosts
        # the bridge interface lives in the test's namespace, not on the machine
        links = subprocess.run(["ip", "-n", netns, "-br", "link", "show"], capture_output=True, text=True,
                               check=True).stdout
        assert "hassio" in links.split()
        assert addons.stop("local_web") is True
        assert addons.start("local_web") is True  # the network exists now: joined again
        wait_for(lambda: addons.is_running("local_web"), 20, "started again")
        assert addons.uninstall("local_web") is True
        client.networks.get(NETWORK).remove()
    finally:
        db.close()
        engine.close()
        client.close()
