"""The asset register: vCenter's inventory (as vsphere.collect() returns it) shaped for planning, and its
differences with the Ansible inventory and the facility policy.

Pure data in, pure data out (no pyvmomi, no Ansible), so it is unit-tested from fixtures. The policy
(zones, the main room, which zones are centralised) comes from facility.py.

Rooms are derived, never guessed: `rooms` maps a datacenter, folder or cluster name to a room, and the
nearest mapped ancestor of a host decides its room (a host folder "branch-north" inside datacenter
"central" wins over "central"). A VM is in the room of the host it runs on.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ansible_collections.jinbao.dc.plugins.module_utils.policy.facility import (
    CENTRALISED_ZONES,
    DATA_ZONES,
    MAIN_ROOM,
    ZONES,
    Problem,
)

SCHEMA = "jinbao-dc/asset-register/1"
CSV_COLUMNS = ("name", "uuid", "cpu", "memory_mb", "disk_bytes", "host", "cluster", "datacenter", "datastores",
               "power_state", "zone", "system", "owner", "room", "folder")
NO_ZONE = "(none)"
NO_ROOM = "(unknown)"
# The top-level folders every datacenter has; their names never name a room.
DATACENTER_FOLDERS = frozenset({"host", "vm", "datastore", "network"})


@dataclass(frozen=True)
class Difference:
    """One disagreement between vCenter, the inventory and the policy; `kind` groups them for reports."""

    kind: str
    problem: Problem

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "subject": self.problem.subject, "field": self.problem.field,
                "message": self.problem.message, "line": str(self.problem)}


class _Tree:
    """Parent links across every collected object, with name and room lookups."""

    def __init__(self, raw: Mapping[str, Any], rooms: Mapping[str, str]) -> None:
        self.nodes: dict[str, tuple[str, dict[str, Any]]] = {}
        for kind in ("datacenters", "folders", "compute", "hosts", "datastores", "vms"):
            for moid, item in (raw.get(kind) or {}).items():
                self.nodes[moid] = (kind, item)
        self.rooms = dict(rooms)

    def name(self, moid: str | None) -> str | None:
        node = self.nodes.get(moid) if moid else None
        return node[1].get("name") if node else None

    def ancestors(self, moid: str) -> Iterable[tuple[str, dict[str, Any]]]:
        seen = set()
        current = self.nodes.get(moid, ("", {}))[1].get("parent")
        while current and current in self.nodes and current not in seen:
            seen.add(current)
            kind, item = self.nodes[current]
            yield kind, item
            current = item.get("parent")

    def datacenter(self, moid: str) -> str | None:
        for kind, item in self.ancestors(moid):
            if kind == "datacenters":
                return item.get("name")
        return None

    def vm_folder(self, moid: str) -> str:
        """The VM's folder path below its datacenter's vm folder ('' at the top)."""
        parts = []
        for kind, item in self.ancestors(moid):
            if kind != "folders":
                break
            parent = self.nodes.get(item.get("parent") or "", ("", {}))[0]
            if parent == "datacenters":
                break
            parts.append(item.get("name") or "")
        return "/".join(reversed(parts))

    def room(self, moid: str) -> str | None:
        """The room of the nearest ancestor whose name is mapped (cluster, folder, then datacenter)."""
        for kind, item in self.ancestors(moid):
            name = item.get("name")
            if kind == "folders" and name in DATACENTER_FOLDERS:
                continue
            if name in self.rooms:
                return self.rooms[name]
        return None


def _short(name: str) -> str:
    """'esx-north-01.city.lan' -> 'esx-north-01'; an IP address stays whole."""
    if not name or name.replace(".", "").isdigit():
        return name
    return name.split(".", 1)[0]


def build(raw: Mapping[str, Any], *, vcenter: Mapping[str, Any], rooms: Mapping[str, str],
          inventory_hosts: Mapping[str, str | None], systems: Mapping[str, Mapping[str, Any]],
          attributes: Mapping[str, str] | None = None,
          decommissioned: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The asset register (a JSON-ready dict) from vsphere.collect() output.

    `vcenter`: name/hostname/port of the source, for the record. `rooms`: datacenter/folder/cluster
    name -> room. `inventory_hosts`: ESXi host name in the inventory -> its declared room (or None).
    `systems`: facility_systems. `attributes`: register field -> vCenter custom attribute name
    (zone, system, owner).
    """
    attrs = {"zone": "zone", "system": "system", "owner": "owner", **(attributes or {})}
    tree = _Tree(raw, rooms)
    hosts_raw = raw.get("hosts") or {}
    host_room = {moid: tree.room(moid) for moid in hosts_raw}
    inventory_by_short = {_short(h).lower(): h for h in inventory_hosts}

    vms: list[dict[str, Any]] = []
    vms_on_host: Counter[str] = Counter()
    for moid, item in (raw.get("vms") or {}).items():
        host = item.get("runtime.host")
        vms_on_host[host or ""] += 1
        custom = item.get("custom") or {}
        room = host_room.get(host) if host else tree.room(moid)
        compute = tree.nodes.get(hosts_raw.get(host, {}).get("parent") or "", ("", {}))[1] if host else {}
        vms.append({
            "name": item.get("name"),
            "uuid": item.get("config.uuid"),
            "instance_uuid": item.get("config.instanceUuid"),
            "moid": moid,
            "template": bool(item.get("config.template")),
            "guest_id": item.get("config.guestId"),
            "cpu": int(item.get("config.hardware.numCPU") or 0),
            "memory_mb": int(item.get("config.hardware.memoryMB") or 0),
            "disk_bytes": int(item.get("disk_bytes") or 0),
            "host": tree.name(host),
            "cluster": compute.get("name"),
            "datacenter": tree.datacenter(moid),
            "datastores": sorted(n for n in (tree.name(d) for d in item.get("datastore") or ()) if n),
            "power_state": item.get("runtime.powerState"),
            "zone": custom.get(attrs["zone"]) or None,
            "system": custom.get(attrs["system"]) or None,
            "owner": custom.get(attrs["owner"]) or None,
            "room": room,
            "folder": tree.vm_folder(moid),
        })
    vms.sort(key=lambda v: (v["name"] or "", v["uuid"] or ""))

    hosts = []
    for moid, item in hosts_raw.items():
        _, compute = tree.nodes.get(item.get("parent") or "", ("", {}))
        name = item.get("name") or moid
        inv = inventory_by_short.get(_short(name).lower())
        hosts.append({
            "name": name,
            "inventory_name": inv,
            "cluster": compute.get("name") if compute.get("type") == "ClusterComputeResource" else None,
            "compute_resource": compute.get("name"),
            "datacenter": tree.datacenter(moid),
            "room": host_room[moid],
            "cpu_cores": int(item.get("summary.hardware.numCpuCores") or 0),
            "memory_mb": int(item.get("summary.hardware.memorySize") or 0) // (1024 * 1024),
            "vendor": item.get("summary.hardware.vendor"),
            "model": item.get("summary.hardware.model"),
            "hardware_uuid": item.get("summary.hardware.uuid"),
            "connection_state": item.get("runtime.connectionState"),
            "maintenance": bool(item.get("runtime.inMaintenanceMode")),
            "power_state": item.get("runtime.powerState"),
            "datastores": sorted(n for n in (tree.name(d) for d in item.get("datastore") or ()) if n),
            "vms": vms_on_host.get(moid, 0),
        })
    hosts.sort(key=lambda h: h["name"])

    clusters = []
    for moid, item in (raw.get("compute") or {}).items():
        member_rooms = {host_room.get(h) for h in item.get("host") or ()}
        clusters.append({
            "name": item.get("name"),
            "type": "cluster" if item.get("type") == "ClusterComputeResource" else "standalone",
            "datacenter": tree.datacenter(moid),
            "room": member_rooms.pop() if len(member_rooms) == 1 else tree.room(moid),
            "hosts": sorted(n for n in (tree.name(h) for h in item.get("host") or ()) if n),
            "datastores": sorted(n for n in (tree.name(d) for d in item.get("datastore") or ()) if n),
        })
    clusters.sort(key=lambda c: (c["type"], c["name"] or ""))

    datastores = []
    for moid, item in (raw.get("datastores") or {}).items():
        mounts = [h for h in item.get("host") or () if h]
        member_rooms = {host_room.get(h) for h in mounts}
        datastores.append({
            "name": item.get("name"),
            "datacenter": tree.datacenter(moid),
            "type": item.get("summary.type"),
            "accessible": bool(item.get("summary.accessible")),
            "capacity_bytes": int(item.get("summary.capacity") or 0),
            "free_bytes": int(item.get("summary.freeSpace") or 0),
            "room": member_rooms.pop() if len(member_rooms) == 1 else tree.room(moid),
            "shared": len(mounts) > 1,
            "hosts": sorted(n for n in (tree.name(h) for h in mounts) if n),
        })
    datastores.sort(key=lambda d: d["name"] or "")

    datacenters = sorted(({"name": item.get("name"), "room": rooms.get(item.get("name"))}
                          for item in (raw.get("datacenters") or {}).values()), key=lambda d: d["name"] or "")

    differences = diff(vms=vms, hosts=hosts, vcenter=str(vcenter.get("name")), inventory_hosts=inventory_hosts,
                       systems=systems, rooms=rooms, attributes=attrs)
    register = {
        "schema": SCHEMA,
        "source": {"vcenter": vcenter.get("name"), "hostname": vcenter.get("hostname"), "port": vcenter.get("port"),
                   "product": (raw.get("about") or {}).get("full_name"),
                   "instance_uuid": (raw.get("about") or {}).get("instance_uuid")},
        "rooms": dict(sorted(rooms.items())),
        "counts": counts(vms, hosts, clusters, datastores, datacenters, differences),
        "datacenters": datacenters,
        "clusters": clusters,
        "hosts": hosts,
        "datastores": datastores,
        "vms": vms,
        "differences": [d.as_dict() for d in differences],
    }
    if decommissioned:
        # The hosts stay in vCenter, disconnected; the removed datastores are gone from it and live on here.
        retired = set(decommissioned.get("hosts") or ())
        for h in hosts:
            h["lifecycle"] = "decommissioned" if h["name"] in retired else "in_service"
        register["decommissioned"] = {k: decommissioned.get(k) for k in ("rooms", "hosts", "datastores", "at")}
        register["counts"]["decommissioned_hosts"] = sum(1 for h in hosts if h["lifecycle"] == "decommissioned")
    return register


