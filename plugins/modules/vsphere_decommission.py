#!/usr/bin/python
# Copyright: (c) 2026, jinbao-dc maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
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
  rooms: {description: "Datacenter/folder/cluster name to room, as for discovery.", type: dict, required: true}
  decommission:
    description: The rooms to decommission (never the main room).
    type: list
    elements: str
    required: true
  task_timeout: {description: Seconds to wait for each vCenter task., type: float, default: 300}
author: jinbao-dc maintainers (@jinbao-dc)
"""

EXAMPLES = r"""
- name: Decommission the emptied branch rooms
  jinbao.dc.vsphere_decommission:
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

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.jinbao.dc.plugins.module_utils.consolidation.asset_register import build
from ansible_collections.jinbao.dc.plugins.module_utils.consolidation.decommission import (
    DecommissionRefused,
    decommission,
)
from ansible_collections.jinbao.dc.plugins.module_utils.policy.facility import MAIN_ROOM
from ansible_collections.jinbao.dc.plugins.module_utils.seams.vsphere import (
    HAS_PYVMOMI,
    PYVMOMI_IMPORT_ERROR,
    Decommissioner,
    Inventory,
    VSphereError,
    argument_spec,
    collect,
    connect,
    disconnect,
    endpoint,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec=argument_spec(
            rooms={"type": "dict", "required": True},
            decommission={"type": "list", "elements": "str", "required": True},
            task_timeout={"type": "float", "default": 300.0},
        ),
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
            steps = None if module.check_mode else Decommissioner(si, ep, Inventory(raw), p["task_timeout"])
            result = decommission(register, targets, steps)
        finally:
            disconnect(si)
    except DecommissionRefused as exc:
        module.fail_json(msg=f"{ep.name}: {exc}", problems=exc.problems)
    except VSphereError as exc:
        module.fail_json(msg=str(exc), field=exc.field)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
