#!/usr/bin/python
# Copyright: (c) 2026, jinbao-dc maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Move a batch of a wave's VMs (compute and storage) with bounded concurrency, with pre- and post-checks."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: vsphere_wave_move
short_description: Move a batch of VMs to their planned places, several at once, recording each outcome
description:
  - Moves the given VMs with up to I(concurrency) relocations running at once, each worker on its own
    vCenter session. One module call moves a whole batch, so a wave of hundreds of VMs costs a handful
    of module start-ups, not one per VM.
  - Reads vCenter once per call (one PropertyCollector pass) and finds each VM by BIOS uuid (a VM renamed
    since the plan is still found, and reported as renamed); a move then costs a few round trips.
  - "Pre-checks per VM: the VM exists, the source and target hosts are connected, the target host is
    not in maintenance, the VM has no snapshots (unless allowed) and the target datastore has room for
    its disks."
  - Moves compute and storage with one RelocateVM_Task, then the VM folder, and waits with a timeout.
  - "Post-checks per VM: host, datastore, power state and folder are as planned; the power state is unchanged."
  - A VM that fails any step after leaving its source is moved back to its source host, datastore and folder.
  - Every outcome (moved, in_place, failed, missing, skipped) is written to the wave ledger as it happens,
    under a lock with an atomic replace, so a killed run leaves a consistent ledger and a re-run resumes.
  - When the failures of the wave (I(failures_before) plus this batch) exceed I(max_fail_percentage) of
    I(wave_size), no further VM is started; the VMs not started are recorded as skipped (all of them,
    when earlier batches had already gone over the limit). The rule, and the wording of the stop in
    C(stop), live in module_utils/consolidation/waves.py.
  - The connection options come once per play from C(module_defaults) on the C(group/jinbao.dc.vsphere)
    action group.
  - Check mode changes nothing and returns the planned moves as a diff.
extends_documentation_fragment: [jinbao.dc.vsphere]
options:
  vms:
    description: The VMs to move, as vsphere_wave_state returns them in C(pending) (name, uuid, target, current).
    type: list
    elements: dict
    required: true
  ledger: {description: The wave ledger file (reports/waves/N.json)., type: path, required: true}
  wave: {description: The wave number., type: int, required: true}
  concurrency: {description: Relocations running at once., type: int, default: 8}
  task_timeout: {description: Seconds to wait for one relocation task., type: float, default: 600}
  allow_snapshots: {description: Move VMs that have snapshots., type: bool, default: false}
  max_fail_percentage:
    description: Abort the wave when more than this share of I(wave_size) VMs has failed.
    type: float
    default: 20
  wave_size: {description: VMs in the whole wave (the base of I(max_fail_percentage))., type: int, required: true}
  failures_before:
    description:
      - The failures of this wave's earlier batches in this run (the previous call's C(wave_failures));
        empty for the first batch.
    type: list
    elements: dict
    default: []
author: jinbao-dc maintainers (@jinbao-dc)
"""

EXAMPLES = r"""
- name: Move the first batch of wave 1
  jinbao.dc.vsphere_wave_move:  # the connection comes from module_defaults: group/jinbao.dc.vsphere
    vms: "{{ wave_state.pending[0:25] }}"
    ledger: reports/waves/1.json
    wave: 1
    wave_size: "{{ wave_state.pending | length }}"
  register: batch

- name: Move the second batch, counting the first batch's failures
  jinbao.dc.vsphere_wave_move:
    vms: "{{ wave_state.pending[25:50] }}"
    ledger: reports/waves/1.json
    wave: 1
    wave_size: "{{ wave_state.pending | length }}"
    failures_before: "{{ batch.wave_failures }}"
"""

RETURN = r"""
moved:
  description: Names of the VMs moved by this call (in check mode, the VMs that would move).
  type: list
  elements: str
  returned: always
failures:
  description: One entry per failed VM, with name, message and whether it is back on its source.
  type: list
  elements: dict
  returned: always
skipped:
  description: Names of the VMs not started because the wave was aborted.
  type: list
  elements: str
  returned: always
aborted:
  description: True when the failures exceeded max_fail_percentage and the rest of the batch was skipped.
  type: bool
  returned: always
renamed:
  description: VMs found under another name than the planned one, as "planned -> now".
  type: list
  elements: str
  returned: always
wave_failures:
  description: The failures of the wave so far (I(failures_before) and this batch's); pass it to the next batch.
  type: list
  elements: dict
  returned: success
stop:
  description: Why the wave did not complete (aborted or not, each failure, the ledger), or empty when no VM failed.
  type: str
  returned: success
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.jinbao.dc.plugins.module_utils.consolidation.waves import BatchError, move_batch
from ansible_collections.jinbao.dc.plugins.module_utils.seams.vsphere import (
    HAS_PYVMOMI,
    PYVMOMI_IMPORT_ERROR,
    Sessions,
    argument_spec,
    endpoint,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec=argument_spec(
            vms={"type": "list", "elements": "dict", "required": True},
            ledger={"type": "path", "required": True},
            wave={"type": "int", "required": True},
            concurrency={"type": "int", "default": 8},
            task_timeout={"type": "float", "default": 600.0},
            allow_snapshots={"type": "bool", "default": False},
            max_fail_percentage={"type": "float", "default": 20.0},
            wave_size={"type": "int", "required": True},
            failures_before={"type": "list", "elements": "dict", "default": []},
        ),
        supports_check_mode=True,
    )
    if not HAS_PYVMOMI:
        module.fail_json(msg=missing_required_lib("pyvmomi"), exception=str(PYVMOMI_IMPORT_ERROR))
    p = module.params
    try:
        result = move_batch(Sessions(endpoint(p)), p["vms"], ledger=p["ledger"], wave=p["wave"],
                            wave_size=p["wave_size"], max_fail_percentage=p["max_fail_percentage"],
                            failures_before=p["failures_before"], concurrency=p["concurrency"],
                            task_timeout=p["task_timeout"], allow_snapshots=p["allow_snapshots"],
                            check_mode=module.check_mode)
    except BatchError as exc:
        module.fail_json(msg=str(exc), **exc.result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
