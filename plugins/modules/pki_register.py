#!/usr/bin/python
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
  revoked_at: {description: When it was revoked (ISO 8601), empty while valid., type: str, default: ""}
author: jinbao-dc
"""

EXAMPLES = r"""
- name: Record the new certificate
  pki_register:
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

import csv
import io
import os
import tempfile

from ansible.module_utils.basic import AnsibleModule

COLUMNS = ("operator", "serial", "not_before", "not_after", "revoked_at")


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
    rows: dict[str, dict[str, str]] = {}
    try:
        with open(p["path"], encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            if reader.fieldnames and tuple(reader.fieldnames) != COLUMNS:
                module.fail_json(msg=f"{p['path']}: columns: expected {', '.join(COLUMNS)}, found "
                                     f"{', '.join(reader.fieldnames)}; fix or move the file")
            rows = {r["serial"]: r for r in reader}
    except FileNotFoundError:
        pass
    old = rows.get(p["serial"]) or {}
    row = {k: (p[k] if p.get(k) is not None else old.get(k, "")) or "" for k in COLUMNS}
    changed = row != old
    if changed and not module.check_mode:
        rows[p["serial"]] = row
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(sorted(rows.values(), key=lambda r: (r["operator"], r["not_before"], r["serial"])))
        directory = os.path.dirname(os.path.abspath(p["path"]))
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".register-", dir=directory)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(out.getvalue())
        os.chmod(tmp, 0o644)
        os.replace(tmp, p["path"])
    module.exit_json(changed=changed, row=row, diff={"before": old, "after": row} if changed else {})


if __name__ == "__main__":
    main()
