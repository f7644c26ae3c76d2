#!/usr/bin/python
# Copyright: (c) 2026, jinbao-dc maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Converge Vault's access controls: policies, audit devices, KV mounts, certificate login, duty groups."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: vault_access
short_description: Keep Vault's policies, audit devices, KV mounts, certificate login and duty groups as declared
description:
  - Writes each ACL policy whose text differs from what Vault has.
  - Enables each audit device that is missing (HashiCorp Vault); OpenBao creates audit devices only from its
    server configuration, so there the module checks them and names any that is missing. A device whose type
    or options differ is reported, not replaced (replacing a device loses its hash salt), and the module
    fails naming it.
  - Enables each KV version 2 mount that is missing (the facility's credentials, the audit anchors).
  - Enables TLS certificate login (auth/cert) with roles that trust the issuing CA, and loads the CA's current
    CRL into it, so that a revoked operator cannot log in.
  - Keeps the duty groups (internal identity groups) with their policies; their members are granted by
    M(jinbao.dc.vault_duty).
  - Tunes each PKI mount so that the named request and response fields are audited in clear (not HMAC'd).
  - Idempotent; check mode lists the changes.
  - The logic lives in module_utils/pki/access.py (AccessConverger); the connection (I(name), I(url),
    I(ca_file), I(timeout)) comes once per play from C(module_defaults) on the C(group/jinbao.dc.vault) action
    group, and I(token) is the bootstrap token or the security administrator's session token.
extends_documentation_fragment: [jinbao.dc.vault, jinbao.dc.vault.token]
options:
  policies: {description: Policy name to its HCL text., type: dict, default: {}}
  audit_devices:
    description: The audit devices, each with C(path), C(type) and C(options).
    type: list
    elements: dict
    default: []
  kv_mounts:
    description: KV version 2 mounts, each with C(path) and C(description) (the credentials, the audit anchors).
    type: list
    elements: dict
    default: []
  cert_auth:
    description:
      - The operators' certificate login. C(mount) (auth path, default C(cert)), C(ca_mount) (the issuing CA's PKI
        mount, whose certificate the roles trust and whose CRL is loaded), C(roles) (each with C(name),
        C(allowed_common_names), C(token_ttl), C(token_max_ttl) in seconds, C(token_policies)).
    type: dict
    default: {}
  groups:
    description: The duties, internal identity groups, name to their policies (members are granted by vault_duty).
    type: dict
    default: {}
  audited_fields:
    description: PKI mount to C(request) and C(response) lists of fields audited in clear.
    type: dict
    default: {}
  token_roles:
    description:
      - The roles of the change tokens of two-person control, each with C(name), C(policies) and C(ttl) (seconds).
        Each makes a non-renewable child of the requester's token with only those policies. Whose create needs a second
        operator's approval is decided by the control group on C(auth/token/create/<name>) in the duties' policies.
    type: list
    elements: dict
    default: []
author: jinbao-dc maintainers (@jinbao-dc)
"""

EXAMPLES = r"""
- name: Policies, audit devices, the credentials' mount, certificate login and the duties
  jinbao.dc.vault_access:  # name, url, ca_file: module_defaults on group/jinbao.dc.vault
    token: "{{ lookup('jinbao.dc.vault_token', duty='security-admin') }}"
    policies:
      jinbao-system-admin: 'path "jinbao/data/facility/*" { capabilities = ["read"] }'
    audit_devices:
      - {path: file, type: file, options: {file_path: /var/log/vault/audit.log}}
    kv_mounts:
      - {path: jinbao, description: facility credentials}
    cert_auth:
      mount: cert
      ca_mount: pki-city
      roles:
        - {name: operators, allowed_common_names: ["*.operators.city.example"], token_ttl: 3600, token_max_ttl: 14400}
    groups:
      jinbao-duty-system-admin: [jinbao-system-admin]
"""

RETURN = r"""
changes:
  description: What was changed (or would be, in check mode), one line each.
  type: list
  elements: str
  returned: always
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.jinbao.dc.plugins.module_utils.pki.access import AccessConverger
from ansible_collections.jinbao.dc.plugins.module_utils.seams.vault import argument_spec, run_module


def main() -> None:
    module = AnsibleModule(
        argument_spec=argument_spec(  # the connection and the token (doc fragments jinbao.dc.vault, .token)
            token=True,
            policies={"type": "dict", "default": {}},
            audit_devices={"type": "list", "elements": "dict", "default": []},
            audited_fields={"type": "dict", "default": {}},
            kv_mounts={"type": "list", "elements": "dict", "default": []},
            cert_auth={"type": "dict", "default": {}},
            groups={"type": "dict", "default": {}},
            token_roles={"type": "list", "elements": "dict", "default": [], "no_log": False},  # names, not tokens
        ),
        supports_check_mode=True,
    )
    p = module.params
    run_module(module, lambda client: AccessConverger(p["name"], client, check_mode=module.check_mode).run(
        p["policies"], p["audit_devices"], p["audited_fields"], p["kv_mounts"], p["cert_auth"], p["groups"],
        p["token_roles"]))


if __name__ == "__main__":
    main()
