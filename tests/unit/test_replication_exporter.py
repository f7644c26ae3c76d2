"""The replication exporter without the lab: manifest parsing against garbage, feed directories that are missing
or broken, the flow policy, the PostgreSQL pair's down/standby-down semantics (with a recorded reading), the
config schema, and the golden exposition (tests/unit/fixtures/replication.prom) linted by promtool."""

from __future__ import annotations

import hashlib
import math
import os
import shutil
import string
import subprocess
from pathlib import Path

import psycopg
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import generate_latest
from prometheus_client.registry import CollectorRegistry

from monitors.common.collection import targets_from_config
from monitors.common.config import ConfigError, load_config, validate_config
from monitors.replication import postgres
from monitors.replication.collector import ReplicationCollector
from monitors.replication.config import SCHEMA
from monitors.replication.feeds import (
    FeedError,
    HashCache,
    direction_allowed,
    format_manifest,
    parse_manifest,
    read_feed,
)
from monitors.replication.postgres import PairReading, PostgresError, ReplicaRow

from conftest import promtool

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
EXAMPLE = ROOT / "monitors" / "replication" / "example.yml"
HOUSE_POLICY = [["production", "exchange"], ["production", "decision"], ["exchange", "decision"]]
ZONES = ["production", "exchange", "decision", "management"]
NOW = 1_800_000_000.0

# What read_pair returned against the lab pair (pg-prod-01 -> pg-dr-01) while streaming after a write-load.
RECORDED_PAIR = PairReading(
    replicas=[ReplicaRow(application_name="pg-dr-01", state="streaming",
                         lag_bytes={"write": 0.0, "flush": 0.0, "replay": 3712.0},
                         lag_seconds={"write": 0.000412, "flush": 0.000871, "replay": 0.001203})],
    standby_up=True, wal_receiver_status="streaming", standby_heartbeat=NOW - 0.25)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_feed(root: Path, files: dict[str, bytes], delivered: list[str], mtime: float = NOW - 60) -> tuple[Path, Path]:
    """A feed on disk: `files` in the source with its manifest; `delivered` copied to the destination."""
    src, dst = root / "src", root / "dst"
    src.mkdir(parents=True)
    dst.mkdir(parents=True)
    for name, data in files.items():
        (src / name).write_bytes(data)
    (src / "MANIFEST.sha256").write_text(format_manifest({n: sha(d) for n, d in files.items()}))
    for name in delivered:
        (dst / name).write_bytes(files[name])
        os.utime(dst / name, (mtime, mtime))
    (dst / "MANIFEST.sha256").write_text(format_manifest({n: sha(files[n]) for n in delivered}))
    return src, dst


def feed_target(name: str, src: Path, dst: Path, source_zone: str = "production",
                destination_zone: str = "exchange") -> dict:
    return {"name": name, "type": "feed", "system": "pension", "source_zone": source_zone,
            "destination_zone": destination_zone, "source_dir": str(src), "destination_dir": str(dst),
            "schedule_seconds": 60}


def pg_target(name: str = "basic-info-pg") -> dict:
    return {"name": name, "type": "postgres", "system": "basic-info", "zone": "production", "rpo_seconds": 300,
            "primary_dsn": "host=127.0.0.1 port=15432 dbname=basic_info user=jinbao_monitor",
            "standby_dsn": "host=127.0.0.1 port=15433 dbname=basic_info user=jinbao_monitor"}


def collector_for(targets: list[dict], clock=lambda: NOW, pair_reader=None, **top) -> ReplicationCollector:
    config = validate_config({"flow_policy": {"allowed": HOUSE_POLICY}, "targets": targets, **top}, SCHEMA)
    kwargs = {"pair_reader": pair_reader} if pair_reader else {}
    return ReplicationCollector(targets_from_config(config), config, clock=clock, **kwargs)


def samples(collector: ReplicationCollector) -> dict[tuple[str, str], float]:
    """(metric name, target) -> value, for series without an extra `kind`/`side` label (or with kind=replay)."""
    out = {}
    for family in collector.collect():
        for s in family.samples:
            if s.labels.get("kind", "replay") == "replay" and "side" not in s.labels:
                out[(s.name, s.labels["target"])] = s.value
    return out


