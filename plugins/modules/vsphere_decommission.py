#!/usr/bin/python
"""Decommission emptied branch rooms in vCenter: hosts into maintenance and disconnected, datastores removed."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: vsphere_decommission
short_description: Take the hosts and datastores of emptied rooms out of service in vCenter
description:
  - Reads vCenter in one PropertyCollector pass and finds every host and datastore of the given rooms
    (rooms derived as discovery derives them, through I(rooms)).
  - Refuses, before changing anything, when a host or a datastore of those rooms still holds a VM or a
    template; the message names each host or datastore and its VMs.
  - Otherwise puts each host into maintenance mode, removes each of the rooms' datastores through a
    connected host that mounts it (HostDatastoreSystem.RemoveDatastore), then disconnects each host; every
    call names its object by the id read in that one pass, so nothing is looked up again.
  - Idempotent; what is already done is reported, not repeated. Check mode reports the steps as a diff.
extends_documentation_fragment: [jinbao.dc.vsphere]
options:
  rooms: {description: Datacenter/folder/cluster name to room, as for discovery., type: dict, required: true}
  decommission:
    description: The rooms to decommission (never the main room).
    type: list
    elements: str
    required: true
  task_timeout: {description: Seconds to wait for each vCenter task., type: float, default: 300}
author: jinbao-dc
"""

EXAMPLES = r"""
- name: Decommission the emptied branch rooms
  vsphere_decommission:
    name: vc-central
    hostname: 127.0.0.1
    port: 18443
    username: jinbao-lab
    password: "{{ vcenter_password }}"
    rooms: "{{ vcenter_rooms }}"
    decommission: [branch-north, branch-south]
"""

RETURN = r"""
hosts:
  description: Each host of the rooms, with its room, state before and after, and the steps taken.
  type: list
  elements: dict
  returned: success
datastores:
  description: Each datastore of the rooms, with its room and whether it was removed now or earlier.
  type: list
  elements: dict
  returned: success
"""

from typing import Any

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.jinbao.dc.plugins.module_utils.consolidation.asset_register import build
from ansible_collections.jinbao.dc.plugins.module_utils.policy.facility import MAIN_ROOM
from ansible_collections.jinbao.dc.plugins.module_utils.seams.vsphere import (
    CONNECTION_ARGS,
    HAS_PYVMOMI,
    PYVMOMI_IMPORT_ERROR,
    Inventory,
    VSphereError,
    collect,
    connect,
    disconnect,
    disconnect_host,
    endpoint,
    enter_maintenance,
    remove_datastore,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            **CONNECTION_ARGS,
            "rooms": {"type": "dict", "required": True},
            "decommission": {"type": "list", "elements": "str", "required": True},
            "task_timeout": {"type": "float", "default": 300.0},
        },
        supports_check_mode=True,
    )
    if not HAS_PYVMOMI:
        module.fail_json(msg=missing_required_lib("pyvmomi"), exception=str(PYVMOMI_IMPORT_ERROR))
    p = module.params
    ep = endpoint(p)
    targets = set(p["decommission"])
    if MAIN_ROOM in targets:
        module.fail_json(msg=f"{ep.name}: decommission: the main room {MAIN_ROOM!r} is never decommissioned")
    try:
        si = connect(ep)
        try:
            raw = collect(si, ep)
            register = build(raw, vcenter={"name": ep.name}, rooms=p["rooms"], inventory_hosts={}, systems={})
            result = decommission(module, si, ep, register, Inventory(raw), targets, p["task_timeout"])
        finally:
            disconnect(si)
    except VSphereError as exc:
        module.fail_json(msg=str(exc), field=exc.field)
    module.exit_json(**result)


def decommission(module: AnsibleModule, si: Any, ep: Any, register: dict[str, Any], inv: Inventory,
                 targets: set[str], task_timeout: float) -> dict[str, Any]:
    hosts = [h for h in register["hosts"] if h["room"] in targets]
    stores = [d for d in register["datastores"] if d["room"] in targets]
    unknown = sorted(targets - {h["room"] for h in register["hosts"]} - {d["room"] for d in stores})

    # --- refuse, before any change, what still holds a VM ---------------------------------------------
    problems = []
    for h in hosts:
        held = sorted(v["name"] for v in register["vms"] if v["host"] == h["name"])
        if held:
            problems.append(f"{h['name']}: vms: host in {h['room']} still holds {len(held)} VM(s): {', '.join(held)}")
    for d in stores:
        held = sorted(v["name"] for v in register["vms"] if d["name"] in (v["datastores"] or ()))
        if held:
            problems.append(f"{d['name']}: vms: datastore in {d['room']} still holds {len(held)} VM(s): "
                            f"{', '.join(held)}")
    if problems:
        module.fail_json(msg=f"{ep.name}: refusing to decommission; nothing was changed:\n" + "\n".join(problems),
                         problems=problems)

    # --- maintenance, datastores, disconnect ---------------------------------------------------------------
    host_out = []
    for h in hosts:
        steps = []
        if h["connection_state"] == "connected":
            steps = ["disconnect"] if h["maintenance"] else ["enter maintenance mode", "disconnect"]
        host_out.append({"name": h["name"], "room": h["room"], "steps": steps,
                         "before": {"connection_state": h["connection_state"], "maintenance": h["maintenance"]}})
    store_out = [{"name": d["name"], "room": d["room"], "hosts": d["hosts"]} for d in stores]
    diff = ([f"{h['name']} ({h['room']}): enter maintenance mode\n" for h in host_out
             if "enter maintenance mode" in h["steps"]]
            + [f"{d['name']} ({d['room']}): remove datastore\n" for d in store_out]
            + [f"{h['name']} ({h['room']}): disconnect\n" for h in host_out if "disconnect" in h["steps"]])
    changed = bool(diff)
    if not module.check_mode:
        by_name = {h["name"]: h for h in register["hosts"]}
        for h in host_out:
            if "enter maintenance mode" in h["steps"]:
                enter_maintenance(si, ep, inv.host_by_name[h["name"]], h["name"], task_timeout)
        for d in store_out:
            via = next((n for n in d["hosts"] if by_name.get(n, {}).get("connection_state") == "connected"), None)
            if via is None:
                raise VSphereError(d["name"], "hosts", "no connected host mounts the datastore; reconnect one of "
                                                       f"{', '.join(d['hosts']) or 'its hosts'} to remove it")
            remove_datastore(si, ep, inv.host_by_name[via], inv.ds_by_name[d["name"]], d["name"])
        for h in host_out:
            if "disconnect" in h["steps"]:
                disconnect_host(si, ep, inv.host_by_name[h["name"]], h["name"], task_timeout)
    for h in host_out:
        h["after"] = {"connection_state": "disconnected" if h["before"]["connection_state"] == "connected"
                      else h["before"]["connection_state"],
                      "maintenance": h["before"]["maintenance"] or "enter maintenance mode" in h["steps"]}
    result: dict[str, Any] = {"changed": changed, "hosts": host_out, "datastores": store_out,
                              "rooms_without_assets": unknown}
    if diff:
        result["diff"] = {"before": "", "after": "".join(diff), "after_header": "decommission steps"}
    return result


if __name__ == "__main__":
    main()
