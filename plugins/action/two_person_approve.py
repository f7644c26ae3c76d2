# Copyright: (c) 2026, jinbao-dc maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Two-person control, the approver's side, on the controller: look at the pending change and approve that very
change, with the approver's own session (the cert gate's). See plugins/modules/two_person_approve.py."""

from __future__ import annotations

from ansible.plugins.action import ActionBase

from ansible_collections.jinbao.dc.plugins.module_utils.pki import session
from ansible_collections.jinbao.dc.plugins.module_utils.pki.approval import (
    ApprovalError,
    ChangeBinding,
    authorize,
    describe,
)
from ansible_collections.jinbao.dc.plugins.module_utils.seams.vault import session_client


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _VALID_ARGS = frozenset(("accessor", "digest", "playbook", "limit", "mount"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        accessor, mount = str(args.get("accessor") or ""), str(args.get("mount") or "jinbao")
        held = session.get()
        if not held:
            result.update(failed=True, msg="two-person approval: no operator session in this run (the cert gate "
                                           "admits the approver first). Nothing was approved.")
            return result
        client = session_client(held)
        try:
            view = describe(client, accessor, mount)
            binding = ChangeBinding.from_record(view["binding"])
            expect = ChangeBinding(playbook=str(args.get("playbook") or binding.playbook),
                                   limit=str(args.get("limit") or binding.limit), digest=str(args.get("digest") or ""),
                                   requester=binding.requester, path=binding.path)
            if self._task.check_mode:
                differ = binding.differences(expect)
                result.update(changed=not differ, change=view["binding"],
                              msg=("check mode: would approve" if not differ else
                                   f"check mode: would refuse, the change differs in {', '.join(differ)}"))
                return result
            after = authorize(client, accessor, expect, mount)
        except (ApprovalError, ValueError) as exc:
            result.update(failed=True, msg=f"two-person approval: {exc}. Nothing was approved.")
            return result
        result.update(changed=True, approved=bool(after.get("approved")), change=view["binding"],
                      msg=f"approved change {expect.digest} ({binding.playbook}, limit {binding.limit}) requested "
                          f"by {binding.requester}, as {held['cn']}")
        return result
