# Copyright: (c) 2026, jinbao-dc maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A role's first task: fail closed unless the cert gate admitted an operator of the right duty in this run."""

from __future__ import annotations

from ansible.plugins.action import ActionBase

from ansible_collections.jinbao.dc.plugins.module_utils.pki import session


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _VALID_ARGS = frozenset(("duty", "role"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        duty, role = self._task.args.get("duty"), self._task.args.get("role") or "this role"
        held = session.get()
        if not held:
            result.update(failed=True, msg=f"{role}: no operator session in this run: {role} works on the facility "
                                           "and runs only after the cert gate (playbooks/gate.yml, "
                                           "jinbao.dc.operator_gate) has admitted the operator by their "
                                           "certificate. --limit, --tags or --start-at-task that leave the gate "
                                           "out, or a playbook of one's own, stop here; nothing was changed.")
            return result
        if duty and held.get("duty") != duty:
            result.update(failed=True, msg=f"{role}: {held.get('operator')} holds the duty {held.get('duty')}; "
                                           f"{role} is the {duty}'s. Nothing was changed.")
            return result
        result.update(changed=False, operator=held.get("operator"), cn=held.get("cn"), duty=held.get("duty"))
        return result
