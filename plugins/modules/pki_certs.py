#!/usr/bin/python
# Copyright: (c) 2026, jinbao-dc maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue and renew certificates for many subjects in one call: key on the controller, CSR, Vault signs."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pki_certs
short_description: Issue or renew operator and service certificates through a Vault PKI role
description:
  - For each subject in I(certs), keeps C(<dir>/<name>/<name>.key) (made here, on the controller, mode 0600; it
    never leaves) and C(<dir>/<name>/<name>.crt) (the certificate and its CA chain).
  - A certificate is (re)issued only when it is due - none yet, not issued by the current issuing CA, not
    matching the key, names changed, revoked (in the CA's CRL), expired, or less than I(renew_fraction) of its
    lifetime left. Otherwise nothing is done, so a second run changes nothing.
  - Vault signs a CSR through I(sign_path) with I(token), the run's operator token (the cert gate's, from the
    C(jinbao.dc.vault_token) lookup); only a duty whose policy allows the sign endpoint can issue.
  - Requests are signed on a pool of I(workers) threads. A refusal names the subject and Vault's reason; the
    subjects signed before it keep their certificates and register rows, so a re-run carries on.
  - Every new certificate gets a row in the register CSV I(register) (subject, serial, not_before, not_after,
    revoked_at).
  - Check mode lists the subjects that would be issued and writes nothing. A sealed or unreachable Vault fails
    before any key or certificate is written.
  - The logic lives in module_utils/pki/issuance.py (Issuer); the Vault connection comes once per play from
    C(module_defaults) on the C(group/jinbao.dc.vault) action group.
extends_documentation_fragment: [jinbao.dc.vault, jinbao.dc.vault.token]
options:
  mount: {description: The issuing CA's PKI mount., type: str, default: pki-city}
  sign_path: {description: "The role's sign endpoint, e.g. pki-city/sign/operator.", type: str, required: true}
  dir:
    description: Where each subject's key and certificate are kept (one folder per subject).
    type: path
    required: true
  certs:
    description:
      - The subjects. Each has C(name) (folder and register name), C(common_name), and optionally C(dns_sans)
        and C(ip_sans) (lists).
    type: list
    elements: dict
    required: true
  server: {description: Ask for serverAuth as well as clientAuth (service certificates)., type: bool, default: false}
  key_type: {description: Key algorithm., type: str, choices: [ec, rsa], default: ec}
  key_bits: {description: "Key size: 256 or 384 for ec; 2048, 3072 or 4096 for rsa.", type: int, default: 256}
  ttl: {description: Lifetime asked for (Vault caps it at the role's max_ttl)., type: str, default: 72h}
  renew_fraction: {description: Renew when less than this share of the lifetime is left., type: float, default: 0.3333}
  register: {description: The register CSV., type: path, required: true}
  subject_column: {description: Name of the register's first column., type: str, default: operator}
  workers: {description: Threads signing at once., type: int, default: 8}
  renew_only:
    description:
      - Renew only. A subject without a certificate, or with a revoked one (an offboarded operator), is an error
        and nothing is issued to anyone.
    type: bool
    default: false
requirements: [hvac, cryptography]
author: jinbao-dc maintainers (@jinbao-dc)
"""

EXAMPLES = r"""
- name: Onboard two operators
  jinbao.dc.pki_certs:  # name, url, ca_file: module_defaults on group/jinbao.dc.vault
    token: "{{ lookup('jinbao.dc.vault_token', duty='security-admin') }}"
    sign_path: pki-city/sign/operator
    dir: .pki/operators
    certs:
      - {name: alice, common_name: alice.operators.city.jinbao.example}
      - {name: bob, common_name: bob.operators.city.jinbao.example}
    register: reports/pki/operators.csv
"""

RETURN = r"""
issued:
  description: The subjects given a new certificate (or that would be, in check mode), each with why.
  type: list
  elements: dict
  returned: always
kept:
  description: The subjects whose certificate stays.
  type: list
  elements: str
  returned: always
certs:
  description: Per subject, the certificate now on file (serial, not_after, path); not in check mode.
  type: dict
  returned: always
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.jinbao.dc.plugins.module_utils.pki.certificates import (
    CRYPTOGRAPHY_IMPORT_ERROR,
    HAS_CRYPTOGRAPHY,
)
from ansible_collections.jinbao.dc.plugins.module_utils.pki.issuance import IssueError, Issuer, Request
from ansible_collections.jinbao.dc.plugins.module_utils.seams.vault import Signer, argument_spec


def main() -> None:
    module = AnsibleModule(
        argument_spec=argument_spec(
            token=True,
            mount={"type": "str", "default": "pki-city"},
            sign_path={"type": "str", "required": True},
            dir={"type": "path", "required": True},
            certs={"type": "list", "elements": "dict", "required": True},
            server={"type": "bool", "default": False},
            key_type={"type": "str", "choices": ["ec", "rsa"], "default": "ec"},
            key_bits={"type": "int", "default": 256},
            ttl={"type": "str", "default": "72h"},
            renew_fraction={"type": "float", "default": 0.3333},
            register={"type": "path", "required": True},
            subject_column={"type": "str", "default": "operator"},
            workers={"type": "int", "default": 8},
            renew_only={"type": "bool", "default": False},
        ),
        supports_check_mode=True,
    )
    if not HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"), exception=str(CRYPTOGRAPHY_IMPORT_ERROR))
    p = module.params
    signer = Signer(p["name"], p["url"], p["token"], p["ca_file"], p["timeout"])
    req = Request(**{f: p[f] for f in Request.__dataclass_fields__})
    try:
        result = Issuer(signer, req, check_mode=module.check_mode, log=module.log).run(p["certs"])
    except IssueError as exc:
        module.fail_json(msg=str(exc), **exc.result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
