"""monitoring.yml against the lab's monitoring hosts, real Debian 12 machines with systemd (lab/nspawn) reached
over SSH: the exporters run as systemd units from the installed wheel, each as its own user that reads its
own key and no other; Prometheus and Alertmanager are Debian's units; the city Prometheus scrapes every
exporter, a second run changes nothing, a configuration that does not validate never replaces the running
one, the province Prometheus federates the city's series, and the alerting pipeline reaches the on-call
sink."""

from __future__ import annotations

import json
import re
import shlex
import ssl
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable

import pytest
from vcsim_fixtures import LAB_STATE, ROOT, labctl, run_playbook

CITY = "https://127.0.0.1:19090"       # inventory/lab/host_vars/mon-city-01.yml prometheus_port
PROVINCE = "https://127.0.0.1:19091"   # mon-province-01
EXPORTER_JOBS = {"jinbao-backup", "jinbao-replication", "jinbao-environment", "jinbao-pki"}
ONCALL_ALERTS = LAB_STATE / "data" / "oncall-sink" / "alerts.jsonl"
# The monitoring hosts' sshd (inventory/lab/host_vars/mon-*.yml ansible_port), reached as the playbooks do.
SSH_PORTS = {"mon-city-01": 12201, "mon-province-01": 12202}
EXPORTERS = ("backup", "replication", "environment", "pki")
TLS_DIR = "/etc/jinbao-monitoring/tls"  # roles/monitoring monitoring_tls_dir
PEM_CERT = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)


def _context() -> ssl.SSLContext:
    """Trust the CA chain of the service certificates (what the role writes to monitoring_tls_ca_file)."""
    certs = PEM_CERT.findall((ROOT / ".pki" / "services" / "prometheus" / "prometheus.crt").read_text())
    return ssl.create_default_context(cadata="\n".join(certs[1:]))


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, context=_context(), timeout=5) as response:
        return json.loads(response.read())


def _ssh(host: str, *command: str) -> subprocess.CompletedProcess:
    """Run a command on a monitoring host over SSH with the lab's key and strict host key checking."""
    return subprocess.run(["ssh", "-p", str(SSH_PORTS[host]), "-i", str(LAB_STATE / "ssh" / "id_ed25519"),
                           "-o", f"UserKnownHostsFile={LAB_STATE / 'ssh' / 'known_hosts'}",
                           "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "root@127.0.0.1",
                           shlex.join(command)],
                          capture_output=True, text=True, timeout=60)


def _query(base: str, promql: str) -> list[dict]:
    return _get(f"{base}/api/v1/query?{urllib.parse.urlencode({'query': promql})}")["data"]["result"]


