#!/usr/bin/python
# Copyright: (c) 2026, jinbao-dc maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read what network.yml left behind, for the consolidation report: changes, backups, the policy check."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: network_records
short_description: Read the network change records, the configuration backups and the running policy check
description:
  - Reads C(<reports_dir>/network/changes/*.json) (one per change that network.yml made), every device folder
    of I(backups_dir) (versions kept, the latest and its SHA-256, checked against its C(.sha256) file), and
    C(<reports_dir>/network/policy-running.json).
  - Reads only. Nothing there (network.yml never ran) gives empty results.
options:
  reports_dir: {description: The reports folder., type: path, required: true}
  backups_dir: {description: The backups folder., type: path, required: true}
author: jinbao-dc maintainers (@jinbao-dc)
"""

EXAMPLES = r"""
- name: Read the network records
  jinbao.dc.network_records:
    reports_dir: reports
    backups_dir: backups
"""

RETURN = r"""
changes:
  description: The change records, oldest first.
  type: list
  elements: dict
  returned: always
backups: {description: "Device to {count, latest, sha256, verified}.", type: dict, returned: always}
policy: {description: "The policy check of the running configuration (empty when none).", type: dict, returned: always}
"""

import glob
import hashlib
import json
import os

from ansible.module_utils.basic import AnsibleModule


def main() -> None:
    module = AnsibleModule(argument_spec={"reports_dir": {"type": "path", "required": True},
                                          "backups_dir": {"type": "path", "required": True}},
                           supports_check_mode=True)
    p = module.params
    changes = []
    for path in sorted(glob.glob(os.path.join(p["reports_dir"], "network", "changes", "*.json"))):
        try:
            with open(path, encoding="utf-8") as fh:
                changes.append(json.load(fh))
        except (OSError, ValueError) as exc:
            module.fail_json(msg=f"{path}: cannot be read ({exc}); move it aside")
    changes.sort(key=lambda c: c.get("after", {}).get("backup", ""))
    backups = {}
    for folder in sorted(glob.glob(os.path.join(p["backups_dir"], "*"))):
        latest = os.path.join(folder, "latest")
        if not os.path.exists(latest):
            continue
        with open(latest, "rb") as fh:
            digest = hashlib.sha256(fh.read()).hexdigest()
        recorded = ""
        if os.path.exists(os.path.realpath(latest) + ".sha256"):
            with open(os.path.realpath(latest) + ".sha256", encoding="utf-8") as fh:
                recorded = fh.read().split()[0]
        backups[os.path.basename(folder)] = {"count": len(glob.glob(os.path.join(folder, "*.cfg"))),
                                             "latest": os.path.basename(os.path.realpath(latest)),
                                             "sha256": digest, "verified": digest == recorded}
    policy = {}
    path = os.path.join(p["reports_dir"], "network", "policy-running.json")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as fh:
            policy = json.load(fh)
    module.exit_json(changed=False, changes=changes, backups=backups, policy=policy)


if __name__ == "__main__":
    main()
