"""The main job end to end: playbooks/site.yml on the lab facility by its system administrator (lab-sysadmin), twice
(the second run changes nothing), then the audit administrator's evidence pack (lab-auditor).

site.yml moves every VM of the lab vCenter, so the lab vCenter is reset to the seed facility (labctl reset)
before the first run and again afterwards, and the reports go to a directory of the test's own: a
developer's reports/ is left alone, and the lab vCenter is left unconsolidated. The audit trail is the official
one (it cannot be moved): the evidence pack reads the newest site.yml run in it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid

import pytest

from conftest import ROOT, VENV_BIN

RECAP = re.compile(r"^(?P<host>\S+)\s+:\s+ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)"
                   r"\s+failed=(?P<failed>\d+)", re.M)


def labctl(*args: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "lab.labctl", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=1800)
    assert proc.returncode == 0, f"labctl {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"


@pytest.fixture(scope="module")
def lab():
    """The whole lab, with a fresh, unconsolidated lab vCenter whose password is the canary (seeded into the
    lab's secret file, which lab-up's security administrator puts into Vault, so every playbook reads it as the real
    one); the lab's own password is put back after, in the vCenter and in Vault."""
    secret = ROOT / ".lab" / "secrets" / "vcenter.password"
    labctl("reset", "--only", "vc-central", "fakeswitch")  # the facility as found: VMs and switches
    kept = secret.read_text() if secret.exists() else None
    secret.parent.mkdir(parents=True, exist_ok=True)
    secret.write_text(CANARY)
    secret.chmod(0o600)
    approver = None
    try:
        labctl("up")
        # the second person of the core pair's two-person change: lab-secadmin, played by lab/approver.py
        log = (ROOT / ".lab" / "log" / "approver.log").open("a")
        approver = subprocess.Popen([sys.executable, "-m", "lab.approver", "--seconds", "3600"], cwd=ROOT,
                                    stdout=log, stderr=subprocess.STDOUT)
        yield
    finally:
        if approver is not None:
            approver.terminate()
            approver.wait(timeout=30)
        if kept is None:
            secret.unlink()
        else:
            secret.write_text(kept)
        labctl("reset", "--only", "vc-central")
        labctl("up", "--only", "vc-central", "openbao")


# A canary secret: the lab vCenter's password for this test; no output or artefact of the runs may contain it
# (nor any of the lab's other secrets: see secrets_never_shown).
CANARY = f"jinbao-canary-{uuid.uuid4().hex}"


def run_site(reports, *extra: str, playbook: str = "playbooks/site.yml", operator: str = "lab-sysadmin"
             ) -> tuple[subprocess.CompletedProcess, dict[str, dict[str, int]]]:
    proc = subprocess.run([str(VENV_BIN / "ansible-playbook"), playbook, "-e",
                           f"jinbao_reports_dir={reports}", *extra],
                          cwd=ROOT, capture_output=True, text=True, timeout=3600,
                          env=dict(os.environ, JINBAO_OPERATOR=operator))
    recap = {m["host"]: {k: int(m[k]) for k in ("ok", "changed", "unreachable", "failed")}
             for m in RECAP.finditer(proc.stdout)}
    return proc, recap


def files(reports):
    """The report files, but for the audit records (append-only: every run adds its lines)."""
    return {str(p.relative_to(reports)): (p.stat().st_mtime_ns, p.read_bytes())
            for p in sorted(reports.rglob("*"))
            if p.is_file() and not p.name.endswith(".lock") and p.relative_to(reports).parts[0] != "audit"}


