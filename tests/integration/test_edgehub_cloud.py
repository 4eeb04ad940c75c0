"""edgehub's cloud connection on a real mosquitto (plain and TLS listeners, a WebSocket relay in
front of it), a DCCS stand-in on 127.0.0.1, and real agent processes: conncfg, connection,
data (queued across a broker restart), bootstrap config, and the bad cases."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from integration.components import Mosquitto
from integration.edgehub_fixtures import (
    Dccs,
    Silent,
    Subscriber,
    WsRelay,
    login,
    make_ca,
    make_leaf,
    pem_cert,
    pem_key,
    write_tls,
)

USER, SECRET = "edge", "Mq-s3cret-pw"
UUID = "123e4567-e89b-12d3-a456-426614174000"
PROFILE = f"Advantech/{UUID}/update/platform/profile"
DATA = f"Advantech/{UUID}/data"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The broker's CA, a foreign CA and a client certificate the broker does not know."""
    folder = tmp_path_factory.mktemp("pki")
    ca, foreign = make_ca("polyvisor test CA"), make_ca("someone else's CA")
    stranger = make_leaf(foreign, "edge-client", server=False)
    return {"ca": ca, "foreign": foreign, "files": write_tls(folder, ca), "stranger": stranger}


@pytest.fixture(scope="module")
def broker(pki: dict[str, Any]) -> Iterator[Mosquitto]:
    """Plain + TLS listeners, one user, persistent sessions (the subscriber keeps its queue)."""
    mq = Mosquitto(users={USER: SECRET}, tls=pki["files"], persistent=True)
    mq.start()
    yield mq
    mq.stop()


@pytest.fixture(scope="module")
def mtls_broker(pki: dict[str, Any]) -> Iterator[Mosquitto]:
    """A TLS listener that requires client certificates of the test CA."""
    mq = Mosquitto(users={USER: SECRET}, tls=pki["files"], require_certificate=True)
    mq.start()
    yield mq
    mq.stop()


@pytest.fixture
def sub(broker: Mosquitto) -> Iterator[Subscriber]:
    s = Subscriber(broker.port, USER, SECRET)
    yield s
    s.stop()


@pytest.fixture
def api(start_agent: Callable[..., Any]) -> Iterator[Any]:
    agent = start_agent(docker_host=None, dbus_address=None)
    with agent.client() as client:
        login(client)
        client.agent = agent
        yield client


def plain(broker: Mosquitto, **extra: Any) -> dict[str, Any]:
    return {"username": USER, "password": SECRET, "mqttHost": "127.0.0.1", "mqttPort": broker.port,
            "enableTLS": False, "overWebSocket": False, "uuid": UUID, **extra}


def spool_empty(api: Any, timeout: float = 10) -> None:
    """Wait until every spooled message was acknowledged by the broker (its file removed)."""
    spool = api.agent.data_dir / "edgehub" / "spool"
    end = time.monotonic() + timeout
    while list(spool.glob("*.msg")) and time.monotonic() < end:
        time.sleep(0.1)
    assert not list(spool.glob("*.msg")), "spooled messages never acknowledged"


def wait_status(client: Any, status: str, timeout: float = 20) -> dict[str, Any]:
    end = time.monotonic() + timeout
    while True:
        body: dict[str, Any] = client.get("/edgehub/api/connection").json()
        if body["status"] == status or time.monotonic() > end:
            assert body["status"] == status, body
            return body
        time.sleep(0.1)


def log_of(client: Any) -> str:
    return str(Path(client.agent.log).read_text(errors="replace"))


