#!/usr/bin/python
"""Record one VM's outcome in a wave ledger (reports/waves/N.json)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: wave_ledger
short_description: Record a VM's migration outcome in the wave ledger
description:
  - Updates one VM's entry in the wave ledger under an exclusive lock, with an atomic replace, so
    concurrent forks never lose an update and a reader never sees half a file.
  - Reports changed only when the entry (status, placement, error) differs from what is recorded.
  - In check mode nothing is written.
options:
  path:
    description: The ledger file.
    type: path
    required: true
  wave:
    description: The wave number.
    type: int
    required: true
  vm:
    description: The VM name as planned.
    type: str
    required: true
  status:
    description: The outcome.
    type: str
    required: true
    choices: [moved, in_place, failed, missing, skipped]
  detail:
    description: Extra fields to record (uuid, source, target, error, timestamps).
    type: dict
    default: {}
author: jinbao-dc
"""

EXAMPLES = r"""
- name: Record the move
  wave_ledger:
    path: reports/waves/1.json
    wave: 1
    vm: pension-app-01
    status: moved
    detail: {host: esx-prod-02, datastore: central-prod-ds01}
"""

RETURN = r"""
entry:
  description: The entry as recorded.
  type: dict
  returned: always
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.ledger import read, record


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "wave": {"type": "int", "required": True},
            "vm": {"type": "str", "required": True},
            "status": {"type": "str", "required": True,
                       "choices": ["moved", "in_place", "failed", "missing", "skipped"]},
            "detail": {"type": "dict", "default": {}},
        },
        supports_check_mode=True,
    )
    p = module.params
    try:
        changed = record(p["path"], p["wave"], p["vm"], {**p["detail"], "status": p["status"]},
                         check_mode=module.check_mode)
        entry = read(p["path"], p["wave"])["vms"].get(p["vm"], {})
    except (OSError, ValueError) as exc:
        module.fail_json(msg=f"{p['vm']}: ledger: {exc}")
    module.exit_json(changed=changed, entry=entry)


if __name__ == "__main__":
    main()
