"""`polyvisor gosd users|database ...` through `python app.py`, printing what gosd's cobra commands
printed; its settings; the store surviving kill -9; Services' gosd_store made without loading
bcrypt or psycopg."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from app import Settings, split_command
from handlers.gosd.cli import tabwrite, users_table
from handlers.gosd.store import GosdStore, Group, User, rfc3339

REPO = Path(__file__).resolve().parents[3]
HEADER = "ID  Username  Language  Timezone\n"


def gosd(data_dir: Path, *args: str, env: dict[str, str] | None = None,
         python: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """`python app.py gosd ARGS --data-dir DATA_DIR` without the caller's gosd variables."""
    clean = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "POLYVISOR_GOSD_DATABASE_URL")}
    return subprocess.run([sys.executable, *python, "app.py", "gosd", *args, "--data-dir", str(data_dir)], cwd=REPO,
                          capture_output=True, text=True, timeout=60, env={**clean, **(env or {})}, check=False)


def test_users_commands_print_gosds_table(tmp_path: Path) -> None:
    added = gosd(tmp_path, "users", "add", "Alice", "secret1")
    assert (added.returncode, added.stdout) == (0, HEADER + "1   alice     en_US     UTC  \n")
    again = gosd(tmp_path, "users", "add", "Alice", "other")
    assert (again.returncode, again.stdout) == (0, 'User "Alice" already exists, skipping creation')
    assert gosd(tmp_path, "users", "add", "bob", "secret2").returncode == 0
    listed = gosd(tmp_path, "users", "ls")
    assert listed.stdout == HEADER + "1   alice     en_US     UTC  \n2   bob       en_US     UTC  \n"
    assert gosd(tmp_path, "users", "find", "2").stdout == HEADER + "2   bob       en_US     UTC  \n"
    assert gosd(tmp_path, "users", "find", "BOB").stdout == HEADER + "2   bob       en_US     UTC  \n"
    missing = gosd(tmp_path, "users", "find", "nobody")
    assert (missing.returncode, missing.stdout) == (0, "")  # gosd printed nothing
    assert (tmp_path / "gosd.db").is_file()


def test_users_update_takes_a_password_or_gosds_flags(tmp_path: Path) -> None:
    gosd(tmp_path, "users", "add", "alice", "secret1")
    assert gosd(tmp_path, "users", "update", "alice", "changed1").returncode == 0
    store = GosdStore.open(None, tmp_path)
    assert store.login("alice", "changed1").id == 1
    store.close()
    renamed = gosd(tmp_path, "users", "update", "1", "-u", "Carol", "--password=again12")
    assert renamed.stdout == HEADER + "1   carol     en_US     UTC  \n"
    store = GosdStore.open(None, tmp_path)
    assert store.login("carol", "again12").id == 1
    store.close()
    assert gosd(tmp_path, "users", "update", "nobody", "-p", "x").stdout == ""


def test_bad_arguments_answer_cobras_error_and_the_usage(tmp_path: Path) -> None:
    short = gosd(tmp_path, "users", "add", "alice")
    assert short.returncode == 1 and short.stderr.startswith("Error: accepts 2 arg(s), received 1\nUsage:")
    unknown = gosd(tmp_path, "users", "frobnicate")
    assert unknown.returncode == 1 and unknown.stderr.startswith('Error: unknown command "frobnicate" for "gosd users"')
    assert gosd(tmp_path, "nodes").stderr.startswith('Error: unknown command "nodes" for "gosd"')
    helped = gosd(tmp_path, "users", "--help")
    assert helped.returncode == 0 and "gosd users add <username> <password>" in helped.stdout
    assert gosd(tmp_path, "users", "update", "a", "-x").stderr.startswith("Error: unknown flag: -x")
    assert gosd(tmp_path, "database", "migrate").returncode == 0


def test_the_database_url_comes_from_database_url(tmp_path: Path) -> None:
    other = tmp_path / "elsewhere" / "g.db"
    done = gosd(tmp_path, "users", "add", "alice", "secret1", env={"DATABASE_URL": f"sqlite://{other}"})
    assert done.returncode == 0 and other.is_file() and not (tmp_path / "gosd.db").exists()
    bad = gosd(tmp_path, "users", "ls", env={"POLYVISOR_GOSD_DATABASE_URL": "mysql://x"})
    assert bad.returncode == 2 and "--gosd-database-url must be" in bad.stderr
    elsewhere = gosd(tmp_path, "users", "ls", env={"DATABASE_URL": "mysql://another-programs"})
    assert elsewhere.returncode == 0 and (tmp_path / "gosd.db").is_file()  # not ours: ignored


def test_the_commands_run_without_docstrings(tmp_path: Path) -> None:
    # the frozen binary is built with optimize=2 (docstrings dropped): the usage is no docstring
    assert gosd(tmp_path, "users", "add", "carol", "pw", python=("-OO",)).returncode == 0
    usage = gosd(tmp_path, "nonsense", python=("-OO",))
    assert usage.returncode == 1 and "gosd users add <username> <password>" in usage.stdout + usage.stderr