def diff(*, vms: list[dict[str, Any]], hosts: list[dict[str, Any]], vcenter: str,
         inventory_hosts: Mapping[str, str | None], systems: Mapping[str, Mapping[str, Any]],
         rooms: Mapping[str, str], attributes: Mapping[str, str]) -> list[Difference]:
    """Every disagreement between the register, the inventory and the facility policy, sorted."""
    out: list[Difference] = []
    mapped = ", ".join(sorted(rooms)) or "nothing"
    seen_inventory = set()
    for h in hosts:
        if h["inventory_name"] is None:
            out.append(Difference("host_not_in_inventory", Problem(
                h["name"], "inventory", f"ESXi host registered in vCenter {vcenter} (room {h['room'] or NO_ROOM}) "
                                        "is not in the inventory; add it to esxi_hosts or remove it from vCenter")))
            continue
        seen_inventory.add(h["inventory_name"])
        declared = inventory_hosts.get(h["inventory_name"])
        if h["room"] is None:
            out.append(Difference("host_room_unknown", Problem(
                h["name"], "room", f"no room derivable in vCenter {vcenter}: none of its folders or its datacenter "
                                   f"is in vcenter_rooms (mapped: {mapped})")))
        elif declared and declared != h["room"]:
            out.append(Difference("host_room_mismatch", Problem(
                h["inventory_name"], "room", f"the inventory says {declared!r} but vCenter {vcenter} places the host "
                                             f"in {h['room']!r}")))
    for name in sorted(set(inventory_hosts) - seen_inventory):
        out.append(Difference("host_not_in_vcenter", Problem(
            name, "vcenter", f"in the inventory's esxi_hosts but not registered in vCenter {vcenter}")))

    for vm in vms:
        if vm["template"]:
            continue
        name = vm["name"]
        zone, system, room = vm["zone"], vm["system"], vm["room"]
        if not zone:
            out.append(Difference("vm_zone_missing", Problem(
                name, "zone", f"custom attribute {attributes['zone']!r} is not set; set it to one of "
                              f"{', '.join(DATA_ZONES)}")))
        elif zone not in ZONES:
            out.append(Difference("vm_zone_unknown", Problem(
                name, "zone", f"unknown zone {zone!r} in custom attribute {attributes['zone']!r}; expected one of "
                              f"{', '.join(ZONES)}")))
        if not system:
            out.append(Difference("vm_system_missing", Problem(
                name, "system", f"custom attribute {attributes['system']!r} is not set; name the business system "
                                "(one of facility_systems)")))
        elif system not in systems:
            out.append(Difference("vm_system_unknown", Problem(
                name, "system", f"business system {system!r} is not declared in facility_systems")))
        else:
            declared = systems[system] or {}
            if zone and declared.get("zone") and zone != declared["zone"]:
                out.append(Difference("vm_zone_mismatch", Problem(
                    name, "zone", f"labelled {zone!r} but its system {system!r} is declared in zone "
                                  f"{declared['zone']!r}")))
            if vm["owner"] and declared.get("owner") and vm["owner"] != declared["owner"]:
                out.append(Difference("vm_owner_mismatch", Problem(
                    name, "owner", f"labelled {vm['owner']!r} but system {system!r} is owned by "
                                   f"{declared['owner']!r}")))
        effective_zone = zone or ((systems.get(system) or {}).get("zone") if system else None)
        if effective_zone in CENTRALISED_ZONES and room and room != MAIN_ROOM:
            out.append(Difference("vm_outside_main_room", Problem(
                name, "room", f"{effective_zone} VMs must sit in the main machine room from day one (notice §3), "
                              f"but it runs on {vm['host']} in room {room!r}")))
        if room is None:
            out.append(Difference("vm_room_unknown", Problem(
                name, "room", f"no room derivable for its host {vm['host']}; map its folder or datacenter in "
                              "vcenter_rooms")))
    return sorted(out, key=lambda d: (d.kind, d.problem))


