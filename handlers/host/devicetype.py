"""The device type and architecture: --device-type, else the boot partition as the supervisor read
it, else (on an image that is not balenaOS) a generic type of the machine's architecture.

balena push asks /v2/local/device-info for both before it builds on the device: the slug fills
%%BALENA_MACHINE_NAME%% and picks Dockerfile.<slug>, the arch fills %%BALENA_ARCH%% and picks
Dockerfile.<arch> (balena-cli lib/utils/device/deploy.ts, resin-multibuild). balenaOS keeps
device-type.json on its boot partition; other images have none, and the legacy answer (503)
would make every push fail there.
"""

from __future__ import annotations

import json
import platform
import re
from typing import Any

from handlers.errors import NotFound
from handlers.host.hostfs import HostFS

# balenaOS: /mnt/boot/device-type.json (the supervisor saw it as /mnt/root/resin-boot/device-type.json)
PLACES = ("{boot}/device-type.json", "/mnt/root/resin-boot/device-type.json", "/resin-boot/device-type.json")
LEGACY_MISSING = "ENOENT: no such file or directory, open '/mnt/root/resin-boot/device-type.json'"

# uname -m -> balena architecture name
ARCHES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "aarch64", "arm64": "aarch64",
          "armv7l": "armv7hf", "armv8l": "armv7hf", "i686": "i386", "i586": "i386", "i386": "i386"}
# balena architecture -> the generic balena device type of that architecture (a balenalib base image
# exists for each, so Dockerfile.template's %%BALENA_MACHINE_NAME%% resolves)
GENERIC = {"amd64": "genericx86-64-ext", "aarch64": "generic-aarch64", "armv7hf": "generic-armv7ahf",
           "i386": "qemux86"}
# os-release IDs of balenaOS (resinOS before 2018): there, device-type.json is expected
BALENA_OS_IDS = ("balena-os", "resin-os")

SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


def parse_option(text: str) -> tuple[str, str | None]:
    """--device-type SLUG[:ARCH] -> (slug, arch or None); ValueError on anything else."""
    slug, colon, arch = text.strip().partition(":")
    if not SLUG.match(slug) or (colon and not SLUG.match(arch)):
        raise ValueError(f"--device-type takes SLUG[:ARCH] in lower case, e.g. genericx86-64-ext:amd64 (got {text!r})")
    return slug, arch or None


def machine_arch(machine: str | None = None) -> str | None:
    """The balena architecture of this machine (uname -m), None when balena has no name for it."""
    return ARCHES.get(machine if machine is not None else platform.machine())


def is_balena_os(hostfs: HostFS) -> bool:
    """os-release under the root says balenaOS (or resinOS)."""
    release = hostfs.os_release()
    name = release.get("NAME", "").replace(" ", "").lower()
    return release.get("ID", "") in BALENA_OS_IDS or name in ("balenaos", "resinos")


def device_type(hostfs: HostFS, boot_dir: str, option: str | None = None,
                machine: str | None = None) -> dict[str, Any]:
    """{"slug", "arch"}; NotFound with the reason when nothing says it."""
    arch = machine_arch(machine)
    if option:
        slug, given = parse_option(option)
        if given is None and arch is None:
            raise NotFound(f"--device-type {slug} has no architecture and the machine's "
                           f"({machine or platform.machine()}) has no balena name: give {slug}:ARCH")
        return {"slug": slug, "arch": given or arch}
    for place in PLACES:
        text = hostfs.read_text(place.format(boot=boot_dir))
        if text is None:
            continue
        try:
            data = json.loads(text)
        except ValueError as err:
            raise NotFound(f"{place.format(boot=boot_dir)}: {err}") from err
        if isinstance(data, dict) and data.get("slug") and data.get("arch"):
            return {"slug": str(data["slug"]), "arch": str(data["arch"])}
    config = hostfs.read_text(f"{boot_dir}/config.json") or "{}"
    try:
        data = json.loads(config)
    except ValueError:
        data = {}
    if isinstance(data, dict) and data.get("deviceType"):
        return {"slug": str(data["deviceType"]), "arch": str(data.get("deviceArch", ""))}
    if is_balena_os(hostfs):
        raise NotFound(LEGACY_MISSING)  # balenaOS without its file: the legacy answer
    if arch is None:
        raise NotFound(f"no device-type.json on this image and no balena architecture for machine "
                       f"'{machine or platform.machine()}': set --device-type SLUG:ARCH")
    return {"slug": GENERIC[arch], "arch": arch}
