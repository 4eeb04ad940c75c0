"""The domain: containers, network, host, hardware, store. Knows nothing of HTTP or dialects.

One package per concern: engine/ (the balena state engine), host/ (D-Bus, netlink, sysfs, files),
hardware/ (attached devices), accounts/ (logins, keys, tokens). Shared at this level: errors,
store, jsvalues, redact and docker (the Docker Engine connection); services, platform and
startup wire the packages together from settings and may import any of them.
Nothing under handlers/ imports compat or starlette.
"""

import os

VERSION = "0.1.0"


def supervisor_version(base: str) -> str:
    """The supervisor version reported (/v2/version, /v1/device, BALENA_SUPERVISOR_VERSION): `base`,
    plus `+<SUPERVISOR_TAG_EXTRA>` when that variable is set and not empty, as the legacy
    supervisor-version.ts did."""
    extra = os.environ.get("SUPERVISOR_TAG_EXTRA")
    return f"{base}+{extra}" if extra else base
