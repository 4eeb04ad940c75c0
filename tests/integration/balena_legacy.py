"""A device as the balena supervisor v10 left it: its database and its containers.

The schema below is the state knex's migrations leave in database.sqlite, written from reading
balena-supervisor v10.0.0's src/migrations (20171129013519_legacy ... M00004) with knex 0.15's
SQLite column types. The containers are made with the create body v10's Service.toDockerContainer
sent (src/compose/service.ts, fromComposeObject's defaults, compose/utils.ts), networks and
volumes with those of compose/network.ts and volume.ts: what the engine then reports about them
is what the agent must take as matching its target.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

V10_MIGRATIONS = (
    "20171129013519_legacy.js", "20171129064057_multicontainer.js", "20171214172530_image_docker_id.js",
    "20180516164000-endpoint-specific-apps.js", "20181907164000-endpoint-specific-logschannel.js",
    "20190619152500-engine-snapshot.js", "M00000.js", "M00001.js", "M00002.js", "M00003.js", "M00004.js",
)

SCHEMA = """
CREATE TABLE `knex_migrations` (`id` integer not null primary key autoincrement, `name` varchar(255),
  `batch` integer, `migration_time` datetime);
CREATE TABLE `knex_migrations_lock` (`index` integer not null primary key autoincrement, `is_locked` integer);
CREATE TABLE `config` (`key` varchar(255), `value` varchar(255), primary key (`key`));
CREATE TABLE `image` (`id` integer not null primary key autoincrement, `name` varchar(255), `appId` integer,
  `serviceId` integer, `serviceName` varchar(255), `imageId` integer, `releaseId` integer, `dependent` boolean,
  `dockerImageId` varchar(255));
CREATE TABLE `app` (`id` integer not null primary key autoincrement, `name` varchar(255), `releaseId` integer,
  `commit` varchar(255), `appId` integer, `services` json, `networks` json, `volumes` json, `source` varchar(255));
CREATE TABLE `deviceConfig` (`targetValues` json);
CREATE TABLE `dependentApp` (`id` integer not null primary key autoincrement, `appId` integer, `parentApp` integer,
  `name` varchar(255), `commit` varchar(255), `releaseId` integer, `imageId` integer, `image` varchar(255),
  `environment` json, `config` json);
CREATE TABLE `dependentAppTarget` (`id` integer not null primary key autoincrement, `appId` integer,
  `parentApp` integer, `name` varchar(255), `commit` varchar(255), `releaseId` integer, `imageId` integer,
  `image` varchar(255), `environment` json, `config` json);
CREATE TABLE `dependentDevice` (`id` integer not null primary key autoincrement, `uuid` varchar(255),
  `appId` integer, `localId` varchar(255), `device_type` varchar(255), `logs_channel` varchar(255),
  `deviceId` integer, `is_online` boolean, `name` varchar(255), `status` varchar(255),
  `download_progress` varchar(255), `is_managed_by` integer, `lock_expiry_date` datetime, `commit` varchar(255),
  `targetCommit` varchar(255), `environment` json, `targetEnvironment` json, `config` json,
  `targetConfig` json, `markedForDeletion` boolean);
CREATE TABLE `dependentDeviceTarget` (`id` integer not null primary key autoincrement, `uuid` varchar(255),
  `name` varchar(255), `apps` json);
CREATE TABLE `logsChannelSecret` (`backend` varchar(255), `secret` varchar(255));
CREATE TABLE `engineSnapshot` (`snapshot` varchar(255), `timestamp` varchar(255));
CREATE TABLE `containerLogs` (`containerId` varchar(255), `lastSentTimestamp` integer);
"""

API_SECRET = "3f6b0c2e9d41a87755e0b1c94d2f6a3e8b7c5d1f0a9e2b4c6d8f1a3c5e7b9d"  # 62 hex, as generateUniqueKey
UUID = "8d3bb6f0c1a24e7f9b5d0c3a2e1f4b6d"
NAME = "brave-fog"
APP_ID, RELEASE, COMMIT = 1011, 7, "4f0c1e2d3b"
CLOUD = "https://api.balena-cloud.com"
COMMAND = ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
OS_VERSION = "balenaOS 2.38.0+rev1"  # the tests' host root's PRETTY_NAME
DEVICE_TYPE = "raspberrypi3"


def services(image: str) -> list[dict[str, Any]]:
    """The local target's three services as v10 stored them (normaliseAppForDB: ids merged in)."""
    common = {"appId": APP_ID, "releaseId": RELEASE, "commit": COMMIT, "image": image, "running": True,
              "command": COMMAND}
    return [
        {**common, "serviceId": 21, "serviceName": "db", "imageId": 31, "environment": {"MODE": "primary"},
         "labels": {"io.resin.features.dbus": "1"}, "volumes": ["data:/data"]},
        {**common, "serviceId": 22, "serviceName": "web", "imageId": 32, "environment": {},
         "labels": {"io.balena.update.strategy": "kill-then-download"}, "depends_on": ["db"],
         "restart": "unless-stopped"},
        {**common, "serviceId": 23, "serviceName": "monitor", "imageId": 33, "environment": {"LEVEL": "2"},
         "labels": {}, "network_mode": "host", "expose": ["9100"]},
    ]