# --- manifest parser ------------------------------------------------------------------------------------
@given(st.text())
def test_manifest_parser_never_raises_on_garbage(text):
    manifest = parse_manifest(text)
    assert all(len(d) == 64 and set(d) <= set("0123456789abcdef") for d in manifest.entries.values())
    assert all("/" not in n and n not in (".", "..") for n in manifest.entries)


_names = st.text(alphabet=st.characters(blacklist_characters="/\x00", blacklist_categories=("Cs",)), min_size=1,
                 max_size=30).filter(lambda n: n not in (".", ".."))


@given(st.dictionaries(_names, st.binary(min_size=32, max_size=32).map(lambda b: b.hex()), max_size=8))
def test_manifest_round_trips_every_plain_file_name(entries):
    assert parse_manifest(format_manifest(entries)).entries == entries


def test_manifest_skips_garbage_lines_and_counts_them():
    good = "a" * 64
    text = (f"{good}  ok.csv\n# a comment\n\nnot a line\n{'b' * 63}  short.csv\n{good}  ../escape.csv\n"
            f"{good} *binary.csv\r\n{good}  sub/dir.csv\n\\{good}  bad\\qescape\n")
    manifest = parse_manifest(text)
    assert manifest.entries == {"ok.csv": good, "binary.csv": good}
    assert manifest.invalid_lines == 5


# --- feeds on disk --------------------------------------------------------------------------------------
def test_delivered_feed_reports_counts_and_last_transfer(tmp_path):
    files = {f"b{i}.csv": f"row {i}\n".encode() for i in range(3)}
    src, dst = make_feed(tmp_path, files, ["b0.csv", "b1.csv"], mtime=NOW - 30)
    reading = read_feed(src, dst, "MANIFEST.sha256", "f", HashCache())
    assert (reading.source_files, reading.destination_files, reading.pending_files) == (3, 2, 1)
    assert reading.checksum_mismatches == 0
    assert reading.last_transfer == NOW - 30


def test_file_missing_from_the_destination_counts_as_a_mismatch(tmp_path):
    files = {"a.csv": b"a\n", "b.csv": b"b\n"}
    src, dst = make_feed(tmp_path, files, ["a.csv", "b.csv"])
    (dst / "b.csv").unlink()
    reading = read_feed(src, dst, "MANIFEST.sha256", "f", HashCache())
    assert reading.checksum_mismatches == 1
    assert reading.pending_files == 1  # listed but not there: not delivered


def test_corruption_in_place_with_the_mtime_put_back_is_still_seen(tmp_path):
    files = {"a.csv": b"abcdef\n"}
    src, dst = make_feed(tmp_path, files, ["a.csv"])
    cache = HashCache()
    assert read_feed(src, dst, "MANIFEST.sha256", "f", cache).checksum_mismatches == 0
    before = (dst / "a.csv").stat()
    with open(dst / "a.csv", "r+b") as fh:  # same inode, same size, and the old mtime restored
        fh.write(b"X")
    os.utime(dst / "a.csv", ns=(before.st_atime_ns, before.st_mtime_ns))
    assert read_feed(src, dst, "MANIFEST.sha256", "f", cache).checksum_mismatches == 1


def test_cached_checksums_are_rechecked_after_recheck_seconds(tmp_path, monkeypatch):
    src, dst = make_feed(tmp_path, {"a.csv": b"x" * 100}, ["a.csv"])
    now = [0.0]
    cache = HashCache(recheck_seconds=60, clock=lambda: now[0])
    read_feed(src, dst, "MANIFEST.sha256", "f", cache)
    calls = []
    real = hashlib.sha256
    monkeypatch.setattr("monitors.replication.feeds.hashlib.sha256", lambda *a: calls.append(1) or real(*a))
    now[0] = 59
    read_feed(src, dst, "MANIFEST.sha256", "f", cache)
    assert calls == []
    now[0] = 61
    read_feed(src, dst, "MANIFEST.sha256", "f", cache)
    assert calls == [1]


