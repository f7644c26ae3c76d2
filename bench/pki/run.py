"""Benchmark operator onboarding: 1,000 operators in one playbook run against a bare hvac script, same Vault.

    .venv/bin/python -m bench.pki.run [--operators 1000] [--rounds 3] [--rate-sample 100] [--no-write]

Uses the lab's Vault (the OpenBao cluster through vault-01; `labctl up --only openbao` makes sure it is up with
its PKI and operators). Both sides sign as the lab's security administrator (lab-secadmin), whose certificate
logs in to Vault (auth/cert): onboarding is their duty. Each round runs, side by side:
- the project: `JINBAO_OPERATOR=lab-secadmin ansible-playbook playbooks/operator_onboard.yml
  -e '{"operators": [...]}'` (ansible start-up and the cert gate included), into an empty key folder and
  register;
- the baseline: a bare hvac script doing the same work for the same number of operators, one after the other
  (a cert login with lab-secadmin's certificate, then per operator: EC P-256 key made locally, written 0600,
  CSR, signed through the operator role, certificate written; register CSV written at the end);
- for reference, the same script on 8 threads (what the project's module does inside).
Medians of the rounds give the ratio project/baseline (goal: at most 1.5x). Then the issuance rate of EC
P-256 against RSA 3072 keys (operator and operator-rsa roles), with and without local key generation.
Results go to docs/BENCHMARKS.md (section `## pki`).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import hvac
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from bench.harness import ROOT, SECURITY_ADMIN, lab_operator, log, machine, run_playbook, update_benchmarks

STATE = ROOT / ".cache" / "bench" / "pki"
LAB = ROOT / ".lab"
URL = "https://127.0.0.1:18200"
CA = str(LAB / "pki" / "ca.crt")
DOMAIN = "operators.city.jinbao.example"
GOAL = 1.5


# The security administrator's certificate and key, where operator_onboard.yml keeps them (lab-up made them).
OPERATOR_DIR = ROOT / ".pki" / "operators" / SECURITY_ADMIN


def login() -> hvac.Client:
    """An hvac client holding a token of the security administrator: a cert login (auth/cert, role operators)
    with their client certificate, as the cert gate does it. Revoke it (revoke_self) when done."""
    client = hvac.Client(url=URL, verify=CA, timeout=60)
    client.auth.cert.login(name="operators", cert_pem=str(OPERATOR_DIR / f"{SECURITY_ADMIN}.crt"),
                           key_pem=str(OPERATOR_DIR / f"{SECURITY_ADMIN}.key"), mount_point="cert")
    return client


def make_key(kind: str):
    return ec.generate_private_key(ec.SECP256R1()) if kind == "ec" else rsa.generate_private_key(65537, 3072)


def csr(key, cn: str) -> str:
    return (x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode())


def bare_script(ids: list[str], out: Path, workers: int = 1) -> float:
    """The baseline: what a sysadmin would write with hvac alone. Returns wall seconds."""
    start = time.monotonic()
    session = login()
    token = session.token
    local = threading.local()
    rows = []

    def one(op: str):
        if not hasattr(local, "client"):
            local.client = hvac.Client(url=URL, token=token, verify=CA, timeout=60)
        folder = out / op
        folder.mkdir(parents=True, exist_ok=True)
        key = make_key("ec")
        fd = os.open(folder / f"{op}.key", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
        data = local.client.adapter.post("/v1/pki-city/sign/operator",
                                         json={"csr": csr(key, f"{op}.{DOMAIN}"), "ttl": "72h"})["data"]
        (folder / f"{op}.crt").write_text(data["certificate"] + "\n" + "\n".join(data["ca_chain"]) + "\n")
        cert = x509.load_pem_x509_certificate(data["certificate"].encode())
        return [op, data["serial_number"], cert.not_valid_before_utc.isoformat(),
                cert.not_valid_after_utc.isoformat(), ""]

    with ThreadPoolExecutor(max_workers=workers) as pool:
        rows = list(pool.map(one, ids))
    with open(out / "operators.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["operator", "serial", "not_before", "not_after", "revoked_at"])
        writer.writerows(rows)
    session.auth.token.revoke_self()  # as the audit callback revokes the run's token at its end
    return time.monotonic() - start


def project(ids: list[str], out: Path, timeout: float) -> float:
    extra = ["-e", json.dumps({"operators": ids}), "-e", f"jinbao_pki_dir={out / 'keys'}",
             "-e", f"jinbao_reports_dir={out / 'reports'}"]
    elapsed, output, _ = run_playbook("project", ROOT / "playbooks" / "operator_onboard.yml", extra, timeout,
                                      quiet=True, operator=SECURITY_ADMIN)
    rows = (out / "reports" / "pki" / "operators.csv").read_text().splitlines()
    if len(rows) != len(ids) + 1:
        raise SystemExit(f"bench: the project's register has {len(rows) - 1} rows, not {len(ids)}:\n{output[-2000:]}")
    return elapsed


def rate(kind: str, role: str, n: int) -> tuple[float, float]:
    """(certificates per second including local key generation, per second signing pre-made keys)."""
    client = login()
    t0 = time.monotonic()
    keys = [make_key(kind) for _ in range(n)]
    keygen = time.monotonic() - t0
    requests = [csr(k, f"rate-{kind}-{i}.{DOMAIN}") for i, k in enumerate(keys)]
    t1 = time.monotonic()
    for body in requests:
        client.adapter.post(f"/v1/pki-city/sign/{role}", json={"csr": body, "ttl": "1h"})
    sign = time.monotonic() - t1
    client.auth.token.revoke_self()
    return n / (keygen + sign), n / sign


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--operators", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rate-sample", type=int, default=100)
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--no-write", action="store_true", help="do not update docs/BENCHMARKS.md")
    args = parser.parse_args(argv)
    log("lab Vault up, its PKI built and lab-secadmin onboarded (operator_onboard.yml is theirs)")
    lab_operator()
    log("warm-up: 50 signatures")
    rate("ec", "operator", 50)
    times: dict[str, list[float]] = {"project": [], "baseline": [], "threaded": []}
    for r in range(args.rounds):
        for label in ("project", "baseline", "threaded"):
            out = STATE / f"{label}-{r}"
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir(parents=True)
            ids = [f"bench-{label[0]}{r}-{i:04d}" for i in range(args.operators)]
            if label == "project":
                took = project(ids, out, args.timeout)
            else:
                took = bare_script(ids, out, workers=8 if label == "threaded" else 1)
            times[label].append(took)
            log(f"round {r + 1}/{args.rounds} {label:<8} {args.operators} operators in {took:.1f}s")
            shutil.rmtree(out, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    ratio = med["project"] / med["baseline"]
    log(f"median: project {med['project']:.1f}s, bare hvac script {med['baseline']:.1f}s: ratio {ratio:.2f}x "
        f"(goal <= {GOAL}x); the same script on 8 threads {med['threaded']:.1f}s")
    ec_full, ec_sign = rate("ec", "operator", args.rate_sample)
    rsa_full, rsa_sign = rate("rsa", "operator-rsa", args.rate_sample)
    log(f"issuance rate: EC P-256 {ec_full:.0f}/s with key generation ({ec_sign:.0f}/s signing only); "
        f"RSA 3072 {rsa_full:.1f}/s with key generation ({rsa_sign:.0f}/s signing only)")
    section = f"""## pki

