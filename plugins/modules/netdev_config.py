#!/usr/bin/python
# Copyright: (c) 2026, jinbao-dc maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Push only the delta between a device's running configuration and its intended one, safely."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: netdev_config
short_description: Bring a switch's configuration to its intended state, verify it, roll back on failure
description:
  - Reads the running configuration and works out, with hier_config, the lines that bring it to I(intended),
    limited to the intended configuration's own sections and the top-level lines matching I(managed).
    Nothing else on the device is touched. No delta means no change (changed=false).
  - ACLs (IOS, EOS) are compared by content against the device's own sequence numbers (C(show ip
    access-lists)), not by position - a one-line drift is a one-line change (C(no 5) for an entry added by hand
    as 5; a missing entry comes back under a free number in its place). The lines are ordered so that no state on
    the way lets through more than the state before or the intended one; where only a rewrite can do (a deny
    that must move), the intended ACL is built under a second name and each interface rebound to it in one
    command, before the original is rebuilt and rebound (module_utils/seams/netdev_acl.py says why).
  - Check mode shows the delta (with C(--diff)) and sends nothing.
  - Otherwise, safety first. The running configuration is kept on the device itself before anything is sent.
    Under commit-confirm (where the platform has it and I(confirm_minutes) is set) the device archives it as
    it arms its timer (IOS C(configure terminal revert timer) writes C(flash:<archive path>-N)) and rolls the
    change back by itself unless confirmed; without commit-confirm, or when a timer left pending by an
    earlier unconfirmed change means no new archive, an explicit checkpoint is taken (I(checkpoint)). The
    first line the device rejects stops the push. Then the result is verified - the running configuration
    is read again and must leave no delta.
  - When the device's latest backup (I(backup_dir)) lacks the intended configuration, or there is none yet,
    the rollback point is made on a second session while the first reads the running configuration, and
    the change is sent on that second session. Arming the timer or taking the checkpoint leaves the
    configuration as it is; when no delta turns up after all, C(configure confirm) stops the timer again.
  - When the push or the verification fails, that archive or checkpoint is restored and the running
    configuration's SHA-256 is compared with the pre-change one. The task fails either way, saying whether
    the restore was proven. When the change holds, it is confirmed and saved (I(save)); the device's facts
    are read on the other session while it saves.
extends_documentation_fragment: [jinbao.dc.netdev]
options:
  intended: {description: The intended configuration (the platform's syntax)., type: str, required: true}
  managed:
    description:
      - Regular expressions of top-level lines this platform owns even when absent from I(intended).
      - So stale ones (an old zone ACL) are removed.
    type: list
    elements: str
    default: []
  checkpoint:
    description: File name of the explicit on-device checkpoint (when the device makes no archive of its own).
    type: str
    default: jinbao-prechange.cfg
  confirm_minutes: {description: Commit-confirm timer (0 - none)., type: int, default: 0}
  save: {description: Save the configuration after a verified change., type: bool, default: true}
  backup_dir:
    description:
      - Keep the running configuration before and after a change in C(<backup_dir>/<name>/) (as netdev_backup
        does, on the same SSH session; a new version only when the configuration differs from the latest).
    type: path
  keep: {description: Backups kept per device., type: int, default: 30}
  intended_file: {description: Keep the intended configuration in this file (also in check mode's answer)., type: path}
  change_dir:
    description:
      - After a verified change, write its record here as C(<name>-<after backup's timestamp>.json) - the lines
        sent, the checksums and backups before and after, and I(operator).
    type: path
  operator: {description: Who made the change (the cert gate's identity) for the record., type: dict, default: {}}
  facts_file:
    description:
      - At the end, on the same session, read the device's facts (as netdev_facts) and keep their summary in
        this file, so a configured device needs no second session to be inventoried.
    type: path
  role:
    description: The device's role, written into I(facts_file).
    type: str
    default: ""
author: jinbao-dc maintainers (@jinbao-dc)
"""

EXAMPLES = r"""
- name: Zone VLANs, SVIs and ACLs on core-01
  jinbao.dc.netdev_config:
    name: core-01
    host: 127.0.0.1
    port: 18801
    device_type: cisco_ios
    vendor: cisco
    username: jinbao-lab
    password: "{{ netdev_password }}"
    known_hosts: .lab/netdev/known_hosts
    intended: "{{ lookup('template', 'core.cfg.j2') }}"
    managed: ['^ip access-list extended ZONE-']
"""

RETURN = r"""
commands: {description: The lines sent (or that would be)., type: list, elements: str, returned: always}
before_sha256: {description: SHA-256 of the running configuration before., type: str, returned: success}
after_sha256: {description: SHA-256 of the running configuration after., type: str, returned: success}
before_backup: {description: The backup holding the configuration before the change., type: str, returned: success}
after_backup: {description: The backup holding the configuration after it., type: str, returned: success}
policy_view:
  description:
    - In check mode, what the policy check reads of the running configuration - the interfaces' addresses, VRFs
      and ACL bindings, and the ACLs with the device's sequence numbers (nothing else; no secrets).
    - M(jinbao.dc.network_policy) checks it under C(--check), when no backup is written.
  type: str
  returned: check mode, on a platform with ACLs
restored:
  description: Whether the pre-change configuration was restored (and proven by checksum).
  type: bool
  returned: failure
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.jinbao.dc.plugins.module_utils.seams.netdev import CHANGE_ARGS, CONNECTION_ARGS, configure


def main() -> None:
    module = AnsibleModule(argument_spec={**CONNECTION_ARGS, **CHANGE_ARGS}, supports_check_mode=True)
    result = configure(module.params, module.check_mode)
    if result.pop("failed"):
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
