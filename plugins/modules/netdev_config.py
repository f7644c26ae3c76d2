#!/usr/bin/python
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
  - Check mode shows the delta (with C(--diff)) and sends nothing.
  - Otherwise, safety first. The running configuration is checkpointed on the device itself
    (I(checkpoint)), and the delta is sent with commit-confirm where the platform has it (the device rolls
    back by itself after I(confirm_minutes) unless confirmed). The first line the device rejects stops the
    push. Then the result is verified - the running configuration is read again and must leave no delta.
  - When the push or the verification fails, the checkpoint is restored and the running configuration's
    SHA-256 is compared with the pre-change one. The task fails either way, saying whether the restore was
    proven. When the change holds, it is confirmed and saved (I(save)).
extends_documentation_fragment: [netdev]
options:
  intended: {description: The intended configuration (the platform's syntax)., type: str, required: true}
  managed:
    description:
      - Regular expressions of top-level lines this platform owns even when absent from I(intended).
      - So stale ones (an old zone ACL) are removed.
    type: list
    elements: str
    default: []
  checkpoint: {description: File name of the on-device checkpoint., type: str, default: jinbao-prechange.cfg}
  confirm_minutes: {description: Commit-confirm timer (0 - none)., type: int, default: 0}
  save: {description: Save the configuration after a verified change., type: bool, default: true}
  backup_dir:
    description:
      - Keep the running configuration before and after a change in C(<backup_dir>/<name>/) (as netdev_backup
        does, on the same SSH session; a new version only when the configuration differs from the latest).
    type: path
  keep: {description: Backups kept per device., type: int, default: 30}
author: jinbao-dc
"""

EXAMPLES = r"""
- name: Zone VLANs, SVIs and ACLs on core-01
  netdev_config:
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
restored:
  description: Whether the pre-change configuration was restored (and proven by checksum).
  type: bool
  returned: failure
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.netdev import (
    CONNECTION_ARGS,
    NetdevError,
    checkpoint,
    checksum,
    confirm,
    connect,
    delta,
    disconnect,
    keep_backup,
    push,
    restore,
    running_config,
    save,
    vendor,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec={**CONNECTION_ARGS,
                       "intended": {"type": "str", "required": True},
                       "managed": {"type": "list", "elements": "str", "default": []},
                       "checkpoint": {"type": "str", "default": "jinbao-prechange.cfg"},
                       "confirm_minutes": {"type": "int", "default": 0},
                       "save": {"type": "bool", "default": True},
                       "backup_dir": {"type": "path"},
                       "keep": {"type": "int", "default": 30}},
        supports_check_mode=True,
    )
    p = module.params
    name = p["name"]
    try:
        v = vendor(name, p["vendor"])
        conn = connect(**p)
    except NetdevError as exc:
        module.fail_json(msg=str(exc), field=exc.field)
    try:
        before = running_config(name, conn, v)
        lines = delta(before, p["intended"], v, p["managed"])
        result = {"commands": lines, "before_sha256": checksum(before), "before_backup": "", "after_backup": ""}
        if p["backup_dir"]:
            result["before_backup"] = keep_backup(p["backup_dir"], name, before, p["keep"], module.check_mode).path
        if not lines:
            module.exit_json(changed=False, after_sha256=result["before_sha256"],
                             **{**result, "after_backup": result["before_backup"]})
        diff = {"prepared": "\n".join(lines) + "\n"}
        if module.check_mode:
            module.exit_json(changed=True, diff=diff, **result)
        checkpoint(name, conn, v, p["checkpoint"])
        failure = None
        try:
            push(name, conn, lines, v, p["confirm_minutes"])
            after = running_config(name, conn, v)
            left = delta(after, p["intended"], v, p["managed"])
            if left:
                failure = NetdevError(name, "verify", f"after the change the device still differs from the intent "
                                                      f"by {len(left)} line(s): {'; '.join(left[:5])}")
        except NetdevError as exc:
            failure = exc
        if failure is not None:
            trouble = ""
            try:
                restore(name, conn, v, p["checkpoint"])
                if p["confirm_minutes"]:
                    confirm(name, conn, v, strict=False)  # the pre-change configuration is back: stop the timer
            except NetdevError as exc:
                trouble = f" ({exc.message})"
            try:
                now = checksum(running_config(name, conn, v))
            except NetdevError as exc:
                timer = (f"the device's commit-confirm timer rolls the change back within {p['confirm_minutes']} "
                         "minute(s), and " if p["confirm_minutes"] else "")
                module.fail_json(msg=f"{failure}. The restore could not run ({exc.message}): {timer}the next run "
                                     "reads the device again, and completes the change or restores it.",
                                 field=failure.field, restored=False, **result)
            proven = now == result["before_sha256"]
            module.fail_json(msg=f"{failure}. " + (
                f"The pre-change configuration was restored (SHA-256 {now[:12]} equals the pre-change one)."
                if proven else f"RESTORE NOT PROVEN{trouble}: the running configuration (SHA-256 {now[:12]}) "
                               f"differs from the pre-change one ({result['before_sha256'][:12]}); restore the backup "
                               "by hand."),
                field=failure.field, restored=proven, after_sha256=now, **result)
        if p["confirm_minutes"]:
            confirm(name, conn, v)
        if p["save"]:
            save(name, conn)
        if p["backup_dir"]:
            result["after_backup"] = keep_backup(p["backup_dir"], name, after, p["keep"]).path
        module.exit_json(changed=True, diff=diff, after_sha256=checksum(after), **result)
    except NetdevError as exc:
        module.fail_json(msg=str(exc), field=exc.field)
    finally:
        disconnect(conn)


if __name__ == "__main__":
    main()
