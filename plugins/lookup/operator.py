# Copyright: (c) 2026, jinbao-dc maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Who the cert gate admitted in this run (never the token), for change records."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: operator
short_description: The operator the cert gate admitted in this run (operator, CN, serial, duty), for records
description:
  - Returns the identity of the run's operator session (M(jinbao.dc.operator_gate)), that is the operator ID, the
    certificate's CN, serial, not_after and issuer, and the duty. Never the token. An empty dict when no operator
    was admitted.
author: jinbao-dc maintainers (@jinbao-dc)
"""

EXAMPLES = r"""
operator: "{{ lookup('jinbao.dc.operator') }}"
"""

RETURN = r"""
_raw:
  description: The identity (one element).
  type: list
"""

from ansible.plugins.lookup import LookupBase

from ansible_collections.jinbao.dc.plugins.module_utils.pki import session

FIELDS = ("operator", "cn", "serial", "not_after", "issuer", "duty")


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        held = session.get() or {}
        return [{k: held[k] for k in FIELDS if k in held}]