def _eventually(check: Callable[[], object], timeout: float = 45, what: str = "") -> object:
    """check() until it returns something truthy; the test fails with `what` and the last value otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert value, f"{what}: still not true after {timeout:.0f}s (last: {value!r})"
    return value


@pytest.fixture(scope="module")
def first_run(lab_operator: str, service_certs: None):
    labctl("up", "--only", "nspawn", "oncall-sink")
    run = run_playbook("monitoring.yml", operator=lab_operator)
    assert run.returncode == 0, run.output[-4000:]
    return run


def test_the_exporters_prometheus_and_alertmanager_run_as_systemd_units(first_run) -> None:
    units = ["prometheus", "prometheus-alertmanager", *(f"jinbao-exporter-{e}" for e in EXPORTERS)]
    active = _ssh("mon-city-01", "systemctl", "is-active", *units)
    assert active.stdout.split() == ["active"] * len(units), dict(zip(units, active.stdout.split(), strict=False))
    assert _ssh("mon-city-01", "cat", "/proc/1/comm").stdout.strip() == "systemd"
    assert _ssh("mon-province-01", "systemctl", "is-active", "prometheus").stdout.strip() == "active"
    # Each exporter is the installed console script, run as its own user.
    for exporter in EXPORTERS:
        show = _ssh("mon-city-01", "systemctl", "show", f"jinbao-exporter-{exporter}", "-p", "User", "-p", "ExecStart")
        assert f"User=jinbao-exporter-{exporter}" in show.stdout
        assert f"/opt/jinbao-monitors/bin/jinbao-{exporter}-exporter" in show.stdout
    # Debian's units get their web configuration through /etc/default.
    for unit, web in (("prometheus", "web.yml"), ("prometheus-alertmanager", "alertmanager-web.yml")):
        assert f"--web.config.file=/etc/prometheus/{web}" in _ssh("mon-city-01", "cat", f"/etc/default/{unit}").stdout


def test_each_key_is_readable_by_its_own_service_only(first_run) -> None:
    modes = _ssh("mon-city-01", "stat", "-c", "%n %a %U %G", *(f"{TLS_DIR}/exporter-{e}.key" for e in EXPORTERS),
                 f"{TLS_DIR}/prometheus.key", f"{TLS_DIR}/alertmanager.key").stdout.splitlines()
    expected = [f"{TLS_DIR}/exporter-{e}.key 640 root jinbao-exporter-{e}" for e in EXPORTERS]
    expected += [f"{TLS_DIR}/prometheus.key 640 root prometheus", f"{TLS_DIR}/alertmanager.key 640 root prometheus"]
    assert modes == expected
    for exporter in EXPORTERS:
        user = f"jinbao-exporter-{exporter}"
        own = _ssh("mon-city-01", "runuser", "-u", user, "--", "cat", f"{TLS_DIR}/exporter-{exporter}.key")
        assert own.returncode == 0 and "PRIVATE KEY" in own.stdout, f"{user} cannot read its own key: {own.stderr}"
        others = [f"exporter-{e}" for e in EXPORTERS if e != exporter] + ["prometheus", "alertmanager"]
        for other in others:
            denied = _ssh("mon-city-01", "runuser", "-u", user, "--", "cat", f"{TLS_DIR}/{other}.key")
            assert denied.returncode != 0 and "Permission denied" in denied.stderr, f"{user} read {other}.key"
    # A credential is its exporter's alone too (0400): the backup exporter cannot read the PostgreSQL passfile.
    denied = _ssh("mon-city-01", "runuser", "-u", "jinbao-exporter-backup", "--", "cat",
                  "/etc/jinbao-exporters/credentials/replication/pg-monitor.pgpass")
    assert denied.returncode != 0 and "Permission denied" in denied.stderr


def test_the_city_prometheus_scrapes_every_exporter(first_run) -> None:
    def healthy_jobs() -> set[str]:
        targets = _get(f"{CITY}/api/v1/targets")["data"]["activeTargets"]
        return {t["labels"]["job"] for t in targets if t["health"] == "up"} & EXPORTER_JOBS

    _eventually(lambda: healthy_jobs() == EXPORTER_JOBS, what=f"exporter jobs up on {CITY}")
    rules = {r["name"] for g in _get(f"{CITY}/api/v1/rules")["data"]["groups"] for r in g["rules"]}
    assert {"BackupStale", "RPOBreached", "Watchdog", "jinbao:system_rpo_seconds"} <= rules


def test_only_prometheus_may_scrape_an_exporter_and_an_operators_certificate_is_refused(
        first_run, lab_operator: str) -> None:
    """The city CA issues every operator's and service's certificate; an exporter serves only Prometheus'."""
    def scrape(identity: str) -> int:
        context = _context()
        context.load_cert_chain(str(ROOT / ".pki" / identity / f"{identity.rsplit('/', 1)[1]}.crt"),
                                str(ROOT / ".pki" / identity / f"{identity.rsplit('/', 1)[1]}.key"))
        try:
            with urllib.request.urlopen("https://127.0.0.1:19101/metrics", context=context, timeout=10) as answer:
                return answer.status
        except urllib.error.HTTPError as exc:
            return exc.code

    assert scrape("services/prometheus") == 200
    assert scrape(f"operators/{lab_operator}") == 403
    assert scrape("services/alertmanager") == 403
    log = _ssh("mon-city-01", "journalctl", "-u", "jinbao-exporter-backup.service", "-n", "50", "-o", "cat")
    assert f"{lab_operator}." in log.stdout and "not in tls.allowed_client_names" in log.stdout


def test_a_second_run_changes_nothing(first_run, lab_operator: str) -> None:
    run = run_playbook("monitoring.yml", operator=lab_operator)
    assert run.returncode == 0, run.output[-4000:]
    for host in ("mon-city-01", "mon-province-01"):
        assert run.recap(host)["changed"] == 0, f"{host} changed on the second run:\n{run.output[-4000:]}"


def test_an_alertmanager_config_that_does_not_validate_never_replaces_the_running_one(
        first_run, lab_operator: str) -> None:
    def running() -> str:
        return _ssh("mon-city-01", "sha256sum", "/etc/prometheus/alertmanager.yml").stdout

    before = running()
    assert before, "no /etc/prometheus/alertmanager.yml on mon-city-01"
    run = run_playbook("monitoring.yml",
                       "-e", "monitoring_alertmanager_group_wait=not-a-duration", "--limit", "vault,mon-city-01")
    assert run.returncode != 0, "amtool should have refused group_wait: not-a-duration"
    assert "failed to validate" in run.output
    assert running() == before


def test_the_province_prometheus_federates_the_city_series(first_run) -> None:
    series = _eventually(lambda: _query(PROVINCE, 'up{job="jinbao-backup",tier="city"}'),
                         what=f"federated up of jinbao-backup on {PROVINCE}")
    assert series[0]["metric"]["prometheus"] == "mon-city-01"
    _eventually(lambda: _query(PROVINCE, 'jinbao:system_rpo_seconds{system="basic-info"}'),
                what="federated recording rule jinbao:system_rpo_seconds")
    _eventually(lambda: _query(PROVINCE, 'ALERTS{alertname="Watchdog",tier="city"}'), what="federated ALERTS")


def test_the_watchdog_reaches_the_oncall_sink_on_its_own_path(first_run) -> None:
    def watchdog_paths() -> list[str]:
        if not ONCALL_ALERTS.exists():
            return []
        records = [json.loads(line) for line in ONCALL_ALERTS.read_text().splitlines() if line.strip()]
        return [r["path"] for r in records
                if any(a["labels"].get("alertname") == "Watchdog" for a in r["body"].get("alerts", []))]

    paths = _eventually(watchdog_paths, timeout=60, what=f"a Watchdog notification in {ONCALL_ALERTS}")
    assert set(paths) == {"/watchdog"}