def test_conncfg_set_get_clear_masked(api: Any, broker: Mosquitto) -> None:
    assert api.get("/edgehub/api/conncfg").status_code == 404
    cfg = plain(broker, deviceon={"dccsUrl": "http://127.0.0.1:9/", "iotKey": "iot-k3y-secret"})
    answer = api.post("/edgehub/api/conncfg", json=cfg)
    assert answer.status_code == 200, answer.text
    shown = api.get("/edgehub/api/conncfg").json()
    assert shown["password"] == "********" and shown["deviceon"] == {"dccsUrl": "http://127.0.0.1:9/",
                                                                      "iotKey": "********"}
    assert shown["mqttPort"] == broker.port and shown["uuid"] == UUID and shown["username"] == USER
    assert answer.json() == shown
    # the mask sent back keeps the secret
    assert api.post("/edgehub/api/conncfg", json={**shown, "mqttHost": "localhost"}).status_code == 200
    from handlers.store import read_value

    stored = json.loads(read_value(api.agent.data_dir, "edgehub.conncfg") or "{}")
    assert stored["password"] == SECRET and stored["deviceon"]["iotKey"] == "iot-k3y-secret"
    assert (api.agent.data_dir.stat().st_mode & 0o077) == 0
    assert api.delete("/edgehub/api/conncfg").status_code == 200
    assert api.get("/edgehub/api/conncfg").status_code == 404
    # bad bodies
    for body in (b"", b"{", b"[1]"):
        bad = api.post("/edgehub/api/conncfg", content=body)
        assert bad.status_code == 400 and set(bad.json()) == {"message"}, (body, bad.text)
    for cfg in ({"mqttHost": "h", "mqttPort": "x"}, {"mqttHost": "h", "mqttPort": 70000}, {"username": "u"},
                {"deviceTokenCredential": "not base64 json!"}):
        bad = api.post("/edgehub/api/conncfg", json=cfg)
        assert bad.status_code == 422 and set(bad.json()) == {"message"}, (cfg, bad.text)
    assert SECRET not in log_of(api) and "iot-k3y-secret" not in log_of(api)


def test_connect_publishes_profile_and_data(api: Any, broker: Mosquitto, sub: Subscriber) -> None:
    assert api.post("/edgehub/api/data", json={"a": 1}).status_code == 422  # not connected
    answer = api.post("/edgehub/api/connection", json={"op": "connect", "conncfg": plain(broker)})
    assert answer.status_code == 200, answer.text
    assert wait_status(api, "connected") == {"enabled": True, "status": "connected", "certRevoked": False,
                                             "stormDetected": False}
    seen = sub.wait(lambda m: any(t == PROFILE for t, _ in m))
    profile = json.loads(next(p for t, p in seen if t == PROFILE))
    assert profile["os"] == "linux" and profile["agent:version:edgehub-agent"].startswith("v")
    tags = {"string_data": "abcdefg", "number_data": 12345, "bool_data": True}
    assert api.post("/edgehub/api/data", json=tags).status_code == 201
    seen = sub.wait(lambda m: any(t == DATA for t, _ in m))
    assert json.loads(next(p for t, p in seen if t == DATA)) == tags
    for body in (b"", b"{}", b"[]", b"{\"a\":", b"12"):
        bad = api.post("/edgehub/api/data", content=body)
        assert bad.status_code == 400 and set(bad.json()) == {"message"}, (body, bad.text)
    big = b'{"blob":"' + b"x" * (10 << 20) + b'"}'
    assert api.post("/edgehub/api/data", content=big).status_code == 400
    assert api.get("/edgehub/api/ping").status_code == 200
    assert api.post("/edgehub/api/connection", json={"op": "disconnect"}).status_code == 200
    assert api.get("/edgehub/api/connection").json()["enabled"] is False
    assert api.post("/edgehub/api/data", json=tags).status_code == 422
    assert api.post("/edgehub/api/connection", json={"op": "bogus"}).status_code == 400
    assert SECRET not in log_of(api)


def test_auth_and_default_password(start_agent: Callable[..., Any]) -> None:
    agent = start_agent(docker_host=None, dbus_address=None)
    with agent.client() as client:
        assert client.get("/edgehub/api/connection").json() == {"Code": 401, "Message": "auth header is empty"}
        basic = base64.b64encode(b"admin:p@ssw0rd").decode()
        token = client.get("/auth/token?m=2", headers={"Authorization": f"Basic {basic}"}).json()["token"]
        refused = client.get("/edgehub/api/conncfg", headers={"Authorization": f"Bearer {token}"})
        assert refused.status_code == 403


