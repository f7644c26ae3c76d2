#!/usr/bin/python
"""Where every VM of a wave stands now, which ones still have to move, and whether they fit."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: vsphere_wave_state
short_description: Compare a planned wave with vCenter in one PropertyCollector pass
description:
  - Reads every VM, host and cluster in one PropertyCollector pass (as discovery does) and finds each
    planned VM by uuid, so a VM renamed since the plan is followed and a removed VM is reported.
  - Splits the wave into VMs already in place, VMs still to move and VMs that are missing.
  - Assigns each VM still to move a target host in its planned cluster (least memory committed first).
  - Checks that the VMs still to move fit their target clusters after the N+1 reserve; when they do
    not, it fails before any VM has moved, naming the cluster, resource and shortfall.
  - Records in the wave ledger (when I(ledger) is given) the VMs found in place and the VMs that are
    missing; reports changed only when the ledger changes. Changes nothing in vCenter.
extends_documentation_fragment: [jinbao.dc.vsphere]
options:
  wave: {description: The wave's VM entries from plan.json., type: list, elements: dict, required: true}
  rooms: {description: Datacenter/folder/cluster name to room., type: dict, default: {}}
  capacity:
    description: Capacity rules (cpu_overcommit, memory_overcommit, host_reserve), as in the plan.
    type: dict
    default: {}
  ledger: {description: The wave ledger to record in_place and missing VMs in., type: path}
  wave_number: {description: The wave number (required with I(ledger))., type: int}
author: jinbao-dc
"""

EXAMPLES = r"""
- name: Compare wave 1 with vCenter
  vsphere_wave_state:
    name: vc-central
    hostname: 127.0.0.1
    port: 18443
    username: jinbao-lab
    password: "{{ vcenter_password }}"
    wave: "{{ plan.waves[0].vms }}"
"""

RETURN = r"""
pending:
  description: VMs still to move, each with its planned entry plus target.host and current placement.
  type: list
  elements: dict
  returned: success
in_place:
  description: VMs already where the plan wants them.
  type: list
  elements: dict
  returned: success
missing:
  description: Planned VMs that vCenter no longer has, with a message each.
  type: list
  elements: dict
  returned: success
renamed:
  description: Planned VMs that vCenter shows under another name now.
  type: list
  elements: dict
  returned: success
"""