def test_settings_read_gosds_environment_names() -> None:
    s = Settings.from_sources([], {"DATABASE_URL": "postgres://u:p@h/db", "MQTT_URL": "mqtt://a:b@127.0.0.1:1883",
                                   "BASE_URL": "http://x/gosd", "LUA_FILE": "/f.lua", "EXPIRE_TOKEN": "60"})
    assert (s.gosd_database_url, s.gosd_mqtt_url, s.gosd_base_url, s.gosd_lua_file, s.gosd_expire_token) == (
        "postgres://u:p@h/db", "mqtt://a:b@127.0.0.1:1883", "http://x/gosd", "/f.lua", 60)
    assert (s.gosd_noauth, s.gosd_job_timeout, s.gosd_mqtt_client_id) == (False, 86400.0, "gosd-1")
    assert Settings.from_sources(["--gosd-mqtt-client-id", "gosd-7"], {}).gosd_mqtt_client_id == "gosd-7"
    s = Settings.from_sources(["--gosd-noauth", "--gosd-job-timeout", "0", "--gosd-database-url", "sqlite:///d"],
                              {"POLYVISOR_GOSD_DATABASE_URL": "postgres://a", "DATABASE_URL": "postgres://b"})
    assert (s.gosd_noauth, s.gosd_job_timeout, s.gosd_database_url) == (True, 0.0, "sqlite:///d")
    assert Settings.from_sources([], {"POLYVISOR_GOSD_DATABASE_URL": "postgres://a", "DATABASE_URL": "x",
                                      "POLYVISOR_GOSD_NOAUTH": "1"}).gosd_noauth is True
    defaults = Settings.from_sources([], {"DATABASE_URL": "mysql://another-programs"})  # not gosd's: ignored
    assert (defaults.gosd_database_url, defaults.gosd_base_url, defaults.gosd_expire_token) == (
        None, "http://localhost/gosd", 7200)


@pytest.mark.parametrize("argv", [["--dialects", "gosd", "--gosd-expire-token", "0"],
                                  ["--dialects", "gosd", "--gosd-job-timeout", "-1"],
                                  ["--dialects", "gosd", "--gosd-base-url", "ftp://x"],
                                  ["--dialects", "gosd", "--gosd-database-url", "mysql://x"]])
def test_bad_gosd_settings_are_refused_when_gosd_is_served(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        Settings.from_sources(argv, {})


def test_command_arguments_follow_the_gosd_word() -> None:
    assert split_command(["--dialects", "gosd", "gosd", "users", "ls"]) == (
        ["--dialects", "gosd", "gosd"], ["users", "ls"])
    assert split_command(["gosd", "users", "update", "a", "-p", "x", "--data-dir", "/d", "--", "--data-dir"]) == (
        ["gosd", "--data-dir", "/d"], ["users", "update", "a", "-p", "x", "--data-dir"])
    assert split_command(["api-key", "--data-dir", "/d"]) == (["api-key", "--data-dir", "/d"], [])
    s = Settings.from_sources(["gosd", "users", "ls", "--data-dir=/d"], {})
    assert (s.command, s.command_args, str(s.data_dir)) == ("gosd", ("users", "ls"), "/d")


def test_tabwriter_pads_as_gos() -> None:
    assert tabwrite([["a", "bb"], ["ccc", "d", ""]]) == "a    bb\nccc  d  \n"
    user = User(12, "bob", "en_US", "UTC", None, Group(1, "bob"))
    assert users_table([user]) == "ID  Username  Language  Timezone\n12  bob       en_US     UTC  \n"


def test_timestamps_are_gos_rfc3339_nano() -> None:
    east = timezone(timedelta(hours=8))
    assert rfc3339(datetime(2020, 9, 23, 16, 16, 7, 736495, tzinfo=east)) == "2020-09-23T16:16:07.736495+08:00"
    assert rfc3339(datetime(2021, 3, 20, 9, 2, 20, 386110, tzinfo=UTC)).endswith("20.38611Z")
    assert rfc3339(datetime(2021, 3, 20, 9, 2, 20, tzinfo=UTC)) == "2021-03-20T09:02:20Z"


KILLED = """
import sys, time
from pathlib import Path
from handlers.gosd.store import GosdStore
store = GosdStore.open(None, Path(sys.argv[1]))
user = store.add_user("alice", "secret1")
plan = store.create_plan(user.group.id, {"name": "p", "node_id": 1})
store.create_job(plan.id)
store.create_blob("f", b"x" * 100000)
print("written", flush=True)
time.sleep(60)
"""


def test_committed_writes_survive_kill_9(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", KILLED, str(tmp_path)], cwd=REPO, stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "written\n"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    store = GosdStore.open(None, tmp_path)
    assert store.login("alice", "secret1").username == "alice"
    assert store.jobs(1)[0].job_id == 1 and len(store.blob(1).content) == 100000
    store.close()


def test_the_agents_services_load_neither_bcrypt_nor_psycopg() -> None:
    code = ("import sys, app; s = app.Settings.from_sources(['--data-dir', sys.argv[1]], {}); "
            "services = app.build_services(s); assert services.gosd_store is not None; "
            "print('bcrypt' in sys.modules, 'psycopg' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code, "/nonexistent/pv"], cwd=REPO, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.stdout == "False False\n", done.stderr


def test_an_unusable_data_folder_is_a_storage_error(tmp_path: Path) -> None:
    from handlers.errors import StorageUnavailable

    (tmp_path / "file").write_text("")
    with pytest.raises(StorageUnavailable):
        GosdStore.open(None, tmp_path / "file" / "sub")
    failed = gosd(tmp_path / "file" / "sub", "users", "ls")
    assert failed.returncode == 1 and failed.stderr.startswith("polyvisor gosd: cannot open the gosd database")
