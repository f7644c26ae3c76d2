#!/usr/bin/python
# Copyright: (c) 2026, jinbao-dc maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
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
  - The comparison lives in module_utils/consolidation/waves.py (wave_state); the connection options come
    once per play from C(module_defaults) on the C(group/jinbao.dc.vsphere) action group.
extends_documentation_fragment: [jinbao.dc.vsphere]
options:
  vms: {description: The wave's VM entries from plan.json (its C(vms))., type: list, elements: dict, required: true}
  rooms: {description: Datacenter/folder/cluster name to room., type: dict, default: {}}
  capacity:
    description: Capacity rules (cpu_overcommit, memory_overcommit, host_reserve), as in the plan.
    type: dict
    default: {}
  ledger: {description: The wave ledger to record in_place and missing VMs in., type: path}
  wave: {description: The wave number (required with I(ledger))., type: int}
author: jinbao-dc maintainers (@jinbao-dc)
"""

EXAMPLES = r"""
- name: Compare wave 1 with vCenter
  jinbao.dc.vsphere_wave_state:  # the connection comes from module_defaults: group/jinbao.dc.vsphere
    vms: "{{ plan.waves[0].vms }}"
    ledger: reports/waves/1.json
    wave: 1
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

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.jinbao.dc.plugins.module_utils.consolidation.waves import record_found, wave_state
from ansible_collections.jinbao.dc.plugins.module_utils.seams.vsphere import (
    HAS_PYVMOMI,
    PYVMOMI_IMPORT_ERROR,
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
            vms={"type": "list", "elements": "dict", "required": True},
            rooms={"type": "dict", "default": {}},
            capacity={"type": "dict", "default": {}},
            ledger={"type": "path"},
            wave={"type": "int"},
        ),
        required_together=[("ledger", "wave")],
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
    state, problems = wave_state(raw, ep.name, p["vms"], rooms=p["rooms"], capacity=p["capacity"])
    changed = False
    if p["ledger"]:
        try:
            changed = record_found(p["ledger"], p["wave"], state, check_mode=module.check_mode)
        except (OSError, ValueError) as exc:
            module.fail_json(msg=f"{ep.name}: ledger: {exc}")
    if problems:
        module.fail_json(msg="the wave does not fit; no VM was moved:\n" + "\n".join(problems), problems=problems,
                         changed=changed, **state)
    module.exit_json(changed=changed, **state)


if __name__ == "__main__":
    main()
