"""The managed device's target poller (handlers/engine/target_source.py) against a real HTTP(S)
server on 127.0.0.1: conditional gzip polls, 304s, 5xx with Retry-After, garbage, dropped
connections, a pinned CA. The poller runs with the agent's real SQLite store; the reconciler is a
shim that records targets and makes the poll interval tiny (no fixed sleeps: outcomes are polled).
"""

from __future__ import annotations

import datetime
import gzip
import hashlib
import http.server
import itertools
import json
import logging
import random
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest

from handlers.engine.poll_timing import first_delay
from handlers.engine.target_fetch import tls_context
from handlers.engine.target_source import TargetSource
from handlers.store import Store
from integration.edgehub_fixtures import make_ca, make_leaf, pem_cert, pem_key
from integration.engine_support import managed, service, wait_for

GOOD = json.dumps(managed({1: service("m", 1, "busybox:latest")}, "c1")).encode()
NEWER = json.dumps(managed({1: service("m", 1, "busybox:latest", environment={"X": "2"})}, "c2")).encode()


class Reconciler:
    """The reconciler's side the poller uses: a tiny interval, the targets it was handed."""

    def __init__(self, interval: float = 0.02, interval_of_target: float | None = None) -> None:
        self.interval = interval
        self.interval_of_target = interval_of_target  # the SUPERVISOR_POLL_INTERVAL a target brings
        self.targets: list[Any] = []
        self.triggers = 0

    def poll_seconds(self) -> float:
        return self.interval

    def set_target(self, target: Any, source: str, force: bool = False) -> None:
        assert source == "url"
        self.targets.append(target)
        if self.interval_of_target is not None:
            self.interval = self.interval_of_target

    def trigger(self, force: bool = False) -> None:
        self.triggers += 1


class Server(http.server.ThreadingHTTPServer):
    """One target document per path, with an ETag, gzip when asked; `mode` makes it misbehave."""

    daemon_threads = True
    body = GOOD
    mode = "ok"
    retry_after: str | None = None
    redirect_to = ""

    def __init__(self, context: ssl.SSLContext | None = None) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        if context is not None:
            self.socket = context.wrap_socket(self.socket, server_side=True)
        self.seen: list[tuple[float, str, dict[str, str]]] = []  # (when, mode, request headers)
        self.lock = threading.Lock()

    def requests(self, mode: str | None = None) -> list[tuple[float, str, dict[str, str]]]:
        with self.lock:
            return [r for r in self.seen if mode is None or r[1] == mode]

    def tag(self) -> str:
        return f'"{hashlib.sha256(self.body).hexdigest()[:16]}"'


