"""The built executable as OS images ship it: dist/polyvisor run as a real process, over HTTP.

Skipped when the binary is missing, a failure when POLYVISOR_REQUIRE_BINARY=1 (scripts/test sets
it after building). POLYVISOR_BINARY tests another build (dist/polyvisor-dir/polyvisor).
No engine is needed: DOCKER_HOST names a socket that does not exist, so GET /v1/device answers
500 from the docker SDK's own error; with POLYVISOR_TEST_DOCKER_HOST set it must answer 200.
Every process here is started by this module and stopped by PID.
"""

from __future__ import annotations

import base64
import ctypes
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from integration.components import NO_ADDONS_CORE, OFFLINE_GIT

REPO = Path(__file__).resolve().parents[2]
BINARY = REPO / os.environ.get("POLYVISOR_BINARY", "dist/polyvisor")  # relative to the repository
ENGINE = os.environ.get("POLYVISOR_TEST_DOCKER_HOST")
API_KEY = "testkey_0123456789"
PRETTY_NAME = "polyvisor test OS 1.0"
WATCHDOG_USEC = 300_000  # keep-alives every 0.15 s

_LIBC = ctypes.CDLL(None, use_errno=True)


def _die_with_parent() -> None:
    _LIBC.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG: no agent outlives a killed test run


@pytest.fixture(scope="module")
def binary() -> Path:
    """The executable under test."""
    if not (BINARY.is_file() and os.access(BINARY, os.X_OK)):
        if os.environ.get("POLYVISOR_REQUIRE_BINARY") == "1":
            pytest.fail(f"{BINARY} is missing (POLYVISOR_REQUIRE_BINARY=1): run scripts/build first")
        pytest.skip(f"{BINARY} is not built: run scripts/build (POLYVISOR_REQUIRE_BINARY=1 makes this fail)")
    return BINARY


