"""A local shell on a pseudo-terminal, for the platform's web terminal (GoTTY's webtty).

The shell is the login shell of the token's OS account, run as that user (the `admin`
account, which is the agent's own, gets root's); `setsid --ctty` makes the pty its
controlling terminal, so job control works.
"""

from __future__ import annotations

import fcntl
import os
import pty
import pwd
import shutil
import signal
import struct
import subprocess
import termios

from handlers.errors import NotFound, PolyvisorError


class PtyShell:
    """One shell process and the master side of its pty."""

    def __init__(self, user: str, columns: int = 80, rows: int = 24) -> None:
        try:
            entry = pwd.getpwnam(user)
        except KeyError as err:
            raise NotFound(f"no OS account {user}") from err
        shell = entry.pw_shell if entry.pw_shell and os.path.exists(entry.pw_shell) else "/bin/sh"
        if shell.endswith(("nologin", "false")):
            raise PolyvisorError(f"{user} has no login shell")
        master, slave = pty.openpty()
        self.master = master
        self.resize(columns, rows)
        env = {"TERM": "xterm-256color", "HOME": entry.pw_dir, "USER": user, "LOGNAME": user,
               "SHELL": shell, "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
        argv = [shell, "-l"]
        setsid = shutil.which("setsid")
        if setsid:
            # setsid makes the session itself (it would fork if the child already led a group,
            # and the shell would then escape close()'s killpg); --ctty takes the pty as terminal
            argv = [setsid, "--ctty", *argv]
        same = os.getuid() == entry.pw_uid
        try:
            self.process = subprocess.Popen(
                argv, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True,
                cwd=entry.pw_dir if os.path.isdir(entry.pw_dir) else "/", start_new_session=not setsid,
                user=None if same else entry.pw_uid, group=None if same else entry.pw_gid,
                extra_groups=None if same else os.getgrouplist(user, entry.pw_gid))
        except OSError as err:
            os.close(master)
            raise PolyvisorError(f"cannot start {shell}: {err.strerror}") from err
        finally:
            os.close(slave)
        self.title = f"{user}@{os.uname().nodename}"

    def read(self) -> bytes:
        """Output bytes; b"" once the shell has ended."""
        try:
            return os.read(self.master, 65536)
        except OSError:  # EIO when the slave side is closed
            return b""

    def write(self, data: bytes) -> None:
        """Keystrokes."""
        view = memoryview(data)
        while view:
            written = os.write(self.master, view)
            view = view[written:]

    def resize(self, columns: int, rows: int) -> None:
        """TIOCSWINSZ (the shell gets SIGWINCH)."""
        columns, rows = max(1, min(columns, 1000)), max(1, min(rows, 1000))
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))

    def close(self) -> None:
        """Hang up: SIGHUP to the shell's session, then reap it."""
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGHUP)
            except OSError:
                pass
            try:
                self.process.wait(2)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(2)
        try:
            os.close(self.master)
        except OSError:
            pass
