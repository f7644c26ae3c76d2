"""Issuing and renewing many subjects' certificates in one call (pki_certs' logic): the key on the controller,
a CSR, Vault signs.

For each subject a certificate is issued only when it is due (certificates.due): none yet, not from the current
issuing CA, not matching the key, names changed, revoked, expired, or too little of its life left. The Vault
side is a `Signer` (seams/vault.Signer, or a fake in unit tests): the issuing CA and CRL, and sign().
"""

from __future__ import annotations

import os
import re
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from ansible_collections.jinbao.dc.plugins.module_utils.pki.certificates import (
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
from ansible_collections.jinbao.dc.plugins.module_utils.seams.vault import VaultError

try:
    from cryptography import x509
except ImportError:  # pragma: no cover - reported by the module (certificates.HAS_CRYPTOGRAPHY)
    x509 = None

NAME = r"^[a-z0-9][a-z0-9-]{1,30}[a-z0-9]$"


class Signer(Protocol):
    def issuing_ca(self, mount: str) -> tuple[str, str]: ...

    def login(self) -> None: ...

    def sign(self, subject: str, sign_path: str, body: dict[str, Any]) -> dict[str, Any]: ...


class IssueError(Exception):
    """Issuance stopped or some subjects were not issued; `result` holds what was done."""

    def __init__(self, message: str, **result: Any) -> None:
        super().__init__(message)
        self.result = result


@dataclass(frozen=True)
class Request:
    """What to issue and how (pki_certs' options)."""

    mount: str
    sign_path: str
    dir: str
    register: str
    subject_column: str = "operator"
    server: bool = False
    key_type: str = "ec"
    key_bits: int = 256
    ttl: str = "72h"
    renew_fraction: float = 0.3333
    workers: int = 8
    renew_only: bool = False


def subjects(certs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The subjects asked for, checked (name, common_name, no name twice) and normalised; IssueError otherwise."""
    wanted = []
    for i, item in enumerate(certs):
        name = str(item.get("name") or "")
        if not re.match(NAME, name):
            raise IssueError(f"certs[{i}]: name: {name or '(none)'!r} is not a subject ID (3-32 lower-case "
                             "letters, digits and dashes)")
        if not item.get("common_name"):
            raise IssueError(f"{name}: common_name: missing")
        wanted.append({"name": name, "common_name": str(item["common_name"]),
                       "dns_sans": [str(s) for s in item.get("dns_sans") or []],
                       "ip_sans": [str(s) for s in item.get("ip_sans") or []]})
    names = [w["name"] for w in wanted]
    if len(set(names)) != len(names):
        raise IssueError(f"certs: names repeat: {', '.join(sorted({n for n in names if names.count(n) > 1}))}")
    return wanted


def subject_files(base: str, name: str) -> tuple[str, str]:
    return os.path.join(base, name, f"{name}.key"), os.path.join(base, name, f"{name}.crt")


class Issuer:
    """Decides who is due, then has Vault sign the CSRs of those on a pool of threads, and keeps the register."""

    def __init__(self, signer: Signer, req: Request, *, check_mode: bool = False,
                 log: Callable[[str], None] = lambda _text: None) -> None:
        self.signer, self.req, self.check_mode, self.log = signer, req, check_mode, log

    def plan(self, wanted: list[dict[str, Any]], ca: Any, revoked: set[str]) -> tuple[list[tuple], list[str]]:
        """(subject, key on file or None, why) for each subject due, and the names of those kept."""
        req, plan, kept, refused = self.req, [], [], []
        for w in wanted:
            key_path, crt_path = subject_files(req.dir, w["name"])
            try:
                key = load_key(key_path)
                chain = load_chain(crt_path)
            except (ValueError, TypeError) as exc:
                raise IssueError(f"{w['name']}: files: {key_path} or {crt_path} cannot be read ({exc}); move "
                                 "them aside and run again") from None
            if key is not None and not key_matches(key, req.key_type, req.key_bits):
                key = None  # a key of another type or size is replaced (the old certificate goes with it)
                chain = []
            why = due(chain, key, ca, w, revoked, req.renew_fraction)
            if why and req.renew_only and (not chain or why == "revoked"):
                refused.append(f"{w['name']}: " + ("revoked, so not renewed (onboard again)" if chain
                                                   else "no certificate to renew (onboard first)"))
            elif why:
                plan.append((w, key, why))
            else:
                kept.append(w["name"])
        if refused:
            raise IssueError(f"renewal refused, nothing issued: {'; '.join(refused)}")
        return plan, kept

    def run(self, certs: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """Issue what is due; {changed, issued, kept, certs[, diff]}, or IssueError (with what was done)."""
        req = self.req
        wanted = subjects(certs)
        try:
            register = read_register(req.register, req.subject_column)
            ca_pem, crl_pem = self.signer.issuing_ca(req.mount)
        except VaultError as exc:
            if not self.check_mode:
                raise IssueError(str(exc)) from None
            # check mode before the CA exists (bootstrap.yml --check): every subject would be issued
            issued = [{"name": w["name"], "reason": "none yet (the issuing CA is still to be built)"} for w in wanted]
            return {"changed": bool(issued), "issued": issued, "kept": [], "certs": {},
                    "diff": {"before": "", "after": "".join(f"issue {i['name']} ({i['reason']})\n" for i in issued)}}
        except PkiError as exc:
            raise IssueError(str(exc)) from None
        ca = x509.load_pem_x509_certificate(ca_pem.encode())
        revoked = revoked_serials(x509.load_pem_x509_crl(crl_pem.encode()))
        plan, kept = self.plan(wanted, ca, revoked)
        issued = [{"name": w["name"], "reason": why} for w, _, why in plan]
        if self.check_mode or not plan:
            return {"changed": bool(plan), "issued": issued, "kept": kept, "certs": {},
                    "diff": {"before": "", "after": "".join(f"issue {i['name']} ({i['reason']})\n" for i in issued)}}
        try:
            self.signer.login()
        except VaultError as exc:
            raise IssueError(str(exc)) from None

        done, failures = {}, []
        with ThreadPoolExecutor(max_workers=max(1, req.workers)) as pool:
            for job, fut in [(job, pool.submit(self.one, job)) for job in plan]:
                try:
                    name, cert, path = fut.result()
                    done[name] = (cert, path)
                except VaultError as exc:
                    failures.append(f"{job[0]['name']}: {exc.field}: refused by Vault: {exc.message}")
                except Exception as exc:  # every failure is named, the others carry on
                    failures.append(f"{job[0]['name']}: {type(exc).__name__}: {exc}")
                    self.log(traceback.format_exc())
        for name, (cert, _) in done.items():
            row = register_row(req.subject_column, name, cert)
            register[row["serial"]] = row
        if done:
            write_register(req.register, req.subject_column, register)
        result = {"changed": bool(done), "issued": [i for i in issued if i["name"] in done], "kept": kept,
                  "certs": {n: {"serial": serial_hex(c), "not_after": iso(c.not_valid_after_utc), "path": path}
                            for n, (c, path) in done.items()}}
        if failures:
            raise IssueError(f"{len(failures)} of {len(plan)} certificates were not issued: {'; '.join(failures[:20])}",
                             failures=failures, **result)
        return result

    def one(self, job: tuple) -> tuple[str, Any, str]:
        """Sign one subject's CSR (a new key first when it has none) and keep its certificate with the chain."""
        req = self.req
        w, key, _ = job
        key_path, crt_path = subject_files(req.dir, w["name"])
        if key is None:
            key = new_key(req.key_type, req.key_bits)
            write_atomic(key_path, key_pem(key), 0o600)
        body = {"csr": csr_pem(key, w["common_name"], w["dns_sans"], w["ip_sans"], req.server), "ttl": req.ttl,
                "common_name": w["common_name"]}
        if w["dns_sans"]:
            body["alt_names"] = ",".join(w["dns_sans"])  # for roles that take SANs from the request, not the CSR
        if w["ip_sans"]:
            body["ip_sans"] = ",".join(w["ip_sans"])
        data = self.signer.sign(w["name"], req.sign_path, body)
        pem = data["certificate"].strip() + "\n" + "".join(c.strip() + "\n" for c in data.get("ca_chain") or [])
        write_atomic(crt_path, pem.encode(), 0o644)
        return w["name"], x509.load_pem_x509_certificate(data["certificate"].encode()), crt_path