@pytest.fixture(scope="module")
def version(binary: Path) -> str:
    """The version the binary reports, checked against the sources it should be built from."""
    from handlers import VERSION

    out = subprocess.run([binary, "--version"], check=False, capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == f"polyvisor {VERSION}", "dist/ is stale: run scripts/build"
    return VERSION


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Notifications:
    """A NOTIFY_SOCKET as systemd has one: a datagram socket, read all the time by a thread."""

    def __init__(self, address: str) -> None:
        self.address = address  # a path, or "@name" for the abstract namespace
        self.messages: list[str] = []
        self.senders: set[int] = set()  # PIDs, from the kernel's credentials as systemd reads them
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self._sock.bind("\0" + address[1:] if address.startswith("@") else address)
        self._sock.settimeout(0.2)
        self._done = False
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._done:
            try:
                self._receive()
            except TimeoutError:
                continue
            except OSError:
                return

    def _receive(self) -> None:
        data, ancillary, _, _ = self._sock.recvmsg(4096, socket.CMSG_SPACE(12))
        for level, kind, value in ancillary:
            if (level, kind) == (socket.SOL_SOCKET, socket.SCM_CREDENTIALS):
                self.senders.add(struct.unpack("i", value[:4])[0])
        self.messages.append(data.decode())

    def wait_for(self, line: str, count: int = 1, timeout: float = 10.0) -> list[str]:
        """Every message so far, once `count` of them hold `line`; AssertionError at the timeout."""
        deadline = time.monotonic() + timeout
        while sum(line in m.splitlines() for m in self.messages) < count:
            assert time.monotonic() < deadline, f"{count} x {line!r} not received: {self.messages}"
            time.sleep(0.02)
        return list(self.messages)

    def close(self) -> None:
        """Stop reading, keeping what is still queued (the last STOPPING=1)."""
        self._done = True
        self._thread.join(2)
        self._sock.setblocking(False)
        try:
            while True:
                self._receive()
        except OSError:  # BlockingIOError: the queue is empty
            pass
        self._sock.close()


@dataclass
class Agent:
    """The binary running on 127.0.0.1:port with everything it may write under `base`."""

    process: subprocess.Popen[bytes]
    port: int
    base: Path
    log: Path
    notify: Notifications | None = None
    ports: dict[str, int] = field(default_factory=dict)

    @property
    def tmpdir(self) -> Path:
        return self.base / "tmp"

    @property
    def data_dir(self) -> Path:
        return self.base / "data"

    def get(self, path: str, key: str | None = None, port: int | None = None) -> httpx.Response:
        """GET path (with `Authorization: Bearer <key>` when given)."""
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        url = f"http://127.0.0.1:{port or self.port}{path}"
        with httpx.Client(trust_env=False, timeout=30) as client:
            return client.get(url, headers=headers)

    def stop(self, grace: float = 15.0) -> int:
        """SIGTERM to the PID we started (onefile's bootloader passes it on), SIGKILL after `grace`."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                for pid in children(self.process.pid):
                    os.kill(pid, signal.SIGKILL)
                self.process.kill()
                self.process.wait(10)
        if self.notify:
            self.notify.close()
        return self.process.returncode


def children(pid: int) -> list[int]:
    """The direct children of a process we started (onefile: the bootloader's Python process)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            pass
    return found


def start(binary: Path, base: Path, env: dict[str, str] | None = None, args: Sequence[str] = (),
          notify: str | None = None, wrapper: Sequence[str] = ()) -> Agent:
    """Start the binary with a data dir, root, TMPDIR, HOME and cwd of its own under `base`."""
    for name in ("data", "tmp", "root/etc", "home", "cwd"):
        (base / name).mkdir(parents=True, exist_ok=True)
    (base / "root/etc/os-release").write_text(f'PRETTY_NAME="{PRETTY_NAME}"\nVARIANT_ID=prod\n')
    port = free_port()
    environ = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(base / "home"),
        "TMPDIR": str(base / "tmp"), "LANG": "C.UTF-8",
        "DOCKER_HOST": ENGINE or f"unix://{base}/no-engine/docker.sock",
        "DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={base}/no-bus/system_bus_socket",
        **OFFLINE_GIT, **NO_ADDONS_CORE,
        **(env or {}),
    }
    listener = None
    if notify:
        listener = Notifications(notify)
        environ.update(NOTIFY_SOCKET=notify, WATCHDOG_USEC=str(WATCHDOG_USEC))
    argv = [*wrapper, str(binary), "--listen", f"127.0.0.1:{port}", "--data-dir", str(base / "data"),
            "--root", str(base / "root"), "--api-key", API_KEY, "--log-level", "info", *args]
    log = base / "agent.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=environ,
                                cwd=base / "cwd", close_fds=True,
                                preexec_fn=_die_with_parent)  # noqa: PLW1509 (prctl only)
    agent = Agent(proc, port, base, log, listener)
    deadline = time.monotonic() + 60
    while True:
        try:
            if agent.get("/ping").status_code == 200:
                return agent
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            agent.stop()
            pytest.fail(f"the binary did not serve /ping:\n{log.read_text()[-3000:]}")
        time.sleep(0.02)


