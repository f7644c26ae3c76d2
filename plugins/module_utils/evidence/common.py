"""What every area of the evidence pack shares: the period, evidence links, claims and sections."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ansible_collections.jinbao.dc.plugins.module_utils.audit import chain as audit_chain
from ansible_collections.jinbao.dc.plugins.module_utils.seams.prometheus import Prometheus, PrometheusError, rfc3339

SCHEMA = "jinbao-dc/evidence-pack/1"
RUN_START = "run start"
RUN_END = "run end"
NOW = "now"
_TEXT_LIMIT = 200

# area key -> (title, policy file under runbooks/policies, the rule ids the pack's sections cite)
AREAS: dict[str, tuple[str, str]] = {
    "security": ("Security management", "security-management.md"),
    "personnel": ("Personnel management", "personnel.md"),
    "system": ("System management", "system.md"),
    "data": ("Data management", "data.md"),
    "machine_room": ("Machine-room management", "machine-room.md"),
    "network": ("Network management", "network.md"),
}

# Which area an alert belongs to (monitors/alerts); an alert not named here goes to the system area.
ALERT_AREAS: dict[str, str] = {
    **dict.fromkeys(("CertificateExpiringSoon", "CertificateExpired"), "security"),
    **dict.fromkeys(("BackupFailed", "BackupStale", "BackupNeverRan", "BackupRestoreTestOverdue",
                     "BackupVerifyFailed", "ReplicationLagOverRPO", "ReplicaDown", "ReplicationHeartbeatStale",
                     "FeedStale", "FeedChecksumMismatch", "RPOBreached"), "data"),
    **dict.fromkeys(("RoomTemperatureOutOfRange", "RoomHumidityOutOfRange", "UPSOnBattery", "UPSLowRuntime",
                     "WaterLeakDetected", "SmokeDetected", "DoorOpenOutOfHours", "RackOverPowerBudget"),
                    "machine_room"),
    "FeedDirectionForbidden": "network",
}
ALERT_RULES = {"security": ["SM-3", "SM-7"], "data": ["DA-2", "DA-3", "DA-4", "DA-5", "DA-6"],
               "machine_room": ["MR-1", "MR-2", "MR-3", "MR-4", "MR-5", "MR-7"], "network": ["NW-5"],
               "system": ["SY-9"]}
HIDDEN_LABELS = frozenset({"__name__", "alertstate", "job", "instance", "exporter_host"})
DONE = frozenset({"moved", "in_place"})

# The room envelopes of MR-1 and MR-2 (docs/MONITORING.md): the warning band; outside it is an excursion.
DEFAULT_ENVELOPE = {"temperature_celsius": (18.0, 27.0), "humidity_ratio": (0.20, 0.60)}


class EvidenceError(ValueError):
    """A period or an input that cannot make a pack; the message names the field and the fix."""


# --- the period ----------------------------------------------------------------------------------------


def parse_moment(text: str, field_name: str) -> datetime:
    """An RFC 3339 time with a zone (`Z` or an offset), as UTC."""
    try:
        moment = datetime.fromisoformat(str(text).strip().replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise EvidenceError(f"{field_name}: {text!r} is not an RFC 3339 time with a zone; write it as "
                            f"2026-12-01T00:00:00Z (or '{RUN_START}' / '{RUN_END}' / '{NOW}')")
    return moment.astimezone(UTC)


stamp = rfc3339  # 2026-12-01T00:00:00Z: the form the pack shows


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime
    run: dict[str, Any] | None = None  # the run whose start/end made the period ('run start' / 'run end')

    @property
    def seconds(self) -> int:
        return max(1, math.ceil((self.end - self.start).total_seconds()))

    @property
    def slug(self) -> str:
        """The pack's folder name: 20261201T000000Z_20261202T000000Z."""
        return "_".join(m.strftime("%Y%m%dT%H%M%SZ") for m in (self.start, self.end))

    def holds(self, moment: datetime | None) -> bool:
        return moment is not None and self.start <= moment <= self.end

    def words(self) -> str:
        return f"between {stamp(self.start)} and {stamp(self.end)}"


