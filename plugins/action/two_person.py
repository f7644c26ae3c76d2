# Copyright: (c) 2026, jinbao-dc maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Two-person control, the requester's side, on the controller: ask Vault for a credential under a control group,
bound to this very change, wait for an operator of another duty to approve it, then keep it for the run.
See plugins/modules/two_person.py for the options."""

from __future__ import annotations

from ansible import context
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.jinbao.dc.plugins.action.operator_gate import run_playbooks
from ansible_collections.jinbao.dc.plugins.module_utils.pki import session
from ansible_collections.jinbao.dc.plugins.module_utils.pki.approval import (
    ApprovalError,
    ChangeBinding,
    obtain,
    token_request_path,
)
from ansible_collections.jinbao.dc.plugins.module_utils.seams.vault import session_client

display = Display()


def run_limit() -> str:
    """The run's --limit as given (empty: the whole inventory), part of what an approval is bound to."""
    return str(context.CLIARGS.get("subset") or "all")


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _VALID_ARGS = frozenset(("path", "token_role", "change", "what", "timeout", "poll", "mount"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        mount = str(args.get("mount") or "jinbao")
        if bool(args.get("path")) == bool(args.get("token_role")):
            result.update(failed=True, msg="two-person control: give path (a credential) or token_role (a change "
                                           "token), one of them. Nothing was changed.")
            return result
        try:
            path = (token_request_path(str(args["token_role"])) if args.get("token_role")
                    else f"{mount}/data/{str(args.get('path') or '').strip('/')}")
        except ValueError as exc:
            result.update(failed=True, msg=f"two-person control: {exc}. Nothing was changed.")
            return result
        what = str(args.get("what") or path)
        held = session.get()
        if not held:
            result.update(failed=True, msg=f"two-person control: no operator session in this run; {what} needs "
                                           "the cert gate first. Nothing was changed.")
            return result
        if session.approved(path) is not None:
            result.update(changed=False, approved=True, reused=True, path=path)
            return result
        binding = ChangeBinding(playbook=",".join(run_playbooks()), limit=run_limit(),
                                digest=ChangeBinding.digest_of(str(args.get("change") or "")),
                                requester=str(held["cn"]), path=path)
        approver = ("an audit administrator" if args.get("token_role") and held.get("duty") == "security-admin"
                    else "a security administrator")
        try:
            data, done, pending = obtain(session_client(held), path, binding, what=what, approver=approver,
                                         kv_mount=mount, timeout=float(args.get("timeout") or 900),
                                         poll=float(args.get("poll") or 2), say=display.display)
        except ApprovalError as exc:
            result.update(failed=True, accessor=exc.accessor, msg=f"two-person control: {exc}. Nothing was changed.")
            return result
        session.approve(path, data)
        approvals = done.get("approvals") or [{}]
        result.update(changed=False, approved=True, path=path, digest=binding.digest, accessor=pending.accessor,
                      approver=approvals[-1].get("name"),
                      msg=f"{what}: change {binding.digest} approved; the "
                          f"{'change token is' if args.get('token_role') else 'credential is'} released for this run")
        return result
