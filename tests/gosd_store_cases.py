"""The gosd store's behaviour, written once and run on both backends: tests/unit/gosd imports these
on SQLite, tests/integration/test_gosd_store_pg.py on a real PostgreSQL. Each module gives the
fixture `make_store(**kwargs)`: a new GosdStore on that test's own (fresh) database.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from handlers.errors import InvalidInput, NotFound
from handlers.gosd import store as store_module
from handlers.gosd.store import BlobNotFound, GosdStore, PlanNotFound, UserNotFound
from handlers.gosd.users import LoginError, UnknownUser, UserExists, UserLocked, WrongPassword

MakeStore = Callable[..., GosdStore]
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?(Z|[+-]\d\d:\d\d)$")


@pytest.fixture
def store(make_store: MakeStore) -> GosdStore:
    return make_store()


def test_users_add_lower_cases_and_makes_one_group_each(store: GosdStore) -> None:
    alice = store.add_user("Alice", "secret1")
    bob = store.add_user("bob", "secret2")
    assert (alice.username, alice.language, alice.timezone, alice.last_login_at) == ("alice", "en_US", "UTC", None)
    assert (alice.group.name, bob.group.name) == ("Alice", "bob")  # the group keeps the name as typed
    assert alice.group.id != bob.group.id and alice.extra == {} and alice.group.extra == {}
    with pytest.raises(UserExists):
        store.add_user("ALICE", "other")
    with pytest.raises(InvalidInput):
        store.add_user("", "x")
    assert [u.username for u in store.users()] == ["alice", "bob"]
    assert store.find_user("ALICE") == alice and store.user(bob.id) == bob
    assert store.find_user("carol") is None and store.user(999) is None


def test_users_update_password_and_name(store: GosdStore) -> None:
    store.add_user("alice", "secret1")
    store.add_user("bob", "secret2")
    store.update_user("Alice", password="changed1")
    with pytest.raises(WrongPassword):
        store.login("alice", "secret1")
    assert store.login("alice", "changed1").username == "alice"
    renamed = store.update_user("alice", new_username="Carol")
    assert renamed.username == "carol" and store.find_user("alice") is None
    with pytest.raises(UserExists):
        store.update_user("carol", new_username="bob")
    with pytest.raises(UserNotFound):
        store.update_user("nobody", password="x")


def test_login_answers_gosds_errors_word_for_word(store: GosdStore) -> None:
    store.add_user("Alice", "secret1")
    with pytest.raises(UnknownUser, match="^Not user found$"):
        store.login("nobody", "secret1")
    with pytest.raises(WrongPassword) as wrong:
        store.login("ALICE", "nope")
    assert str(wrong.value) == ('store: invalid password for "alice" (crypto/bcrypt: hashedPassword is not '
                                'the hash of the given password)')
    assert store.login("aLiCe", "secret1").username == "alice"
    assert isinstance(wrong.value, LoginError)


def test_more_than_five_failures_lock_the_user_for_an_hour(make_store: MakeStore) -> None:
    now = [1000.0]
    store = make_store()
    store.failures.clock = lambda: now[0]
    store.add_user("alice", "secret1")
    store.add_user("bob", "secret2")
    for _ in range(6):
        with pytest.raises(WrongPassword):
            store.login("alice", "bad")
    with pytest.raises(UserLocked, match="^user already locked$"):
        store.login("alice", "secret1")  # even the right password: gosd checked the lock first
    assert store.login("bob", "secret2").username == "bob"  # per user
    now[0] += 3601  # the failures are an hour old: forgotten
    assert store.login("alice", "secret1").username == "alice"


def test_five_failures_do_not_lock(store: GosdStore) -> None:
    store.add_user("alice", "secret1")
    for _ in range(5):
        with pytest.raises(WrongPassword):
            store.login("alice", "bad")
    assert store.login("alice", "secret1").username == "alice"


def test_tokens_are_64_hex_stored_and_expire(make_store: MakeStore, monkeypatch: pytest.MonkeyPatch) -> None:
    store = make_store(expire_token=60)
    user = store.add_user("alice", "secret1")
    token = store.issue_token(user)
    assert re.fullmatch(r"[0-9a-f]{64}", token.access_token)
    assert (token.token_type, token.expires_in) == ("bearer", 60)
    assert store.user_for_token(token.access_token) == user
    assert store.user_for_token("0" * 64) is None and store.user_for_token("") is None
    other = make_store(expire_token=60)  # another process on the same database (or after a restart)
    assert other.user_for_token(token.access_token) == user
    other.close()
    clock = store_module.time.time() + 61
    monkeypatch.setattr(store_module.time, "time", lambda: clock)
    assert store.user_for_token(token.access_token) is None
    fresh = store.issue_token(user)  # purges the expired one
    assert store.user_for_token(fresh.access_token) == user
    with store.database().transaction() as cur:
        assert cur.execute("SELECT COUNT(*) FROM tokens")[0][0] == 1


def test_tokens_are_kept_as_digests(store: GosdStore) -> None:
    token = store.issue_token(store.add_user("alice", "secret1")).access_token
    with store.database().transaction() as cur:
        stored = cur.execute("SELECT digest FROM tokens")
    assert token not in str(stored)


def test_blobs_keep_bytes_and_sha1_and_replace(store: GosdStore) -> None:
    content = bytes(range(256)) * 4096  # 1 MiB with NULs
    first = store.create_blob("a b.bin", content)
    second = store.create_blob("go.mod", b"module x\n")
    assert second > first
    blob = store.blob(first)
    assert (blob.id, blob.filename, blob.content) == (first, "a b.bin", content)
    assert blob.checksum == hashlib.sha1(content).hexdigest()
    replaced = store.replace_blob(second, "new.txt", b"")
    assert (replaced.filename, replaced.content, replaced.checksum) == ("new.txt", b"",
                                                                         "da39a3ee5e6b4b0d3255bfef95601890afd80709")
    assert store.blob(second) == replaced
    with pytest.raises(BlobNotFound):
        store.blob(999)
    with pytest.raises(BlobNotFound):
        store.replace_blob(999, "x", b"x")
    assert isinstance(BlobNotFound("x"), NotFound)


def test_plans_crud_with_gosds_echoes(store: GosdStore) -> None:
    created = store.create_plan(1, {"name": "survey", "description": "d", "node_id": 3})
    assert (created.name, created.description, created.node_id, created.files, created.extra) == (
        "survey", "d", 3, None, None)  # absent files/extra: null in the answer, as gosd's JSON path
    other = store.create_plan(2, {"name": "b", "node_id": 1, "files": {"lua": "7"}, "extra": {"k": "v"}})
    assert store.plan(created.id) == store_module.Plan(created.id, "survey", "d", 3, {}, {})
    assert [p.id for p in store.plans(1)] == [created.id] and store.plans(2)[0].files == {"lua": "7"}
    assert store.plans(5) == []
    echo = store.update_plan(other.id, {"name": "c", "node_id": 2, "extra": {"a": "b"}})
    assert (echo.id, echo.name, echo.files, echo.extra) == (other.id, "c", None, {"a": "b"})
    assert store.plan(other.id) == store_module.Plan(other.id, "c", "", 2, {}, {"a": "b"})  # wholesale
    ghost = store.update_plan(999, {"name": "ghost"})  # gosd echoed an unknown id and stored nothing
    assert ghost.id == 999 and store.plan(999) is None
    with pytest.raises(InvalidInput):
        store.create_plan(1, {"name": "x", "node_id": "abc"})


def test_plan_delete_returns_the_plan_and_keeps_its_jobs(store: GosdStore) -> None:
    plan = store.create_plan(1, {"name": "p", "node_id": 1, "files": {"f": "1"}})
    store.create_job(plan.id)
    assert store.delete_plan(plan.id) == store_module.Plan(plan.id, "p", "", 1, {"f": "1"}, {})
    assert store.delete_plan(plan.id) is None and store.plan(plan.id) is None
    assert [j.job_id for j in store.jobs(plan.id)] == [1]  # not cascaded (gosd)


def test_jobs_count_per_plan_from_one(store: GosdStore) -> None:
    a = store.create_plan(1, {"name": "a", "node_id": 1})
    b = store.create_plan(1, {"name": "b", "node_id": 1})
    first = store.create_job(a.id)
    assert (first.job_id, first.plan_id, first.files, first.extra, first.outcome) == (1, a.id, {}, {}, None)
    assert RFC3339.match(first.created_at) and first.created_at == first.updated_at
    assert store.create_job(a.id, {"luavm": "5"}, {"k": "v"}).job_id == 2
    assert store.create_job(b.id).job_id == 1
    ids = [j.id for j in store.jobs(a.id)]
    assert [j.job_id for j in store.jobs(a.id)] == [1, 2] and len(set(ids)) == 2
    assert store.job(a.id, 2) is not None and store.job(a.id, 2).files == {"luavm": "5"}  # type: ignore[union-attr]
    assert store.job(a.id, 3) is None and store.jobs(999) == []
    with pytest.raises(PlanNotFound):
        store.create_job(999)


def test_jobs_update_and_outcome(store: GosdStore) -> None:
    plan = store.create_plan(1, {"name": "a", "node_id": 1})
    job = store.create_job(plan.id, {"a": "1"}, {"x": "y"})
    updated = store.update_job(plan.id, job.job_id, files={"a": "1", "luavm": "9"})
    assert (updated.files, updated.extra, updated.created_at) == ({"a": "1", "luavm": "9"}, {"x": "y"}, job.created_at)
    assert store.update_job(plan.id, job.job_id, extra={}).extra == {}
    store.set_outcome(plan.id, job.job_id, {"status": "failed", "error": "Be killed"})
    assert store.job(plan.id, job.job_id).outcome == {"status": "failed", "error": "Be killed"}  # type: ignore[union-attr]
    with pytest.raises(NotFound):
        store.update_job(plan.id, 99, files={})
    with pytest.raises(NotFound):
        store.set_outcome(plan.id, 99, {})


def test_job_ids_stay_unique_under_concurrent_writers(make_store: MakeStore) -> None:
    stores = [make_store(), make_store()]  # two connections, as two agents on one database
    plan = stores[0].create_plan(1, {"name": "a", "node_id": 1})

    def worker(store: GosdStore) -> list[int]:
        return [store.create_job(plan.id).job_id for _ in range(10)]

    with ThreadPoolExecutor(6) as pool:
        made = [n for done in [pool.submit(worker, stores[i % 2]) for i in range(6)] for n in done.result(60)]
    assert sorted(made) == list(range(1, 61))
    for store in stores:
        store.close()


def test_everything_survives_a_reopen(make_store: MakeStore) -> None:
    store = make_store()
    user = store.add_user("alice", "secret1")
    token = store.issue_token(user).access_token
    plan = store.create_plan(user.group.id, {"name": "p", "node_id": 1})
    store.create_job(plan.id)
    blob = store.create_blob("f", b"x")
    store.close()
    again = make_store()
    assert again.login("alice", "secret1") == user and again.user_for_token(token) == user
    assert again.plans(user.group.id)[0].name == "p" and again.create_job(plan.id).job_id == 2
    assert again.blob(blob).content == b"x"
    again.close()


def test_unicode_and_odd_values_round_trip(store: GosdStore) -> None:
    plan = store.create_plan(1, {"name": "航线 '; DROP TABLE plans; --", "node_id": 1,
                                 "extra": {"键": "值 \u2028 ?", "q": "%s"}})
    assert store.plan(plan.id).name == "航线 '; DROP TABLE plans; --"  # type: ignore[union-attr]
    assert store.plan(plan.id).extra == {"键": "值 \u2028 ?", "q": "%s"}  # type: ignore[union-attr]
    blob = store.create_blob("файл ?.txt", "€".encode())
    assert store.blob(blob).filename == "файл ?.txt"


def test_text_the_database_cannot_hold_is_invalid_input(store: GosdStore) -> None:
    with pytest.raises(InvalidInput):
        store.create_blob("\ud800.txt", b"x")  # a lone surrogate has no UTF-8
    with pytest.raises(InvalidInput):
        store.create_plan(1, {"name": "p", "node_id": 1, "extra": {"k": "\udfff"}})
    try:  # SQLite keeps a NUL in text, PostgreSQL refuses it: either is fine, a crash is not
        assert store.blob(store.create_blob("a\x00b", b"")).filename == "a\x00b"
    except InvalidInput:
        pass
    huge = 2**70  # the routes' [0-9]+ lets any number through: it names nothing
    with pytest.raises(NotFound):
        store.blob(huge)
    with pytest.raises(NotFound):
        store.create_job(huge)
    with pytest.raises(NotFound):
        store.set_outcome(1, huge, {})
    assert (store.plan(huge), store.delete_plan(huge), store.job(huge, 1), store.user(huge)) == (None,) * 4
    assert store.jobs(huge) == [] and store.update_plan(huge, {"name": "x"}).id == huge
    with pytest.raises(InvalidInput):
        store.create_plan(1, {"name": "p", "node_id": huge})
    assert store.plans(1) == [] and store.users() == []  # nothing of the refused writes landed
