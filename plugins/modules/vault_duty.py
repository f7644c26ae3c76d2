#!/usr/bin/python
# Copyright: (c) 2026, jinbao-dc maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Grant or withdraw an operator's duty in Vault (system, security or audit administrator)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: vault_duty
short_description: Grant or withdraw an operator's duty (system, security or audit administrator) in Vault
description:
  - An operator's duty is membership of one Vault identity group (C(jinbao-duty-<duty>)), whose policy decides
    what their token may read or change. This keeps the operator's identity entity (named after the operator),
    its alias (the certificate's CN on the certificate login mount), and the group membership.
  - One person holds one duty (GB/T 22239-2019 三员分立). A grant to an operator who holds another duty is
    refused, naming it, and nothing is changed.
  - I(state=absent) withdraws every duty and disables the entity, so that no token of theirs works; an operator
    so offboarded gets a duty again only with I(reenrol=true) (the role asks for a reason).
  - Idempotent; check mode lists the changes. Run by the security administrator (their session token).
  - The logic lives in module_utils/pki/grants.py (DutyGranter).
extends_documentation_fragment: [jinbao.dc.vault, jinbao.dc.vault.token]
options:
  operator: {description: The operator ID., type: str, required: true}
  common_name:
    description: The operator certificate's CN (the alias on the certificate login mount).
    type: str
    required: true
  duty:
    description: The duty to grant (with I(state=present)).
    type: str
    choices: [system-admin, security-admin, audit-admin]
  state:
    description: Grant (present), or withdraw every duty and disable the entity (absent).
    type: str
    choices: [present, absent]
    default: present
  reenrol: {description: Enable an offboarded operator's entity again., type: bool, default: false}
  cert_mount: {description: The certificate login mount., type: str, default: cert}
author: jinbao-dc maintainers (@jinbao-dc)
"""

EXAMPLES = r"""
- name: Make alice a system administrator
  jinbao.dc.vault_duty:  # name, url, ca_file: module_defaults on group/jinbao.dc.vault
    token: "{{ lookup('jinbao.dc.vault_token', duty='security-admin') }}"
    operator: alice
    common_name: alice.operators.city.jinbao.example
    duty: system-admin
"""

RETURN = r"""
changes:
  description: What was changed (or would be, in check mode), one line each.
  type: list
  elements: str
  returned: always
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.jinbao.dc.plugins.module_utils.pki.grants import DutyGranter
from ansible_collections.jinbao.dc.plugins.module_utils.seams.vault import argument_spec, run_module


def main() -> None:
    module = AnsibleModule(
        argument_spec=argument_spec(
            token=True,
            operator={"type": "str", "required": True},
            common_name={"type": "str", "required": True},
            duty={"type": "str", "choices": ["system-admin", "security-admin", "audit-admin"]},
            state={"type": "str", "choices": ["present", "absent"], "default": "present"},
            reenrol={"type": "bool", "default": False},
            cert_mount={"type": "str", "default": "cert"},
        ),
        required_if=[("state", "present", ["duty"])],
        supports_check_mode=True,
    )
    p = module.params
    run_module(module, lambda client: DutyGranter(p["name"], client, cert_mount=p["cert_mount"],
                                                  check_mode=module.check_mode).run(
        p["operator"], p["common_name"], p["duty"], p["state"], p["reenrol"]))


if __name__ == "__main__":
    main()
