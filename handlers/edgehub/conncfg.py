"""edgehub-agent's connection setting (GET/POST/DELETE /edgehub/api/conncfg) and the mass
deployment tenant token (PUT /edgehub/api/bootstrap/config), kept in the agent's database.

The database lives in the data folder (0700, the file 0600: root only). Secrets (password,
iotKey, deviceTokenCredential, the private keys, the tenant token) are returned masked as
MASK and never logged; a POST that sends MASK back keeps the stored secret.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from typing import Any

from handlers.errors import InvalidInput, NotFound
from handlers.store import Store

log = logging.getLogger("polyvisor.edgehub")

KEY = "edgehub.conncfg"
ENABLED_KEY = "edgehub.enabled"
BOOTSTRAP_KEY = "edgehub.bootstrap"
MASK = "********"
SECRETS = ("password", "deviceTokenCredential", "iothubKey", "mqttKey")
DEVICEON_SECRETS = ("iotKey",)
STRINGS = ("username", "password", "mqttHost", "connectionString", "mac", "uuid", "deviceTokenCredential",
           "iothubKey", "iothubCert", "mqttKey", "mqttCert")
BOOLS = ("enableTLS", "overWebSocket", "skipCertVerify")
# what a deviceTokenCredential (base64 of a JSON object, our choice) may carry
TOKEN_FIELDS = {"mqttHost": str, "host": str, "mqttPort": int, "port": int, "username": str, "password": str,
                "enableTLS": bool, "overWebSocket": bool, "caCerts": list, "mqttCert": str, "mqttKey": str,
                "iothubCert": str, "iothubKey": str}


def decode_token(token: str) -> dict[str, Any]:
    """A deviceTokenCredential: base64 (standard or URL-safe, padding optional) of a JSON object
    with the broker's address, credentials and certificates; InvalidInput otherwise."""
    text = token.strip()
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_" if "-" in text or "_" in text else None)
        value = json.loads(raw)
    except (binascii.Error, ValueError) as err:
        raise InvalidInput("invalid deviceTokenCredential") from err
    if not isinstance(value, dict):
        raise InvalidInput("invalid deviceTokenCredential")
    out: dict[str, Any] = {}
    for name, kind in TOKEN_FIELDS.items():
        if name in value:
            item = value[name]
            if not isinstance(item, kind) or (kind is int and isinstance(item, bool)):
                raise InvalidInput(f"invalid deviceTokenCredential: {name}")
            out[{"host": "mqttHost", "port": "mqttPort"}.get(name, name)] = item
    return out


def validate(body: Any, stored: dict[str, Any] | None = None) -> dict[str, Any]:
    """The setting a POST body describes (InvalidInput -> 422 {"message"}); MASK keeps a stored secret."""
    if not isinstance(body, dict):
        raise InvalidInput("the connection setting must be a JSON object")
    stored = stored or {}
    cfg: dict[str, Any] = {}
    for name in STRINGS:
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise InvalidInput(f"{name} must be a string")
        cfg[name] = stored.get(name, "") if value == MASK and name in SECRETS else value
    for name in BOOLS:
        value = body.get(name)
        if value is not None and not isinstance(value, bool):
            raise InvalidInput(f"{name} must be true or false")
        cfg[name] = bool(value)
    port = body.get("mqttPort", 1883 if "mqttHost" in body else None)
    if port is not None:
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise InvalidInput("mqttPort must be a port number (1-65535)")
        cfg["mqttPort"] = port
    certs = body.get("caCerts")
    if certs is not None:
        if not isinstance(certs, list) or not all(isinstance(c, str) for c in certs):
            raise InvalidInput("caCerts must be a list of PEM strings")
        cfg["caCerts"] = certs
    deviceon = body.get("deviceon")
    if deviceon is not None:
        if not isinstance(deviceon, dict):
            raise InvalidInput("deviceon must be an object")
        old = stored.get("deviceon") or {}
        pair = {}
        for name in ("dccsUrl", "iotKey"):
            value = deviceon.get(name, "")
            if not isinstance(value, str):
                raise InvalidInput(f"deviceon.{name} must be a string")
            pair[name] = old.get(name, "") if value == MASK and name in DEVICEON_SECRETS else value
        if pair["dccsUrl"] or pair["iotKey"]:
            if not (pair["dccsUrl"] and pair["iotKey"]):
                raise InvalidInput("deviceon needs both dccsUrl and iotKey")
            if not pair["dccsUrl"].startswith(("http://", "https://")):
                raise InvalidInput("deviceon.dccsUrl must be an http(s) URL")
            cfg["deviceon"] = pair
    if cfg.get("deviceTokenCredential"):
        decode_token(cfg["deviceTokenCredential"])  # refused now rather than at connect time
    elif not cfg.get("deviceon") and not cfg.get("mqttHost"):
        raise InvalidInput("mqttHost is required (or deviceon, or deviceTokenCredential)")
    return cfg


