"""BackupCollector: per backup job, when it last ran and succeeded, how long, how much, and when it was last
verified, from a restic repository and/or a job-record file (JOB-RECORDS.md).

Where the numbers come from, for a job (target):
- backup runs: the job's `backup` records when there are any; for a `restic` job without records, its
  snapshots (newest snapshot = last run and last success; duration from the snapshot summary where restic
  writes one (>= 0.17), else 0; bytes/files from the summary, else `restic stats --mode restore-size` of the
  newest snapshot, whose file count includes directories).
- bytes/files: those of the last successful run (a failed run moved no data).
- verify: the newest `verify` and `restore-test` records, and for `check: true` the exporter's own
  `restic check` (run in the background on check_interval_seconds). The timestamp is the newest of them;
  success is 1 only when the newest of each kind present succeeded.
A job that never ran reads 0. Bad record lines are skipped and counted (jinbao_backup_job_invalid_records).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from prometheus_client.core import GaugeMetricFamily, Metric

from monitors.backup.records import DEFAULT_MAX_BYTES, JobRecord, ParsedRecords, read_records
from monitors.backup.restic import CheckResult, Repository, Runner, subprocess_runner
from monitors.common.collection import BackgroundCollector, Target

LABELS = ("job", "system", "zone")

_FAMILIES = {
    "last_run": ("jinbao_backup_job_last_run_timestamp_seconds", "When the job's last run finished (0 = never)."),
    "last_success": ("jinbao_backup_job_last_success_timestamp_seconds",
                     "When the job's last successful run finished (0 = never)."),
    "run_success": ("jinbao_backup_job_last_run_success", "1 when the job's last run succeeded, else 0."),
    "duration": ("jinbao_backup_job_last_duration_seconds", "How long the job's last run took (0 = never/unknown)."),
    "bytes": ("jinbao_backup_job_last_bytes", "Bytes in the job's last successful backup."),
    "files": ("jinbao_backup_job_last_files", "Files in the job's last successful backup."),
    "schedule": ("jinbao_backup_job_schedule_seconds", "How often the job is meant to run."),
    "verify_ts": ("jinbao_backup_job_last_verify_timestamp_seconds",
                  "When the job's backups were last verified or restore-tested (0 = never)."),
    "verify_success": ("jinbao_backup_job_last_verify_success",
                       "1 when the newest verify and restore test of the job succeeded, else 0."),
    "restore_interval": ("jinbao_backup_job_restore_test_interval_seconds",
                         "How often a verify or restore test of the job is due."),
    "invalid": ("jinbao_backup_job_invalid_records",
                "Lines of the job-record file that are not valid records (skipped)."),
}


def backup_values(records: list[JobRecord]) -> dict[str, float]:
    """last_run, last_success, run_success, duration, bytes, files from a job's backup records."""
    runs = sorted((r for r in records if r.kind == "backup"), key=lambda r: r.finished_at)
    values = dict.fromkeys(("last_run", "last_success", "run_success", "duration", "bytes", "files"), 0.0)
    if runs:
        last = runs[-1]
        values.update(last_run=last.finished_at, run_success=float(last.status == "success"),
                      duration=last.finished_at - last.started_at)
    good = [r for r in runs if r.status == "success"]
    if good:
        values.update(last_success=good[-1].finished_at, bytes=float(good[-1].bytes or 0),
                      files=float(good[-1].files or 0))
    return values


def verify_values(records: list[JobRecord], check: CheckResult | None = None) -> dict[str, float]:
    """verify_ts and verify_success from verify/restore-test records and the exporter's own check."""
    newest: dict[str, tuple[float, bool]] = {}
    for r in records:
        if r.kind in ("verify", "restore-test") and r.finished_at >= newest.get(r.kind, (-1.0, False))[0]:
            newest[r.kind] = (r.finished_at, r.status == "success")
    if check is not None and check.finished_at >= newest.get("verify", (-1.0, False))[0]:
        newest["verify"] = (check.finished_at, check.ok)
    if not newest:
        return {"verify_ts": 0.0, "verify_success": 0.0}
    return {"verify_ts": max(ts for ts, _ in newest.values()),
            "verify_success": float(all(ok for _, ok in newest.values()))}


