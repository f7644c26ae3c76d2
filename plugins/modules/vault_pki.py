#!/usr/bin/python
# Copyright: (c) 2026, jinbao-dc maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Converge a Vault PKI hierarchy: one mount per CA, root -> intermediates, URLs, CRL, auto-tidy, roles."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: vault_pki
short_description: Build and keep a Vault (or OpenBao) PKI hierarchy as declared
description:
  - One PKI secrets-engine mount per CA, in order. A CA without a parent is a root whose key is generated
    inside Vault and never exported (C(internal)); a CA with a parent gets its key inside Vault too, and its
    CSR is signed by the parent's mount.
  - Sets the mount's max lease TTL, the issuing/CRL/OCSP URLs (before any issuance), CRL auto-rebuild,
    auto-tidy and the default issuer's C(leaf_not_after_behavior).
  - Writes the roles; a role may not point at a root CA.
  - Idempotent; reads what is there and changes only what differs. Check mode lists the changes.
  - Fails closed on an unreachable or sealed Vault, with one line naming the field to fix.
  - The logic lives in module_utils/pki/hierarchy.py (Converger). The connection (I(name), I(url), I(ca_file),
    I(timeout)) comes once per play from C(module_defaults) on the C(group/jinbao.dc.vault) action group;
    I(token) must be allowed to manage mounts and PKI, the security administrator's session, or bootstrap.yml's root
    token once.
extends_documentation_fragment: [jinbao.dc.vault, jinbao.dc.vault.token]
options:
  cas:
    description:
      - The CAs, parents first. Each has C(mount), C(common_name), C(ttl), and C(parent) (the parent's mount;
        empty for the root), C(key_type) and C(key_bits).
    type: list
    elements: dict
    required: true
  roles:
    description: The roles, each with C(mount), C(name) and C(settings) (the role's fields as Vault takes them).
    type: list
    elements: dict
    default: []
  auto_tidy_interval: {description: How often auto-tidy runs., type: str, default: 12h}
author: jinbao-dc maintainers (@jinbao-dc)
"""

EXAMPLES = r"""
- name: Build the PKI hierarchy
  jinbao.dc.vault_pki:  # name, url, ca_file: module_defaults on group/jinbao.dc.vault
    token: "{{ lookup('jinbao.dc.vault_token', duty='security-admin') }}"
    cas:
      - {mount: pki-root, common_name: jinbao national root CA, ttl: 87600h, key_type: ec, key_bits: 384}
      - {mount: pki-city, parent: pki-root, common_name: jinbao city CA, ttl: 43800h, key_type: ec, key_bits: 256}
    roles:
      - {mount: pki-city, name: operator, settings: {allowed_domains: [operators.city.example], client_flag: true}}
"""

RETURN = r"""
changes:
  description: What was changed (or would be, in check mode), one line each.
  type: list
  elements: str
  returned: always
chain:
  description: Each CA's mount, subject and issuer, as Vault now has them.
  type: list
  elements: dict
  returned: success
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.jinbao.dc.plugins.module_utils.pki.hierarchy import Converger
from ansible_collections.jinbao.dc.plugins.module_utils.seams.vault import argument_spec, run_module


def main() -> None:
    module = AnsibleModule(
        argument_spec=argument_spec(
            token=True,
            cas={"type": "list", "elements": "dict", "required": True},
            roles={"type": "list", "elements": "dict", "default": []},
            auto_tidy_interval={"type": "str", "default": "12h"},
        ),
        supports_check_mode=True,
    )
    p = module.params
    run_module(module, lambda client: Converger(p["name"], client, p["url"], check_mode=module.check_mode,
                                                auto_tidy_interval=p["auto_tidy_interval"]).run(p["cas"], p["roles"]))


if __name__ == "__main__":
    main()
