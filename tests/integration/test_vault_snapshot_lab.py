"""Vault raft snapshots on a schedule, backed up with restic and watched by the backup exporter (issue #15, Deliver
6), against the real lab: the OpenBao raft cluster vault-01..03 and the backup server backup-01 (lab/restic), whose
job vault-raft runs the snapshot agent (monitors/backup/raft_snapshot.py) before each `restic backup`.
"""

from __future__ import annotations

import copy
import json
import socket
import subprocess
from pathlib import Path

import hvac
import hvac.exceptions
import pytest
import yaml
from test_backup_exporter_lab import exporter_config, scrape
from vcsim_fixtures import LAB_STATE, ROOT, VENV_BIN, labctl

from lab.restic import scheduler
from lab.security import VAULT_URL
from monitors.backup.raft_snapshot import verify

HOST = "backup-01"
JOB = "vault-raft"
NODES = ("vault-01", "vault-02", "vault-03")
CA = str(LAB_STATE / "pki" / "ca.crt")
AGENT = ROOT / ".pki" / "services" / "vault-snapshot"
OPERATOR = ROOT / ".pki" / "operators" / "lab-sysadmin"
NODE_URLS: dict[str, str] = yaml.safe_load(
    (ROOT / "inventory" / "lab" / "group_vars" / "vault_cluster" / "cluster.yml").read_text())["vault_cluster_nodes"]


def act(*words: str) -> str:
    """`labctl act ...`; its one line of output (the test fails with labctl's output when it fails)."""
    proc = subprocess.run([str(VENV_BIN / "python"), "-m", "lab.labctl", "act", *words], cwd=ROOT,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout.strip()


@pytest.fixture(scope="module")
def lab() -> dict:
    """The Vault cluster and backup-01 up (lab-up also issues the agent's certificate); the scheduler's config."""
    labctl("up", "--only", *NODES, HOST)
    act(HOST, "heal")
    return json.loads((LAB_STATE / "data" / HOST / "scheduler.json").read_text())


def job_of(config: dict) -> dict:
    return next(job for job in config["jobs"] if job["name"] == JOB)


def last_record(job: dict, kind: str) -> dict:
    lines = Path(job["records_file"]).read_text().splitlines()
    return next(rec for rec in map(json.loads, reversed(lines)) if rec["kind"] == kind)


def repo_snapshots(config: dict, job: dict) -> list[dict]:
    code, out, err = scheduler._restic(job, config["cache_dir"], "snapshots", "--json", timeout=120)
    assert code == 0, err
    return json.loads(out) or []


def test_a_backup_run_takes_a_raft_snapshot_whose_restic_copy_restores_to_a_valid_snapshot(lab, tmp_path):
    job = job_of(lab)
    assert "vault-raft success" in act(HOST, "run-backups")
    record = last_record(job, "backup")
    assert record["status"] == "success" and "raft snapshot from https://127.0.0.1:" in record["message"], record
    code, _out, err = scheduler._restic(job, lab["cache_dir"], "restore", "latest", "--target", str(tmp_path),
                                        "--include", str(Path(job["source"]) / "raft.snap"), timeout=300)
    assert code == 0, err
    restored = tmp_path / str(Path(job["source"]) / "raft.snap").lstrip("/")
    assert verify(restored)["index"] > 0
    # the job's own restore test: restic check, restore raft.snap, verify it (not a SHA-256 of a sample table)
    assert act(HOST, "run-verify", JOB).endswith(f"{JOB}: check success, restore test success")
    assert "valid raft snapshot" in last_record(job, "restore-test")["message"]


def test_the_backup_exporter_reports_the_vault_snapshot_job_succeeding(lab):
    act(HOST, "run-backups")
    act(HOST, "run-verify", JOB)
    metrics = scrape(exporter_config({JOB: job_of(lab)}))
    assert metrics["jinbao_backup_up"][JOB] == 1.0
    assert metrics["jinbao_backup_job_last_run_success"][JOB] == 1.0
    assert metrics["jinbao_backup_job_last_files"][JOB] == 1.0  # raft.snap, nothing else
    assert metrics["jinbao_backup_job_last_verify_success"][JOB] == 1.0


def test_a_vault_nobody_answers_gives_a_failed_backup_naming_the_cause_and_restic_is_not_run(lab, tmp_path):
    """As with the whole Vault down (the shared lab's Vault stays up): the agent is pointed at a closed port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"https://127.0.0.1:{sock.getsockname()[1]}"
    job = copy.deepcopy(job_of(lab))
    pre = job["pre"]
    vault_at = [i for i, arg in enumerate(pre) if arg == "--vault"]
    job["pre"] = [*pre[:vault_at[0]], "--vault", dead, "--retry-wait", "0", *pre[vault_at[-1] + 2:]]
    job["records_file"] = str(tmp_path / f"{JOB}.jsonl")
    config = {**lab, "lock_dir": str(tmp_path / "locks")}
    before = repo_snapshots(lab, job)
    assert scheduler.run_backup(config, job) == "failed"
    record = last_record(job, "backup")
    assert record["status"] == "failed"
    assert record["message"].startswith("pre-backup hook failed, restic not run: raft snapshot failed: ")
    assert f"vault {dead}: login: unreachable" in record["message"] and "\n" not in record["message"]
    assert len(repo_snapshots(lab, job)) == len(before)  # nothing stale was backed up as new


def agent_login(cert_dir: Path, name: str) -> hvac.Client:
    client = hvac.Client(url=VAULT_URL, cert=(str(cert_dir / f"{name}.crt"), str(cert_dir / f"{name}.key")),
                         verify=CA, timeout=30)
    client.auth.cert.login(name="vault-snapshot", cert_pem=str(cert_dir / f"{name}.crt"),
                           key_pem=str(cert_dir / f"{name}.key"))
    return client


def test_an_operator_certificate_cannot_log_in_with_the_snapshot_role(lab):
    with pytest.raises((hvac.exceptions.InvalidRequest, hvac.exceptions.Forbidden)):
        agent_login(OPERATOR, "lab-sysadmin")


def test_the_snapshot_agent_token_reads_the_snapshot_and_no_facility_credential(lab):
    client = agent_login(AGENT, "vault-snapshot")
    try:
        assert set(client.auth.token.lookup_self()["data"]["policies"]) == {"default", "jinbao-vault-snapshot"}
        for path in ("facility/main/postgres/pg-monitor", f"facility/main/restic/{JOB}"):
            with pytest.raises(hvac.exceptions.Forbidden):
                client.secrets.kv.v2.read_secret_version(path=path, mount_point="jinbao", raise_on_deleted_version=True)
        response = client.sys.take_raft_snapshot()
        assert response.status_code == 200
        response.close()
    finally:
        client.auth.token.revoke_self()


def test_with_the_leader_killed_the_snapshot_comes_from_another_node(lab):
    job = job_of(lab)
    killed = act("vault-01", "kill-leader")  # "vault-01: killed the leader vault-0N (pid P)"
    leader = next(node for node in NODES if f"the leader {node} " in killed)
    try:
        assert "vault-raft success" in act(HOST, "run-backups")
        record = last_record(job, "backup")
        assert record["status"] == "success", record
        assert "raft snapshot from https://" in record["message"]
        assert f"raft snapshot from {NODE_URLS[leader]} " not in record["message"], record
    finally:
        labctl("up", "--only", "openbao")  # the killed node comes back, unsealed, and rejoins
