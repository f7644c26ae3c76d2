"""Data management (runbooks/policies/data.md): backups, replication and feeds, from Prometheus."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ansible_collections.jinbao.dc.plugins.module_utils.evidence.common import (
    Period,
    label_key,
    make_claim,
    make_section,
    prom_sections,
    when_text,
)
from ansible_collections.jinbao.dc.plugins.module_utils.seams.prometheus import Prometheus


def data_area(prom: Prometheus | None, period: Period, prom_note: str) -> list[dict[str, Any]]:
    window, at = f"[{period.seconds}s]", period.end

    def backups(title: str, rules: list[str], source: str) -> dict[str, Any]:
        q_ok = f"min_over_time(jinbao_backup_job_last_run_success{window})"
        q_last = f"last_over_time(jinbao_backup_job_last_success_timestamp_seconds{window})"
        ok = {label_key(s["metric"], "system", "backup_job"): s["value"] for s in prom.query(q_ok, at)}
        last = {label_key(s["metric"], "system", "backup_job"): s["value"] for s in prom.query(q_last, at)}
        claims = []
        for system, job in sorted(set(ok) | set(last)):
            every = ok.get((system, job))
            latest = last.get((system, job), 0.0)
            fresh = period.holds(datetime.fromtimestamp(latest, UTC)) if latest > 0 else False
            good = every == 1 and fresh
            claims.append(make_claim(f"{system or '?'}: backup job {job or '?'}",
                                 ("every run seen in the period succeeded" if every == 1 else
                                  "a FAILED run was seen in the period" if every == 0 else "no run status seen")
                                 + f"; last success {when_text(latest)}" + ("" if fresh else " (NOT in the period)"),
                                 [prom.link(q_ok, at), prom.link(q_last, at)], "ok" if good else "attention"))
        return make_section(title, rules, source, claims, f"No backup job recorded in Prometheus {period.words()}.",
                        [prom.link(q_ok, at)])

    def restores(title: str, rules: list[str], source: str) -> dict[str, Any]:
        q_when = f"last_over_time(jinbao_backup_job_last_verify_timestamp_seconds{window})"
        q_ok = f"last_over_time(jinbao_backup_job_last_verify_success{window})"
        when = {label_key(s["metric"], "system", "backup_job"): s["value"] for s in prom.query(q_when, at)}
        ok = {label_key(s["metric"], "system", "backup_job"): s["value"] for s in prom.query(q_ok, at)}
        latest: dict[str, tuple[float, str]] = {}
        for (system, job), moment in when.items():
            if moment >= latest.get(system, (-1.0, ""))[0]:
                latest[system] = (moment, job)
        claims = []
        for system, (moment, job) in sorted(latest.items()):
            passed = ok.get((system, job)) == 1
            claims.append(make_claim(f"{system or '?'}: latest restore test",
                                 f"{when_text(moment)} (job {job}): " + ("passed" if passed else "FAILED")
                                 if moment > 0 else f"never (job {job})",
                                 [prom.link(q_when, at), prom.link(q_ok, at)],
                                 "ok" if passed and moment > 0 else "attention"))
        return make_section(title, rules, source, claims,
                        f"No restore test recorded in Prometheus {period.words()}.", [prom.link(q_when, at)])

    def rpo(title: str, rules: list[str], source: str) -> dict[str, Any]:
        q_age = f"max by (system, source) (max_over_time(jinbao:system_recovery_point_age_seconds{window}))"
        q_rpo = f"max by (system) (last_over_time(jinbao:system_rpo_seconds{window}))"
        target = {s["metric"].get("system", ""): s["value"] for s in prom.query(q_rpo, at)}
        claims = []
        for sample in sorted(prom.query(q_age, at), key=lambda s: label_key(s["metric"], "system", "source")):
            system, mechanism = label_key(sample["metric"], "system", "source")
            goal = target.get(system)
            within = goal is not None and sample["value"] <= goal
            claims.append(make_claim(f"{system or '?'} ({mechanism or '?'}): recovery point within its RPO",
                                 f"worst age in the period {sample['value']:.0f} s against an RPO of "
                                 + (f"{goal:.0f} s: " + ("within" if within else "BREACHED") if goal is not None
                                    else "(none declared)"),
                                 [prom.link(q_age, at), prom.link(q_rpo, at)], "ok" if within else "attention"))
        return make_section(title, rules, source, claims,
                        f"No recovery point age recorded in Prometheus {period.words()} "
                        "(the rpo.rules.yml recording rules had no series).", [prom.link(q_age, at)])

    return prom_sections(prom, [("Backups", ["DA-3"], backups), ("Restore tests", ["DA-4"], restores),
                                 ("RPO conformance", ["DA-1", "DA-2"], rpo)], period, prom_note)


