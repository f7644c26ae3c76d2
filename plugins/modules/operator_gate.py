#!/usr/bin/python
# Copyright: (c) 2026, jinbao-dc maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation of the cert gate (plugins/action/operator_gate.py, which runs on the controller)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: operator_gate
short_description: Admit a run only for an operator whose certificate logs in to Vault with the playbook's duty
description:
  - Runs on the controller (an action plugin), once per run. The run goes on only when all of these hold, and
    each refusal names the check; the playbook stops before any change.
  - The audit trail (jinbao.dc.audit_log) is loaded, writes to the project's official sinks (no environment
    override, no other configuration's sinks), and this run's C(run_start) record is in the official log.
  - The operator's certificate chains to the issuing CA (signature verified), is within its validity period, is
    not in the CA's CRL (itself signed by the CA and not stale), is a client certificate naming
    C(<operator>.<domain>), and matches the private key the operator holds.
  - Vault accepts the certificate (auth/cert, which holds the CA's CRL too) and issues a token; the token's
    identity holds exactly one duty (a Vault identity group), and it is the duty the playbook needs
    (plugins/module_utils/pki/duties.py). The playbooks are the ones on the command line, and only the project's
    own playbooks are known; no variable names them.
  - The token is kept in the run's memory (plugins/module_utils/pki/session.py), never in a variable, a file or
    the output; the credential lookup (jinbao.dc.credential) reads the facility's credentials with it, and the
    audit callback revokes it when the run ends.
  - Every decision, granted or refused, is appended as one JSON line to I(record) (UTC time, OS user, operator,
    certificate CN and serial, duty, playbooks, check mode, result), and the audit chain's run record carries it.
extends_documentation_fragment: [jinbao.dc.vault]
options:
  mount: {description: The issuing CA's PKI mount., type: str, default: pki-city}
  operator: {description: Whose certificate to present (JINBAO_OPERATOR)., type: str, required: true}
  cert: {description: "The operator's certificate (PEM, leaf first).", type: path, required: true}
  key: {description: The operator's private key (proof that they hold it)., type: path, required: true}
  domain: {description: The operators' DNS domain., type: str, required: true}
  cert_auth_mount: {description: Vault's certificate login mount., type: str, default: cert}
  cert_auth_role: {description: The certificate login role., type: str, default: operators}
  record: {description: JSON-lines file the decision is appended to., type: path, required: true}
  alertmanager_url:
    description: The Alertmanager asked whether a target room is in alarm (a critical alert firing); empty skips it.
    type: str
  alertmanager_ca_file: {description: CA bundle of the Alertmanager's certificate., type: path}
  alertmanager_required:
    description: Whether an Alertmanager that cannot be asked refuses the run (true) or only warns (false).
    type: bool
    default: true
  alarm_override:
    description:
      - The reason to change a room in spite of its alarm (C(-e alarm_override=...)). The gate then asks a security
        administrator to approve that very override (two-person control, bound to the rooms, the alerts firing and
        the reason; Vault releases C(alarm_override_path) only once approved) and records it. Empty, a room in
        alarm refuses the run.
    type: str
  alarm_override_path:
    description: The path below the KV mount that a control group guards for the override.
    type: str
    default: facility/main/override/room-alarm
  alarm_override_timeout: {description: Seconds to wait for the override's approval., type: int, default: 900}
requirements: [hvac, cryptography]
author: jinbao-dc maintainers (@jinbao-dc)
"""

EXAMPLES = r"""
- name: Admit the operator
  jinbao.dc.operator_gate:
    name: vault-01
    url: https://127.0.0.1:18200
    ca_file: .lab/pki/ca.crt
    operator: alice
    cert: .pki/operators/alice/alice.crt
    key: .pki/operators/alice/alice.key
    domain: operators.city.jinbao.example
    record: reports/audit/gate.jsonl
  run_once: true
"""

RETURN = r"""
identity:
  description: The operator, certificate CN, serial, not_after, issuer, duty and the playbooks; the run's identity.
  type: dict
  returned: success
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.jinbao.dc.plugins.module_utils.seams.vault import argument_spec


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(
        mount={"type": "str", "default": "pki-city"}, operator={"type": "str", "required": True},
        cert={"type": "path", "required": True}, key={"type": "path", "required": True},
        domain={"type": "str", "required": True}, cert_auth_mount={"type": "str", "default": "cert"},
        cert_auth_role={"type": "str", "default": "operators"}, record={"type": "path", "required": True},
        alertmanager_url={"type": "str"}, alertmanager_ca_file={"type": "path"},
        alertmanager_required={"type": "bool", "default": True}, alarm_override={"type": "str"},
        alarm_override_path={"type": "str", "default": "facility/main/override/room-alarm"},
        alarm_override_timeout={"type": "int", "default": 900}),
        supports_check_mode=True)
    module.fail_json(msg="jinbao.dc.operator_gate runs on the controller as an action plugin; call it by its fully "
                         "qualified name from playbooks/gate.yml")


if __name__ == "__main__":
    main()
