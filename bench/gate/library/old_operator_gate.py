# Copyright: (c) 2026, jinbao-dc maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""bench/gate baseline: the cert gate as it was before issue 15 (commit 3e37a75), copied verbatim: the
certificate checked on the controller against the CA and CRL read from Vault, an authorisation list; no Vault
login, no duty, no session."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: operator_gate
short_description: Let a changing playbook start only for an operator with a valid, authorised certificate
description:
  - Reads the issuing CA's certificate and CRL from Vault (public endpoints, no token), then checks the
    operator's certificate. It must chain to the issuing CA (signature verified), be within its validity
    period, not be in the CRL (the CRL itself must be signed by the CA and not stale), be a client
    certificate naming C(<operator>.<domain>), and match the private key the operator holds. The operator
    must be authorised for the playbook in I(authorisations).
  - A failed check fails the task with the operator, the check and the reason; the playbook stops before any
    change. A sealed or unreachable Vault fails closed.
  - Every decision, granted or refused, is appended as one JSON line to I(record) (UTC time, OS user,
    operator, certificate CN and serial, playbook, check mode, result), which the audit trail consumes. This
    happens in check mode too; it records who looked, and changes nothing in the facility.
extends_documentation_fragment: [jinbao.dc.vault]
options:
  mount: {description: The issuing CA's PKI mount., type: str, default: pki-city}
  operator: {description: The operator running the playbook (jinbao_operator)., type: str, required: true}
  playbook: {description: The playbook being started (its file name without .yml)., type: str, required: true}
  cert: {description: "The operator's certificate (PEM, leaf first).", type: path, required: true}
  key: {description: The operator's private key (proof that they hold it)., type: path, required: true}
  domain: {description: The operators' DNS domain., type: str, required: true}
  authorisations:
    description: Operator ID to the list of playbooks they may run (jinbao_operator_authorisations).
    type: dict
    required: true
  record: {description: JSON-lines file the decision is appended to., type: path, required: true}
requirements: [hvac, cryptography]
author: jinbao-dc maintainers (@jinbao-dc)
"""

EXAMPLES = r"""
- name: Check the operator's certificate before any change
  jinbao.dc.operator_gate:
    name: vault-01
    url: https://127.0.0.1:18200
    ca_file: .lab/pki/ca.crt
    operator: alice
    playbook: migrate
    cert: .pki/operators/alice/alice.crt
    key: .pki/operators/alice/alice.key
    domain: operators.city.jinbao.example
    authorisations: {alice: [migrate, physical]}
    record: reports/audit/gate.jsonl
"""

RETURN = r"""
identity:
  description: The operator, certificate CN, serial, not_after and issuer, and the playbook; the run's identity.
  type: dict
  returned: success
"""

import getpass
import json
import os
from datetime import UTC, datetime

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.jinbao.dc.plugins.module_utils.pki.certificates import (
    CRYPTOGRAPHY_IMPORT_ERROR,
    HAS_CRYPTOGRAPHY,
    PkiError,
    gate,
    iso,
    load_chain,
    load_key,
)
from ansible_collections.jinbao.dc.plugins.module_utils.seams.vault import (
    PUBLIC_ARGS,
    VaultError,
    issuing_ca,
    open_unsealed,
)


def _append(path: str, record: dict) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    line = json.dumps(record, sort_keys=True) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, line.encode())  # one write of one line: appends from parallel runs do not interleave
    finally:
        os.close(fd)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            **PUBLIC_ARGS,  # the connection (doc fragment jinbao.dc.vault)
            "mount": {"type": "str", "default": "pki-city"},
            "operator": {"type": "str", "required": True},
            "playbook": {"type": "str", "required": True},
            "cert": {"type": "path", "required": True},
            "key": {"type": "path", "required": True},
            "domain": {"type": "str", "required": True},
            "authorisations": {"type": "dict", "required": True},
            "record": {"type": "path", "required": True},
        },
        supports_check_mode=True,
    )
    if not HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"), exception=str(CRYPTOGRAPHY_IMPORT_ERROR))
    from cryptography import x509

    p = module.params
    operator = p["operator"] or "(nobody)"
    record = {"time": iso(datetime.now(UTC)), "os_user": getpass.getuser(), "operator": operator,
              "playbook": p["playbook"], "check_mode": module.check_mode}
    try:
        if not p["operator"]:
            raise PkiError("(nobody)", "jinbao_operator", "no operator given; say who is running this with "
                                                          "JINBAO_OPERATOR=<id> or -e jinbao_operator=<id>")
        client = open_unsealed(p["name"], p["url"], p["ca_file"], p["timeout"])
        ca_pem, crl_pem = issuing_ca(p["name"], client, p["mount"])
        try:
            chain, key = load_chain(p["cert"]), load_key(p["key"])
        except (ValueError, TypeError, PermissionError) as exc:
            raise PkiError(operator, "certificate", f"{p['cert']} or {p['key']} cannot be read ({exc})") from None
        authorisations = {str(k): [str(v) for v in (vals or [])] for k, vals in p["authorisations"].items()}
        identity = gate(operator, p["playbook"], chain, key, x509.load_pem_x509_certificate(ca_pem.encode()),
                        x509.load_pem_x509_crl(crl_pem.encode()), p["domain"], authorisations)
    except (PkiError, VaultError) as exc:
        _append(p["record"], {**record, "result": "refused", "reason": str(exc)})
        module.fail_json(msg=f"operator gate: {exc}. The playbook stops here; nothing was changed.")
    _append(p["record"], {**record, "result": "granted", "cn": identity["cn"], "serial": identity["serial"]})
    module.exit_json(changed=False, identity=identity)


if __name__ == "__main__":
    main()
