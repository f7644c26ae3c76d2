"""Filters for the consolidation plan (plan.yml): pure transforms over module_utils/consolidation/planning.py."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible_collections.jinbao.dc.plugins.module_utils.consolidation import planning
from ansible_collections.jinbao.dc.plugins.module_utils.consolidation import report as consolidation_report


def consolidation_plan(register: Mapping[str, Any], systems: Mapping[str, Any], servers: Mapping[str, Any],
                       racks: Mapping[str, Any], rack_hosts: Mapping[str, Any],
                       options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The plan for an asset register; see planning.plan."""
    return planning.plan(register, systems=systems, servers=servers, racks=racks, rack_hosts=rack_hosts,
                         options=options)


def consolidation_facts(plan: Mapping[str, Any], after: Mapping[str, Any], ledgers: Mapping[Any, Any],
                        physical: Mapping[str, Any] | None = None,
                        zone_clusters: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The consolidation report's facts and checks; see consolidation_report.report."""
    return consolidation_report.report(plan, after, ledgers, physical=physical, zone_clusters=zone_clusters)


def consolidation_tables(facts: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The report's sections as tables; see consolidation_report.tables."""
    return consolidation_report.tables(facts)


class FilterModule:
    def filters(self) -> dict:
        return {"consolidation_plan": consolidation_plan, "consolidation_facts": consolidation_facts,
                "consolidation_tables": consolidation_tables}
