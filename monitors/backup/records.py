"""Job records: one JSON object per line, one line per run of a backup, verify or restore test.

The format is documented in monitors/backup/JOB-RECORDS.md. Lines that are not valid records (truncated
by a crash, garbled, wrong types) are skipped and counted; they never stop the others being read.
"""

from __future__ import annotations

import datetime
import json
import os
from dataclasses import dataclass
from pathlib import Path

STATUSES = ("success", "failed", "partial")
KINDS = ("backup", "verify", "restore-test")
DEFAULT_MAX_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class JobRecord:
    job: str
    kind: str
    status: str
    started_at: float  # Unix seconds
    finished_at: float
    tool: str = ""
    bytes: int | None = None
    files: int | None = None
    message: str = ""


@dataclass
class ParsedRecords:
    records: list[JobRecord]
    invalid: int  # lines that were not valid records
    first_problem: str = ""  # "line N: why", for the log


def parse_timestamp(value: object) -> float:
    """Unix seconds from an RFC 3339 timestamp with an offset (Z or ±hh:mm); ValueError otherwise."""
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a string")
    parsed = datetime.datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"{value!r} has no UTC offset (end it with Z)")
    return parsed.timestamp()


def _count(record: dict, key: str) -> int | None:
    value = record.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{key} {value!r} is not a whole number >= 0")
    return value


def parse_record(line: str) -> JobRecord:
    """One record from one line; ValueError naming the field that is wrong."""
    try:
        record = json.loads(line)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(f"not JSON ({exc.__class__.__name__})") from None
    if not isinstance(record, dict):
        raise ValueError(f"a JSON {type(record).__name__}, not an object")
    for key in ("job", "kind", "status", "started_at", "finished_at"):
        if key not in record:
            raise ValueError(f"{key} is missing")
    job = record["job"]
    if not isinstance(job, str) or not job:
        raise ValueError(f"job {job!r} is not a non-empty string")
    if record["kind"] not in KINDS:
        raise ValueError(f"kind {record['kind']!r} is not one of {', '.join(KINDS)}")
    if record["status"] not in STATUSES:
        raise ValueError(f"status {record['status']!r} is not one of {', '.join(STATUSES)}")
    started, finished = parse_timestamp(record["started_at"]), parse_timestamp(record["finished_at"])
    if finished < started:
        raise ValueError("finished_at is before started_at")
    tool, message = record.get("tool", ""), record.get("message", "")
    if not isinstance(tool, str) or not isinstance(message, str):
        raise ValueError("tool and message must be strings")
    return JobRecord(job=job, kind=record["kind"], status=record["status"], started_at=started,
                     finished_at=finished, tool=tool, bytes=_count(record, "bytes"), files=_count(record, "files"),
                     message=message)


def parse_lines(text: str, job: str | None = None) -> ParsedRecords:
    """Every valid record in `text` (of `job` only, when given); invalid lines counted, never raised."""
    records, invalid, first = [], 0, ""
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = parse_record(line)
        except (ValueError, TypeError, OverflowError) as exc:
            invalid += 1
            first = first or f"line {number}: {exc}"
            continue
        if job is None or record.job == job:
            records.append(record)
    return ParsedRecords(records, invalid, first)


def read_records(path: str | os.PathLike, job: str | None = None,
                 max_bytes: int = DEFAULT_MAX_BYTES) -> ParsedRecords | None:
    """The records in the last `max_bytes` of a job-record file; None when the file does not exist yet.

    OSError (other than "no such file") propagates: an unreadable file is a collection failure.
    """
    try:
        with Path(path).open("rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            start = max(0, size - max_bytes)
            fh.seek(start)
            data = fh.read()
    except FileNotFoundError:
        return None
    if start:  # the first line was cut by the window: not a record of ours to judge
        data = data.split(b"\n", 1)[1] if b"\n" in data else b""
    return parse_lines(data.decode("utf-8", errors="replace"), job)
