"""The consolidation planner: waves, target placement, capacity and physical moves.

Pure data in, pure data out: the asset register (reports/assets.json), the facility declarations
and the physical servers from the inventory go in; the plan (reports/plan.json) comes out. The
placement rules come from facility.py. Nothing here talks to vCenter.

Problems that make a plan unusable (a wave that does not fit, a VM with no zone, a rack with no
room left) are returned in plan["errors"], one line each naming the subject, the field and the
shortfall; the caller fails the play on them.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from ansible_collections.jinbao.dc.plugins.module_utils.policy.facility import (
    DATA_ZONES,
    MAIN_ROOM,
    Problem,
    dependency_order,
)

SCHEMA = "jinbao-dc/plan/1"
GIB = 1024 ** 3

DEFAULTS: dict[str, Any] = {
    "wave_size": 20,                 # VMs per wave at most (a system larger than this spans waves)
    "zone_clusters": {z: z for z in DATA_ZONES},  # zone -> target cluster name in the main room
    "datastore_fill_limit": 0.80,    # a target datastore may be filled to this ratio at most
    "cpu_overcommit": 4.0,           # vCPUs per physical core
    "memory_overcommit": 1.0,        # configured VM memory per MB of host memory
    "host_reserve": 1,               # hosts kept free per cluster (N+1)
    "target_room": MAIN_ROOM,
    "access_ports": {},              # switch -> list of free port names in the main room
    "rack_reserve_u": 0,             # U kept free at the top of each target rack
    "corrections": {},               # VM name -> {zone, system, reason}: the operator's fix of a register anomaly
}

CORRECTABLE = ("zone", "system")


def apply_corrections(vms: Iterable[Mapping[str, Any]], corrections: Mapping[str, Mapping[str, Any]]
                      ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[Problem]]:
    """(VMs with the operator's corrections applied, the corrections applied, problems).

    A correction is how a reviewed register anomaly (a VM without a zone, a VM marked with another
    zone than its system) gets into the plan: the inventory states the right value and why, and the
    plan records before and after. A correction must name a VM in the register and give a reason.
    """
    by_name = {vm.get("name"): vm for vm in vms}
    out, applied, problems = [], [], []
    for name, fix in sorted((corrections or {}).items()):
        if name not in by_name:
            problems.append(Problem(name, "corrections", "no VM of that name in the asset register; "
                                                         "remove the correction or fix its name"))
            continue
        unknown = sorted(set(fix) - set(CORRECTABLE) - {"reason"})
        if unknown:
            problems.append(Problem(name, "corrections", f"cannot correct {', '.join(unknown)}; "
                                                         f"only {', '.join(CORRECTABLE)} can be corrected"))
        if not str(fix.get("reason") or "").strip():
            problems.append(Problem(name, "corrections", "a correction needs a reason (who decided, and why)"))
    for vm in vms:
        fix = (corrections or {}).get(vm.get("name"))
        if fix is None:
            out.append(dict(vm))
            continue
        changed = {k: fix[k] for k in CORRECTABLE if k in fix and fix[k] != vm.get(k)}
        out.append({**vm, **changed})
        applied.append({"vm": vm["name"], "reason": fix.get("reason"),
                        "before": {k: vm.get(k) for k in changed}, "after": changed})
    return out, applied, problems


def _expand_ports(spec: Iterable[str] | str) -> list[str]:
    """'Gi1/0/1-4' -> ['Gi1/0/1', 'Gi1/0/2', 'Gi1/0/3', 'Gi1/0/4']; lists pass through expanded."""
    items = [spec] if isinstance(spec, str) else list(spec)
    ports = []
    for item in items:
        m = re.match(r"^(.*?)(\d+)-(\d+)$", item)
        if m:
            prefix, first, last = m.group(1), int(m.group(2)), int(m.group(3))
            ports.extend(f"{prefix}{n}" for n in range(first, last + 1))
        else:
            ports.append(item)
    return ports


def cluster_capacity(cluster: Mapping[str, Any], hosts: Mapping[str, Mapping[str, Any]],
                      opts: Mapping[str, Any]) -> dict[str, float]:
    members = [hosts[h] for h in cluster.get("hosts") or () if h in hosts
               and hosts[h].get("connection_state", "connected") == "connected" and not hosts[h].get("maintenance")]
    members.sort(key=lambda h: (h.get("memory_mb", 0), h.get("cpu_cores", 0)), reverse=True)
    usable = members[int(opts["host_reserve"]):]
    return {
        "hosts": len(members),
        "hosts_after_reserve": len(usable),
        "cpu": sum(h.get("cpu_cores", 0) for h in usable) * float(opts["cpu_overcommit"]),
        "memory_mb": sum(h.get("memory_mb", 0) for h in usable) * float(opts["memory_overcommit"]),
    }


def _waves(vms: list[dict[str, Any]], systems: Mapping[str, Mapping[str, Any]], wave_size: int) -> list[list[dict]]:
    """Group VMs by system, systems in dependency order, at most wave_size VMs a wave."""
    by_system: dict[str, list[dict]] = defaultdict(list)
    for vm in vms:
        by_system[vm.get("system") or ""].append(vm)
    order = [s for s in dependency_order({k: v for k, v in systems.items()}) if s in by_system]
    order += sorted(s for s in by_system if s not in order)  # undeclared systems go last
    waves: list[list[dict]] = []
    current: list[dict] = []
    for system in order:
        members = sorted(by_system[system], key=lambda v: v["name"])
        if current and len(current) + len(members) > wave_size:
            waves.append(current)
            current = []
        while len(members) > wave_size:  # a system bigger than a wave gets waves of its own
            waves.append(members[:wave_size])
            members = members[wave_size:]
        current.extend(members)
    if current:
        waves.append(current)
    return waves


def _rack_occupancy(rack_hosts: Mapping[str, Mapping[str, Any]]) -> tuple[dict[str, set[int]], dict[str, float]]:
    used: dict[str, set[int]] = defaultdict(set)
    power: dict[str, float] = defaultdict(float)
    for hv in rack_hosts.values():
        rack, u = hv.get("rack"), hv.get("rack_u")
        if not rack or not u:
            continue
        used[rack].update(range(int(u), int(u) + int(hv.get("rack_units") or 1)))
        power[rack] += float(hv.get("power_w") or 0)
    return used, power


def plan_physical_moves(servers: Mapping[str, Mapping[str, Any]], racks: Mapping[str, Mapping[str, Any]],
                        rack_hosts: Mapping[str, Mapping[str, Any]], opts: Mapping[str, Any]
                        ) -> tuple[list[dict[str, Any]], list[Problem]]:
    """A target rack/U and switch port in the main room for every physical server outside it."""
    target_room = opts["target_room"]
    used, power = _rack_occupancy(rack_hosts)
    ports = [(sw, p) for sw in sorted(opts.get("access_ports") or {})
             for p in _expand_ports(opts["access_ports"][sw])]
    taken_ports = {(hv.get("switch"), hv.get("switch_port")) for hv in rack_hosts.values()}
    ports = [sp for sp in ports if sp not in taken_ports]
    moves, problems = [], []
    for name in sorted(servers):
        hv = servers[name]
        if hv.get("room") == target_room or hv.get("lifecycle") == "decommissioned":
            continue
        height = int(hv.get("rack_units") or 1)
        watts = float(hv.get("power_w") or 0)
        placed = None
        for rack in sorted(r for r, spec in racks.items() if spec.get("room") == target_room):
            spec = racks[rack]
            size = int(spec.get("units") or 42) - int(opts.get("rack_reserve_u") or 0)
            if power[rack] + watts > float(spec.get("power_budget_w") or 0):
                continue
            for u in range(1, size - height + 2):
                if not used[rack].intersection(range(u, u + height)):
                    placed = (rack, u)
                    break
            if placed:
                break
        if placed is None:
            problems.append(Problem(name, "rack", f"no rack in room {target_room!r} has {height} contiguous free U "
                                                  f"and {watts:.0f} W of power budget left"))
            continue
        rack, u = placed
        used[rack].update(range(u, u + height))
        power[rack] += watts
        port = ports.pop(0) if ports else None
        if port is None:
            problems.append(Problem(name, "switch_port", f"no free access port left in room {target_room!r}; "
                                                         "add ports to plan_access_ports"))
        recabling = []
        if hv.get("switch") and hv.get("switch_port"):
            recabling.append(f"unplug {name} from {hv['switch']} {hv['switch_port']} in {hv.get('room')}")
        if port:
            recabling.append(f"plug {name} into {port[0]} {port[1]} (access VLAN of zone {hv.get('zone')})")
        recabling.append(f"power {name} from the A and B feeds of rack {rack} ({watts:.0f} W)")
        moves.append({
            "server": name, "system": hv.get("system"), "zone": hv.get("zone"), "bmc": hv.get("bmc"),
            "source": {"room": hv.get("room"), "rack": hv.get("rack"), "rack_u": hv.get("rack_u"),
                       "switch": hv.get("switch"), "switch_port": hv.get("switch_port")},
            "target": {"room": target_room, "rack": rack, "rack_u": u, "rack_units": height,
                       "switch": port[0] if port else None, "switch_port": port[1] if port else None},
            "power_w": watts,
            "recabling": recabling,
        })
    return moves, problems


def plan(register: Mapping[str, Any], *, systems: Mapping[str, Mapping[str, Any]],
         servers: Mapping[str, Mapping[str, Any]] | None = None,
         racks: Mapping[str, Mapping[str, Any]] | None = None,
         rack_hosts: Mapping[str, Mapping[str, Any]] | None = None,
         options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The consolidation plan for every VM outside the main room, plus physical moves."""
    opts = {**DEFAULTS, **(options or {})}
    target_room = opts["target_room"]
    errors: list[Problem] = []
    hosts = {h["name"]: h for h in register.get("hosts") or ()}
    vms, corrections, problems = apply_corrections(register.get("vms") or (), opts["corrections"])
    errors.extend(problems)
    clusters = {c["name"]: c for c in register.get("clusters") or () if c.get("type") == "cluster"}
    datastores = {d["name"]: d for d in register.get("datastores") or ()}

    # --- targets per zone: the zone's cluster in the main room, and its shared datastores -----------
    targets: dict[str, dict[str, Any]] = {}
    for zone in DATA_ZONES:
        name = (opts["zone_clusters"] or {}).get(zone)
        cluster = clusters.get(name)
        if cluster is None or cluster.get("room") != target_room:
            continue
        capacity = cluster_capacity(cluster, hosts, opts)
        resident = [v for v in vms if v.get("cluster") == name and not v.get("template")]
        stores = [datastores[d] for d in cluster.get("datastores") or () if d in datastores
                  and datastores[d].get("accessible", True)]
        targets[zone] = {
            "cluster": name,
            "capacity": capacity,
            "used": {"cpu": sum(v.get("cpu", 0) for v in resident),
                     "memory_mb": sum(v.get("memory_mb", 0) for v in resident)},
            "datastores": {d["name"]: {"capacity_bytes": d.get("capacity_bytes", 0),
                                       "free_bytes": d.get("free_bytes", 0),
                                       "planned_bytes": 0} for d in stores},
            "hosts": sorted(h for h in cluster.get("hosts") or () if h in hosts),
        }

    # --- which VMs move --------------------------------------------------------------------------
    movers = []
    for vm in vms:
        if vm.get("template") or vm.get("room") == target_room:
            continue
        zone = vm.get("zone")
        if zone not in DATA_ZONES:
            errors.append(Problem(vm["name"], "zone",
                                  f"{zone!r} is not a data zone; set the VM's zone attribute, or declare a "
                                  "correction in plan_vm_corrections, before it can be planned"))
            continue
        if zone not in targets:
            cluster = opts["zone_clusters"].get(zone)
            errors.append(Problem(vm["name"], "cluster", f"no {zone} cluster {cluster!r} in room {target_room!r}"))
            continue
        declared = (systems.get(vm.get("system") or "") or {}).get("zone")
        if declared and declared != zone:
            errors.append(Problem(vm["name"], "zone", f"VM is marked {zone} but system {vm.get('system')!r} is "
                                                      f"declared {declared}; a VM may not move into another "
                                                      "zone's cluster (fix the register or declare a correction "
                                                      "in plan_vm_corrections)"))
            continue
        movers.append(vm)

    # --- waves, datastore choice and capacity ----------------------------------------------------------
    waves_out = []
    fill = float(opts["datastore_fill_limit"])
    for number, members in enumerate(_waves(movers, systems, int(opts["wave_size"])), start=1):
        demand: dict[str, dict[str, float]] = defaultdict(lambda: {"cpu": 0, "memory_mb": 0})
        entries = []
        for vm in members:
            target = targets[vm["zone"]]
            demand[vm["zone"]]["cpu"] += vm.get("cpu", 0)
            demand[vm["zone"]]["memory_mb"] += vm.get("memory_mb", 0)
            best, best_room = None, -1.0
            for ds_name, ds in sorted(target["datastores"].items()):
                room = ds["capacity_bytes"] * fill - (ds["capacity_bytes"] - ds["free_bytes"]) - ds["planned_bytes"]
                if room >= vm.get("disk_bytes", 0) and room > best_room:
                    best, best_room = ds_name, room
            if best is None:
                need = vm.get("disk_bytes", 0)
                errors.append(Problem(f"wave {number}", "datastore",
                                      f"VM {vm['name']} needs {need / GIB:.1f} GiB but no datastore of cluster "
                                      f"{target['cluster']} has that much below the {fill:.0%} fill limit"))
            else:
                target["datastores"][best]["planned_bytes"] += vm.get("disk_bytes", 0)
            entries.append({
                "name": vm["name"], "uuid": vm.get("uuid"), "system": vm.get("system"), "zone": vm["zone"],
                "owner": vm.get("owner"), "cpu": vm.get("cpu", 0), "memory_mb": vm.get("memory_mb", 0),
                "disk_bytes": vm.get("disk_bytes", 0), "power_state": vm.get("power_state"),
                "source": {"room": vm.get("room"), "host": vm.get("host"), "datastores": vm.get("datastores")},
                "target": {"room": target_room, "cluster": target["cluster"], "datastore": best,
                           "folder": f"{vm['zone']}/{vm.get('system')}" if vm.get("system") else vm["zone"]},
            })
        for zone, need in sorted(demand.items()):
            target = targets[zone]
            for resource in ("cpu", "memory_mb"):
                target["used"][resource] += need[resource]
                have = target["capacity"][resource]
                if target["used"][resource] > have:
                    unit = "vCPU" if resource == "cpu" else "MB"
                    errors.append(Problem(f"wave {number}", resource,
                                          f"cluster {target['cluster']} needs {target['used'][resource]:.0f} {unit} "
                                          f"after this wave but has {have:.0f} {unit} with "
                                          f"{opts['host_reserve']} host(s) held in reserve "
                                          f"(short by {target['used'][resource] - have:.0f} {unit})"))
        waves_out.append({"wave": number, "systems": sorted({e["system"] or "" for e in entries}),
                          "vms": entries})

    moves, move_problems = plan_physical_moves(servers or {}, racks or {}, rack_hosts or {}, opts)
    errors.extend(move_problems)

    capacity = {}
    for zone, t in sorted(targets.items()):
        capacity[zone] = {
            "cluster": t["cluster"], "hosts": t["capacity"]["hosts"],
            "hosts_after_reserve": t["capacity"]["hosts_after_reserve"],
            "cpu_capacity": t["capacity"]["cpu"], "cpu_planned": t["used"]["cpu"],
            "cpu_ratio": _ratio(t["used"]["cpu"], t["capacity"]["cpu"]),
            "memory_mb_capacity": t["capacity"]["memory_mb"], "memory_mb_planned": t["used"]["memory_mb"],
            "memory_ratio": _ratio(t["used"]["memory_mb"], t["capacity"]["memory_mb"]),
            "datastores": {n: {**d, "fill_ratio_planned": _ratio(d["capacity_bytes"] - d["free_bytes"]
                                                                 + d["planned_bytes"], d["capacity_bytes"])}
                           for n, d in sorted(t["datastores"].items())},
        }
    return {
        "schema": SCHEMA,
        "source_register": (register.get("source") or {}).get("vcenter"),
        "options": {k: opts[k] for k in ("wave_size", "datastore_fill_limit", "cpu_overcommit",
                                         "memory_overcommit", "host_reserve", "target_room")},
        "summary": {"waves": len(waves_out), "vms": sum(len(w["vms"]) for w in waves_out),
                    "physical_moves": len(moves), "errors": len(errors)},
        "corrections": corrections,
        "rooms_before": rooms_before(vms),
        "waves": waves_out,
        "capacity": capacity,
        "physical_moves": moves,
        "port_assignments": [{"switch": m["target"]["switch"], "port": m["target"]["switch_port"],
                              "host": m["server"], "zone": m["zone"]} for m in moves if m["target"]["switch"]],
        "errors": [str(p) for p in sorted(set(errors), key=lambda p: (p.subject, p.field, p.message))],
    }


def rooms_before(vms: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    """Room -> zone -> VM count (templates left out, corrections applied): the state the plan starts from."""
    rooms: dict[str, dict[str, int]] = {}
    for vm in vms:
        if vm.get("template"):
            continue
        zones = rooms.setdefault(vm.get("room") or "(no room)", {})
        zone = vm.get("zone") or "(no zone)"
        zones[zone] = zones.get(zone, 0) + 1
    return {room: dict(sorted(z.items())) for room, z in sorted(rooms.items())}


def _ratio(part: float, whole: float) -> float | None:
    """part/whole rounded for reports; None when there is nothing to divide by."""
    return round(part / whole, 4) if whole else None