def test_tls_websocket_and_foreign_ca(api: Any, broker: Mosquitto, pki: dict[str, Any]) -> None:
    ca = pem_cert(pki["ca"][1])
    tls = plain(broker, mqttPort=broker.tls_port, enableTLS=True, caCerts=[ca])
    assert api.post("/edgehub/api/connection", json={"op": "connect", "conncfg": tls}).status_code == 200
    wait_status(api, "connected")
    # a foreign CA: refused (422), nothing connected, the agent stays up
    foreign = {**tls, "caCerts": [pem_cert(pki["foreign"][1])]}
    refused = api.post("/edgehub/api/connection", json={"op": "connect", "conncfg": foreign})
    assert refused.status_code == 422 and "TLS" in refused.json()["message"], refused.text
    assert api.get("/edgehub/api/connection").json()["status"] == "disconnected"
    # skipCertVerify: connects, and says so in the log
    skip = {**foreign, "skipCertVerify": True}
    assert api.post("/edgehub/api/connection", json={"op": "connect", "conncfg": skip}).status_code == 200
    assert "skipCertVerify" in log_of(api)
    # over WebSocket (a relay in front of the plain listener)
    relay = WsRelay(broker.port)
    try:
        ws = plain(broker, mqttPort=relay.port, overWebSocket=True)
        answer = api.post("/edgehub/api/connection", json={"op": "connect", "conncfg": ws})
        assert answer.status_code == 200, answer.text
        wait_status(api, "connected")
        assert relay.connections >= 1
    finally:
        api.post("/edgehub/api/connection", json={"op": "disconnect"})
        relay.stop()


def test_refused_client_certificate_is_cert_revoked(api: Any, mtls_broker: Mosquitto, pki: dict[str, Any]) -> None:
    key, cert = pki["stranger"]
    cfg = plain(mtls_broker, mqttPort=mtls_broker.tls_port, enableTLS=True, caCerts=[pem_cert(pki["ca"][1])],
                mqttCert=pem_cert(cert), mqttKey=pem_key(key))
    refused = api.post("/edgehub/api/connection", json={"op": "connect", "conncfg": cfg})
    assert refused.status_code == 422, refused.text
    assert api.get("/edgehub/api/connection").json()["certRevoked"] is True, refused.text
    assert "PRIVATE KEY" not in log_of(api)
    api.post("/edgehub/api/connection", json={"op": "disconnect"})


def test_wrong_credentials_and_silent_broker(api: Any, broker: Mosquitto) -> None:
    wrong = plain(broker, password="Wr0ng-pw-xyz")
    refused = api.post("/edgehub/api/connection", json={"op": "connect", "conncfg": wrong})
    assert refused.status_code == 422 and "refused" in refused.json()["message"], refused.text
    silent = Silent()
    try:
        started = time.monotonic()
        quiet = api.post("/edgehub/api/connection", json={"op": "connect", "conncfg": plain(broker, mqttPort=silent.port)})
        assert quiet.status_code == 422, quiet.text
        assert time.monotonic() - started < 15
    finally:
        api.post("/edgehub/api/connection", json={"op": "disconnect"})
        silent.stop()
    assert api.get("/edgehub/api/ping").status_code == 200
    log = log_of(api)
    assert "Wr0ng-pw-xyz" not in log and SECRET not in log


def test_broker_restart_queues_and_delivers_in_order(api: Any, broker: Mosquitto) -> None:
    session = Subscriber(broker.port, USER, SECRET, session="edgehub-test-sub")
    try:
        assert api.post("/edgehub/api/connection", json={"op": "connect", "conncfg": plain(broker)}).status_code == 200
        assert api.post("/edgehub/api/data", json={"n": 0}).status_code == 201
        session.wait(lambda m: any(t == DATA for t, _ in m))
        # QoS 1: 0 leaves the spool on the broker's PUBACK; halted before that reaches the agent,
        # 0 is rightly sent again after the restart. The test is about what was spooled meanwhile.
        spool_empty(api)
        broker.halt()
        wait_status(api, "disconnected")
        for n in range(1, 31):
            assert api.post("/edgehub/api/data", json={"n": n}).status_code == 201
        assert len(list((api.agent.data_dir / "edgehub" / "spool").glob("*.msg"))) == 30
        broker.resume()
        wait_status(api, "connected", timeout=30)
        seen = session.wait(lambda m: sum(t == DATA for t, _ in m) >= 31, timeout=30)
        numbers = [json.loads(p)["n"] for t, p in seen if t == DATA]
        assert numbers == list(range(31)), numbers
        spool_empty(api)
    finally:
        api.post("/edgehub/api/connection", json={"op": "disconnect"})
        session.stop()


