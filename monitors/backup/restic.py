"""Reading a restic repository with the restic command (0.14 and later): snapshots, stats, check.

Exit codes as restic documents them: 0 success, 1 fatal error (for `check`: errors were found), 3 (backup
only) the snapshot is incomplete because some source files could not be read. Any other code is a failure.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from monitors.backup.records import parse_timestamp

# run(argv, env, timeout) -> (exit code, stdout, stderr); replaced by a fake in tests.
Runner = Callable[[Sequence[str], dict, float], tuple[int, str, str]]


class ResticError(RuntimeError):
    """restic could not read the repository; the message names it, the command and the fix."""


def subprocess_runner(argv: Sequence[str], env: dict, timeout: float) -> tuple[int, str, str]:
    try:
        proc = subprocess.run(list(argv), env=env, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, errors="replace")
    except subprocess.TimeoutExpired:
        return -1, "", f"timed out after {timeout:g}s (killed)"
    except OSError as exc:
        return -2, "", f"cannot run {argv[0]}: {exc.strerror or exc}"
    return proc.returncode, proc.stdout, proc.stderr


@dataclass(frozen=True)
class Snapshot:
    id: str
    time: float
    # restic >= 0.17 adds a summary to each snapshot; 0.14 has none (then these stay None)
    backup_start: float | None = None
    backup_end: float | None = None
    bytes: int | None = None
    files: int | None = None


@dataclass(frozen=True)
class CheckResult:
    finished_at: float
    ok: bool
    detail: str


def _last_line(text: str) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1][:300] if lines else "(no output)"


def parse_snapshots(text: str) -> list[Snapshot]:
    """Snapshots from `restic snapshots --json`; ValueError when the output is not what restic writes."""
    data = json.loads(text)
    if data is None:  # some restic versions print null for an empty repository
        return []
    if not isinstance(data, list):
        raise ValueError(f"expected a JSON list of snapshots, got a {type(data).__name__}")
    out = []
    for i, snap in enumerate(data):
        if not isinstance(snap, dict):
            raise ValueError(f"snapshot #{i} is a {type(snap).__name__}, not an object")
        sid = snap.get("id")
        if not isinstance(sid, str):
            raise ValueError(f"snapshot #{i}: id {sid!r} is not a string")
        summary = snap.get("summary")
        extra: dict = {}
        if isinstance(summary, dict):
            try:
                extra = {"backup_start": parse_timestamp(summary.get("backup_start")),
                         "backup_end": parse_timestamp(summary.get("backup_end"))}
            except ValueError:
                extra = {}
            for key, field in (("total_bytes_processed", "bytes"), ("total_files_processed", "files")):
                value = summary.get(key)
                if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                    extra[field] = value
        out.append(Snapshot(id=sid, time=parse_timestamp(snap.get("time")), **extra))
    return out


def parse_stats(text: str) -> tuple[int, int]:
    """(bytes, files) from `restic stats --json` (restore-size mode); ValueError on anything else."""
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, got a {type(data).__name__}")
    size, count = data.get("total_size"), data.get("total_file_count")
    for name, value in (("total_size", size), ("total_file_count", count)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} {value!r} is not a whole number >= 0")
    return size, count


class Repository:
    """One restic repository, read with its password file and bounded timeouts."""

    def __init__(self, repository: str, password_file: str, binary: str = "restic",
                 runner: Runner = subprocess_runner, extra_env: dict | None = None) -> None:
        self.repository, self.password_file, self.binary, self.runner = repository, password_file, binary, runner
        self.env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/"),
                    "RESTIC_REPOSITORY": repository, "RESTIC_PASSWORD_FILE": password_file, **(extra_env or {})}
        if "RESTIC_CACHE_DIR" in os.environ:
            self.env["RESTIC_CACHE_DIR"] = os.environ["RESTIC_CACHE_DIR"]

    def _run(self, args: list[str], timeout: float) -> tuple[int, str, str]:
        return self.runner([self.binary, *args], dict(self.env), timeout)

    def _read(self, args: list[str], timeout: float) -> str:
        code, out, err = self._run(args, timeout)
        if code != 0:
            what = {1: "fatal error", -1: "timeout", -2: "cannot start restic"}.get(code, f"unknown exit code {code}")
            raise ResticError(f"repository {self.repository}: `restic {' '.join(args)}` failed ({what}): "
                              f"{_last_line(err)}; check the repository path, its password file "
                              f"{self.password_file} and `restic -r {self.repository} snapshots` by hand")
        return out

    def snapshots(self, timeout: float, tags: Sequence[str] = (), host: str | None = None) -> list[Snapshot]:
        args = ["snapshots", "--json", "--no-lock"]
        for tag in tags:
            args += ["--tag", tag]
        if host:
            args += ["--host", host]
        out = self._read(args, timeout)
        try:
            return parse_snapshots(out)
        except (ValueError, TypeError, RecursionError) as exc:
            raise ResticError(f"repository {self.repository}: `restic snapshots --json` gave output that is not "
                              f"a snapshot list ({exc}); is {self.binary} really restic >= 0.14?") from None

    def latest_stats(self, snapshot_id: str, timeout: float) -> tuple[int, int]:
        out = self._read(["stats", "--json", "--no-lock", "--mode", "restore-size", snapshot_id], timeout)
        try:
            return parse_stats(out)
        except (ValueError, TypeError, RecursionError) as exc:
            raise ResticError(f"repository {self.repository}: `restic stats --json` gave unexpected output "
                              f"({exc})") from None

    def check(self, timeout: float, clock: Callable[[], float]) -> CheckResult | None:
        """`restic check --no-lock`: ok on exit 0, failed on 1 or any other code; None when restic still
        reports the repository locked (not a verdict: try again later)."""
        # --no-lock: the exporter must never hold the exclusive lock that would make the backups it watches
        # fail (or, if it is killed, leave a stale lock behind). A concurrent `prune` can then make one check
        # fail spuriously; the next check clears it.
        code, _out, err = self._run(["check", "--no-lock"], timeout)
        if code == 0:
            return CheckResult(clock(), True, "no errors were found")
        if code == 1 and "already locked" in err:
            return None
        what = {1: "errors found", -1: "timeout", -2: "cannot start restic"}.get(code, f"unknown exit code {code}")
        return CheckResult(clock(), False, f"{what}: {_last_line(err)}")
