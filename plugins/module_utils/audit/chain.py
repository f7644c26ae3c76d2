"""The audit trail's hash chain: sealing, appending, rotating, pruning and verifying JSON-lines records.

Pure Python (no Ansible import), so the audit callback (plugins/callback/audit_log.py), the tests and an
auditor's own machine all use the same code. Run it as a tool:

    make audit-verify   (python -m ansible_collections.jinbao.dc.plugins.module_utils.audit.cli verify)

Record format (docs/AUDIT.md): every line is the canonical JSON (sorted keys, no spaces, ASCII) of one
record. `seq` counts from 1 across every file of the log; `prev_sha256` is the SHA-256 of the previous
record's exact line (64 zeros for the first record); `sha256` is the SHA-256 of the canonical JSON of the
record without its `sha256` field. A log is the current file (audit.jsonl) plus its rotated files
(audit-<UTC>.jsonl beside it); the chain runs through all of them in order.
"""

from __future__ import annotations

import difflib
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

FORMAT = 1
GENESIS = "0" * 64
MIN_RETENTION_DAYS = 180
DEFAULT_RETENTION_DAYS = 400
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
ROOT = Path(__file__).resolve().parents[3]
DEFAULT_LOG = ROOT / "reports" / "audit" / "audit.jsonl"
DEFAULT_SINK2 = ROOT / ".cache" / "audit-sink" / "audit.jsonl"
_REQUIRED = ("v", "seq", "prev_sha256", "sha256", "type", "time")


class AuditSinkError(OSError):
    """An audit sink that cannot be written; the message names the path and the fix."""


# --- records -----------------------------------------------------------------------------------------


def canonical(record: Mapping[str, Any]) -> str:
    """The one text form of a record: sorted keys, no spaces, ASCII only."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def line_sha256(line: str) -> str:
    """SHA-256 of one stored line (without its newline): what the next record's prev_sha256 holds."""
    return hashlib.sha256(line.encode("ascii", "backslashreplace")).hexdigest()


def record_sha256(record: Mapping[str, Any]) -> str:
    """SHA-256 over the canonical JSON of the record without its own `sha256` field."""
    return hashlib.sha256(canonical({k: v for k, v in record.items() if k != "sha256"}).encode()).hexdigest()


def seal(body: Mapping[str, Any], seq: int, prev_line: str | None) -> str:
    """The line for `body` as record number `seq`, chained to `prev_line` (None: the first record)."""
    reserved = {"v", "seq", "prev_sha256", "sha256"} & set(body)
    if reserved:
        raise ValueError(f"audit record body uses reserved field(s) {sorted(reserved)}")
    record = {**body, "v": FORMAT, "seq": seq, "prev_sha256": line_sha256(prev_line) if prev_line else GENESIS}
    record["sha256"] = record_sha256(record)
    return canonical(record)


def parse(line: str) -> tuple[dict[str, Any] | None, str]:
    """(record, "") for a well-formed sealed line, else (None, why not)."""
    try:
        record = json.loads(line)
    except ValueError:
        return None, "not a JSON record"
    if not isinstance(record, dict):
        return None, "not a JSON object"
    missing = [k for k in _REQUIRED if k not in record]
    if missing:
        return None, f"fields {missing} missing"
    if not isinstance(record["seq"], int) or isinstance(record["seq"], bool):
        return None, "seq is not an integer"
    if canonical(record) != line:
        return None, "not in canonical form (the line was re-written by hand)"
    if record_sha256(record) != record["sha256"]:
        return None, "its content no longer matches its own sha256"
    return record, ""


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def diff_summary(diff: Any) -> dict[str, int] | None:
    """Lines added and removed in a module's diff (one dict, or a list of them), never the content itself."""
    if not diff:
        return None
    added = removed = 0
    for part in diff if isinstance(diff, list) else [diff]:
        if not isinstance(part, Mapping):
            continue
        if isinstance(part.get("prepared"), str):
            for line in part["prepared"].splitlines():
                if line.startswith("+") and not line.startswith("+++"):
                    added += 1
                elif line.startswith("-") and not line.startswith("---"):
                    removed += 1
            continue
        before, after = _text_lines(part.get("before")), _text_lines(part.get("after"))
        for line in difflib.unified_diff(before, after, n=0, lineterm=""):
            if line.startswith(("+++", "---", "@@")):
                continue
            added += line.startswith("+")
            removed += line.startswith("-")
    return {"added": added, "removed": removed}


