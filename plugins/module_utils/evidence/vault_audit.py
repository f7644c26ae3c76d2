"""Every gated run checked against Vault's own audit log: the certificate the gate admitted is the one that logged
in to Vault (auth/cert) and read the facility's credentials (KV v2, <mount>/data/facility/...).

Two records of one run, written by two parties: the audit chain's run_end (reports/audit/audit.jsonl; who: the
operator, cert_cn, cert_serial, the gate's decision; when: start and end) and Vault's audit devices (each node of
the raft cluster writes what it served while it led, so the pack reads the union of the nodes' files). Vault
logs JSON lines, one `request` and one `response` entry per request; the response of a cert login carries the
certificate (auth.metadata common_name, serial_number in decimal) and the new token's accessor, HMAC'd with the
device's salt; every later request made with that token carries the same HMAC'd accessor and the same metadata.

So a run is matched to the cert login by the same CN and serial inside the run's window, and its credential reads
are the reads made with that login's token (the HMAC'd accessor: the identity of the token, not only of the
certificate), inside the window. Secret values never reach Vault's log in clear (HMAC'd) and are never copied;
only paths are.

Pure Python (no Ansible import), like the rest of the evidence pack.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ansible_collections.jinbao.dc.plugins.module_utils.evidence.common import (
    Period,
    Where,
    audit_link,
    file_link,
    make_claim,
    make_section,
    parse_time,
    plain_text,
    stamp,
    unavailable_section,
)

TITLE = "Credential reads checked against Vault's audit log"
RULES = ["SM-4", "SM-5", "SM-6"]
SKEW = timedelta(seconds=2)  # the controller's and the Vault nodes' clocks may differ by this much
_PATHS_SHOWN = 4
_HEX = re.compile(r"^(0x)?[0-9a-f]+$")
_TIME = re.compile(r'"time":"([^"]+)"')


# --- serials -------------------------------------------------------------------------------------------------


def normalise_serial(text: Any) -> int | None:
    """A certificate serial as a number, from either form the two logs use: Vault's auth metadata gives it in
    decimal (419374...447), the audit chain and the registers in colon hex (49:75:62:70:...). Colons, `0x` or a
    hex letter mean hex; digits alone mean decimal (the form Vault writes)."""
    if isinstance(text, int) and not isinstance(text, bool):
        return text
    if not isinstance(text, str):
        return None
    raw = text.strip().lower()
    if not raw:
        return None
    if raw.isdigit():
        return int(raw)
    raw = raw.replace(":", "").replace("-", "")
    if not _HEX.match(raw):
        return None
    return int(raw.removeprefix("0x") or "0", 16)


def serial_text(serial: int | None) -> str:
    """The colon hex form (the one the chain and the registers show), lower case, whole bytes."""
    if serial is None:
        return "-"
    digits = f"{serial:x}"
    digits = digits.zfill(len(digits) + len(digits) % 2)
    return ":".join(digits[i:i + 2] for i in range(0, len(digits), 2))


# --- Vault's audit log ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """One cert login or one credential read, as Vault logged it (file and line of the entry kept)."""

    kind: str  # login | read
    time: datetime
    cn: str
    serial: int | None
    accessor: str  # as logged: hmac-sha256:..., never the token itself
    path: str  # a read: the credential's path below the mount's data/ (facility/main/vcenter/vc-central)
    allowed: bool | None  # a read: False refused by policy, None no response entry was logged
    request_id: str
    file: str
    line: int


@dataclass
class VaultLog:
    """The union of the nodes' audit logs: the events, and what could not be read (named, never skipped)."""

    events: list[Event] = field(default_factory=list)
    files: list[tuple[str, int]] = field(default_factory=list)  # (path, lines) read
    missing: list[str] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    bad_lines: int = 0
    first: datetime | None = None
    last: datetime | None = None


