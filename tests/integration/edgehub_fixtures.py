"""What the edgehub cloud tests share: a test CA and certificates (cryptography), an MQTT
subscriber, a WebSocket relay in front of mosquitto (Debian's mosquitto is built without
websockets: the relay speaks RFC 6455 with wsproto and passes the MQTT bytes to the broker's
TCP listener), a DCCS credential server and a login helper for the platform's JWT."""

from __future__ import annotations

import datetime
import ipaddress
import json
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from integration.platform_fixtures import admin_login

PASSWORD = "Pv5-admin-pw"


def make_ca(name: str) -> tuple[Any, Any]:
    """(key, certificate) of a self-signed CA."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert


def make_leaf(ca: tuple[Any, Any], name: str, server: bool, dns: str | None = None) -> tuple[Any, Any]:
    """(key, certificate) signed by the CA: a server certificate for 127.0.0.1/localhost (or for the
    one DNS name `dns` only), or a client's."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    ca_key, ca_cert = ca
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
               .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH if server
                                                     else ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False))
    if server:
        names = ([x509.DNSName(dns)] if dns else
                 [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return key, builder.sign(ca_key, hashes.SHA256())


def pem_cert(cert: Any) -> str:
    from cryptography.hazmat.primitives import serialization

    return str(cert.public_bytes(serialization.Encoding.PEM).decode())


def pem_key(key: Any) -> str:
    from cryptography.hazmat.primitives import serialization

    return str(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption()).decode())


def write_tls(folder: Path, ca: tuple[Any, Any]) -> tuple[Path, Path, Path]:
    """(cafile, certfile, keyfile) of a broker certificate signed by `ca`."""
    key, cert = make_leaf(ca, "broker", server=True)
    paths = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    paths[0].write_text(pem_cert(ca[1]))
    paths[1].write_text(pem_cert(cert))
    paths[2].write_text(pem_key(key))
    return paths


class Subscriber:
    """A paho client subscribed (QoS 1) to `Advantech/#`; with `session`, a persistent session that
    the broker (persistent) keeps across restarts under that client id."""

    def __init__(self, port: int, user: str, password: str, session: str | None = None) -> None:
        import paho.mqtt.client as paho

        self.messages: list[tuple[str, bytes]] = []
        self.lock = threading.Lock()
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=session or "",
                                  clean_session=session is None)
        self.client.username_pw_set(user, password)
        self.subscribed = threading.Event()
        self.client.on_connect = lambda c, u, f, r, p: c.subscribe("Advantech/#", qos=1)
        self.client.on_subscribe = lambda *args: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(1, 1)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self.subscribed.wait(10)

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        with self.lock:
            self.messages.append((message.topic, bytes(message.payload)))

    def wait(self, predicate: Callable[[list[tuple[str, bytes]]], bool], timeout: float = 20) -> list[tuple[str, bytes]]:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self.lock:
                seen = list(self.messages)
            if predicate(seen):
                return seen
            time.sleep(0.05)
        raise AssertionError(f"not seen in {timeout} s: {seen[-5:]}")

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class WsRelay:
    """A WebSocket server on 127.0.0.1 (wsproto) that relays each connection's binary frames to
    the broker's TCP port and back (subprotocol `mqtt`)."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(8)
        self.port = int(self.server.getsockname()[1])
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        from wsproto import ConnectionType, WSConnection
        from wsproto.events import AcceptConnection, BytesMessage, CloseConnection, Message, Request

        ws = WSConnection(ConnectionType.SERVER)
        lock = threading.Lock()
        upstream: socket.socket | None = None

        def pump() -> None:
            assert upstream is not None
            while True:
                try:
                    data = upstream.recv(65536)
                except OSError:
                    data = b""
                with lock:
                    try:
                        conn.sendall(ws.send(Message(data=data)) if data else
                                     ws.send(CloseConnection(code=1000)))
                    except Exception:  # noqa: BLE001 - the client went
                        return
                if not data:
                    return

        try:
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                ws.receive_data(data)
                for event in ws.events():
                    if isinstance(event, Request):
                        upstream = socket.create_connection(("127.0.0.1", self.target))
                        with lock:
                            conn.sendall(ws.send(AcceptConnection(subprotocol="mqtt" if "mqtt" in event.subprotocols
                                                                  else None)))
                        threading.Thread(target=pump, daemon=True).start()
                    elif isinstance(event, BytesMessage) and upstream is not None:
                        upstream.sendall(bytes(event.data))
                    elif isinstance(event, CloseConnection):
                        raise OSError("closed")
        except Exception:  # noqa: BLE001, S110 - the connection ends either way
            pass
        finally:
            conn.close()
            if upstream is not None:
                upstream.close()

    def stop(self) -> None:
        self.server.close()


class Dccs:
    """A WISE-PaaS DCCS stand-in: GET /v1/serviceCredentials/<key> -> the broker's credentials."""

    def __init__(self, key: str, port: int, user: str, password: str) -> None:
        answer = {"serviceName": "mqtt", "serviceHost": "127.0.0.1",
                  "credential": {"username": user, "password": password,
                                 "protocols": {"mqtt": {"ssl": False, "port": port, "username": user,
                                                        "password": password}}}}
        self.calls: list[str] = []
        calls = self.calls

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                calls.append(self.path)
                if self.path == f"/v1/serviceCredentials/{key}":
                    body, status = json.dumps(answer).encode(), 200
                else:
                    body, status = b'{"error":"not found"}', 404
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Silent:
    """A TCP listener on 127.0.0.1 that takes connections and never answers."""

    def __init__(self) -> None:
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(8)
        self.port = int(self.server.getsockname()[1])
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                self.held.append(self.server.accept()[0])
            except OSError:
                return

    def stop(self) -> None:
        self.server.close()
        for conn in self.held:
            conn.close()


def login(client: Any) -> None:
    """Change the admin's default password (unless done) and put an admin JWT on the client."""
    admin_login(client, PASSWORD)
