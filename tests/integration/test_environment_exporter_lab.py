"""The environment exporter against the lab's SNMP agents (lab/snmpsim): what the room reports, and what it
reports after `labctl act HOST variant NAME` changes it. Every test puts its agents back to `normal`."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from vcsim_fixtures import LAB_STATE, ROOT, labctl

from ansible_collections.jinbao.dc.plugins.module_utils.seams import alertmanager
from monitors.common.collection import targets_from_config
from monitors.common.config import load_config
from monitors.environment.collector import EnvironmentCollector
from monitors.environment.config import SCHEMA

# pysnmp 7.1 warns about its own deprecated calls each time an SnmpEngine is made
pytestmark = pytest.mark.filterwarnings("ignore:add(Searchers|Borrowers) is deprecated:DeprecationWarning")

EXAMPLE = ROOT / "monitors" / "environment" / "example.yml"
HOSTS = ("ups-main-01", "env-main-01", "pdu-main-a01", "pdu-main-a02")


@pytest.fixture(scope="module")
def config_file(tmp_path_factory) -> Path:
    """example.yml (the lab's agents), with the community file given as an absolute path."""
    labctl("up", "--only", "snmpsim")
    config = yaml.safe_load(EXAMPLE.read_text())
    for target in config["targets"]:
        target["community_file"] = str(LAB_STATE / "secrets" / "snmp-community")
    path = tmp_path_factory.mktemp("environment") / "environment.yml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module", autouse=True)
def room_quiet_afterwards():
    """The lab's monitoring scrapes these same agents, so a variant (smoke, water, UPS on battery...) fires real
    critical alerts of room main, and the cert gate refuses changes there while they fire. After the module, wait
    until the room is quiet again, so the tests that follow change the room as they expect."""
    yield
    ca = LAB_STATE / "data" / "mon-city-01" / "rootfs" / "etc" / "jinbao-monitoring" / "service-ca.crt"
    host = yaml.safe_load((ROOT / "inventory" / "lab" / "host_vars" / "mon-city-01.yml").read_text())
    port = host["alertmanager_port"]
    if not ca.exists():
        return  # no monitoring deployed: no alert fired
    time.sleep(12)  # two scrape and evaluation intervals (5 s each in the lab): a last alarm reaches Alertmanager
    for _ in range(90):
        try:
            if not alertmanager.room_alarms(f"https://127.0.0.1:{port}", "main", str(ca)):
                return
        except alertmanager.AlertmanagerError:
            return  # Alertmanager not running: nothing to wait for
        time.sleep(2)


@pytest.fixture()
def variant():
    """switch(host, name): put an agent into a variant; every switched agent is back to normal afterwards."""
    switched: list[str] = []

    def switch(host: str, name: str) -> None:
        switched.append(host)
        labctl("act", host, "variant", name)

    yield switch
    for host in switched:
        labctl("act", host, "variant", "normal")


def scrape(config_file: Path) -> dict[tuple[str, tuple], float]:
    """One collection of every target: {(sample name, sorted labels): value}."""
    config = load_config(config_file, SCHEMA)
    collector = EnvironmentCollector(targets_from_config(config), config)
    collector.collect_now()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for f in collector.collect() for s in f.samples}


def value(samples: dict, name: str, **labels: str) -> float:
    found = [v for (n, lab), v in samples.items() if n == f"jinbao_environment_{name}"
             and all(dict(lab).get(k) == want for k, want in labels.items())]
    assert len(found) == 1, f"{name}{labels}: {len(found)} samples in {sorted(k for k in samples if name in k[0])}"
    return found[0]


def test_the_room_reads_normal_through_the_exporter_command(config_file):
    proc = subprocess.run([sys.executable, "-m", "monitors.environment", "--config.file", str(config_file), "--once",
                           "--log.format", "text"], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"})
    assert proc.returncode == 0, proc.stderr
    up = [line for line in proc.stdout.splitlines() if line.startswith("jinbao_environment_up{")]
    assert sorted(up) == sorted(f'jinbao_environment_up{{{rack}room="main",target="{host}"}} 1.0' for host, rack in
                                zip(HOSTS, ('rack="main-B01",', "", "", ""), strict=True)), proc.stdout[:2000]
    samples = scrape(config_file)
    assert value(samples, "ups_on_battery", target="ups-main-01") == 0
    assert value(samples, "ups_input_voltage_volts", target="ups-main-01") > 200
    assert value(samples, "ups_battery_runtime_seconds", target="ups-main-01") > 3600
    for sensor in ("cold-aisle-a", "hot-aisle-a"):
        assert 18 <= value(samples, "temperature_celsius", sensor=sensor) <= 27
        assert 0.2 <= value(samples, "humidity_ratio", sensor=sensor) <= 0.6
    assert value(samples, "water_leak_detected", sensor="underfloor-row-a") == 0
    assert value(samples, "door_open", sensor="machine-room-door") == 0
    for rack in ("main-A01", "main-A02"):
        assert value(samples, "rack_power_watts", rack=rack) < value(samples, "rack_power_budget_watts", rack=rack)


def test_hot_aisle_variant_reads_above_27_celsius(config_file, variant):
    variant("env-main-01", "hot-aisle")
    samples = scrape(config_file)
    assert value(samples, "temperature_celsius", sensor="hot-aisle-a") > 27


def test_ups_on_battery_variant_reads_on_battery(config_file, variant):
    variant("ups-main-01", "on-battery")
    samples = scrape(config_file)
    assert value(samples, "ups_on_battery", target="ups-main-01") == 1
    assert value(samples, "ups_input_voltage_volts", target="ups-main-01") == 0


def test_low_runtime_variant_reads_minutes_not_hours(config_file, variant):
    variant("ups-main-01", "low-runtime")
    samples = scrape(config_file)
    assert value(samples, "ups_battery_runtime_seconds", target="ups-main-01") < 600
    assert value(samples, "ups_battery_charge_ratio", target="ups-main-01") < 0.2


@pytest.mark.parametrize(("name", "metric", "sensor"), [("leak", "water_leak_detected", "underfloor-row-a"),
                                                        ("smoke", "smoke_detected", "ceiling-row-a"),
                                                        ("door-open", "door_open", "machine-room-door")])
def test_contact_variants_raise_their_detector(config_file, variant, name, metric, sensor):
    variant("env-main-01", name)
    assert value(scrape(config_file), metric, sensor=sensor) == 1


def test_pdu_over_budget_variant_puts_the_rack_over_its_budget(config_file, variant):
    variant("pdu-main-a01", "over-budget")
    samples = scrape(config_file)
    assert value(samples, "rack_power_watts", rack="main-A01") > value(samples, "rack_power_budget_watts",
                                                                        rack="main-A01")
    assert value(samples, "rack_power_watts", rack="main-A02") < 8000  # the other rack is untouched
