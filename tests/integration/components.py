"""The real components the tests run: a private dockerd, the busybox image, the agent process.

Each class starts its own processes and stops only those, by PID (integration.processes);
the system bus and its mocks are in integration.sysbus. Heavy modules (docker, jeepney,
httpx) are imported on first use so plain unit runs stay fast.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import tarfile
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from integration.processes import (  # re-exported: other test modules import them from here
    TIMINGS,
    _started,
    ip,
    remove_tree,
    spawn,
    stop_process,
    tail,
    unmount_all,
    wait_until,
)
from integration.sysbus import MOCK_IFACE, MOCKS, MockCalls, SystemBus, bus_call

__all__ = ["MOCKS", "MOCK_IFACE", "NO_BUS", "NO_ENGINE", "TIMINGS", "Agent", "Dockerd", "MockCalls", "Mosquitto", "PostgreSQL",
           "SystemBus", "bus_call", "busybox_rootfs", "import_busybox", "ip", "remove_tree", "run_agent",
           "spawn", "stop_process", "tail", "unmount_all", "wait_until"]

BUSYBOX = Path(os.environ.get("POLYVISOR_TEST_BUSYBOX", "/bin/busybox"))

# Addresses where nothing ever listens: what a test gets instead of the host's engine or bus.
NO_ENGINE = "unix:///nonexistent/polyvisor-test/docker.sock"
NO_BUS = "unix:path=/nonexistent/polyvisor-test/system_bus_socket"


def bridge_devices(host: str) -> list[str]:
    """The host interfaces of the bridge networks of the dockerd at `host` (br-<id>, or the name an
    option set): dockerd leaves them on the host when it stops."""
    import docker

    try:
        client = docker.DockerClient(base_url=host, timeout=5)
        try:
            networks = [n.attrs for n in client.networks.list() if n.attrs.get("Driver") == "bridge"]
        finally:
            client.close()
    except (docker.errors.DockerException, OSError):
        return []
    return [(n.get("Options") or {}).get("com.docker.network.bridge.name") or f"br-{n['Id'][:12]}"
            for n in networks]


def delete_links(names: list[str]) -> None:
    """Delete these host interfaces where they still exist (a stopped dockerd's bridges)."""
    for name in names:
        if Path("/sys/class/net", name).exists():
            subprocess.run(["ip", "link", "delete", name], check=False, capture_output=True)


class Dockerd:
    """A private Docker Engine: own socket, config, data and exec roots, cgroup parent.

    No iptables, no bridge, no masquerading, no ip_forward change: it never touches the host's
    network. Containers it runs must use network_mode="none" (or be reached by `docker exec`).
    """

    # Folders dockerd and containerd make outside their roots (paths compiled into them).
    HOST_DIRS = ("/run/docker/plugins", "/run/docker", "/run/containerd/s", "/run/containerd")
    _running: ClassVar[int] = 0
    _dirs_before: ClassVar[set[str]] = set()

    def __init__(self, workdir: Path, socket: Path | None = None) -> None:
        self.dir = workdir
        self.socket = socket or workdir / "docker.sock"
        self.host = f"unix://{self.socket}"
        self.log = workdir / "dockerd.log"
        self.cgroup = f"polyvisor-test-{uuid.uuid4().hex[:8]}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.storage_driver = "default"
        self.start_seconds = 0.0

    def argv(self, storage_driver: str | None) -> list[str]:
        """dockerd's command line."""
        config = self.dir / "daemon.json"
        # key.json would otherwise land in /etc/docker; the setting has no flag in 20.10
        config.write_text(json.dumps({"deprecated-key-path": str(self.dir / "key.json")}))
        argv = ["dockerd", f"--config-file={config}", f"--host={self.host}",
                f"--data-root={self.dir / 'data'}", f"--exec-root={self.dir / 'exec'}",
                f"--pidfile={self.dir / 'docker.pid'}", "--iptables=false", "--ip6tables=false",
                "--ip-masq=false", "--ip-forward=false", "--bridge=none", "--shutdown-timeout=2",
                f"--cgroup-parent=/{self.cgroup}"]
        return argv + ([f"--storage-driver={storage_driver}"] if storage_driver else [])

    def start(self, timeout: float = 60.0) -> None:
        """Start dockerd with the default storage driver, falling back to vfs; wait for ping."""
        if shutil.which("dockerd") is None:
            raise RuntimeError("dockerd is not installed (scripts/test installs docker.io)")
        if Dockerd._running == 0:
            Dockerd._dirs_before = {d for d in self.HOST_DIRS if os.path.exists(d)}
        Dockerd._running += 1
        try:
            self._try(None, timeout)
        except RuntimeError as first:
            self._halt()
            shutil.rmtree(self.dir / "data", ignore_errors=True)
            try:
                self._try("vfs", timeout)
            except RuntimeError as second:
                raise RuntimeError(f"dockerd did not start.\nDefault storage driver: {first}\n"
                                   f"vfs: {second}") from None

    def _try(self, storage_driver: str | None, timeout: float) -> None:
        self.storage_driver = storage_driver or "default"
        self.proc = spawn(self.argv(storage_driver), self.log, env=self.env())
        self.start_seconds = wait_until(self.ping, timeout, "dockerd", self.proc, self.log)
        TIMINGS[f"dockerd {self.socket}"] = f"{self.start_seconds:.2f} s ({self.storage_driver} storage driver)"

    @staticmethod
    def env() -> dict[str, str]:
        """dockerd's environment: a pull from anywhere but loopback goes to a closed local port and
        fails at once, so no test (nor a fuzzed target naming any image) reaches a real registry."""
        dead = "http://127.0.0.1:9"
        loopback = "127.0.0.1,localhost,::1"
        return {**os.environ, "HTTP_PROXY": dead, "HTTPS_PROXY": dead, "http_proxy": dead,
                "https_proxy": dead, "NO_PROXY": loopback, "no_proxy": loopback}

    def ping(self) -> bool:
        """True when the engine answers on its socket."""
        if not self.socket.exists():
            return False
        import docker

        try:
            client = docker.DockerClient(base_url=self.host, timeout=5)
            try:
                return bool(client.ping())
            finally:
                client.close()
        except (docker.errors.DockerException, OSError):  # requests' errors are OSErrors
            return False

    def _halt(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, grace=30)
            self.proc = None
        unmount_all(self.dir)

    def bridge_devices(self) -> list[str]:
        """The host interfaces of this daemon's bridge networks (br-<id>, or the name an option set)."""
        return bridge_devices(self.host)

    def stop(self) -> None:
        """Stop dockerd (it stops its containers and containerd), clean up after it: dockerd leaves
        its networks' bridge devices on the host when it stops (it makes them again at its next
        start), so they are deleted here."""
        bridges = self.bridge_devices() if self.proc is not None else []
        self._halt()
        delete_links(bridges)
        Dockerd._running = max(0, Dockerd._running - 1)
        cgroups = Path("/sys/fs/cgroup")
        for group in [cgroups / self.cgroup, *cgroups.glob(f"*/{self.cgroup}")]:
            try:
                group.rmdir()  # empty now: its containers are gone
            except OSError:
                pass
        if Dockerd._running == 0:
            for folder in self.HOST_DIRS:  # only the empty ones that we made
                if folder not in Dockerd._dirs_before:
                    try:
                        os.rmdir(folder)
                    except OSError:
                        pass
        remove_tree(self.dir)


class PostgreSQL:
    """A private PostgreSQL (Debian's package): a cluster made by initdb in a temporary folder,
    listening on a unix socket in that folder only (no TCP), run as the `postgres` account when
    the tests run as root (the server refuses root), stopped by its PID.
    """

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="polyvisor-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "postgres.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.user = "postgres"

    @staticmethod
    def binary(name: str) -> str:
        """Debian keeps the server's programs in /usr/lib/postgresql/<major>/bin, off PATH."""
        found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
                       key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0)
        if found:
            return str(found[-1])
        if shutil.which(name):
            return str(shutil.which(name))
        raise RuntimeError(f"PostgreSQL's {name} is not installed (scripts/test installs postgresql)")

    def _as_owner(self, argv: list[str]) -> list[str]:
        if os.geteuid() != 0:
            return argv
        return ["setpriv", f"--reuid={self.user}", f"--regid={self.user}", "--clear-groups", *argv]

    def start(self, timeout: float = 60.0) -> None:
        """initdb (trust on the socket: only its owner and root can reach the folder), then the server."""
        if os.geteuid() == 0:
            shutil.chown(self.dir, self.user, self.user)
        os.chmod(self.dir, 0o700)
        env = {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
        done = subprocess.run(self._as_owner([self.binary("initdb"), "-D", str(self.data), "-U", "postgres",
                                              "--auth=trust", "-E", "UTF8", "--no-sync", "--locale=C.UTF-8"]),
                              capture_output=True, text=True, env=env, check=False)
        if done.returncode:
            raise RuntimeError(f"initdb failed: {done.stderr.strip() or done.stdout.strip()}")
        self.proc = spawn(self._as_owner([self.binary("postgres"), "-D", str(self.data), "-k", str(self.dir),
                                          "-c", "listen_addresses=", "-c", "fsync=off",
                                          "-c", "max_connections=40", "-c", "shared_buffers=16MB"]),
                          self.log, env=env)
        seconds = wait_until(self.ready, timeout, "postgres", self.proc, self.log)
        TIMINGS[f"postgres {self.dir}"] = f"{seconds:.2f} s"

    def url(self, database: str = "postgres") -> str:
        """A libpq URL of one database on the private socket."""
        return f"postgresql://postgres@/{database}?host={self.dir}"

    def ready(self) -> bool:
        """True when the server accepts a connection on its socket."""
        import psycopg

        try:
            psycopg.connect(self.url(), connect_timeout=2).close()
            return True
        except psycopg.Error:
            return False

    def create_database(self) -> str:
        """A new empty database; its URL."""
        import psycopg

        name = f"gosd_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        """Fast shutdown (SIGINT: sessions are ended), then the folder goes."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGINT)
            stop_process(self.proc, grace=30)
            self.proc = None
        remove_tree(self.dir)


class Mosquitto:
    """A private MQTT v5 broker (Debian's mosquitto): its config, password file and log in a
    temporary folder, one listener on 127.0.0.1 at a free port, no persistence, stopped by PID.
    With `users` ({name: password}) only those may connect; without, anyone may. With `tls`
    ((cafile, certfile, keyfile), PEM paths) a second listener at `tls_port` speaks TLS (with
    `require_certificate`, clients must present a certificate of that CA); `persistent` keeps
    sessions and queued messages in the folder across restart().
    """

    def __init__(self, users: dict[str, str] | None = None, tls: tuple[Path, Path, Path] | None = None,
                 require_certificate: bool = False, persistent: bool = False) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="polyvisor-mqtt-"))
        self.log = self.dir / "mosquitto.log"
        self.users = dict(users or {})
        self.tls = tls
        self.require_certificate = require_certificate
        self.persistent = persistent
        self.port = 0
        self.tls_port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20.0) -> None:
        """Write the config (password file made by mosquitto_passwd) and start the broker."""
        if shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists():
            raise RuntimeError("mosquitto is not installed (scripts/test installs it)")
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        os.chmod(self.dir, 0o755)  # run as root, mosquitto reads its files as its own account
        persistence = ["persistence false"]
        if self.persistent:  # a folder the broker's own account can write
            (self.dir / "db").mkdir(exist_ok=True)
            os.chmod(self.dir / "db", 0o777)
            persistence = ["persistence true", f"persistence_location {self.dir / 'db'}/"]
        lines = [f"listener {self.port} 127.0.0.1", *persistence, "set_tcp_nodelay true", "log_dest stderr",
                 "log_type error", "log_type warning", "log_type notice"]
        if self.tls is not None:
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                self.tls_port = int(sock.getsockname()[1])
            # copies in the broker's folder: it reads them as its own account
            cafile, certfile, keyfile = (self.dir / f"tls-{n}.pem" for n in ("ca", "cert", "key"))
            for source, copy in zip(self.tls, (cafile, certfile, keyfile), strict=True):
                shutil.copyfile(source, copy)
                os.chmod(copy, 0o644)
            lines += [f"listener {self.tls_port} 127.0.0.1", f"cafile {cafile}", f"certfile {certfile}",
                      f"keyfile {keyfile}", f"require_certificate {'true' if self.require_certificate else 'false'}"]
        if self.users:
            passwords = self.dir / "passwords"
            passwords.touch()
            for name, password in self.users.items():
                subprocess.run(["mosquitto_passwd", "-b", str(passwords), name, password], check=True,
                               capture_output=True)
            os.chmod(passwords, 0o644)
            lines += ["allow_anonymous false", f"password_file {passwords}"]
        else:
            lines.append("allow_anonymous true")
        config = self.dir / "mosquitto.conf"
        config.write_text("\n".join(lines) + "\n")
        os.chmod(config, 0o644)
        self._spawn(timeout)

    def _spawn(self, timeout: float) -> None:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.proc = spawn([binary, "-c", str(self.dir / "mosquitto.conf")], self.log)
        seconds = wait_until(self.listening, timeout, "mosquitto", self.proc, self.log)
        TIMINGS[f"mosquitto {self.port}"] = f"{seconds:.2f} s"

    def restart(self, timeout: float = 20.0) -> None:
        """Stop the broker (its clients lose their connections and, without persistence, the
        retained messages go) and start it again on the same port."""
        if self.proc is not None:
            stop_process(self.proc, grace=10)
        self._spawn(timeout)

    def listening(self) -> bool:
        """True when the port takes a TCP connection."""
        import socket

        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def url(self, user: str | None = None) -> str:
        """MQTT_URL of the broker (as `user`, with that user's password)."""
        auth = f"{user}:{self.users[user]}@" if user else ""
        return f"mqtt://{auth}127.0.0.1:{self.port}"

    def halt(self) -> None:
        """Stop the broker, keep its folder and ports (resume() starts it again)."""
        if self.proc is not None:
            stop_process(self.proc, grace=10)
            self.proc = None

    def resume(self, timeout: float = 20.0) -> None:
        """Start a halted broker again on the same ports."""
        self._spawn(timeout)

    def stop(self) -> None:
        """Stop the broker, remove its folder."""
        if self.proc is not None:
            stop_process(self.proc, grace=10)
            self.proc = None
        remove_tree(self.dir)


