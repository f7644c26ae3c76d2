"""Benchmark the cert gate with Vault-brokered credentials against the gate it replaced, and 100 devices'
credentials fetched in one call against a plain threaded hvac script.

    .venv/bin/python -m bench.gate.run [--rounds 5] [--devices 100] [--no-write]

Uses the lab's Vault (`labctl up --only openbao`: the cluster, its PKI, duties, credentials and operators).
Part 1, per run, side by side in each round, as lab-sysadmin:
- the project: `playbooks/whoami.yml` with the N credentials the lab's facility has (every sysadmin-readable path
  of lab/security.py, the core pair's two-person one excepted): the gate (audit check, certificate, Vault's cert
  login, duty, session), N reads through `jinbao.dc.credential` in one task, the token revoked and the chain
  anchored at the end;
- today's gate (before issue 15, bench/gate/library/old_operator_gate.py, commit 3e37a75): the certificate checked
  against the CA and CRL read from Vault, an authorisation list, then the same N secrets read from the lab's files,
  as the inventory read them then.
Both are whole `ansible-playbook` runs (start-up included): what an operator waits for. Goal: at most 1.2x.
Part 2: the credentials of `--devices` devices (facility/bench/netdev/dev-NNN, written once by lab-secadmin) read
in one call of the credential lookup (in-process, with a session opened as the gate opens it) against a plain
hvac script on 8 threads with the same token: the cost of the lookup's checks and session over the bare reads.
Results go to docs/BENCHMARKS.md (section `## gate`), stamped with the commit.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import hvac

from bench.harness import (
    LAB,
    ROOT,
    SECURITY_ADMIN,
    SYSTEM_ADMIN,
    lab_operator,
    log,
    machine,
    run_playbook,
    update_benchmarks,
)
from lab import common, security
from lab.security import login

GOAL = 1.2
URL = security.VAULT_URL
CA = str(LAB / "pki" / "ca.crt")
OPERATORS = ROOT / ".pki" / "operators"
STATE = ROOT / ".cache" / "bench" / "gate"


def facility_paths() -> list[str]:
    """The lab facility's credentials a system administrator reads (the two-person path excepted)."""
    data = common.load_inventory(ROOT / "inventory" / "lab")
    return sorted(p for p in security.lab_credentials(common.Lab(LAB), data) if not p.endswith("/core-pair"))


def secret_files(n: int) -> list[str]:
    """N secret files of the lab, as the inventory read them before Vault brokered them (cycled)."""
    files = sorted(str(p) for p in (LAB / "secrets").iterdir() if p.is_file() and p.suffix in ("", ".password"))
    return [files[i % len(files)] for i in range(n)]


def device_credentials(n: int) -> list[str]:
    """`n` devices' credentials in Vault, written once by the security administrator (write-only for them)."""
    paths = [f"facility/bench/netdev/dev-{i:03d}" for i in range(n)]
    admin = login(SECURITY_ADMIN)
    for path in paths:
        admin.secrets.kv.v2.create_or_update_secret(path, {"username": "bench", "password": f"pw-{path[-3:]}"},
                                                    mount_point="jinbao")
    admin.auth.token.revoke_self()
    return paths


def project_fetch(paths: list[str], token: str) -> float:
    """One call of the credential lookup for every path, with a session as the gate opens it."""
    from ansible.plugins.loader import init_plugin_loader, lookup_loader

    init_plugin_loader()  # the collection loader, as ansible-playbook sets it up (ansible.cfg's collections_path)
    from ansible_collections.jinbao.dc.plugins.module_utils.pki import session

    session.open_run({"run_id": "bench", "log": "", "official": True})
    session.put({"token": token, "vault": "vault-01", "url": URL, "ca_file": CA, "operator": SYSTEM_ADMIN,
                 "cn": "bench", "serial": "0", "duty": "system-admin"})
    lookup = lookup_loader.get("jinbao.dc.credential")
    start = time.perf_counter()
    values = lookup.run(paths, variables={}, key="password")
    took = time.perf_counter() - start
    assert len(values) == len(paths) and values[0] == f"pw-{paths[0][-3:]}"
    return took


