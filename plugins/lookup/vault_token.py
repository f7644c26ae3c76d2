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
  change:
    description:
      - Instead of the session's own token, the change token of this token role (e.g. C(jinbao-change-ca)) that a
        second operator approved in this run (M(jinbao.dc.two_person) with I(token_role)). Fails, naming the
        role, when no such approval was redeemed in this run (the run's own token lacks those capabilities).
    type: str
author: jinbao-dc maintainers (@jinbao-dc)
"""

EXAMPLES = r"""
token: "{{ lookup('jinbao.dc.vault_token', duty='security-admin') }}"
change_token: "{{ lookup('jinbao.dc.vault_token', duty='security-admin', change='jinbao-change-ca') }}"
"""

RETURN = r"""
_raw:
  description: The token (one element).
  type: list
"""

from ansible.errors import AnsibleError
from ansible.plugins.lookup import LookupBase

from ansible_collections.jinbao.dc.plugins.module_utils.pki import session
from ansible_collections.jinbao.dc.plugins.module_utils.pki.approval import token_request_path

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
        change = self.get_option("change")
        if change:
            try:
                approved = session.approved(token_request_path(change)) or {}
            except ValueError as exc:
                raise AnsibleError(f"vault_token: change: {exc}") from None
            if not approved.get("client_token"):
                raise AnsibleError(f"vault_token: no approved change token {change} in this run: a second operator "
                                   "approves the change first (jinbao.dc.two_person with token_role); nothing was "
                                   "changed")
            return [approved["client_token"]]
        return [held["token"]]
