"""The auditor's evidence pack: what the records show for a period, by the six rule areas, each claim linked.

Pure Python (no Ansible import), so the module (plugins/modules/evidence_pack.py) and the unit tests share it.
It reads only: the audit log (reports/audit/audit.jsonl, through audit_chain), the gate log, the certificate
registers, the plan, the wave ledgers, the physical-move and decommission records, the network change records,
backups and policy checks, and the city Prometheus' HTTP API (instant queries evaluated at the period's end).

Every area is a list of sections. A section has claims (claim, value, status, evidence links), or, when it has
none, one plain statement that says which of two things is true: nothing was recorded between FROM and TO in
the source it names, or the source could not be read (and then no claim is made). It never leaves an empty
table to look like a clean record. Fields are copied from the records by name (a whitelist): nothing else of a
record (task arguments, names of tasks, free text) reaches the pack, so a secret a record should not hold is not
copied either.

The pack holds no time of its own making: for the same period and the same records it is the same text, so
the role rewrites it only when the evidence changed.
"""

from __future__ import annotations

import csv
import glob
import hashlib
import json
import math
import os
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

try:  # inside an Ansible module
    from ansible.module_utils import audit_chain
except ImportError:  # imported by path (unit tests)
    import audit_chain  # type: ignore[no-redef]

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
_HIDDEN_LABELS = frozenset({"__name__", "alertstate", "job", "instance", "exporter_host"})
_DONE = frozenset({"moved", "in_place"})

# The room envelopes of MR-1 and MR-2 (docs/MONITORING.md): the warning band; outside it is an excursion.
DEFAULT_ENVELOPE = {"temperature_celsius": (18.0, 27.0), "humidity_ratio": (0.20, 0.60)}


class EvidenceError(ValueError):
    """A period or an input that cannot make a pack; the message names the field and the fix."""


class PrometheusError(OSError):
    """Prometheus did not answer, or answered with an error; the message says which."""


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


