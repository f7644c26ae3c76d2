"""Filters that shape inventory data for the facility policy model."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def facility_host_view(hostvars: Mapping[str, Any], hosts: Iterable[str], keys: Iterable[str]) -> dict:
    """For each host, only the variables the policy reads (templated on access), plus group_names.

    Reading a handful of keys keeps secrets and lookups of unrelated variables out of the check.
    """
    keys = list(keys)
    view = {}
    for host in hosts:
        hv = hostvars[host]
        entry = {key: hv[key] for key in keys if key in hv}
        entry["group_names"] = list(hv.get("group_names", []))
        view[host] = entry
    return view


class FilterModule:
    def filters(self) -> dict:
        return {"facility_host_view": facility_host_view}