def test_hash_cache_forgets_files_that_are_gone(tmp_path):
    files = {f"{i}.csv": bytes([i]) for i in range(5)}
    src, dst = make_feed(tmp_path, files, list(files))
    cache = HashCache()
    read_feed(src, dst, "MANIFEST.sha256", "f", cache)
    assert len(cache.entries) == 5
    for name in ("0.csv", "1.csv"):
        (dst / name).unlink()
    (dst / "MANIFEST.sha256").write_text(format_manifest({n: sha(files[n]) for n in ("2.csv", "3.csv", "4.csv")}))
    read_feed(src, dst, "MANIFEST.sha256", "f", cache)
    assert len(cache.entries) == 3


def test_unchanged_file_is_hashed_only_once(tmp_path, monkeypatch):
    src, dst = make_feed(tmp_path, {"a.csv": b"x" * 1000}, ["a.csv"])
    cache = HashCache()
    read_feed(src, dst, "MANIFEST.sha256", "f", cache)
    calls = []
    real = hashlib.sha256
    monkeypatch.setattr("monitors.replication.feeds.hashlib.sha256", lambda *a: calls.append(1) or real(*a))
    read_feed(src, dst, "MANIFEST.sha256", "f", cache)
    assert calls == []


def test_no_source_manifest_counts_source_files_as_pending(tmp_path):
    src, dst = make_feed(tmp_path, {"a.csv": b"a"}, [])
    (src / "MANIFEST.sha256").unlink()
    (src / "late.csv").write_bytes(b"late")
    reading = read_feed(src, dst, "MANIFEST.sha256", "f", HashCache())
    assert reading.pending_files == 2
    assert reading.last_transfer == 0.0  # 0, not absent, for "never"


def test_temporary_dot_files_are_not_counted(tmp_path):
    src, dst = make_feed(tmp_path, {"a.csv": b"a"}, ["a.csv"])
    (dst / ".b.csv.tmp").write_bytes(b"half")
    assert read_feed(src, dst, "MANIFEST.sha256", "f", HashCache()).destination_files == 1


@pytest.mark.parametrize("break_it", ["missing_source", "destination_is_a_file", "manifest_is_a_dir"])
def test_broken_feed_is_down_and_names_it_while_the_other_feed_stays_up(tmp_path, break_it):
    src, dst = make_feed(tmp_path / "bad", {"a.csv": b"a"}, ["a.csv"])
    good_src, good_dst = make_feed(tmp_path / "good", {"a.csv": b"a"}, ["a.csv"])
    if break_it == "missing_source":
        shutil.rmtree(src)
    elif break_it == "destination_is_a_file":
        shutil.rmtree(dst)
        dst.write_text("not a directory")
    else:
        (dst / "MANIFEST.sha256").unlink()
        (dst / "MANIFEST.sha256").mkdir()
    collector = collector_for([feed_target("bad", src, dst), feed_target("good", good_src, good_dst)])
    collector.collect_now()
    values = samples(collector)
    assert values[("jinbao_replication_up", "bad")] == 0.0
    assert values[("jinbao_replication_up", "good")] == 1.0
    assert ("jinbao_replication_feed_pending_files", "bad") not in values  # dropped, never served stale
    with pytest.raises(FeedError, match="feed bad"):
        read_feed(src, dst, "MANIFEST.sha256", "bad", HashCache())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(source=st.dictionaries(st.text(string.ascii_letters + "._-", min_size=1, max_size=8), st.binary(max_size=20),
                              max_size=6),
       manifest=st.text(max_size=300), destination_manifest=st.binary(max_size=300),
       drop=st.sets(st.integers(0, 5)))
def test_no_exception_escapes_whatever_the_feed_directories_hold(tmp_path_factory, source, manifest,
                                                                 destination_manifest, drop):
    root = tmp_path_factory.mktemp("feed")
    src, dst = root / "s", root / "d"
    src.mkdir()
    dst.mkdir()
    for i, (name, data) in enumerate(source.items()):
        if name in (".", ".."):
            continue
        (src / name).write_bytes(data)
        if i not in drop:
            (dst / name).write_bytes(data[::-1])
    (src / "MANIFEST.sha256").write_text(manifest)
    (dst / "MANIFEST.sha256").write_bytes(destination_manifest)
    collector = collector_for([feed_target("random", src, dst)])
    collector.collect_now()
    values = samples(collector)
    assert values[("jinbao_replication_up", "random")] == 1.0
    assert values[("jinbao_replication_feed_checksum_mismatches", "random")] >= 0


