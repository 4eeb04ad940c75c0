"""What the cloud connection (handlers/edgehub/cloud.py) needs before it dials: the broker and its
credentials from WISE-PaaS DCCS, and the TLS context of the conncfg's CAs and client certificate."""

from __future__ import annotations

import json
import logging
import os
import ssl
import tempfile
from pathlib import Path
from typing import Any

from handlers.errors import InvalidInput, Unavailable

log = logging.getLogger("polyvisor.edgehub")


def fetch_dccs(url: str, key: str, tls: bool, timeout: float = 10.0) -> dict[str, Any]:
    """The MQTT broker and credentials from WISE-PaaS DCCS; Unavailable (422) when it fails."""
    import urllib.error
    import urllib.parse
    import urllib.request

    target = f"{url.rstrip('/')}/v1/serviceCredentials/{urllib.parse.quote(key, safe='')}"
    shown = f"{url.rstrip('/')}/v1/serviceCredentials/<iotKey>"
    try:
        with urllib.request.urlopen(target, timeout=timeout) as reply:
            data = json.loads(reply.read(1 << 20))
        protocols = data["credential"]["protocols"]
        proto = protocols.get("mqtt+ssl" if tls else "mqtt") or protocols["mqtt"]
        return {"mqttHost": str(data["serviceHost"]), "mqttPort": int(proto["port"]),
                "username": str(proto["username"]), "password": str(proto["password"]),
                "enableTLS": bool(proto.get("ssl", tls))}
    except urllib.error.HTTPError as err:
        raise Unavailable(f"DCCS {shown} answered {err.code}") from None
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise Unavailable(f"DCCS {shown} failed: {type(err).__name__}") from None


def tls_context(cfg: dict[str, Any], folder: Path) -> ssl.SSLContext:
    """The client's TLS context: the conncfg's CAs (else the system's), its client certificate."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    certs = [c for c in cfg.get("caCerts") or [] if c.strip()]
    try:
        if certs:
            context.load_verify_locations(cadata="\n".join(certs))
        if cfg.get("mqttCert") and cfg.get("mqttKey"):
            # load_cert_chain reads files: a private, short-lived pair in the root-only data folder
            with tempfile.TemporaryDirectory(dir=folder) as tmp:
                cert, key = Path(tmp) / "cert.pem", Path(tmp) / "key.pem"
                cert.write_text(cfg["mqttCert"])
                fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as out:
                    out.write(cfg["mqttKey"])
                context.load_cert_chain(cert, key)
    except (ssl.SSLError, ValueError) as err:
        raise InvalidInput(f"invalid certificate or key: {getattr(err, 'reason', None) or 'unreadable'}") from None
    if cfg.get("skipCertVerify"):
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        log.warning("edgehub: TLS certificate verification of %s is OFF (skipCertVerify)", cfg.get("mqttHost"))
    return context
