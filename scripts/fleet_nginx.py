"""Debian's nginx for scripts/fleet-sim: the config it writes, start and stop by PID, the access log
and the CPU its processes used.

The config serves one URL per device, /target/<device>: the device's own file when it has one,
else its group's (try_files), as static files with nginx's own ETag ("<mtime>-<size>" in hex; weak
when gzipped, and If-None-Match still matches it), gzip for application/json, and one access-log
line per request in LOG_FORMAT. Everything (pid file, error log, temp folders) lives in the
folder given; nothing of /etc/nginx or /var/log/nginx is read or written.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from benchkit import cpu_seconds

# what one line of the access log holds, in this order (parsed by Nginx.hits)
LOG_FORMAT = "$msec $status $request_length $bytes_sent $body_bytes_sent $uri"

CONFIG = """\
# written by scripts/fleet-sim; nginx -p {dir} -c {dir}/nginx.conf -e {dir}/error.log
worker_processes auto;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
worker_rlimit_nofile 65536;
events {{
    worker_connections 16384;
}}
http {{
    types {{ application/json json; }}
    default_type application/octet-stream;
    log_format fleet '{log_format}';
    access_log {dir}/access.log fleet;
    client_body_temp_path {dir}/temp/body;
    proxy_temp_path {dir}/temp/proxy;
    fastcgi_temp_path {dir}/temp/fastcgi;
    uwsgi_temp_path {dir}/temp/uwsgi;
    scgi_temp_path {dir}/temp/scgi;
    sendfile on;
    etag on;                          # the default for static files: "<mtime>-<size>"
    gzip on;
    gzip_types application/json;      # text/html is always on the list
    gzip_vary on;                     # Vary: Accept-Encoding, for caches in front
    server {{
        listen 127.0.0.1:{port};
        root {dir}/www;
        # /target/<device>: its own document when there is one, else the group's
        location ~ ^/target/(?<device>[A-Za-z0-9_-]+)$ {{
            try_files /devices/$device.json /groups/default.json;
        }}
        location /devices/ {{ internal; }}
        location /groups/ {{ internal; }}
        location / {{ return 404; }}
    }}
}}
"""


@dataclass
class Hit:
    """One access-log line."""

    at: float          # $msec: when the response was sent (epoch seconds)
    status: int
    request: int       # $request_length: request line, headers and body
    sent: int          # $bytes_sent: response status line, headers and body
    body: int          # $body_bytes_sent
    uri: str           # after try_files: /devices/<id>.json or /groups/default.json


def binary() -> str:
    """The nginx executable, or SystemExit with what to install."""
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
    if found is None:
        raise SystemExit("scripts/fleet-sim: nginx is not installed: apt-get install nginx "
                         "(Debian's package; scripts/test installs it)")
    return found


class Nginx:
    """One nginx master and its workers, started here on 127.0.0.1 and stopped by PID."""

    def __init__(self, folder: Path, port: int) -> None:
        self.dir = folder
        self.port = port
        self.www = folder / "www"
        self.access_log = folder / "access.log"
        self.error_log = folder / "error.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def config(self) -> str:
        """The config text this instance runs with."""
        return CONFIG.format(dir=self.dir, port=self.port, log_format=LOG_FORMAT)

    def start(self, timeout: float = 15.0) -> None:
        """Write the config, start the master (daemon off: the PID is ours) and wait for the port."""
        (self.dir / "temp").mkdir(exist_ok=True)
        conf = self.dir / "nginx.conf"
        conf.write_text(self.config())
        with open(self.dir / "nginx.out", "wb") as out:
            self.proc = subprocess.Popen([binary(), "-p", str(self.dir), "-c", str(conf), "-e", str(self.error_log),
                                          "-g", "daemon off;"], stdout=out, stderr=out, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                said = (self.dir / "nginx.out").read_text() + (self.error_log.read_text()
                                                              if self.error_log.exists() else "")
                self.stop()
                raise SystemExit(f"scripts/fleet-sim: nginx did not start on 127.0.0.1:{self.port}:\n{said[-2000:]}")
            time.sleep(0.02)

    def stop(self) -> None:
        """SIGQUIT (graceful), then SIGKILL after 10 s; the workers leave with their master."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def pids(self) -> list[int]:
        """The master and its workers."""
        if self.proc is None:
            return []
        master = self.proc.pid
        found = [master]
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == master:
                    found.append(int(entry.name))
        return found

    def cpu(self) -> tuple[float, float]:
        """CPU seconds of master + workers: (utime+stime from /proc/PID/stat, 10 ms ticks;
        time on CPU from /proc/PID/schedstat, ns, or -1 without it)."""
        seconds = 0.0
        on_cpu: int | None = 0
        for pid in self.pids():
            try:
                seconds += cpu_seconds(pid)
            except (OSError, ValueError, IndexError):
                continue  # a worker gone meanwhile
            try:
                nanoseconds = int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])
            except (OSError, ValueError, IndexError):
                on_cpu = None  # a kernel without schedstat
                continue
            on_cpu = None if on_cpu is None else on_cpu + nanoseconds
        return seconds, -1.0 if on_cpu is None else on_cpu / 1e9

    def hits(self) -> list[Hit]:
        """Every line of the access log so far."""
        found: list[Hit] = []
        if not self.access_log.exists():
            return found
        for line in self.access_log.read_text().splitlines():
            parts = line.split()
            if len(parts) == 6:
                found.append(Hit(float(parts[0]), int(parts[1]), int(parts[2]), int(parts[3]), int(parts[4]),
                                 parts[5]))
        return found


def loopback() -> tuple[int, int]:
    """(bytes, packets) the loopback interface carried (/proc/net/dev, transmit side: each packet
    is counted once; IP header and payload, no link-layer header)."""
    for line in Path("/proc/net/dev").read_text().splitlines():
        name, _, numbers = line.partition(":")
        if name.strip() == "lo":
            values = numbers.split()
            return int(values[8]), int(values[9])
    return 0, 0
