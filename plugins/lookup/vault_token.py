# Copyright: (c) 2026, jinbao-dc maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The run's Vault token, for the jinbao.dc Vault modules' C(token) option (no_log there)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: vault_token
short_description: The Vault token of the run's operator session, for the jinbao.dc Vault modules
description:
  - Returns the token the cert gate (M(jinbao.dc.operator_gate)) obtained by the operator's certificate in this
    run, so a play can hand it to the Vault modules' C(token) option (which is no_log). Its rights are the
    operator's duty in Vault.
  - Fails when no operator was admitted in this run, or when the admitted operator's duty is not I(duty).
options:
  duty:
    description: The duty the token must carry (system-admin, security-admin, audit-admin).
    type: str
author: jinbao-dc maintainers (@jinbao-dc)
"""

EXAMPLES = r"""
token: "{{ lookup('jinbao.dc.vault_token', duty='security-admin') }}"
"""

RETURN = r"""
_raw:
  description: The token (one element).
  type: list
"""

from ansible.errors import AnsibleError
from ansible.plugins.lookup import LookupBase

from ansible_collections.jinbao.dc.plugins.module_utils.pki import session

NO_SESSION = ("no operator session in this run: the Vault token exists only after the cert gate "
              "(jinbao.dc.operator_gate) has admitted the operator by their certificate")


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        held = session.get()
        if not held:
            raise AnsibleError(NO_SESSION)
        duty = self.get_option("duty")
        if duty and held.get("duty") != duty:
            raise AnsibleError(f"vault_token: {held.get('operator')} holds the duty {held.get('duty')}, and this "
                               f"needs {duty}")
        return [held["token"]]
