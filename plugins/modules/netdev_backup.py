#!/usr/bin/python
# Copyright: (c) 2026, jinbao-dc maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Back up a device's running configuration: timestamped file, SHA-256, latest pointer, pruning, diff."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: netdev_backup
short_description: Keep versioned backups of a switch's or firewall's running configuration
description:
  - Reads the running configuration (normalised - lines that change without a configuration change, such as
    byte counts and timestamps, are left out) and compares its SHA-256 with the latest backup.
  - When it differs (or there is none yet), writes C(<dir>/<name>/<UTC timestamp>.cfg) with a C(.sha256)
    beside it, points C(<dir>/<name>/latest) at it, and prunes the oldest backups beyond I(keep). The diff
    is the change since the previous backup.
  - When it is the same, nothing is written; the latest backup is the one returned, so a backup taken
    "before every change" costs nothing when nothing changed.
  - Check mode reads the device and reports whether a backup would be written.
extends_documentation_fragment: [jinbao.dc.netdev]
options:
  dir: {description: The backups folder (one folder per device inside)., type: path, required: true}
  keep: {description: How many backups to keep per device (the latest is never pruned)., type: int, default: 30}
  facts_file:
    description:
      - Also read the device's facts on the same session (as netdev_facts) and keep their summary in this
        file (JSON); changed when it changes.
    type: path
  role:
    description: The device's role, written into I(facts_file).
    type: str
    default: ""
author: jinbao-dc maintainers (@jinbao-dc)
"""

EXAMPLES = r"""
- name: Back up core-01
  jinbao.dc.netdev_backup:
    name: core-01
    host: 127.0.0.1
    port: 18801
    device_type: cisco_ios
    vendor: cisco
    username: jinbao-lab
    password: "{{ netdev_password }}"
    known_hosts: .lab/netdev/known_hosts
    dir: backups
"""

RETURN = r"""
path: {description: The backup that holds the running configuration now., type: str, returned: success}
sha256: {description: Its SHA-256., type: str, returned: success}
pruned: {description: Backups removed beyond I(keep)., type: list, elements: str, returned: success}
"""

import difflib

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.jinbao.dc.plugins.module_utils.seams.netdev import (
    CONNECTION_ARGS,
    NetdevError,
    connect,
    disconnect,
    facts_summary,
    keep_backup,
    read_facts,
    running_config,
    vendor,
    write_report,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec={**CONNECTION_ARGS, "dir": {"type": "path", "required": True},
                       "keep": {"type": "int", "default": 30}, "facts_file": {"type": "path"},
                       "role": {"type": "str", "default": ""}},
        supports_check_mode=True,
    )
    p = module.params
    try:
        v = vendor(p["name"], p["vendor"])
        conn = connect(**p)
        try:
            text = running_config(p["name"], conn, v)
            facts = read_facts(p["name"], conn, v, p["vendor"]) if p["facts_file"] else None
        finally:
            disconnect(conn)
    except NetdevError as exc:
        module.fail_json(msg=str(exc), field=exc.field)
    facts_changed = False
    if facts is not None:
        record = {"device": p["name"], "vendor": p["vendor"], "role": p["role"], "unsupported": facts[1],
                  **facts_summary(facts[0])}
        facts_changed = write_report(p["facts_file"], record, module.check_mode)
    b = keep_backup(p["dir"], p["name"], text, p["keep"], module.check_mode)
    if not b.changed:
        module.exit_json(changed=facts_changed, path=b.path, sha256=b.sha256, pruned=[])
    diff = {"before_header": "the latest backup" if b.previous else "(no backup yet)",
            "after_header": f"{p['name']} running-config", "before": b.previous, "after": text}
    changes = sum(1 for line in difflib.unified_diff(b.previous.splitlines(), text.splitlines(), lineterm="")
                  if line[:1] in "+-" and line[:3] not in ("+++", "---"))
    module.exit_json(changed=True, path=b.path, sha256=b.sha256, pruned=b.pruned, lines_changed=changes, diff=diff)


if __name__ == "__main__":
    main()
