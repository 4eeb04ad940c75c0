"""dockerd's own floor for scripts/bench-engine: the agent's containers made and replaced by the
docker CLI, N commands launched at once (see that script's docstring, part (b))."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from integration.components import Dockerd

from handlers.engine.current import container_from


def agent_containers(client: Any) -> list[dict[str, Any]]:
    """The inspects of the agent's containers (what the floor recreates), by name."""
    found = [client.api.inspect_container(c["Id"])
             for c in client.api.containers(all=True, filters={"label": "io.balena.supervised"})]
    return sorted(found, key=lambda a: str(a["Name"]))


def run_argv(attrs: dict[str, Any]) -> list[str]:
    """`docker run -d` arguments making the container an inspect describes (the agent's)."""
    config, host = attrs["Config"], attrs["HostConfig"]
    argv = ["run", "-d", "--name", str(attrs["Name"]).lstrip("/")]
    for item in config.get("Env") or []:
        argv += ["-e", item]
    for key, value in (config.get("Labels") or {}).items():
        argv += ["-l", f"{key}={value}"]
    if config.get("Tty"):
        argv.append("-t")
    if config.get("StopTimeout") is not None:
        argv += ["--stop-timeout", str(config["StopTimeout"])]
    policy = host.get("RestartPolicy") or {}
    if policy.get("Name"):
        retries = policy.get("MaximumRetryCount")
        argv += ["--restart", policy["Name"] + (f":{retries}" if policy["Name"] == "on-failure" and retries else "")]
    for bind in host.get("Binds") or []:
        argv += ["-v", bind]
    mode = host.get("NetworkMode") or ""
    if mode:
        argv += ["--network", mode]
    endpoint = ((attrs.get("NetworkSettings") or {}).get("Networks") or {}).get(mode) or {}
    for alias in endpoint.get("Aliases") or []:
        if not str(attrs["Id"]).startswith(alias):  # the engine's own short-id alias
            argv += ["--network-alias", alias]
    if host.get("ShmSize"):
        argv += ["--shm-size", f"{host['ShmSize']}b"]
    if host.get("IpcMode"):
        argv += ["--ipc", host["IpcMode"]]
    if host.get("Privileged"):
        argv.append("--privileged")
    if config.get("Entrypoint"):
        argv += ["--entrypoint", config["Entrypoint"][0]]  # one word: enough for what the bench runs
    return argv + [config["Image"], *(config.get("Cmd") or [])]


def create_body(attrs: dict[str, Any]) -> dict[str, Any]:
    """The Engine API's create body for the container an inspect describes (what run_argv says)."""
    config, host = attrs["Config"], attrs["HostConfig"]
    body = {k: config[k] for k in ("Image", "Cmd", "Entrypoint", "Env", "Labels", "Tty", "StopTimeout")
            if config.get(k) is not None}
    body["HostConfig"] = {k: host[k] for k in ("Binds", "NetworkMode", "RestartPolicy", "ShmSize", "IpcMode",
                                               "Privileged") if host.get(k)}
    mode = host.get("NetworkMode") or ""
    endpoint = ((attrs.get("NetworkSettings") or {}).get("Networks") or {}).get(mode) or {}
    aliases = [a for a in endpoint.get("Aliases") or [] if not str(attrs["Id"]).startswith(a)]
    if aliases:
        body["NetworkingConfig"] = {"EndpointsConfig": {mode: {"Aliases": aliases}}}
    return body


class Cli:
    """The floor's actions as docker CLI commands (one process each)."""

    def __init__(self, daemon: Dockerd) -> None:
        self.env = {**os.environ, "DOCKER_HOST": daemon.host}

    def _docker(self, *args: str) -> None:
        done = subprocess.run(["docker", *args], check=False, env=self.env, capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"docker {args[0]}: {done.stderr.strip()}")

    def network(self, name: str) -> None:
        self._docker("network", "create", "--label", "io.balena.supervised=true", name)

    def run(self, attrs: dict[str, Any]) -> None:
        self._docker(*run_argv(attrs))

    def stop(self, name: str, grace: int) -> None:
        self._docker("stop", "-t", str(grace), name)

    def remove(self, name: str) -> None:
        self._docker("rm", "-v", name)


class Api:
    """The same actions as Engine API calls through the docker SDK (no CLI process to start)."""

    def __init__(self, client: Any) -> None:
        self.api = client.api

    def network(self, name: str) -> None:
        self.api.create_network(name, driver="bridge", labels={"io.balena.supervised": "true"})

    def run(self, attrs: dict[str, Any]) -> None:
        created = self.api.create_container_from_config(create_body(attrs), str(attrs["Name"]).lstrip("/"))
        self.api.start(created["Id"])

    def stop(self, name: str, grace: int) -> None:
        self.api.stop(name, timeout=grace)

    def remove(self, name: str) -> None:
        self.api.remove_container(name, v=True)


def in_parallel(chains: list[list[Callable[[], None]]]) -> float:
    """Run each chain of actions in its own thread, all launched at once: seconds until the last
    one ended."""
    errors: list[str] = []

    def run(chain: list[Callable[[], None]]) -> None:
        try:
            for action in chain:
                action()
        except Exception as err:  # noqa: BLE001 - reported after the join
            errors.append(str(err))

    threads = [threading.Thread(target=run, args=(chain,)) for chain in chains]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - start
    if errors:
        raise RuntimeError("; ".join(errors))
    return elapsed


def same_form(made: list[dict[str, Any]], agent: list[dict[str, Any]]) -> bool:
    """True when the floor's containers are what the agent made (the reconciler's own comparison)."""
    def form(attrs: dict[str, Any]) -> Any:
        found = container_from(attrs)
        return found.form if found else None
    forms = [form(a) for a in made]
    return None not in forms and len(made) == len(agent) and forms == [form(a) for a in agent]


def bench_floor(tool: Cli | Api, client: Any, first: list[dict[str, Any]],
                second: list[dict[str, Any]]) -> dict[str, Any]:
    """dockerd's floor: the agent's N containers made by N `docker run -d` (or create + start) at
    once, then replaced by N parallel chains of stop, rm and run (the new release). The converge's
    clock includes the creation of the app's network (before the runs, as any client must)."""
    start = time.monotonic()
    networks = {(a["HostConfig"].get("NetworkMode") or "") for a in first}
    for name in sorted(n for n in networks if n and n not in ("bridge", "host", "none")):
        tool.network(name)
    in_parallel([[partial(tool.run, a)] for a in first])
    install = time.monotonic() - start
    same = same_form(agent_containers(client), first)
    service = "io.balena.service-name"
    news = {a["Config"]["Labels"][service]: a for a in second}
    chains: list[list[Callable[[], None]]] = []
    for old in first:
        name = str(old["Name"]).lstrip("/")
        chains.append([partial(tool.stop, name, int(old["Config"].get("StopTimeout") or 10)),
                       partial(tool.remove, name), partial(tool.run, news[old["Config"]["Labels"][service]])])
    update = in_parallel(chains)
    same = same and same_form(agent_containers(client), second)
    return {"install": install, "update": update, "same": same}