def read_logs(paths: Sequence[str], cert_mount: str = "cert", kv_mount: str = "jinbao",
              prefix: str = "facility/") -> VaultLog:
    """Read every file in `paths`; a missing or unreadable file is recorded by name, not raised."""
    out = VaultLog()
    chosen: dict[tuple[str, str], Event] = {}
    # Only a line that names the login path or a credential path is parsed (a busy node logs far more)
    keys = (f'"auth/{cert_mount}/login"', f'"{kv_mount.strip("/")}/data/{prefix}')
    for path in paths:
        if not os.path.exists(path):
            out.missing.append(path)
            continue
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                count = 0
                for number, line in enumerate(fh, 1):
                    if not line.strip():
                        continue
                    count += 1
                    found = _TIME.search(line, 0, 120)  # Vault writes the time first
                    moment = parse_time(found.group(1)) if found else None
                    if moment is None or not line.rstrip().endswith("}"):  # no time, or torn
                        out.bad_lines += 1
                        continue
                    out.first = min(out.first or moment, moment)
                    out.last = max(out.last or moment, moment)
                    if not any(key in line for key in keys):
                        continue
                    try:
                        entry = json.loads(line)
                    except ValueError:
                        out.bad_lines += 1
                        continue
                    event = parse_entry(entry, path, number, cert_mount, kv_mount, prefix)
                    if event is None:
                        continue
                    key = (event.kind, event.request_id or f"{path}:{number}")
                    held = chosen.get(key)
                    # one event per request: the response (it holds the outcome) over the request
                    if held is None or (held.allowed is None and event.allowed is not None):
                        chosen[key] = event
        except OSError as exc:
            out.unreadable.append((path, exc.strerror or str(exc)))
            continue
        out.files.append((path, count))
    out.events = sorted(chosen.values(), key=lambda e: (e.time, e.kind, e.file, e.line))
    return out


def parse_entry(entry: Any, path: str, line: int, cert_mount: str = "cert", kv_mount: str = "jinbao",
                prefix: str = "facility/") -> Event | None:
    """A successful cert login (its response entry) or a credential read (request or response), else None."""
    if not isinstance(entry, dict) or entry.get("type") not in ("request", "response"):
        return None
    request = entry.get("request") or {}
    auth = entry.get("auth") or {}
    moment = parse_time(entry.get("time"))
    if not isinstance(request, dict) or not isinstance(auth, dict) or moment is None:
        return None
    metadata = auth.get("metadata") or {}
    req_path = str(request.get("path") or "")
    base = {"time": moment, "cn": str(metadata.get("common_name") or ""),
            "serial": normalise_serial(metadata.get("serial_number")), "accessor": str(auth.get("accessor") or ""),
            "request_id": str(request.get("id") or ""), "file": path, "line": line}
    if req_path == f"auth/{cert_mount}/login":
        # the request entry has no auth yet; a refused login has an error and no accessor
        if entry["type"] != "response" or entry.get("error") or not base["accessor"] or not base["cn"]:
            return None
        return Event(kind="login", path="", allowed=True, **base)
    data_prefix = f"{kv_mount.strip('/')}/data/{prefix}"
    if request.get("operation") == "read" and req_path.startswith(data_prefix):
        if entry["type"] == "request":
            allowed = None
        else:
            allowed = not entry.get("error") and (auth.get("policy_results") or {}).get("allowed") is not False
        return Event(kind="read", path=req_path[len(kv_mount.strip("/")) + len("/data/"):], allowed=allowed,
                     **base)
    return None


# --- the cross-check -----------------------------------------------------------------------------------------


@dataclass
class _Run:
    entry: Any
    run_id: str
    start: datetime
    end: datetime
    cn: str
    serial: int | None
    playbooks: str
    login: Event | None = None
    reads: list[Event] = field(default_factory=list)
    foreign: list[Event] = field(default_factory=list)  # reads with its token but another certificate's metadata
    overlapped: int = 0  # other runs of the same certificate whose window overlaps this one

    def holds(self, moment: datetime) -> bool:
        return self.start - SKEW <= moment <= self.end + SKEW


def gated_runs(entries: Iterable[Any]) -> list[_Run]:
    """The run_end records whose gate granted the run (the chain's own word for a cert-gated run)."""
    runs = []
    for entry in entries:
        record = entry.record or {}
        who = record.get("who") or {}
        if record.get("type") != "run_end" or (who.get("gate") or {}).get("result") != "granted":
            continue
        when = record.get("when") or {}
        start, end = parse_time(when.get("start")), parse_time(when.get("end"))
        if start is None or end is None:
            continue
        runs.append(_Run(entry, str(record.get("run_id") or "?"), start, end, str(who.get("cert_cn") or ""),
                         normalise_serial(who.get("cert_serial")),
                         ", ".join(str(p) for p in (record.get("what") or {}).get("playbooks") or ()) or "?"))
    return sorted(runs, key=lambda r: (r.start, r.run_id))


