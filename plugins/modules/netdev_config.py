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
  role: {description: The device's role, written into I(facts_file)., type: str, default: ""}
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

import os

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
    facts_summary,
    keep_backup,
    push,
    read_facts,
    restore,
    running_config,
    save,
    vendor,
    write_report,
)


def _finish(module: AnsibleModule, conn, v, changed: bool, **result) -> None:
    """Read and keep the device's facts on this session (facts_file), then exit."""
    p = module.params
    if p["facts_file"]:
        facts, unsupported = read_facts(p["name"], conn, v, p["vendor"])
        record = {"device": p["name"], "vendor": p["vendor"], "role": p["role"], "unsupported": unsupported,
                  **facts_summary(facts)}
        changed = write_report(p["facts_file"], record, module.check_mode) or changed
    module.exit_json(changed=changed, **result)


def main() -> None:
    module = AnsibleModule(
        argument_spec={**CONNECTION_ARGS,
                       "intended": {"type": "str", "required": True},
                       "managed": {"type": "list", "elements": "str", "default": []},
                       "checkpoint": {"type": "str", "default": "jinbao-prechange.cfg"},
                       "confirm_minutes": {"type": "int", "default": 0},
                       "save": {"type": "bool", "default": True},
                       "backup_dir": {"type": "path"},
                       "keep": {"type": "int", "default": 30},
                       "intended_file": {"type": "path"},
                       "change_dir": {"type": "path"},
                       "operator": {"type": "dict", "default": {}},
                       "facts_file": {"type": "path"},
                       "role": {"type": "str", "default": ""}},
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
        files_changed = bool(p["intended_file"]) and write_report(p["intended_file"], p["intended"],
                                                                  module.check_mode)
        if p["backup_dir"]:
            result["before_backup"] = keep_backup(p["backup_dir"], name, before, p["keep"], module.check_mode).path
        if not lines:
            _finish(module, conn, v, files_changed, after_sha256=result["before_sha256"],
                    **{**result, "after_backup": result["before_backup"]})
        diff = {"prepared": "\n".join(lines) + "\n"}
        if module.check_mode:
            _finish(module, conn, v, True, diff=diff, **result)
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
        result["after_sha256"] = checksum(after)
        if p["change_dir"]:
            stamp = os.path.basename(result["after_backup"]).removesuffix(".cfg") or result["after_sha256"][:12]
            write_report(os.path.join(p["change_dir"], f"{name}-{stamp}.json"), {
                "device": name, "commands": lines, "operator": p["operator"],
                "before": {"sha256": result["before_sha256"], "backup": result["before_backup"]},
                "after": {"sha256": result["after_sha256"], "backup": result["after_backup"]}})
        _finish(module, conn, v, True, diff=diff, **result)
    except NetdevError as exc:
        module.fail_json(msg=str(exc), field=exc.field)
    finally:
        disconnect(conn)


if __name__ == "__main__":
    main()
