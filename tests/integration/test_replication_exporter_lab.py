"""The replication exporter against the lab: the real PostgreSQL pair (pg-prod-01 -> pg-dr-01, lab/postgres) and
the feed agent (feed-agent-01, lab/feeds), with their faults set off through labctl."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable

import pytest
import yaml
from vcsim_fixtures import INVENTORY, LAB_STATE, ROOT, VENV_BIN, labctl

from monitors.common.collection import targets_from_config
from monitors.common.config import validate_config
from monitors.replication.collector import ReplicationCollector
from monitors.replication.config import SCHEMA

FEEDS = yaml.safe_load((INVENTORY / "group_vars" / "all" / "feeds.yml").read_text())["data_feeds"]
POLICY = [["production", "exchange"], ["production", "decision"], ["exchange", "decision"]]
PASSFILE = LAB_STATE / "secrets" / "pg-monitor.pgpass"


def pair(name: str = "basic-info-pg", primary_port: int = 15432) -> dict:
    return {"name": name, "type": "postgres", "system": "basic-info", "zone": "production", "rpo_seconds": 300,
            "primary_dsn": f"host=127.0.0.1 port={primary_port} dbname=basic_info user=jinbao_monitor",
            "standby_dsn": "host=127.0.0.1 port=15433 dbname=basic_info user=jinbao_monitor",
            "passfile": str(PASSFILE), "standby_application_name": "pg-dr-01", "timeout_seconds": 10}


def feed(spec: dict) -> dict:
    return {"type": "feed", **{k: spec[k] for k in ("name", "system", "source_zone", "destination_zone", "source_dir",
                                                    "destination_dir", "schedule_seconds", "checksum_manifest")}}


def collector(*targets: dict) -> ReplicationCollector:
    config = validate_config({"feeds_root": str(LAB_STATE / "data" / "feed-agent-01"),
                              "flow_policy": {"allowed": POLICY}, "targets": list(targets)}, SCHEMA)
    return ReplicationCollector(targets_from_config(config), config)


def scrape(c: ReplicationCollector) -> dict[tuple[str, str, str], float]:
    """Collect now; (metric without prefix, target, kind or side) -> value."""
    c.collect_now()
    return {(s.name.removeprefix("jinbao_replication_"), s.labels["target"],
             s.labels.get("kind") or s.labels.get("side") or ""): s.value
            for family in c.collect() for s in family.samples}


def wait_for(c: ReplicationCollector, check: Callable[[dict], bool], what: str, seconds: float = 30) -> dict:
    """Collect until `check` holds (the lab moves on its own schedule); fail naming `what` otherwise."""
    deadline = time.monotonic() + seconds
    while True:
        values = scrape(c)
        if check(values):
            return values
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {seconds:.0f}s; last values: "
                        + ", ".join(f"{k}={v}" for k, v in sorted(values.items()) if "collector" not in k[0]))
        time.sleep(0.5)


@pytest.fixture(scope="module")
def lab_replication():
    """The lab pair and the feed agent, up and healthy (faults of an earlier run undone); they stay up."""
    labctl("up", "--only", "postgres", "feeds")
    labctl("act", "pg-dr-01", "start-wal-receiver")
    labctl("act", "feed-agent-01", "heal")
    yield
    labctl("act", "pg-dr-01", "start-wal-receiver")
    labctl("act", "feed-agent-01", "heal")


# --- PostgreSQL ------------------------------------------------------------------------------------------
def test_lab_pair_streams_with_the_standby_holding_a_fresh_heartbeat(lab_replication):
    c = collector(pair())
    labctl("act", "pg-prod-01", "write-load", "200")
    v = wait_for(c, lambda v: v[("wal_receiver_streaming", "basic-info-pg", "")] == 1
                 and v[("replica_streaming", "basic-info-pg", "")] == 1, "streaming")
    assert v[("up", "basic-info-pg", "")] == 1
    assert v[("standby_up", "basic-info-pg", "")] == 1
    assert 0 <= v[("lag_bytes", "basic-info-pg", "replay")] < 16 * 1024 * 1024  # under one WAL segment
    assert 0 <= v[("heartbeat_age_seconds", "basic-info-pg", "")] < v[("rpo_seconds", "basic-info-pg", "")]


def test_cut_stream_stops_the_receiver_and_the_heartbeat_ages_then_recovers(lab_replication):
    c = collector(pair())
    wait_for(c, lambda v: v[("wal_receiver_streaming", "basic-info-pg", "")] == 1, "streaming before the cut")
    labctl("act", "pg-dr-01", "stop-wal-receiver")
    try:
        first = wait_for(c, lambda v: v[("wal_receiver_streaming", "basic-info-pg", "")] == 0
                         and v[("replica_streaming", "basic-info-pg", "")] == 0, "the receiver stopping")
        assert first[("up", "basic-info-pg", "")] == 1  # the pair is readable; it just does not stream
        time.sleep(1.5)
        second = scrape(c)
        assert second[("heartbeat_age_seconds", "basic-info-pg", "")] > first[("heartbeat_age_seconds",
                                                                              "basic-info-pg", "")]
        assert second[("wal_receiver_streaming", "basic-info-pg", "")] == 0
    finally:
        labctl("act", "pg-dr-01", "start-wal-receiver")
    aged = second[("heartbeat_age_seconds", "basic-info-pg", "")]
    wait_for(c, lambda v: v[("wal_receiver_streaming", "basic-info-pg", "")] == 1
             and v[("replica_streaming", "basic-info-pg", "")] == 1
             and v[("heartbeat_age_seconds", "basic-info-pg", "")] < aged, "recovery after start-wal-receiver")


def test_unreachable_primary_is_down_while_the_lab_pair_stays_up(lab_replication):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]  # nothing listens here once the socket is closed
    v = scrape(collector(pair(), pair("closed-pg", closed)))
    assert v[("up", "closed-pg", "")] == 0
    assert ("replica_streaming", "closed-pg", "") not in v
    assert v[("up", "basic-info-pg", "")] == 1


# --- feeds -----------------------------------------------------------------------------------------------
def test_stalled_feed_stops_transferring_while_its_source_fills(lab_replication):
    spec = next(f for f in FEEDS if f["name"] == "pension-to-exchange")
    c = collector(feed(spec))
    name = spec["name"]
    labctl("act", "feed-agent-01", "stall", name)
    try:
        time.sleep(1.0)  # the agent reads its control file every tick (0.5 s)
        before = scrape(c)
        after = wait_for(c, lambda v: v[("feed_pending_files", name, "")] > before[("feed_pending_files", name, "")],
                         "a new batch piling up at the source", seconds=3 * spec["schedule_seconds"])
        assert after[("feed_last_transfer_timestamp_seconds", name, "")] == \
            before[("feed_last_transfer_timestamp_seconds", name, "")]
    finally:
        labctl("act", "feed-agent-01", "resume", name)
    wait_for(c, lambda v: v[("feed_pending_files", name, "")] == 0
             and v[("feed_last_transfer_timestamp_seconds", name, "")]
             > before[("feed_last_transfer_timestamp_seconds", name, "")], "the backlog moving after resume")


def test_corrupted_delivery_shows_a_checksum_mismatch_until_healed(lab_replication):
    spec = next(f for f in FEEDS if f["name"] == "medical-to-warehouse")
    c = collector(feed(spec))
    assert scrape(c)[("feed_checksum_mismatches", spec["name"], "")] == 0
    labctl("act", "feed-agent-01", "corrupt", spec["name"])
    assert scrape(c)[("feed_checksum_mismatches", spec["name"], "")] >= 1
    labctl("act", "feed-agent-01", "heal")
    assert scrape(c)[("feed_checksum_mismatches", spec["name"], "")] == 0


def test_only_the_backflow_feed_is_reported_as_a_forbidden_direction(lab_replication):
    v = scrape(collector(*(feed(f) for f in FEEDS)))
    allowed = {f["name"]: v[("feed_direction_allowed", f["name"], "")] for f in FEEDS}
    assert allowed == {f["name"]: 0.0 if f["name"] == "stats-backflow" else 1.0 for f in FEEDS}
    assert all(v[("up", f["name"], "")] == 1 for f in FEEDS)


# --- the exporter as a process -----------------------------------------------------------------------------
def test_exporter_process_serves_the_lab_over_http(lab_replication):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([str(VENV_BIN / "python"), "-m", "monitors.replication", "--config.file",
                             str(ROOT / "monitors" / "replication" / "example.yml"), "--web.listen-address",
                             f"127.0.0.1:{port}"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=dict(os.environ, PYTHONDONTWRITEBYTECODE=""))
    try:
        deadline, body = time.monotonic() + 20, ""
        up = 'jinbao_replication_up{system="basic-info",target="basic-info-pg",zone="production"} 1.0'
        while time.monotonic() < deadline and up not in body:  # up reads 0 until the first collection
            time.sleep(0.3)
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
            except OSError:
                continue
        assert up in body
        assert 'jinbao_replication_feed_direction_allowed{destination_zone="production",feed="stats-backflow"' in body
    finally:
        proc.terminate()
        proc.wait(10)
