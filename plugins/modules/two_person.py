#!/usr/bin/python
# Copyright: (c) 2026, jinbao-dc maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation of the two_person action (plugins/action/two_person.py)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: two_person
short_description: A credential or change token under two-person control, approved by a second operator
description:
  - Runs on the controller (an action plugin) with the run's operator session. Reads the credential at I(path),
    which a Vault control group guards (Vault answers only a response-wrapping token). The request is bound to this
    change (the run's playbooks, its --limit, the SHA-256 of I(change), the requester's certificate CN) and
    recorded in Vault (C(jinbao/approvals/pending/<accessor>)).
  - With I(token_role) instead of I(path), what Vault guards is the create of a change token of that token role
    (C(auth/token/create/<role>)); once approved, a short-lived child of the operator's token whose policy holds
    the capabilities of a high-risk change that no duty's own token has (CA operations C(jinbao-change-ca),
    offboarding C(jinbao-change-offboard)); lookup C(jinbao.dc.vault_token) with C(change=<role>) hands it to
    the modules of that change.
  - Prints the accessor, the change's digest and the command with which an operator of the approver duty (a
    security administrator for the system administrator's changes, an audit administrator for the security
    administrator's) approves it (C(playbooks/approve.yml)), then waits, up to I(timeout) seconds, for the
    approval. The requester cannot approve (Vault refuses the owner of the request;
    plugins/module_utils/pki/approval.py refuses first).
  - Once approved, unwraps the original wrap (the read runs with the requester's token), revokes the wrap so it
    cannot be used twice, and keeps the credential in the run's memory for its later tasks
    (lookup C(jinbao.dc.credential) finds it there). Nothing is changed on any device by this module.
  - Check mode asks for the approval of a credential too, since a check run reads the same credential (to compare
    the running configuration) and Vault releases it only to an approved change. A change token is not asked for
    in check mode (callers skip the task there, since a plan needs only the operator's own token).
options:
  path:
    description: The credential's path below the KV mount (e.g. C(facility/main/netdev/core-pair)).
    type: str
  token_role:
    description: Instead of I(path), the token role of a change token (e.g. C(jinbao-change-ca)).
    type: str
  change:
    description: The change (the intended configuration or plan) the approval is bound to; its SHA-256 is shown.
    type: str
    required: true
  what: {description: A name for the messages (e.g. the core switch pair)., type: str}
  timeout: {description: Seconds to wait for the approval., type: int, default: 900}
  poll: {description: Seconds between looks for the approval., type: float, default: 2}
  mount: {description: The KV v2 mount., type: str, default: jinbao}
author: jinbao-dc maintainers (@jinbao-dc)
"""

EXAMPLES = r"""
- name: A second operator approves this change of the core pair
  jinbao.dc.two_person:
    path: facility/main/netdev/core-pair
    change: "{{ groups['core_switches'] | map('extract', hostvars, '__network_intended') | join('\n') }}"
    what: the core switch pair
  run_once: true

- name: An audit administrator approves this change of the PKI (a change token for the next tasks)
  jinbao.dc.two_person:
    token_role: jinbao-change-ca
    change: "{{ __vault_pki_plan | to_json }}"
    what: the PKI (CA operations)
  run_once: true
"""

RETURN = r"""
approved: {description: Whether the credential was released., type: bool, returned: success}
digest: {description: The SHA-256 of the change the approval is bound to., type: str, returned: success}
accessor: {description: The wrapping token's accessor (the request's name in Vault)., type: str, returned: success}
approver: {description: Who approved., type: str, returned: success}
"""

from ansible.module_utils.basic import AnsibleModule


def main() -> None:
    module = AnsibleModule(argument_spec={"path": {"type": "str"}, "token_role": {"type": "str", "no_log": False},
                                          "change": {"type": "str", "required": True}, "what": {"type": "str"},
                                          "timeout": {"type": "int", "default": 900},
                                          "poll": {"type": "float", "default": 2},
                                          "mount": {"type": "str", "default": "jinbao"}},
                           required_one_of=[("path", "token_role")], mutually_exclusive=[("path", "token_role")],
                           supports_check_mode=True)
    module.fail_json(msg="jinbao.dc.two_person runs on the controller as an action plugin; call it by its fully "
                         "qualified name from a playbook")


if __name__ == "__main__":
    main()