class Handler(http.server.BaseHTTPRequestHandler):
    server: Server
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        mode = self.server.mode
        with self.server.lock:
            self.server.seen.append((time.monotonic(), mode, dict(self.headers.items())))
        if mode == "ok":
            if self.headers.get("If-None-Match") == self.server.tag():
                self.send_response(304)
                self.send_header("ETag", self.server.tag())
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            zipped = "gzip" in self.headers.get("Accept-Encoding", "")
            self.answer(200, gzip.compress(self.server.body) if zipped else self.server.body,
                        **({"Content-Encoding": "gzip"} if zipped else {}))
        elif mode in ("503", "500", "429"):
            extra = {"Retry-After": self.server.retry_after} if self.server.retry_after else {}
            if self.server.retry_after == "in 3 s":
                extra["Retry-After"] = format_datetime(datetime.datetime.now(datetime.UTC)
                                                       + datetime.timedelta(seconds=3), usegmt=True)
            self.answer(int(mode), b"busy", "text/plain", **extra)
        elif mode == "html":  # a proxy's error page, served with 200
            self.answer(200, b"<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html")
        elif mode == "bad-json":
            self.answer(200, self.server.body[: len(self.server.body) // 2])
        elif mode == "refused":  # JSON, not a target
            self.answer(200, b'{"local": {"apps": "none"}}')
        elif mode == "truncated":  # Content-Length says more than comes before the close
            self.send_response(200)
            self.send_header("ETag", '"truncated"')
            self.send_header("Content-Length", str(len(self.server.body)))
            self.end_headers()
            self.wfile.write(self.server.body[:100])
            self.close_connection = True
        elif mode == "truncated-gzip":  # no length: the close ends the body, the gzip stream is cut
            self.send_response(200)
            self.send_header("ETag", '"truncated-gzip"')
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(gzip.compress(self.server.body)[:60])
            self.close_connection = True
        elif mode == "drop":  # the connection closes before any answer
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
        elif mode == "redirect":
            self.send_response(302)
            self.send_header("Location", self.server.redirect_to)
            self.send_header("Content-Length", "0")
            self.end_headers()

    def answer(self, status: int, body: bytes, kind: str = "application/json", **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("ETag", f'"{status}-{hashlib.sha256(body).hexdigest()[:8]}"' if status != 200
                         or self.server.mode != "ok" else self.server.tag())
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def serve(server: Server) -> Server:
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


@pytest.fixture
def server() -> Iterator[Server]:
    running = serve(Server())
    yield running
    running.shutdown()
    running.server_close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(tmp_path / "data")
    opened.open()
    yield opened
    opened.close()


@pytest.fixture
def poller() -> Iterator[Callable[..., TargetSource]]:
    """make(url, store, reconciler=None, **kwargs) -> a started TargetSource; all closed after."""
    started: list[TargetSource] = []

    def make(url: str, store: Store, reconciler: Reconciler | None = None, **kwargs: Any) -> TargetSource:
        source = TargetSource(url, reconciler or Reconciler(), store, timeout=5.0, **kwargs)
        source.start()
        started.append(source)
        return source

    yield make
    for source in started:
        source.close()


def url_of(server: Server, path: str = "/device/1.json", scheme: str = "http", host: str = "127.0.0.1") -> str:
    return f"{scheme}://{host}:{server.server_address[1]}{path}"


def test_every_poll_is_conditional_and_gzip(server: Server, store: Store,
                                           poller: Callable[..., TargetSource]) -> None:
    shim = Reconciler()
    source = poller(url_of(server), store, shim)
    wait_for(lambda: len(shim.targets) == 1, 10, "the first target")
    first = server.requests()[0][2]
    assert "If-None-Match" not in first and first["Accept-Encoding"] == "gzip"
    assert shim.targets[0].apps[1].commit == "c1"  # inflated, validated
    assert store.get("target_url_etag") == server.tag()
    wait_for(lambda: len(server.requests()) >= 6, 10, "polls on")
    for _, _, headers in server.requests()[1:]:
        assert headers["If-None-Match"] == server.tag() and headers["Accept-Encoding"] == "gzip"
    assert source.last_result == "unchanged" and len(shim.targets) == 1
    server.body = NEWER
    wait_for(lambda: len(shim.targets) == 2, 10, "the changed target")
    assert shim.targets[1].apps[1].commit == "c2" and store.get("target_url_etag") == server.tag()
    source.poll_now(force=True)
    wait_for(lambda: shim.triggers >= 1, 10, "a forced poll answered 304 applies the stored target")


GARBAGE = [  # mode, what last_error says
    ("html", "body (text/html) is not JSON"),
    ("bad-json", "body (application/json) is not JSON"),
    ("refused", "target refused"),
    ("truncated", "body cut short"),
    ("truncated-gzip", "gzip body cut short"),
    ("drop", "connection failed"),
    ("500", "HTTP 500"),
]


def test_garbage_keeps_the_last_good_target_and_its_tag(server: Server, store: Store,
                                                        poller: Callable[..., TargetSource],
                                                        caplog: pytest.LogCaptureFixture) -> None:
    shim = Reconciler()
    source = poller(url_of(server, "/device/1.json?token=s3cret"), store, shim)
    wait_for(lambda: len(shim.targets) == 1, 10, "the first target")
    good_tag = server.tag()
    caplog.set_level(logging.INFO, "polyvisor.target_source")
    for mode, said in GARBAGE:
        server.mode = mode
        wait_for(lambda: len(server.requests(mode)) >= 3, 10, f"polls answered {mode}")  # noqa: B023
        wait_for(lambda: said in (source.last_error or ""), 10, f"{mode} in last_error")  # noqa: B023
        assert source.last_result == "failed" and source.failures >= 1
        assert len(shim.targets) == 1 and store.get("target_url_etag") == good_tag, mode
        # the next polls still ask for the good target's tag
        assert {h.get("If-None-Match") for _, _, h in server.requests(mode)} == {good_tag}, mode
    server.mode = "ok"
    wait_for(lambda: source.last_result == "unchanged", 10, "304 again")
    assert source.last_error is None and source.failures == 0 and len(shim.targets) == 1
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "s3cret" not in logged and "token=***" in logged
    assert "the last good target stays" in logged and "works again" in logged


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


def test_retry_after_is_honoured_in_seconds_and_as_a_date(server: Server, store: Store,
                                                          poller: Callable[..., TargetSource]) -> None:
    shim = Reconciler()
    source = poller(url_of(server), store, shim)
    wait_for(lambda: len(shim.targets) == 1, 10, "the first target")
    server.mode, server.retry_after = "503", "1"
    wait_for(lambda: len(server.requests("503")) >= 2, 10, "two 503s")
    first, second = [t for t, _, _ in server.requests("503")][:2]
    assert 1.0 <= second - first < 2.0  # the tiny interval would poll at once
    wait_for(lambda: time.monotonic() - source.last_fetch > 0.3, 5, "well past two intervals", step=0.05)
    assert source.healthy()  # waiting out a Retry-After longer than two intervals is no hang
    server.mode = "429"
    server.retry_after = "in 3 s"  # as an HTTP-date, made when answering
    wait_for(lambda: len(server.requests("429")) >= 2, 10, "two 429s")
    first, second = [t for t, _, _ in server.requests("429")][:2]
    assert second - first >= 2.0  # the date, less its sub-second part (more than the floor)
    server.mode, server.retry_after = "500", None  # no Retry-After: back-off capped at the interval
    wait_for(lambda: len(server.requests("500")) >= 5, 10, "fast retries")
    assert max(gaps([t for t, _, _ in server.requests("500")][:5])) < 1.0
    assert len(shim.targets) == 1 and "HTTP 500" in (source.last_error or "")


def test_the_next_poll_follows_the_interval_the_target_brought(server: Server, store: Store,
                                                              poller: Callable[..., TargetSource]) -> None:
    shim = Reconciler(interval=60.0, interval_of_target=0.02)  # the default until a target says
    poller(url_of(server), store, shim)
    wait_for(lambda: len(server.requests()) >= 3, 5, "polls at the target's interval")


def test_a_changed_url_sends_no_tag_of_the_old_one(server: Server, store: Store,
                                                   poller: Callable[..., TargetSource]) -> None:
    shim = Reconciler()
    old = poller(url_of(server, "/group/a.json"), store, shim)
    wait_for(lambda: len(shim.targets) == 1, 10, "the first target")
    old.close()
    assert store.get("target_url_etag") == server.tag()
    seen = len(server.requests())
    shim.interval = 30.0  # a first poll spread over the interval would show here: none for a new URL
    poller(url_of(server, "/group/b.json"), store, shim)
    wait_for(lambda: len(shim.targets) == 2, 10, "the new URL's target at once")
    assert "If-None-Match" not in server.requests()[seen][2]


def test_first_poll_is_spread_once_a_target_is_stored(server: Server, store: Store,
                                                      poller: Callable[..., TargetSource]) -> None:
    shim = Reconciler()
    first = poller(url_of(server), store, shim)
    wait_for(lambda: len(shim.targets) == 1, 10, "the first target")
    first.close()
    shim.interval = 1.0
    seed = 7
    expected = first_delay(1.0, random.Random(seed))
    assert 0.2 < expected < 1.0
    seen = len(server.requests())
    started = time.monotonic()
    poller(url_of(server), store, shim, rng=random.Random(seed))
    wait_for(lambda: len(server.requests()) > seen, 10, "the first poll after a restart")
    assert server.requests()[seen][0] - started >= expected - 0.01
    assert server.requests()[seen][2]["If-None-Match"] == server.tag()


# ---- TLS with a pinned CA ----

def leaf_for(ca: tuple[Any, Any], host: str) -> tuple[Any, Any]:
    """A server certificate for one other DNS name only."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
            .issuer_name(ca[1].subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
            .sign(ca[0], hashes.SHA256()))
    return key, cert


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
               "misnamed": tls_server(folder, leaf_for(ca, "elsewhere.invalid"))}
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
