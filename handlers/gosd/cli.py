"""`polyvisor gosd ...`: gosd v2.2.0's cobra commands (cmd/users*.go, cmd/database_migrate.go) on
the agent's settings, printing what gosd printed (its tabwriter table of users). USAGE lists them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import TextIO

from handlers.errors import PolyvisorError
from handlers.gosd.store import GosdStore, User
from handlers.gosd.users import UserExists

# a constant, not the docstring: the frozen binary is built with optimize=2, which drops docstrings
USAGE = """    gosd users add <username> <password>
    gosd users ls
    gosd users find <id|username>
    gosd users update <id|username> [<password>] [-p PASSWORD] [-u NEW_USERNAME]
    gosd database migrate
"""


def tabwrite(lines: Sequence[Sequence[str]], padding: int = 2) -> str:
    """Go's text/tabwriter (minwidth 0, padding, ' ', no flags) over lines of cells; each line's last
    cell is the text after its last tab, which belongs to no column."""
    widths: list[int] = []
    out: list[str] = []

    def write_lines(start: int, end: int) -> None:
        for line in lines[start:end]:
            for j, cell in enumerate(line):
                out.append(cell.ljust(widths[j]) if j < len(widths) else cell)
            out.append("\n")

    def fmt(line0: int, line1: int) -> None:
        column = len(widths)
        this = line0
        while this < line1:
            if column >= len(lines[this]) - 1:
                this += 1
                continue
            write_lines(line0, this)  # lines before the block of this column
            line0 = this
            width = 0
            while this < line1 and column < len(lines[this]) - 1:
                width = max(width, len(lines[this][column]) + padding)
                this += 1
            widths.append(width)
            fmt(line0, this)
            widths.pop()
            line0 = this
        write_lines(line0, line1)

    fmt(0, len(lines))
    return "".join(out)


def users_table(users: Sequence[User]) -> str:
    """cmd/users.go printUsers: a header without a closing tab, rows with one."""
    lines = [["ID", "Username", "Language", "Timezone"]]
    lines += [[str(u.id), u.username, u.language, u.timezone, ""] for u in users]
    return tabwrite(lines)


class UsageError(Exception):
    """Wrong arguments: cobra's "Error: ..." line and the usage."""


def _exact(args: Sequence[str], count: int) -> None:
    if len(args) != count:
        raise UsageError(f"accepts {count} arg(s), received {len(args)}")


def _find(store: GosdStore, key: str) -> User | None:
    """cmd/users.go parseUsernameOrID: a number is an id, anything else a username."""
    try:
        return store.user(int(key, 10))
    except ValueError:
        return store.find_user(key)


def _update(store: GosdStore, args: Sequence[str], out: TextIO) -> None:
    flags: dict[str, str] = {}
    rest: list[str] = []
    names = {"-p": "password", "--password": "password", "-u": "username", "--username": "username"}
    items = list(args)
    while items:
        item = items.pop(0)
        flag, eq, value = item.partition("=")
        if flag in names:
            if not eq:
                if not items:
                    raise UsageError(f"flag needs an argument: {flag}")
                value = items.pop(0)
            flags[names[flag]] = value
        elif item.startswith("-") and item != "-":
            raise UsageError(f"unknown flag: {flag}")
        else:
            rest.append(item)
    if len(rest) == 2 and "password" not in flags:  # `update <username> <password>`, the short form
        flags["password"] = rest.pop()
    _exact(rest, 1)
    user = _find(store, rest[0])
    if user is None:  # gosd printed nothing for an unknown user
        return
    updated = store.update_user(user.username, password=flags.get("password") or None,
                                new_username=flags.get("username") or None)
    out.write(users_table([updated]))


def run(args: Sequence[str], store_factory: Callable[[], GosdStore], out: TextIO, err: TextIO) -> int:
    """Run one gosd command; its exit status."""
    group, command, rest = (list(args) + ["", ""])[0], (list(args) + ["", ""])[1], list(args[2:])
    if not args or "-h" in args or "--help" in args:
        (out if args else err).write(f"Usage:\n{USAGE}")
        return 0 if args else 1
    try:
        if group not in ("users", "database"):
            raise UsageError(f'unknown command "{group}" for "gosd"')
        if command not in (("add", "ls", "find", "update") if group == "users" else ("migrate",)):
            raise UsageError(f'unknown command "{command}" for "gosd {group}"' if command
                             else f'"gosd {group}" needs a command')
        if group == "database":
            _exact(rest, 0)
            store_factory().close()  # opening migrates
            return 0
        store = store_factory()
        try:
            if command == "add":
                _exact(rest, 2)
                try:
                    user = store.add_user(rest[0], rest[1])
                except UserExists:
                    out.write(f"User {json.dumps(rest[0], ensure_ascii=False)} already exists, skipping creation")
                    return 0
                out.write(users_table([user]))
            elif command == "ls":
                _exact(rest, 0)
                out.write(users_table(store.users()))
            elif command == "find":
                _exact(rest, 1)
                found = _find(store, rest[0])
                if found is not None:
                    out.write(users_table([found]))
            else:
                _update(store, rest, out)
        finally:
            store.close()
    except UsageError as error:
        err.write(f"Error: {error}\nUsage:\n{USAGE}")
        return 1
    except (PolyvisorError, OSError, ValueError) as error:
        err.write(f"polyvisor gosd: {error}\n")
        return 1
    return 0