from collections import defaultdict

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.jinbao.dc.plugins.module_utils.consolidation.asset_register import build
from ansible_collections.jinbao.dc.plugins.module_utils.consolidation.ledger import record
from ansible_collections.jinbao.dc.plugins.module_utils.consolidation.planning import DEFAULTS, cluster_capacity
from ansible_collections.jinbao.dc.plugins.module_utils.seams.vsphere import (
    CONNECTION_ARGS,
    HAS_PYVMOMI,
    PYVMOMI_IMPORT_ERROR,
    VSphereError,
    collect,
    connect,
    disconnect,
    endpoint,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            **CONNECTION_ARGS,
            "wave": {"type": "list", "elements": "dict", "required": True},
            "rooms": {"type": "dict", "default": {}},
            "capacity": {"type": "dict", "default": {}},
            "ledger": {"type": "path"},
            "wave_number": {"type": "int"},
        },
        required_together=[("ledger", "wave_number")],
        supports_check_mode=True,
    )
    if not HAS_PYVMOMI:
        module.fail_json(msg=missing_required_lib("pyvmomi"), exception=str(PYVMOMI_IMPORT_ERROR))
    p = module.params
    ep = endpoint(p)
    try:
        si = connect(ep)
        try:
            raw = collect(si, ep)
        finally:
            disconnect(si)
    except VSphereError as exc:
        module.fail_json(msg=str(exc), field=exc.field)
    register = build(raw, vcenter={"name": ep.name}, rooms=p["rooms"], inventory_hosts={}, systems={})
    by_uuid = {v["uuid"]: v for v in register["vms"] if v.get("uuid")}
    hosts = {h["name"]: h for h in register["hosts"]}
    clusters = {c["name"]: c for c in register["clusters"] if c["type"] == "cluster"}
    opts = {**DEFAULTS, **p["capacity"]}

    pending, in_place, missing, renamed = [], [], [], []
    for entry in p["wave"]:
        now = by_uuid.get(entry.get("uuid"))
        if now is None:
            missing.append({**entry, "message": f"{entry['name']}: uuid: no VM with uuid {entry.get('uuid')} in "
                                                f"{ep.name}; it was removed or replaced after the plan was made"})
            continue
        if now["name"] != entry["name"]:
            renamed.append({"name": entry["name"], "now": now["name"], "uuid": entry.get("uuid")})
        target = entry["target"]
        current = {"host": now["host"], "cluster": now["cluster"], "datastores": now["datastores"],
                   "folder": now["folder"], "power_state": now["power_state"], "name": now["name"]}
        placed = (now["cluster"] == target["cluster"]
                  and (not target.get("datastore") or now["datastores"] == [target["datastore"]])
                  and (not target.get("folder") or now["folder"] == target["folder"]))
        (in_place if placed else pending).append({**entry, "current": current})

    # Capacity of each target cluster for the VMs still to move, and a host for each of them.
    problems = []
    committed = defaultdict(lambda: {"cpu": 0, "memory_mb": 0})
    for vm in register["vms"]:
        if vm.get("host") and not vm.get("template"):
            committed[vm["host"]]["cpu"] += vm["cpu"]
            committed[vm["host"]]["memory_mb"] += vm["memory_mb"]
    by_cluster = defaultdict(list)
    for entry in pending:
        by_cluster[entry["target"]["cluster"]].append(entry)
    for name, entries in sorted(by_cluster.items()):
        cluster = clusters.get(name)
        if cluster is None:
            problems.append(f"cluster {name}: cluster: the target cluster does not exist in {ep.name}")
            continue
        cap = cluster_capacity(cluster, hosts, opts)
        members = [h for h in cluster["hosts"] if h in hosts and hosts[h]["connection_state"] == "connected"
                   and not hosts[h]["maintenance"]]
        for resource, unit in (("cpu", "vCPU"), ("memory_mb", "MB")):
            used = sum(committed[h][resource] for h in cluster["hosts"])
            need = sum(e[resource] for e in entries)
            if used + need > cap[resource]:
                problems.append(f"cluster {name}: {resource}: the {len(entries)} VM(s) still to move need {need} "
                                f"{unit}, {used} {unit} is committed, capacity after {opts['host_reserve']} host(s) "
                                f"in reserve is {cap[resource]:.0f} {unit} "
                                f"(short by {used + need - cap[resource]:.0f} {unit})")
        if not members:
            problems.append(f"cluster {name}: hosts: no connected host out of maintenance")
            continue
        for entry in sorted(entries, key=lambda e: -e["memory_mb"]):
            best = min(members, key=lambda h: (committed[h]["memory_mb"] / max(hosts[h]["memory_mb"], 1), h))
            committed[best]["memory_mb"] += entry["memory_mb"]
            committed[best]["cpu"] += entry["cpu"]
            entry["target"] = {**entry["target"], "host": best}
    changed = False
    if p["ledger"]:
        try:
            for entry in missing:
                changed |= record(p["ledger"], p["wave_number"], entry["name"],
                                  {"status": "missing", "uuid": entry.get("uuid"), "error": entry["message"]},
                                  check_mode=module.check_mode)
            for entry in in_place:
                cur = entry["current"]
                changed |= record(p["ledger"], p["wave_number"], entry["name"],
                                  {"status": "in_place", "uuid": entry.get("uuid"), "host": cur["host"],
                                   "datastores": cur["datastores"], "folder": cur["folder"]},
                                  check_mode=module.check_mode)
        except (OSError, ValueError) as exc:
            module.fail_json(msg=f"{ep.name}: ledger: {exc}")
    result = {"changed": changed, "pending": pending, "in_place": in_place, "missing": missing, "renamed": renamed}
    if problems:
        module.fail_json(msg="the wave does not fit; no VM was moved:\n" + "\n".join(problems), problems=problems,
                         **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