def make_database(folder: Path, image: str, docker_image_id: str,
                  migrations: tuple[str, ...] = V10_MIGRATIONS) -> Path:
    """database.sqlite of a v10 device in local mode (with the cloud target it had before)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "database.sqlite"
    db = sqlite3.connect(path)
    db.executescript(SCHEMA)
    when = 1561000000000
    db.executemany("INSERT INTO knex_migrations(name, batch, migration_time) VALUES(?,?,?)",
                   [(name, 1, when + i) for i, name in enumerate(migrations)])
    db.execute("INSERT INTO knex_migrations_lock(is_locked) VALUES(0)")
    db.executemany("INSERT INTO config(key, value) VALUES(?,?)", [
        ("localMode", "true"), ("apiSecret", API_SECRET), ("name", NAME), ("initialConfigReported", CLOUD),
        ("initialConfigSaved", "true"), ("containersNormalised", "true"), ("targetStateSet", "true"),
        ("currentCommit", COMMIT), ("loggingEnabled", "true"), ("connectivityCheckEnabled", "false"),
        ("instantUpdates", "true"), ("delta", "false"), ("pinDevice", "null")])
    db.execute("INSERT INTO deviceConfig(targetValues) VALUES(?)", (json.dumps({
        "SUPERVISOR_LOCAL_MODE": "1", "SUPERVISOR_POLL_INTERVAL": "900000", "SUPERVISOR_VPN_CONTROL": "true",
        "SUPERVISOR_CONNECTIVITY_CHECK": "false", "SUPERVISOR_LOG_CONTROL": "true", "SUPERVISOR_DELTA": "false",
        "SUPERVISOR_DELTA_APPLY_TIMEOUT": "0", "SUPERVISOR_INSTANT_UPDATE_TRIGGER": "true"}),))
    app = "INSERT INTO app(name, releaseId, `commit`, appId, services, networks, volumes, source) VALUES(?,?,?,?,?,?,?,?)"
    db.execute(app, ("dashboard", RELEASE, COMMIT, APP_ID, json.dumps(services(image)), "{}",
                     json.dumps({"data": {}}), "local"))
    cloud = [{"serviceId": 5, "serviceName": "main", "imageId": 9, "image": "registry2.balena-cloud.com/v2/abc@sha256:"
              + "0" * 64, "environment": {}, "labels": {}, "running": True, "appId": 77, "releaseId": 3}]
    db.execute(app, ("fleet-app", 3, "0a1b2c", 77, json.dumps(cloud), "{}", "{}", CLOUD))
    db.executemany("INSERT INTO image(name, appId, serviceId, serviceName, imageId, releaseId, dependent, "
                   "dockerImageId) VALUES(?,?,?,?,?,?,?,?)",
                   [(image, APP_ID, 21, "db", 31, RELEASE, 0, docker_image_id),
                    (image, APP_ID, 22, "web", 32, RELEASE, 0, docker_image_id),
                    (image, APP_ID, 23, "monitor", 33, RELEASE, 0, docker_image_id)])
    db.execute("INSERT INTO logsChannelSecret(backend, secret) VALUES(?, NULL)", (CLOUD,))
    db.execute("INSERT INTO engineSnapshot(snapshot, timestamp) VALUES(?,?)", (json.dumps(
        {"containers": [], "images": [docker_image_id], "volumes": [], "networks": []}), "2019-07-01T10:00:00.000Z"))
    db.executemany("INSERT INTO containerLogs(containerId, lastSentTimestamp) VALUES(?,?)",
                   [("a" * 64, 1561000100000), ("b" * 64, 1561000200000)])
    db.commit()
    db.close()
    return path


def config_json() -> dict[str, Any]:
    """The boot partition's config.json of that device (where v10 read uuid and deviceType)."""
    return {"applicationName": "fleet-app", "applicationId": 77, "deviceType": DEVICE_TYPE, "uuid": UUID,
            "apiEndpoint": CLOUD, "listenPort": 48484, "persistentLogging": False}


def _env(service: dict[str, Any], app_name: str, image_env: list[str]) -> list[str]:
    """extendEnvVars: the user's, then the supervisor's defaults, then the image's; the two
    *_DEVICE_NAME_AT_INIT first (toDockerContainer)."""
    env = {"RESIN_DEVICE_NAME_AT_INIT": NAME, "BALENA_DEVICE_NAME_AT_INIT": NAME}
    own = dict(service["environment"])
    for ns in ("BALENA", "RESIN"):
        for key, value in (("APP_ID", str(APP_ID)), ("APP_NAME", app_name), ("SERVICE_NAME", service["serviceName"]),
                           ("DEVICE_UUID", UUID), ("DEVICE_TYPE", DEVICE_TYPE), ("HOST_OS_VERSION", OS_VERSION),
                           ("SUPERVISOR_VERSION", "10.0.3"), ("APP_LOCK_PATH", "/tmp/balena/updates.lock")):
            own.setdefault(f"{ns}_{key}", value)
        own.setdefault(ns, "1")
    own.setdefault("RESIN_SERVICE_KILL_ME_PATH", "/tmp/balena/handover-complete")
    own.setdefault("BALENA_SERVICE_HANDOVER_COMPLETE_PATH", "/tmp/balena/handover-complete")
    own.setdefault("USER", "root")
    for item in image_env:
        key, _, value = item.partition("=")
        own.setdefault(key, value)
    env.update(own)
    return [f"{k}={v}" for k, v in env.items()]