def parse_time(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def resolve_period(start: str, end: str, audit_log: str, run_playbook: str = "playbooks/site.yml",
                   now: datetime | None = None) -> Period:
    """The period from the `from`/`to` inputs. `run start` is the start of the newest recorded run of
    `run_playbook` (the demo's run); `run end` is that run's end, or now while it is still running; `now` is
    now. Bounds are whole seconds (the start rounded down, the end up), so the run's own records fall inside."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    run = None
    if RUN_START in (start, end) or RUN_END in (start, end):
        run = _newest_run(audit_log, run_playbook, now)
    begin = run["start"] if start == RUN_START else now if start == NOW else parse_moment(start, "from")
    finish = run["end"] if end == RUN_END else now if end == NOW else parse_moment(end, "to")
    begin = begin.replace(microsecond=0)
    if finish.microsecond:
        finish = finish.replace(microsecond=0) + timedelta(seconds=1)
    if finish <= begin:
        raise EvidenceError(f"to: {stamp(finish)} is not after from: {stamp(begin)}; give a period that "
                            "ends after it starts")
    return Period(begin, finish, run)


def _newest_run(audit_log: str, playbook: str, now: datetime) -> dict[str, Any]:
    entries = audit_chain.read_log(audit_log)
    starts = [e for e in entries if e.record and e.record.get("type") == "run_start"
              and playbook in ((e.record.get("what") or {}).get("playbooks") or ())]
    if not starts:
        raise EvidenceError(f"from: '{RUN_START}': the audit log {audit_log} has no run of {playbook}; run it "
                            "first, or give the period as RFC 3339 times")
    first = starts[-1]
    ends = [e for e in entries if e.record and e.record.get("type") == "run_end"
            and e.record.get("run_id") == first.record.get("run_id")]
    last = ends[-1] if ends else None
    end_time = parse_time(((last.record.get("when") or {}).get("end")) if last else None) or now
    return {"playbook": playbook, "run_id": str(first.record.get("run_id")), "start": parse_time(first.record["time"]),
            "end": end_time, "ended": last is not None, "start_entry": first, "end_entry": last}


# --- evidence links and claims -------------------------------------------------------------------------


def plain_text(value: Any) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= _TEXT_LIMIT else text[:_TEXT_LIMIT - 1] + "…"


def _rel(path: str, base: str) -> str:
    return os.path.relpath(os.path.abspath(path), os.path.abspath(base)).replace(os.sep, "/")


@dataclass(frozen=True)
class Where:
    """Where the pack is written (links are relative to it) and the project root (texts name paths from it)."""

    out_dir: str
    root: str

    def show(self, path: str) -> str:
        rel = _rel(path, self.root)
        return os.path.abspath(path) if rel.startswith("..") else rel


def file_link(path: str, where: Where, text: str | None = None, line: int | None = None,
              note: str = "") -> dict[str, str]:
    """A link to a file, relative to the pack's folder (`#L<n>` names a line)."""
    anchor = f"#L{line}" if line else ""
    return {"kind": "file", "text": text or where.show(path) + anchor, "href": _rel(path, where.out_dir) + anchor,
            "note": note}


def audit_link(entry: Any, where: Where) -> dict[str, str]:
    """A link to one audit record: file:line, seq and the first 12 hex digits of its sha256."""
    record = entry.record or {}
    return file_link(str(entry.file), where, line=entry.line,
                     text=f"{os.path.basename(str(entry.file))}#L{entry.line} seq {record.get('seq')} "
                          f"sha256 {str(record.get('sha256', ''))[:12]}")


def make_claim(claim: str, value: str, evidence: list[dict[str, str]], status: str = "info") -> dict[str, Any]:
    return {"claim": plain_text(claim), "value": plain_text(value), "status": status, "evidence": evidence}


def make_section(title: str, rules: Sequence[str], source: str, claims: list[dict[str, Any]],
             empty: str, evidence: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """A section: its claims, or the plain statement `empty` when there are none (never an empty table)."""
    return {"title": title, "rules": list(rules), "source": source, "claims": claims,
            "statement": "" if claims else empty, "statement_evidence": [] if claims else list(evidence or [])}


def unavailable_section(title: str, rules: Sequence[str], source: str, why: str) -> dict[str, Any]:
    return {"title": title, "rules": list(rules), "source": source, "claims": [],
            "statement": f"{why}; no claim is made.", "statement_evidence": []}


def label_key(metric: Mapping[str, str], *labels: str) -> tuple[str, ...]:
    return tuple(metric.get(label, "") for label in labels)


def when_text(seconds: float) -> str:
    return stamp(datetime.fromtimestamp(seconds, UTC)) if seconds > 0 else "never"





def prom_sections(prom: Prometheus | None, builders: Sequence[tuple[str, list[str], Callable[..., Any]]],
                   period: Period, prom_note: str) -> list[dict[str, Any]]:
    sections = []
    for title, rules, build in builders:
        source = f"Prometheus at {prom.url}, evaluated at {stamp(period.end)}" if prom else "Prometheus"
        if prom is None:
            sections.append(unavailable_section(title, rules, source, prom_note))
            continue
        try:
            sections.append(build(title, rules, source))
        except PrometheusError as exc:
            sections.append(unavailable_section(title, rules, source, str(exc)))
    return sections




def read_json(path: str) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)
