"""The real components the tests run: a private dockerd, a private system bus with mocks, the agent.

Each class starts its own processes and stops only those, by PID (SIGTERM, then SIGKILL);
every child also gets SIGTERM from the kernel if the test process dies (PR_SET_PDEATHSIG).
Heavy modules (docker, jeepney, httpx) are imported on first use so plain unit runs stay fast.
"""

from __future__ import annotations

import atexit
import ctypes
import io
import json
import os
import shutil
import signal
import subprocess
import tarfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

# /usr/bin/python3: Debian's python3-dbusmock with its dbus-python and gi (not the venv's python)
DBUSMOCK_PYTHON = os.environ.get("POLYVISOR_TEST_DBUSMOCK_PYTHON", "/usr/bin/python3")
BUSYBOX = Path(os.environ.get("POLYVISOR_TEST_BUSYBOX", "/bin/busybox"))

# Addresses where nothing ever listens: what a test gets instead of the host's engine or bus.
NO_ENGINE = "unix:///nonexistent/polyvisor-test/docker.sock"
NO_BUS = "unix:path=/nonexistent/polyvisor-test/system_bus_socket"

_started: dict[int, subprocess.Popen[bytes]] = {}
# What starting each component took, for the end of the test report.
TIMINGS: dict[str, str] = {}


_LIBC = ctypes.CDLL(None, use_errno=True)


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the test process goes away, however it ends."""
    _LIBC.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def spawn(argv: Sequence[str], log: Path, env: dict[str, str] | None = None,
          stdout: Path | None = None) -> subprocess.Popen[bytes]:
    """Start a process with its output in `log` (stdout in its own file when given)."""
    with open(log, "ab") as err, open(stdout or log, "ab") as out:
        # preexec_fn only calls prctl (libc loaded beforehand): safe after fork despite threads
        proc = subprocess.Popen([str(a) for a in argv], stdin=subprocess.DEVNULL, stdout=out,
                                stderr=err, env=env, close_fds=True,
                                preexec_fn=_die_with_parent)  # noqa: PLW1509
    _started[proc.pid] = proc
    return proc


def stop_process(proc: subprocess.Popen[bytes], grace: float = 10.0) -> int | None:
    """SIGTERM the process we started, SIGKILL it after `grace` seconds; its exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    _started.pop(proc.pid, None)
    return proc.returncode


@atexit.register
def _stop_leftovers() -> None:
    for proc in list(_started.values()):
        stop_process(proc, 5)


def tail(path: Path, lines: int = 40) -> str:
    """The last lines of a log file."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def wait_until(check: Callable[[], bool], timeout: float, what: str,
               proc: subprocess.Popen[bytes] | None = None, log: Path | None = None) -> float:
    """Poll `check` until true; the seconds it took. RuntimeError with the log's tail otherwise."""
    start = time.monotonic()
    while True:
        if check():
            return time.monotonic() - start
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{tail(log) if log else ''}")
        if time.monotonic() - start > timeout:
            raise RuntimeError(f"{what} not ready after {timeout:.0f} s:\n{tail(log) if log else ''}")
        time.sleep(0.05)


def mounts_under(folder: Path) -> list[str]:
    """Mount points at or below `folder`, deepest first."""
    prefix = str(folder).rstrip("/") + "/"
    found = []
    with open("/proc/self/mountinfo") as info:
        for line in info:
            point = line.split()[4].encode().decode("unicode_escape")  # \040 for spaces
            if point == prefix[:-1] or point.startswith(prefix):
                found.append(point)
    return sorted(found, key=len, reverse=True)


def unmount_all(folder: Path) -> list[str]:
    """Unmount whatever is mounted under `folder` (errors ignored); what is still mounted."""
    for flags in (["-R"], ["-l"]):
        for point in mounts_under(folder):
            subprocess.run(["umount", *flags, point], capture_output=True, check=False)
    return mounts_under(folder)


def remove_tree(folder: Path) -> None:
    """Remove a work folder, unless something is still mounted in it (never delete through a mount)."""
    left = unmount_all(folder)
    if left:
        print(f"polyvisor tests: left {folder} in place, still mounted: {left}")
        return
    shutil.rmtree(folder, ignore_errors=True)


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
        self.proc = spawn(self.argv(storage_driver), self.log)
        self.start_seconds = wait_until(self.ping, timeout, "dockerd", self.proc, self.log)
        TIMINGS[f"dockerd {self.socket}"] = f"{self.start_seconds:.2f} s ({self.storage_driver} storage driver)"

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

    def stop(self) -> None:
        """Stop dockerd (it stops its containers and containerd), clean up after it."""
        self._halt()
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


