"""A rootfs booted by systemd-nspawn with systemd as its PID 1: read-only, the host's network.

`--register=no --keep-unit`: no machined and no scope unit, so no systemd is needed on the host
(this one's PID 1 is not systemd and its cgroups are v1). nspawn drops CAP_NET_ADMIN when it
shares the host's network, so the container cannot change it; only 127.0.0.1 is used. Commands
run inside through nsenter. halt() is SIGTERM to nspawn, which asks the container's systemd to
shut down (SIGKILL after a grace period); nspawn's state folder under /run/systemd/nspawn, which
it leaves on a /run that is not a tmpfs, is removed as far as it is ours and empty.
"""

from __future__ import annotations

import ctypes
import signal
import subprocess
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

_LIBC = ctypes.CDLL(None, use_errno=True)
STATE = Path("/run/systemd/nspawn")


def _die_with_parent() -> None:
    _LIBC.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG: a killed test run halts the container too


class Container:
    """systemd-nspawn --boot of `root`, read-only, host folders bound in (host path, path inside)."""

    def __init__(self, root: Path, log: Path, binds: Sequence[tuple[Path, str]] = ()) -> None:
        self.root = root
        self.log = log
        self.binds = list(binds)
        self.machine = f"pv-test-{uuid.uuid4().hex[:8]}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.pid = 0  # the container's systemd, as a host PID
        self.boot_seconds = 0.0

    def boot(self, timeout: float = 90.0) -> str:
        """Start it and wait until its systemd has booted; the state it reached."""
        argv = ["systemd-nspawn", "--quiet", "--boot", "--read-only", "--register=no", "--keep-unit",
                f"--machine={self.machine}", "--console=pipe", "--directory", str(self.root),
                *[f"--bind={host}:{inside}" for host, inside in self.binds]]
        began = time.monotonic()
        with open(self.log, "ab") as out:  # the child keeps its own copy of the fd
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                         preexec_fn=_die_with_parent)  # noqa: PLW1509 (prctl only)
        while time.monotonic() - began < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"systemd-nspawn exited ({self.proc.returncode}):\n{self.log.read_text()[-3000:]}")
            self.pid = self._systemd()
            if self.pid:
                state = self.run(["systemctl", "is-system-running", "--wait"]).stdout.strip()
                if state in ("running", "degraded"):  # degraded: logind cannot run in the container
                    self.boot_seconds = time.monotonic() - began
                    return state
            time.sleep(0.05)
        raise RuntimeError(f"the container's systemd did not boot in {timeout} s:\n{self.log.read_text()[-3000:]}")

    def _systemd(self) -> int:
        assert self.proc is not None
        for task in Path(f"/proc/{self.proc.pid}/task").glob("*"):
            try:
                kids = (task / "children").read_text().split()
                for kid in kids:  # nspawn's child becomes the container's systemd by exec
                    if Path(f"/proc/{kid}/cmdline").read_bytes().split(b"\0")[0].endswith(b"/systemd"):
                        return int(kid)
            except OSError:
                continue
        return 0

    def command(self, argv: Sequence[str]) -> list[str]:
        """argv as run inside the container (all of its namespaces, its root)."""
        return ["nsenter", "--target", str(self.pid), "--all", *argv]

    def run(self, argv: Sequence[str], stdin: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run argv inside to its end; stdout and stderr as text."""
        return subprocess.run(self.command(argv), input=stdin, capture_output=True, text=True, timeout=timeout,
                              check=False)

    def halt(self, grace: float = 60.0) -> None:
        """Shut the container down and clean up after nspawn."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        for folder in (STATE / "propagate" / self.machine, STATE / "propagate", STATE / "locks", STATE):
            try:
                folder.rmdir()  # only when empty: another nspawn may be running
            except OSError:
                pass