def _text_lines(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, str):
        value = json.dumps(value, sort_keys=True, indent=1, default=str)
    return value.splitlines()


# --- files of one log --------------------------------------------------------------------------------


def log_files(current: Path) -> list[Path]:
    """The files of the log whose current file is `current`: rotated files oldest first, then current."""
    current = Path(current)
    rotated = sorted(current.parent.glob(f"{current.stem}-*{current.suffix}")) if current.parent.is_dir() else []
    return [*rotated, *([current] if current.exists() else [])]


def _lines(path: Path) -> list[str]:
    data = path.read_bytes().decode("utf-8", "replace")
    lines = data.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def _edge_line(path: Path, last: bool) -> str | None:
    """The first or last line of a file, without reading all of it."""
    try:
        with open(path, "rb") as fh:
            if not last:
                line = fh.readline().decode("utf-8", "replace").rstrip("\n")
                return line or None
            fh.seek(0, os.SEEK_END)
            end = fh.tell()
            block, data = 65536, b""
            while end > 0:
                start = max(0, end - block)
                fh.seek(start)
                data = fh.read(end - start) + data
                end = start
                if data.rstrip(b"\n").count(b"\n") >= 1:
                    break
            text = data.rstrip(b"\n").decode("utf-8", "replace")
            return text.rsplit("\n", 1)[-1] or None
    except FileNotFoundError:
        return None


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _append_line(path: Path, line: str) -> None:
    """One write of one line with O_APPEND, then fsync: a crash leaves whole lines only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        data = (line + "\n").encode("ascii")
        if os.write(fd, data) != len(data):
            raise OSError(f"short write to {path}")
        os.fsync(fd)
    finally:
        os.close(fd)


def probe(path: Path) -> None:
    """Raise AuditSinkError unless the current file of this sink can be opened for appending."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640))
    except OSError as exc:
        raise AuditSinkError(f"audit sink {path} cannot be written ({exc.strerror or exc}); make its folder "
                             f"a writable directory with free space, or point the sink elsewhere "
                             f"(JINBAO_AUDIT_LOG / JINBAO_AUDIT_SINK2, ansible.cfg [callback_audit_log])") from exc


