#!/usr/bin/python
# Copyright: (c) 2026, jinbao-dc maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The PKI as an auditor reads it: CA chain, certificates issued and revoked, upcoming expiries."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pki_status
short_description: Read the CA chain and CRL from Vault and the certificate registers, for the report
description:
  - Reads the issuing CA's chain and CRL from Vault's public endpoints (no token), and the registers
    (reports/pki/operators.csv, services.csv).
  - Returns the chain, per register the certificates issued, valid, expired and revoked, each revocation
    checked against the CRL, and the valid certificates that expire within I(window_days).
  - Reads only; a missing register counts as empty. A sealed or unreachable Vault fails with one line.
extends_documentation_fragment: [jinbao.dc.vault]
options:
  mount: {description: The issuing CA's PKI mount., type: str, default: pki-city}
  registers: {description: Register name (operators or services) to its CSV path., type: dict, required: true}
  window_days: {description: Report valid certificates expiring within this many days., type: int, default: 14}
requirements: [hvac, cryptography]
author: jinbao-dc maintainers (@jinbao-dc)
"""

EXAMPLES = r"""
- name: Read the PKI for the report
  jinbao.dc.pki_status:
    name: vault-01
    url: https://127.0.0.1:18200
    ca_file: .lab/pki/ca.crt
    registers: {operators: reports/pki/operators.csv, services: reports/pki/services.csv}
"""

RETURN = r"""
pki:
  description: chain, registers, revoked, expiring, window_days and crl (entries, this_update, next_update).
  type: dict
  returned: success
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.jinbao.dc.plugins.module_utils.pki.certificates import (
    CRYPTOGRAPHY_IMPORT_ERROR,
    HAS_CRYPTOGRAPHY,
    PkiError,
    read_register,
    status,
)
from ansible_collections.jinbao.dc.plugins.module_utils.seams.vault import (
    PUBLIC_ARGS,
    VaultError,
    call,
    issuing_ca,
    open_unsealed,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            **PUBLIC_ARGS,  # the connection (doc fragment jinbao.dc.vault)
            "mount": {"type": "str", "default": "pki-city"},
            "registers": {"type": "dict", "required": True},
            "window_days": {"type": "int", "default": 14},
        },
        supports_check_mode=True,
    )
    if not HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"), exception=str(CRYPTOGRAPHY_IMPORT_ERROR))
    from cryptography import x509

    p = module.params
    try:
        client = open_unsealed(p["name"], p["url"], p["ca_file"], p["timeout"])
        ca_pem, crl_pem = issuing_ca(p["name"], client, p["mount"])
        chain_pem = call(p["name"], f"{p['mount']}/ca_chain", client.secrets.pki.read_ca_certificate_chain,
                         mount_point=p["mount"])
        registers = {kind: list(read_register(path, "operator" if kind == "operators" else "service").values())
                     for kind, path in p["registers"].items()}
    except (VaultError, PkiError) as exc:
        module.fail_json(msg=str(exc))
    chain = x509.load_pem_x509_certificates((chain_pem if "BEGIN" in chain_pem else ca_pem).encode())
    state = status(chain, x509.load_pem_x509_crl(crl_pem.encode()), registers, p["window_days"])
    module.exit_json(changed=False, pki=state)


if __name__ == "__main__":
    main()
