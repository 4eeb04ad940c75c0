"""Processes the tests start: spawned with their output in a log, stopped by PID, waited for.

Every child gets SIGTERM from the kernel if the test process dies (PR_SET_PDEATHSIG), and
whatever is still running at exit is stopped; mounts under a work folder are undone before
the folder is removed.
"""

from __future__ import annotations

import atexit
import ctypes
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

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


def ip(*args: str) -> None:
    """Run `ip ARGS`, raising with ip's message when it fails."""
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")
