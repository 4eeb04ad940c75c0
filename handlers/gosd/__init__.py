"""gosd, the job scheduler (sb-im/gosd v2.2.0; gosd-platform.md part A): users and tokens,
blobs, plans and their jobs in a database (SQLite in the data folder, PostgreSQL when
DATABASE_URL names one), and one worker that runs each job's Lua script, which drives nodes
with JSON-RPC 2.0 over MQTT v5 (an existing broker, never one of our own).

Modules and what each offers the others (Services fields in parentheses):

- store.py (`gosd_store`): `GosdStore.open(url, data_dir)`;
  users: `add_user(username, password) -> User`, `users() -> list[User]`, `find_user(username)`,
  `update_user(username, password=None, ...)`, `login(username, password) -> User` (gosd's
  errors: NotFound-like "Not user found", the bcrypt message, "user already locked" after
  more than 5 failures in an hour); tokens: `issue_token(user) -> Token(access_token,
  token_type, expires_in, created_at)`, `user_for_token(token) -> User | None` (expired: None);
  blobs: `create_blob(filename, content) -> int`, `blob(id) -> Blob(id, filename, content,
  checksum)` / NotFound, `replace_blob(id, filename, content) -> Blob`;
  plans: `plans(group_id) -> list[Plan]`, `create_plan(group_id, fields) -> Plan`,
  `plan(id) -> Plan | None`, `update_plan(id, fields) -> Plan`, `delete_plan(id) -> Plan | None`;
  jobs: `create_job(plan_id, files, extra) -> Job` (per-plan job_id counter), `jobs(plan_id)`,
  `job(plan_id, job_id)`, `update_job(plan_id, job_id, files=None, extra=None)`,
  `set_outcome(plan_id, job_id, outcome: dict)`.
  User(id, username, language, timezone, last_login_at, group: Group(id, name, extra), extra);
  Plan(id, name, description, node_id, files: dict|None, extra: dict|None);
  Job(id, job_id, plan_id, files, extra, created_at, updated_at, outcome: dict|None).
- mqtt.py, rpc.py, nodes.py (`gosd_nodes`): the MQTT v5 client (MQTT_URL), node status/network/
  messages as the broker reports them, JSON-RPC calls to `nodes/<id>/rpc/send|recv`.
- runner.py (`gosd_runner`): `Runner.submit(plan, job)`; `running(plan_id) -> dict` (the
  `running` document, `{}` when idle); `cancel(plan_id)` (cooperative: every pending wait fails
  with "Be killed"); one worker, jobs strictly in order, each job's Lua script (lupa).

May import: handlers' shared modules (errors, jsvalues, redact). Never handlers.engine,
handlers.homeassistant, compat or starlette; bcrypt, psycopg and lupa only on first use.
"""
