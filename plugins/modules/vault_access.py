#!/usr/bin/python
# Copyright: (c) 2026, jinbao-dc maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Converge Vault's access controls for the PKI: ACL policies, audit devices, the automation AppRole."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: vault_access
short_description: Keep Vault's policies, audit devices, AppRole and audited PKI fields as declared
description:
  - Writes each ACL policy whose text differs from what Vault has.
  - Enables each audit device that is missing (HashiCorp Vault); OpenBao creates audit devices only from its
    server configuration, so there the module checks them and names any that is missing. A device whose type
    or options differ is reported, not replaced (replacing a device loses its hash salt), and the module
    fails naming it.
  - Enables the AppRole auth method and writes each AppRole (its policies and token TTLs).
  - Writes a secret ID for each role to its C(file) (mode 0600) when the file is missing or its secret ID no
    longer logs in; role IDs and secret IDs are never returned.
  - Tunes each PKI mount so that the named request and response fields are audited in clear (not HMAC'd).
  - Idempotent; check mode lists the changes.
  - The logic lives in module_utils/pki/access.py (AccessConverger); the connection (I(name), I(url),
    I(ca_file), I(timeout)) comes once per play from C(module_defaults) on the C(group/jinbao.dc.vault) action
    group, and I(token) is the bootstrap token.
extends_documentation_fragment: [jinbao.dc.vault, jinbao.dc.vault.token]
options:
  policies: {description: Policy name to its HCL text., type: dict, default: {}}
  audit_devices:
    description: The audit devices, each with C(path), C(type) and C(options).
    type: list
    elements: dict
    default: []
  approles:
    description: The AppRoles, each with C(mount), C(role), C(policies), C(token_ttl), C(token_max_ttl), C(file).
    type: list
    elements: dict
    default: []
  audited_fields:
    description: PKI mount to C(request) and C(response) lists of fields audited in clear.
    type: dict
    default: {}
author: jinbao-dc maintainers (@jinbao-dc)
"""

EXAMPLES = r"""
- name: Policies, audit devices and the automation AppRole
  jinbao.dc.vault_access:  # name, url, ca_file: module_defaults on group/jinbao.dc.vault
    token: "{{ vault_bootstrap_token }}"
    policies:
      automation: 'path "pki-city/sign/operator" { capabilities = ["update"] }'
    audit_devices:
      - {path: file, type: file, options: {file_path: /var/log/vault/audit.log}}
    approles:
      - {mount: approle, role: automation, policies: [automation], file: /etc/jinbao/vault-automation.json}
"""

RETURN = r"""
changes:
  description: What was changed (or would be, in check mode), one line each.
  type: list
  elements: str
  returned: always
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.jinbao.dc.plugins.module_utils.pki.access import AccessConverger
from ansible_collections.jinbao.dc.plugins.module_utils.seams.vault import (
    HAS_HVAC,
    HVAC_IMPORT_ERROR,
    VaultError,
    argument_spec,
    connect,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec=argument_spec(  # the connection and the token (doc fragments jinbao.dc.vault, .token)
            token=True,
            policies={"type": "dict", "default": {}},
            audit_devices={"type": "list", "elements": "dict", "default": []},
            approles={"type": "list", "elements": "dict", "default": []},
            audited_fields={"type": "dict", "default": {}},
        ),
        supports_check_mode=True,
    )
    if not HAS_HVAC:
        module.fail_json(msg=missing_required_lib("hvac"), exception=str(HVAC_IMPORT_ERROR))
    p = module.params
    try:
        client = connect(p["name"], p["url"], p["token"], p["ca_file"], p["timeout"])
        result = AccessConverger(p["name"], client, check_mode=module.check_mode).run(
            p["policies"], p["audit_devices"], p["approles"], p["audited_fields"])
    except VaultError as exc:
        module.fail_json(msg=str(exc), field=exc.field)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
