#!/usr/bin/python
# Copyright: (c) 2026, jinbao-dc maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation of the operator_session action (plugins/action/operator_session.py)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: operator_session
short_description: Fail closed unless the cert gate admitted an operator of the right duty in this run
description:
  - The first task of every role that changes the facility. It passes only when the cert gate
    (M(jinbao.dc.operator_gate)) admitted an operator by their certificate in this very run and that operator's
    duty in Vault is I(duty). The session lives in the ansible-playbook process's memory; no variable, file or
    environment variable can supply it, so --limit, --tags or --start-at-task that leave the gate out, or a
    playbook of one's own that lists the roles, stop here before anything is changed.
  - Runs on the controller (an action plugin); it changes nothing.
options:
  duty:
    description: The duty the role needs.
    type: str
    choices: [system-admin, security-admin, audit-admin]
  role: {description: The role's name (for the message)., type: str}
author: jinbao-dc maintainers (@jinbao-dc)
"""

EXAMPLES = r"""
- name: Fail closed without the gate's session
  jinbao.dc.operator_session:
    duty: system-admin
    role: migrate
"""

RETURN = r"""
operator: {description: The admitted operator., type: str, returned: success}
cn: {description: Their certificate's CN., type: str, returned: success}
duty: {description: Their duty in Vault., type: str, returned: success}
"""

from ansible.module_utils.basic import AnsibleModule


def main() -> None:
    module = AnsibleModule(argument_spec={"duty": {"type": "str", "choices": ["system-admin", "security-admin",
                                                                             "audit-admin"]},
                                          "role": {"type": "str"}}, supports_check_mode=True)
    module.fail_json(msg="jinbao.dc.operator_session runs on the controller as an action plugin; call it by its "
                         "fully qualified name from a playbook")


if __name__ == "__main__":
    main()