def counts(vms: list[dict[str, Any]], hosts: list[dict[str, Any]], clusters: list[dict[str, Any]],
           datastores: list[dict[str, Any]], datacenters: list[dict[str, Any]],
           differences: list[Difference]) -> dict[str, Any]:
    live = [v for v in vms if not v["template"]]
    by_room: Counter[str] = Counter(v["room"] or NO_ROOM for v in live)
    by_room_zone: dict[str, Counter[str]] = {}
    for v in live:
        by_room_zone.setdefault(v["room"] or NO_ROOM, Counter())[v["zone"] or NO_ZONE] += 1
    power: Counter[str] = Counter(v["power_state"] or "unknown" for v in live)
    return {
        "datacenters": len(datacenters),
        "clusters": sum(1 for c in clusters if c["type"] == "cluster"),
        "standalone_hosts": sum(1 for c in clusters if c["type"] == "standalone"),
        "hosts": len(hosts),
        "datastores": len(datastores),
        "vms": len(live),
        "templates": len(vms) - len(live),
        "power_states": dict(sorted(power.items())),
        "vms_by_room": dict(sorted(by_room.items())),
        "vms_by_room_zone": {room: dict(sorted(z.items())) for room, z in sorted(by_room_zone.items())},
        "differences": len(differences),
        "differences_by_kind": dict(sorted(Counter(d.kind for d in differences).items())),
    }