def _match(runs: list[_Run], vault: VaultLog) -> list[Event]:
    """Give each run its login and reads; return the reads no run accounts for."""
    logins = [e for e in vault.events if e.kind == "login"]
    claimed: set[tuple[str, str]] = set()
    for run in runs:  # in order of start: overlapping runs of one certificate take its logins in turn
        for login in logins:
            if (login.cn == run.cn and login.serial == run.serial and run.holds(login.time)
                    and (login.accessor, login.request_id) not in claimed):
                run.login = login
                claimed.add((login.accessor, login.request_id))
                break
        run.overlapped = sum(1 for other in runs if other is not run and other.cn == run.cn
                             and other.serial == run.serial and other.start <= run.end and run.start <= other.end)
    by_accessor = {run.login.accessor: run for run in runs if run.login}
    unaccounted = []
    for read in (e for e in vault.events if e.kind == "read"):
        run = by_accessor.get(read.accessor)
        if run is None or not run.holds(read.time):
            unaccounted.append(read)  # another token, or the run's token outside its run
        elif (read.cn, read.serial) != (run.cn, run.serial):
            run.foreign.append(read)
        else:
            run.reads.append(read)
    return unaccounted


def _paths(reads: Sequence[Event]) -> str:
    counts: dict[str, int] = {}
    for read in reads:
        counts[read.path] = counts.get(read.path, 0) + 1
    shown = [f"{path}" + (f" x{n}" if n > 1 else "") for path, n in sorted(counts.items())[:_PATHS_SHOWN]]
    more = len(counts) - _PATHS_SHOWN
    return ", ".join(shown) + (f" and {more} more path(s)" if more > 0 else "")


def _nearest_dir(path: str) -> str:
    """The nearest folder of `path` that exists (the evidence that a file is missing is its folder)."""
    folder = os.path.dirname(os.path.abspath(path))
    while not os.path.isdir(folder) and os.path.dirname(folder) != folder:
        folder = os.path.dirname(folder)
    return folder


def _vault_link(event: Event, where: Where, note: str = "") -> dict[str, str]:
    return file_link(event.file, where, line=event.line, note=note)


def _run_claim(run: _Run, vault: VaultLog, where: Where) -> dict[str, Any]:
    who = f"run {run.run_id[:8]} by {plain_text(run.cn or '?')} ({serial_text(run.serial)})"
    window = f"{stamp(run.start)} to {stamp(run.end)}"
    links = [audit_link(run.entry, where)]
    if run.login is None:
        others = [e for e in vault.events if e.kind == "login" and e.cn == run.cn and run.holds(e.time)]
        why = f"no cert login by this certificate from {window}"
        if others:
            why += "; only by another certificate of the same CN (serial in the evidence)"
            links += [_vault_link(e, where, f"serial {serial_text(e.serial)}") for e in others[:2]]
        elif vault.first is None or run.end < vault.first or (vault.last and run.start > vault.last):
            why += " (the audit logs read do not cover this run)"
        return make_claim(who, f"{run.playbooks}: {why}", links, "attention")
    links.append(_vault_link(run.login, where))
    granted = [r for r in run.reads if r.allowed is not False]
    refused = [r for r in run.reads if r.allowed is False]
    value = (f"{run.playbooks}: cert login at {stamp(run.login.time)}, {len(granted)} credential read(s)"
             + (f" ({_paths(granted)})" if granted else ""))
    status = "ok"
    if refused:
        value += f"; {len(refused)} read(s) refused by Vault's policy ({_paths(refused)})"
        status = "attention"
        links.append(_vault_link(refused[0], where))
    if run.foreign:
        value += f"; {len(run.foreign)} read(s) with this run's token carry another certificate"
        status = "attention"
        links.append(_vault_link(run.foreign[0], where))
    if run.overlapped:
        value += f" (the certificate's {run.overlapped} overlapping run(s) took its logins in order of start)"
    if granted:
        links.append(_vault_link(granted[0], where))
    return make_claim(who, value, links, status)


