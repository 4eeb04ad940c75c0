"""OS accounts for the platform login (m=0): PAM through libpam (ctypes), or a file of users.

Both verifiers answer `check(user, password)` and `groups(user)`; the agent picks one from
--os-accounts ("pam", or a path to a users file for machines and tests without PAM).
Users file lines: `name:<password hash as handlers.accounts.passwords makes it>:group,group`.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import grp
import pwd
import threading
from pathlib import Path
from typing import Any, Protocol

from handlers.accounts.passwords import check_password

PAM_PROMPT_ECHO_OFF = 1
PAM_PROMPT_ECHO_ON = 2
PAM_SUCCESS = 0


class Verifier(Protocol):
    """Checks OS account passwords and knows their groups."""

    def check(self, user: str, password: str) -> bool: ...

    def groups(self, user: str) -> set[str]: ...


class _Message(ctypes.Structure):
    _fields_ = [("msg_style", ctypes.c_int), ("msg", ctypes.c_char_p)]


class _Response(ctypes.Structure):
    _fields_ = [("resp", ctypes.c_void_p), ("resp_retcode", ctypes.c_int)]


_CONV = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.POINTER(ctypes.POINTER(_Message)),
                         ctypes.POINTER(ctypes.POINTER(_Response)), ctypes.c_void_p)


class _Conv(ctypes.Structure):
    _fields_ = [("conv", _CONV), ("appdata_ptr", ctypes.c_void_p)]


class PamAccounts:
    """pam_authenticate + pam_acct_mgmt with the given PAM service (libpam decides, as login does)."""

    def __init__(self, service: str = "login") -> None:
        self.service = service
        self._lib: ctypes.CDLL | None = None
        self._lock = threading.Lock()

    @functools.cached_property
    def _libc(self) -> ctypes.CDLL:
        """libc for the conversation's replies, loaded by the first login: find_library runs
        `ldconfig -p`, a process the agent's start need not spawn."""
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        libc.calloc.restype = ctypes.c_void_p
        libc.strdup.restype = ctypes.c_void_p
        return libc

    def _pam(self) -> ctypes.CDLL:
        if self._lib is None:
            path = ctypes.util.find_library("pam") or "libpam.so.0"
            lib = ctypes.CDLL(path)
            lib.pam_start.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(_Conv),
                                      ctypes.POINTER(ctypes.c_void_p)]
            for name in ("pam_authenticate", "pam_acct_mgmt"):
                getattr(lib, name).argtypes = [ctypes.c_void_p, ctypes.c_int]
            lib.pam_end.argtypes = [ctypes.c_void_p, ctypes.c_int]
            self._lib = lib
        return self._lib

    def check(self, user: str, password: str) -> bool:
        """True when PAM accepts the password and the account (expiry, lock) for the service."""
        if not user or "\0" in user or "\0" in password:
            return False
        try:
            lib = self._pam()
        except OSError:
            return False
        secret = password.encode("utf-8")
        libc = self._libc

        def answer(count: int, messages: Any, responses: Any, _data: Any) -> int:
            # PAM frees the answers: they must come from malloc (calloc/strdup), not Python
            array = libc.calloc(count, ctypes.sizeof(_Response))
            if not array:
                return 5  # PAM_BUF_ERR
            replies = ctypes.cast(array, ctypes.POINTER(_Response))
            for i in range(count):
                if messages[i].contents.msg_style in (PAM_PROMPT_ECHO_OFF, PAM_PROMPT_ECHO_ON):
                    replies[i].resp = libc.strdup(secret)
                    replies[i].resp_retcode = 0
            responses[0] = replies
            return PAM_SUCCESS

        conv = _Conv(_CONV(answer), None)
        handle = ctypes.c_void_p()
        with self._lock:  # some modules keep process-wide state; one conversation at a time
            status = lib.pam_start(self.service.encode(), user.encode("utf-8"), ctypes.byref(conv),
                                   ctypes.byref(handle))
            if status != PAM_SUCCESS:
                return False
            try:
                status = lib.pam_authenticate(handle, 0)
                if status == PAM_SUCCESS:
                    status = lib.pam_acct_mgmt(handle, 0)
            finally:
                lib.pam_end(handle, status)
        return status == PAM_SUCCESS

    def groups(self, user: str) -> set[str]:
        """The user's group names (supplementary and primary) from the system databases."""
        names = {g.gr_name for g in grp.getgrall() if user in g.gr_mem}
        try:
            names.add(grp.getgrgid(pwd.getpwnam(user).pw_gid).gr_name)
        except KeyError:
            pass
        if user == "root":
            names.add("root")
        return names


class FileAccounts:
    """Users from a file `name:hash:group,group` (re-read on each check, so edits apply at once)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def _entries(self) -> dict[str, tuple[str, set[str]]]:
        entries: dict[str, tuple[str, set[str]]] = {}
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except OSError:
            return entries
        for line in lines:
            if not line.strip() or line.startswith("#"):
                continue
            name, _, rest = line.partition(":")
            digest, _, groups = rest.partition(":")
            entries[name] = (digest, {g for g in groups.split(",") if g})
        return entries

    def check(self, user: str, password: str) -> bool:
        """True when the file lists the user with a hash of this password."""
        entry = self._entries().get(user)
        return entry is not None and check_password(password, entry[0])

    def groups(self, user: str) -> set[str]:
        """The groups the file gives the user."""
        entry = self._entries().get(user)
        return set(entry[1]) if entry else set()


def make_verifier(spec: str, pam_service: str) -> Verifier:
    """"pam" -> PamAccounts(pam_service); anything else is a users file path."""
    if spec == "pam":
        return PamAccounts(pam_service)
    return FileAccounts(spec.removeprefix("file:"))