Onboarding {args.operators:,} operators in one run on the lab's OpenBao (`make bench-pki`, {args.rounds} rounds,
medians; {machine()}). Each run starts from an empty key folder and register: an EC P-256 key made on the
controller (mode 0600), a CSR, a signature through the `operator` role as the security administrator (one cert
login with their certificate per run: the project's cert gate, the script's own), the certificate and its chain
written, one register row each.

| run | wall time | ratio to the bare script |
|---|---|---|
| `operator_onboard.yml -e '{{"operators": [...]}}'` (ansible start-up included) | {med['project']:.1f} s \
| **{ratio:.2f}x** (goal <= {GOAL}x) |
| bare hvac script, one operator after the other (baseline) | {med['baseline']:.1f} s | 1.00x |
| the same script on 8 threads (reference) | {med['threaded']:.1f} s | {med['threaded'] / med['baseline']:.2f}x |

All rounds (s): project {', '.join(f'{t:.1f}' for t in times['project'])}; baseline
{', '.join(f'{t:.1f}' for t in times['baseline'])}; threaded {', '.join(f'{t:.1f}' for t in times['threaded'])}.

The playbook makes one `pki_certs` module call for all operators: it reads the issuing CA and CRL once, signs
with the gate's token on 8 threads. One Ansible task per operator (the community.crypto modules plus
`vault_write`, about six module runs each) would start Python some 6,000 times for 1,000 operators.

Issuance rate, {args.rate_sample} certificates each, one after the other:

| key | with local key generation | signing pre-made keys |
|---|---|---|
| EC P-256 (`operator` role) | {ec_full:.0f} /s | {ec_sign:.0f} /s |
| RSA 3072 (`operator-rsa` role) | {rsa_full:.1f} /s | {rsa_sign:.0f} /s |

RSA 3072 costs mostly in generating the key (on the operator's side); Vault's signature is with the CA's own
EC key either way.
"""
    if not args.no_write:
        update_benchmarks("pki", section)
        log("docs/BENCHMARKS.md updated (section: pki)")
    return 0 if ratio <= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
