"""Filters that shape inventory data for the facility policy model."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.jinbao.dc.plugins.module_utils.policy import facility


def _origin(exc: BaseException) -> str:
    """'<file> line <n>' from the first error in the chain that carries a source origin, else ''."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        origin = getattr(exc, "obj", None)
        path = getattr(origin, "path", None)
        if path:
            line = getattr(origin, "line_num", None)
            return f"{path} line {line}" if line else str(path)
        exc = exc.__cause__ or exc.__context__
    return ""


def _message(exc: BaseException) -> str:
    return " ".join(str(getattr(exc, "message", None) or exc).split())


def facility_host_view(hostvars: Mapping[str, Any], hosts: Iterable[str], keys: Iterable[str]) -> dict:
    """For each host, only the variables the policy reads (templated on access), plus group_names.

    Reading a handful of keys keeps secrets and lookups of unrelated variables out of the check.
    A host whose variables cannot be read (a malformed host_vars file, say) fails with one line
    naming the host and the file.
    """
    keys = list(keys)
    view = {}
    for host in hosts:
        try:
            hv = hostvars[host]
            entry = {key: hv[key] for key in keys if key in hv}
            entry["group_names"] = list(hv.get("group_names", []))
        except Exception as exc:
            where = _origin(exc)
            raise AnsibleFilterError(
                f"{host}: variables: cannot be read{f' from {where}' if where else ''}: {_message(exc)}") from None
        view[host] = entry
    return view


def facility_allowed_flows(zones: Iterable[str]) -> list[list[str]]:
    """The [source, destination] zone pairs data may flow between (facility.py ALLOWED_FLOWS), among `zones`."""
    wanted = set(zones or ())
    return [list(pair) for pair in sorted(facility.ALLOWED_FLOWS) if set(pair) <= wanted]


class FilterModule:
    def filters(self) -> dict:
        return {"facility_host_view": facility_host_view, "facility_allowed_flows": facility_allowed_flows}
