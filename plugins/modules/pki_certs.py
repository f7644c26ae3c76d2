#!/usr/bin/python
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
  - Vault signs a CSR through I(sign_path), logged in as the AppRole kept in I(approle_file); the module reads
    that file itself, so the secret ID never passes through task arguments or output.
  - Requests are signed on a pool of I(workers) threads. A refusal names the subject and Vault's reason; the
    subjects signed before it keep their certificates and register rows, so a re-run carries on.
  - Every new certificate gets a row in the register CSV I(register) (subject, serial, not_before, not_after,
    revoked_at).
  - Check mode lists the subjects that would be issued and writes nothing. A sealed or unreachable Vault fails
    before any key or certificate is written.
options:
  name: {description: Inventory name of the Vault (used in messages)., type: str, required: true}
  url: {description: Vault address (https://host:port)., type: str, required: true}
  ca_file: {description: CA bundle that signs the Vault's certificate., type: path}
  timeout: {description: Seconds to wait for each answer., type: float, default: 30}
  approle_file:
    description: JSON file with the AppRole's role_id and secret_id (pki.yml writes it).
    type: path
    required: true
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
author: jinbao-dc
"""

EXAMPLES = r"""
- name: Onboard two operators
  pki_certs:
    name: vault-01
    url: https://127.0.0.1:18200
    ca_file: .lab/pki/ca.crt
    approle_file: .lab/secrets/vault-automation.json
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

import os
import re
import threading
import traceback
from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.jinbao.dc.plugins.module_utils.pki import (
    CRYPTOGRAPHY_IMPORT_ERROR,
    HAS_CRYPTOGRAPHY,
    PkiError,
    csr_pem,
    due,
    iso,
    key_matches,
    key_pem,
    load_chain,
    load_key,
    new_key,
    read_register,
    register_row,
    revoked_serials,
    serial_hex,
    write_atomic,
    write_register,
)
from ansible_collections.jinbao.dc.plugins.module_utils.seams.vault import (
    PUBLIC_ARGS,
    VaultError,
    call,
    connect_approle,
    issuing_ca,
    open_unsealed,
    twin,
)

NAME = r"^[a-z0-9][a-z0-9-]{1,30}[a-z0-9]$"


def _subject_files(base: str, name: str) -> tuple[str, str]:
    return os.path.join(base, name, f"{name}.key"), os.path.join(base, name, f"{name}.crt")


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            **PUBLIC_ARGS,
            "approle_file": {"type": "path", "required": True},
            "mount": {"type": "str", "default": "pki-city"},
            "sign_path": {"type": "str", "required": True},
            "dir": {"type": "path", "required": True},
            "certs": {"type": "list", "elements": "dict", "required": True},
            "server": {"type": "bool", "default": False},
            "key_type": {"type": "str", "choices": ["ec", "rsa"], "default": "ec"},
            "key_bits": {"type": "int", "default": 256},
            "ttl": {"type": "str", "default": "72h"},
            "renew_fraction": {"type": "float", "default": 0.3333},
            "register": {"type": "path", "required": True},
            "subject_column": {"type": "str", "default": "operator"},
            "workers": {"type": "int", "default": 8},
            "renew_only": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    if not HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"), exception=str(CRYPTOGRAPHY_IMPORT_ERROR))
    p = module.params
    from cryptography import x509

    wanted = []
    for i, item in enumerate(p["certs"]):
        name = str(item.get("name") or "")
        if not re.match(NAME, name):
            module.fail_json(msg=f"certs[{i}]: name: {name or '(none)'!r} is not a subject ID (3-32 lower-case "
                                 "letters, digits and dashes)")
        if not item.get("common_name"):
            module.fail_json(msg=f"{name}: common_name: missing")
        wanted.append({"name": name, "common_name": str(item["common_name"]),
                       "dns_sans": [str(s) for s in item.get("dns_sans") or []],
                       "ip_sans": [str(s) for s in item.get("ip_sans") or []]})
    names = [w["name"] for w in wanted]
    if len(set(names)) != len(names):
        module.fail_json(msg=f"certs: names repeat: {', '.join(sorted({n for n in names if names.count(n) > 1}))}")

    try:
        register = read_register(p["register"], p["subject_column"])
        public = open_unsealed(p["name"], p["url"], p["ca_file"], p["timeout"])
        ca_pem, crl_pem = issuing_ca(p["name"], public, p["mount"])
    except (VaultError, PkiError) as exc:
        module.fail_json(msg=str(exc))
    ca = x509.load_pem_x509_certificate(ca_pem.encode())
    revoked = revoked_serials(x509.load_pem_x509_crl(crl_pem.encode()))

    plan, kept, refused = [], [], []
    for w in wanted:
        key_path, crt_path = _subject_files(p["dir"], w["name"])
        try:
            key = load_key(key_path)
            chain = load_chain(crt_path)
        except (ValueError, TypeError) as exc:
            module.fail_json(msg=f"{w['name']}: files: {key_path} or {crt_path} cannot be read ({exc}); move "
                                 "them aside and run again")
        if key is not None and not key_matches(key, p["key_type"], p["key_bits"]):
            key = None  # a key of another type or size is replaced (the old certificate goes with it)
            chain = []
        why = due(chain, key, ca, w, revoked, p["renew_fraction"])
        if why and p["renew_only"] and (not chain or why == "revoked"):
            refused.append(f"{w['name']}: " + ("revoked, so not renewed (onboard again)" if chain
                                               else "no certificate to renew (onboard first)"))
        elif why:
            plan.append((w, key, why))
        else:
            kept.append(w["name"])

    if refused:
        module.fail_json(msg=f"renewal refused, nothing issued: {'; '.join(refused)}")
    issued = [{"name": w["name"], "reason": why} for w, _, why in plan]
    if module.check_mode or not plan:
        module.exit_json(changed=bool(plan), issued=issued, kept=kept, certs={},
                         diff={"before": "", "after": "".join(f"issue {i['name']} ({i['reason']})\n" for i in issued)})

    try:
        client = connect_approle(p["name"], p["url"], p["approle_file"], p["ca_file"], p["timeout"])
    except VaultError as exc:
        module.fail_json(msg=str(exc))
    local = threading.local()

    def session():
        if not hasattr(local, "client"):
            local.client = twin(client, p["timeout"])
        return local.client

    def one(job):
        w, key, _ = job
        key_path, crt_path = _subject_files(p["dir"], w["name"])
        if key is None:
            key = new_key(p["key_type"], p["key_bits"])
            write_atomic(key_path, key_pem(key), 0o600)
        csr = csr_pem(key, w["common_name"], w["dns_sans"], w["ip_sans"], p["server"])
        body = {"csr": csr, "ttl": p["ttl"], "common_name": w["common_name"]}
        if w["dns_sans"]:
            body["alt_names"] = ",".join(w["dns_sans"])  # for roles that take SANs from the request, not the CSR
        if w["ip_sans"]:
            body["ip_sans"] = ",".join(w["ip_sans"])
        data = call(w["name"], p["sign_path"], session().adapter.post, f"/v1/{p['sign_path']}", json=body)["data"]
        pem = data["certificate"].strip() + "\n" + "".join(c.strip() + "\n" for c in data.get("ca_chain") or [])
        write_atomic(crt_path, pem.encode(), 0o644)
        return w["name"], x509.load_pem_x509_certificate(data["certificate"].encode()), crt_path

    done, failures = {}, []
    with ThreadPoolExecutor(max_workers=max(1, p["workers"])) as pool:
        for job, fut in [(job, pool.submit(one, job)) for job in plan]:
            try:
                name, cert, path = fut.result()
                done[name] = (cert, path)
            except VaultError as exc:
                failures.append(f"{job[0]['name']}: {exc.field}: refused by Vault: {exc.message}")
            except Exception as exc:  # every failure is named, the others carry on
                failures.append(f"{job[0]['name']}: {type(exc).__name__}: {exc}")
                module.log(traceback.format_exc())
    for name, (cert, _) in done.items():
        row = register_row(p["subject_column"], name, cert)
        register[row["serial"]] = row
    if done:
        write_register(p["register"], p["subject_column"], register)
    certs = {n: {"serial": serial_hex(c), "not_after": iso(c.not_valid_after_utc), "path": path}
             for n, (c, path) in done.items()}
    issued = [i for i in issued if i["name"] in done]
    result = {"changed": bool(done), "issued": issued, "kept": kept, "certs": certs}
    if failures:
        summary = "; ".join(failures[:20])
        module.fail_json(msg=f"{len(failures)} of {len(plan)} certificates were not issued: {summary}",
                         failures=failures, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
