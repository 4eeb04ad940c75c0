"""A Debian rootfs run as a device's read-only root, without systemd: unshare + mounts + chroot.

`Sandbox(root).popen(argv)` starts `unshare --mount --pid --fork` running a small sh script (as
PID 1 of the new PID namespace) that mounts, in its private mount namespace only:
  /              the rootfs bound onto itself read-only (or a read-only overlay of it without /run)
  /proc          a fresh procfs of the new PID namespace
  /dev           a tmpfs with the host's null, zero, full, random, urandom and tty bound in
  /run           a tmpfs (mode 755, nosuid, nodev, as systemd mounts it; or noexec, or small; or none)
  /tmp           a tmpfs, or nothing: then /tmp is the read-only root's own folder
  binds          host paths onto paths inside (the data folder, the dockerd socket)
then runs argv under chroot with the environment it was given, passes SIGTERM on to it, and
when it has exited writes what its TMPDIR still holds to a report file on the host. The network
is the host's (the agent listens on 127.0.0.1 only). When the namespace's PID 1 exits, the kernel
ends the namespaces and their mounts: nothing is left on the host.
"""

from __future__ import annotations

import ctypes
import os
import shlex
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from frozen.test_binary import children

_LIBC = ctypes.CDLL(None, use_errno=True)

PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


def _die_with_parent() -> None:
    _LIBC.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG: nothing outlives a killed test run


@dataclass
class Sandbox:
    """How the rootfs is mounted for one run (see the module docstring)."""

    root: Path
    scratch: Path  # a host folder for the report (and the overlay when the root has no /run)
    run_fs: str = "tmpfs"  # "tmpfs", "noexec" (a tmpfs mounted noexec) or "absent" (the root has no /run)
    run_size: str = ""  # the /run tmpfs's size= (default: half the RAM)
    tmp: bool = True  # a tmpfs on /tmp; False leaves the read-only root's /tmp
    mkdirs: Sequence[str] = ("/run/polyvisor",)  # made (mode 700) after /run is mounted: RuntimeDirectory=
    binds: Sequence[tuple[Path, str]] = ()  # (host path, path inside); a file is bound onto an empty file
    env: dict[str, str] = field(default_factory=dict)

    @property
    def report(self) -> Path:
        """What TMPDIR held after the command exited (one name a line); absent when not checked."""
        return self.scratch / "tmpdir-after-exit"

    def script(self) -> str:
        """The sh script PID 1 of the namespace runs: mounts, then argv ("$@") under chroot."""
        q = shlex.quote
        root = q(str(self.root))
        lines = ["set -eu", "mount --make-rprivate /"]
        if self.run_fs == "absent":  # a read-only overlay of the rootfs in which /run was deleted
            over = q(str(self.scratch / "overlay"))
            layers = f"lowerdir={root},upperdir={over}/upper,workdir={over}/work"
            lines += [f"mkdir -p {over}", f"mount -t tmpfs -o mode=700 tmpfs {over}",
                      f"mkdir {over}/upper {over}/work {over}/root",
                      f"mount -t overlay -o {layers} overlay {over}/root",
                      f"rm -rf {over}/root/run", f"mount -o remount,ro {over}/root"]
            root = f"{over}/root"
        else:
            lines += [f"mount --bind {root} {root}", f"mount -o remount,bind,ro {root}"]
        lines += [f"r={root}",
                  'mount -t proc -o nosuid,nodev,noexec proc "$r/proc"',
                  'mount -t tmpfs -o mode=755,nosuid tmpfs "$r/dev"',
                  'for n in null zero full random urandom tty; do',
                  '  touch "$r/dev/$n"; mount --bind "/dev/$n" "$r/dev/$n"',
                  "done"]
        if self.run_fs != "absent":
            extra = (",noexec" if self.run_fs == "noexec" else "") + (f",size={self.run_size}" if self.run_size else "")
            lines.append(f'mount -t tmpfs -o mode=755,nosuid,nodev{extra} tmpfs "$r/run"')
        if self.tmp:
            lines.append('mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$r/tmp"')
        lines += [f'mkdir -p -m 700 "$r"{q(path)}' for path in self.mkdirs]
        for host, inside in self.binds:
            target = f'"$r"{q(inside)}'
            make = f"mkdir -p {target}" if host.is_dir() else f"mkdir -p \"$(dirname {target})\"; touch {target}"
            lines += [f"[ -e {target} ] || {{ {make}; }}", f"mount --bind {q(str(host))} {target}"]
        tmpdir = self.env.get("TMPDIR", "/tmp")
        lines += [
            'chroot "$r" "$@" &',
            "child=$!",
            "trap 'kill -TERM \"$child\" 2>/dev/null' TERM INT",
            # wait returns early when the trap runs: wait again until the child is gone
            'while :; do wait "$child" && code=0 || code=$?; kill -0 "$child" 2>/dev/null || break; done',
            f'if [ -d "$r"{q(tmpdir)} ]; then ls -A "$r"{q(tmpdir)} > {q(str(self.report))}; fi',
            'exit "$code"',
        ]
        return "\n".join(lines) + "\n"

    def popen(self, argv: Sequence[str], **kwargs: object) -> subprocess.Popen[bytes]:
        """Start argv in the sandbox; the Popen is unshare's (its exit status is argv's)."""
        self.scratch.mkdir(parents=True, exist_ok=True)
        self.report.unlink(missing_ok=True)
        command = ["unshare", "--mount", "--pid", "--fork", "--kill-child", "sh", "-c", self.script(), "sandbox",
                   *argv]
        environ = {"PATH": PATH, "LANG": "C.UTF-8", **self.env}
        return subprocess.Popen(command, env=environ, stdin=subprocess.DEVNULL, close_fds=True,
                                preexec_fn=_die_with_parent, **kwargs)  # type: ignore[call-overload]  # noqa: PLW1509

    def run(self, argv: Sequence[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run argv to its end; stdout and stderr as text."""
        proc = self.popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            out, err = proc.communicate(timeout=timeout)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        return subprocess.CompletedProcess(list(argv), proc.returncode, out.decode(errors="replace"),
                                           err.decode(errors="replace"))

    def left_in_tmpdir(self) -> list[str]:
        """What TMPDIR held after the command exited."""
        return self.report.read_text().split()


def command_pid(unshare: subprocess.Popen[bytes]) -> int | None:
    """The host PID of the command a sandbox runs: unshare -> sh (PID 1 inside) -> the command."""
    for init in children(unshare.pid):
        for pid in children(init):
            return pid
    return None


def inside(pid: int, path: str) -> Path:
    """A path as the process `pid` sees it (its root and mounts), reachable from the host."""
    return Path(f"/proc/{pid}/root{path}")


def stop(unshare: subprocess.Popen[bytes], grace: float = 20.0) -> int:
    """SIGTERM to the command (as systemd's KillMode=mixed sends it to the main PID), SIGKILL after grace."""
    if unshare.poll() is None:
        target = command_pid(unshare) or next(iter(children(unshare.pid)), None)  # else sh, PID 1 inside
        if target is not None:
            os.kill(target, signal.SIGTERM)
        try:
            unshare.wait(grace)
        except subprocess.TimeoutExpired:
            unshare.kill()  # --kill-child: the namespace's PID 1 and with it everything inside goes
            unshare.wait(10)
    return unshare.returncode
