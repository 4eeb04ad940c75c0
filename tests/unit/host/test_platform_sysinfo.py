"""handlers.host.sysinfo over recorded /proc files under a fake root: gopsutil's names and arithmetic."""

from __future__ import annotations

from pathlib import Path

from handlers.hardware.disks import smart_attributes
from handlers.host.hostfs import HostFS
from handlers.host.netconfig import speed_text
from handlers.host.sysinfo import MEMORY_KEYS, SysInfo
from handlers.host.wifi import channel_of, security_of

MEMINFO = """\
MemTotal:        8072252 kB
MemFree:         6334568 kB
MemAvailable:    7356320 kB
Buffers:           52592 kB
Cached:          1016172 kB
SwapCached:            0 kB
Active:           626488 kB
Inactive:         865232 kB
Shmem:             37164 kB
SReclaimable:      76140 kB
SUnreclaim:        86576 kB
SwapTotal:       2097148 kB
SwapFree:        2097148 kB
HugePages_Total:       0
Hugepagesize:       2048 kB
"""
CPUINFO = """\
processor	: 0
vendor_id	: GenuineIntel
cpu family	: 6
model		: 78
model name	: Intel(R) Core(TM) i7-6600U CPU @ 2.60GHz
stepping	: 3
microcode	: 0xc6
cpu MHz		: 2600.000
cache size	: 4096 KB
physical id	: 0
core id		: 0
cpu cores	: 2
flags		: fpu sse sse2

processor	: 1
vendor_id	: GenuineIntel
"""


def root_with(tmp_path: Path, files: dict[str, str]) -> HostFS:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return HostFS(tmp_path)


def test_memory_is_gopsutil_virtual_memory_stat(tmp_path: Path) -> None:
    memory = SysInfo(root_with(tmp_path, {"proc/meminfo": MEMINFO})).memory()
    assert list(memory) == [key for key, _ in MEMORY_KEYS]
    kib = 1024
    cached = (1016172 + 76140) * kib  # gopsutil adds SReclaimable to Cached
    assert memory["cached"] == cached
    assert memory["used"] == 8072252 * kib - 6334568 * kib - 52592 * kib - cached
    assert memory["usedPercent"] == memory["used"] / memory["total"] * 100
    assert (memory["available"], memory["shared"], memory["hugePageSize"], memory["wired"]) == (
        7356320 * kib, 37164 * kib, 2048 * kib, 0)


def test_cpu_info_is_the_first_logical_cpu(tmp_path: Path) -> None:
    info = SysInfo(root_with(tmp_path, {"proc/cpuinfo": CPUINFO})).cpu_info()
    assert info == {"cpu": 0, "vendorId": "GenuineIntel", "family": "6", "model": "78", "stepping": 3,
                    "physicalId": "0", "coreId": "0", "cores": 1,
                    "modelName": "Intel(R) Core(TM) i7-6600U CPU @ 2.60GHz", "mhz": 2600.0, "cacheSize": 4096,
                    "flags": ["fpu", "sse", "sse2"], "microcode": "0xc6"}


def test_smart_raw_value_is_six_little_endian_bytes() -> None:
    table = {"ata_smart_attributes": {"table": [{"id": 194, "name": "Temperature_Celsius", "value": 70,
                                                 "worst": 70, "thresh": 0, "flags": {"value": 35},
                                                 "raw": {"value": 0x1E_0000_001E}}]}}
    assert smart_attributes(table) == [{"id": 194, "name": "Temperature_Celsius", "statusFlags": 35, "value": 70,
                                        "worst": 70, "threshold": 0, "rawData": [30, 0, 0, 0, 30, 0]}]
    assert smart_attributes({"nvme_smart_health_information_log": {}}) is None


def test_small_conversions() -> None:
    assert (speed_text(1000), speed_text(100), speed_text(2500), speed_text(10000)) == (
        "1 Gbps", "100 Mbps", "2500 Mbps", "10 Gbps")
    assert (channel_of(2412), channel_of(2484), channel_of(5180), channel_of(5955)) == (1, 14, 36, 1)
    assert security_of(0, 0, 0) == ("Open", "None", False)
    assert security_of(1, 0, 0x188) == ("WPA2-Personal", "AES", True)
    assert security_of(1, 0, 0x400 | 0x8) == ("WPA3-Personal", "AES", True)
