"""The three duties of GB/T 22239-2019 level 3's separation of administrators (三员分立), as the code knows them.

A duty is a Vault identity group (jinbao-duty-<duty>) whose policy (jinbao-<duty>) decides which Vault paths a
token may use. Which playbook needs which duty is written here, in code, not in a variable: no -e, group_vars or
role parameter can change it. The gate (plugins/action/operator_gate.py) reads the duty from the token that the
operator's certificate obtained, never from the inventory.
"""

from __future__ import annotations

from collections.abc import Iterable

SYSTEM, SECURITY, AUDIT = "system-admin", "security-admin", "audit-admin"
DUTIES = (SYSTEM, SECURITY, AUDIT)
ANY = "any"  # a playbook every duty may run (whoami.yml: who am I, and what may my duty read)
TITLES = {SYSTEM: "system administrator (系统管理员)", SECURITY: "security administrator (安全管理员)",
          AUDIT: "audit administrator (审计管理员)"}

# Playbook (file name without .yml) -> the duty that may run it. A playbook not listed here is not gated.
PLAYBOOK_DUTY: dict[str, str] = {
    # the system administrator changes (and reads) the facility
    **dict.fromkeys(("site", "discover", "plan", "network", "migrate", "physical", "decommission", "monitoring",
                     "service_certs", "report"), SYSTEM),
    # the security administrator: people, duties, the PKI and the credentials in Vault
    **dict.fromkeys(("pki", "operator_onboard", "operator_renew", "operator_offboard", "credentials"), SECURITY),
    # the audit administrator reads the trail, the reports and the evidence
    **dict.fromkeys(("evidence",), AUDIT),
    "whoami": ANY,
    # the second person of a two-person change: a security administrator approves the system administrator's
    # changes, an audit administrator the security administrator's; Vault counts only the approver group's members
    "approve": ANY,
}


def group_name(duty: str) -> str:
    return f"jinbao-duty-{duty}"


def policy_name(duty: str) -> str:
    return f"jinbao-{duty}"


class DutyError(Exception):
    """A duty check failed; str() is one line naming the operator, the check and the reason."""

    def __init__(self, subject: str, check: str, message: str) -> None:
        super().__init__(f"{subject}: {check}: {message}")
        self.subject, self.check, self.message = subject, check, message


def duty_of(subject: str, identity_policies: Iterable[str]) -> str:
    """The one duty a token's identity policies grant; DutyError for none, or for two (separation broken)."""
    held = sorted(d for d in DUTIES if policy_name(d) in set(identity_policies or ()))
    if not held:
        raise DutyError(subject, "duty", "holds no duty in Vault (no jinbao-duty-* group); a security "
                                         "administrator grants one (operator_onboard.yml -e operator=<id> "
                                         "-e duty=<duty>)")
    if len(held) > 1:
        raise DutyError(subject, "duty", f"holds {len(held)} duties in Vault ({', '.join(held)}): one person "
                                         "holds one duty; the run is refused until a security administrator "
                                         "removes all but one")
    return held[0]


def required_duty(playbook: str) -> str | None:
    return PLAYBOOK_DUTY.get(playbook)


def check_playbooks(subject: str, duty: str, playbooks: Iterable[str]) -> None:
    """Refuse when any playbook of the run needs another duty (or is not one jinbao-dc knows of)."""
    for playbook in playbooks:
        need = PLAYBOOK_DUTY.get(playbook)
        if need is None:
            shown = playbook if "/" in playbook else f"{playbook}.yml"
            raise DutyError(subject, "playbook", f"{shown} is not a playbook of jinbao-dc that needs a duty; the "
                                                 "gate admits only the project's own playbooks (playbooks/*.yml)")
        if need not in (duty, ANY):
            raise DutyError(subject, "duty", f"{playbook}.yml is the {TITLES[need]}'s; this certificate's duty is "
                                             f"{TITLES[duty]}")


def grant_conflict(subject: str, duty: str, held: Iterable[str]) -> None:
    """Refuse a grant that would give one person a second duty."""
    others = sorted(set(held) - {duty})
    if others:
        raise DutyError(subject, "grant", f"already holds the duty {', '.join(others)}; one person holds one "
                                          f"duty (GB/T 22239-2019 三员分立): the grant of {duty} is refused")