def test_relative_feed_dirs_without_feeds_root_are_refused_by_name(tmp_path):
    collector = collector_for([feed_target("rel", Path("a/src"), Path("a/dst"))])
    collector.collect_now()
    assert samples(collector)[("jinbao_replication_up", "rel")] == 0.0


def test_relative_feed_dirs_resolve_against_feeds_root(tmp_path):
    make_feed(tmp_path, {"a.csv": b"a"}, ["a.csv"])
    collector = collector_for([feed_target("rel", Path("src"), Path("dst"))], feeds_root=str(tmp_path))
    collector.collect_now()
    values = samples(collector)
    assert values[("jinbao_replication_up", "rel")] == 1.0
    assert values[("jinbao_replication_feed_pending_files", "rel")] == 0.0


# --- flow policy ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("source", "destination", "allowed"), [
    ("production", "exchange", True), ("production", "decision", True), ("exchange", "decision", True),
    ("decision", "production", False), ("exchange", "production", False), ("decision", "exchange", False),
    ("production", "management", False), ("decision", "decision", True),
])
def test_flow_policy_allows_only_the_declared_directions(source, destination, allowed):
    assert direction_allowed(source, destination, HOUSE_POLICY) is allowed


@given(st.sampled_from(ZONES), st.sampled_from(ZONES))
def test_nothing_flows_back_into_production_and_same_zone_is_always_allowed(source, destination):
    result = direction_allowed(source, destination, HOUSE_POLICY)
    if source == destination:
        assert result
    elif destination == "production":
        assert not result


def test_forbidden_feed_reports_direction_allowed_zero(tmp_path):
    src, dst = make_feed(tmp_path, {"a.csv": b"a"}, ["a.csv"])
    collector = collector_for([feed_target("stats-backflow", src, dst, "decision", "production")])
    collector.collect_now()
    assert samples(collector)[("jinbao_replication_feed_direction_allowed", "stats-backflow")] == 0.0


# --- PostgreSQL pair ------------------------------------------------------------------------------------
def test_primary_down_marks_only_that_pair_down(tmp_path):
    def reader(spec, timeout):
        if "15432" in spec["primary_dsn"]:
            raise PostgresError("primary 127.0.0.1:15432/basic_info: OperationalError: connection refused")
        return RECORDED_PAIR

    other = pg_target("other-pg") | {"primary_dsn": "host=127.0.0.1 port=25432 dbname=x user=y"}
    collector = collector_for([pg_target(), other], pair_reader=reader)
    collector.collect_now()
    values = samples(collector)
    assert values[("jinbao_replication_up", "basic-info-pg")] == 0.0
    assert values[("jinbao_replication_up", "other-pg")] == 1.0
    assert ("jinbao_replication_replica_streaming", "basic-info-pg") not in values


def test_standby_down_keeps_the_pair_up_but_reports_it_not_streaming_and_the_heartbeat_ageing():
    clock = [NOW]
    readings = [RECORDED_PAIR, PairReading(replicas=[], standby_up=False, standby_error="standby x: refused")]

    collector = collector_for([pg_target()], clock=lambda: clock[0], pair_reader=lambda s, t: readings[0])
    collector.collect_now()
    assert samples(collector)[("jinbao_replication_heartbeat_age_seconds", "basic-info-pg")] == pytest.approx(0.25)
    readings.pop(0)
    clock[0] = NOW + 100
    collector.collect_now()
    values = samples(collector)
    assert values[("jinbao_replication_up", "basic-info-pg")] == 1.0
    assert values[("jinbao_replication_replica_streaming", "basic-info-pg")] == 0.0
    assert values[("jinbao_replication_wal_receiver_streaming", "basic-info-pg")] == 0.0
    assert values[("jinbao_replication_standby_up", "basic-info-pg")] == 0.0
    assert values[("jinbao_replication_heartbeat_age_seconds", "basic-info-pg")] == pytest.approx(100.25)
    assert ("jinbao_replication_lag_seconds", "basic-info-pg") not in values  # no replica, no lag to measure


