"""Filters for the consolidation plan (plan.yml): pure transforms over module_utils/planning.py."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

_UTILS = str(Path(__file__).resolve().parent.parent / "module_utils")
if _UTILS not in sys.path:
    sys.path.insert(0, _UTILS)

import planning  # noqa: E402  (module_utils, loaded by path on the controller)


def consolidation_plan(register: Mapping[str, Any], systems: Mapping[str, Any], servers: Mapping[str, Any],
                       racks: Mapping[str, Any], rack_hosts: Mapping[str, Any],
                       options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The plan for an asset register; see planning.plan."""
    return planning.plan(register, systems=systems, servers=servers, racks=racks, rack_hosts=rack_hosts,
                         options=options)


class FilterModule:
    def filters(self) -> dict:
        return {"consolidation_plan": consolidation_plan}
