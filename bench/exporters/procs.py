"""Processes the exporters bench starts and what it measures on them: CPU seconds and RSS from /proc, and
scrape latency over HTTP the way Prometheus 2.42 asks (its Accept header, gzip)."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

TICK = os.sysconf("SC_CLK_TCK")
# What Prometheus 2.42 sends with every scrape (scrape/scrape.go).
PROMETHEUS_ACCEPT = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
                     "text/plain;version=0.0.4;q=0.5,*/*;q=0.1")


class Proc:
    """One process the bench owns: started in its own session, stopped by its pid (SIGTERM, then SIGKILL)."""

    started: ClassVar[list[Proc]] = []  # every Proc ever started, so stop_all() can end them on failure or SIGTERM

    def __init__(self, label: str, cmd: list[str], log: Path, cwd: Path) -> None:
        self.label, self.cmd, self.log, self.cwd = label, cmd, log, cwd
        self.popen: subprocess.Popen | None = None

    def start(self) -> Proc:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "wb") as out:
            self.popen = subprocess.Popen(self.cmd, cwd=self.cwd, stdout=out, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, start_new_session=True)
        Proc.started.append(self)
        self.began = time.monotonic()
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None, f"{self.label} was not started"
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def check_alive(self) -> None:
        if not self.alive():
            tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise SystemExit(f"bench: {self.label} (pid {self.pid}) exited with {self.popen.returncode}; "
                             f"see {self.log}:\n{tail}")

    def cpu(self) -> float:
        """User + system CPU seconds of the process so far (all its threads)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK

    def memory(self) -> tuple[float, float]:
        """(resident MiB now, peak resident MiB)."""
        status = dict(line.split(":", 1) for line in Path(f"/proc/{self.pid}/status").read_text().splitlines()
                      if ":" in line)
        return (int(status["VmRSS"].split()[0]) / 1024, int(status["VmHWM"].split()[0]) / 1024)

    def stop(self, grace: float = 10.0) -> None:
        if not self.alive():
            return
        try:
            os.killpg(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.popen.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(self.pid, signal.SIGKILL)
            self.popen.wait(5)


def port_in_use(host: str, port: int, udp: bool = False) -> bool:
    """TCP: something accepts connections there; UDP: the port cannot be bound."""
    if udp:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                return True
            return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def stop_all() -> None:
    for proc in reversed(Proc.started):
        try:
            proc.stop()
        except Exception as exc:  # keep stopping the others
            print(f"bench: could not stop {proc.label} (pid {proc.pid}): {exc}", flush=True)


@dataclass
class Scrape:
    seconds: float
    size: int = 0
    error: str = ""  # "" = answered 200


def scrape(host: str, port: int, path: str = "/metrics", timeout: float = 60.0, plain: bool = False) -> Scrape:
    """One GET until the whole body is in; plain=True asks for uncompressed text (status polls)."""
    headers = {} if plain else {"Accept": PROMETHEUS_ACCEPT, "Accept-Encoding": "gzip",
                                "X-Prometheus-Scrape-Timeout-Seconds": f"{timeout:g}"}
    began = time.monotonic()
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        body = response.read()
        took = time.monotonic() - began
        if response.status != 200:
            return Scrape(took, len(body), f"HTTP {response.status}")
        return Scrape(took, len(body))
    except (TimeoutError, OSError) as exc:
        return Scrape(time.monotonic() - began, 0, f"{type(exc).__name__}: {exc or 'timed out'}")
    finally:
        conn.close()


def text(host: str, port: int, path: str = "/metrics", timeout: float = 120.0) -> str:
    """The exposition as text (for checks, not for timing)."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path)
        return conn.getresponse().read().decode()
    finally:
        conn.close()


@dataclass
class Window:
    """Back-to-back scrapes of one endpoint, and the process's CPU over them."""

    scrapes: list[Scrape] = field(default_factory=list)
    elapsed: float = 0.0
    cpu: float = 0.0

    @property
    def answered(self) -> list[float]:
        return [s.seconds for s in self.scrapes if not s.error]

    @property
    def failed(self) -> int:
        return sum(1 for s in self.scrapes if s.error)


def window(proc: Proc, host: str, port: int, seconds: float, *, path: str = "/metrics", min_scrapes: int = 3,
           max_scrapes: int = 10_000, timeout: float = 60.0) -> Window:
    """Scrape back to back for `seconds` (at least min_scrapes, at most max_scrapes)."""
    out = Window()
    cpu0, began = proc.cpu(), time.monotonic()
    while len(out.scrapes) < max_scrapes and (time.monotonic() - began < seconds or len(out.scrapes) < min_scrapes):
        out.scrapes.append(scrape(host, port, path, timeout))
    out.elapsed, out.cpu = time.monotonic() - began, proc.cpu() - cpu0
    return out


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); nan for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil(n*q/100), at least 1
    return ordered[int(rank) - 1]