def test_heartbeat_never_seen_is_infinitely_old_not_absent():
    reading = PairReading(standby_up=False, standby_error="standby x: refused")
    collector = collector_for([pg_target()], pair_reader=lambda s, t: reading)
    collector.collect_now()
    assert math.isinf(samples(collector)[("jinbao_replication_heartbeat_age_seconds", "basic-info-pg")])


def test_idle_caught_up_replica_reports_zero_lag_not_absent():
    idle = PairReading(replicas=[ReplicaRow("pg-dr-01", "streaming", dict.fromkeys(("write", "flush", "replay"), 0.0),
                                            dict.fromkeys(("write", "flush", "replay")))],
                       standby_up=True, wal_receiver_status="streaming", standby_heartbeat=NOW)
    collector = collector_for([pg_target()], pair_reader=lambda s, t: idle)
    collector.collect_now()
    assert samples(collector)[("jinbao_replication_lag_seconds", "basic-info-pg")] == 0.0


class FakeConnection:
    """Answers read_pair's queries from a table of (query fragment -> rows)."""

    def __init__(self, answers: dict[str, list[tuple]]) -> None:
        self.answers = answers

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def execute(self, query, params=None):
        text = query if isinstance(query, str) else repr(query)
        rows = next((r for frag, r in self.answers.items() if frag in text), [])
        return type("Cursor", (), {"fetchone": lambda self: rows[0] if rows else None,
                                   "fetchall": lambda self: rows})()


def fake_connect(primary: dict, standby: dict | None):
    def connect(**kwargs):
        if "15432" in kwargs["conninfo"]:
            return FakeConnection(primary)
        if standby is None:
            raise psycopg.OperationalError("connection refused")
        return FakeConnection(standby)
    return connect


PRIMARY_OK = {"pg_is_in_recovery": [(False,)], "INSERT INTO": [(NOW,)],
              "pg_stat_replication": [("pg-dr-01", "streaming", 0, 0, 10, None, None, 0.002),
                                      ("other", "catchup", 999, 999, 999, 1, 1, 1)]}


def test_pair_reading_keeps_only_the_named_standby_and_reads_its_heartbeat():
    standby = {"pg_stat_wal_receiver": [("streaming",)], "extract(epoch FROM ts)": [(NOW,)]}
    reading = postgres.read_pair(pg_target() | {"standby_application_name": "pg-dr-01"}, 10,
                                 connect=fake_connect(PRIMARY_OK, standby))
    assert [r.application_name for r in reading.replicas] == ["pg-dr-01"]
    assert reading.replicas[0].lag_bytes["replay"] == 10
    assert reading.replicas[0].lag_seconds["write"] is None
    assert (reading.standby_up, reading.wal_receiver_status, reading.standby_heartbeat) == (True, "streaming", NOW)


def test_unreachable_standby_is_recorded_not_raised_and_named():
    reading = postgres.read_pair(pg_target(), 10, connect=fake_connect(PRIMARY_OK, None))
    assert not reading.standby_up
    assert "standby 127.0.0.1:15433/basic_info" in reading.standby_error


def test_primary_in_recovery_is_refused_with_the_swap_named():
    with pytest.raises(PostgresError, match="swap primary_dsn and standby_dsn"):
        postgres.read_pair(pg_target(), 10, connect=fake_connect({"pg_is_in_recovery": [(True,)]}, {}))


def test_heartbeat_age_follows_the_standby_even_when_it_goes_back_in_time():
    clock = [NOW]
    readings = [RECORDED_PAIR, PairReading(standby_up=True, wal_receiver_status="streaming",
                                           standby_heartbeat=NOW - 500)]  # e.g. a standby rebuilt from a backup
    collector = collector_for([pg_target()], clock=lambda: clock[0], pair_reader=lambda s, t: readings.pop(0))
    collector.collect_now()
    collector.collect_now()
    assert samples(collector)[("jinbao_replication_heartbeat_age_seconds", "basic-info-pg")] == 500


def test_dsn_with_a_password_is_refused_and_names_the_fix():
    with pytest.raises(PostgresError, match="passfile"):
        postgres._kwargs("host=127.0.0.1 user=u password=secret", "primary", None, 10)