@pytest.fixture(scope="module")
def agent(binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    """The binary with every dialect on one port, a NOTIFY_SOCKET and a watchdog."""
    base = tmp_path_factory.mktemp("agent")
    running = start(binary, base, notify=str(base / "notify.sock"))
    yield running
    assert running.stop() == 0, running.log.read_text()[-3000:]
    assert "Traceback" not in running.log.read_text()


def test_help_lists_every_option(binary: Path, version: str) -> None:
    import app

    out = subprocess.run([binary, "--help"], check=False, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    # the description is app.py's docstring: it must survive the build's bytecode optimisation
    assert app.__doc__ and app.__doc__.splitlines()[0] in " ".join(out.stdout.split())
    flags = [f"--{flag}" for flag, *_ in app.OPTIONS] + ["--dialect-listen", "--version", "--help"]
    assert [f for f in flags if f not in out.stdout] == []


def test_api_key_command(binary: Path, agent: Agent, tmp_path: Path) -> None:
    """`polyvisor api-key` prints the running agent's key from its data folder, and writes nothing."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "TMPDIR": str(tmp_path), "LANG": "C.UTF-8"}

    def api_key(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([binary, "api-key", *args], check=False, capture_output=True, text=True,
                              timeout=30, env=env)

    database = sorted(p.name for p in agent.data_dir.glob("polyvisor.sqlite*"))
    printed = api_key("--data-dir", str(agent.data_dir))
    assert (printed.returncode, printed.stdout) == (0, f"{API_KEY}\n"), printed.stderr
    assert sorted(p.name for p in agent.data_dir.glob("polyvisor.sqlite*")) == database
    missing = api_key("--data-dir", str(tmp_path / "none"))
    assert missing.returncode == 1 and missing.stdout == "" and "start the agent once" in missing.stderr
    assert not (tmp_path / "none").exists()
    assert "api-key" in subprocess.run([binary, "--help"], check=False, capture_output=True, text=True,
                                       timeout=30).stdout


TEXT_HTML = "text/html; charset=utf-8"
TEXT_PLAIN = "text/plain; charset=utf-8"
JSON_UTF8 = "application/json; charset=utf-8"
PLATFORM_PINGS = ["/auth/ping", "/platform/api/ping", "/api/ping", "/api/irtm/ping", "/edgehub/api/ping"]
PLATFORM_AGENTINFO = ["/auth/agentinfo", "/platform/api/agentinfo", "/api/agentinfo",
                      "/edgehub/api/agentinfo"]

# (path, key, status, exact body, exact content type); {version} is the binary's version
HEALTH = [
    ("/ping", None, 200, "OK", TEXT_HTML),
    ("/v1/healthy", None, 200, "OK", TEXT_PLAIN),
    ("/v1/device", None, 401, "Unauthorized", TEXT_PLAIN),
    ("/supervisor/ping", None, 200, '{"result": "ok", "data": {}}', JSON_UTF8),
    *[(path, None, 200, "pong", TEXT_PLAIN) for path in PLATFORM_PINGS],
    ("/auth/version", None, 200, '{"version":1.2}', JSON_UTF8),
    *[(path, None, 200, '{"version":"v{version}"}', JSON_UTF8) for path in PLATFORM_AGENTINFO],
]


@pytest.mark.parametrize(("path", "key", "status", "body", "content_type"), HEALTH,
                         ids=[f"{h[0]}-{h[2]}" for h in HEALTH])
def test_health_route(agent: Agent, version: str, path: str, key: str | None, status: int, body: str,
                      content_type: str) -> None:
    response = agent.get(path, key)
    assert (response.status_code, response.headers["content-type"]) == (status, content_type)
    assert response.content == body.replace("{version}", version).encode()


def test_gosd_ok(agent: Agent) -> None:
    response = agent.get("/gosd/api/v2/ok")
    assert (response.status_code, response.headers["content-type"]) == (200, "application/json")
    assert re.fullmatch(rb'\{"ok":"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[^"]* m=\+\d+\.\d{9}"\}', response.content)


def test_v1_device(agent: Agent, version: str) -> None:
    response = agent.get("/v1/device", API_KEY)
    assert response.headers["content-type"] == JSON_UTF8
    body = response.json()
    if ENGINE:
        assert response.status_code == 200, body
        assert {"api_port", "ip_address", "os_version", "supervisor_version", "update_pending",
                "update_failed", "update_downloaded"} <= set(body)
        assert (body["api_port"], body["os_version"], body["supervisor_version"]) == (
            agent.port, PRETTY_NAME, version)
        return
    assert response.status_code == 500
    assert list(body) == ["Data", "Error"] and body["Data"] == "" and body["Error"]
    # the route reads the network (pyroute2) and then the engine (docker SDK, requests): both
    # must be importable in the binary although they are imported lazily
    assert "No module named" not in body["Error"]


@pytest.fixture
def os_user() -> Iterator[tuple[str, str] | None]:
    """(user, password) of a real account made for the test and removed after it; None if we cannot."""
    if os.geteuid() != 0 or not (shutil.which("useradd") and shutil.which("chpasswd")):
        yield None
        return
    user, password = f"pvf{uuid.uuid4().hex[:8]}", "Pv-frozen-pw!"
    subprocess.run(["useradd", "--no-create-home", "--shell", "/bin/sh", user], check=True)
    try:
        subprocess.run(["chpasswd"], input=f"{user}:{password}\n", text=True, check=True)
        yield user, password
    finally:
        subprocess.run(["userdel", user], check=False)


def test_native_libraries(agent: Agent, os_user: tuple[str, str] | None) -> None:
    """What the binary bundles (pycryptodome for RS256) and what it must take from the OS (libpam)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    with httpx.Client(base_url=f"http://127.0.0.1:{agent.port}", trust_env=False, timeout=60) as client:
        response = client.get("/auth/token", params={"m": 2}, auth=("admin", "p@ssw0rd"))
        assert response.status_code == 200, response.text
        header, body, signature = response.json()["token"].split(".")
        assert header == "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9"  # {"alg":"RS256","typ":"JWT"}
        public = x509.load_pem_x509_certificate(client.get("/auth/certificate").content).public_key()
        assert isinstance(public, rsa.RSAPublicKey)
        public.verify(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)), f"{header}.{body}".encode(),
                      padding.PKCS1v15(), hashes.SHA256())
        # pycryptodome signed with its constant-time C integers, not its pure-Python fallback
        maps = "".join(Path(f"/proc/{pid}/maps").read_text() for pid in [agent.process.pid,
                                                                       *children(agent.process.pid)])
        assert "Crypto/Math/_nat" in maps
        if os_user is None:
            pytest.skip("PAM login not checked: making a test account needs root, useradd and chpasswd")
        # a real password accepted proves the device's libpam was loaded (the spec leaves it out)
        assert client.get("/auth/token", auth=os_user).status_code == 200
        assert client.get("/auth/token", auth=(os_user[0], "wrong")).status_code == 401


