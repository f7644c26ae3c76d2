"""labctl service `prometheus`: Debian's Prometheus (and, where the host has `alertmanager_port`, Debian's
Alertmanager) as plain processes on loopback, under lab/prometheus/supervise.py.

mon-city-01: Prometheus on prometheus_port (19090) + Alertmanager on alertmanager_port (19093).
mon-province-01: Prometheus on prometheus_port (19091), which federates from the city.

Configuration lives where roles/monitoring (monitoring.yml, monitoring_config_dir) writes it:
.lab/data/<host>/etc/prometheus.yml, etc/rules/, etc/file_sd/, etc/alertmanager.yml. When none is there yet
this service writes a minimal one, so the lab starts before monitoring.yml has run; it never overwrites.
Both run with --web.enable-lifecycle, so monitoring.yml reloads them with POST /-/reload. Data (TSDB,
silences) is under .lab/data/<host>/prometheus and .../alertmanager; Alertmanager's cluster port is off.

TLS: both always start with --web.config.file (etc/web.yml, etc/alertmanager-web.yml). Until monitoring.yml
has run, this service writes them empty (an empty web config serves plain HTTP: the bootstrap, before the
service certificates and the role exist). monitoring.yml (monitoring_tls) then writes tls_server_config
with the service certificates from playbooks/service_certs.yml. Prometheus 2.42 and Alertmanager 0.25 read
the web config at start to choose HTTP or HTTPS (once on HTTPS they re-read the certificate files on every
connection), so supervise.py restarts a child whose web config changed; from then on it serves HTTPS only.
The health check follows the web config: HTTPS, trusting the CA certificates of the served certificate's
own chain (.pki/services/<name>/<name>.crt holds the leaf and the CA chain up to the root).
"""

from __future__ import annotations

import json
import re
import ssl
import sys
import urllib.request
from pathlib import Path

import yaml

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


MINIMAL_WEB = """\
# Empty web configuration written by lab/prometheus/service.py: plain HTTP until monitoring.yml (monitoring_tls)
# writes tls_server_config here; lab/prometheus/supervise.py then restarts the process, which serves HTTPS.
"""

PEM_CERT = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)


def web_tls(web_config: Path) -> dict | None:
    """The tls_server_config of a Prometheus/Alertmanager web config file, or None (plain HTTP)."""
    try:
        loaded = yaml.safe_load(web_config.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return None
    tls = loaded.get("tls_server_config") if isinstance(loaded, dict) else None
    return tls if isinstance(tls, dict) and tls.get("cert_file") else None


def chain_context(cert_file: str) -> ssl.SSLContext:
    """A client context that trusts the CA certificates of `cert_file`'s own chain (everything after the leaf)."""
    certs = PEM_CERT.findall(Path(cert_file).read_text())
    if len(certs) < 2:
        raise ValueError(f"{cert_file} holds no CA chain after the certificate; run playbooks/service_certs.yml")
    context = ssl.create_default_context(cadata="\n".join(certs[1:]))
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    return context


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
        # Where roles/monitoring writes the web configurations (templates/etc/prometheus/*web.yml.j2).
        self.web_config = {"prometheus": self.etc / "web.yml", "alertmanager": self.etc / "alertmanager-web.yml"}
        self.spec_file = self.data_dir / "supervise.json"

    # --- what runs ----------------------------------------------------------------------------------
    def children(self) -> list[dict]:
        found = [{"name": "prometheus", "argv": [
            PROMETHEUS, f"--config.file={self.etc / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.data_dir / 'prometheus'}", "--storage.tsdb.retention.time=2d",
            f"--web.listen-address={self.address}:{self.port}", "--web.enable-lifecycle",
            f"--web.config.file={self.web_config['prometheus']}",
            f"--web.external-url=https://{self.address}:{self.port}/", "--log.level=info"],
            "restart_on_change": str(self.web_config["prometheus"])}]
        if self.am_port is not None:
            found.append({"name": "alertmanager", "argv": [
                ALERTMANAGER, f"--config.file={self.etc / 'alertmanager.yml'}",
                f"--storage.path={self.data_dir / 'alertmanager'}",
                f"--web.listen-address={self.address}:{self.am_port}", "--cluster.listen-address=",
                f"--web.config.file={self.web_config['alertmanager']}",
                f"--web.external-url=https://{self.address}:{self.am_port}/", "--log.level=info"],
                "restart_on_change": str(self.web_config["alertmanager"])})
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
        for child, web_config in self.web_config.items():
            if (child == "prometheus" or self.am_port is not None) and not web_config.exists():
                web_config.write_text(MINIMAL_WEB)
        self.spec_file.write_text(json.dumps(self.children(), indent=2) + "\n")

    def command(self) -> list[str]:
        return [sys.executable, str(Path(__file__).resolve().parent / "supervise.py"), str(self.spec_file)]

    # --- health -------------------------------------------------------------------------------------
    def _ready(self, port: int, web_config: Path) -> tuple[bool, str]:
        tls = web_tls(web_config)
        url = f"{'https' if tls else 'http'}://{self.address}:{port}/-/ready"
        try:
            context = chain_context(tls["cert_file"]) if tls else None
            with urllib.request.urlopen(url, timeout=2, context=context) as response:
                return response.status == 200, f"{url} {response.status}"
        except (OSError, ValueError) as exc:
            return False, f"{url}: {exc}"

    def health(self) -> tuple[bool, str]:
        ok, detail = self._ready(self.port, self.web_config["prometheus"])
        details = [f"prometheus {detail}"]
        if self.am_port is not None:
            am_ok, am_detail = self._ready(self.am_port, self.web_config["alertmanager"])
            ok = ok and am_ok
            details.append(f"alertmanager {am_detail}")
        return ok, "; ".join(details)