def _outside_claims(reads: Sequence[Event], open_runs: Sequence[Any], where: Where) -> list[dict[str, Any]]:
    """One claim per certificate whose reads no finished gated run accounts for."""
    groups: dict[tuple[str, int | None], list[Event]] = {}
    for read in reads:
        groups.setdefault((read.cn, read.serial), []).append(read)
    claims = []
    for (cn, serial), group in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0)):
        refused = sum(1 for r in group if r.allowed is False)
        value = (f"{len(group)} read(s) from {stamp(group[0].time)} to {stamp(group[-1].time)} that no finished "
                 f"gated run of this certificate covers: {_paths(group)}")
        if refused:
            value += f"; {refused} of them refused by Vault's policy"
        operator = cn.split(".", 1)[0]
        running = [e for e in open_runs if (e.record.get("who") or {}).get("operator_claimed") == operator
                   and (parse_time(e.record.get("time")) or group[0].time) - SKEW <= group[0].time]
        if running:
            value += f"; {len(running)} run(s) of {operator} with no run_end yet (running, or died) started before"
        links = [_vault_link(group[0], where)] + ([_vault_link(group[-1], where)] if len(group) > 1 else [])
        links += [audit_link(e, where) for e in running[-1:]]
        claims.append(make_claim(f"Credential reads outside an audited run by {plain_text(cn or '?')} "
                                 f"({serial_text(serial)})", value, links, "attention"))
    return claims


def cross_check(entries: Sequence[Any], vault: VaultLog, period: Period, where: Where,
                log_paths: Sequence[str]) -> dict[str, Any]:
    """The section: a claim per gated run started in the period (its cert login and credential reads), one per
    certificate whose reads in the period no gated run covers, and one per audit log that is missing or
    unreadable."""
    # Only what concerns the period (the logs grow all the time; the pack of a past period must not change)
    inside = [e for e in vault.events if period.holds(e.time)]
    logins = sum(1 for e in inside if e.kind == "login")
    cover = ""
    if vault.first is None:
        cover = "; they hold no entry"
    elif vault.first > period.start:
        cover = f"; their earliest entry is {stamp(vault.first)}, after the period's start"
    elif vault.last and vault.last < period.end:
        cover = f"; their newest entry is {stamp(vault.last)}, before the period's end"
    source = (f"the audit chain's run_end records and Vault's audit logs "
              f"({', '.join(where.show(p) for p, _ in vault.files) or 'none read'}: {logins} cert login(s) and "
              f"{len(inside) - logins} credential read(s) in the period{cover})")
    if not log_paths:
        return unavailable_section(TITLE, RULES, "Vault's audit logs",
                                   f"No Vault audit log is configured for the pack (evidence_vault_audit_logs is "
                                   f"empty), so no run {period.words()} is checked against Vault")
    runs = gated_runs(entries)
    unaccounted = _match(runs, vault)
    claims = [_run_claim(run, vault, where) for run in runs if period.holds(run.start)]
    ended = {e.record.get("run_id") for e in entries if e.record and e.record.get("type") == "run_end"}
    open_runs = [e for e in entries if e.record and e.record.get("type") == "run_start"
                 and e.record.get("run_id") not in ended and period.holds(parse_time(e.record.get("time")))]
    claims += _outside_claims([r for r in unaccounted if period.holds(r.time)], open_runs, where)
    for path in vault.missing:
        claims.append(make_claim(f"Vault audit log missing: {where.show(path)}",
                                 "not found; a node that never led writes none, otherwise it was moved or removed: "
                                 "what that node served is not checked",
                                 [file_link(_nearest_dir(path), where, note="the file is not there")], "attention"))
    for path, why in vault.unreadable:
        claims.append(make_claim(f"Vault audit log unreadable: {where.show(path)}", f"{why}; what that node served "
                                 "is not checked", [file_link(path, where)], "attention"))
    if vault.bad_lines:
        claims.append(make_claim("Vault audit log lines that cannot be read", f"{vault.bad_lines} line(s) with no "
                                 "time or not JSON were skipped (a torn write, or an edited log)",
                                 [file_link(p, where) for p, _ in vault.files[:1]], "attention"))
    return make_section(TITLE, RULES, source, claims,
                        f"No gated run and no credential read recorded {period.words()} (read "
                        f"{where.show(log_paths[0]) if len(log_paths) == 1 else f'{len(log_paths)} audit logs'} "
                        "and the audit chain).", [file_link(p, where) for p, _ in vault.files])


def vault_audit_section(entries: Sequence[Any], period: Period, log_paths: Sequence[str],
                        where: Where) -> dict[str, Any]:
    """Read the nodes' logs (missing ones named) and cross-check the period's runs."""
    return cross_check(entries, read_logs(list(log_paths)) if log_paths else VaultLog(), period, where,
                       list(log_paths))