def bare_fetch(paths: list[str], token: str) -> float:
    """The plain way: hvac, one client per thread, 8 threads, the same token."""
    import threading

    local = threading.local()

    def read(path: str) -> str:
        if not hasattr(local, "client"):
            local.client = hvac.Client(url=URL, token=token, verify=CA, timeout=30)
        return local.client.secrets.kv.v2.read_secret_version(path, mount_point="jinbao",
                                                               raise_on_deleted_version=True)["data"]["data"]["password"]

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=8) as pool:
        values = list(pool.map(read, paths))
    took = time.perf_counter() - start
    assert len(values) == len(paths)
    return took


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.gate", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--devices", type=int, default=100)
    parser.add_argument("--no-write", action="store_true", help="print the results, leave docs/BENCHMARKS.md alone")
    args = parser.parse_args(argv)
    os.environ.setdefault("ANSIBLE_CONFIG", str(ROOT / "ansible.cfg"))
    log("lab Vault up, its security administration done (lab/security.py)")
    lab_operator()
    STATE.mkdir(parents=True, exist_ok=True)
    paths = facility_paths()
    n = len(paths)
    new_args = ["-e", json.dumps({"whoami_credentials": paths}), "-e", f"jinbao_reports_dir={STATE / 'reports'}"]
    old_args = ["-e", json.dumps({"bench_secret_files": secret_files(n), "bench_operator": SYSTEM_ADMIN,
                                  "bench_pki_dir": str(OPERATORS), "bench_record": str(STATE / "old-gate.jsonl")})]
    times: dict[str, list[float]] = {"project": [], "today": []}
    for r in range(args.rounds):
        for label in (("project", "today") if r % 2 == 0 else ("today", "project")):  # side by side, order alternating
            playbook = (ROOT / "playbooks" / "whoami.yml" if label == "project"
                        else ROOT / "bench" / "gate" / "old_gate.yml")
            took, output, _ = run_playbook(label, playbook, new_args if label == "project" else old_args, 600,
                                           quiet=True)
            if label == "project":
                assert f"{n} credential(s) read with this session" in output, output[-2000:]
            times[label].append(took)
            log(f"round {r + 1}/{args.rounds} {label:<8} gate + {n} secrets in {took:.2f}s")
    med = {k: statistics.median(v) for k, v in times.items()}
    ratio = med["project"] / med["today"]
    log(f"median: project {med['project']:.2f}s, today's gate {med['today']:.2f}s: {ratio:.2f}x (goal <= {GOAL}x)")

    devices = device_credentials(args.devices)
    fetch: dict[str, list[float]] = {"project": [], "bare": []}
    for r in range(args.rounds):
        reader = login(SYSTEM_ADMIN)
        for label in (("project", "bare") if r % 2 == 0 else ("bare", "project")):
            took = (project_fetch if label == "project" else bare_fetch)(devices, reader.token)
            fetch[label].append(took)
            log(f"round {r + 1}/{args.rounds} {label:<8} {args.devices} devices' credentials in {took * 1000:.0f} ms")
        reader.auth.token.revoke_self()
    fmed = {k: statistics.median(v) for k, v in fetch.items()}
    fratio = fmed["project"] / fmed["bare"]
    log(f"median: lookup {fmed['project'] * 1000:.0f} ms, bare hvac on 8 threads {fmed['bare'] * 1000:.0f} ms: "
        f"{fratio:.2f}x")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                            check=False).stdout.strip() or "unknown"
    section = f"""## gate

The cert gate with Vault-brokered credentials (issue 15) against the gate it replaced, at commit `{commit}`
(`make bench-gate`, {args.rounds} rounds, medians, the order of the two sides alternating; {machine()}). Lab
OpenBao: a 3-node raft cluster through vault-01.

Per run, as the lab's system administrator, whole `ansible-playbook` runs side by side in each round:

| run | wall time | ratio |
|---|---|---|
| `whoami.yml`: the gate (audit check, certificate, Vault cert login, duty, session), {n} credentials \
read from Vault in one task; token revoked and chain anchored at the end | {med['project']:.2f} s \
| **{ratio:.2f}x** (goal <= {GOAL}x) |
| today's gate (commit 3e37a75: certificate against CA and CRL read from Vault, an authorisation list), \
the same {n} secrets read from files | {med['today']:.2f} s | 1.00x |

All rounds (s): project {', '.join(f'{t:.2f}' for t in times['project'])}; today's gate
{', '.join(f'{t:.2f}' for t in times['today'])}.

The credentials of {args.devices} devices in one call of `jinbao.dc.credential` (in-process, a session as the gate
opens it) against a plain hvac script on 8 threads with the same token:

| read | median | ratio |
|---|---|---|
| the lookup, {args.devices} paths in one call (8 threads inside) | {fmed['project'] * 1000:.0f} ms | {fratio:.2f}x |
| bare hvac, one client per thread, 8 threads | {fmed['bare'] * 1000:.0f} ms | 1.00x |

All rounds (ms): lookup {', '.join(f'{t * 1000:.0f}' for t in fetch['project'])}; bare
{', '.join(f'{t * 1000:.0f}' for t in fetch['bare'])}.
"""
    print(section)
    if not args.no_write:
        update_benchmarks("gate", section)
        log("docs/BENCHMARKS.md updated (section: gate)")
    return 0 if ratio <= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
