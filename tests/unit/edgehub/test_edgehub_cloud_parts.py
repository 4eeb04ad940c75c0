"""edgehub's cloud parts without a broker: conncfg validation and masking, deviceTokenCredential,
the spool's order and bound, the back-off and the storm window."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest

from handlers.edgehub import cloud as cloudmod
from handlers.edgehub import spool as spoolmod
from handlers.edgehub.cloud import Cloud, device_id
from handlers.edgehub.conncfg import MASK, ConnConfig, decode_token, masked, validate
from handlers.edgehub.spool import Spool
from handlers.errors import InvalidInput, NotFound, Unavailable
from handlers.store import Store


@pytest.fixture
def config(tmp_path: Path) -> ConnConfig:
    store = Store(tmp_path / "data")
    store.open()
    return ConnConfig(store)


def test_validate_and_mask() -> None:
    cfg = validate({"username": "u", "password": "p", "mqttHost": "h", "deviceon": {"dccsUrl": "https://d", "iotKey": "k"}})
    assert cfg["mqttPort"] == 1883 and cfg["enableTLS"] is False
    shown = masked(cfg)
    assert shown["password"] == MASK and shown["deviceon"] == {"dccsUrl": "https://d", "iotKey": MASK}
    assert validate({**shown, "mqttHost": "x"}, cfg)["password"] == "p"  # the mask keeps the secret
    for bad in ({}, {"mqttHost": 1}, {"mqttHost": "h", "mqttPort": True}, {"mqttHost": "h", "enableTLS": "yes"},
                {"deviceon": {"dccsUrl": "ftp://x", "iotKey": "k"}}, {"deviceon": {"dccsUrl": "http://x"}},
                {"mqttHost": "h", "caCerts": "pem"}, [1]):
        with pytest.raises(InvalidInput):
            validate(bad)


def test_device_token_credential() -> None:
    token = base64.urlsafe_b64encode(json.dumps({"host": "b", "port": 8883, "username": "u"}).encode()).decode()
    assert decode_token(token.rstrip("=")) == {"mqttHost": "b", "mqttPort": 8883, "username": "u"}
    for bad in ("!!!", base64.b64encode(b"[1]").decode(), base64.b64encode(b'{"port":"x"}').decode()):
        with pytest.raises(InvalidInput):
            decode_token(bad)
    assert validate({"deviceTokenCredential": token})["deviceTokenCredential"] == token


def test_store_clear_and_bootstrap(config: ConnConfig) -> None:
    with pytest.raises(NotFound):
        config.public()
    config.set({"mqttHost": "h", "password": "s"})
    config.enabled = True
    assert config.get() is not None and config.enabled
    config.clear()
    assert config.get() is None and not config.enabled
    config.set_bootstrap({"tenantToken": "tok"})
    assert config.bootstrap() == "tok"
    for bad in ({}, {"tenantToken": ""}, {"tenantToken": 5}, "x", {"tenantToken": "a b"}):
        with pytest.raises(InvalidInput):
            config.set_bootstrap(bad)


def test_spool_order_bound_and_restart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spoolmod, "SPOOL_MAX_MESSAGES", 5)
    spool = Spool(tmp_path / "edgehub" / "spool")
    for n in range(5):
        spool.put(b"%d" % n)
    with pytest.raises(Unavailable):
        spool.put(b"5")
    again = Spool(tmp_path / "edgehub" / "spool")  # after a restart: the same order
    assert [p.read_bytes() for p in again.peek(0)] == [b"0", b"1", b"2", b"3", b"4"]
    again.remove(again.peek(0)[0])
    assert [p.read_bytes() for p in again.peek(1)] == [b"2", b"3", b"4"]
    again.put(b"5")
    assert [p.read_bytes() for p in again.peek(0)][-1] == b"5"
    assert oct((tmp_path / "edgehub" / "spool").stat().st_mode & 0o777) == "0o700"


def test_backoff_jitter_cap_and_storm(config: ConnConfig, tmp_path: Path) -> None:
    cloud = Cloud(config, tmp_path / "edgehub")
    for attempt in range(12):
        top = min(cloudmod.BACKOFF_CAP, cloudmod.BACKOFF_BASE * 2 ** attempt)
        assert all(top / 2 <= cloud._delay(attempt) <= top for _ in range(20))
    assert cloud.status() == {"enabled": False, "status": "disconnected", "certRevoked": False,
                              "stormDetected": False}
    now = time.monotonic()
    cloud._drops.extend([now] * cloudmod.STORM_DROPS)
    assert not cloud.storm()
    cloud._drops.append(now)
    assert cloud.storm() and cloud._delay(0) >= cloudmod.BACKOFF_CAP / 2
    cloud._drops.clear()
    cloud._drops.extend([now - cloudmod.STORM_WINDOW - 1] * 10)
    assert not cloud.storm()


def test_data_refused_when_not_enabled(config: ConnConfig, tmp_path: Path) -> None:
    with pytest.raises(cloudmod.NotConnected):
        Cloud(config, tmp_path / "edgehub").publish_data(b"{}")
    assert device_id({"mac": "AA:BB"}) == "AABB" and device_id({"uuid": "u/+#1"}) == "u1"
