"""The consolidation report: rooms before and after, VMs per zone and cluster, capacity, waves, moves.

Pure data in, pure data out. In: the plan (reports/plan.json, which holds the state before, as planned),
an asset register read after the waves (a fresh discovery), the wave ledgers (reports/waves/N.json) and
the physical-move records. Out: the facts that reports/consolidation.md and .html show, plus a list of
checks, each passed or failed with the names of what fails it. The report proves the consolidation or
names what is still open; it never hides a failed check behind a total.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from ansible_collections.jinbao.dc.plugins.module_utils.policy.facility import DATA_ZONES, MAIN_ROOM

SCHEMA = "jinbao-dc/consolidation-report/1"
DONE = frozenset({"moved", "in_place"})


def _zone_of(vm: Mapping[str, Any], corrections: Mapping[str, Mapping[str, Any]]) -> str | None:
    fix = corrections.get(vm.get("name")) or {}
    return fix.get("zone") or vm.get("zone")


def _live(register: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [v for v in register.get("vms") or () if not v.get("template")]


def _rooms(vms: list[Mapping[str, Any]], corrections: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    rooms: dict[str, Counter] = {}
    for vm in vms:
        rooms.setdefault(vm.get("room") or "(no room)", Counter())[_zone_of(vm, corrections) or "(no zone)"] += 1
    return {room: dict(sorted(c.items())) for room, c in sorted(rooms.items())}


def _check(name: str, title: str, failures: list[str]) -> dict[str, Any]:
    return {"name": name, "title": title, "passed": not failures, "failures": sorted(failures)}


def report(plan: Mapping[str, Any], after: Mapping[str, Any], ledgers: Mapping[Any, Mapping[str, Any]],
           physical: Mapping[str, Mapping[str, Any]] | None = None,
           zone_clusters: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The consolidation report's facts and checks.

    plan: plan.json; after: an asset register read after the waves; ledgers: wave number -> ledger
    (reports/waves/N.json); physical: server -> its move record (status, rack, rack_u);
    zone_clusters: zone -> the cluster in the main room that must hold that zone's VMs.
    """
    target_room = (plan.get("options") or {}).get("target_room") or MAIN_ROOM
    clusters = dict(zone_clusters or {z: z for z in DATA_ZONES})
    corrections = {c["vm"]: c.get("after") or {} for c in plan.get("corrections") or ()}
    live = _live(after)
    physical = physical or {}

    rooms_before = plan.get("rooms_before") or {}
    rooms_after = _rooms(live, corrections)
    per_zone_before = Counter()
    for zones in rooms_before.values():
        per_zone_before.update(zones)
    per_zone_after = Counter(_zone_of(v, corrections) or "(no zone)" for v in live)
    per_cluster: dict[str, Counter] = {}
    for vm in live:
        per_cluster.setdefault(vm.get("cluster") or vm.get("host") or "(none)", Counter())[
            _zone_of(vm, corrections) or "(no zone)"] += 1

    # --- waves ---------------------------------------------------------------------------------------
    waves = []
    for wave in plan.get("waves") or ():
        number = wave["wave"]
        ledger = ledgers.get(number) or ledgers.get(str(number)) or {}
        entries = ledger.get("vms") or {}
        statuses = Counter((entries.get(vm["name"]) or {}).get("status", "not run") for vm in wave["vms"])
        open_vms = sorted(f"{vm['name']} ({(entries.get(vm['name']) or {}).get('status', 'not run')})"
                          for vm in wave["vms"] if (entries.get(vm["name"]) or {}).get("status") not in DONE)
        waves.append({"wave": number, "systems": wave.get("systems") or [], "vms": len(wave["vms"]),
                      "statuses": dict(sorted(statuses.items())), "complete": not open_vms, "open": open_vms})

    # --- physical moves ------------------------------------------------------------------------------
    moves = []
    for move in plan.get("physical_moves") or ():
        done = physical.get(move["server"]) or {}
        moves.append({"server": move["server"], "zone": move.get("zone"), "source": move.get("source"),
                      "target": move.get("target"), "status": done.get("status", "not run"),
                      "recorded": {k: done[k] for k in ("room", "rack", "rack_u") if k in done}})

    # --- capacity after ------------------------------------------------------------------------------
    hosts = {h["name"]: h for h in after.get("hosts") or ()}
    capacity = []
    for zone, cluster_name in sorted(clusters.items()):
        cluster = next((c for c in after.get("clusters") or () if c.get("name") == cluster_name), None)
        if cluster is None:
            continue
        members = [hosts[h] for h in cluster.get("hosts") or () if h in hosts]
        resident = [v for v in live if v.get("cluster") == cluster_name]
        capacity.append({
            "zone": zone, "cluster": cluster_name, "hosts": len(members), "vms": len(resident),
            "cpu": sum(v.get("cpu", 0) for v in resident), "cores": sum(h.get("cpu_cores", 0) for h in members),
            "memory_mb": sum(v.get("memory_mb", 0) for v in resident),
            "host_memory_mb": sum(h.get("memory_mb", 0) for h in members),
        })

    # --- checks --------------------------------------------------------------------------------------
    outside = [f"{v['name']} is in {v.get('room') or '(no room)'}" for v in live if v.get("room") != target_room]
    wrong_cluster = []
    for vm in live:
        zone = _zone_of(vm, corrections)
        want = clusters.get(zone or "")
        if want is None:
            wrong_cluster.append(f"{vm['name']} has no data zone ({zone!r})")
        elif vm.get("cluster") != want:
            wrong_cluster.append(f"{vm['name']} ({zone}) is in {vm.get('cluster') or vm.get('host')}, not {want}")
    incomplete = [f"wave {w['wave']}: " + ", ".join(w["open"]) for w in waves if not w["complete"]]
    lost = []
    for zone in sorted(set(per_zone_before) | set(per_zone_after)):
        if per_zone_before.get(zone, 0) != per_zone_after.get(zone, 0):
            lost.append(f"{zone}: {per_zone_before.get(zone, 0)} VM(s) before, {per_zone_after.get(zone, 0)} after")
    not_moved = [f"{m['server']} ({m['status']})" for m in moves if m["status"] not in DONE]
    checks = [
        _check("branch_rooms_empty", f"every branch room is empty of VMs (all in {target_room})", outside),
        _check("every_vm_in_its_zone_cluster", "every VM sits in its zone's cluster in the main room", wrong_cluster),
        _check("every_wave_complete", "every wave of the plan is complete in its ledger", incomplete),
        _check("vm_count_per_zone_kept", "the VM count per zone is the same before and after", lost),
    ]
    if moves:
        checks.append(_check("every_server_moved", "every planned physical server move is done", not_moved))
    return {
        "schema": SCHEMA,
        "target_room": target_room,
        "passed": all(c["passed"] for c in checks),
        "checks": checks,
        "rooms_before": rooms_before,
        "rooms_after": rooms_after,
        "vms_per_zone": {z: {"before": per_zone_before.get(z, 0), "after": per_zone_after.get(z, 0)}
                         for z in sorted(set(per_zone_before) | set(per_zone_after))},
        "vms_per_cluster": {c: dict(sorted(z.items())) for c, z in sorted(per_cluster.items())},
        "capacity": capacity,
        "waves": waves,
        "physical_moves": moves,
        "corrections": plan.get("corrections") or [],
        "decommissioned": dict(after.get("decommissioned") or {}),
    }


