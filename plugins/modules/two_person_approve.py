#!/usr/bin/python
# Copyright: (c) 2026, jinbao-dc maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation of the two_person_approve action (plugins/action/two_person_approve.py)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: two_person_approve
short_description: Approve a pending two-person change, as the second operator, for that very change only
description:
  - Runs on the controller (an action plugin) with the approver's session (the cert gate's; playbooks/approve.yml
    is the security administrator's). Reads Vault's own view of the request behind I(accessor)
    (sys/control-group/request) joined with the change it is bound to, and approves it only when that change is
    the one given here (I(digest), and I(playbook) and I(limit) when given). An approval for a different change,
    by the requester, or by someone outside the approver group is refused, and Vault itself refuses the last
    two as well.
  - The approval is recorded in Vault (C(jinbao/approvals/done/<accessor>)) and in the audit trail of this run.
options:
  accessor: {description: The request's accessor (the requesting run prints it)., type: str, required: true}
  digest:
    description: The SHA-256 of the change being approved (the requesting run prints it).
    type: str
    required: true
  playbook: {description: The playbook(s) the change must be for., type: str}
  limit: {description: The --limit the change must be for (C(all) for none)., type: str}
  mount: {description: The KV v2 mount of the approval records., type: str, default: jinbao}
author: jinbao-dc maintainers (@jinbao-dc)
"""

EXAMPLES = r"""
- name: Approve the core pair change of ticket 4711
  jinbao.dc.two_person_approve:
    accessor: 9c8ezUfl1zWWgXWUXh6bQ3Hc
    digest: 3f2b0c9e5d7a4b1c8e6f0a2d4c6b8e1f3a5c7e9b1d3f5a7c9e1b3d5f7a9c1e3f
"""

RETURN = r"""
approved: {description: Whether Vault now counts the request as approved., type: bool, returned: success}
change:
  description: The change approved, with its playbook, limit, digest, requester and path.
  type: dict
  returned: success
"""

from ansible.module_utils.basic import AnsibleModule


def main() -> None:
    module = AnsibleModule(argument_spec={"accessor": {"type": "str", "required": True},
                                          "digest": {"type": "str", "required": True}, "playbook": {"type": "str"},
                                          "limit": {"type": "str"}, "mount": {"type": "str", "default": "jinbao"}},
                           supports_check_mode=True)
    module.fail_json(msg="jinbao.dc.two_person_approve runs on the controller as an action plugin; call it by its "
                         "fully qualified name from playbooks/approve.yml")


if __name__ == "__main__":
    main()
