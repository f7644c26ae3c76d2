"""Every way around the cert gate that issue #15 names, tried against the lab's real OpenBao: each is refused, and
nothing of the facility is read or changed. (The -e and environment ways are in test_audit_log.py: the audit
trail stops those runs before their first task.)

- --limit that leaves the Vault host out: the gate runs on whatever the run targets;
- --start-at-task past the gate: the role's first task, or its first credential, finds no session;
- a playbook of one's own that lists the roles, outside or inside the project, or one named like a project's;
- an ad-hoc command that reads a credential: there is no session outside a gated playbook run;
- no certificate at all: nothing logs in anywhere.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from vcsim_fixtures import ROOT, VENV_BIN, run_playbook

pytestmark = pytest.mark.usefixtures("lab_operator")

NO_SESSION = "no operator session in this run"


@pytest.fixture
def place(tmp_path):
    def args(*more: str) -> list[str]:
        return ["-e", f"jinbao_reports_dir={tmp_path / 'reports'}",
                "-e", f"jinbao_service_pki_dir={tmp_path / 'services'}", *more]
    args.tmp = tmp_path
    return args


def gate_records(tmp_path) -> list[dict]:
    path = tmp_path / "reports" / "audit" / "gate.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_a_limit_that_leaves_the_vault_host_out_still_meets_the_gate(place):
    run = run_playbook("service_certs.yml", *place("--check", "--limit", "mon-city-01"), operator="op-nobody")
    assert run.returncode != 0 and "operator gate: op-nobody: certificate: no certificate on file" in run.output
    assert gate_records(place.tmp)[-1]["result"] == "refused"
    granted = run_playbook("service_certs.yml", *place("--check", "--limit", "mon-city-01"))
    assert granted.returncode == 0, granted.output[-3000:]
    assert gate_records(place.tmp)[-1]["result"] == "granted"  # the gate ran, on a host that is not vault-01


def test_start_at_task_past_the_gate_fails_closed_and_issues_nothing(place):
    run = run_playbook("service_certs.yml", *place("--start-at-task",
                                                   "Issue or renew the services' certificates (serverAuth and "
                                                   "clientAuth; keys stay on the controller)"))
    assert run.returncode != 0 and NO_SESSION in run.output, run.output[-3000:]
    assert gate_records(place.tmp) == [] and not (place.tmp / "services").exists()


@pytest.mark.parametrize("where", ["outside", "inside"])
def test_a_playbook_of_ones_own_that_lists_the_roles_fails_closed(place, where):
    folder = place.tmp if where == "outside" else ROOT / "playbooks"
    own = folder / "zz_own_service_certs.yml"
    own.write_text("- hosts: vault\n  gather_facts: false\n  roles: [pki_service]\n")
    try:
        run = subprocess.run([str(VENV_BIN / "ansible-playbook"), str(own), *place()], cwd=ROOT, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600,
                             env=dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg")))
    finally:
        own.unlink()
    assert run.returncode != 0 and NO_SESSION in run.stdout, run.stdout[-3000:]  # its arguments or first task
    assert not (place.tmp / "services").exists()


def test_a_playbook_of_ones_own_that_imports_the_gate_is_not_admitted(place):
    """The gate knows the run's playbooks by their path: a copy named like a project playbook is not one."""
    own = place.tmp / "service_certs.yml"
    own.write_text(f"- import_playbook: {ROOT / 'playbooks' / 'gate.yml'}\n"
                   "- hosts: vault\n  gather_facts: false\n  roles: [pki_service]\n")
    run = subprocess.run([str(VENV_BIN / "ansible-playbook"), str(own), *place()], cwd=ROOT, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600,
                         env=dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg")))
    assert run.returncode != 0, run.stdout[-3000:]
    assert f"playbook: {own} is not a playbook of jinbao-dc" in run.stdout, run.stdout[-3000:]
    assert gate_records(place.tmp)[-1]["result"] == "refused"


def test_an_ad_hoc_command_cannot_read_a_credential():
    run = subprocess.run([str(VENV_BIN / "ansible"), "vc-central", "-m", "ansible.builtin.debug", "-a",
                          "msg={{ vcenter_password }}"], cwd=ROOT, text=True, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, timeout=300,
                         env=dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg")))
    assert run.returncode != 0 and NO_SESSION in run.stdout, run.stdout[-3000:]
    secret = (ROOT / ".lab" / "secrets" / "vcenter.password").read_text().strip()
    assert secret not in run.stdout


def test_without_a_certificate_no_lab_device_is_reached(place):
    """Each playbook that touches devices, run by someone with no certificate: the gate refuses before any."""
    for playbook in ("discover.yml", "network.yml", "physical.yml", "monitoring.yml"):
        run = run_playbook(playbook, *place("--check"), operator="op-nobody")
        assert run.returncode != 0, (playbook, run.output[-2000:])
        assert "operator gate: op-nobody: certificate: no certificate on file" in run.output, playbook
        assert "ok: [vc-central]" not in run.output and "ok: [core-01]" not in run.output, playbook
