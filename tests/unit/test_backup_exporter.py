"""The backup exporter against recorded restic 0.14 output and job-record files: the golden exposition,
fuzzed restic output and records (no exception escapes; only the affected target goes down), exit codes."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import generate_latest
from prometheus_client.registry import CollectorRegistry

from monitors.backup.collector import BackupCollector
from monitors.backup.config import SCHEMA
from monitors.backup.records import parse_lines, read_records
from monitors.backup.restic import ResticError
from monitors.common import ConfigError, load_config, targets_from_config
from monitors.common.config import validate_config

from conftest import promtool

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"
SNAPSHOTS = (FIXTURES / "backup" / "restic-0.14-snapshots.json").read_text()
STATS = (FIXTURES / "backup" / "restic-0.14-stats.json").read_text()
NOW = 1796300000.0


class FakeRestic:
    """Answers restic commands per repository: {repo: {subcommand: (code, stdout, stderr)}}."""

    def __init__(self, answers: dict[str, dict[str, tuple[int, str, str]]]) -> None:
        self.answers, self.calls = answers, []

    def __call__(self, argv, env, timeout):
        self.calls.append((env["RESTIC_REPOSITORY"], argv[1]))
        return self.answers[env["RESTIC_REPOSITORY"]].get(argv[1], (0, "", ""))


def config(records_file: Path, extra_targets: list[dict] | None = None) -> dict:
    targets = [
        {"name": "pension-files", "kind": "restic", "system": "pension", "zone": "production",
         "schedule_seconds": 900, "restore_test_interval_seconds": 3600, "repository": "/repos/pension",
         "password_file": "/secrets/pension", "labels": {"room": "main"}},
        {"name": "finance-rman", "kind": "jobfile", "job": "finance-ora-full", "system": "finance",
         "zone": "production", "schedule_seconds": 86400, "restore_test_interval_seconds": 604800,
         "records_file": str(records_file)},
        {"name": "never-ran", "kind": "jobfile", "system": "statistics", "zone": "decision",
         "schedule_seconds": 86400, "restore_test_interval_seconds": 604800,
         "records_file": str(records_file.parent / "absent.jsonl")},
        *(extra_targets or []),
    ]
    return validate_config({"targets": targets}, SCHEMA, "test.yml")


def collector_for(cfg: dict, runner: FakeRestic) -> BackupCollector:
    collector = BackupCollector(targets_from_config(cfg), cfg, clock=lambda: NOW, runner=runner)
    collector.timer = itertools.count(0, 0.25).__next__  # every probe "takes" 0.25 s
    return collector


def collect_in_order(collector: BackupCollector) -> None:
    for target in collector.targets:
        collector.collect_target(target)


def exposition(collector: BackupCollector) -> str:
    registry = CollectorRegistry()
    registry.register(collector)
    return generate_latest(registry).decode()


def values(collector: BackupCollector, name: str) -> dict[str, float]:
    registry = CollectorRegistry()
    registry.register(collector)
    return {s.labels["target"]: s.value for m in registry.collect() for s in m.samples if s.name == name}


@pytest.fixture
def records_file(tmp_path) -> Path:
    path = tmp_path / "finance-rman.jsonl"
    shutil.copy(FIXTURES / "backup" / "finance-rman.jsonl", path)
    return path


def healthy_restic() -> FakeRestic:
    return FakeRestic({"/repos/pension": {"snapshots": (0, SNAPSHOTS, ""), "stats": (0, STATS, "")},
                       "/repos/broken": {"snapshots": (42, "", "something new went wrong")}})


# --- golden exposition ----------------------------------------------------------------------------------
def test_exposition_matches_the_golden_file_and_passes_promtool(records_file):
    broken = {"name": "broken-repo", "kind": "restic", "system": "medical", "zone": "production",
              "schedule_seconds": 900, "restore_test_interval_seconds": 3600, "repository": "/repos/broken",
              "password_file": "/secrets/broken"}
    collector = collector_for(config(records_file, [broken]), healthy_restic())
    collect_in_order(collector)
    text = exposition(collector).replace(str(records_file.parent), "/records")
    golden = FIXTURES / "backup.prom"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(text)
    assert text == golden.read_text()
    proc = subprocess.run([promtool(), "check", "metrics"], input=golden.read_text(), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_records_give_last_run_success_and_verify_per_job(records_file):
    collector = collector_for(config(records_file), healthy_restic())
    collect_in_order(collector)
    assert values(collector, "jinbao_backup_job_last_run_success")["finance-rman"] == 0.0  # newest run failed
    assert values(collector, "jinbao_backup_job_last_success_timestamp_seconds")["finance-rman"] == 1796060530.0
    assert values(collector, "jinbao_backup_job_last_bytes")["finance-rman"] == 52613349376
    assert values(collector, "jinbao_backup_job_last_verify_success")["finance-rman"] == 0.0  # verify failed
    assert values(collector, "jinbao_backup_job_invalid_records")["finance-rman"] == 2.0  # garbled + truncated


def test_a_job_that_never_ran_reads_zero_not_absent(records_file):
    collector = collector_for(config(records_file), healthy_restic())
    collect_in_order(collector)
    for name in ("jinbao_backup_job_last_run_timestamp_seconds", "jinbao_backup_job_last_run_success",
                 "jinbao_backup_job_last_verify_timestamp_seconds", "jinbao_backup_job_last_bytes"):
        assert values(collector, name)["never-ran"] == 0.0
    assert values(collector, "jinbao_backup_up")["never-ran"] == 1.0


def test_restic_without_records_reads_snapshots_and_stats(records_file):
    collector = collector_for(config(records_file), healthy_restic())
    collect_in_order(collector)
    assert values(collector, "jinbao_backup_job_last_run_success")["pension-files"] == 1.0
    assert values(collector, "jinbao_backup_job_last_success_timestamp_seconds")["pension-files"] > 1.7e9
    assert values(collector, "jinbao_backup_job_last_bytes")["pension-files"] == json.loads(STATS)["total_size"]


def test_partial_run_is_not_a_success():
    lines = [json.dumps({"job": "j", "kind": "backup", "started_at": f"2026-01-0{day}T00:00:00Z",
                         "finished_at": f"2026-01-0{day}T00:01:00Z", "status": status})
             for day, status in ((1, "success"), (2, "partial"))]
    from monitors.backup.collector import backup_values

    result = backup_values(parse_lines("\n".join(lines)).records)
    assert result["run_success"] == 0.0 and result["last_success"] < result["last_run"]


@pytest.mark.parametrize("code", [1, 2, 3, 11, 130, -1, -2])
def test_any_failing_snapshots_exit_code_takes_only_that_target_down(records_file, code):
    runner = healthy_restic()
    runner.answers["/repos/pension"]["snapshots"] = (code, "", "Fatal: wrong password or no key found")
    collector = collector_for(config(records_file), runner)
    collect_in_order(collector)
    assert values(collector, "jinbao_backup_up") == {"pension-files": 0.0, "finance-rman": 1.0, "never-ran": 1.0}
    assert "pension-files" not in values(collector, "jinbao_backup_job_last_run_success")


@pytest.mark.parametrize("code, stderr, expected", [
    (0, "", 1.0), (1, "Fatal: repository contains errors", 0.0), (7, "", 0.0), (-1, "timed out", 0.0)])
def test_restic_check_exit_codes_set_verify_success(records_file, code, stderr, expected):
    cfg = config(records_file)
    cfg["targets"][0].update(check=True)
    runner = healthy_restic()
    runner.answers["/repos/pension"]["check"] = (code, "", stderr)
    collector = collector_for(cfg, runner)
    collector.collect_now()
    assert values(collector, "jinbao_backup_job_last_verify_success")["pension-files"] == expected
    assert values(collector, "jinbao_backup_job_last_verify_timestamp_seconds")["pension-files"] == NOW


def test_a_locked_repository_gives_no_check_verdict(records_file):
    cfg = config(records_file)
    cfg["targets"][0].update(check=True)
    runner = healthy_restic()
    runner.answers["/repos/pension"]["check"] = (1, "", "Fatal: unable to create lock in backend: repository is "
                                                        "already locked exclusively by PID 11 on backup-01")
    collector = collector_for(cfg, runner)
    collector.collect_now()
    assert values(collector, "jinbao_backup_job_last_verify_timestamp_seconds")["pension-files"] == 0.0


def test_an_unreadable_records_file_takes_only_its_target_down(records_file):
    records_file.unlink()
    records_file.mkdir()  # reading a directory fails with an OSError other than "no such file"
    collector = collector_for(config(records_file), healthy_restic())
    collect_in_order(collector)
    assert values(collector, "jinbao_backup_up") == {"pension-files": 1.0, "finance-rman": 0.0, "never-ran": 1.0}


# --- fuzzing --------------------------------------------------------------------------------------------
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                           lambda children: st.lists(children, max_size=4)
                           | st.dictionaries(st.text(max_size=10), children, max_size=4), max_leaves=6)
snapshot_like = st.fixed_dictionaries({"id": json_values | st.text(min_size=1), "time": json_values | st.just(
    "2026-12-02T13:59:24.811661835Z")}, optional={"summary": json_values, "paths": json_values})
restic_output = st.one_of(
    st.text(max_size=200),
    json_values.map(json.dumps),
    st.lists(snapshot_like, max_size=3).map(json.dumps),
    st.integers(min_value=0, max_value=len(SNAPSHOTS)).map(lambda n: SNAPSHOTS[:n]),  # truncated output
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(snapshots=restic_output, stats=restic_output, code=st.integers(min_value=-3, max_value=255))
def test_fuzzed_restic_output_never_escapes_and_downs_only_its_target(records_file, snapshots, stats, code):
    runner = healthy_restic()
    runner.answers["/repos/pension"] = {"snapshots": (code, snapshots, "x"), "stats": (0, stats, "")}
    collector = collector_for(config(records_file), runner)
    collect_in_order(collector)
    up = values(collector, "jinbao_backup_up")
    assert up["finance-rman"] == 1.0 and up["never-ran"] == 1.0
    if code != 0:
        assert up["pension-files"] == 0.0
    exposition(collector)  # and it still renders


record_like = st.fixed_dictionaries(
    {"job": st.just("j") | json_values, "kind": st.sampled_from(["backup", "verify", "restore-test"]) | json_values,
     "status": st.sampled_from(["success", "failed", "partial"]) | json_values,
     "started_at": st.just("2026-01-01T00:00:00Z") | json_values,
     "finished_at": st.just("2026-01-01T00:05:00Z") | json_values},
    optional={"bytes": json_values, "files": json_values, "message": json_values, "tool": json_values})


@settings(max_examples=100, deadline=None)
@given(lines=st.lists(st.one_of(record_like.map(json.dumps), st.text(max_size=80),
                                record_like.map(json.dumps).flatmap(
                                    lambda s: st.integers(0, len(s)).map(lambda n: s[:n]))), max_size=8))
def test_fuzzed_job_records_are_counted_never_raised(lines):
    lines = [line.replace("\n", " ").replace("\r", " ") for line in lines]
    parsed = parse_lines("\n".join(lines))
    meaningful = [line for line in "\n".join(lines).splitlines() if line.strip()]
    assert len(parsed.records) + parsed.invalid == len(meaningful)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(garbage=st.binary(max_size=300))
def test_garbled_records_file_keeps_the_target_up(tmp_path_factory, garbage):
    path = tmp_path_factory.mktemp("records") / "r.jsonl"
    path.write_bytes((FIXTURES / "backup" / "finance-rman.jsonl").read_bytes() + garbage)
    collector = collector_for(config(path), healthy_restic())
    collect_in_order(collector)
    assert values(collector, "jinbao_backup_up")["finance-rman"] == 1.0


def test_the_records_window_skips_the_line_it_cuts(tmp_path):
    path = tmp_path / "r.jsonl"
    line = json.dumps({"job": "j", "kind": "backup", "started_at": "2026-01-01T00:00:00Z",
                       "finished_at": "2026-01-01T00:05:00Z", "status": "success"}) + "\n"
    path.write_text(line * 100)
    parsed = read_records(path, "j", max_bytes=len(line) * 10 + 5)
    assert parsed.invalid == 0 and len(parsed.records) == 10


def test_job_records_doc_examples_are_valid_records():
    text = (ROOT / "monitors" / "backup" / "JOB-RECORDS.md").read_text()
    block = text.split("## Example", 1)[1].split("```json", 1)[1].split("```", 1)[0]
    parsed = parse_lines(block)
    assert parsed.invalid == 0 and len(parsed.records) == 4


def test_restic_error_names_the_repository_and_the_fix(records_file):
    runner = healthy_restic()
    runner.answers["/repos/pension"]["snapshots"] = (1, "", "Fatal: wrong password or no key found\n")
    collector = collector_for(config(records_file), runner)
    with pytest.raises(ResticError, match=r"repository /repos/pension: .*fatal error.*wrong password.*"
                                          r"password file /secrets/pension"):
        collector.probe(collector.targets[0])


# --- config and CLI -------------------------------------------------------------------------------------
def test_example_config_is_valid():
    cfg = load_config(ROOT / "monitors" / "backup" / "example.yml", SCHEMA)
    assert [t["kind"] for t in cfg["targets"]] == ["restic", "jobfile"]


def test_a_restic_target_without_repository_names_the_field(tmp_path):
    path = tmp_path / "b.yml"
    path.write_text(yaml.safe_dump({"targets": [{"name": "x", "kind": "restic", "system": "s", "zone": "production",
                                                 "schedule_seconds": 60, "restore_test_interval_seconds": 60,
                                                 "password_file": "/p"}]}))
    with pytest.raises(ConfigError, match=r"targets\[0\]\.repository: is missing"):
        load_config(path, SCHEMA)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _scrape(port: int) -> str:
    for _ in range(100):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
                return response.read().decode()
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing served on 127.0.0.1:{port}")


def _wait_for(predicate, what: str):
    for _ in range(100):
        result = predicate()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"never saw {what}")


def test_sighup_reloads_and_keeps_the_old_config_when_the_new_one_is_invalid(tmp_path, records_file):
    cfg = config(records_file)
    cfg["targets"] = cfg["targets"][1:]  # jobfile targets only: no restic needed
    path = tmp_path / "backup.yml"
    path.write_text(yaml.safe_dump(cfg))
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "monitors.backup", "--config.file", str(path),
                             "--web.listen-address", f"127.0.0.1:{port}"], cwd=ROOT, stderr=subprocess.PIPE,
                            text=True)
    try:
        _wait_for(lambda: 'jinbao_backup_up{target="finance-rman"} 1.0' in _scrape(port), "finance-rman up")
        path.write_text("targets: [ {name: broken\n")
        proc.send_signal(signal.SIGHUP)
        time.sleep(1.0)
        assert 'target="finance-rman"' in _scrape(port)  # the old config still runs
        cfg["targets"][1]["name"] = "statistics-archive"
        path.write_text(yaml.safe_dump(cfg))
        proc.send_signal(signal.SIGHUP)
        _wait_for(lambda: 'jinbao_backup_up{target="statistics-archive"} 1.0' in _scrape(port), "the new target")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    log = proc.stderr.read()
    assert "reload refused, keeping the running config" in log and "not valid YAML" in log