@contextmanager
def _locked(current: Path) -> Iterator[None]:
    """Exclusive lock for one append: parallel ansible-playbook runs must not fork the chain."""
    current.parent.mkdir(parents=True, exist_ok=True)
    with open(current.parent / f".{current.name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _tail(current: Path) -> str | None:
    for path in reversed(log_files(current)):
        line = _edge_line(path, last=True)
        if line:
            return line
    return None


def _rotated_name(current: Path, moment: datetime) -> Path:
    while True:
        candidate = current.with_name(f"{current.stem}-{moment.strftime('%Y%m%dT%H%M%S%fZ')}{current.suffix}")
        if not candidate.exists():
            return candidate
        moment += timedelta(microseconds=1)


def _needs_rotation(current: Path, now: datetime, max_bytes: int) -> bool:
    try:
        size = current.stat().st_size
    except FileNotFoundError:
        return False
    if size == 0:
        return False
    if size >= max_bytes:
        return True
    first, _ = parse(_edge_line(current, last=False) or "")
    if first is None:
        return False  # leave a damaged file where it is, for the auditor
    opened = parse_time(first["time"])
    return (opened.year, opened.month) != (now.year, now.month)


@dataclass
class Appender:
    """Writes sealed records to the primary log and to every mirror (the second sink) in the same order.

    The chain continues from the primary's last record. Rotation renames the current file of every sink to
    <stem>-<UTC>.jsonl and starts the new file with a `rotate` record that names the file before it; it
    happens when the current file reaches `max_bytes` or holds a record from an earlier month. Retention
    removes whole rotated files, oldest first, only when their last record is older than `retention_days`
    (at least 180), each after a `prune` record that keeps the removed file's last hash in the chain.
    """

    primary: Path
    mirrors: Sequence[Path] = ()
    max_bytes: int = DEFAULT_MAX_BYTES
    retention_days: int = DEFAULT_RETENTION_DAYS
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.primary = Path(self.primary)
        self.mirrors = [Path(m) for m in self.mirrors]
        self.retention_days = max(int(self.retention_days), MIN_RETENTION_DAYS)

    @property
    def sinks(self) -> list[Path]:
        return [self.primary, *self.mirrors]

    def probe(self) -> None:
        for sink in self.sinks:
            probe(sink)

    def append(self, body: Mapping[str, Any], now: datetime | None = None) -> dict[str, Any]:
        """Seal and append `body` (its `time` is set if missing) to every sink; returns the sealed record.

        Raises AuditSinkError naming the sink that cannot be written."""
        now = now or utc_now()
        try:
            with _locked(self.primary):
                if _needs_rotation(self.primary, now, self.max_bytes):
                    self._rotate(now)
                    self._prune(now)
                return self._write({"time": iso(now), **body})
        except AuditSinkError:
            raise
        except OSError as exc:
            raise AuditSinkError(f"audit sink {getattr(exc, 'filename', None) or self.primary} cannot be written "
                                 f"({exc.strerror or exc}); make it writable or point the sink elsewhere "
                                 f"(JINBAO_AUDIT_LOG / JINBAO_AUDIT_SINK2)") from exc

    def _write(self, body: Mapping[str, Any]) -> dict[str, Any]:
        tail = _tail(self.primary)
        last, _ = parse(tail) if tail else (None, "")
        if tail and last is None:
            self.warnings.append(f"the last line of {self.primary} is damaged; chaining to it as it stands "
                                 "(run make audit-verify)")
        seq = (last["seq"] + 1) if last else (self._seq_after_damage() if tail else 1)
        for mirror in self.mirrors:
            if _tail(mirror) != tail:
                self.warnings.append(f"audit sinks disagree: {mirror} does not end with the record {self.primary} "
                                     "ends with (run make audit-verify)")
        line = seal(body, seq, tail)
        for sink in self.sinks:
            try:
                _append_line(sink, line)
            except OSError as exc:
                raise AuditSinkError(f"audit sink {sink} cannot be written ({exc.strerror or exc}); make it "
                                     "writable or point the sink elsewhere (JINBAO_AUDIT_LOG / JINBAO_AUDIT_SINK2)"
                                     ) from exc
        return json.loads(line)

    def _seq_after_damage(self) -> int:
        highest = 0
        for path in log_files(self.primary):
            for line in _lines(path):
                record, _ = parse(line)
                if record:
                    highest = max(highest, record["seq"])
        return highest + 1

    def _rotate(self, now: datetime) -> None:
        target = _rotated_name(self.primary, now)
        for sink in self.sinks:
            if sink.exists():
                os.rename(sink, sink.with_name(f"{sink.stem}-{_stamp(target.name)}"))
                _fsync_dir(sink.parent)
        self._write({"time": iso(now), "type": "rotate", "previous_file": target.name})

    def _prune(self, now: datetime) -> None:
        cutoff = now - timedelta(days=self.retention_days)
        for path in log_files(self.primary)[:-1]:  # never the current file
            last_line = _edge_line(path, last=True)
            last, _ = parse(last_line or "")
            first, _ = parse(_edge_line(path, last=False) or "")
            if last is None or first is None or parse_time(last["time"]) >= cutoff:
                return  # only a prefix of old, intact files goes; stop at the first one to keep
            self._write({"time": iso(now), "type": "prune", "file": path.name, "first_seq": first["seq"],
                         "last_seq": last["seq"], "last_sha256": line_sha256(last_line or ""),
                         "last_time": last["time"], "retention_days": self.retention_days})
            for sink in self.sinks:
                sink.with_name(f"{sink.stem}-{_stamp(path.name)}").unlink(missing_ok=True)


# --- verification ------------------------------------------------------------------------------------


@dataclass
class Entry:
    file: Path
    line: int  # 1-based within its file
    text: str
    record: dict[str, Any] | None
    why: str

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass
class Finding:
    """The first thing wrong in a copy of the log: where it is and what happened there."""

    copy: str  # "primary", "sink2" or "compare"
    file: str
    line: int
    seq: int | None
    kind: str  # edited | removed | reordered | inserted | truncated | diverged
    detail: str

    def __str__(self) -> str:
        seq = f" (seq {self.seq})" if self.seq is not None else ""
        return f"{self.copy}: {self.file}:{self.line}{seq}: {self.kind}: {self.detail}"


@dataclass
class Report:
    records: int = 0
    files: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    unfinished_runs: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def first(self) -> Finding | None:
        return self.findings[0] if self.findings else None


def read_log(current: Path) -> list[Entry]:
    entries = []
    for path in log_files(Path(current)):
        for number, text in enumerate(_lines(path), 1):
            record, why = parse(text)
            entries.append(Entry(path, number, text, record, why))
    return entries


def _chain_start(entries: list[Entry]) -> tuple[int, str]:
    """(seq, prev hash) the first present record must carry: 1 and genesis, or, once retention has removed
    old files, the record after the newest `prune` record's file (the prune record keeps its last hash)."""
    pruned = [e.record for e in entries if e.record and e.record.get("type") == "prune"
              and isinstance(e.record.get("last_seq"), int)]
    if not pruned:
        return 1, GENESIS
    newest = max(pruned, key=lambda r: r["last_seq"])
    return newest["last_seq"] + 1, str(newest.get("last_sha256"))


def _stamp(name: str) -> str:
    return name.rsplit("-", 1)[-1]


def check_chain(entries: list[Entry], copy: str = "primary") -> Finding | None:
    """The first record of this copy that was edited, removed, reordered or inserted, or None."""
    seq, prev = _chain_start(entries)
    want: list[tuple[int, str]] = []  # (seq, prev hash) each position was expected to carry

    def finding(entry: Entry, kind: str, detail: str) -> Finding:
        r = entry.record
        return Finding(copy, str(entry.file), entry.line, r["seq"] if r else None, kind, detail)

    for k, entry in enumerate(entries):
        want.append((seq, prev))
        r = entry.record
        nxt = entries[k + 1].record if k + 1 < len(entries) else None
        if r is None:
            if nxt and nxt["seq"] == seq and nxt["prev_sha256"] == prev:
                return finding(entry, "inserted", f"a line that is not a sealed record ({entry.why}) was put in "
                                                  f"before seq {seq}; the record after it links over it")
            return finding(entry, "edited", f"this line was changed: {entry.why} (expected seq {seq})")
        if r["seq"] == seq and r["prev_sha256"] == prev:
            seq, prev = seq + 1, line_sha256(entry.text)
            continue
        if r["seq"] == seq:
            if k == 0:
                return finding(entry, "edited", "its prev_sha256 was changed (the chain's first link is broken)")
            before = entries[k - 1]
            return finding(before, "edited", f"its text was changed after the next record ({entry.where}) was "
                                             "written: the hash that record holds no longer matches this line")
        if r["seq"] > seq:
            if nxt and nxt["seq"] == seq and nxt["prev_sha256"] == prev:
                if r["prev_sha256"] == line_sha256(entries[k + 1].text):
                    return finding(entry, "reordered", f"seq {r['seq']} was swapped with seq {seq} "
                                                       f"(now at {entries[k + 1].where})")
                return finding(entry, "inserted", f"a forged record (seq {r['seq']}) was put in before seq {seq}; "
                                                  "the record after it links over it")
            later = next((e for e in entries[k + 1:] if e.record and e.record["seq"] == seq), None)
            if later:
                return finding(entry, "reordered", f"seq {r['seq']} stands before seq {seq} (now at {later.where})")
            if r.get("type") == "rotate" and k > 0 \
                    and _stamp(str(r.get("previous_file"))) != _stamp(entries[k - 1].file.name):
                return finding(entry, "removed", f"file {r.get('previous_file')} (records seq {seq}.."
                                                 f"{r['seq'] - 1}) is missing, without a prune record")
            gone = f"seq {seq}" if r["seq"] == seq + 1 else f"seq {seq}..{r['seq'] - 1}"
            return finding(entry, "removed", f"record(s) {gone} removed just before this line")
        if k >= 1 and entry.text == entries[k - 1].text:
            return finding(entry, "inserted", "a copy of the record before it was put in (replayed)")
        if k >= 1 and (r["seq"], r["prev_sha256"]) == want[k - 1]:
            return finding(entries[k - 1], "inserted", f"this record was put in: the next record ({entry.where}) "
                                                       "links to the record before it")
        return finding(entry, "reordered", f"seq {r['seq']} appears after seq {seq - 1} (out of order or replayed)")
    return None


def compare(primary: list[Entry], sink2: list[Entry]) -> Finding | None:
    """The first record where the two copies differ; a copy that stops early was truncated."""
    for a, b in zip(primary, sink2, strict=False):
        if a.text != b.text:
            return Finding("compare", str(a.file), a.line, a.record["seq"] if a.record else None, "diverged",
                           f"the copies differ here: sink2 has a different record at {b.where}")
    if len(primary) == len(sink2):
        return None
    if len(primary) < len(sink2):
        extra, last = sink2[len(primary)], primary[-1] if primary else None
        common = f"after {last.where}" if last else "from the start"
        return Finding("compare", str(extra.file if not last else last.file), (last.line + 1) if last else 1,
                       extra.record["seq"] if extra.record else None, "truncated",
                       f"the primary copy ends {common}; sink2 holds {len(sink2) - len(primary)} more record(s) "
                       f"from {extra.where}: the primary was truncated or its last records removed")
    extra, last = primary[len(sink2)], sink2[-1] if sink2 else None
    return Finding("compare", str(extra.file), extra.line, extra.record["seq"] if extra.record else None,
                   "truncated", f"sink2 ends {'after ' + last.where if last else 'empty'}; the primary holds "
                                f"{len(primary) - len(sink2)} more record(s) from here: sink2 was truncated, or "
                                "records were appended to the primary alone")


def _unfinished(entries: list[Entry]) -> list[str]:
    started: dict[str, str] = {}
    for e in entries:
        r = e.record or {}
        if r.get("type") == "run_start":
            started[r.get("run_id", "")] = f"{e.where} ({r.get('what', {}).get('playbooks')})"
        elif r.get("type") == "run_end":
            started.pop(r.get("run_id", ""), None)
    return list(started.values())


def verify(log: Path = DEFAULT_LOG, sink2: Path | None = DEFAULT_SINK2) -> Report:
    """Check the chain of the primary log and of the second sink, and that both hold the same records."""
    primary = read_log(Path(log))
    report = Report(records=len(primary), files=[str(p) for p in log_files(Path(log))])
    found = check_chain(primary, "primary")
    if found:
        report.findings.append(found)
    if sink2 is not None:
        mirror = read_log(Path(sink2))
        if not mirror and not Path(sink2).parent.exists():
            report.findings.append(Finding("sink2", str(sink2), 0, None, "removed",
                                           "the second sink is missing entirely"))
        else:
            for found in (compare(primary, mirror), check_chain(mirror, "sink2")):
                if found:
                    report.findings.append(found)
    report.unfinished_runs = _unfinished(primary)
    return report
