"""The lab's second person: lab-secadmin approving the two-person changes the lab's system administrator asks for,
and lab-auditor those the lab's security administrator asks for (CA operations, offboarding: change tokens).

A TEST DOUBLE OF A HUMAN. On a site, an operator of the approver duty reads the change (its digest against the
ticket) and runs playbooks/approve.yml. In the lab there is nobody to do that while `make demo` or a test runs
site.yml, network.yml, pki.yml or operator_offboard.yml, so this loop plays the part: it lists the pending
requests in Vault (jinbao/approvals/pending/, as lab-secadmin, by certificate), and approves each one through
playbooks/approve.yml with the digest the request is bound to: a real, gated, audited run, which Vault checks like
any other approval (a second entity, of the approver group; the requester could not do it).

    python -m lab.approver [--seconds 1800] [--poll 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from lab.common import ROOT, LabError
from lab.security import AUDITOR, SECURITY_ADMIN, _playbook, login


def pending(client) -> dict[str, dict]:
    """The requests not yet approved: accessor -> their record (binding, requester)."""
    import hvac

    try:
        keys = client.secrets.kv.v2.list_secrets("approvals/pending", mount_point="jinbao")["data"]["keys"]
    except hvac.exceptions.InvalidPath:
        return {}
    found = {}
    for accessor in keys:
        try:
            client.secrets.kv.v2.read_secret_version(f"approvals/done/{accessor}", mount_point="jinbao",
                                                     raise_on_deleted_version=True)
            continue  # approved already
        except hvac.exceptions.InvalidPath:
            pass
        record = client.secrets.kv.v2.read_secret_version(f"approvals/pending/{accessor}", mount_point="jinbao",
                                                          raise_on_deleted_version=True)["data"]["data"]
        found[accessor] = record
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lab.approver", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1800, help="how long to keep approving")
    parser.add_argument("--poll", type=float, default=2)
    parser.add_argument("--inventory", default=str(ROOT / "inventory" / "lab"))
    args = parser.parse_args(argv)
    end, tried = time.monotonic() + args.seconds, set()
    client = None
    while time.monotonic() < end:
        try:
            client = client or login(SECURITY_ADMIN, timeout=10)
            for accessor, record in pending(client).items():
                if accessor in tried:
                    continue
                tried.add(accessor)
                binding = record.get("binding") or {}
                # a change token is the security administrator's request: the audit administrator approves it
                approver = AUDITOR if str(binding.get("path", "")).startswith("auth/token/create/") else SECURITY_ADMIN
                try:
                    line = _playbook(Path(args.inventory), "approve.yml", "-e", f"accessor={accessor}",
                                     "-e", f"digest={binding.get('digest')}", operator=approver)
                    print(f"lab.approver: {approver} approved {accessor} ({binding.get('playbook')}, limit "
                          f"{binding.get('limit')}, by {binding.get('requester')}): {line}", flush=True)
                except LabError as exc:  # expired, or refused: say so and go on
                    print(f"lab.approver: {accessor} not approved: {str(exc).splitlines()[-3:]}", flush=True)
        except Exception as exc:  # Vault restarting, a token expired: log in again next time
            print(f"lab.approver: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
            client = None
        time.sleep(args.poll)
    return 0


if __name__ == "__main__":
    sys.exit(main())