APPLETS = ("sh", "ash", "sleep", "cat", "touch", "ls", "rm", "mkdir", "echo", "httpd", "nc", "env",
           "true", "false", "test", "[", "ps", "kill", "grep", "sed", "id", "hostname", "date",
           "printf", "head", "tail", "wc", "sync", "uname", "wget", "ip", "ifconfig", "stat")


def busybox_rootfs(busybox: Path = BUSYBOX) -> bytes:
    """A tar of a minimal root file system: /bin/busybox (static) and its applets as links."""
    data = busybox.read_bytes()
    if b"ld-linux" in data[:4096]:
        raise RuntimeError(f"{busybox} is linked dynamically: install busybox-static")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, mode in (("bin", 0o755), ("etc", 0o755), ("tmp", 0o1777), ("proc", 0o555),
                           ("sys", 0o555), ("dev", 0o755), ("root", 0o700), ("var", 0o755)):
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, mode
            tar.addfile(info)
        info = tarfile.TarInfo("bin/busybox")
        info.size, info.mode = len(data), 0o755
        tar.addfile(info, io.BytesIO(data))
        for applet in APPLETS:
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type, info.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(info)
    return buf.getvalue()


def import_busybox(client: Any, name: str) -> str:
    """`docker import` the busybox root file system as `name` (repository:tag) unless present."""
    import docker.errors

    try:
        client.images.get(name)
        return name
    except docker.errors.ImageNotFound:
        pass
    repository, _, tag = name.rpartition(":")
    client.api.import_image_from_data(busybox_rootfs(), repository=repository, tag=tag,
                                      changes=["ENV PATH=/bin", 'CMD ["sh"]'])
    client.images.get(name)
    return name