def _room_order(room: str) -> tuple[int, str]:
    return (0 if room == MAIN_ROOM else 2 if room == NO_ROOM else 1, room)


def summary_table(register: Mapping[str, Any]) -> list[str]:
    """VMs per room and zone, then the totals: a few lines for the end of the play."""
    c = register["counts"]
    zones = list(DATA_ZONES)
    extra = sorted({z for row in c["vms_by_room_zone"].values() for z in row} - set(zones))
    cols = zones + extra
    width = max([len("ROOM")] + [len(r) for r in c["vms_by_room_zone"]])
    header = f"{'ROOM':<{width}}  " + "  ".join(f"{z:>10}" for z in cols) + f"  {'TOTAL':>6}"
    lines = [header]
    totals: Counter[str] = Counter()
    for room in sorted(c["vms_by_room_zone"], key=_room_order):
        row = c["vms_by_room_zone"][room]
        totals.update(row)
        lines.append(f"{room:<{width}}  " + "  ".join(f"{row.get(z, 0):>10}" for z in cols)
                     + f"  {sum(row.values()):>6}")
    lines.append(f"{'TOTAL':<{width}}  " + "  ".join(f"{totals.get(z, 0):>10}" for z in cols)
                 + f"  {sum(totals.values()):>6}")
    power = ", ".join(f"{k} {v}" for k, v in c["power_states"].items())
    lines.append(f"{c['vms']} VMs ({power}), {c['hosts']} hosts, {c['clusters']} clusters, "
                 f"{c['standalone_hosts']} standalone hosts, {c['datastores']} datastores, "
                 f"{c['datacenters']} datacenter(s); {c['differences']} difference(s) with the inventory")
    return lines


def to_json(register: Mapping[str, Any]) -> str:
    """The register file's content: stable (sorted keys, no timestamp), so an unchanged vCenter gives the same bytes."""
    return json.dumps(register, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def to_csv(register: Mapping[str, Any]) -> str:
    """One line per VM, the columns in CSV_COLUMNS; datastores joined with ';'."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for vm in register["vms"]:
        row = []
        for col in CSV_COLUMNS:
            value = vm.get(col)
            if isinstance(value, list):
                value = ";".join(value)
            row.append("" if value is None else value)
        writer.writerow(row)
    return buf.getvalue()
