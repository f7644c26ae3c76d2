"""Expand lab/vcsim/topology.yml into the concrete plan the simulator builds, and check a running one.

The plan names every host, datastore and VM (size, power state, folder, custom attributes, room).
The Go main builds it in-process at start, which takes about a second for 2,000 VMs, where creating
them through the API from Python would take minutes. The expansion is deterministic, so the
integration tests compute their expectations from the same function.

    python -m lab.vcsim.seed [--vms N] [--no-anomalies] [--out plan.json]   # print or write the plan
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
TOPOLOGY = HERE / "topology.yml"
UNLABELLED_FOLDER = "Discovered virtual machine"


def load_topology(path: Path = TOPOLOGY) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def scale_from_env(default: int | None = None) -> int | None:
    """The VM count asked for by LAB_VCSIM_VMS (a positive integer), else `default`."""
    raw = os.environ.get("LAB_VCSIM_VMS", "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"LAB_VCSIM_VMS={raw!r}: expected a positive number of VMs")
    return int(raw)


def anomalies_from_env(default: bool = True) -> bool:
    raw = os.environ.get("LAB_VCSIM_ANOMALIES", "").strip().lower()
    return default if not raw else raw not in ("0", "false", "no", "off")


def _hardware(spec: dict[str, Any]) -> dict[str, Any]:
    return {"cpu_cores": int(spec.get("cpu_cores", 16)), "memory_mb": int(spec.get("memory_gb", 256)) * 1024,
            "vendor": spec.get("vendor", ""), "model": spec.get("model", "")}


def _slots(topo: dict[str, Any]) -> list[dict[str, Any]]:
    """Every role slot of the base topology, in plan order: main room first, then branches."""
    slots = []
    main = topo["main"]
    for cluster, spec in main["clusters"].items():
        for system, roles in (spec.get("systems") or {}).items():
            for role in roles:
                slots.append({"room": "main", "site": main["site"], "cluster": cluster, "system": system,
                              "role": role})
    for room, spec in topo["branches"].items():
        for system, roles in (spec.get("systems") or {}).items():
            for role in roles:
                slots.append({"room": room, "site": spec["site"], "cluster": None, "system": system, "role": role})
    return slots


def expand(topo: dict[str, Any], vms: int | None = None, anomalies: bool = True) -> dict[str, Any]:
    """The concrete plan: hosts, datastores, folders and VMs, deterministic for a topology and scale."""
    vms = vms if vms is not None else topo.get("vms")
    systems = topo["systems"]
    roles = topo["roles"]
    main = topo["main"]
    plan: dict[str, Any] = {"datacenter": topo["datacenter"], "custom_fields": list(topo["custom_attributes"]),
                            "host_folders": [], "clusters": [], "standalone_hosts": [], "datastores": [],
                            "vm_folders": [], "vms": []}
    room_hosts: dict[str, list[str]] = {}
    host_datastores: dict[str, list[str]] = {}
    cluster_hosts: dict[str, list[str]] = {}
    host_room: dict[str, str] = {}

    for name, spec in main["clusters"].items():
        hw = _hardware(spec.get("host_hardware") or {})
        plan["clusters"].append({"name": name, "folder": "", "hosts": [{"name": h, **hw} for h in spec["hosts"]]})
        cluster_hosts[name] = list(spec["hosts"])
        for ds, gb in (spec.get("datastores") or {}).items():
            plan["datastores"].append({"name": ds, "capacity_gb": int(gb), "hosts": list(spec["hosts"])})
        for h in spec["hosts"]:
            host_datastores[h] = list(spec.get("datastores") or {})
            host_room[h] = "main"
    for room, spec in topo["branches"].items():
        plan["host_folders"].append(room)
        hw = _hardware(spec.get("host_hardware") or {})
        room_hosts[room] = list(spec["hosts"])
        for h in spec["hosts"]:
            plan["standalone_hosts"].append({"name": h, "folder": room, **hw})
            ds = f"{h}-local"
            plan["datastores"].append({"name": ds, "capacity_gb": int(spec.get("local_datastore_gb", 4096)),
                                       "hosts": [h]})
            host_datastores[h] = [ds]
            host_room[h] = room

    base = _slots(topo)
    total = len(base) if not vms else int(vms)
    per_key: Counter[tuple[str, str, str]] = Counter()
    rotation: Counter[str] = Counter()
    off_every = int(topo.get("powered_off_every") or 0)

    def place(slot: dict[str, Any], name: str, fields: dict[str, str], folder: str) -> None:
        role = roles[slot["role"]]
        if slot.get("cluster"):
            hosts = cluster_hosts[slot["cluster"]]
            key = f"cluster:{slot['cluster']}"
        else:
            hosts = room_hosts[slot["room"]]
            key = f"room:{slot['room']}"
        turn = rotation[key]
        rotation[key] += 1
        host = hosts[turn % len(hosts)]
        stores = host_datastores[host]
        ordinal = len(plan["vms"])
        plan["vms"].append({
            "name": name, "folder": folder, "host": host, "datastore": stores[turn % len(stores)],
            "cpu": int(role["cpu"]), "memory_mb": int(role["memory_gb"]) * 1024, "disk_gb": int(role["disk_gb"]),
            "power_on": not (off_every and ordinal % off_every == off_every - 1),
            "fields": fields, "room": host_room[host], "cluster": slot.get("cluster") or host,
        })
        if folder and folder not in plan["vm_folders"]:
            for i, _ in enumerate(folder.split("/")):
                part = "/".join(folder.split("/")[: i + 1])
                if part not in plan["vm_folders"]:
                    plan["vm_folders"].append(part)

    for k in range(total):
        slot = base[k % len(base)]
        key = (slot["site"], slot["system"], slot["role"])
        per_key[key] += 1
        zone = systems[slot["system"]]["zone"]
        fields = {"zone": zone, "system": slot["system"], "owner": systems[slot["system"]]["owner"]}
        name = f"{slot['site']}-{slot['system']}-{slot['role']}{per_key[key]:02d}"
        place(slot, name, fields, f"{zone}/{slot['system']}")

    if anomalies:
        for item in topo.get("anomalies") or ():
            fields = {k: str(v) for k, v in (item.get("fields") or {}).items()}
            folder = f"{fields['zone']}/{fields['system']}" if fields.get("zone") and fields.get("system") \
                else UNLABELLED_FOLDER
            site = topo["branches"][item["room"]]["site"] if item["room"] != "main" else main["site"]
            slot = {"room": item["room"], "site": site, "cluster": item.get("cluster"), "role": item["role"]}
            place(slot, item["name"], fields, folder)
    return plan


def summary(plan: dict[str, Any]) -> dict[str, Any]:
    """What discovery should count in a plan: VMs per room and zone, hosts, datastores, power states."""
    per_room_zone: Counter[tuple[str, str]] = Counter()
    for vm in plan["vms"]:
        per_room_zone[(vm["room"], vm["fields"].get("zone") or "(none)")] += 1
    hosts = len(plan["standalone_hosts"]) + sum(len(c["hosts"]) for c in plan["clusters"])
    return {
        "vms": len(plan["vms"]),
        "hosts": hosts,
        "clusters": len(plan["clusters"]),
        "datastores": len(plan["datastores"]),
        "powered_off": sum(1 for vm in plan["vms"] if not vm["power_on"]),
        "per_room_zone": {f"{room}/{zone}": n for (room, zone), n in sorted(per_room_zone.items())},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--topology", default=str(TOPOLOGY))
    parser.add_argument("--vms", type=int, default=None, help="total VMs (default: LAB_VCSIM_VMS or topology)")
    parser.add_argument("--no-anomalies", action="store_true")
    parser.add_argument("--out", help="write the plan (JSON) here instead of printing its summary")
    args = parser.parse_args(argv)
    try:
        vms = args.vms if args.vms is not None else scale_from_env()
    except ValueError as exc:
        print(f"seed: {exc}", file=sys.stderr)
        return 2
    plan = expand(load_topology(Path(args.topology)), vms, anomalies=not args.no_anomalies and anomalies_from_env())
    if args.out:
        Path(args.out).write_text(json.dumps(plan, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(json.dumps(summary(plan), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
