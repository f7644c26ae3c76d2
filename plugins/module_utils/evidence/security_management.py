"""Security management (runbooks/policies/security-management.md): the audit chain, gate decisions, runs."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from ansible_collections.jinbao.dc.plugins.module_utils.audit import chain as audit_chain
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

# --- the audit log and the gate log --------------------------------------------------------------------


def _runs(entries: list[Any], period: Period) -> tuple[list[Any], list[Any]]:
    """(run_end entries of runs started in the period, run_start entries in it with no run_end)."""
    ended_ids = {e.record.get("run_id") for e in entries if e.record and e.record.get("type") == "run_end"}
    ends = [e for e in entries if e.record and e.record.get("type") == "run_end"
            and period.holds(parse_time((e.record.get("when") or {}).get("start")))]
    open_ = [e for e in entries if e.record and e.record.get("type") == "run_start"
             and period.holds(parse_time(e.record.get("time"))) and e.record.get("run_id") not in ended_ids]
    return ends, open_


def _who(record: Mapping[str, Any]) -> tuple[str, str]:
    who = record.get("who") or {}
    person = who.get("operator") or f"{who.get('os_user') or '?'} (no operator certificate: not gated)"
    return plain_text(person), plain_text(who.get("cert_serial") or "-")


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
        claims.append(make_claim(
            f"{person}, certificate serial {serial}",
            f"ran {playbooks} from {stamp(parse_time(when.get('start')))}: {sum(hosts.values())} change(s) on "
            f"{len(changed_hosts)} host(s) ({', '.join(changed_hosts)}); result {r.get('result')}",
            [audit_link(entry, where)], "ok" if r.get("result") == "ok" else "attention"))
    sections = [make_section("Changes by operator", ["SM-4", "PE-1", "SY-6"], source, claims,
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
        return make_section(title, rules, source, [], f"No gate decision recorded {period.words()}: "
                        f"{where.show(gate_log)} does not exist (no gated playbook has run).")
    granted: dict[tuple[str, str, str], list[int]] = {}
    claims = []
    try:
        with open(gate_log, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except OSError as exc:
        return unavailable_section(title, rules, source, f"{gate_log} cannot be read ({exc.strerror or exc})")
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict) or not period.holds(parse_time(record.get("time"))):
            continue
        who = (plain_text(record.get("operator") or "?"), plain_text(record.get("serial") or "-"),
               plain_text(record.get("playbook") or "?"))
        if record.get("result") == "granted":
            granted.setdefault(who, []).append(number)
        else:
            claims.append(make_claim(f"{who[0]} refused for {who[2]}",
                                 f"at {stamp(parse_time(record['time']))}, certificate serial {who[1]}: "
                                 f"{plain_text(record.get('reason') or record.get('result') or '?')}",
                                 [file_link(gate_log, where, line=number)], "attention"))
    for (person, serial, playbook), numbers in sorted(granted.items()):
        links = [file_link(gate_log, where, line=n) for n in numbers[:3]]
        if len(numbers) > 3:
            links.append(file_link(gate_log, where, line=numbers[-1], note=f"{len(numbers) - 4} more between"))
        claims.append(make_claim(f"{person} granted for {playbook}",
                             f"{len(numbers)} time(s), certificate serial {serial}", links, "ok"))
    return make_section(title, rules, source, claims,
                    f"No gate decision recorded {period.words()} (read {where.show(gate_log)}).",
                    [file_link(gate_log, where)])


def chain_section(entries: list[Any], period: Period, log: str, sink2: str | None,
                  where: Where) -> dict[str, Any]:
    title, rules = "Audit log integrity", ["SM-4"]
    source = f"{where.show(log)}" + (f" and its second copy {where.show(sink2)}" if sink2 else "")
    inside = [e for e in entries if e.record and period.holds(parse_time(e.record.get("time")))]
    if not inside:
        return make_section(title, rules, source, [], f"No audit record written {period.words()} "
                        f"(read {where.show(log)}: {len(entries)} record(s) in all).", [file_link(log, where)])
    report = audit_chain.verify(log, sink2)
    first, last = inside[0], inside[-1]
    if report.ok:
        copies = "both copies agree" if sink2 else "the primary copy alone was checked"
        claim = make_claim("The hash chain is intact (make audit-verify)",
                       f"records seq {first.record['seq']} to {last.record['seq']} of the period are sealed and "
                       f"chained; {copies}",
                       [audit_link(first, where), audit_link(last, where)], "ok")
    else:
        found = report.first
        claim = make_claim("The hash chain is BROKEN (make audit-verify)",
                       f"{found.kind} at {os.path.basename(found.file)}:{found.line}: {found.detail}",
                       [file_link(found.file, where, line=found.line or None)], "attention")
    return make_section(title, rules, source, [claim], "")


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
        claims.append(make_claim(f"Runs that ended {result}", f"{len(group)} (of them {check} in check mode)", links,
                             "ok" if result == "ok" else "attention"))
    for entry in open_:
        playbooks = ", ".join(str(p) for p in (entry.record.get("what") or {}).get("playbooks") or ())
        claims.append(make_claim("A run with no end record (it died, or it is still running)",
                             f"{playbooks} started {stamp(parse_time(entry.record.get('time')))}",
                             [audit_link(entry, where)], "attention"))
    return make_section(title, rules, f"{where.show(log)} (run_start and run_end records)", claims,
                    f"No playbook run recorded {period.words()} (read {where.show(log)}).",
                    [file_link(log, where)])


