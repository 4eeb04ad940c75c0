"""edgehub-agent (seed 004's /edgehub/api; gosd-platform.md part B): the cloud connection over
MQTT (WISE-PaaS/DeviceOn), the tag data it carries, and the device's local services it reports
on (AppHub, the EdgeBus broker).

Modules and what each offers the others (Services fields in parentheses):

- conncfg.py (`edgehub_config`): the connection configuration and the bootstrap tenant token,
  persisted in the agent's database, secrets masked where the seed shows them masked.
- cloud.py (`edgehub_cloud`): the MQTT client to the cloud broker (TLS, WebSocket, back-off with
  jitter, storm and revoked-certificate states, the DCCS credential exchange), `status() -> dict`
  (GET /edgehub/api/connection), `connect(config)`, `disconnect()`, `publish_data(body)` (queued
  to disk while down, delivered in order), `publish_profile(profile)`.
- local.py (`edgehub_local`): macaddr, the profile probe, AppHub and EdgeBus through systemd1 over
  D-Bus, the EdgeBus broker's `$SYS` status, PEM parsing.

May import: handlers' shared modules, handlers.host (netlink, D-Bus, the host's files) and
handlers.platform. Never handlers.engine, handlers.homeassistant, handlers.gosd, compat or
starlette; paho-mqtt only on first use.
"""
