#!/usr/bin/python
# Copyright: (c) 2026, jinbao-dc maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validate an inventory against inventory/schema and the facility policy model."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: facility_validate
short_description: Check an inventory against the schema and the facility policy (zones, rooms, racks)
description:
  - Applies the JSON Schemas in I(schema_dir) to every host's facility variables and to the
    site-wide C(facility_*) declarations, then the policy model in plugins/module_utils/policy/facility.py.
  - Reports one line per problem, naming the host (or rack/system) and the field.
  - Changes nothing; check mode is supported and behaves the same.
options:
  hosts:
    description: Host name to the host's facility variables, including C(group_names).
    type: dict
    required: true
  facility:
    description: The site-wide declarations (tier, rooms, racks, systems), without the C(facility_) prefix.
    type: dict
    required: true
  schema_dir:
    description: Directory holding host.schema.json and facility.schema.json.
    type: path
    required: true
author: jinbao-dc maintainers (@jinbao-dc)
"""

EXAMPLES = r"""
- name: Validate the inventory
  jinbao.dc.facility_validate:
    hosts: "{{ hostvars | facility_host_view(groups['all'], ['zone', 'room']) }}"
    facility: {tier: city, rooms: [main], racks: {}, systems: {}}
    schema_dir: inventory/schema
"""

RETURN = r"""
problems:
  description: 'One line per problem, "<host>: <field>: <what is wrong and how to fix it>".'
  type: list
  elements: str
  returned: always
hosts_checked:
  description: How many hosts were checked.
  type: int
  returned: always
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.jinbao.dc.plugins.module_utils.policy.facility import check_facility

try:
    import jsonschema
except ImportError:  # pragma: no cover - reported through missing_required_lib
    jsonschema = None


def schema_problems(subject: str, instance: dict, schema: dict) -> list[str]:
    validator = jsonschema.Draft202012Validator(schema)
    lines = []
    for error in sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path)):
        path = ".".join(str(p) for p in error.absolute_path)
        if error.validator == "required":
            missing = error.message.split("'")[1] if "'" in error.message else error.message
            lines.append(f"{subject}: {missing}: missing (required by {schema.get('title', 'schema')})")
        else:
            lines.append(f"{subject}: {path or '(top level)'}: {error.message}")
    return lines


def inventory_problems(hosts: dict, facility: dict, schemas: dict) -> list[str]:
    """Schema problems first; the policy model runs only on well-typed input."""
    problems = schema_problems("facility", facility, schemas["facility"])
    for host in sorted(hosts):
        hostvars = {k: v for k, v in hosts[host].items() if k != "group_names"}
        problems.extend(schema_problems(host, hostvars, schemas["host"]))
    if not problems:
        problems.extend(str(p) for p in check_facility(hosts, facility))
    return problems


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "hosts": {"type": "dict", "required": True},
            "facility": {"type": "dict", "required": True},
            "schema_dir": {"type": "path", "required": True},
        },
        supports_check_mode=True,
    )
    if jsonschema is None:
        module.fail_json(msg=missing_required_lib("jsonschema"))
    hosts = module.params["hosts"]
    facility = module.params["facility"]
    schemas = {}
    for name in ("host", "facility"):
        path = os.path.join(module.params["schema_dir"], f"{name}.schema.json")
        try:
            with open(path, encoding="utf-8") as fh:
                schemas[name] = json.load(fh)
        except (OSError, ValueError) as exc:
            module.fail_json(msg=f"cannot read schema {path}: {exc}")

    problems = inventory_problems(hosts, facility, schemas)
    result = {"changed": False, "problems": problems, "hosts_checked": len(hosts)}
    if problems:
        module.fail_json(msg=f"{len(problems)} problem(s) in the inventory:\n" + "\n".join(problems), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
