#!/usr/bin/python
# Copyright: (c) 2026, jinbao-dc maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bring several switches to their intended configuration at once: netdev_config per device, on threads."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: netdev_config_batch
short_description: Change a batch of switches in parallel, each exactly as netdev_config does
description:
  - One task for a whole batch of devices (network.yml runs it once per play batch, with C(run_once)). Each
    device gets what M(jinbao.dc.netdev_config) does, on its own SSH sessions and thread - backup, only the delta,
    checkpoint, commit-confirm, verify, restore proven by checksum on failure, save, backup, change record,
    facts.
  - One core of a redundant pair at a time - the devices of side C(b) start (connect, read, back up, arm their
    rollback point) only once every device of side C(a) in the batch is verified and confirmed, and send
    their delta only once every side-a device has ended, saved. When a side-a device failed, side b is left
    as it was (C(held)). So side b's reading overlaps side a's save, and no configuration of side b changes
    before side a is done.
  - A device that fails does not fail the task - its entry in I(devices) says C(failed) with the message
    naming the device, field and what happened, and the role fails that host alone. The other side-a devices
    of the batch carry on; max_fail_percentage in the play then stops the next batch.
  - Check mode shows each device's delta (with C(--diff)) and sends nothing.
  - ACLs are changed by content against the device's own sequence numbers, never through an open window, as
    M(jinbao.dc.netdev_config) describes.
  - Why a batch, not one task per host - the work of a change is on the device; one module run per batch
    spares the controller a Python start-up, a module transfer and a result per device and per step, which
    on a small controller cost more than the change itself (docs/BENCHMARKS.md, netpush).
  - The logic (the jobs, the pair order, the threads) lives in module_utils/seams/netdev_batch.py (run_batch).
options:
  devices:
    description:
      - The batch, one entry per device - the connection options of M(jinbao.dc.netdev_config) (doc fragment
        jinbao.dc.netdev) and the device's own I(intended), I(managed), I(role) and I(side).
      - A device name listed twice fails the task.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: The device's inventory name, used in every message and file name.
        type: str
        required: true
      host:
        description: Address of the device's SSH service.
        type: str
        required: true
      port:
        description: SSH port.
        type: int
        default: 22
      device_type:
        description: The netmiko device type (netdev_device_type), e.g. cisco_ios, arista_eos, huawei, hp_comware.
        type: str
        required: true
      vendor:
        description: The platform family (netdev_vendor) - cisco, arista, huawei, h3c or cisco_asa.
        type: str
        required: true
      username:
        description: User to log in as.
        type: str
        required: true
      password:
        description: Password of I(username).
        type: str
        required: true
      secret:
        description: The enable secret, where the platform has enable.
        type: str
      known_hosts:
        description: The known_hosts file the device's SSH host key is checked against (strictly; no trust on first
          use).
        type: path
        required: true
      timeout:
        description: Seconds to wait for the connection and for each answer.
        type: float
        default: 20
      retries:
        description:
          - Connection attempts when the device does not answer.
          - A refused login or a wrong host key is never retried.
        type: int
        default: 2
      fast_cli:
        description:
          - netmiko's fast_cli (netdev_fast_cli) - read each answer as soon as the prompt is back instead of
            waiting out netmiko's fixed delays.
          - Turn it off for a device whose answers arrive in pieces with pauses between them.
        type: bool
        default: true
      intended:
        description: The device's intended configuration (the platform's syntax).
        type: str
        required: true
      managed:
        description:
          - Regular expressions of top-level lines this platform owns even when absent from I(intended).
          - So stale ones (an old zone ACL) are removed.
        type: list
        elements: str
        default: []
      role:
        description: The device's role, written into its facts file (with I(reports_dir)).
        type: str
        default: ""
      side:
        description:
          - Which core of its redundant pair the device is; side C(b) waits for side C(a) as described above.
          - An unpaired device is on side C(a).
        type: str
        choices: [a, b]
        default: a
  workers: {description: Devices changed at once (at most the batch's size)., type: int, default: 25}
  reports_dir:
    description:
      - Where each device's intended configuration (C(network/intended/<name>.cfg)), change record
        (C(network/changes/)) and facts (C(network/facts/<name>.json)) are kept; unset - nowhere.
    type: path
  operator: {description: Who made the change (the cert gate's identity) for the records., type: dict, default: {}}
  checkpoint:
    description: File name of the explicit on-device checkpoint (when the device makes no archive of its own).
    type: str
    default: jinbao-prechange.cfg
  confirm_minutes: {description: Commit-confirm timer (0 - none)., type: int, default: 0}
  save: {description: Save the configuration after a verified change., type: bool, default: true}
  backup_dir: {description: Backups before and after a change in C(<backup_dir>/<name>/)., type: path}
  keep: {description: Backups kept per device., type: int, default: 30}
requirements: [netmiko]
author: jinbao-dc maintainers (@jinbao-dc)
"""

EXAMPLES = r"""
- name: Change the core pair, one core at a time
  jinbao.dc.netdev_config_batch:
    devices:
      - {name: core-01, host: 127.0.0.1, port: 18801, device_type: cisco_ios, vendor: cisco, username: jinbao-lab,
         password: "{{ netdev_password }}", known_hosts: .lab/netdev/known_hosts, role: core, side: a,
         intended: "{{ lookup('template', 'cisco/core.cfg.j2') }}", managed: ['^ip access-list extended ZONE-']}
      - {name: core-02, host: 127.0.0.1, port: 18802, device_type: cisco_ios, vendor: cisco, username: jinbao-lab,
         password: "{{ netdev_password }}", known_hosts: .lab/netdev/known_hosts, role: core, side: b,
         intended: "{{ lookup('template', 'cisco/core.cfg.j2') }}", managed: ['^ip access-list extended ZONE-']}
    backup_dir: backups
    reports_dir: reports
    confirm_minutes: 5
  run_once: true
"""

RETURN = r"""
devices:
  description:
    - Device name to its outcome - failed, changed, msg (on failure, or why it was held), field, restored (on
      failure), held (a side-b device left as it was because side a failed), commands, before_sha256,
      after_sha256, before_backup, after_backup, and in check mode policy_view (as M(jinbao.dc.netdev_config)
      returns it).
  type: dict
  returned: always
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.jinbao.dc.plugins.module_utils.seams.netdev import CHANGE_ARGS, CONNECTION_ARGS
from ansible_collections.jinbao.dc.plugins.module_utils.seams.netdev_batch import BatchError, run_batch

PER_DEVICE = ("intended", "managed", "role")
SHARED = ("checkpoint", "confirm_minutes", "save", "backup_dir", "keep", "operator")


def main() -> None:
    device_spec = {**CONNECTION_ARGS, **{k: CHANGE_ARGS[k] for k in PER_DEVICE},
                   "side": {"type": "str", "choices": ["a", "b"], "default": "a"}}
    module = AnsibleModule(
        argument_spec={"devices": {"type": "list", "elements": "dict", "required": True, "options": device_spec},
                       "workers": {"type": "int", "default": 25},
                       "reports_dir": {"type": "path"},
                       **{k: CHANGE_ARGS[k] for k in SHARED}},
        supports_check_mode=True,
    )
    p = module.params
    try:
        outcomes, diffs = run_batch(p["devices"], {k: p[k] for k in SHARED}, p["reports_dir"], p["workers"],
                                    module.check_mode)
    except BatchError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=any(o["changed"] for o in outcomes.values()), devices=outcomes, diff=diffs)


if __name__ == "__main__":
    main()
