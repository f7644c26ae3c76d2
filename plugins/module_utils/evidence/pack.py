"""The auditor's evidence pack: the six rule areas collected for a period.

Pure Python (no Ansible import), so the module (plugins/modules/evidence_pack.py) and the unit tests share it.
It reads only: the audit log (reports/audit/audit.jsonl, through audit_chain), the gate log, Vault's audit logs
(evidence/vault_audit.py), the certificate registers, the plan, the wave ledgers, the physical-move and
decommission records, the network change records, backups and policy checks, and the city Prometheus' HTTP API
(instant queries evaluated at the period's end).

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

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.jinbao.dc.plugins.module_utils.audit import chain as audit_chain
from ansible_collections.jinbao.dc.plugins.module_utils.evidence.alerts import alert_sections
from ansible_collections.jinbao.dc.plugins.module_utils.evidence.common import (
    AREAS,
    DEFAULT_ENVELOPE,
    SCHEMA,
    Period,
    Where,
    audit_link,
    file_link,
    stamp,
)
from ansible_collections.jinbao.dc.plugins.module_utils.evidence.data import data_area
from ansible_collections.jinbao.dc.plugins.module_utils.evidence.machine_room import machine_room_area
from ansible_collections.jinbao.dc.plugins.module_utils.evidence.network import network_area
from ansible_collections.jinbao.dc.plugins.module_utils.evidence.personnel import personnel_area
from ansible_collections.jinbao.dc.plugins.module_utils.evidence.security_management import runs_section, security_area
from ansible_collections.jinbao.dc.plugins.module_utils.evidence.system import consolidation_sections
from ansible_collections.jinbao.dc.plugins.module_utils.evidence.vault_audit import vault_audit_section
from ansible_collections.jinbao.dc.plugins.module_utils.seams.prometheus import Prometheus

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
    vault_audit_logs: list[str] = field(default_factory=list)  # each Vault node's audit log (empty: not checked)

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
        "security": [*security_area(entries, period, paths, where, sources.audit_sink2),
                     vault_audit_section(entries, period, sources.vault_audit_logs, where), alerts["security"]],
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