SYSTEM_CONF = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
"""

# The bus names our mock templates own, and their main objects.
MOCKS = {
    "logind": ("org.freedesktop.login1", "/org/freedesktop/login1"),
    "systemd": ("org.freedesktop.systemd1", "/org/freedesktop/systemd1"),
    "hostnamed": ("org.freedesktop.hostname1", "/org/freedesktop/hostname1"),
}
MOCK_IFACE = "org.freedesktop.DBus.Mock"


def bus_call(address: str, destination: str, path: str, interface: str, method: str,
             signature: str | None = None, body: tuple[Any, ...] = (), timeout: float = 10) -> tuple[Any, ...]:
    """One method call on a fresh connection; the reply body (DBusErrorResponse on errors)."""
    from jeepney import DBusAddress, new_method_call
    from jeepney.io.blocking import open_dbus_connection
    from jeepney.wrappers import unwrap_msg

    conn = open_dbus_connection(bus=address)
    try:
        message = new_method_call(DBusAddress(path, destination, interface), method, signature, body)
        return tuple(unwrap_msg(conn.send_and_get_reply(message, timeout=timeout)))
    finally:
        conn.close()


class SystemBus:
    """A private dbus-daemon of type system, policy allow-all, with python-dbusmock services."""

    def __init__(self, workdir: Path, socket: Path | None = None) -> None:
        self.dir = workdir
        self.socket = socket or workdir / "system_bus_socket"
        self.address = f"unix:path={self.socket}"
        self.log = workdir / "dbus-daemon.log"
        self.daemon: subprocess.Popen[bytes] | None = None
        self.mocks: list[tuple[str, subprocess.Popen[bytes], Path]] = []
        self.started_at = time.monotonic()

    def start(self, timeout: float = 30.0) -> None:
        """Start dbus-daemon and wait until it accepts connections."""
        if shutil.which("dbus-daemon") is None:
            raise RuntimeError("dbus-daemon is not installed (scripts/test installs it)")
        self.started_at = time.monotonic()
        config = self.dir / "system.conf"
        config.write_text(SYSTEM_CONF.format(socket=self.socket))
        self.daemon = spawn(["dbus-daemon", f"--config-file={config}", "--nofork", "--print-address"],
                            self.log, stdout=self.dir / "address")
        wait_until(self.answers, timeout, "dbus-daemon", self.daemon, self.log)

    def answers(self) -> bool:
        """True when the bus daemon answers GetId."""
        try:
            bus_call(self.address, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                     "org.freedesktop.DBus", "GetId", timeout=2)
            return True
        except (OSError, EOFError):
            return False

    def add_mock(self, template: str, parameters: dict[str, Any] | None = None) -> None:
        """Start `python3 -m dbusmock --template T` on this bus (call wait_for_mocks after)."""
        if not Path(DBUSMOCK_PYTHON).exists():
            raise RuntimeError(f"{DBUSMOCK_PYTHON} missing: install python3-dbusmock")
        stem = Path(template).stem
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        env["DBUS_SYSTEM_BUS_ADDRESS"] = self.address
        argv = [DBUSMOCK_PYTHON, "-m", "dbusmock", "--template", template]
        if parameters:
            argv += ["--parameters", json.dumps(parameters)]
        log = self.dir / f"mock-{stem}.log"
        self.mocks.append((MOCKS[stem][0], spawn(argv, log, env), log))

    def wait_for_mocks(self, timeout: float = 30.0) -> None:
        """Wait until every mock owns its bus name."""
        for name, proc, log in self.mocks:
            def owned(name: str = name) -> bool:
                return bool(bus_call(self.address, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                     "org.freedesktop.DBus", "NameHasOwner", "s", (name,))[0])

            wait_until(owned, timeout, f"dbusmock {name}", proc, log)
        took = time.monotonic() - self.started_at
        TIMINGS[f"dbus-daemon {self.socket} and {len(self.mocks)} dbusmock services"] = f"{took:.2f} s"

    def stop(self, remove: bool = True) -> None:
        """Stop the mocks and the daemon; remove the work folder."""
        for _, proc, _ in reversed(self.mocks):
            stop_process(proc, 5)
        self.mocks.clear()
        if self.daemon is not None:
            stop_process(self.daemon, 5)
            self.daemon = None
        if remove:
            shutil.rmtree(self.dir, ignore_errors=True)


class MockCalls:
    """calls("logind") -> [(method, args)] that mock recorded; calls.clear("logind") resets it.

    Accepts a template stem (logind, systemd, hostnamed) or a bus name with its object path.
    """

    def __init__(self, address: str) -> None:
        self.address = address

    def _target(self, name: str, path: str | None) -> tuple[str, str]:
        for bus_name, main in MOCKS.values():
            if name == bus_name:
                return bus_name, path or main
        if name in MOCKS:
            return MOCKS[name][0], path or MOCKS[name][1]
        if path is None:
            raise ValueError(f"object path needed for {name}")
        return name, path

    def __call__(self, name: str, path: str | None = None) -> list[tuple[str, tuple[Any, ...]]]:
        destination, path = self._target(name, path)
        (calls,) = bus_call(self.address, destination, path, MOCK_IFACE, "GetCalls")
        # a(tsav): (timestamp, method, [variant (signature, value)])
        return [(method, tuple(value for _sig, value in args)) for _ts, method, args in calls]

    def clear(self, name: str, path: str | None = None) -> None:
        """Forget the calls recorded so far."""
        destination, path = self._target(name, path)
        bus_call(self.address, destination, path, MOCK_IFACE, "ClearCalls")

    def reset(self) -> None:
        """Every mock as at start: no recorded calls, hostnamed's properties as loaded."""
        names = [n for n in MOCKS if self._owned(MOCKS[n][0])]
        if "hostnamed" in names:
            bus_call(self.address, *MOCKS["hostnamed"], MOCK_IFACE, "Reset")
        for name in names:  # after Reset, which is recorded too
            self.clear(name)

    def _owned(self, name: str) -> bool:
        return bool(bus_call(self.address, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                             "org.freedesktop.DBus", "NameHasOwner", "s", (name,))[0])


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

    def stop(self) -> int | None:
        """SIGTERM, SIGKILL after 5 s; the exit code."""
        return stop_process(self.process, grace=5)

    def kill(self) -> None:
        """kill -9, as a power cut would leave it."""
        if self.process.poll() is None:
            os.kill(self.pid, signal.SIGKILL)
        self.process.wait(10)
        _started.pop(self.pid, None)


# Variables of the agent that a test's environment must not leak into the agent under test.
AGENT_ENV = ("DOCKER_HOST", "DBUS_SYSTEM_BUS_ADDRESS", "BALENA_SUPERVISOR_API_KEY", "RESIN_SUPERVISOR_API_KEY",
             "NOTIFY_SOCKET", "WATCHDOG_USEC")


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
