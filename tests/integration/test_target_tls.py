"""The target poller over TLS with a pinned CA (--target-ca): a CA and server certificates made
here, a real TLS server on 127.0.0.1; the right CA accepted, another CA and another host name
refused with the last good target kept, no downgrade by redirect, and an unusable CA file as one
start-up error."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from handlers.engine.target_fetch import tls_context
from handlers.engine.target_source import TargetSource
from handlers.store import Store
from integration.edgehub_fixtures import make_ca, make_leaf, pem_cert, pem_key
from integration.engine_support import wait_for
from integration.target_server import Reconciler, Server, serve, url_of

pytest_plugins = ["integration.target_fixtures"]  # server, store, poller


def tls_server(folder: Path, leaf: tuple[Any, Any]) -> Server:
    (folder / "server.pem").write_text(pem_cert(leaf[1]))
    (folder / "server.key").write_text(pem_key(leaf[0]))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "server.pem", folder / "server.key")
    return serve(Server(context))


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("pki")
    ca, other = make_ca("fleet CA"), make_ca("someone else")
    (folder / "ca.pem").write_text(pem_cert(ca[1]))
    (folder / "other.pem").write_text(pem_cert(other[1]))
    servers = {"right": tls_server(folder, make_leaf(ca, "targets", server=True)),
               "misnamed": tls_server(folder, make_leaf(ca, "elsewhere.invalid", server=True, dns="elsewhere.invalid"))}
    yield {"ca": str(folder / "ca.pem"), "other": str(folder / "other.pem"), "folder": folder, **servers}
    for running in servers.values():
        running.shutdown()
        running.server_close()


def test_pinned_ca_accepts_its_server_and_refuses_others(pki: dict[str, Any], store: Store,
                                                         poller: Callable[..., TargetSource]) -> None:
    right: Server = pki["right"]
    shim = Reconciler()
    good = poller(url_of(right, scheme="https", host="localhost"), store, shim, ca_file=pki["ca"])
    wait_for(lambda: len(shim.targets) == 1, 10, "the target over TLS")
    wait_for(lambda: good.last_result == "unchanged", 10, "a 304 over TLS")
    good.close()
    tag = store.get("target_url_etag")
    wrong = poller(url_of(right, scheme="https", host="localhost"), store, shim, ca_file=pki["other"])
    wait_for(lambda: "CERTIFICATE_VERIFY_FAILED" in (wrong.last_error or ""), 10, "another CA's server refused")
    wrong.close()
    misnamed = poller(url_of(pki["misnamed"], scheme="https", host="localhost"), store, shim,
                      ca_file=pki["ca"])
    wait_for(lambda: "match" in (misnamed.last_error or ""), 10, "a certificate for another name refused")
    assert len(shim.targets) == 1 and store.get("target_url_etag") == tag  # the last good target stays


def test_pinned_ca_is_the_only_anchor_and_no_downgrade(pki: dict[str, Any], store: Store,
                                                       server: Server,
                                                       poller: Callable[..., TargetSource]) -> None:
    assert len(tls_context(pki["ca"]).get_ca_certs()) == 1  # the system's store is not loaded
    right: Server = pki["right"]
    right.mode, right.redirect_to = "redirect", url_of(server)
    try:
        shim = Reconciler()
        source = poller(url_of(right, scheme="https", host="127.0.0.1"), store, shim, ca_file=pki["ca"])
        wait_for(lambda: "redirect from https:// to http:// refused" in (source.last_error or ""), 10,
                 "the downgrade refused")
        assert not server.requests() and not shim.targets
    finally:
        right.mode = "ok"


@pytest.mark.parametrize(("content", "said"), [
    (None, "cannot read"),
    (b"", "holds no PEM certificate"),
    ("un fichier texte — pas un certificat\n".encode(), "holds no PEM certificate"),
    (b"\x30\x82\x01\x0a\xff\x00", "is not a PEM file"),
    (b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n", "holds no valid PEM certificate"),
    ("key", "holds no PEM certificate"),
])
def test_an_unusable_ca_file_is_one_start_up_error(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   pki: dict[str, Any], content: Any,
                                                   said: str) -> None:
    from app import Settings

    path = tmp_path / "ca.pem"
    if content == "key":
        path.write_text((pki["folder"] / "server.key").read_text())
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(SystemExit) as stopped:
        Settings.from_sources(["--target-url", "https://targets.example/1", "--target-ca", str(path)], {})
    assert stopped.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("polyvisor: error: --target-ca: ") and said in error, error
    assert "Traceback" not in capsys.readouterr().err


def test_a_ca_needs_an_https_target_url(pki: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    from app import Settings

    settings = Settings.from_sources(["--target-url", "https://t.example/1"], {"POLYVISOR_TARGET_CA": pki["ca"]})
    assert settings.target_ca == pki["ca"]
    with pytest.raises(SystemExit):
        Settings.from_sources(["--target-url", "http://t.example/1", "--target-ca", pki["ca"]], {})
    assert "pins the CA of an https:// --target-url" in capsys.readouterr().err
