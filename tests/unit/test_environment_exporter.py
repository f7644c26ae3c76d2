"""The environment exporter without the lab: value parsers against garbage, a dead agent, a hung probe, and
the golden exposition from recorded walks (tests/unit/fixtures/environment_walks.json, recorded from the lab's
snmpsim agents in variant normal by walking the subtrees in monitors/environment/readings.py SUBTREES)."""

from __future__ import annotations

import json
import math
import socket
import subprocess
import threading
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import generate_latest
from prometheus_client.registry import CollectorRegistry

from monitors.common.collection import targets_from_config
from monitors.common.config import ConfigError, validate_config
from monitors.environment import collector as collector_module
from monitors.environment import readings
from monitors.environment.collector import EnvironmentCollector
from monitors.environment.config import SCHEMA

from conftest import promtool

# pysnmp 7.1 warns about its own deprecated calls each time an SnmpEngine is made
pytestmark = pytest.mark.filterwarnings("ignore:add(Searchers|Borrowers) is deprecated:DeprecationWarning")

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
EXAMPLE = ROOT / "monitors" / "environment" / "example.yml"
WALKS = {k: v for k, v in json.loads((FIXTURES / "environment_walks.json").read_text()).items()
         if not k.startswith("_")}

# The physical range every exposed sample must stay in, per metric (what the parsers promise).
RANGES = {
    "ups_on_battery": (0, 1), "ups_battery_runtime_seconds": (0, 6e6), "ups_battery_charge_ratio": (0, 1),
    "ups_load_ratio": (0, 10), "ups_input_voltage_volts": (0, 1000), "ups_output_voltage_volts": (0, 1000),
    "ups_info": (1, 1), "temperature_celsius": (-40, 125), "humidity_ratio": (0, 1),
    "water_leak_detected": (0, 1), "smoke_detected": (0, 1), "door_open": (0, 1),
    "rack_power_watts": (0, 1e6), "rack_power_budget_watts": (0, 1e9), "outlet_power_watts": (0, 1e5),
}
CONTACTS = [{"probe": 1, "input": 1, "kind": "water_leak", "sensor": "leak", "alarm_state": "closed"},
            {"probe": 1, "input": 2, "kind": "smoke", "sensor": "smoke", "alarm_state": "closed"},
            {"probe": 2, "input": 1, "kind": "door", "sensor": "door", "alarm_state": "open"}]

# Anything an agent (or a broken SNMP stack) could hand the parsers.
garbage = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=2**31, max_value=2**80),
    st.integers(max_value=-1), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
    st.binary(max_size=20), st.sampled_from(["", " ", "-1", "NaN", "inf", "1e400", "0x1F", "12.5", "closed"]),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


def _oids(target: str) -> list[str]:
    return sorted(WALKS[target])


def _values_with_garbage(target: str):
    """The recorded walk of `target` with a random subset of its OIDs replaced by garbage or removed."""
    oids = _oids(target)
    return st.dictionaries(st.sampled_from(oids), st.one_of(garbage, st.just("__missing__")), max_size=len(oids)) \
        .map(lambda bad: {o: v for o, v in {**WALKS[target], **bad}.items() if v != "__missing__"})


def _assert_only_valid(result: readings.Result) -> None:
    for reading in result.readings:
        low, high = RANGES[reading.metric]
        assert isinstance(reading.value, float), reading
        assert math.isfinite(reading.value) and low <= reading.value <= high, reading
        assert all(isinstance(v, str) and v for v in reading.labels.values()), reading


def _run_counted(test, minimum: int) -> int:
    seen: list[int] = []
    test(seen)
    assert len(seen) >= minimum, f"hypothesis ran only {len(seen)} bad inputs"
    return len(seen)


GARBAGE_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_ups_parser_skips_garbage_and_exposes_only_valid_values():
    @GARBAGE_SETTINGS
    @given(values=_values_with_garbage("ups-main-01"), mibs=st.sampled_from([["ups-mib"], ["xups"],
                                                                             ["ups-mib", "xups"], ["xups", "ups-mib"]]))
    def check(seen, values, mibs):
        seen.append(1)
        _assert_only_valid(readings.ups(values, mibs))

    _run_counted(check, 100)