@dataclass
class Agent:
    """A running agent process."""

    url: str
    key: str | None
    pid: int
    data_dir: Path
    root: Path
    log: Path
    process: subprocess.Popen[bytes]
    socket: Path | None = None
    ready: str | None = "/ping"

    def client(self, timeout: float = 30.0) -> Any:
        """An httpx client on the agent (over its unix socket when it listens on one)."""
        import httpx

        transport = httpx.HTTPTransport(uds=str(self.socket)) if self.socket else None
        return httpx.Client(base_url=self.url, transport=transport, timeout=timeout)

    def get(self, path: str, key: str | None = "", **kwargs: Any) -> Any:
        """GET path with `Authorization: ApiKey <key>` (the agent's key by default; None: no header)."""
        headers = dict(kwargs.pop("headers", {}))
        key = self.key if key == "" else key
        if key is not None:
            headers["Authorization"] = f"ApiKey {key}"
        with self.client() as client:
            return client.get(path, headers=headers, **kwargs)

    def ping(self) -> bool:
        """True when GET <ready> answers 200 (ready None: when anything answers GET /)."""
        import httpx

        try:
            with self.client(timeout=2) as client:
                status = client.get(self.ready or "/").status_code
        except httpx.HTTPError:
            return False
        return self.ready is None or status == 200

    def stored_key(self) -> str | None:
        """The API key in the agent's database."""
        from handlers.store import Store

        store = Store(self.data_dir)
        store.open()
        try:
            return store.get("api_key")
        finally:
            store.close()

    def stop(self, grace: float = 5) -> int | None:
        """SIGTERM, SIGKILL after `grace` seconds; the exit code."""
        return stop_process(self.process, grace=grace)

    def kill(self) -> None:
        """kill -9, as a power cut would leave it."""
        if self.process.poll() is None:
            os.kill(self.pid, signal.SIGKILL)
        self.process.wait(10)
        _started.pop(self.pid, None)


