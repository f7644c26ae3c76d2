"""System management (runbooks/policies/system.md): consolidation progress from the plan and ledgers."""

from __future__ import annotations

import glob
import os
from datetime import UTC, datetime
from typing import Any

from ansible_collections.jinbao.dc.plugins.module_utils.evidence.common import (
    DONE,
    Period,
    Where,
    file_link,
    make_claim,
    make_section,
    parse_time,
    plain_text,
    read_json,
    stamp,
    unavailable_section,
)

# --- system: consolidation progress ------------------------------------------------------------------------


def consolidation_sections(reports_dir: str, period: Period, where: Where) -> list[dict[str, Any]]:
    plan_path = os.path.join(reports_dir, "plan.json")
    rules = ["SY-3", "SY-7"]
    title = "Consolidation progress (waves)"
    if not os.path.exists(plan_path):
        waves_section = make_section(title, rules, where.show(plan_path), [],
                                 f"No consolidation plan recorded: {where.show(plan_path)} does not exist "
                                 "(plan.yml has not run), so no wave progress is claimed.")
    else:
        try:
            plan = read_json(plan_path)
            claims = []
            for wave in plan.get("waves") or ():
                number = wave.get("wave")
                ledger_path = os.path.join(reports_dir, "waves", f"{number}.json")
                ledger = read_json(ledger_path) if os.path.exists(ledger_path) else {}
                vms = ledger.get("vms") or {}
                names = [vm.get("name") for vm in wave.get("vms") or ()]
                done = sum(1 for n in names if (vms.get(n) or {}).get("status") in DONE)
                recent = [(vms.get(n) or {}).get("status", "?") for n in names
                          if period.holds(parse_time((vms.get(n) or {}).get("at")))]
                counts = ", ".join(f"{s} {recent.count(s)}" for s in sorted(set(recent))) or "none"
                links = [file_link(plan_path, where)]
                if ledger:
                    links.append(file_link(ledger_path, where))
                claims.append(make_claim(f"Wave {number}: {done} of {len(names)} VM(s) where the plan wants them",
                                     f"outcomes recorded in the period: {counts}"
                                     + ("" if ledger else "; no ledger yet (the wave has not run)"),
                                     links, "ok" if done == len(names) else "attention"))
        except (OSError, ValueError, AttributeError, TypeError) as exc:
            waves_section = unavailable_section(title, rules, where.show(plan_path),
                                         f"the plan or a wave ledger cannot be read ({exc})")
        else:
            waves_section = make_section(title, rules, f"{where.show(plan_path)} and waves/N.json", claims,
                                     f"No wave planned (read {where.show(plan_path)}).",
                                     [file_link(plan_path, where)])
    moves, read = [], 0
    for path in sorted(glob.glob(os.path.join(reports_dir, "physical", "*.json"))):
        read += 1
        try:
            record = read_json(path)
        except (OSError, ValueError):
            continue
        if period.holds(parse_time(record.get("at"))):
            moves.append(make_claim(f"Physical server {plain_text(record.get('server') or os.path.basename(path))}",
                                f"{plain_text(record.get('status'))} at {record.get('at')}"
                                + (f" to {record.get('room')}/{record.get('rack')}/U{record.get('rack_u')}"
                                   if record.get("rack") else ""),
                                [file_link(path, where)], "ok" if record.get("status") in DONE else "attention"))
    physical_dir = os.path.join(reports_dir, "physical")
    decom_path = os.path.join(reports_dir, "decommission.json")
    if os.path.exists(decom_path):
        try:
            decom = read_json(decom_path)
            if period.holds(parse_time(decom.get("at"))):
                moves.append(make_claim("Branch rooms decommissioned",
                                    f"{', '.join(decom.get('rooms') or ()) or '-'} (first recorded {decom.get('at')}); "
                                    f"{len(decom.get('hosts') or ())} host(s), "
                                    f"{len(decom.get('datastores') or ())} datastore(s), "
                                    f"{len(decom.get('servers') or ())} server(s) out",
                                    [file_link(decom_path, where)], "ok"))
        except (OSError, ValueError, AttributeError):
            pass
    physical = make_section("Physical moves and decommissioning", ["MR-8", "MR-9", "SY-7"],
                        f"{where.show(physical_dir)}/*.json ({read} record(s)), {where.show(decom_path)}",
                        moves, f"No physical move or decommissioning recorded {period.words()} (read "
                               f"{where.show(physical_dir)}/: {read} record(s); {where.show(decom_path)}: "
                               f"{'present' if os.path.exists(decom_path) else 'not present'}).")
    report_path = os.path.join(reports_dir, "consolidation.md")
    report = []
    if os.path.exists(report_path):
        written = datetime.fromtimestamp(os.stat(report_path).st_mtime, UTC)
        report.append(make_claim("The consolidation report", f"last written {stamp(written)}"
                             + ("" if period.holds(written) else " (outside the period)"),
                             [file_link(report_path, where),
                              file_link(report_path.removesuffix(".md") + ".html", where)]
                             if os.path.exists(report_path.removesuffix(".md") + ".html")
                             else [file_link(report_path, where)],
                             "ok" if period.holds(written) else "info"))
    return [waves_section, physical,
            make_section("Consolidation report", ["SY-3", "SY-4"], where.show(report_path), report,
                     f"No consolidation report written: {where.show(report_path)} does not exist "
                     "(report.yml has not run).")]