def test_sd_notify_ready_and_watchdog(agent: Agent) -> None:
    assert agent.notify is not None
    messages = agent.notify.wait_for("WATCHDOG=1", count=3, timeout=5)
    assert messages[0].splitlines()[0] == "READY=1", messages[:3]
    # onefile: the agent is the child of the bootloader (the unit's main PID), which is why
    # build/polyvisor.service says NotifyAccess=all
    assert agent.notify.senders <= {agent.process.pid, *children(agent.process.pid)}


def test_per_dialect_listen(binary: Path, tmp_path: Path) -> None:
    gosd_port = free_port()
    running = start(binary, tmp_path, env={"POLYVISOR_LISTEN_GOSD": f"127.0.0.1:{gosd_port}"},
                    notify=f"@polyvisor-test-{uuid.uuid4().hex}")  # the abstract-namespace form
    try:
        assert running.get("/gosd/api/v2/ok", port=gosd_port).json()["ok"]
        elsewhere = running.get("/gosd/api/v2/ok")
        assert elsewhere.status_code != 200 and b'"ok"' not in elsewhere.content
        assert running.get("/ping").content == b"OK"
        assert running.get("/ping", port=gosd_port).status_code == 405  # gosd alone there: mux's 405
        assert running.notify is not None
        running.notify.wait_for("READY=1")
    finally:
        assert running.stop() == 0


# Syscalls that change the file system; *at calls print their directory fd as `N</path>` (-y).
WRITE_CALLS = re.compile(r"^(open|openat|openat2|creat|mkdir|mkdirat|rmdir|unlink|unlinkat|rename|renameat2?|"
                         r"link|linkat|symlink|symlinkat|chmod|fchmodat|chown|lchown|fchownat|truncate|"
                         r"mknod|mknodat|utimensat|utimes|setxattr|lsetxattr)\((.*)\) = (\d+)")
WRITE_FLAGS = ("O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC")


def written_paths(trace_dir: Path, cwd: Path) -> set[str]:
    """Every path a successful file-system-changing syscall named in `strace -ff -y` output."""
    paths: set[str] = set()
    for trace in trace_dir.iterdir():
        for line in trace.read_text(errors="replace").splitlines():
            found = WRITE_CALLS.match(line)
            if not found:
                continue
            name, args, _ = found.groups()
            if name.startswith("open") and not any(flag in args for flag in WRITE_FLAGS):
                continue
            for directory, path in re.findall(r'(?:(?:AT_FDCWD|\d+)<([^>]*)>, )?"([^"]*)"', args):
                base = Path(directory) if directory else cwd
                paths.add(os.path.normpath(base / path))
    return paths


def tree(folder: Path) -> dict[str, float]:
    """Relative path -> mtime of everything under a folder."""
    return {str(p.relative_to(folder)): p.lstat().st_mtime for p in folder.rglob("*")}