# git in the tests and in every agent they start: file:// and git:// only (the tests' own
# repositories and git daemon on 127.0.0.1). git itself refuses https before any connection, so
# neither the add-on core repository nor the supervisor's default custom one (both on GitHub) is
# ever cloned; http.proxy on a closed loopback port is a second fence.
OFFLINE_GIT = {"GIT_ALLOW_PROTOCOL": "file:git", "GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_COUNT": "1",
               "GIT_CONFIG_KEY_0": "http.proxy", "GIT_CONFIG_VALUE_0": "http://127.0.0.1:9"}
# Every agent the tests start runs without the add-on core repository.
NO_ADDONS_CORE = {"POLYVISOR_HASSIO_ADDONS_CORE_URL": ""}

# Variables of the agent that a test's environment must not leak into the agent under test.
AGENT_ENV = ("DOCKER_HOST", "DBUS_SYSTEM_BUS_ADDRESS", "BALENA_SUPERVISOR_API_KEY", "RESIN_SUPERVISOR_API_KEY",
             "NOTIFY_SOCKET", "WATCHDOG_USEC", "GOSUPER_SOCKET", "RESIN_DATA_PATH")


def run_agent(*, log: Path, command: Sequence[str], api_key: str | None, data_dir: Path, root: Path,
              listen: str, docker_host: str | None, dbus_address: str | None, netns: str | None = None,
              args: Sequence[str] = (), env: dict[str, str] | None = None, wait: bool = True,
              ready: str | None = "/ping", timeout: float = 30.0) -> Agent:
    """Start the agent; docker_host/dbus_address None mean an address where nothing listens."""
    argv = [*command, "--listen", listen, "--data-dir", str(data_dir), "--root", str(root)]
    if api_key is not None:
        argv += ["--api-key", api_key]
    argv += list(args)
    if netns:
        argv = ["ip", "netns", "exec", netns, *argv]  # ip execs the agent: the PID stays ours
    environ = {k: v for k, v in os.environ.items()
               if k not in AGENT_ENV and not k.startswith("POLYVISOR_")}
    environ.update(DOCKER_HOST=docker_host or NO_ENGINE, DBUS_SYSTEM_BUS_ADDRESS=dbus_address or NO_BUS)
    environ.update(OFFLINE_GIT, **NO_ADDONS_CORE)
    environ.update(env or {})
    proc = spawn(argv, log, environ)
    socket = Path(listen[5:]) if listen.startswith("unix:") else None
    url = "http://localhost" if socket else f"http://{listen}"
    agent = Agent(url, api_key, proc.pid, Path(data_dir), Path(root), log, proc, socket, ready)
    if wait:
        wait_until(agent.ping, timeout, "agent", proc, log)
        if api_key is None:
            agent.key = agent.stored_key()
    return agent
