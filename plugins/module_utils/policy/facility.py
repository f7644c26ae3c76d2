"""The facility policy model: zones, allowed flows, tiers, rooms and racks.

This is the one place where the notice's rules live (劳社厅函〔2005〕162号, see docs/ARCHITECTURE.md).
Preflight, ACL rendering, replication checks, planning and reports all read it. It has no
dependencies beyond the standard library, so Ansible modules, filters and the tests import it alike.

Every check returns `Problem`s that name the host (or rack/system), the field and the fix, one line each.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

ZONES = ("production", "exchange", "decision", "management")
DATA_ZONES = ("production", "exchange", "decision")
TIERS = ("central", "province", "city")
MAIN_ROOM = "main"
ROOM_PATTERN = re.compile(r"^(main|branch-[a-z0-9][a-z0-9-]*|dr-[a-z0-9][a-z0-9-]*)$")
# The disaster-recovery centre's rooms hold copies (standbys, backup replicas), not the systems themselves.
DR_ROOM_PREFIX = "dr-"
# Hosts of the upper tiers that this city's tools talk to (e.g. the province Prometheus that federates
# from the city): they stand outside this facility, so its room, rack and zone rules do not apply.
EXTERNAL_GROUP = "external"
LIFECYCLES = ("new", "existing", "decommissioned")

# The notice, §4: exchange data comes from production; decision data from production and exchange.
# Nothing flows back into production. Exchange <-> upper-tier exchange runs only on tier links.
ALLOWED_FLOWS = frozenset({
    ("production", "exchange"),
    ("production", "decision"),
    ("exchange", "decision"),
})
# The notice, §3: exchange and macro-decision zones are concentrated in the main room from the start.
CENTRALISED_ZONES = ("exchange", "decision")

# Host variables the policy reads. Anything else in hostvars is none of its business.
HOST_KEYS = ("zone", "room", "rack", "rack_u", "rack_units", "power_w", "lifecycle", "system", "tier")

RACK_DEFAULT_UNITS = 42


@dataclass(frozen=True, order=True)
class Problem:
    """One policy violation. `subject` is a host name, or 'rack X' / 'system X' for facility objects."""

    subject: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.subject}: {self.field}: {self.message}"


def flow_allowed(source: str, destination: str) -> bool:
    """True when data may move from zone `source` to zone `destination` inside one data centre."""
    return source == destination or (source, destination) in ALLOWED_FLOWS


def flow_matrix() -> dict[str, dict[str, bool]]:
    """The zone-to-zone policy as a matrix over the data zones: matrix[src][dst] is True when allowed."""
    return {s: {d: flow_allowed(s, d) for d in DATA_ZONES} for s in DATA_ZONES}


def room_group(room: str) -> str:
    """The inventory group name for a room ('branch-north' -> 'room_branch_north')."""
    return "room_" + room.replace("-", "_")


def is_main_room(room: str | None) -> bool:
    return room == MAIN_ROOM


def _zone_problems(host: str, hv: Mapping[str, Any]) -> list[Problem]:
    problems = []
    zone = hv.get("zone")
    groups = set(hv.get("group_names") or ())
    in_zone_groups = sorted(groups.intersection(ZONES))
    if zone is None or zone == "":
        problems.append(Problem(host, "zone", f"missing; set zone to one of {', '.join(ZONES)}"))
    elif zone not in ZONES:
        problems.append(Problem(host, "zone", f"unknown zone {zone!r}; expected one of {', '.join(ZONES)}"))
    if len(in_zone_groups) > 1:
        problems.append(Problem(host, "zone", f"host is in two zones ({', '.join(in_zone_groups)}); "
                                              "a host belongs to exactly one zone group"))
    elif in_zone_groups and zone in ZONES and in_zone_groups[0] != zone:
        problems.append(Problem(host, "zone", f"host is in two zones: zone is {zone!r} but the host is in "
                                              f"group {in_zone_groups[0]!r}"))
    return problems


def _room_problems(host: str, hv: Mapping[str, Any], rooms: Iterable[str]) -> list[Problem]:
    room = hv.get("room")
    if room is None or room == "":
        return [Problem(host, "room", f"missing; set room to one of {', '.join(sorted(rooms)) or 'main'}")]
    if not isinstance(room, str) or not ROOM_PATTERN.match(room):
        return [Problem(host, "room", f"{room!r} is not a room name; use 'main' or 'branch-<name>'")]
    if rooms and room not in rooms:
        return [Problem(host, "room", f"unknown room {room!r}; declare it in facility_rooms "
                                      f"(known: {', '.join(sorted(rooms))})")]
    problems = []
    zone = hv.get("zone")
    if zone in CENTRALISED_ZONES and room != MAIN_ROOM:
        problems.append(Problem(host, "room", f"{zone} assets must sit in the main machine room from day one "
                                              f"(notice §3), but room is {room!r}"))
    if (zone == "production" and hv.get("lifecycle") == "new" and room != MAIN_ROOM
            and not room.startswith(DR_ROOM_PREFIX)):
        problems.append(Problem(host, "room", "a new production system must be built in the main machine room "
                                              f"(notice §3), but room is {room!r}"))
    return problems


def _rack_problems(hosts: Mapping[str, Mapping[str, Any]], racks: Mapping[str, Mapping[str, Any]]) -> list[Problem]:
    problems = []
    occupancy: dict[str, dict[int, str]] = {}
    power: dict[str, list[tuple[str, float]]] = {}
    for host in sorted(hosts):
        hv = hosts[host]
        rack = hv.get("rack")
        if rack is None:
            if hv.get("rack_u") is not None:
                problems.append(Problem(host, "rack", "rack_u is set but rack is missing"))
            continue
        if rack not in racks:
            problems.append(Problem(host, "rack", f"unknown rack {rack!r}; declare it in facility_racks"))
            continue
        spec = racks[rack]
        if spec.get("room") and hv.get("room") and spec["room"] != hv["room"]:
            problems.append(Problem(host, "rack", f"rack {rack!r} stands in room {spec['room']!r}, "
                                                  f"but the host's room is {hv['room']!r}"))
        power.setdefault(rack, []).append((host, float(hv.get("power_w") or 0)))
        u = hv.get("rack_u")
        if u is None:
            problems.append(Problem(host, "rack_u", f"missing; give the lowest rack unit the host occupies in {rack}"))
            continue
        height = int(hv.get("rack_units") or 1)
        size = int(spec.get("units") or RACK_DEFAULT_UNITS)
        if u < 1 or u + height - 1 > size:
            problems.append(Problem(host, "rack_u", f"U{u}-U{u + height - 1} does not fit rack {rack} (U1-U{size})"))
            continue
        taken = occupancy.setdefault(rack, {})
        for unit in range(u, u + height):
            if unit in taken:
                problems.append(Problem(host, "rack_u", f"{rack} U{unit} is already occupied by {taken[unit]}; "
                                                        "two devices cannot share a rack unit"))
                break
        else:
            for unit in range(u, u + height):
                taken[unit] = host
    for rack, members in sorted(power.items()):
        budget = racks[rack].get("power_budget_w")
        total = sum(w for _, w in members)
        if budget is not None and total > budget:
            names = ", ".join(h for h, _ in members)
            problems.append(Problem(f"rack {rack}", "power_budget_w",
                                    f"declared load {total:.0f} W exceeds the budget of {budget:.0f} W "
                                    f"by {total - budget:.0f} W (hosts: {names})"))
    return problems


def _system_problems(systems: Mapping[str, Mapping[str, Any]], rooms: Iterable[str]) -> list[Problem]:
    problems = []
    for name in sorted(systems):
        spec = systems[name] or {}
        subject = f"system {name}"
        zone = spec.get("zone")
        if zone not in DATA_ZONES:
            problems.append(Problem(subject, "zone", f"{zone!r} is not a data zone; expected one of "
                                                     f"{', '.join(DATA_ZONES)}"))
        room = spec.get("room", MAIN_ROOM)
        if zone in CENTRALISED_ZONES and room != MAIN_ROOM:
            problems.append(Problem(subject, "room", f"{zone} systems must sit in the main machine room from day one "
                                                     f"(notice §3), but room is {room!r}"))
        if zone == "production" and spec.get("lifecycle") == "new" and room != MAIN_ROOM:
            problems.append(Problem(subject, "room", "a new production system must be built in the main machine "
                                                     f"room (notice §3), but room is {room!r}"))
        for dep in spec.get("depends_on") or ():
            if dep not in systems:
                problems.append(Problem(subject, "depends_on", f"unknown system {dep!r}"))
    cycle = dependency_cycle(systems)
    if cycle:
        problems.append(Problem(f"system {cycle[0]}", "depends_on",
                                f"dependency cycle: {' -> '.join(cycle)}"))
    return problems


def dependency_cycle(systems: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """A dependency cycle among systems as a list of names (first == last), or [] when there is none."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(name: str) -> list[str]:
        state[name] = 1
        stack.append(name)
        for dep in sorted((systems.get(name) or {}).get("depends_on") or ()):
            if dep not in systems:
                continue
            if state.get(dep) == 1:
                return [*stack[stack.index(dep):], dep]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        stack.pop()
        state[name] = 2
        return []

    for name in sorted(systems):
        if name not in state:
            found = visit(name)
            if found:
                return found
    return []