def tables(facts: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The report's sections as plain tables (title, columns, rows), rendered alike in Markdown and HTML."""
    rooms = sorted(set(facts["rooms_before"]) | set(facts["rooms_after"]))
    zones = sorted({z for r in (facts["rooms_before"], facts["rooms_after"]) for c in r.values() for z in c})

    def room_row(room: str) -> list[Any]:
        before, after = facts["rooms_before"].get(room) or {}, facts["rooms_after"].get(room) or {}
        return [room, *[f"{before.get(z, 0)} → {after.get(z, 0)}" for z in zones],
                f"{sum(before.values())} → {sum(after.values())}"]

    return [
        {"title": "Checks", "columns": ["check", "result", "what fails it"],
         "rows": [[c["title"], "passed" if c["passed"] else "FAILED", "; ".join(c["failures"]) or "-"]
                  for c in facts["checks"]]},
        {"title": "Rooms before → after (VMs per zone)", "columns": ["room", *zones, "total"],
         "rows": [room_row(r) for r in rooms]},
        {"title": "VMs per zone", "columns": ["zone", "before", "after"],
         "rows": [[z, c["before"], c["after"]] for z, c in facts["vms_per_zone"].items()]},
        {"title": "VMs per cluster (after)", "columns": ["cluster", "VMs per zone"],
         "rows": [[c, ", ".join(f"{z} {n}" for z, n in zs.items())] for c, zs in facts["vms_per_cluster"].items()]},
        {"title": "Capacity used in the main room", "columns": ["zone", "cluster", "hosts", "VMs", "vCPU / cores",
                                                                "memory GiB VMs / hosts"],
         "rows": [[c["zone"], c["cluster"], c["hosts"], c["vms"], f"{c['cpu']} / {c['cores']}",
                   f"{c['memory_mb'] / 1024:.1f} / {c['host_memory_mb'] / 1024:.1f}"] for c in facts["capacity"]]},
        {"title": "Waves", "columns": ["wave", "systems", "VMs", "outcomes", "open"],
         "rows": [[w["wave"], ", ".join(s or "-" for s in w["systems"]), w["vms"],
                   ", ".join(f"{k} {n}" for k, n in w["statuses"].items()), ", ".join(w["open"]) or "-"]
                  for w in facts["waves"]]},
        {"title": "Physical moves", "columns": ["server", "zone", "from", "to", "status"],
         "rows": [[m["server"], m["zone"] or "-", _where(m["source"]), _where(m["target"]), m["status"]]
                  for m in facts["physical_moves"]]},
        {"title": "Decommissioned (reports/decommission.json)", "columns": ["assets", "names"],
         "rows": [[label, ", ".join(facts["decommissioned"].get(key) or ()) or "-"]
                  for key, label in (("rooms", "rooms"), ("hosts", "hosts: maintenance mode, disconnected"),
                                     ("datastores", "datastores: removed"),
                                     ("servers", "physical servers: moved out"))]
         if facts.get("decommissioned") else []},
        {"title": "Corrections applied to the register", "columns": ["VM", "before", "after", "reason"],
         "rows": [[c["vm"], _kv(c.get("before")), _kv(c.get("after")), c.get("reason") or ""]
                  for c in facts["corrections"]]},
    ]


def _where(place: Mapping[str, Any] | None) -> str:
    place = place or {}
    return "/".join(str(place[k]) for k in ("room", "rack", "rack_u") if place.get(k) is not None) or "-"


def _kv(values: Mapping[str, Any] | None) -> str:
    return ", ".join(f"{k}={v}" for k, v in (values or {}).items()) or "-"
