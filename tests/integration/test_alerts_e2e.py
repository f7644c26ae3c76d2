"""Issue 6 end to end, against the lab's real Prometheus and Alertmanager: each injected fault (a failed restic
backup, the standby's WAL receiver stopped, a stalled feed, a room sensor in alarm) pages the on-call receiver
its severity and zone route to, and the notification carries the alert's runbook URL.

The rules' `for:` durations (up to 10 min) are cut to 10 s for this run with the role's lab/test knob
`monitoring_alert_for_cap`; the real rules are put back at the end. The faults are injected together (each alert
is told apart by its labels) and healed in a finalizer, whatever the tests did.
"""

from __future__ import annotations

import json
import re
import ssl
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from vcsim_fixtures import LAB_STATE, ROOT, VENV_BIN, labctl, run_playbook

CITY = "https://127.0.0.1:19090"  # inventory/lab/host_vars/mon-city-01.yml prometheus_port
ONCALL_ALERTS = LAB_STATE / "data" / "oncall-sink" / "alerts.jsonl"  # lab/oncall, host oncall-sink
# The CA chain of the service certificates (what monitoring.yml writes to monitoring_tls_ca_file on the host).
SERVICE_CHAIN = ROOT / ".pki" / "services" / "prometheus" / "prometheus.crt"
PEM_CERT = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)
RUNBOOK_URL = "https://runbooks.jinbao.example/alerts/{}/"
FOR_CAP = "10s"
# Only the city Prometheus and Alertmanager change (the gate needs vault); the province is untouched.
LIMIT = ("--limit", "vault,mon-city-01")
# Exporter collection (15 s) + scrape and evaluation (5 s each) + for (10 s) + group_wait (5 s) or, for a group
# already notified, group_interval (30 s), on a busy lab machine: a page normally lands within a minute or two.
PAGE_TIMEOUT = 180.0


@dataclass(frozen=True)
class Fault:
    """One injected fault and the page it must cause."""

    id: str
    inject: tuple[tuple[str, ...], ...]  # `labctl act` argument lists, in order
    heal: tuple[tuple[str, ...], ...]
    alertname: str
    labels: dict[str, str]  # every one of these must be on the alert
    path: str  # the on-call sink path of the receiver it routes to (<severity>/<team>)
    receiver: str


FAULTS = (
    # BackupFailed (critical) of the pension-files job, zone production. `heal` brings the source back; the
    # backup run after it makes the job's last run a success again (its schedule is 15 min).
    Fault("failed-backup",
          inject=(("backup-01", "fail-backup", "pension-files"), ("backup-01", "run-backups")),
          heal=(("backup-01", "heal"), ("backup-01", "run-backups")),
          alertname="BackupFailed",
          labels={"backup_job": "pension-files", "system": "pension", "zone": "production"},
          path="/critical/production", receiver="critical-production"),
    # ReplicaDown (critical) of basic-info's PostgreSQL pair, zone production.
    Fault("wal-receiver-stopped",
          inject=(("pg-dr-01", "stop-wal-receiver"),), heal=(("pg-dr-01", "start-wal-receiver"),),
          alertname="ReplicaDown",
          labels={"target": "basic-info-pg", "system": "basic-info", "zone": "production"},
          path="/critical/production", receiver="critical-production"),
    # FeedStale (warning) of medical-to-warehouse: a 10 s schedule, so stale 20 s after its last transfer. (The
    # 5 s pension-to-exchange would be a poor choice: with a 15 s collection interval its measured age passes
    # 2 x 5 s between collections even when healthy.) Feeds carry source/destination zones, not a zone: platform.
    Fault("feed-stalled",
          inject=(("feed-agent-01", "stall", "medical-to-warehouse"),),
          heal=(("feed-agent-01", "resume", "medical-to-warehouse"),),
          alertname="FeedStale",
          labels={"feed": "medical-to-warehouse", "system": "medical"},
          path="/warning/platform", receiver="warning-platform"),
    # RoomTemperatureOutOfRange (warning: 31.5 °C is above 27 °C, below the critical 32 °C) of the hot-aisle
    # probe of env-main-01, room main, no zone: facilities.
    Fault("sensor-hot-aisle",
          inject=(("env-main-01", "variant", "hot-aisle"),), heal=(("env-main-01", "variant", "normal"),),
          alertname="RoomTemperatureOutOfRange",
          labels={"target": "env-main-01", "sensor": "hot-aisle-a", "room": "main", "severity": "warning"},
          path="/warning/facilities", receiver="warning-facilities"),
)


@dataclass
class Injected:
    at: float  # time.time() just before the fault was injected (the sink stamps received_at on the same clock)
    output: list[str] = field(default_factory=list)


def _get(url: str) -> dict:
    context = ssl.create_default_context(cadata="\n".join(PEM_CERT.findall(SERVICE_CHAIN.read_text())[1:]))
    with urllib.request.urlopen(url, context=context, timeout=10) as response:
        return json.loads(response.read())


