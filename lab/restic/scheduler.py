"""The lab backup server's scheduler: runs each job's `restic backup` on its schedule and, on the job's
restore-test interval, a `restic check` and a restore test (restore one file, compare its SHA-256), writing
one job record per run (monitors/backup/JOB-RECORDS.md) to records/<job>.jsonl.

A job may have a pre-backup hook (`pre`: a command, run in `pre_cwd`): it makes the data to back up (the Vault
raft snapshot agent, monitors/backup/raft_snapshot.py, writes the job's raft.snap). When the hook fails, restic is
not run (a stale file is never backed up as new): the backup record is failed, with the hook's last line. A job
with `restore_verify` (a command) checks its restored file with that command (the file's path appended) instead
of comparing SHA-256s.

    python -m lab.restic.scheduler CONFIG.json     # CONFIG is written by lab/restic/service.py

The functions run_backup/run_verify are also called by `labctl act backup-01 run-backups|run-verify`;
a per-job file lock keeps the scheduler and labctl from running the same job at once.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

RESTIC = "/usr/bin/restic"
BACKUP_TIMEOUT = 600.0
CHECK_TIMEOUT = 600.0
HOOK_TIMEOUT = 300.0


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _env(job: dict, cache_dir: str) -> dict:
    return {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root"), "RESTIC_REPOSITORY": job["repository"],
            "RESTIC_PASSWORD_FILE": job["password_file"], "RESTIC_CACHE_DIR": cache_dir}


def _restic(job: dict, cache_dir: str, *args: str, timeout: float) -> tuple[int, str, str]:
    try:
        proc = subprocess.run([RESTIC, *args], env=_env(job, cache_dir), capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL, errors="replace")
    except subprocess.TimeoutExpired:
        return -1, "", f"timed out after {timeout:g}s"
    return proc.returncode, proc.stdout, proc.stderr


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def _hook(job: dict, argv: list[str]) -> tuple[int, str]:
    """Run a job's hook command; (exit code, its last line: stdout on success, stderr on failure)."""
    try:
        proc = subprocess.run(argv, cwd=job.get("pre_cwd") or None, capture_output=True, text=True, errors="replace",
                              timeout=float(job.get("hook_timeout_seconds") or HOOK_TIMEOUT), stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        return -1, f"{argv[0]}: timed out after {exc.timeout:g}s"
    except OSError as exc:
        return -1, f"{argv[0]}: cannot run it ({exc.strerror})"
    if proc.returncode == 0:
        return 0, _last_line(proc.stdout)
    return proc.returncode, _last_line(proc.stderr) or _last_line(proc.stdout) or f"exit code {proc.returncode}"


@contextlib.contextmanager
def job_lock(config: dict, job: dict):
    path = Path(config["lock_dir"]) / f"{job['name']}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def write_record(job: dict, record: dict) -> None:
    line = json.dumps({"job": job["name"], "tool": "restic", **record}, separators=(",", ":")) + "\n"
    with open(job["records_file"], "a", encoding="utf-8") as fh:
        fh.write(line)


def run_backup(config: dict, job: dict) -> str:
    """One `restic backup` of the job's source; returns its status (success|partial|failed)."""
    with job_lock(config, job):
        source = Path(job["source"])
        started = _now()
        hooked = ""
        if job.get("pre"):  # the hook makes the data (a Vault raft snapshot); without it, no backup
            code, hooked = _hook(job, job["pre"])
            if code != 0:
                write_record(job, {"kind": "backup", "started_at": started, "finished_at": _now(), "status": "failed",
                                   "message": f"pre-backup hook failed, restic not run: {hooked}", "exit_code": code})
                return "failed"
        elif source.is_dir():  # the business data changes between runs
            with open(source / "journal.log", "a") as fh:
                fh.write(f"{started} entries appended\n")
        # A wrapper's first step: remove locks left by a restic that died (restic unlock removes only stale ones).
        _restic(job, config["cache_dir"], "unlock", timeout=60)
        code, out, err = _restic(job, config["cache_dir"], "backup", "--json", "--tag", f"job={job['name']}",
                                 str(source), timeout=BACKUP_TIMEOUT)
        summary: dict = {}
        for line in out.splitlines():
            with contextlib.suppress(ValueError):
                msg = json.loads(line)
                if isinstance(msg, dict) and msg.get("message_type") == "summary":
                    summary = msg
        # restic's documented exit codes: 0 ok, 3 snapshot incomplete (unreadable files), 1 fatal; others unknown
        status = {0: "success", 3: "partial"}.get(code, "failed")
        message = (f"snapshot {summary.get('snapshot_id', '?')}" if code == 0 else
                   f"exit code {code}: {_last_line(err) or 'no error output'}")
        if hooked and code == 0:
            message += f" of {hooked}"
        record = {"kind": "backup", "started_at": started, "finished_at": _now(), "status": status,
                  "message": message, "exit_code": code}
        if status != "failed":
            record.update(bytes=summary.get("total_bytes_processed"), files=summary.get("total_files_processed"))
        write_record(job, record)
        return status


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


def run_verify(config: dict, job: dict) -> str:
    """`restic check` (kind verify) and a restore test (kind restore-test); returns both statuses."""
    with job_lock(config, job):
        started = _now()
        code, _out, err = _restic(job, config["cache_dir"], "check", timeout=CHECK_TIMEOUT)
        check = "success" if code == 0 else "failed"
        write_record(job, {"kind": "verify", "started_at": started, "finished_at": _now(), "status": check,
                           "message": "no errors were found" if code == 0 else f"exit code {code}: {_last_line(err)}",
                           "exit_code": code})
        started = _now()
        wanted = Path(job["source"]) / job["restore_test_file"]
        with tempfile.TemporaryDirectory(prefix=f"restore-{job['name']}-", dir=config["scratch_dir"]) as target:
            code, _out, err = _restic(job, config["cache_dir"], "restore", "latest", "--target", target,
                                      "--include", str(wanted), timeout=CHECK_TIMEOUT)
            restored = Path(target) / str(wanted).lstrip("/")
            if code != 0:
                restore, message = "failed", f"restic restore exit code {code}: {_last_line(err)}"
            elif not restored.is_file():
                restore, message = "failed", f"{wanted} is not in the latest snapshot"
            elif job.get("restore_verify"):  # the file checks itself (a raft snapshot: every SHA256SUMS entry)
                code, line = _hook(job, [*job["restore_verify"], str(restored)])
                restore = "success" if code == 0 else "failed"
                line = line.replace(f"{restored}: ", "")
                message = f"{wanted}: restored; {line}" if code == 0 else f"{wanted}: restored, not valid: {line}"
            elif _sha256(restored) != job["restore_test_sha256"]:
                restore, message = "failed", f"{wanted}: restored SHA-256 differs from the original"
            else:
                restore, message = "success", f"{wanted}: restored, SHA-256 matches"
        write_record(job, {"kind": "restore-test", "started_at": started, "finished_at": _now(), "status": restore,
                           "message": message, "exit_code": code})
        return f"check {check}, restore test {restore}"


def _newest(job: dict, kinds: tuple[str, ...]) -> float:
    """Finish time of the job's newest record of these kinds (0 if none); bad lines are ignored."""
    newest = 0.0
    with contextlib.suppress(OSError):
        for line in Path(job["records_file"]).read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError, KeyError, TypeError, AttributeError):
                rec = json.loads(line)
                if rec["kind"] in kinds:
                    newest = max(newest, datetime.datetime.fromisoformat(rec["finished_at"]).timestamp())
    return newest


def main(argv: list[str]) -> int:
    config = json.loads(Path(argv[1]).read_text())
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    heartbeat = Path(config["heartbeat_file"])

    def beat() -> None:
        while not stop.is_set():
            heartbeat.write_text(f"{time.time()}\n")
            stop.wait(2)

    threading.Thread(target=beat, daemon=True).start()
    due = {job["name"]: {"backup": _newest(job, ("backup",)) + job["schedule_seconds"],
                         "verify": _newest(job, ("verify", "restore-test")) + job["restore_test_interval_seconds"]}
           for job in config["jobs"]}
    print(f"{_now()} scheduler: {len(config['jobs'])} jobs", flush=True)
    while not stop.is_set():
        for job in config["jobs"]:
            if stop.is_set():
                break
            now = time.time()
            if now >= due[job["name"]]["backup"]:
                print(f"{_now()} {job['name']}: backup {run_backup(config, job)}", flush=True)
                due[job["name"]]["backup"] = time.time() + job["schedule_seconds"]
            if now >= due[job["name"]]["verify"]:
                print(f"{_now()} {job['name']}: {run_verify(config, job)}", flush=True)
                due[job["name"]]["verify"] = time.time() + job["restore_test_interval_seconds"]
        stop.wait(1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
