"""monitoring.yml against the lab: the city Prometheus scrapes every exporter, a second run changes nothing,
a configuration that does not validate never replaces the running one, the province Prometheus federates
the city's series, and the alerting pipeline reaches the on-call sink."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import ssl
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable

import pytest
from vcsim_fixtures import LAB_STATE, ROOT, labctl, run_playbook

CITY = "https://127.0.0.1:19090"       # inventory/lab/host_vars/mon-city-01.yml prometheus_port
PROVINCE = "https://127.0.0.1:19091"   # mon-province-01
EXPORTER_JOBS = {"jinbao-backup", "jinbao-replication", "jinbao-environment", "jinbao-pki"}
ONCALL_ALERTS = LAB_STATE / "data" / "oncall-sink" / "alerts.jsonl"
# The CA bundle monitoring.yml writes from the service certificates\' chain (monitoring_tls_ca_file).
SERVICE_CA = LAB_STATE / "data" / "mon-city-01" / "etc" / "service-ca.crt"


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, context=ssl.create_default_context(cafile=SERVICE_CA), timeout=5) as response:
        return json.loads(response.read())


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


def _start_oncall_sink() -> None:
    """The on-call sink: by labctl once inventory/lab/hosts.yml has the host oncall-sink, else directly."""
    inventory = (ROOT / "inventory" / "lab" / "hosts.yml").read_text()
    if "oncall-sink:" in inventory:
        labctl("up", "--only", "oncall-sink")
        return
    sys.path.insert(0, str(ROOT / "lab"))
    import common

    spec = importlib.util.spec_from_file_location("lab_oncall_service", ROOT / "lab" / "oncall" / "service.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.Service("oncall-sink", {"oncall_port": 19095}, common.Lab()).start()


@pytest.fixture(scope="module")
def first_run(lab_operator: str, service_certs: None):
    labctl("up", "--only", "prometheus")
    _start_oncall_sink()
    run = run_playbook("monitoring.yml", "-e", f"jinbao_operator={lab_operator}")
    assert run.returncode == 0, run.output[-4000:]
    return run


def test_the_city_prometheus_scrapes_every_exporter(first_run) -> None:
    def healthy_jobs() -> set[str]:
        targets = _get(f"{CITY}/api/v1/targets")["data"]["activeTargets"]
        return {t["labels"]["job"] for t in targets if t["health"] == "up"} & EXPORTER_JOBS

    _eventually(lambda: healthy_jobs() == EXPORTER_JOBS, what=f"exporter jobs up on {CITY}")
    rules = {r["name"] for g in _get(f"{CITY}/api/v1/rules")["data"]["groups"] for r in g["rules"]}
    assert {"BackupStale", "RPOBreached", "Watchdog", "jinbao:system_rpo_seconds"} <= rules


def test_a_second_run_changes_nothing(first_run, lab_operator: str) -> None:
    run = run_playbook("monitoring.yml", "-e", f"jinbao_operator={lab_operator}")
    assert run.returncode == 0, run.output[-4000:]
    for host in ("mon-city-01", "mon-province-01"):
        assert run.recap(host)["changed"] == 0, f"{host} changed on the second run:\n{run.output[-4000:]}"


def test_an_alertmanager_config_that_does_not_validate_never_replaces_the_running_one(
        first_run, lab_operator: str) -> None:
    running = LAB_STATE / "data" / "mon-city-01" / "etc" / "alertmanager.yml"
    before = hashlib.sha256(running.read_bytes()).hexdigest()
    run = run_playbook("monitoring.yml", "-e", f"jinbao_operator={lab_operator}",
                       "-e", "monitoring_alertmanager_group_wait=not-a-duration", "--limit", "vault,mon-city-01")
    assert run.returncode != 0, "amtool should have refused group_wait: not-a-duration"
    assert "failed to validate" in run.output
    assert hashlib.sha256(running.read_bytes()).hexdigest() == before


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