def _act(*args: str) -> str:
    """`labctl act HOST ACTION [ARG]`; its output, or an AssertionError with it."""
    proc = subprocess.run([str(VENV_BIN / "python"), "-m", "lab.labctl", "act", *args], cwd=ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
    assert proc.returncode == 0, f"labctl act {' '.join(args)} failed:\n{proc.stdout}"
    return proc.stdout.strip()


def _matches(alert_labels: dict, fault: Fault) -> bool:
    return alert_labels.get("alertname") == fault.alertname and all(
        alert_labels.get(k) == v for k, v in fault.labels.items())


def _active_in_prometheus(fault: Fault) -> list[dict]:
    return [a for a in _get(f"{CITY}/api/v1/alerts")["data"]["alerts"] if _matches(a["labels"], fault)]


def _sink_records(since: float) -> list[dict]:
    if not ONCALL_ALERTS.exists():
        return []
    records = []
    for line in ONCALL_ALERTS.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("received_at", 0) >= since and isinstance(record.get("body"), dict):
            records.append(record)
    return records


def _pages(fault: Fault, since: float) -> list[tuple[dict, dict]]:
    """(notification, alert) for every firing alert of `fault` the sink received since `since`."""
    return [(record, alert) for record in _sink_records(since) for alert in record["body"].get("alerts", [])
            if alert.get("status") == "firing" and _matches(alert.get("labels", {}), fault)]


def _explain(since: float) -> str:
    """What Prometheus has active and what the sink received since `since`: why a page did (not) arrive."""
    keys = ("backup_job", "target", "feed", "sensor", "system", "zone", "room", "severity")
    lines = [f"Prometheus {CITY}/api/v1/alerts:"]
    try:
        for a in _get(f"{CITY}/api/v1/alerts")["data"]["alerts"]:
            labels = {k: a["labels"][k] for k in keys if k in a["labels"]}
            lines.append(f"  {a['state']:8} {a['labels'].get('alertname')} {labels} active since {a['activeAt']}")
    except OSError as exc:
        lines.append(f"  unreachable: {exc}")
    lines.append(f"{ONCALL_ALERTS} since the faults:")
    for record in _sink_records(since)[-40:]:
        for a in record["body"].get("alerts", []):
            labels = {k: a["labels"][k] for k in keys if k in a.get("labels", {})}
            lines.append(f"  +{record['received_at'] - since:5.0f}s {record['path']:22} {a.get('status'):8} "
                         f"{a.get('labels', {}).get('alertname')} {labels}")
    return "\n".join(lines)


def _wait(check, what: str, timeout: float, since: float):
    """check() until truthy; on timeout fail with `what` and what Prometheus and the sink show."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not after {timeout:.0f}s\n{_explain(since)}", pytrace=False)
        time.sleep(2)


def _rule_for_seconds(alertname: str) -> set[float]:
    groups = _get(f"{CITY}/api/v1/rules?type=alert")["data"]["groups"]
    return {r["duration"] for g in groups for r in g["rules"] if r["name"] == alertname}


@pytest.fixture(scope="module")
def capped_rules(lab_operator: str, service_certs: None) -> Iterator[None]:
    """The lab's monitoring with every rule's `for:` cut to FOR_CAP; the real rules again afterwards."""
    labctl("up", "--only", "nspawn", "oncall-sink", "restic", "postgres", "feeds", "env-main-01")
    started = time.time()
    try:
        run = run_playbook("monitoring.yml",
                           "-e", f"monitoring_alert_for_cap={FOR_CAP}", *LIMIT)
        assert run.returncode == 0, run.output[-4000:]
        # BackupFailed is `for: 5m` as written: Prometheus has the capped rules once it reads 10 s.
        _wait(lambda: _rule_for_seconds("BackupFailed") == {10}, "BackupFailed with for: 10s loaded", 60, started)
        yield
    finally:
        run = run_playbook("monitoring.yml", *LIMIT, operator=lab_operator)
        assert run.returncode == 0, f"putting the real rules back failed:\n{run.output[-4000:]}"
        _wait(lambda: _rule_for_seconds("BackupFailed") == {300}, "BackupFailed back to for: 5m", 60, started)


@pytest.fixture(scope="module")
def injected(capped_rules: None) -> Iterator[dict[str, Injected]]:
    """Every fault of FAULTS injected (none of their alerts active first); every one healed afterwards."""
    started = time.time()
    # A healthy start: none of the alerts active (a pending one from a measurement's jitter clears in seconds).
    _wait(lambda: not any(_active_in_prometheus(f) for f in FAULTS),
          "none of the expected alerts active before the faults (heal the lab: labctl act ... heal)", 60, started)
    done: dict[str, Injected] = {}
    try:
        for fault in FAULTS:
            done[fault.id] = Injected(at=time.time())
            done[fault.id].output = [_act(*args) for args in fault.inject]
        yield done
    finally:
        problems = []
        for fault in FAULTS:
            for args in fault.heal:
                try:
                    _act(*args)
                except (AssertionError, OSError, subprocess.SubprocessError) as exc:
                    problems.append(str(exc))
        assert not problems, "healing the lab failed:\n" + "\n".join(problems)


@pytest.mark.parametrize("fault", FAULTS, ids=[f.id for f in FAULTS])
def test_an_injected_fault_pages_the_receiver_of_its_severity_and_zone_with_its_runbook_url(
        injected: dict[str, Injected], fault: Fault) -> None:
    since = injected[fault.id].at
    pages = _wait(lambda: _pages(fault, since),
                  f"a firing {fault.alertname} {fault.labels} in {ONCALL_ALERTS} after `labctl act "
                  f"{' '.join(fault.inject[0])}` ({'; '.join(injected[fault.id].output)})", PAGE_TIMEOUT, since)
    record, alert = pages[0]
    assert {r["path"] for r, _ in pages} == {fault.path}, (
        f"{fault.alertname} {fault.labels} paged {sorted({r['path'] for r, _ in pages})}, expected {fault.path}")
    assert record["body"]["receiver"] == fault.receiver
    assert alert["annotations"].get("runbook_url") == RUNBOOK_URL.format(fault.alertname), alert["annotations"]
    assert alert["annotations"].get("summary") and "{{" not in alert["annotations"].get("description", "{{"), (
        f"{fault.alertname}: summary and templated description expected, got {alert['annotations']}")
