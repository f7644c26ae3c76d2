"""The backup exporter against the lab backup server (lab/restic, host backup-01): real restic 0.14
repositories, job records from the lab's scheduler, and real faults set off with `labctl act`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from prometheus_client.registry import CollectorRegistry
from vcsim_fixtures import LAB_STATE, ROOT, labctl

from monitors.backup.collector import BackupCollector
from monitors.backup.config import SCHEMA
from monitors.common import targets_from_config
from monitors.common.config import validate_config

HOST = "backup-01"
BROKEN = "warehouse-archive"  # inventory/lab/host_vars/backup-01.yml: lab_seed_corrupt
FAULTED = "pension-files"
VAULT_JOB = "vault-raft"  # needs the lab's Vault up: tests/integration/test_vault_snapshot_lab.py covers it


@pytest.fixture(scope="module")
def lab_backup() -> dict:
    """backup-01 up with no injected faults; the jobs as the lab's scheduler runs them (name -> job)."""
    labctl("up", "--only", HOST)
    labctl("act", HOST, "heal")
    labctl("act", HOST, "run-backups")
    yield {job["name"]: job for job in json.loads((LAB_STATE / "data" / HOST / "scheduler.json").read_text())["jobs"]}
    labctl("act", HOST, "heal")


def exporter_config(jobs: dict, records: bool = True, check: tuple[str, ...] = ()) -> dict:
    declared = {j["name"]: j for j in yaml.safe_load((ROOT / "inventory" / "lab" / "host_vars" / f"{HOST}.yml")
                                                     .read_text())["backup_jobs"]}
    targets = []
    for name, job in jobs.items():
        target = {"name": name, "kind": "restic", "system": declared[name]["system"], "zone": declared[name]["zone"],
                  "schedule_seconds": job["schedule_seconds"],
                  "restore_test_interval_seconds": job["restore_test_interval_seconds"],
                  "repository": job["repository"], "password_file": job["password_file"],
                  "check": name in check}
        if records:
            target["records_file"] = job["records_file"]
        targets.append(target)
    return validate_config({"collection": {"timeout_seconds": 60}, "targets": targets}, SCHEMA, "lab")


def scrape(config: dict) -> dict[str, dict[str, float]]:
    """metric name -> target -> value, after one collection of every target."""
    collector = BackupCollector(targets_from_config(config), config)
    collector.collect_now()
    registry = CollectorRegistry()
    registry.register(collector)
    out: dict[str, dict[str, float]] = {}
    for metric in registry.collect():
        for sample in metric.samples:
            out.setdefault(sample.name, {})[sample.labels["target"]] = sample.value
    return out


def healthy(jobs: dict) -> list[str]:
    return [name for name in jobs if name not in (BROKEN, VAULT_JOB)]


def test_real_repositories_give_success_metrics(lab_backup):
    metrics = scrape(exporter_config(lab_backup))
    for name in healthy(lab_backup):
        assert metrics["jinbao_backup_up"][name] == 1.0, name
        assert metrics["jinbao_backup_job_last_run_success"][name] == 1.0, name
        assert metrics["jinbao_backup_job_last_success_timestamp_seconds"][name] > 0, name
        assert metrics["jinbao_backup_job_last_bytes"][name] > 0, name
        assert metrics["jinbao_backup_job_last_files"][name] > 0, name
        assert metrics["jinbao_backup_job_last_verify_success"][name] == 1.0, name


def test_snapshots_alone_give_last_success_and_size(lab_backup):
    metrics = scrape(exporter_config(lab_backup, records=False))
    for name in healthy(lab_backup):
        assert metrics["jinbao_backup_job_last_run_success"][name] == 1.0, name
        assert metrics["jinbao_backup_job_last_success_timestamp_seconds"][name] > 0, name
        assert metrics["jinbao_backup_job_last_bytes"][name] > 0, name


def test_a_failed_backup_shows_for_that_job_only(lab_backup):
    labctl("act", HOST, "fail-backup", FAULTED)
    try:
        labctl("act", HOST, "run-backups")
        metrics = scrape(exporter_config(lab_backup))
        assert metrics["jinbao_backup_job_last_run_success"][FAULTED] == 0.0
        assert metrics["jinbao_backup_up"][FAULTED] == 1.0  # the job failed, not the exporter
        assert metrics["jinbao_backup_job_last_success_timestamp_seconds"][FAULTED] > 0  # an older success stays
        for name in healthy(lab_backup):
            if name != FAULTED:
                assert metrics["jinbao_backup_job_last_run_success"][name] == 1.0, name
    finally:
        labctl("act", HOST, "heal")
    labctl("act", HOST, "run-backups")
    assert scrape(exporter_config(lab_backup))["jinbao_backup_job_last_run_success"][FAULTED] == 1.0


def test_the_corrupt_repository_fails_verification(lab_backup):
    metrics = scrape(exporter_config(lab_backup, check=(BROKEN,)))
    assert metrics["jinbao_backup_up"][BROKEN] == 1.0  # its snapshots are still listed
    assert metrics["jinbao_backup_job_last_verify_success"][BROKEN] == 0.0
    assert metrics["jinbao_backup_job_last_verify_timestamp_seconds"][BROKEN] > 0


def test_a_repository_broken_on_demand_fails_verification_until_healed(lab_backup):
    victim = "public-service-docs"
    labctl("act", HOST, "break-repo", victim)
    try:
        labctl("act", HOST, "run-verify", victim)
        metrics = scrape(exporter_config(lab_backup))
        assert metrics["jinbao_backup_job_last_verify_success"][victim] == 0.0
        assert metrics["jinbao_backup_job_last_verify_success"]["basic-info-db"] == 1.0
    finally:
        labctl("act", HOST, "heal")
    labctl("act", HOST, "run-verify", victim)
    assert scrape(exporter_config(lab_backup))["jinbao_backup_job_last_verify_success"][victim] == 1.0


def test_a_wrong_password_takes_only_that_target_down(lab_backup, tmp_path):
    wrong = tmp_path / "wrong-password"
    wrong.write_text("not-the-password\n")
    config = exporter_config(lab_backup)
    config["targets"][0]["password_file"] = str(wrong)
    metrics = scrape(config)
    first = config["targets"][0]["name"]
    assert metrics["jinbao_backup_up"][first] == 0.0
    assert all(metrics["jinbao_backup_up"][t["name"]] == 1.0 for t in config["targets"][1:])
    assert Path(wrong).exists()