def test_writes_only_data_dir_and_tmpdir(binary: Path, tmp_path: Path) -> None:
    """Nothing outside --data-dir and TMPDIR changes; onefile's unpack folder goes at SIGTERM."""
    strace = shutil.which("strace")
    if strace and subprocess.run([strace, "-f", "-qq", "-o", "/dev/null", "true"], check=False,
                                 capture_output=True, timeout=30).returncode != 0:
        strace = None  # no ptrace here (a container's seccomp or Yama): the snapshots still check
    traces = tmp_path / "trace"
    traces.mkdir()
    # -ff: one file per thread (no interleaved lines); -y: directory fds printed with their paths
    wrapper = [strace, "-f", "-ff", "-qq", "-y", "-e", "trace=%file", "-o", f"{traces}/t"] if strace else []
    base = tmp_path / "agent"
    running = start(binary, base, wrapper=wrapper, notify=str(tmp_path / "notify.sock"))
    before = {name: tree(base / name) for name in ("root", "home", "cwd")}
    try:
        for path, key in [("/ping", None), ("/v1/healthy", None), ("/v1/device", API_KEY),
                          ("/supervisor/ping", None), ("/gosd/api/v2/ok", None), ("/api/agentinfo", None)]:
            assert running.get(path, key).status_code < 600
        unpacked = [p.name for p in running.tmpdir.iterdir()]
        if binary.parent.name != "polyvisor-dir":  # onefile: one _MEI folder while it runs
            assert len(unpacked) == 1 and unpacked[0].startswith("_MEI"), unpacked
    finally:
        if strace:  # the agent is the child of strace, which stops once its tracee exits
            for pid in children(running.process.pid):
                os.kill(pid, signal.SIGTERM)
        code = running.stop(grace=30)
    assert code == 0, running.log.read_text()[-3000:]
    assert running.notify is not None and "STOPPING=1" in running.notify.messages[-1].splitlines()
    assert list(running.tmpdir.iterdir()) == [], "the unpack folder was left behind"
    assert list(running.data_dir.iterdir()), "nothing was written to the data dir"
    assert {name: tree(base / name) for name in ("root", "home", "cwd")} == before
    if strace:
        allowed = (str(running.data_dir), str(running.tmpdir), "/dev/null")
        outside = sorted(p for p in written_paths(traces, base / "cwd")
                         if not any(p == a or p.startswith(a + "/") for a in allowed))
        assert outside == []


def test_gosuper_socket(binary: Path, tmp_path: Path) -> None:
    """The binary as the resin image's Go helper: GOSUPER_SOCKET, gosuper alone, no engine, no bus."""
    socket_path = tmp_path / "run" / "gosuper.sock"
    socket_path.parent.mkdir()
    (tmp_path / "root" / "resin-data" / "7").mkdir(parents=True)
    (tmp_path / "root" / "resin-data" / "7" / ".lock").write_text("x")
    base = tmp_path / "agent"
    for name in ("data", "tmp", "home", "cwd"):
        (base / name).mkdir(parents=True)
    argv = [str(binary), "--dialects", "gosuper", "--data-dir", str(base / "data"), "--root", str(tmp_path / "root")]
    environ = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(base / "home"),
               "TMPDIR": str(base / "tmp"), "GOSUPER_SOCKET": str(socket_path),
               "DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={base}/no-bus/system_bus_socket"}
    log = base / "agent.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=environ,
                                cwd=base / "cwd", close_fds=True, preexec_fn=_die_with_parent)  # noqa: PLW1509
    running = Agent(proc, 0, base, log)
    try:
        with httpx.Client(transport=httpx.HTTPTransport(uds=str(socket_path)), base_url="http://localhost",
                          timeout=30) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if client.get("/ping").content == b"OK\n":
                        break
                except httpx.HTTPError:
                    pass
                assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.05)
            reply = client.post("/v1/purge", content=b'{"applicationId":7}')
            assert (reply.status_code, reply.content) == (200, b'{"Data":"OK","Error":""}')
            assert reply.headers["content-type"] == "application/json"
            assert list((tmp_path / "root" / "resin-data" / "7").iterdir()) == []
            reply = client.post("/v1/vpncontrol", content=b"")
            assert (reply.status_code, reply.content) == (400, b'{"Data":"Error","Error":"EOF"}')
            reply = client.post("/v1/reboot")
            assert reply.content == b'{"Data":"Error","Error":"Logind unavailable, cannot reboot."}'
            assert client.get("/v1/ipaddr").json()["Error"] == ""
    finally:
        assert running.stop() == 0, log.read_text()[-3000:]
    assert not socket_path.exists()
    assert "Traceback" not in log.read_text()