def _labels(service: dict[str, Any]) -> dict[str, str]:
    """extendLabels + normalizeLabels: io.resin.* become io.balena.*."""
    labels = {"io.balena.supervised": "true", "io.balena.app-id": str(APP_ID),
              "io.balena.service-id": str(service["serviceId"]), "io.balena.service-name": service["serviceName"]}
    for key, value in service["labels"].items():
        labels[key.replace("io.resin.", "io.balena.")] = value
    return labels


def create_body(service: dict[str, Any], image: dict[str, Any], root: Path) -> dict[str, Any]:
    """The POST /containers/create body v10 sent for a stored service (no healthcheck, entrypoint,
    working dir or user in the compose file or the image: fromComposeObject's defaults)."""
    name, lock = service["serviceName"], f"{root}/tmp/balena-supervisor/services/{APP_ID}/{service['serviceName']}"
    host = service.get("network_mode") == "host"
    binds = [f"{APP_ID}_{v.split(':', 1)[0]}:{v.split(':', 1)[1]}" for v in service.get("volumes", [])]
    binds += [f"{lock}:/tmp/resin", f"{lock}:/tmp/balena"]
    if service["labels"].get("io.resin.features.dbus"):
        binds.append(f"{root}/run/dbus:/host/run/dbus")
    # the default network, or host networking with the host's name (fromComposeObject: hostnameOnHost)
    network = "host" if host else f"{APP_ID}_default"
    endpoints = {} if host else {network: {"IPAMConfig": {}, "Aliases": [name]}}
    hostname = (root / "etc/hostname").read_text().strip() if host else ""
    return {
        "Tty": True, "Cmd": service["command"], "Volumes": {}, "Entrypoint": image["Config"].get("Entrypoint") or "",
        "Env": _env(service, "dashboard", image["Config"].get("Env") or []),
        "ExposedPorts": {f"{port}/tcp": {} for port in service.get("expose", [])},
        "Image": image["Id"], "Labels": _labels(service), "NetworkingConfig": {"EndpointsConfig": endpoints},
        "StopSignal": "SIGTERM", "Domainname": "", "Hostname": hostname, "MacAddress": "", "User": "",
        "WorkingDir": "",
        "HostConfig": {
            "CapAdd": [], "CapDrop": [], "Binds": binds, "CgroupParent": "", "Devices": [], "Dns": [],
            "DnsOptions": [], "DnsSearch": [], "PortBindings": {}, "ExtraHosts": [], "GroupAdd": [],
            "NetworkMode": network, "PidMode": "", "PidsLimit": 0, "SecurityOpt": [], "Sysctls": {},
            "Ulimits": [], "RestartPolicy": {"Name": service.get("restart", "always"), "MaximumRetryCount": 0}, "CpuShares": 0,
            "CpuQuota": 0, "CpusetCpus": "", "Memory": 0, "MemoryReservation": 0, "OomKillDisable": False,
            "OomScoreAdj": 0, "Privileged": False, "ReadonlyRootfs": False, "ShmSize": 64 * 1024 * 1024,
            "Tmpfs": {}, "UsernsMode": "", "NanoCpus": 0, "IpcMode": "shareable"},
        "Healthcheck": {"Test": ["NONE"]},
        "StopTimeout": 10,
    }


def run_like_v10(client: Any, image_name: str, root: Path) -> list[str]:
    """The network, volume and running containers v10 made for the local target; their ids."""
    client.api.create_network(f"{APP_ID}_default", driver="bridge", check_duplicate=True,
                              ipam={"Driver": "default", "Config": []}, enable_ipv6=False, internal=False,
                              labels={"io.balena.supervised": "true"})
    client.api.create_volume(f"{APP_ID}_data", labels={"io.balena.supervised": "true"}, driver_opts={})
    image = client.api.inspect_image(image_name)
    ids = []
    for service in services(image_name):
        for sub in ("tmp/balena-supervisor/services",):
            (root / sub / str(APP_ID) / service["serviceName"]).mkdir(parents=True, exist_ok=True)
        body = create_body(service, image, root)
        name = f"{service['serviceName']}_{service['imageId']}_{service['releaseId']}"
        made = client.api._result(client.api._post_json(client.api._url("/containers/create"), data=body,
                                                        params={"name": name}), True)
        client.api.start(made["Id"])
        ids.append(str(made["Id"]))
    return ids