def test_site_consolidates_the_lab_and_a_second_run_changes_nothing(lab, tmp_path):
    reports = tmp_path / "reports"
    first, recap1 = run_site(reports)
    assert first.returncode == 0, first.stdout[-5000:] + first.stderr[-3000:]
    assert recap1 and all(r["failed"] == 0 and r["unreachable"] == 0 for r in recap1.values())
    plan = json.loads((reports / "plan.json").read_text())
    assert plan["summary"]["vms"] > 0 and plan["errors"] == []
    register = json.loads((reports / "assets.json").read_text())  # read again by report.yml, after the waves
    assert set(register["counts"]["vms_by_room"]) == {"main"}, register["counts"]["vms_by_room"]
    report = (reports / "consolidation.md").read_text()
    assert "Every check passed." in report
    decommissioned = json.loads((reports / "decommission.json").read_text())
    assert decommissioned["rooms"] == ["branch-east", "branch-north", "branch-south"]
    assert all(h["lifecycle"] == "decommissioned" for h in register["hosts"] if h["room"] != "main")
    assert "reports/consolidation.md" in first.stdout or f"{reports}/consolidation.md" in first.stdout
    before = files(reports)

    second, recap2 = run_site(reports, "-vvv")  # verbose: module arguments are printed, secrets must not be
    assert second.returncode == 0, second.stdout[-5000:] + second.stderr[-3000:]
    changed = {host: r["changed"] for host, r in recap2.items() if r["changed"]}
    assert changed == {}, f"a second run of site.yml changed something: {changed}"
    assert "Traceback" not in second.stdout + second.stderr
    assert files(reports) == before, "a second run of site.yml rewrote a report file"
    gate = [json.loads(line) for line in (reports / "audit" / "gate.jsonl").read_text().splitlines()]
    assert {g["playbook"] for g in gate} == {"site"} and len(gate) >= 2  # every stage's gate, both runs
    assert all(g["result"] == "granted" and g["cn"] == "lab-sysadmin.operators.city.jinbao.example"
               and g["duty"] == "system-admin" for g in gate)
    report = (reports / "consolidation.md").read_text()
    assert "## PKI: CA chain (issuing CA first)" in report and "CN=jinbao city issuing CA" in report
    assert "## Network: zone-to-zone reachability of the running configuration (matches the flow policy)" in report
    assert "| core-01 |" in report.split("## Network: changes per device")[1].split("##")[0]
    # make demo's last step: the auditor's evidence pack of exactly the run that just ended
    period = json.dumps({"evidence_from": "run start", "evidence_to": "run end"})  # values with spaces: JSON
    evidence, _ = run_site(reports, "-e", period, playbook="playbooks/evidence.yml", operator="lab-auditor")
    assert evidence.returncode == 0, evidence.stdout[-5000:] + evidence.stderr[-3000:]
    packs = sorted((reports / "evidence").rglob("evidence.md"))
    assert len(packs) == 1 and (packs[0].parent / "evidence.html").exists(), packs
    pack = packs[0].read_text()
    for area in ("Security", "Personnel", "System", "Data", "Machine-room", "Network"):
        assert f"## {area} management" in pack, f"the evidence pack has no {area} section"
    audit_cli = "ansible_collections.jinbao.dc.plugins.module_utils.audit.cli"
    verify = subprocess.run([str(VENV_BIN / "python"), "-m", audit_cli, "verify"], cwd=ROOT, capture_output=True,
                            text=True, timeout=300,
                            env=dict(os.environ, PYTHONPATH=str(ROOT / ".cache" / "collections")))
    assert verify.returncode == 0, verify.stdout + verify.stderr
    site = tmp_path / "site"
    docs = subprocess.run([str(VENV_BIN / "mkdocs"), "build", "--strict", "--config-file", str(ROOT / "mkdocs.yml"),
                           "--site-dir", str(site)], cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, NO_MKDOCS_2_WARNING="1"))
    assert docs.returncode == 0, docs.stderr[-3000:]
    secrets_never_shown(reports, first, second, evidence, extra=(ROOT / "reports" / "audit", site))


def secrets_never_shown(reports, *runs: subprocess.CompletedProcess, extra=()) -> None:
    """No secret in any output or artefact (the reports and the evidence pack, the official audit trail, the runbook
    site): the canary, the Vault unseal key, the BMC password, every password the lab made (.lab/secrets), and
    every private key the runs used or made (operators' and services')."""
    lab = ROOT / ".lab"
    init = json.loads((lab / "secrets" / "openbao-init.json").read_text())
    assert init["root_token"] is None  # revoked and forgotten at the lab's bootstrap
    secrets = {"canary vCenter password": CANARY, "Vault unseal key": init["unseal_keys_b64"][0],
               "BMC password": (lab / "secrets" / "bmc.password").read_text().strip(),
               "switch password": (lab / "secrets" / "netdev.password").read_text().strip()}
    for path in (lab / "secrets").iterdir():  # the lab's generated passwords: PostgreSQL, restic, SNMP, ...
        if path.suffix == "" and path.stat().st_size <= 200 and "\n" not in path.read_text().strip():
            secrets[f"lab secret {path.name}"] = path.read_text().strip()
    for key in [*(ROOT / ".pki").rglob("*.key")]:
        body = "".join(key.read_text().splitlines()[1:-1])
        secrets[f"private key {key.name}"] = body[20:80]  # a stretch of the key's base64, line breaks removed
    artefacts = {"output": "\n".join(r.stdout + r.stderr for r in runs)}
    for folder in (reports, lab / "log", lab / "data" / "vault-01" / "audit", ROOT / ".cache" / "facts",
                   ROOT / "backups", *extra):
        for path in folder.rglob("*"):
            if path.is_file():
                artefacts[str(path)] = path.read_text(errors="replace")
    assert len(secrets) >= 10 and len(artefacts) > 20
    # An SNMP agent's own log names the communities it serves, as a real agent's configuration holds them: the
    # lab's snmpsim agents are the devices, not the platform, so their logs are not the platform's artefacts.
    agents = {str(lab / "log" / f"{host}.log")
              for host in ("ups-main-01", "env-main-01", "pdu-main-a01", "pdu-main-a02")}
    leaks = [f"{what} in {where}" for what, value in secrets.items() for where, text in artefacts.items()
             if value and value in text.replace("\n", "") and not (what == "lab secret snmp-community"
                                                                    and where in agents)]
    assert leaks == [], leaks