class BackupCollector(BackgroundCollector):
    exporter = "backup"

    def __init__(self, targets: list[Target], config: dict | None = None, clock=None,
                 runner: Runner = subprocess_runner) -> None:
        super().__init__(targets, config, **({"clock": clock} if clock else {}))
        self.runner = runner
        self._checks: dict[str, CheckResult] = {}
        self._check_started: dict[str, float] = {}
        self._check_threads: dict[str, threading.Thread] = {}
        self._check_lock = threading.Lock()

    def collect_now(self) -> None:
        """Every job once; a `restic check` that this starts is waited for and its result collected too."""
        super().collect_now()
        with self._check_lock:
            started = list(self._check_threads.values())
        for thread in started:
            thread.join()
        if started:
            super().collect_now()

    def adopt(self, old: BackgroundCollector) -> None:
        super().adopt(old)
        if isinstance(old, BackupCollector):
            with old._check_lock:
                for target in self.targets:
                    if target in old.targets:
                        for mine, theirs in ((self._checks, old._checks), (self._check_started, old._check_started),
                                             (self._check_threads, old._check_threads)):
                            if target.name in theirs:
                                mine[target.name] = theirs[target.name]

    def repository(self, target: Target) -> Repository:
        spec = target.spec
        return Repository(spec["repository"], spec["password_file"], spec.get("restic_binary", "/usr/bin/restic"),
                          runner=self.runner)

    def probe(self, target: Target) -> list[Metric]:
        spec = target.spec
        job = spec.get("job") or target.name
        parsed = self._records(target, job)
        records = parsed.records if parsed else []
        values = backup_values(records)
        if spec["kind"] == "restic":
            repo = self.repository(target)
            snapshots = repo.snapshots(target.timeout, spec.get("snapshot_tags", ()), spec.get("snapshot_host"))
            if not any(r.kind == "backup" for r in records) and snapshots:
                newest = max(snapshots, key=lambda s: s.time)
                end = newest.backup_end or newest.time
                values.update(last_run=end, last_success=end, run_success=1.0,
                              duration=(newest.backup_end - newest.backup_start)
                              if newest.backup_end and newest.backup_start else 0.0)
                if newest.bytes is not None and newest.files is not None:
                    values.update(bytes=float(newest.bytes), files=float(newest.files))
                else:
                    size, count = repo.latest_stats(newest.id, target.timeout)
                    values.update(bytes=float(size), files=float(count))
            if spec.get("check"):
                self._maybe_start_check(target, repo)
        with self._check_lock:
            check = self._checks.get(target.name)
        values.update(verify_values(records, check))
        values.update(schedule=float(spec["schedule_seconds"]),
                      restore_interval=float(spec["restore_test_interval_seconds"]),
                      invalid=float(parsed.invalid if parsed else 0))
        labels = {"job": job, "system": spec["system"], "zone": spec["zone"]}
        return list(self._families(labels, values))

    def _records(self, target: Target, job: str) -> ParsedRecords | None:
        path = target.spec.get("records_file")
        if not path:
            return None
        try:
            parsed = read_records(path, job, int(target.spec.get("records_max_bytes", DEFAULT_MAX_BYTES)))
        except OSError as exc:
            raise OSError(f"job-record file {path}: cannot be read ({exc.strerror or exc}); "
                          "check the path and that the exporter's user may read it") from None
        if parsed is None:
            self.log.debug(f"job-record file {path} does not exist yet: the job never ran",
                           extra={"target": target.name})
        elif parsed.invalid:
            self.log.warning(f"job-record file {path}: {parsed.invalid} invalid line(s) skipped, first: "
                             f"{parsed.first_problem}", extra={"target": target.name})
        return parsed

    def _maybe_start_check(self, target: Target, repo: Repository) -> None:
        """Start `restic check` in its own thread when it is due and none is running for this target."""
        spec = target.spec
        now = self.clock()
        with self._check_lock:
            running = self._check_threads.get(target.name)
            if running is not None and running.is_alive():
                return
            if now - self._check_started.get(target.name, 0.0) < float(spec.get("check_interval_seconds", 86400)):
                return
            self._check_started[target.name] = now

            def check() -> None:
                result = repo.check(float(spec.get("check_timeout_seconds", 3600)), self.clock)
                if result is None:
                    self.log.info("restic check skipped: the repository is locked by another restic; "
                                  "retrying at the next collection", extra={"target": target.name})
                    with self._check_lock:
                        self._check_started[target.name] = 0.0
                    return
                (self.log.info if result.ok else self.log.warning)(
                    f"restic check of {repo.repository}: {result.detail}", extra={"target": target.name})
                with self._check_lock:
                    self._checks[target.name] = result

            thread = threading.Thread(target=check, daemon=True, name=f"backup-check-{target.name}")
            self._check_threads[target.name] = thread
            thread.start()

    @staticmethod
    def _families(labels: dict[str, str], values: dict[str, float]) -> Iterable[Metric]:
        for key, (name, doc) in _FAMILIES.items():
            family = GaugeMetricFamily(name, doc, labels=list(labels))
            family.add_metric(list(labels.values()), values[key])
            yield family
