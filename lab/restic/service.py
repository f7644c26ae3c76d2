"""labctl service `restic`: the lab backup server, real restic (Debian's /usr/bin/restic) repositories.

Under .lab/data/<name>/: sources/<job>/ (sample business data, generated once), repos/<job>/ (one restic
repository per job of the host's `backup_jobs`, password .lab/secrets/restic-<job>), records/<job>.jsonl
(job records, monitors/backup/JOB-RECORDS.md). The long-running process is lab/restic/scheduler.py, which
backs each job up on its schedule_seconds and verifies it (restic check + restore test) on its
restore_test_interval_seconds. A job with `lab_seed_corrupt: true` gets a repository whose data packs are
overwritten with random bytes after its first backup: a deliberately broken repository, which `heal` leaves broken.

A job with `pre: raft-snapshot` backs up the lab's Vault: before each `restic backup` the scheduler runs the raft
snapshot agent (monitors/backup/raft_snapshot.py) with the service certificate .pki/services/vault-snapshot (from
playbooks/service_certs.yml, which lab-up runs) against every node of group vault_cluster, into
sources/<job>/raft.snap; its restore test restores raft.snap and verifies it. With Vault down, that job records a
failed backup naming the cause, and the other jobs go on.

Faults (`labctl act backup-01 ...`) are real: fail-backup moves the job's source away (restic exits 1),
break-repo garbles the job's data packs (restic check fails, restore tests fail); heal undoes both.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import ClassVar

from lab import common
from lab.restic import scheduler

HERE = Path(__file__).resolve().parent
RESTIC = "/usr/bin/restic"
RESTORE_TEST_FILE = "table-01.csv"
RAFT_SNAPSHOT_FILE = "raft.snap"
SNAPSHOT_SERVICE = "vault-snapshot"  # jinbao_services entry and auth/cert role of the raft snapshot agent
PRE_HOOKS = ("raft-snapshot",)


class Service(common.Service):
    kind = "restic"
    start_timeout = 120.0
    actions: ClassVar[dict[str, str]] = {
        "run-backups": "run every job's backup now (and wait); prints each job's status",
        "run-verify": "[JOB] run restic check + restore test now for every job (or JOB)",
        "fail-backup": "JOB: the job's next backups fail for real (its source directory disappears)",
        "break-repo": "JOB: garble the data packs of JOB's repository (check and restore tests fail)",
        "heal": "undo fail-backup and break-repo (a job seeded corrupt stays corrupt)",
    }

    def __init__(self, name: str, hostvars: dict, lab: common.Lab) -> None:
        super().__init__(name, hostvars, lab)
        jobs = hostvars.get("backup_jobs")
        if not isinstance(jobs, list) or not jobs:
            raise common.LabError(f"{name}: backup_jobs: missing or empty in the inventory; list the jobs "
                                  "(name, system, zone, schedule_seconds, restore_test_interval_seconds, source)")
        for i, job in enumerate(jobs):
            for key in ("name", "system", "zone", "schedule_seconds", "restore_test_interval_seconds", "source"):
                if not isinstance(job, dict) or key not in job:
                    raise common.LabError(f"{name}: backup_jobs[{i}].{key}: missing; add it in host_vars/{name}.yml")
            if job.get("pre") is not None and job["pre"] not in PRE_HOOKS:
                raise common.LabError(f"{name}: backup_jobs[{i}].pre: {job['pre']!r} is not a pre-backup hook the lab "
                                      f"knows; use one of {', '.join(PRE_HOOKS)} or leave it out")
        self.jobs = jobs
        self.config_file = self.data_dir / "scheduler.json"
        self.faults_file = self.data_dir / "faults.json"
        self._vault_urls: list[str] | None = None

    # --- layout -------------------------------------------------------------------------------------------
    def job_config(self, job: dict) -> dict:
        config = {
            "name": job["name"],
            "source": str(self.data_dir / "sources" / job["source"]),
            "repository": str(self.data_dir / "repos" / job["name"]),
            "password_file": str(self.lab.state_dir / "secrets" / f"restic-{job['name']}"),
            "records_file": str(self.data_dir / "records" / f"{job['name']}.jsonl"),
            "schedule_seconds": float(job["schedule_seconds"]),
            "restore_test_interval_seconds": float(job["restore_test_interval_seconds"]),
            "restore_test_file": RESTORE_TEST_FILE,
        }
        if job.get("pre") == "raft-snapshot":
            agent = [sys.executable, "-m", "monitors.backup.raft_snapshot"]
            certs = common.ROOT / ".pki" / "services" / SNAPSHOT_SERVICE
            config.update(
                pre=[*agent, *(arg for url in self.vault_urls() for arg in ("--vault", url)),
                     "--ca-file", str(self.lab.ca_cert), "--cert", str(certs / f"{SNAPSHOT_SERVICE}.crt"),
                     "--key", str(certs / f"{SNAPSHOT_SERVICE}.key"), "--role", SNAPSHOT_SERVICE,
                     "--dest", str(Path(config["source"]) / RAFT_SNAPSHOT_FILE)],
                pre_cwd=str(common.ROOT), restore_test_file=RAFT_SNAPSHOT_FILE, restore_verify=[*agent, "verify"])
        return config

    def vault_urls(self) -> list[str]:
        """The API address of every node of group vault_cluster (inventory/lab: vault_hostname, vault_port)."""
        if self._vault_urls is None:
            data = common.load_inventory(common.ROOT / "inventory" / "lab")
            hostvars = data.get("_meta", {}).get("hostvars", {})
            nodes = sorted((data.get("vault_cluster") or {}).get("hosts") or ())
            if not nodes:
                raise common.LabError(f"{self.name}: a backup job has pre: raft-snapshot, but inventory/lab has no "
                                      "host in group vault_cluster to take the snapshot from")
            urls = []
            for node in nodes:
                address = str(hostvars[node].get("vault_hostname", "127.0.0.1"))
                common.require_loopback(f"{self.name}: {node}.vault_hostname", address)
                urls.append(f"https://{address}:{int(hostvars[node]['vault_port'])}")
            self._vault_urls = urls
        return self._vault_urls

    def scheduler_config(self) -> dict:
        return {"jobs": [self.job_config(j) for j in self.jobs], "lock_dir": str(self.data_dir / "locks"),
                "cache_dir": str(self.data_dir / "cache"), "scratch_dir": str(self.data_dir / "scratch"),
                "heartbeat_file": str(self.data_dir / "scheduler.heartbeat")}

    def _job(self, name: str) -> dict:
        for job in self.jobs:
            if job["name"] == name:
                return job
        raise common.LabError(f"{self.name}: no backup job {name!r}; known: {', '.join(j['name'] for j in self.jobs)}")

    # --- Service ------------------------------------------------------------------------------------------
    def build(self) -> None:
        if not Path(RESTIC).exists():
            raise common.LabError(f"{self.name}: {RESTIC} is missing; apt-get install restic (lab/packages.apt)")

    def prepare(self) -> None:
        for sub in ("sources", "repos", "records", "locks", "cache", "scratch", "faults"):
            (self.data_dir / sub).mkdir(parents=True, exist_ok=True)
        config = self.scheduler_config()
        for job, jc in zip(self.jobs, config["jobs"], strict=True):
            self.lab.secret(f"restic-{job['name']}")  # generated once, never printed
            if jc.get("pre"):  # the hook writes the data (raft.snap) before each backup
                Path(jc["source"]).mkdir(mode=0o700, exist_ok=True)
            else:
                self._sample_data(job, Path(jc["source"]))
                jc["restore_test_sha256"] = scheduler._sha256(Path(jc["source"]) / RESTORE_TEST_FILE)
            if not (Path(jc["repository"]) / "config").exists():
                shutil.rmtree(jc["repository"], ignore_errors=True)
                proc = subprocess.run([RESTIC, "init"], env=scheduler._env(jc, config["cache_dir"]),
                                      capture_output=True, text=True, timeout=120)
                if proc.returncode != 0:
                    raise common.LabError(f"{self.name}: restic init of {jc['repository']} failed: "
                                          f"{proc.stderr.strip()[-300:]}")
            marker = Path(jc["repository"]) / ".lab-seeded-corrupt"
            if job.get("lab_seed_corrupt") and not marker.exists():
                scheduler.run_backup(config, jc)
                self._garble_packs(Path(jc["repository"]))
                marker.write_text("data packs garbled at seed time (lab_seed_corrupt)\n")
        self.config_file.write_text(json.dumps(config, indent=2) + "\n")

    @staticmethod
    def _sample_data(job: dict, source: Path) -> None:
        """A few CSV tables of made-up records, deterministic per job; written once."""
        if source.exists():
            return
        rng = random.Random(job["name"])
        tmp = source.with_name(source.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for n in range(1, 9):
            rows = ["person_id,period,amount_cents"]
            rows += [f"{rng.randrange(10**9):09d},2024-{rng.randrange(1, 13):02d},{rng.randrange(10**6)}"
                     for _ in range(rng.randrange(200, 800))]
            (tmp / f"table-{n:02d}.csv").write_text("\n".join(rows) + "\n")
        tmp.rename(source)

    @staticmethod
    def _garble_packs(repo: Path) -> list[Path]:
        """Overwrite every data pack with random bytes of the same size: bit rot that `restic check` finds
        quickly (a truncated pack makes restic retry its reads for minutes instead)."""
        packs = sorted(p for p in (repo / "data").glob("*/*") if p.is_file())
        for pack in packs:
            size = pack.stat().st_size
            with open(pack, "r+b") as fh:
                fh.write(os.urandom(size))
        return packs

    def command(self) -> list[str]:
        return [sys.executable, "-m", "lab.restic.scheduler", str(self.config_file)]

    def health(self) -> tuple[bool, str]:
        beat = self.data_dir / "scheduler.heartbeat"
        try:
            age = time.time() - float(beat.read_text().strip())
        except (OSError, ValueError):
            return False, "scheduler has not written its heartbeat yet"
        if age > 30:
            return False, f"scheduler heartbeat is {age:.0f}s old"
        return True, f"scheduler running, {len(self.jobs)} jobs under {self.data_dir}"

    # --- faults -------------------------------------------------------------------------------------------
    def _faults(self) -> dict:
        try:
            return json.loads(self.faults_file.read_text())
        except (OSError, ValueError):
            return {"fail-backup": [], "break-repo": []}

    def _save_faults(self, faults: dict) -> None:
        self.faults_file.write_text(json.dumps(faults, indent=2) + "\n")

    def act(self, action: str, args: list[str]) -> str:
        if action not in self.actions:
            return super().act(action, args)
        config = json.loads(self.config_file.read_text())
        by_name = {jc["name"]: jc for jc in config["jobs"]}
        if action == "run-backups":
            return ", ".join(f"{jc['name']} {scheduler.run_backup(config, jc)}" for jc in config["jobs"])
        if action == "run-verify":
            chosen = [by_name[self._job(args[0])["name"]]] if args else config["jobs"]
            return "; ".join(f"{jc['name']}: {scheduler.run_verify(config, jc)}" for jc in chosen)
        if action == "heal":
            return self._heal(config, by_name)
        if len(args) != 1:
            raise common.LabError(f"{self.name}: {action} needs one job name: labctl act {self.name} {action} JOB")
        jc = by_name[self._job(args[0])["name"]]
        faults = self._faults()
        parked = self.data_dir / "faults" / jc["name"]
        if action == "fail-backup":
            source = Path(jc["source"])
            with scheduler.job_lock(config, jc):
                if source.exists():
                    parked.mkdir(parents=True, exist_ok=True)
                    shutil.rmtree(parked / "source", ignore_errors=True)
                    source.rename(parked / "source")
            faults["fail-backup"] = sorted({*faults["fail-backup"], jc["name"]})
            self._save_faults(faults)
            return f"{jc['name']}: source {source} moved away; its backups now fail (heal restores it)"
        # break-repo
        if jc["name"] in faults["break-repo"]:
            return f"{jc['name']}: repository already broken"
        with scheduler.job_lock(config, jc):
            repo = Path(jc["repository"])
            saved = parked / "packs"
            shutil.rmtree(saved, ignore_errors=True)
            saved.mkdir(parents=True)
            for pack in sorted(p for p in (repo / "data").glob("*/*") if p.is_file()):
                (saved / pack.parent.name).mkdir(exist_ok=True)
                shutil.copy2(pack, saved / pack.parent.name / pack.name)
            packs = self._garble_packs(repo)
        faults["break-repo"] = sorted({*faults["break-repo"], jc["name"]})
        self._save_faults(faults)
        return f"{jc['name']}: {len(packs)} data pack(s) of {repo} garbled (heal restores them)"

    def _heal(self, config: dict, by_name: dict) -> str:
        faults, done = self._faults(), []
        for name in faults["fail-backup"]:
            jc = by_name.get(name)
            parked = self.data_dir / "faults" / name / "source"
            if jc and parked.exists() and not Path(jc["source"]).exists():
                with scheduler.job_lock(config, jc):
                    parked.rename(jc["source"])
            done.append(f"{name} source back")
        for name in faults["break-repo"]:
            jc = by_name.get(name)
            saved = self.data_dir / "faults" / name / "packs"
            if jc and saved.exists():
                with scheduler.job_lock(config, jc):
                    for pack in saved.glob("*/*"):
                        shutil.copy2(pack, Path(jc["repository"]) / "data" / pack.parent.name / pack.name)
                shutil.rmtree(saved)
            done.append(f"{name} packs restored")
        self._save_faults({"fail-backup": [], "break-repo": []})
        return "healed: " + (", ".join(done) if done else "nothing was broken")