def dependency_order(systems: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Systems sorted so that every system comes after the systems it depends on (ties by name)."""
    cycle = dependency_cycle(systems)
    if cycle:
        raise ValueError(f"system {cycle[0]}: depends_on: dependency cycle: {' -> '.join(cycle)}")
    done: list[str] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        if name in seen:
            return
        seen.add(name)
        for dep in sorted((systems.get(name) or {}).get("depends_on") or ()):
            if dep in systems:
                visit(dep)
        done.append(name)

    for name in sorted(systems):
        visit(name)
    return done


def check_facility(hosts: Mapping[str, Mapping[str, Any]], facility: Mapping[str, Any]) -> list[Problem]:
    """Every policy violation in an inventory.

    `hosts` maps host name to its variables (at least HOST_KEYS that are set, plus group_names).
    `facility` holds the site-wide declarations: rooms, racks and systems (facility_* in group_vars/all,
    without the prefix).
    """
    rooms = set(facility.get("rooms") or ())
    racks = facility.get("racks") or {}
    systems = facility.get("systems") or {}
    problems: list[Problem] = []
    tier = facility.get("tier")
    if tier not in TIERS:
        problems.append(Problem("facility", "tier", f"{tier!r} is not a tier; expected one of {', '.join(TIERS)}"))
    for room in sorted(rooms):
        if not ROOM_PATTERN.match(room):
            problems.append(Problem("facility", "rooms",
                                    f"{room!r} is not a room name; use 'main', 'branch-<name>' or 'dr-<name>'"))
    if rooms and MAIN_ROOM not in rooms:
        problems.append(Problem("facility", "rooms", "the main machine room 'main' is not declared"))
    for rack in sorted(racks):
        room = (racks[rack] or {}).get("room")
        if rooms and room not in rooms:
            problems.append(Problem(f"rack {rack}", "room", f"unknown room {room!r}"))
    hosts = {h: hv for h, hv in hosts.items() if EXTERNAL_GROUP not in (hv.get("group_names") or ())}
    for host in sorted(hosts):
        hv = hosts[host]
        problems.extend(_zone_problems(host, hv))
        problems.extend(_room_problems(host, hv, rooms))
        system = hv.get("system")
        if system is not None and systems and system not in systems:
            problems.append(Problem(host, "system",
                                    f"unknown business system {system!r}; declare it in facility_systems"))
    problems.extend(_rack_problems(hosts, racks))
    problems.extend(_system_problems(systems, rooms))
    return problems
