#!/usr/bin/python
# Copyright: (c) 2026, jinbao-dc maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Keep one row per certificate in the operator register (reports/pki/operators.csv)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pki_register
short_description: Upsert a certificate's row in the operator register CSV
description:
  - The register has one row per certificate (operator, serial, not_before, not_after, revoked_at), sorted by
    operator then not_before, so an auditor sees who held which certificate when.
  - Rows are keyed by serial; a row whose fields are unchanged reports changed=false. The file is replaced
    atomically. Check mode writes nothing.
options:
  path: {description: The register file., type: path, required: true}
  operator: {description: The operator ID., type: str, required: true}
  serial: {description: The certificate serial (Vault's colon form)., type: str, required: true}
  not_before: {description: Start of validity (ISO 8601)., type: str}
  not_after: {description: End of validity (ISO 8601)., type: str}
  revoked_at:
    description: When it was revoked (ISO 8601), empty while valid.
    type: str
    default: ""
author: jinbao-dc maintainers (@jinbao-dc)
"""

EXAMPLES = r"""
- name: Record the new certificate
  jinbao.dc.pki_register:
    path: reports/pki/operators.csv
    operator: op-0001
    serial: "3a:1f:..."
    not_before: "2026-11-28T00:00:00Z"
    not_after: "2026-12-01T00:00:00Z"
"""

RETURN = r"""
row:
  description: The row as recorded.
  type: dict
  returned: always
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.jinbao.dc.plugins.module_utils.pki.certificates import (
    REGISTER_TAIL,
    PkiError,
    read_register,
    write_register,
)

COLUMNS = ("operator", *REGISTER_TAIL)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "operator": {"type": "str", "required": True},
            "serial": {"type": "str", "required": True},
            "not_before": {"type": "str"},
            "not_after": {"type": "str"},
            "revoked_at": {"type": "str", "default": ""},
        },
        supports_check_mode=True,
    )
    p = module.params
    try:
        rows = read_register(p["path"], "operator")
    except PkiError as exc:
        module.fail_json(msg=str(exc))
    old = rows.get(p["serial"]) or {}
    row = {k: (p[k] if p.get(k) is not None else old.get(k, "")) or "" for k in COLUMNS}
    changed = row != old
    if changed and not module.check_mode:
        rows[p["serial"]] = row
        write_register(p["path"], "operator", rows)
    module.exit_json(changed=changed, row=row, diff={"before": old, "after": row} if changed else {})


if __name__ == "__main__":
    main()
