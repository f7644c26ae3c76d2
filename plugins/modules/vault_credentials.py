#!/usr/bin/python
# Copyright: (c) 2026, jinbao-dc maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Put the facility's credentials into Vault's KV v2 (the security administrator's job)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: vault_credentials
short_description: Put the facility's credentials into Vault (KV v2), write-only
description:
  - Writes each credential in I(credentials) to C(<mount>/data/<path>) when it differs from what Vault holds.
    The security administrator's policy may create and update these paths but not read them; what differs is
    told by a slow salted fingerprint kept in the secret's custom metadata, so a second run changes nothing.
  - Paths follow the layout C(facility/<room>/<system>/<name>) (docs/SECURITY.md); any other is refused.
  - Values are never returned or shown; the diff names paths and field names only.
  - The logic lives in module_utils/pki/credentials.py (CredentialWriter).
extends_documentation_fragment: [jinbao.dc.vault, jinbao.dc.vault.token]
options:
  credentials:
    description: Path to the secret's fields (each a non-empty string).
    type: dict
    required: true
  mount: {description: The KV v2 mount., type: str, default: jinbao}
author: jinbao-dc maintainers (@jinbao-dc)
"""

EXAMPLES = r"""
- name: Put the vCenter's account into Vault
  jinbao.dc.vault_credentials:  # name, url, ca_file: module_defaults on group/jinbao.dc.vault
    token: "{{ lookup('jinbao.dc.vault_token', duty='security-admin') }}"
    credentials:
      facility/main/vcenter/vc-central: {username: administrator@vsphere.local, password: "{{ new_password }}"}
  no_log: true
"""

RETURN = r"""
changes:
  description: The paths written (or to be, in check mode) and their field names, never values.
  type: list
  elements: str
  returned: always
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.jinbao.dc.plugins.module_utils.pki.credentials import CredentialWriter
from ansible_collections.jinbao.dc.plugins.module_utils.seams.vault import argument_spec, run_module


def main() -> None:
    module = AnsibleModule(
        argument_spec=argument_spec(
            token=True,
            credentials={"type": "dict", "required": True, "no_log": True},
            mount={"type": "str", "default": "jinbao"},
        ),
        supports_check_mode=True,
    )
    p = module.params
    run_module(module, lambda client: CredentialWriter(p["name"], client, p["mount"],
                                                       check_mode=module.check_mode).run(p["credentials"]))


if __name__ == "__main__":
    main()
