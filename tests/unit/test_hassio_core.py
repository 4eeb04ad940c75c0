"""The homeassistant container's pure parts: docker stats as tag 138's DockerStats summed them, and
the run options taken from the agent's settings."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from handlers.homeassistant.container import Stats
from handlers.homeassistant.core import default_machine, run_options

SAMPLE = {
    "cpu_stats": {"cpu_usage": {"total_usage": 3_000, "percpu_usage": [1, 2]}, "system_cpu_usage": 20_000,
                  "online_cpus": 2},
    "precpu_stats": {"cpu_usage": {"total_usage": 1_000}, "system_cpu_usage": 10_000},
    "memory_stats": {"usage": 4096, "limit": 8192},
    "networks": {"eth0": {"rx_bytes": 10, "tx_bytes": 20}, "wlan0": {"rx_bytes": 1, "tx_bytes": 2}},
    "blkio_stats": {"io_service_bytes_recursive": [{"op": "Read", "value": 5}, {"op": "Write", "value": 7},
                                                   {"op": "read", "value": 1}, {"op": "Sync", "value": 99}]},
}


def test_stats_sum_networks_and_block_io_and_scale_cpu_by_the_cpus() -> None:
    assert Stats.parse(SAMPLE).as_dict() == {"cpu_percent": 40.0, "memory_usage": 4096, "memory_limit": 8192,
                                             "network_rx": 11, "network_tx": 22, "blk_read": 6, "blk_write": 7}


def test_stats_of_a_host_network_container_on_cgroup_v2() -> None:
    """No networks (network_mode host), no percpu_usage, blkio null: zeros, never an error."""
    sample = {"cpu_stats": {"cpu_usage": {"total_usage": 5}, "system_cpu_usage": 10},
              "precpu_stats": {"cpu_usage": {"total_usage": 5}}, "memory_stats": {}, "blkio_stats": {
                  "io_service_bytes_recursive": None}}
    assert Stats.parse(sample).as_dict() == {"cpu_percent": 0.0, "memory_usage": 0, "memory_limit": 0,
                                             "network_rx": 0, "network_tx": 0, "blk_read": 0, "blk_write": 0}


@pytest.mark.parametrize(("listen", "dialect_listen", "supervisor"), [
    ("0.0.0.0:48484", {}, "127.0.0.1:48484"),
    ("192.168.1.5:80", {}, "192.168.1.5:80"),
    ("[::]:8080", {}, "127.0.0.1:8080"),
    ("0.0.0.0:48484", {"hassio": "127.0.0.1:80"}, "127.0.0.1:80"),
    ("unix:/run/polyvisor.sock", {}, "127.0.0.1"),
])
def test_hassio_is_where_the_dialect_listens(listen: str, dialect_listen: dict[str, str], supervisor: str) -> None:
    settings = SimpleNamespace(listen=listen, dialect_listen=dialect_listen, data_dir=Path("/data"), hassio_data=None)
    assert run_options(settings).supervisor == supervisor


def test_the_data_folder_and_privileged_flag() -> None:
    settings = SimpleNamespace(listen="0.0.0.0:1", dialect_listen={}, data_dir=Path("/data"), hassio_data=None)
    options = run_options(settings)
    assert (options.data_folder, options.privileged, options.network_mode) == (Path("/data/hassio"), True, "host")
    assert options.volumes() == {"/data/hassio/homeassistant": {"bind": "/config", "mode": "rw"},
                                 "/data/hassio/ssl": {"bind": "/ssl", "mode": "ro"},
                                 "/data/hassio/share": {"bind": "/share", "mode": "rw"}}
    settings.hassio_data = "/mnt/data/supervisor,privileged=false"
    options = run_options(settings)
    assert (options.data_folder, options.privileged) == (Path("/mnt/data/supervisor"), False)


def test_the_machine_is_the_device_types_slug() -> None:
    assert default_machine("raspberrypi3:armv7hf") == "raspberrypi3"
    assert default_machine("intel-nuc") == "intel-nuc"
