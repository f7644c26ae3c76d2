"""labctl service `prometheus`: Debian's Prometheus (and, where the host has `alertmanager_port`, Debian's
Alertmanager) as plain processes on loopback, under lab/prometheus/supervise.py.

mon-city-01: Prometheus on prometheus_port (19090) + Alertmanager on alertmanager_port (19093).
mon-province-01: Prometheus on prometheus_port (19091), which federates from the city.

Configuration lives where roles/monitoring (monitoring.yml, monitoring_config_dir) writes it:
.lab/data/<host>/etc/prometheus.yml, etc/rules/, etc/file_sd/, etc/alertmanager.yml. When none is there yet
this service writes a minimal one, so the lab starts before monitoring.yml has run; it never overwrites.
Both run with --web.enable-lifecycle, so monitoring.yml reloads them with POST /-/reload. Data (TSDB,
silences) is under .lab/data/<host>/prometheus and .../alertmanager; Alertmanager's cluster port is off.
"""

from __future__ import annotations

import json
import sys
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import common

PROMETHEUS = "/usr/bin/prometheus"
ALERTMANAGER = "/usr/bin/prometheus-alertmanager"

MINIMAL_PROMETHEUS = """\
# Minimal start-up configuration written by lab/prometheus/service.py; monitoring.yml replaces it.
global:
  scrape_interval: 15s
  evaluation_interval: 15s
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ['{address}:{port}']
"""

MINIMAL_ALERTMANAGER = """\
# Minimal start-up configuration written by lab/prometheus/service.py; monitoring.yml replaces it.
route:
  receiver: blackhole
receivers:
  - name: blackhole
"""


class Service(common.Service):
    kind = "prometheus"
    start_timeout = 60.0

    def __init__(self, name: str, hostvars: dict, lab: common.Lab) -> None:
        super().__init__(name, hostvars, lab)
        self.address = str(hostvars.get("prometheus_address", "127.0.0.1"))
        common.require_loopback(name, self.address)
        try:
            self.port = int(hostvars["prometheus_port"])
        except (KeyError, TypeError, ValueError):
            raise common.LabError(f"{name}: prometheus_port: missing or not a number in inventory/lab/host_vars/"
                                  f"{name}.yml; add e.g. `prometheus_port: 19090`") from None
        am_port = hostvars.get("alertmanager_port")
        try:
            self.am_port = int(am_port) if am_port is not None else None
        except (TypeError, ValueError):
            raise common.LabError(f"{name}: alertmanager_port: {am_port!r} is not a number") from None
        self.etc = self.data_dir / "etc"
        self.spec_file = self.data_dir / "supervise.json"

    # --- what runs ----------------------------------------------------------------------------------
    def children(self) -> list[dict]:
        found = [{"name": "prometheus", "argv": [
            PROMETHEUS, f"--config.file={self.etc / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.data_dir / 'prometheus'}", "--storage.tsdb.retention.time=2d",
            f"--web.listen-address={self.address}:{self.port}", "--web.enable-lifecycle",
            f"--web.external-url=http://{self.address}:{self.port}/", "--log.level=info"]}]
        if self.am_port is not None:
            found.append({"name": "alertmanager", "argv": [
                ALERTMANAGER, f"--config.file={self.etc / 'alertmanager.yml'}",
                f"--storage.path={self.data_dir / 'alertmanager'}",
                f"--web.listen-address={self.address}:{self.am_port}", "--cluster.listen-address=",
                f"--web.external-url=http://{self.address}:{self.am_port}/", "--log.level=info"]})
        return found

    def build(self) -> None:
        for child in self.children():
            if not Path(child["argv"][0]).exists():
                raise common.LabError(f"{self.name}: {child['argv'][0]} is missing; apt-get install -y prometheus "
                                      "prometheus-alertmanager (lab/packages.apt)")

    def prepare(self) -> None:
        for sub in ("etc/rules", "etc/file_sd", "prometheus", "alertmanager"):
            (self.data_dir / sub).mkdir(parents=True, exist_ok=True)
        config = self.etc / "prometheus.yml"
        if not config.exists():
            config.write_text(MINIMAL_PROMETHEUS.format(address=self.address, port=self.port))
        if self.am_port is not None and not (self.etc / "alertmanager.yml").exists():
            (self.etc / "alertmanager.yml").write_text(MINIMAL_ALERTMANAGER)
        self.spec_file.write_text(json.dumps(self.children(), indent=2) + "\n")

    def command(self) -> list[str]:
        return [sys.executable, str(Path(__file__).resolve().parent / "supervise.py"), str(self.spec_file)]

    # --- health -------------------------------------------------------------------------------------
    def _ready(self, port: int) -> tuple[bool, str]:
        url = f"http://{self.address}:{port}/-/ready"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.status == 200, f"{url} {response.status}"
        except OSError as exc:
            return False, f"{url}: {exc}"

    def health(self) -> tuple[bool, str]:
        ok, detail = self._ready(self.port)
        details = [f"prometheus {detail}"]
        if self.am_port is not None:
            am_ok, am_detail = self._ready(self.am_port)
            ok = ok and am_ok
            details.append(f"alertmanager {am_detail}")
        return ok, "; ".join(details)