def test_sensor_parser_skips_garbage_and_exposes_only_valid_values():
    @GARBAGE_SETTINGS
    @given(values=_values_with_garbage("env-main-01"))
    def check(seen, values):
        seen.append(1)
        _assert_only_valid(readings.sensors(values, CONTACTS))

    _run_counted(check, 100)


def test_pdu_parser_skips_garbage_and_exposes_only_valid_values():
    @GARBAGE_SETTINGS
    @given(values=_values_with_garbage("pdu-main-a01"),
           budget=st.one_of(st.none(), st.floats(min_value=0, max_value=1e6)))
    def check(seen, values, budget):
        seen.append(1)
        _assert_only_valid(readings.pdu(values, "main-A01", budget))

    _run_counted(check, 100)


def test_number_rejects_every_bad_value_and_says_why():
    @GARBAGE_SETTINGS
    @given(raw=garbage, low=st.floats(-1e3, 0), high=st.floats(1, 1e3))
    def check(seen, raw, low, high):
        seen.append(1)
        problems: list[str] = []
        value = readings.number(raw, "field", problems, minimum=low, maximum=high)
        if value is None:
            assert len(problems) == 1 and problems[0].startswith("field: ")
        else:
            assert math.isfinite(value) and low <= value <= high and not problems

    _run_counted(check, 100)


@given(tenths=st.integers(-400, 1250), percent=st.integers(0, 100))
def test_sensor_values_are_converted_to_celsius_and_ratio(tenths, percent):
    values = {**WALKS["env-main-01"], f"{readings.EMP_SENSOR}.3.1": tenths, f"{readings.EMP_SENSOR}.6.1": percent}
    found = {(r.metric, r.labels.get("sensor")): r.value for r in readings.sensors(values, []).readings}
    assert found[("temperature_celsius", "cold-aisle-a")] == pytest.approx(tenths / 10)
    assert found[("humidity_ratio", "cold-aisle-a")] == pytest.approx(percent / 100)


def test_one_bad_value_drops_only_that_sample():
    values = {**WALKS["pdu-main-a01"], f"{readings.RPDU2_OUTLET}.7.3": -250, f"{readings.RPDU2_DEVICE_POWER}.1": "x"}
    result = readings.pdu(values, "main-A01", 8000)
    outlets = {r.labels["outlet"] for r in result.readings if r.metric == "outlet_power_watts"}
    assert outlets == {"1", "2", "4", "5", "6", "7", "8"}
    rack = [r.value for r in result.readings if r.metric == "rack_power_watts"]
    assert rack == [4200 - 498]  # device total unusable: the sum of the valid outlets
    assert any("outlet 3" in p for p in result.problems) and any("rPDU2DeviceStatusPower" in p for p in result.problems)


def test_ups_minutes_become_seconds_and_percent_becomes_ratio():
    result = readings.ups(WALKS["ups-main-01"], ["ups-mib"])
    found = {r.metric: r.value for r in result.readings}
    assert found["ups_battery_runtime_seconds"] == 287 * 60
    assert found["ups_battery_charge_ratio"] == 1.0 and found["ups_load_ratio"] == pytest.approx(0.09)
    assert found["ups_on_battery"] == 0.0


def test_xups_fills_in_when_ups_mib_is_missing_a_value():
    values = {k: v for k, v in WALKS["ups-main-01"].items() if not k.startswith(f"{readings.UPS_MIB}.2.3.")}
    found = {r.metric: r.value for r in readings.ups(values, ["ups-mib", "xups"]).readings}
    assert found["ups_battery_runtime_seconds"] == 17218  # xupsBatTimeRemaining, seconds


# --- the collector: dead agents, hung probes --------------------------------------------------------------
def _closed_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens once the socket is closed


def _collector(targets: list[dict]) -> EnvironmentCollector:
    config = validate_config({"collection": {"interval_seconds": 30, "timeout_seconds": 10}, "targets": targets},
                             SCHEMA, "test.yml")
    return EnvironmentCollector(targets_from_config(config), config, clock=lambda: 1_800_000_000.0)


def _samples(collector: EnvironmentCollector, name: str) -> dict[str, float]:
    return {s.labels["target"]: s.value for f in collector.collect() for s in f.samples if s.name == name}


