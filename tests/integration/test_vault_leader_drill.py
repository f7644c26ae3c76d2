"""Leader-loss drills on the lab's OpenBao raft cluster (issue #15, Deliver 6): the leader is killed while a bulk
onboarding runs and while a gated run reads the facility's credentials. Each run finishes or fails cleanly (one
line naming Vault, no traceback); no certificate Vault issued is missing from the register, none on disk lacks its
row; nothing is half-written; and once the node is back the same run completes.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from vcsim_fixtures import ROOT, VENV_BIN, labctl

from lab.security import login

pytestmark = pytest.mark.usefixtures("lab_operator")

RUN = uuid.uuid4().hex[:6]
SECADMIN = "lab-secadmin"


def start(playbook: str, *args: str, operator: str) -> subprocess.Popen:
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1", JINBAO_OPERATOR=operator)
    return subprocess.Popen([str(VENV_BIN / "ansible-playbook"), str(ROOT / "playbooks" / playbook), *args],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def kill_the_leader_once_admitted(proc: subprocess.Popen, gate_log: Path) -> tuple[str, str]:
    """Wait until the run's gate admitted the operator (its record is written), then SIGKILL the leader."""
    deadline = time.monotonic() + 180
    while not (gate_log.exists() and '"granted"' in gate_log.read_text()):
        assert proc.poll() is None, f"the run ended before its gate admitted anyone:\n{proc.stdout.read()[-3000:]}"
        assert time.monotonic() < deadline, "the run's gate never admitted the operator"
        time.sleep(0.2)
    killed = subprocess.run([str(VENV_BIN / "python"), "-m", "lab.labctl", "act", "vault-01", "kill-leader"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert killed.returncode == 0, killed.stdout + killed.stderr
    output, _ = proc.communicate(timeout=900)
    labctl("up", "--only", "openbao")  # the killed node comes back, unsealed, and rejoins
    return killed.stdout, output


def clean(returncode: int, output: str) -> None:
    assert "Traceback" not in output and "Unexpected Exception" not in output, output[-4000:]
    if returncode != 0:  # a clean failure names Vault, the node and what it saw
        assert "vault-0" in output or "Vault" in output, output[-4000:]


def issued_by_vault(prefix: str) -> set[str]:
    """The serials Vault's issuing CA holds for certificates whose CN starts with `prefix` (colon hex)."""
    from cryptography import x509

    vault = login(SECADMIN)
    found = set()
    for serial in vault.adapter.list("/v1/pki-city/certs")["data"]["keys"]:
        pem = vault.adapter.get(f"/v1/pki-city/cert/{serial}")["data"]["certificate"]
        cn = x509.load_pem_x509_certificate(pem.encode()).subject.rfc4514_string()
        if cn.startswith(f"CN={prefix}"):
            found.add(serial.lower())
    return found


def test_bulk_onboarding_survives_or_fails_cleanly_when_the_leader_dies_and_the_register_holds_every_certificate(
        tmp_path):
    ids = [f"op-drill-{RUN}-{i:02d}" for i in range(24)]
    args = ["-e", json.dumps({"operators": ids}), "-e", f"jinbao_pki_dir={tmp_path / 'keys'}",
            "-e", f"jinbao_reports_dir={tmp_path / 'reports'}"]
    proc = start("operator_onboard.yml", *args, operator=SECADMIN)
    killed, output = kill_the_leader_once_admitted(proc, tmp_path / "reports" / "audit" / "gate.jsonl")
    clean(proc.returncode, output)

    def state() -> tuple[set[str], set[str], set[str]]:
        register = tmp_path / "reports" / "pki" / "operators.csv"
        rows = list(csv.DictReader(register.open())) if register.exists() else []
        on_disk = {p.parent.name for p in (tmp_path / "keys").glob("*/*.crt")}
        return {r["operator"] for r in rows}, on_disk, {r["serial"].lower() for r in rows}

    named, on_disk, serials = state()
    assert named == on_disk, f"after {killed}: register {sorted(named)} vs files {sorted(on_disk)}"
    assert issued_by_vault(f"op-drill-{RUN}-") == serials, "a certificate Vault issued is missing from the register"
    again = start("operator_onboard.yml", *args, operator=SECADMIN)  # the same run, the cluster whole again
    output, _ = again.communicate(timeout=900)
    assert again.returncode == 0, output[-4000:]
    named, on_disk, serials = state()
    assert named == on_disk == set(ids)
    assert issued_by_vault(f"op-drill-{RUN}-") == serials


def test_a_gated_run_survives_or_fails_cleanly_when_the_leader_dies_and_writes_nothing_half(tmp_path):
    args = ["-e", f"jinbao_reports_dir={tmp_path / 'reports'}"]
    proc = start("discover.yml", *args, operator="lab-sysadmin")
    killed, output = kill_the_leader_once_admitted(proc, tmp_path / "reports" / "audit" / "gate.jsonl")
    clean(proc.returncode, output)
    assets = tmp_path / "reports" / "assets.json"
    if assets.exists():  # written whole or not at all
        json.loads(assets.read_text())
    again = start("discover.yml", *args, operator="lab-sysadmin")
    output, _ = again.communicate(timeout=900)
    assert again.returncode == 0, f"after {killed}:\n{output[-4000:]}"
    assert json.loads(assets.read_text())["counts"]["vms"] > 0
