"""The binary's one crypto library (pycryptodome) where the agent uses it beyond RS256: edgehub's
PEM checks (ASN.1 and RSA key consistency) through the real binary, and what it carries."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from PyInstaller.archive.readers import CArchiveReader

from frozen.test_binary import Agent, binary, start  # noqa: F401 (binary: the fixture)
from handlers.accounts.passwords import hash_password

ADMIN_PASSWORD = "Frozen-pw-1!"


@pytest.fixture(scope="module")
def platform_agent(binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:  # noqa: F811
    base = tmp_path_factory.mktemp("crypto")
    users = base / "os-users"
    users.write_text(f"alice:{hash_password('alice-pw')}:users\n")
    running = start(binary, base, args=["--os-accounts", str(users)])
    yield running
    assert running.stop() == 0, running.log.read_text()[-3000:]
    assert "Traceback" not in running.log.read_text()


def admin_token(client: httpx.Client) -> str:
    first = client.get("/auth/token", params={"m": 2}, auth=("admin", "p@ssw0rd")).json()["token"]
    changed = client.put("/auth/user/admin/password", headers={"Authorization": f"Bearer {first}"},
                         json={"old": "p@ssw0rd", "new": ADMIN_PASSWORD})
    assert changed.status_code == 200, changed.text
    token: str = client.get("/auth/token", params={"m": 2}, auth=("admin", ADMIN_PASSWORD)).json()["token"]
    return token


def test_pem_uploads_are_checked_by_the_binary(platform_agent: Agent) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "frozen")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    pem, raw = serialization.Encoding.PEM, serialization.NoEncryption()
    good = {"CERTIFICATE": cert.public_bytes(pem),
            "RSA PRIVATE KEY": key.private_bytes(pem, serialization.PrivateFormat.TraditionalOpenSSL, raw),
            "PRIVATE KEY": key.private_bytes(pem, serialization.PrivateFormat.PKCS8, raw)}
    with httpx.Client(base_url=f"http://127.0.0.1:{platform_agent.port}", trust_env=False, timeout=60) as client:
        auth = {"Authorization": f"Bearer {admin_token(client)}"}
        for label, data in good.items():
            response = client.post("/edgehub/api/pem/temp", headers=auth, files={"file": ("x.pem", data)})
            assert response.status_code == 200 and response.json()["type"] == label, response.text
        broken = good["RSA PRIVATE KEY"].replace(b"A", b"B", 40)
        response = client.post("/edgehub/api/pem/temp", headers=auth, files={"file": ("x.pem", broken)})
        assert response.status_code == 400, response.text


def test_one_crypto_library(binary: Path) -> None:  # noqa: F811
    """No cryptography (nor its cffi backend) in the binary; pycryptodome's AES-CBC for the
    snapshots is (onefile: the archive's own table; onedir: the folder)."""
    if binary.parent.name == "polyvisor-dir":
        names = {str(p.relative_to(binary.parent / "_internal")).split(".", 1)[0]
                 for p in (binary.parent / "_internal").rglob("*.so")}
    else:
        names = {name.split(".", 1)[0] for name in CArchiveReader(str(binary)).toc}
    assert {"Crypto/Cipher/_raw_aes", "Crypto/Cipher/_raw_cbc", "Crypto/Math/_nat"} <= names
    assert not [name for name in names if name.startswith(("cryptography", "_cffi_backend"))]