def test_up_drops_to_zero_only_for_the_agent_on_a_closed_port(monkeypatch):
    real_walk = collector_module.snmp.walk
    dead_port = _closed_udp_port()

    def walk(host, port, community, subtrees, timeout, retries):
        if port == dead_port:
            return real_walk(host, port, community, subtrees, timeout=timeout, retries=retries)
        return WALKS["pdu-main-a01"]

    monkeypatch.setattr(collector_module.snmp, "walk", walk)
    collector = _collector([
        {"name": "ups-dead", "type": "ups", "host": "127.0.0.1", "port": dead_port, "community": "x",
         "snmp_timeout_seconds": 0.2, "snmp_retries": 0},
        {"name": "pdu-ok", "type": "pdu", "host": "127.0.0.1", "port": 1161, "community": "x", "rack": "main-A01",
         "rack_power_budget_watts": 8000}])
    collector.collect_now()
    assert _samples(collector, "jinbao_environment_up") == {"ups-dead": 0.0, "pdu-ok": 1.0}
    assert _samples(collector, "jinbao_environment_rack_power_watts") == {"pdu-ok": 4200.0}
    assert "ups-dead" not in _samples(collector, "jinbao_environment_ups_on_battery")


def test_scrape_does_not_wait_for_a_hung_probe(monkeypatch):
    entered, release = threading.Event(), threading.Event()

    def walk(host, port, community, subtrees, timeout, retries):
        if port == 1:
            entered.set()
            release.wait(30)
        return WALKS["env-main-01"]

    monkeypatch.setattr(collector_module.snmp, "walk", walk)
    collector = _collector([
        {"name": "env-hung", "type": "sensors", "host": "127.0.0.1", "port": 1, "community": "x"},
        {"name": "env-ok", "type": "sensors", "host": "127.0.0.1", "port": 2, "community": "x"}])
    collector.collect_target(collector.targets[1])
    background = threading.Thread(target=collector.collect_target, args=(collector.targets[0],), daemon=True)
    background.start()
    try:
        assert entered.wait(10), "the probe never started"
        up = _samples(collector, "jinbao_environment_up")  # scraped while the probe is blocked inside walk()
        assert not release.is_set() and background.is_alive()
        assert up == {"env-hung": 0.0, "env-ok": 1.0}
    finally:
        release.set()
        background.join(10)


# --- config ----------------------------------------------------------------------------------------------
def test_example_config_is_valid():
    config = yaml.safe_load(EXAMPLE.read_text())
    validate_config(config, SCHEMA, str(EXAMPLE))


def test_pdu_without_rack_is_refused_with_the_field_named():
    with pytest.raises(ConfigError, match=r"targets\[0\]\.rack: is missing"):
        validate_config({"targets": [{"name": "p", "type": "pdu", "host": "h", "community": "c"}]}, SCHEMA, "t.yml")


# --- golden exposition -----------------------------------------------------------------------------------
def _exposition(monkeypatch) -> str:
    config = yaml.safe_load(EXAMPLE.read_text())
    for target in config["targets"]:
        target.pop("community_file")
        target["community"] = "recorded"
    ports = {t["port"]: t["name"] for t in config["targets"]}
    monkeypatch.setattr(collector_module.snmp, "walk",
                        lambda host, port, community, subtrees, timeout, retries: WALKS[ports[port]])
    collector = _collector(config["targets"])
    collector.collect_now()
    registry = CollectorRegistry(auto_describe=True)
    registry.register(collector)
    lines = generate_latest(registry).decode().splitlines(keepends=True)
    # the probe duration is wall-clock; everything else is fixed by the recorded walks and the clock
    return "".join(line.rsplit(" ", 1)[0] + " 0.0\n" if line.startswith("jinbao_environment_collector_duration")
                   else line for line in lines)


def test_exposition_matches_the_golden_file(monkeypatch):
    golden = FIXTURES / "environment.prom"
    assert _exposition(monkeypatch) == golden.read_text(), (
        "exposition changed; if intended, regenerate tests/unit/fixtures/environment.prom")


def test_golden_file_passes_promtool_lint():
    proc = subprocess.run([promtool(), "check", "metrics"], input=(FIXTURES / "environment.prom").read_text(),
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stdout + proc.stderr