def masked(cfg: dict[str, Any]) -> dict[str, Any]:
    """The setting as GET shows it: every field of the seed's shape, secrets masked."""
    out: dict[str, Any] = {"username": "", "password": "", "mqttHost": "", "mqttPort": 1883, "enableTLS": False,
                           "overWebSocket": False, "connectionString": "", "mac": "", "uuid": "",
                           "skipCertVerify": False, "deviceTokenCredential": "", "caCerts": [], "iothubKey": "",
                           "iothubCert": "", "mqttKey": "", "mqttCert": ""}
    out.update({k: v for k, v in cfg.items() if k != "deviceon"})
    for name in SECRETS:
        if out.get(name):
            out[name] = MASK
    if cfg.get("deviceon"):
        out["deviceon"] = {"dccsUrl": cfg["deviceon"]["dccsUrl"], "iotKey": MASK}
    return out


class ConnConfig:
    """The stored connection setting, the enabled flag and the bootstrap tenant token."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self) -> dict[str, Any] | None:
        """The stored setting with its secrets in clear (for the cloud client only), or None."""
        raw = self.store.get(KEY)
        return None if not raw else dict(json.loads(raw))

    def public(self) -> dict[str, Any]:
        """GET conncfg: the masked setting; NotFound (404) when there is none."""
        cfg = self.get()
        if cfg is None:
            raise NotFound("no connection setting")
        return masked(cfg)

    def set(self, body: Any) -> dict[str, Any]:
        """Validate and store a setting (one transaction); the masked result."""
        cfg = validate(body, self.get())
        self.store.set(**{KEY: json.dumps(cfg, separators=(",", ":"))})
        log.info("edgehub connection setting stored (host %s)", cfg.get("mqttHost") or "from credential")
        return masked(cfg)

    def clear(self) -> None:
        """DELETE conncfg: the setting and the enabled flag go."""
        with self.store.transaction() as db:
            db.execute("DELETE FROM config WHERE key IN (?, ?)", (KEY, ENABLED_KEY))

    @property
    def enabled(self) -> bool:
        """The connection was enabled (restored at the agent's start)."""
        return self.store.get(ENABLED_KEY) == "true"

    @enabled.setter
    def enabled(self, value: bool) -> None:
        self.store.set(**{ENABLED_KEY: "true" if value else "false"})

    def set_bootstrap(self, body: Any) -> None:
        """PUT bootstrap/config: {"tenantToken": "..."} stored as a secret; InvalidInput (422) otherwise."""
        token = body.get("tenantToken") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token.strip():
            raise InvalidInput("tenantToken is required")
        if len(token) > 16384 or any(c.isspace() for c in token.strip()):
            raise InvalidInput("invalid tenantToken")
        self.store.set(**{BOOTSTRAP_KEY: json.dumps({"tenantToken": token.strip()})})
        log.info("edgehub mass deployment tenant token stored")

    def bootstrap(self) -> str | None:
        """The stored tenant token, or None."""
        raw = self.store.get(BOOTSTRAP_KEY)
        return None if not raw else str(json.loads(raw)["tenantToken"])
