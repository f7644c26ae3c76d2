#!/usr/bin/python
"""Move one VM (compute and storage) to its planned host, datastore and folder, with pre- and post-checks."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: vsphere_vm_move
short_description: Move one VM to its planned place (or back to its source) with pre- and post-checks
description:
  - Finds the VM by BIOS uuid (a VM renamed since the plan is still found, and reported as renamed).
  - "Pre-checks: the VM exists, source and target hosts are connected, the target host is not in
    maintenance, the VM has no snapshots (unless allowed) and the target datastore has room."
  - Moves compute and storage with one RelocateVM_Task, then the VM folder; waits with a timeout.
  - "Post-checks: host, datastore, power state and folder are as planned; the power state is unchanged."
  - Idempotent; a VM already in place reports changed=false. Check mode reports the move as a diff.
options:
  name: {description: Inventory name of the vCenter (used in messages)., type: str, required: true}
  hostname: {description: vCenter address., type: str, required: true}
  port: {description: vCenter HTTPS port., type: int, default: 443}
  username: {description: vCenter user., type: str, required: true}
  password: {description: vCenter password., type: str, required: true}
  validate_certs: {description: Verify the vCenter certificate., type: bool, default: true}
  ca_file: {description: CA bundle to verify against., type: path}
  timeout: {description: Network timeout in seconds., type: float, default: 30.0}
  vm: {description: The VM name as planned., type: str, required: true}
  uuid: {description: The VM's BIOS uuid., type: str, required: true}
  host: {description: Host to move to., type: str, required: true}
  datastore: {description: Datastore to move the disks to., type: str}
  folder: {description: VM folder path below the datacenter's vm folder., type: str}
  allow_snapshots: {description: Move VMs that have snapshots., type: bool, default: false}
  task_timeout: {description: Seconds to wait for the relocation task., type: float, default: 600}
author: jinbao-dc
"""

EXAMPLES = r"""
- name: Move pension-app-01 into the production cluster
  vsphere_vm_move:
    name: vc-central
    hostname: 127.0.0.1
    port: 18443
    username: jinbao-lab
    password: "{{ vcenter_password }}"
    vm: pension-app-01
    uuid: 4210b3c4-0000-0000-0000-000000000001
    host: esx-prod-02
    datastore: central-prod-ds01
    folder: production/pension
"""

RETURN = r"""
before:
  description: Where the VM was (name, host, datastores, power state, folder, snapshots).
  type: dict
  returned: when the VM was found
after:
  description: Where the VM is now (in check mode, where it would be).
  type: dict
  returned: when the VM was found
status:
  description: moved, in_place or missing.
  type: str
  returned: always
renamed_from:
  description: The planned name, when vCenter now shows another name for the same uuid.
  type: str
  returned: when renamed
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.vsphere import (
    CONNECTION_ARGS,
    HAS_PYVMOMI,
    PYVMOMI_IMPORT_ERROR,
    VSphereError,
    connect,
    disconnect,
    endpoint,
    find_vm,
    placement,
    relocate,
)


def in_place(where: dict, host: str, datastore: str | None, folder: str | None) -> bool:
    return (where["host"] == host and (not datastore or where["datastores"] == [datastore])
            and (not folder or where["folder"] == folder))


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            **CONNECTION_ARGS,
            "vm": {"type": "str", "required": True},
            "uuid": {"type": "str", "required": True},
            "host": {"type": "str", "required": True},
            "datastore": {"type": "str"},
            "folder": {"type": "str"},
            "allow_snapshots": {"type": "bool", "default": False},
            "task_timeout": {"type": "float", "default": 600.0},
        },
        supports_check_mode=True,
    )
    if not HAS_PYVMOMI:
        module.fail_json(msg=missing_required_lib("pyvmomi"), exception=str(PYVMOMI_IMPORT_ERROR))
    p = module.params
    ep = endpoint(p)
    subject = p["vm"]
    try:
        si = connect(ep)
        try:
            vm = find_vm(si, ep, p["uuid"])
            if vm is None:
                module.fail_json(msg=f"{subject}: uuid: no VM with uuid {p['uuid']} in {ep.name}; it was removed "
                                     "after the plan was made", status="missing")
            before = placement(vm)
            extra = {"renamed_from": subject} if before["name"] != subject else {}
            if in_place(before, p["host"], p["datastore"], p["folder"]):
                module.exit_json(changed=False, status="in_place", before=before, after=before, **extra)
            # --- pre-checks -----------------------------------------------------------------------
            if before["host_connection"] not in (None, "connected"):
                module.fail_json(msg=f"{subject}: source host: {before['host']} is {before['host_connection']}",
                                 before=before, status="failed")
            if before["snapshots"] and not p["allow_snapshots"]:
                module.fail_json(msg=f"{subject}: snapshots: the VM has {before['snapshots']} snapshot(s); "
                                     "consolidate or delete them first (or set migrate_allow_snapshots)",
                                 before=before, status="failed")
            after = {**before, "host": p["host"], "datastores": [p["datastore"]] if p["datastore"]
                     else before["datastores"], "folder": p["folder"] or before["folder"]}
            diff = {"before": _lines(before), "after": _lines(after),
                    "before_header": f"{subject} now", "after_header": f"{subject} planned"}
            if module.check_mode:
                module.exit_json(changed=True, status="moved", before=before, after=after, diff=diff, **extra)
            relocate(si, ep, vm, p["host"], p["datastore"], p["folder"], timeout=p["task_timeout"])
            # --- post-checks ----------------------------------------------------------------------
            now = placement(vm)
            wrong = []
            if not in_place(now, p["host"], p["datastore"], p["folder"]):
                wrong.append(f"placement is {now['host']}/{','.join(now['datastores'])}/{now['folder']}")
            if now["power_state"] != before["power_state"]:
                wrong.append(f"power state changed from {before['power_state']} to {now['power_state']}")
            if wrong:
                module.fail_json(msg=f"{subject}: post-check: {'; '.join(wrong)}", before=before, after=now,
                                 status="failed")
            module.exit_json(changed=True, status="moved", before=before, after=now, diff=diff, **extra)
        finally:
            disconnect(si)
    except VSphereError as exc:
        module.fail_json(msg=f"{subject}: {exc}", field=exc.field, status="failed")


def _lines(where: dict) -> str:
    return "".join(f"{k}: {where[k]}\n" for k in ("name", "host", "datastores", "folder", "power_state"))


if __name__ == "__main__":
    main()