def test_connection_timeouts_stay_inside_the_probe_budget():
    kwargs = postgres._kwargs("host=127.0.0.1 dbname=x", "primary", "/p", 9)
    assert kwargs["connect_timeout"] == 3
    assert kwargs["options"] == "-c statement_timeout=2250"
    assert kwargs["passfile"] == "/p"


# --- config ---------------------------------------------------------------------------------------------
def test_example_config_is_valid():
    config = load_config(EXAMPLE, SCHEMA)
    assert {t["type"] for t in config["targets"]} == {"postgres", "feed"}


def test_postgres_target_without_standby_is_refused_with_the_field_named():
    target = pg_target()
    del target["standby_dsn"]
    with pytest.raises(ConfigError, match=r"targets\[0\]\.standby_dsn: is missing"):
        validate_config({"targets": [target]}, SCHEMA, "r.yml")


def test_feeds_without_a_flow_policy_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="flow_policy: is missing"):
        validate_config({"targets": [feed_target("f", tmp_path, tmp_path)]}, SCHEMA, "r.yml")


def test_unknown_zone_in_the_flow_policy_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"flow_policy\.allowed\[0\]\[1\]"):
        validate_config({"flow_policy": {"allowed": [["production", "moon"]]},
                         "targets": [feed_target("f", tmp_path, tmp_path)]}, SCHEMA, "r.yml")


# --- golden exposition ----------------------------------------------------------------------------------
def _exposition(tmp_path: Path) -> str:
    files = {f"pension-to-exchange-{i:06d}.csv": f"id,amount\n{i},{i * 100}\n".encode() for i in range(4)}
    src, dst = make_feed(tmp_path / "ok", files, list(files)[:3], mtime=NOW - 42)
    bad_src, bad_dst = make_feed(tmp_path / "back", {"s-1.csv": b"x\n"}, ["s-1.csv"], mtime=NOW - 7)
    (bad_dst / "s-1.csv").write_bytes(b"y\n")
    os.utime(bad_dst / "s-1.csv", (NOW - 7, NOW - 7))
    targets = [pg_target(), feed_target("pension-to-exchange", src, dst),
               feed_target("stats-backflow", bad_src, bad_dst, "decision", "production") | {"system": "statistics"}]
    collector = collector_for(targets, pair_reader=lambda spec, timeout: RECORDED_PAIR)
    collector.collect_now()
    registry = CollectorRegistry(auto_describe=True)
    registry.register(collector)
    lines = generate_latest(registry).decode().splitlines(keepends=True)
    # the probe duration is wall-clock; everything else is fixed by the recorded reading, the files and the clock
    return "".join(line.rsplit(" ", 1)[0] + " 0.0\n" if line.startswith("jinbao_replication_collector_duration")
                   else line for line in lines)


def test_exposition_matches_the_golden_file(tmp_path):
    golden = FIXTURES / "replication.prom"
    text = _exposition(tmp_path)
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.write_text(text)
    assert text == golden.read_text(), "exposition changed; if intended, rerun with UPDATE_GOLDEN=1"


def test_golden_file_has_every_contract_metric():
    text = (FIXTURES / "replication.prom").read_text()
    for name in ("replica_streaming", "lag_bytes", "lag_seconds", "wal_receiver_streaming", "heartbeat_age_seconds",
                 "rpo_seconds", "feed_last_transfer_timestamp_seconds", "feed_schedule_seconds", "feed_files",
                 "feed_pending_files", "feed_checksum_mismatches", "feed_direction_allowed", "up"):
        assert f"# TYPE jinbao_replication_{name} gauge" in text


def test_golden_file_passes_promtool_lint():
    proc = subprocess.run([promtool(), "check", "metrics"], input=(FIXTURES / "replication.prom").read_text(),
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_example_yaml_lists_the_lab_feeds():
    """The example mirrors inventory/lab's data_feeds, so the lab demo and the docs agree."""
    feeds = yaml.safe_load((ROOT / "inventory" / "lab" / "group_vars" / "all" / "feeds.yml").read_text())["data_feeds"]
    example = {t["name"] for t in yaml.safe_load(EXAMPLE.read_text())["targets"] if t["type"] == "feed"}
    assert example == {f["name"] for f in feeds}