def test_dccs_credentials_and_restore_at_start(start_agent: Callable[..., Any], broker: Mosquitto,
                                               sub: Subscriber, tmp_path: Path) -> None:
    dccs = Dccs("iot-key-1", broker.port, USER, SECRET)
    data_dir = tmp_path / "data"
    try:
        agent = start_agent(docker_host=None, dbus_address=None, data_dir=data_dir)
        with agent.client() as client:
            login(client)
            bad = {"uuid": UUID, "deviceon": {"dccsUrl": dccs.url, "iotKey": "unknown-key"}}
            refused = client.post("/edgehub/api/connection", json={"op": "connect", "conncfg": bad})
            assert refused.status_code == 422 and "DCCS" in refused.json()["message"], refused.text
            assert "unknown-key" not in refused.text
            good = {"uuid": UUID, "deviceon": {"dccsUrl": dccs.url, "iotKey": "iot-key-1"}}
            answer = client.post("/edgehub/api/connection", json={"op": "connect", "conncfg": good})
            assert answer.status_code == 200, answer.text
            assert "/v1/serviceCredentials/iot-key-1" in dccs.calls
            # bootstrap config
            assert client.put("/edgehub/api/bootstrap/config", json={"tenantToken": "eyJ0eXAi.tenant"}).status_code == 201
            assert client.put("/edgehub/api/bootstrap/config", json={}).status_code == 422
            assert client.put("/edgehub/api/bootstrap/config", content=b"").status_code == 422
        agent.stop()
        log = Path(agent.log).read_text(errors="replace")
        assert "iot-key-1" not in log and SECRET not in log and "eyJ0eXAi.tenant" not in log
        before = sum(t == PROFILE for t, _ in sub.messages)
        again = start_agent(docker_host=None, dbus_address=None, data_dir=data_dir)
        with again.client() as client:
            login(client)
            client.agent = again
            wait_status(client, "connected")
            sub.wait(lambda m: sum(t == PROFILE for t, _ in m) > before)
            assert client.post("/edgehub/api/connection", json={"op": "disconnect"}).status_code == 200
    finally:
        dccs.stop()


def test_queue_survives_kill_9(start_agent: Callable[..., Any], broker: Mosquitto, tmp_path: Path) -> None:
    """Messages queued while the broker is down survive a kill -9; the restarted agent restores
    the connection and delivers them in order."""
    session = Subscriber(broker.port, USER, SECRET, session="edgehub-test-kill9")
    data_dir = tmp_path / "data9"
    try:
        agent = start_agent(docker_host=None, dbus_address=None, data_dir=data_dir)
        with agent.client() as client:
            login(client)
            assert client.post("/edgehub/api/connection",
                               json={"op": "connect", "conncfg": plain(broker)}).status_code == 200
            broker.halt()
            client.agent = agent
            wait_status(client, "disconnected")
            for n in range(5):
                assert client.post("/edgehub/api/data", json={"k": n}).status_code == 201
        agent.kill()
        broker.resume()
        again = start_agent(docker_host=None, dbus_address=None, data_dir=data_dir)
        seen = session.wait(lambda m: sum(t == DATA for t, _ in m) >= 5, timeout=30)
        assert [json.loads(p)["k"] for t, p in seen if t == DATA] == list(range(5))
        with again.client() as client:
            login(client)
            assert client.post("/edgehub/api/connection", json={"op": "disconnect"}).status_code == 200
    finally:
        session.stop()
