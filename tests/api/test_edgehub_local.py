"""edgehub-agent's local routes in process: shapes, auth (401/403), bad input, PEM uploads.

No bus here (the agent's D-Bus address leads nowhere): AppHub is `unknown or not available`, the
EdgeBus and the unit controls answer 422. tests/integration/test_edgehub_local.py runs them on a
private bus with dbusmock's systemd, a real mosquitto and network namespaces.
"""

from __future__ import annotations

import base64
import datetime
import re
from pathlib import Path
from typing import Any

import pytest

from tests.api.platform_support import Platform, start_platform
from tests.api.support import Agents

ROUTES = [("GET", "/edgehub/api/macaddr"), ("GET", "/edgehub/api/profile"), ("GET", "/edgehub/api/apphub/status"),
          ("PUT", "/edgehub/api/apphub/service"), ("PUT", "/edgehub/api/apphub/log/config"),
          ("GET", "/edgehub/api/edgebus/status"), ("PUT", "/edgehub/api/edgebus/config"),
          ("POST", "/edgehub/api/pem/temp")]


@pytest.fixture
def plat(agents: Agents, tmp_path: Path) -> Platform:
    return start_platform(agents, tmp_path)


def pems() -> dict[str, bytes]:
    """A self-signed certificate, RSA keys (PKCS#1 and PKCS#8), an EC key and a public key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import NameOID

    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "edgehub-test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(ec_key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1)).sign(ec_key, hashes.SHA256()))
    pem, raw = serialization.Encoding.PEM, serialization.NoEncryption()
    return {
        "CERTIFICATE": cert.public_bytes(pem),
        "RSA PRIVATE KEY": rsa_key.private_bytes(pem, serialization.PrivateFormat.TraditionalOpenSSL, raw),
        "PRIVATE KEY": rsa_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, raw),
        "EC PRIVATE KEY": ec_key.private_bytes(pem, serialization.PrivateFormat.TraditionalOpenSSL, raw),
        "PUBLIC KEY": rsa_key.public_key().public_bytes(pem, serialization.PublicFormat.SubjectPublicKeyInfo),
        "ENCRYPTED PRIVATE KEY": rsa_key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"secret")),
    }


def upload(plat: Platform, content: bytes, field: str = "file", who: str | None = "admin") -> Any:
    return plat.request("POST", "/edgehub/api/pem/temp", who, files={field: ("x.pem", content)})


def test_every_route_needs_a_token_and_a_changed_password(plat: Platform) -> None:
    for method, url in ROUTES:
        response = plat.request(method, url, None)
        assert (response.status_code, response.json()) == (401, {"Code": 401, "Message": "auth header is empty"}), url
        response = plat.request(method, url, None, headers={"Authorization": "Bearer nope"})
        assert response.status_code == 401 and response.json()["Code"] == 401, url
    for method, url in ROUTES:  # an OS account's token is enough
        assert plat.request(method, url, "alice").status_code not in (401, 403), url


def test_factory_password_is_403(agents: Agents, tmp_path: Path) -> None:
    from tests.api.platform_support import login

    agent = agents.start()
    token = login(agent, "admin", "p@ssw0rd", 2)
    for method, url in ROUTES:
        response = agent.request("platform", method, url, headers={"Authorization": f"Bearer {token}"})
        assert (response.status_code, response.json()) == (
            403, {"Code": 403, "Message": "admin password must be changed"}), url


def test_macaddr_is_the_default_route_mac(plat: Platform) -> None:
    response = plat.get("/edgehub/api/macaddr")
    assert response.status_code in (200, 404)
    if response.status_code == 200:
        assert re.fullmatch(r"([0-9A-F]{2}:){5}[0-9A-F]{2}", response.json())
    else:
        assert response.content == b""


def test_profile_probes_this_agent(plat: Platform) -> None:
    from handlers import VERSION

    profile = plat.get("/edgehub/api/profile").json()
    assert list(profile) == sorted(profile)
    for agent in ("auth-server", "edgehub-agent", "portal-service", "rest-server"):
        assert profile[f"agent:version:{agent}"] == f"v{VERSION}"
    assert "agent:version:edgex-helper" not in profile  # not served here
    assert (profile["os"], profile["os:description"], profile["apphub"]) == ("linux", "balenaOS 2.38.0+rev1", 0)
    assert profile["host:info"] == profile["systemperf"] == 1 and profile["ibmc"] == 0
    assert profile["service:list"] == 0  # no systemd on this agent's bus
    assert profile["perif:led"] == 1 and profile["perif:wdt"] == 0 and profile["perif:gpio:count"] == 0
    assert profile["processes"] > 1 and "model:name" not in profile
    plat.root.joinpath("sys/class/dmi/id").mkdir(parents=True)
    plat.root.joinpath("sys/class/dmi/id/product_name").write_text("UNO-2484G\n")
    assert plat.get("/edgehub/api/profile").json()["model:name"] == "UNO-2484G"
    assert plat.services.edgehub_local.profile()["os"] == "linux"  # what the cloud helper publishes


def test_units_without_systemd(plat: Platform) -> None:
    assert plat.get("/edgehub/api/apphub/status").json() == {"status": "unknown or not available"}
    response = plat.put("/edgehub/api/apphub/service", {"action": "start"})
    assert response.status_code == 422 and list(response.json()) == ["message"]
    response = plat.get("/edgehub/api/edgebus/status")
    assert response.status_code == 422 and list(response.json()) == ["message"]
    response = plat.put("/edgehub/api/edgebus/config", {"enabled": True})
    assert response.status_code == 422 and list(response.json()) == ["message"]


def test_bad_bodies(plat: Platform) -> None:
    bodies: list[Any] = [{}, {"action": 5}, {"action": "explode"}]
    for body in bodies:
        response = plat.put("/edgehub/api/apphub/service", body)
        assert response.status_code == 422 and list(response.json()) == ["message"], body
    bodies = [{}, {"logLevel": "debug"}, {"logFile": "yes"}, [1]]
    for body in bodies:
        response = plat.put("/edgehub/api/apphub/log/config", body)
        assert response.status_code == 400 and list(response.json()) == ["message"], body
    response = plat.request("PUT", "/edgehub/api/apphub/log/config", content=b"{")
    assert response.status_code == 400 and list(response.json()) == ["message"]
    response = plat.request("PUT", "/edgehub/api/apphub/log/config", content=b"")
    assert response.status_code == 400
    bodies = [{}, {"enabled": "no"}, {"enabled": None}]
    for body in bodies:
        response = plat.put("/edgehub/api/edgebus/config", body)
        assert response.status_code == 422 and list(response.json()) == ["message"], body
    huge = b'{"logLevel":"' + b"i" * (10 << 20) + b'"}'  # 10 MB: refused unread (gin's MaxBytesReader text)
    response = plat.request("PUT", "/edgehub/api/apphub/log/config", content=huge)
    assert (response.status_code, response.json()) == (400, {"message": "http: request body too large"})
    response = plat.request("PUT", "/edgehub/api/edgebus/config", content=huge)
    assert (response.status_code, response.json()) == (422, {"message": "http: request body too large"})


def test_pem_uploads(plat: Platform) -> None:
    made = pems()
    for kind in ("CERTIFICATE", "RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY", "PUBLIC KEY"):
        response = upload(plat, made[kind])
        assert response.status_code == 200, (kind, response.content)
        assert response.json() == {"type": kind, "data": base64.b64encode(made[kind]).decode()}
    chain = made["CERTIFICATE"] + made["CERTIFICATE"]
    assert upload(plat, chain).json()["type"] == "CERTIFICATE"
    bad = [b"", b"hello", made["ENCRYPTED PRIVATE KEY"], made["CERTIFICATE"].replace(b"M", b"A", 5),
           made["CERTIFICATE"] + b"-----BEGIN FOO-----\nAAAA\n-----END FOO-----\n",
           made["CERTIFICATE"][:-40], bytes(range(256)) * 10]
    for content in bad:
        response = upload(plat, content)
        assert response.status_code == 400 and list(response.json()) == ["message"], content[:40]
    response = upload(plat, made["CERTIFICATE"], field="other")
    assert (response.status_code, response.json()) == (400, {"message": "http: no such file"})
    response = plat.request("POST", "/edgehub/api/pem/temp", json={"file": made["CERTIFICATE"].decode()})
    assert response.json() == {"message": "request Content-Type isn't multipart/form-data"}
    response = upload(plat, made["CERTIFICATE"] + b"#" * (1 << 20))
    assert (response.status_code, response.json()) == (400, {"message": "http: request body too large"})
    response = plat.request("POST", "/edgehub/api/pem/temp", content=b"--x\r\nbroken",
                            headers={"Content-Type": "multipart/form-data; boundary=x"})
    assert response.status_code == 400