def stamp(moment: datetime) -> str:
    """2026-12-01T00:00:00Z: the form the pack shows."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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


def _time(text: Any) -> datetime | None:
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
    end_time = _time(((last.record.get("when") or {}).get("end")) if last else None) or now
    return {"playbook": playbook, "run_id": str(first.record.get("run_id")), "start": _time(first.record["time"]),
            "end": end_time, "ended": last is not None, "start_entry": first, "end_entry": last}


# --- evidence links and claims -------------------------------------------------------------------------


def _text(value: Any) -> str:
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


def _claim(claim: str, value: str, evidence: list[dict[str, str]], status: str = "info") -> dict[str, Any]:
    return {"claim": _text(claim), "value": _text(value), "status": status, "evidence": evidence}


def _section(title: str, rules: Sequence[str], source: str, claims: list[dict[str, Any]],
             empty: str, evidence: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """A section: its claims, or the plain statement `empty` when there are none (never an empty table)."""
    return {"title": title, "rules": list(rules), "source": source, "claims": claims,
            "statement": "" if claims else empty, "statement_evidence": [] if claims else list(evidence or [])}


def _unavailable(title: str, rules: Sequence[str], source: str, why: str) -> dict[str, Any]:
    return {"title": title, "rules": list(rules), "source": source, "claims": [],
            "statement": f"{why}; no claim is made.", "statement_evidence": []}


# --- Prometheus ----------------------------------------------------------------------------------------


class Prometheus:
    """Instant queries against the Prometheus HTTP API, each evaluated at a given time (the period's end)."""

    def __init__(self, url: str, ca_file: str | None = None, timeout: float = 10.0,
                 opener: Callable[..., Any] | None = None) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._context = ssl.create_default_context(cafile=ca_file) if url.startswith("https") else None
        self._open = opener or urllib.request.urlopen
        self.down: str = ""  # set at the first failure to connect: later queries are not tried

    def api_url(self, expr: str, at: datetime) -> str:
        return f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": expr, "time": stamp(at)})

    def graph_url(self, expr: str, at: datetime) -> str:
        return f"{self.url}/graph?" + urllib.parse.urlencode(
            {"g0.expr": expr, "g0.tab": "1", "g0.moment_input": at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")})

    def link(self, expr: str, at: datetime) -> dict[str, str]:
        """The evidence of a query: the exact PromQL, its evaluation time, the API URL and the graph URL."""
        return {"kind": "query", "text": f"{expr} @ {stamp(at)}", "href": self.graph_url(expr, at),
                "note": self.api_url(expr, at)}

    def query(self, expr: str, at: datetime) -> list[dict[str, Any]]:
        """The vector `expr` gives at `at`: [{metric: {labels}, value: float}]. Raises PrometheusError."""
        if self.down:
            raise PrometheusError(self.down)
        try:
            with self._open(self.api_url(expr, at), timeout=self.timeout, context=self._context) as answer:
                body = json.loads(answer.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            try:
                detail = json.loads(exc.read().decode("utf-8")).get("error") or exc.reason
            except (ValueError, OSError):
                detail = exc.reason
            raise PrometheusError(f"Prometheus at {self.url} refused the query {expr!r}: HTTP {exc.code} "
                                  f"{detail}") from exc
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            self.down = f"Prometheus at {self.url} did not answer: {reason}"
            raise PrometheusError(self.down) from exc
        if body.get("status") != "success":
            raise PrometheusError(f"Prometheus at {self.url} answered the query {expr!r} with an error: "
                                  f"{body.get('error') or body}")
        result = (body.get("data") or {}).get("result") or []
        out = []
        for sample in result:
            try:
                value = float(sample["value"][1])
            except (KeyError, IndexError, TypeError, ValueError):
                continue
            out.append({"metric": dict(sample.get("metric") or {}), "value": value})
        return out


def _key(metric: Mapping[str, str], *labels: str) -> tuple[str, ...]:
    return tuple(metric.get(label, "") for label in labels)


def _when(seconds: float) -> str:
    return stamp(datetime.fromtimestamp(seconds, UTC)) if seconds > 0 else "never"


# --- the audit log and the gate log --------------------------------------------------------------------


def _runs(entries: list[Any], period: Period) -> tuple[list[Any], list[Any]]:
    """(run_end entries of runs started in the period, run_start entries in it with no run_end)."""
    ended_ids = {e.record.get("run_id") for e in entries if e.record and e.record.get("type") == "run_end"}
    ends = [e for e in entries if e.record and e.record.get("type") == "run_end"
            and period.holds(_time((e.record.get("when") or {}).get("start")))]
    open_ = [e for e in entries if e.record and e.record.get("type") == "run_start"
             and period.holds(_time(e.record.get("time"))) and e.record.get("run_id") not in ended_ids]
    return ends, open_


def _who(record: Mapping[str, Any]) -> tuple[str, str]:
    who = record.get("who") or {}
    person = who.get("operator") or f"{who.get('os_user') or '?'} (no operator certificate: not gated)"
    return _text(person), _text(who.get("cert_serial") or "-")


def security_area(entries: list[Any], period: Period, paths: Mapping[str, str], where: Where,
                  sink2: str | None) -> list[dict[str, Any]]:
    log = paths["audit_log"]
    source = f"{where.show(log)} (run_end records of runs started {period.words()})"
    ends, _ = _runs(entries, period)
    claims = []
    changing = [e for e in ends if not (e.record.get("what") or {}).get("check_mode")
                and sum(int((h.get("stats") or {}).get("changed") or 0)
                        for h in (e.record.get("hosts") or {}).values()) > 0]
    for entry in sorted(changing, key=lambda e: (_who(e.record)[0], e.record.get("seq", 0))):
        r = entry.record
        person, serial = _who(r)
        hosts = {name: int((h.get("stats") or {}).get("changed") or 0) for name, h in (r.get("hosts") or {}).items()}
        changed_hosts = sorted(n for n, c in hosts.items() if c)
        playbooks = ", ".join(str(p) for p in (r.get("what") or {}).get("playbooks") or ()) or "?"
        when = r.get("when") or {}
        claims.append(_claim(
            f"{person}, certificate serial {serial}",
            f"ran {playbooks} from {stamp(_time(when.get('start')))}: {sum(hosts.values())} change(s) on "
            f"{len(changed_hosts)} host(s) ({', '.join(changed_hosts)}); result {r.get('result')}",
            [audit_link(entry, where)], "ok" if r.get("result") == "ok" else "attention"))
    sections = [_section("Changes by operator", ["SM-4", "PE-1", "SY-6"], source, claims,
                         f"No changing run recorded {period.words()} (read {where.show(log)}: "
                         f"{len(ends)} finished run(s) started in the period, none of them changed anything "
                         "outside check mode).",
                         [file_link(log, where)])]
    sections.append(gate_section(paths["gate_log"], period, where))
    sections.append(chain_section(entries, period, log, sink2, where))
    return sections


def gate_section(gate_log: str, period: Period, where: Where) -> dict[str, Any]:
    title, rules = "Gate decisions (operator certificates checked)", ["SM-5", "PE-2", "SY-6"]
    source = f"{where.show(gate_log)} (the gate's own record of each decision)"
    if not os.path.exists(gate_log):
        return _section(title, rules, source, [], f"No gate decision recorded {period.words()}: "
                        f"{where.show(gate_log)} does not exist (no gated playbook has run).")
    granted: dict[tuple[str, str, str], list[int]] = {}
    claims = []
    try:
        with open(gate_log, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except OSError as exc:
        return _unavailable(title, rules, source, f"{gate_log} cannot be read ({exc.strerror or exc})")
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict) or not period.holds(_time(record.get("time"))):
            continue
        who = (_text(record.get("operator") or "?"), _text(record.get("serial") or "-"),
               _text(record.get("playbook") or "?"))
        if record.get("result") == "granted":
            granted.setdefault(who, []).append(number)
        else:
            claims.append(_claim(f"{who[0]} refused for {who[2]}",
                                 f"at {stamp(_time(record['time']))}, certificate serial {who[1]}: "
                                 f"{_text(record.get('reason') or record.get('result') or '?')}",
                                 [file_link(gate_log, where, line=number)], "attention"))
    for (person, serial, playbook), numbers in sorted(granted.items()):
        links = [file_link(gate_log, where, line=n) for n in numbers[:3]]
        if len(numbers) > 3:
            links.append(file_link(gate_log, where, line=numbers[-1], note=f"{len(numbers) - 4} more between"))
        claims.append(_claim(f"{person} granted for {playbook}",
                             f"{len(numbers)} time(s), certificate serial {serial}", links, "ok"))
    return _section(title, rules, source, claims,
                    f"No gate decision recorded {period.words()} (read {where.show(gate_log)}).",
                    [file_link(gate_log, where)])


def chain_section(entries: list[Any], period: Period, log: str, sink2: str | None,
                  where: Where) -> dict[str, Any]:
    title, rules = "Audit log integrity", ["SM-4"]
    source = f"{where.show(log)}" + (f" and its second copy {where.show(sink2)}" if sink2 else "")
    inside = [e for e in entries if e.record and period.holds(_time(e.record.get("time")))]
    if not inside:
        return _section(title, rules, source, [], f"No audit record written {period.words()} "
                        f"(read {where.show(log)}: {len(entries)} record(s) in all).", [file_link(log, where)])
    report = audit_chain.verify(log, sink2)
    first, last = inside[0], inside[-1]
    if report.ok:
        copies = "both copies agree" if sink2 else "the primary copy alone was checked"
        claim = _claim("The hash chain is intact (make audit-verify)",
                       f"records seq {first.record['seq']} to {last.record['seq']} of the period are sealed and "
                       f"chained; {copies}",
                       [audit_link(first, where), audit_link(last, where)], "ok")
    else:
        found = report.first
        claim = _claim("The hash chain is BROKEN (make audit-verify)",
                       f"{found.kind} at {os.path.basename(found.file)}:{found.line}: {found.detail}",
                       [file_link(found.file, where, line=found.line or None)], "attention")
    return _section(title, rules, source, [claim], "")


def runs_section(entries: list[Any], period: Period, log: str, where: Where) -> dict[str, Any]:
    title, rules = "Playbook runs", ["SY-5", "SM-4"]
    ends, open_ = _runs(entries, period)
    claims = []
    results: dict[str, list[Any]] = {}
    for entry in ends:
        results.setdefault(str(entry.record.get("result")), []).append(entry)
    for result, group in sorted(results.items()):
        check = sum(1 for e in group if (e.record.get("what") or {}).get("check_mode"))
        links = [audit_link(e, where) for e in group[:2]]
        if len(group) > 2:
            links.append(audit_link(group[-1], where))
        claims.append(_claim(f"Runs that ended {result}", f"{len(group)} (of them {check} in check mode)", links,
                             "ok" if result == "ok" else "attention"))
    for entry in open_:
        playbooks = ", ".join(str(p) for p in (entry.record.get("what") or {}).get("playbooks") or ())
        claims.append(_claim("A run with no end record (it died, or it is still running)",
                             f"{playbooks} started {stamp(_time(entry.record.get('time')))}",
                             [audit_link(entry, where)], "attention"))
    return _section(title, rules, f"{where.show(log)} (run_start and run_end records)", claims,
                    f"No playbook run recorded {period.words()} (read {where.show(log)}).",
                    [file_link(log, where)])


# --- personnel: the certificate registers ----------------------------------------------------------------


def personnel_area(registers: Mapping[str, str], period: Period, where: Where) -> list[dict[str, Any]]:
    issued: list[dict[str, Any]] = []
    revoked: list[dict[str, Any]] = []
    read, problems = [], []
    for kind, path in sorted(registers.items()):
        subject = "operator" if kind == "operators" else "service"
        if not os.path.exists(path):
            read.append(f"{where.show(path)} (not present)")
            continue
        read.append(where.show(path))
        try:
            with open(path, encoding="utf-8", newline="") as fh:
                rows = list(csv.DictReader(fh))
        except (OSError, csv.Error) as exc:
            problems.append(f"{path} cannot be read ({exc})")
            continue
        for number, row in enumerate(rows, 2):  # line 1 is the header
            name, serial = _text(row.get(subject) or "?"), _text(row.get("serial") or "?")
            link = [file_link(path, where, line=number)]
            if period.holds(_time(row.get("not_before"))):
                issued.append(_claim(f"{name} ({subject}) certificate issued",
                                     f"serial {serial}, valid {row.get('not_before')} to {row.get('not_after')}",
                                     link, "ok"))
            if period.holds(_time(row.get("revoked_at"))):
                revoked.append(_claim(f"{name} ({subject}) certificate revoked",
                                      f"serial {serial}, revoked at {row.get('revoked_at')}", link, "ok"))
    source = ", ".join(read) or "no register configured"
    if problems:
        why = "; ".join(problems)
        return [_unavailable("Certificates issued", ["PE-1", "PE-5", "SY-8"], source, why),
                _unavailable("Certificates revoked", ["PE-4", "SM-2"], source, why)]
    links = [file_link(p, where) for _, p in sorted(registers.items()) if os.path.exists(p)]
    return [
        _section("Certificates issued", ["PE-1", "PE-5", "SY-8"], source, issued,
                 f"No certificate issued {period.words()} (read {source}).", links),
        _section("Certificates revoked", ["PE-4", "SM-2"], source, revoked,
                 f"No certificate revoked {period.words()} (read {source}).", links),
    ]


# --- system: consolidation progress ------------------------------------------------------------------------


def _read_json(path: str) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def consolidation_sections(reports_dir: str, period: Period, where: Where) -> list[dict[str, Any]]:
    plan_path = os.path.join(reports_dir, "plan.json")
    rules = ["SY-3", "SY-7"]
    title = "Consolidation progress (waves)"
    if not os.path.exists(plan_path):
        waves_section = _section(title, rules, where.show(plan_path), [],
                                 f"No consolidation plan recorded: {where.show(plan_path)} does not exist "
                                 "(plan.yml has not run), so no wave progress is claimed.")
    else:
        try:
            plan = _read_json(plan_path)
            claims = []
            for wave in plan.get("waves") or ():
                number = wave.get("wave")
                ledger_path = os.path.join(reports_dir, "waves", f"{number}.json")
                ledger = _read_json(ledger_path) if os.path.exists(ledger_path) else {}
                vms = ledger.get("vms") or {}
                names = [vm.get("name") for vm in wave.get("vms") or ()]
                done = sum(1 for n in names if (vms.get(n) or {}).get("status") in _DONE)
                recent = [(vms.get(n) or {}).get("status", "?") for n in names
                          if period.holds(_time((vms.get(n) or {}).get("at")))]
                counts = ", ".join(f"{s} {recent.count(s)}" for s in sorted(set(recent))) or "none"
                links = [file_link(plan_path, where)]
                if ledger:
                    links.append(file_link(ledger_path, where))
                claims.append(_claim(f"Wave {number}: {done} of {len(names)} VM(s) where the plan wants them",
                                     f"outcomes recorded in the period: {counts}"
                                     + ("" if ledger else "; no ledger yet (the wave has not run)"),
                                     links, "ok" if done == len(names) else "attention"))
        except (OSError, ValueError, AttributeError, TypeError) as exc:
            waves_section = _unavailable(title, rules, where.show(plan_path),
                                         f"the plan or a wave ledger cannot be read ({exc})")
        else:
            waves_section = _section(title, rules, f"{where.show(plan_path)} and waves/N.json", claims,
                                     f"No wave planned (read {where.show(plan_path)}).",
                                     [file_link(plan_path, where)])
    moves, read = [], 0
    for path in sorted(glob.glob(os.path.join(reports_dir, "physical", "*.json"))):
        read += 1
        try:
            record = _read_json(path)
        except (OSError, ValueError):
            continue
        if period.holds(_time(record.get("at"))):
            moves.append(_claim(f"Physical server {_text(record.get('server') or os.path.basename(path))}",
                                f"{_text(record.get('status'))} at {record.get('at')}"
                                + (f" to {record.get('room')}/{record.get('rack')}/U{record.get('rack_u')}"
                                   if record.get("rack") else ""),
                                [file_link(path, where)], "ok" if record.get("status") in _DONE else "attention"))
    physical_dir = os.path.join(reports_dir, "physical")
    decom_path = os.path.join(reports_dir, "decommission.json")
    if os.path.exists(decom_path):
        try:
            decom = _read_json(decom_path)
            if period.holds(_time(decom.get("at"))):
                moves.append(_claim("Branch rooms decommissioned",
                                    f"{', '.join(decom.get('rooms') or ()) or '-'} (first recorded {decom.get('at')}); "
                                    f"{len(decom.get('hosts') or ())} host(s), "
                                    f"{len(decom.get('datastores') or ())} datastore(s), "
                                    f"{len(decom.get('servers') or ())} server(s) out",
                                    [file_link(decom_path, where)], "ok"))
        except (OSError, ValueError, AttributeError):
            pass
    physical = _section("Physical moves and decommissioning", ["MR-8", "MR-9", "SY-7"],
                        f"{where.show(physical_dir)}/*.json ({read} record(s)), {where.show(decom_path)}",
                        moves, f"No physical move or decommissioning recorded {period.words()} (read "
                               f"{where.show(physical_dir)}/: {read} record(s); {where.show(decom_path)}: "
                               f"{'present' if os.path.exists(decom_path) else 'not present'}).")
    report_path = os.path.join(reports_dir, "consolidation.md")
    report = []
    if os.path.exists(report_path):
        written = datetime.fromtimestamp(os.stat(report_path).st_mtime, UTC)
        report.append(_claim("The consolidation report", f"last written {stamp(written)}"
                             + ("" if period.holds(written) else " (outside the period)"),
                             [file_link(report_path, where),
                              file_link(report_path.removesuffix(".md") + ".html", where)]
                             if os.path.exists(report_path.removesuffix(".md") + ".html")
                             else [file_link(report_path, where)],
                             "ok" if period.holds(written) else "info"))
    return [waves_section, physical,
            _section("Consolidation report", ["SY-3", "SY-4"], where.show(report_path), report,
                     f"No consolidation report written: {where.show(report_path)} does not exist "
                     "(report.yml has not run).")]


# --- data and machine room: Prometheus -----------------------------------------------------------------------


def _prom_sections(prom: Prometheus | None, builders: Sequence[tuple[str, list[str], Callable[..., Any]]],
                   period: Period, prom_note: str) -> list[dict[str, Any]]:
    sections = []
    for title, rules, build in builders:
        source = f"Prometheus at {prom.url}, evaluated at {stamp(period.end)}" if prom else "Prometheus"
        if prom is None:
            sections.append(_unavailable(title, rules, source, prom_note))
            continue
        try:
            sections.append(build(title, rules, source))
        except PrometheusError as exc:
            sections.append(_unavailable(title, rules, source, str(exc)))
    return sections


def data_area(prom: Prometheus | None, period: Period, prom_note: str) -> list[dict[str, Any]]:
    window, at = f"[{period.seconds}s]", period.end

    def backups(title: str, rules: list[str], source: str) -> dict[str, Any]:
        q_ok = f"min_over_time(jinbao_backup_job_last_run_success{window})"
        q_last = f"last_over_time(jinbao_backup_job_last_success_timestamp_seconds{window})"
        ok = {_key(s["metric"], "system", "backup_job"): s["value"] for s in prom.query(q_ok, at)}
        last = {_key(s["metric"], "system", "backup_job"): s["value"] for s in prom.query(q_last, at)}
        claims = []
        for system, job in sorted(set(ok) | set(last)):
            every = ok.get((system, job))
            latest = last.get((system, job), 0.0)
            fresh = period.holds(datetime.fromtimestamp(latest, UTC)) if latest > 0 else False
            good = every == 1 and fresh
            claims.append(_claim(f"{system or '?'}: backup job {job or '?'}",
                                 ("every run seen in the period succeeded" if every == 1 else
                                  "a FAILED run was seen in the period" if every == 0 else "no run status seen")
                                 + f"; last success {_when(latest)}" + ("" if fresh else " (NOT in the period)"),
                                 [prom.link(q_ok, at), prom.link(q_last, at)], "ok" if good else "attention"))
        return _section(title, rules, source, claims, f"No backup job recorded in Prometheus {period.words()}.",
                        [prom.link(q_ok, at)])

    def restores(title: str, rules: list[str], source: str) -> dict[str, Any]:
        q_when = f"last_over_time(jinbao_backup_job_last_verify_timestamp_seconds{window})"
        q_ok = f"last_over_time(jinbao_backup_job_last_verify_success{window})"
        when = {_key(s["metric"], "system", "backup_job"): s["value"] for s in prom.query(q_when, at)}
        ok = {_key(s["metric"], "system", "backup_job"): s["value"] for s in prom.query(q_ok, at)}
        latest: dict[str, tuple[float, str]] = {}
        for (system, job), moment in when.items():
            if moment >= latest.get(system, (-1.0, ""))[0]:
                latest[system] = (moment, job)
        claims = []
        for system, (moment, job) in sorted(latest.items()):
            passed = ok.get((system, job)) == 1
            claims.append(_claim(f"{system or '?'}: latest restore test",
                                 f"{_when(moment)} (job {job}): " + ("passed" if passed else "FAILED")
                                 if moment > 0 else f"never (job {job})",
                                 [prom.link(q_when, at), prom.link(q_ok, at)],
                                 "ok" if passed and moment > 0 else "attention"))
        return _section(title, rules, source, claims,
                        f"No restore test recorded in Prometheus {period.words()}.", [prom.link(q_when, at)])

    def rpo(title: str, rules: list[str], source: str) -> dict[str, Any]:
        q_age = f"max by (system, source) (max_over_time(jinbao:system_recovery_point_age_seconds{window}))"
        q_rpo = f"max by (system) (last_over_time(jinbao:system_rpo_seconds{window}))"
        target = {s["metric"].get("system", ""): s["value"] for s in prom.query(q_rpo, at)}
        claims = []
        for sample in sorted(prom.query(q_age, at), key=lambda s: _key(s["metric"], "system", "source")):
            system, mechanism = _key(sample["metric"], "system", "source")
            goal = target.get(system)
            within = goal is not None and sample["value"] <= goal
            claims.append(_claim(f"{system or '?'} ({mechanism or '?'}): recovery point within its RPO",
                                 f"worst age in the period {sample['value']:.0f} s against an RPO of "
                                 + (f"{goal:.0f} s: " + ("within" if within else "BREACHED") if goal is not None
                                    else "(none declared)"),
                                 [prom.link(q_age, at), prom.link(q_rpo, at)], "ok" if within else "attention"))
        return _section(title, rules, source, claims,
                        f"No recovery point age recorded in Prometheus {period.words()} "
                        "(the rpo.rules.yml recording rules had no series).", [prom.link(q_age, at)])

    return _prom_sections(prom, [("Backups", ["DA-3"], backups), ("Restore tests", ["DA-4"], restores),
                                 ("RPO conformance", ["DA-1", "DA-2"], rpo)], period, prom_note)


def machine_room_area(prom: Prometheus | None, period: Period, prom_note: str,
                      envelope: Mapping[str, Sequence[float]]) -> list[dict[str, Any]]:
    window, at = f"[{period.seconds}s]", period.end

    def excursions(metric: str, unit: str, scale: float, low: float, high: float, what: str) -> Callable:
        def build(title: str, rules: list[str], source: str) -> dict[str, Any]:
            q_min, q_max = f"min_over_time({metric}{window})", f"max_over_time({metric}{window})"
            lows = {_key(s["metric"], "room", "sensor", "target"): s["value"] for s in prom.query(q_min, at)}
            highs = {_key(s["metric"], "room", "sensor", "target"): s["value"] for s in prom.query(q_max, at)}
            claims = []
            for key in sorted(set(lows) | set(highs)):
                room, sensor, target = key
                lo, hi = lows.get(key, math.nan), highs.get(key, math.nan)
                inside = low <= lo and hi <= high
                claims.append(_claim(f"{room or '?'} / {sensor or target or '?'}: {what} within "
                                     f"{low * scale:g}-{high * scale:g} {unit}",
                                     f"min {lo * scale:.1f} {unit}, max {hi * scale:.1f} {unit}: "
                                     + ("within" if inside else "EXCURSION"),
                                     [prom.link(q_min, at), prom.link(q_max, at)], "ok" if inside else "attention"))
            return _section(title, rules, source, claims,
                            f"No {what} reading recorded in Prometheus {period.words()}.", [prom.link(q_max, at)])
        return build

    t_low, t_high = envelope["temperature_celsius"]
    h_low, h_high = envelope["humidity_ratio"]
    return _prom_sections(prom, [
        ("Room temperature excursions", ["MR-1"],
         excursions("jinbao_environment_temperature_celsius", "°C", 1.0, t_low, t_high, "temperature")),
        ("Room humidity excursions", ["MR-2"],
         excursions("jinbao_environment_humidity_ratio", "% RH", 100.0, h_low, h_high, "humidity")),
    ], period, prom_note)


def alert_sections(prom: Prometheus | None, period: Period, prom_note: str, where: Where,
                   runbooks_dir: str) -> dict[str, dict[str, Any]]:
    """Per area, the section of alerts that fired in the period (ALERTS{alertstate="firing"})."""
    window, at = f"[{period.seconds}s]", period.end
    fired: dict[str, list[dict[str, Any]]] = {area: [] for area in ALERT_RULES}
    title = "Alerts fired"
    source = f"Prometheus at {prom.url}, ALERTS series, evaluated at {stamp(at)}" if prom else "Prometheus"
    if prom is None:
        return {area: _unavailable(title, rules, source, prom_note) for area, rules in ALERT_RULES.items()}
    query = f'max_over_time(ALERTS{{alertstate="firing"}}{window})'
    try:
        samples = prom.query(query, at)
    except PrometheusError as exc:
        return {area: _unavailable(title, rules, source, str(exc)) for area, rules in ALERT_RULES.items()}
    for sample in sorted(samples, key=lambda s: sorted(s["metric"].items())):
        labels = sample["metric"]
        name = labels.get("alertname", "?")
        area = ALERT_AREAS.get(name, "system")
        shown = ", ".join(f"{k}={_text(v)}" for k, v in sorted(labels.items())
                          if k not in _HIDDEN_LABELS and k not in ("alertname", "severity"))
        exact = f'max_over_time(ALERTS{{alertstate="firing",alertname="{name}"}}{window})'
        links = [prom.link(exact, at)]
        page = os.path.join(runbooks_dir, "alerts", f"{name}.md")
        if os.path.exists(page):
            links.append(file_link(page, where, text=f"runbook {name}"))
        status = "info" if name == "Watchdog" else "attention"
        value = ("the alert path was alive (the Watchdog fires always)" if name == "Watchdog"
                 else f"fired for {shown or '(no labels)'}")
        fired[area].append(_claim(f"{name} ({labels.get('severity', '?')})", value, links, status))
    return {area: _section(title, ALERT_RULES[area], source, claims,
                           f"No alert of this area fired {period.words()} (query: {query}).",
                           [prom.link(query, at)])
            for area, claims in fired.items()}


# --- network ---------------------------------------------------------------------------------------------


def _backup_time(path: str) -> datetime | None:
    name = os.path.basename(str(path or "")).removesuffix(".cfg")
    try:
        return datetime.strptime(name, "%Y%m%dT%H%M%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def _backup_file(backups_dir: str, device: str, recorded: str) -> str:
    """A backup named in a change record, found in the backups folder as it is now."""
    return os.path.join(backups_dir, device, os.path.basename(str(recorded or "")))


def _sha_matches(path: str) -> bool:
    try:
        with open(path, "rb") as fh:
            digest = hashlib.sha256(fh.read()).hexdigest()
        with open(path + ".sha256", encoding="utf-8") as fh:
            return fh.read().split()[0] == digest
    except (OSError, IndexError):
        return False


def network_area(reports_dir: str, backups_dir: str, period: Period, where: Where) -> list[dict[str, Any]]:
    changes_dir = os.path.join(reports_dir, "network", "changes")
    claims, read = [], 0
    for path in sorted(glob.glob(os.path.join(changes_dir, "*.json"))):
        read += 1
        try:
            record = _read_json(path)
            after = record.get("after") or {}
            before = record.get("before") or {}
        except (OSError, ValueError, AttributeError):
            claims.append(_claim(f"{os.path.basename(path)}", "the change record cannot be read",
                                 [file_link(path, where)], "attention"))
            continue
        when = _backup_time(after.get("backup"))
        if not period.holds(when):
            continue
        device = _text(record.get("device") or "?")
        links = [file_link(path, where, text=f"change record {os.path.basename(path)}")]
        kept = []
        for label, side in (("before", before), ("after", after)):
            backup = _backup_file(backups_dir, str(record.get("device")), side.get("backup"))
            if side.get("backup") and os.path.exists(backup):
                links.append(file_link(backup, where, text=f"backup {label}"))
                kept.append(_sha_matches(backup))
            else:
                kept.append(False)
        operator = _text((record.get("operator") or {}).get("cn") or "?")
        commands = record.get("commands") or ()
        claims.append(_claim(f"{device} changed by {operator} at {stamp(when)}",
                             f"{len(commands)} line(s) sent; SHA-256 {str(before.get('sha256', ''))[:12]} → "
                             f"{str(after.get('sha256', ''))[:12]}; backups before and after kept and checksummed: "
                             + ("yes" if all(kept) else "NO"),
                             links, "ok" if all(kept) else "attention"))
    sections = [_section("Network changes", ["NW-1", "NW-6", "NW-7", "NW-9"],
                         f"{where.show(changes_dir)}/*.json ({read} record(s)) and {where.show(backups_dir)}/",
                         claims, f"No network change recorded {period.words()} (read "
                                 f"{where.show(changes_dir)}/: {read} change record(s) in all).")]
    backup_claims, devices = [], 0
    for folder in sorted(glob.glob(os.path.join(backups_dir, "*"))):
        if not os.path.isdir(folder):
            continue
        devices += 1
        versions = sorted(p for p in glob.glob(os.path.join(folder, "*.cfg")) if period.holds(_backup_time(p)))
        if not versions:
            continue
        checked = [_sha_matches(p) for p in versions]
        backup_claims.append(_claim(f"{os.path.basename(folder)}: configuration backed up",
                                    f"{len(versions)} version(s) in the period, newest "
                                    f"{stamp(_backup_time(versions[-1]))}; each matches its .sha256: "
                                    + ("yes" if all(checked) else "NO"),
                                    [file_link(versions[-1], where), file_link(versions[-1] + ".sha256", where)]
                                    if os.path.exists(versions[-1] + ".sha256")
                                    else [file_link(versions[-1], where)],
                                    "ok" if all(checked) else "attention"))
    sections.append(_section("Configuration backups", ["NW-6"], f"{where.show(backups_dir)}/<device>/*.cfg",
                             backup_claims, f"No configuration backup made {period.words()} (read "
                                            f"{where.show(backups_dir)}/: {devices} device folder(s))."))
    policy_claims = []
    policy_files = sorted(glob.glob(os.path.join(reports_dir, "network", "policy-*.json")))
    for path in policy_files:
        written = datetime.fromtimestamp(os.stat(path).st_mtime, UTC)
        try:
            result = _read_json(path)
        except (OSError, ValueError):
            policy_claims.append(_claim(os.path.basename(path), "cannot be read", [file_link(path, where)],
                                        "attention"))
            continue
        matrix, policy = result.get("matrix") or {}, result.get("policy") or {}
        open_flows = sorted(f"{s}→{d}" for s, row in matrix.items() for d, got in (row or {}).items()
                            if got and s != d)
        problems = result.get("problems") or []
        which = os.path.basename(path).removeprefix("policy-").removesuffix(".json")
        policy_claims.append(_claim(
            f"The {which} configuration's zone-to-zone matrix "
            + ("matches the flow policy (NW-2)" if result.get("passed") else "BREAKS the flow policy (NW-2)"),
            f"checked {stamp(written)}" + ("" if period.holds(written) else " (before or after the period)")
            + f"; open: {', '.join(open_flows) or 'none'}; {len(problems)} problem(s); "
              f"{len(policy)} zone(s)",
            [file_link(path, where)], "ok" if result.get("passed") else "attention"))
    sections.append(_section("Policy-matrix results", ["NW-2", "NW-3"],
                             f"{where.show(os.path.join(reports_dir, 'network'))}/policy-*.json", policy_claims,
                             f"No policy check recorded: {where.show(os.path.join(reports_dir, 'network'))}/"
                             "policy-*.json does not exist (network.yml has not run)."))
    return sections


# --- the pack ------------------------------------------------------------------------------------------


@dataclass
class Sources:
    """Where the pack reads from. Paths are absolute or relative to the working directory."""

    reports_dir: str
    audit_log: str = ""
    audit_sink2: str | None = None
    gate_log: str = ""
    registers: dict[str, str] = field(default_factory=dict)
    backups_dir: str = ""
    runbooks_dir: str = ""

    def __post_init__(self) -> None:
        self.audit_log = self.audit_log or os.path.join(self.reports_dir, "audit", "audit.jsonl")
        self.gate_log = self.gate_log or os.path.join(self.reports_dir, "audit", "gate.jsonl")
        self.registers = self.registers or {"operators": os.path.join(self.reports_dir, "pki", "operators.csv"),
                                            "services": os.path.join(self.reports_dir, "pki", "services.csv")}
        self.backups_dir = self.backups_dir or os.path.join(self.reports_dir, "..", "backups")
        self.runbooks_dir = self.runbooks_dir or os.path.join(self.reports_dir, "..", "runbooks")


def out_dir_for(out_root: str, period: Period) -> str:
    return os.path.join(out_root, period.slug)


def collect(period: Period, sources: Sources, where: Where, prometheus: Prometheus | None,
            envelope: Mapping[str, Sequence[float]] | None = None) -> dict[str, Any]:
    """The pack for `period`: its areas, each a list of sections, with file links relative to `where.out_dir`."""
    envelope = {**DEFAULT_ENVELOPE, **(envelope or {})}
    entries = audit_chain.read_log(sources.audit_log)
    prom_note = "no Prometheus is configured for the pack (evidence_prometheus_url is empty)"
    alerts = alert_sections(prometheus, period, prom_note, where, sources.runbooks_dir)
    paths = {"audit_log": sources.audit_log, "gate_log": sources.gate_log}
    sections = {
        "security": [*security_area(entries, period, paths, where, sources.audit_sink2), alerts["security"]],
        "personnel": personnel_area(sources.registers, period, where),
        "system": [*consolidation_sections(sources.reports_dir, period, where),
                   runs_section(entries, period, sources.audit_log, where), alerts["system"]],
        "data": [*data_area(prometheus, period, prom_note), alerts["data"]],
        "machine_room": [*machine_room_area(prometheus, period, prom_note, envelope), alerts["machine_room"]],
        "network": [*network_area(sources.reports_dir, sources.backups_dir, period, where), alerts["network"]],
    }
    areas = []
    for key, (title, policy) in AREAS.items():
        for section in sections[key]:
            if not section["claims"] and not section["statement"]:
                raise AssertionError(f"evidence: {key} / {section['title']}: a section with neither claims nor "
                                     "a statement")  # never an empty table
        attention = sum(1 for s in sections[key] for c in s["claims"] if c["status"] == "attention")
        areas.append({"key": key, "title": title,
                      "policy": file_link(os.path.join(sources.runbooks_dir, "policies", policy), where,
                                          text=f"runbooks/policies/{policy}"),
                      "attention": attention, "sections": sections[key]})
    run = period.run
    period_info: dict[str, Any] = {"from": stamp(period.start), "to": stamp(period.end), "slug": period.slug,
                                   "run": None}
    if run:
        period_info["run"] = {"playbook": run["playbook"], "ended": run["ended"],
                              "start": audit_link(run["start_entry"], where),
                              "end": audit_link(run["end_entry"], where) if run["end_entry"] else None}
    return {"schema": SCHEMA, "period": period_info,
            "prometheus": prometheus.url if prometheus else "", "areas": areas,
            "attention": sum(a["attention"] for a in areas)}


def file_links(pack: Mapping[str, Any]) -> list[str]:
    """Every file link of the pack (hrefs without their #L fragment), for checks that each resolves."""
    out = []

    def visit(links: Sequence[Mapping[str, str]]) -> None:
        out.extend(link["href"].split("#", 1)[0] for link in links if link.get("kind") == "file")

    for area in pack["areas"]:
        visit([area["policy"]])
        for section in area["sections"]:
            visit(section["statement_evidence"])
            for claim in section["claims"]:
                visit(claim["evidence"])
    run = pack["period"].get("run") or {}
    visit([link for link in (run.get("start"), run.get("end")) if link])
    return sorted(set(out))
