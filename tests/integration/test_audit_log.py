"""The audit callback (plugins/callback/audit_log.py) on real ansible-playbook runs.

A run is recorded as a start and an end record, with the OS user, playbook, check mode, the changed tasks per
host with a line count of their diff, UTC start and end, and the result; the cert gate's CN, serial and duty when
the gate ran. A canary secret seeded into the run appears nowhere in either copy of the log. A second sink that
cannot be written stops the run before its first task, or before the next task when it is lost half-way.

The sinks are set only in ansible.cfg: these tests run with a private copy of the project's configuration whose
sinks are theirs (ANSIBLE_CONFIG), which the callback records as not official, so the gate admits no one there.
An environment variable that would move the trail stops the run, and the refusal is in the official trail.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest
from vcsim_fixtures import ROOT, VENV_BIN, PlaybookRun

from ansible_collections.jinbao.dc.plugins.module_utils.audit import chain

CANARY_PLAYBOOK = ROOT / "tests" / "integration" / "playbooks" / "audit_canary.yml"


OFFICIAL = (ROOT / "reports" / "audit" / "audit.jsonl", ROOT / ".cache" / "audit-sink" / "audit.jsonl")


def private_config(sinks: tuple[Path, Path]) -> Path:
    """The project's ansible.cfg with absolute project paths and these sinks, in a folder of its own."""
    text = (ROOT / "ansible.cfg").read_text()
    for key, value in (("inventory", ROOT / "inventory" / "lab"), ("roles_path", ROOT / "roles"),
                       ("collections_path", ROOT / ".cache" / "collections"),
                       ("fact_caching_connection", ROOT / ".cache" / "facts"), ("log", sinks[0]), ("sink2", sinks[1])):
        text = re.sub(rf"(?m)^{key} = .*$", f"{key} = {value}", text)
    folder = Path(tempfile.mkdtemp(prefix="audit-cfg-"))
    (folder / "ansible.cfg").write_text(text)
    return folder / "ansible.cfg"


def run(playbook: Path, sinks: tuple[Path, Path] | None, *args: str, inventory: str = "localhost,",
        env: dict[str, str] | None = None) -> PlaybookRun:
    """ansible-playbook with these sinks (a private configuration), or with the official ones (sinks=None)."""
    config = private_config(sinks) if sinks else ROOT / "ansible.cfg"
    env = dict(os.environ, ANSIBLE_CONFIG=str(config), ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1",
               PYTHONDONTWRITEBYTECODE="", **(env or {}))
    proc = subprocess.run([str(VENV_BIN / "ansible-playbook"), "-i", inventory, str(playbook),
                           "-e", f"ansible_python_interpreter={VENV_BIN / 'python'}", *args],
                          cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
    return PlaybookRun(proc.returncode, proc.stdout)


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture
def sinks(tmp_path) -> tuple[Path, Path]:
    return tmp_path / "audit" / "audit.jsonl", tmp_path / "worm" / "audit.jsonl"


@pytest.fixture
def canary() -> str:
    return f"CANARY-{uuid.uuid4().hex}"


def canary_run(tmp_path: Path, sinks, canary: str, *more: str) -> PlaybookRun:
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    return run(CANARY_PLAYBOOK, sinks, "-e", f"audit_out={out}", "-e", f"audit_canary={canary}", *more)


def test_a_run_is_recorded_with_who_what_when_and_its_changes_and_verifies(tmp_path, sinks, canary):
    result = canary_run(tmp_path, sinks, canary, "--diff", "--limit", "localhost", "--tags", "all")
    assert result.returncode == 0, result.output[-3000:]
    assert canary in result.output  # the debug task did print it: the log must not
    start, end = records(sinks[0])
    assert (start["type"], end["type"]) == ("run_start", "run_end") and start["run_id"] == end["run_id"]
    assert end["start_seq"] == start["seq"] and end["prev_sha256"] == chain.line_sha256(
        sinks[0].read_text().splitlines()[0])
    assert end["who"]["os_user"] == getpass.getuser() and end["who"]["gate"] == {"result": "not run"}
    what = end["what"]
    assert what["playbooks"] == ["tests/integration/playbooks/audit_canary.yml"]
    assert (what["limit"], what["tags"], what["check_mode"], what["diff_mode"]) == ("localhost", ["all"], False, True)
    assert end["when"]["start"] == start["time"] and end["when"]["start"] < end["when"]["end"]
    assert end["when"]["end"].endswith("Z") and end["result"] == "ok"
    host = end["hosts"]["localhost"]
    changed = {entry["task"]: entry for entry in host["changed"]}
    assert changed["Keep the secret (no_log)"] == {"task": "Keep the secret (no_log)", "action": "ansible.builtin.copy",
                                                   "path": "tests/integration/playbooks/audit_canary.yml:13",
                                                   "censored": True}
    report = changed["Write the report for {{ audit_canary }}"]  # the name as written, never rendered
    assert report["diff"] == {"added": 3, "removed": 0}
    assert [f["task"] for f in host["failed"]] == ["Fail with the secret in the message (ignored)"]
    assert host["failed"][0]["ignored"] is True and host["stats"]["changed"] == 2
    verdict = chain.verify(sinks[0], sinks[1])
    assert verdict.ok and verdict.records == 2, [str(f) for f in verdict.findings]


def test_a_second_run_changes_nothing_and_its_record_says_so_in_check_mode(tmp_path, sinks, canary):
    assert canary_run(tmp_path, sinks, canary).returncode == 0
    again = canary_run(tmp_path, sinks, canary, "--check")
    assert again.returncode == 0, again.output[-3000:]
    end = records(sinks[0])[-1]
    assert end["what"]["check_mode"] is True and end["hosts"]["localhost"]["changed"] == []
    assert [r["seq"] for r in records(sinks[0])] == [1, 2, 3, 4]
    assert chain.verify(sinks[0], sinks[1]).ok


def test_the_canary_secret_appears_nowhere_in_either_copy_of_the_log(tmp_path, sinks, canary):
    for extra in (("-v", "--diff"), ("--check", "--diff")):
        assert canary_run(tmp_path, sinks, canary, *extra).returncode == 0
    assert (tmp_path / "out" / "secret.txt").read_text().strip() == canary  # the secret was really handled
    for path in sinks:
        text = path.read_text()
        assert text.count(canary) == 0 and text.count(canary[7:]) == 0, path
    assert len(records(sinks[0])) == 4


def test_an_unwritable_second_sink_stops_the_run_before_its_first_task(tmp_path, sinks, canary):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a regular file: nothing can be created under it, not even by root\n")
    result = canary_run(tmp_path, (sinks[0], blocker / "worm" / "audit.jsonl"), canary)
    assert result.returncode != 0
    assert f"audit trail: audit sink {blocker}/worm/audit.jsonl cannot be written" in result.output
    assert "TASK [" not in result.output  # no task started
    assert not (tmp_path / "out" / "secret.txt").exists() and not (tmp_path / "out" / "report.txt").exists()
    assert records(sinks[0]) == []  # both sinks are proven before either is written


def test_an_unwritable_primary_log_stops_the_run_before_its_first_task(tmp_path, sinks, canary):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x\n")
    result = canary_run(tmp_path, (blocker / "audit.jsonl", sinks[1]), canary)
    assert result.returncode != 0 and f"audit sink {blocker}/audit.jsonl cannot be written" in result.output
    assert not (tmp_path / "out" / "secret.txt").exists()


def test_a_sink_lost_half_way_stops_the_run_before_the_next_task_and_the_log_says_so(tmp_path, sinks, canary):
    result = canary_run(tmp_path, sinks, canary, "-e", f"audit_lose_sink={sinks[1]}")
    assert result.returncode != 0 and "audit trail: audit sink" in result.output, result.output[-3000:]
    assert (tmp_path / "out" / "secret.txt").exists()  # before the loss
    assert not (tmp_path / "out" / "report.txt").exists()  # after the loss: never run
    start, end = records(sinks[0])
    assert start["type"] == "run_start" and end["result"] == "stopped" and str(sinks[1]) in end["reason"]
    assert [e["task"] for e in end["hosts"]["localhost"]["changed"]] == [
        "Keep the secret (no_log)", "Lose the second audit sink (the fault)"]
    assert canary not in sinks[0].read_text()


def official_records_since(size: int) -> list[dict]:
    with OFFICIAL[0].open("rb") as fh:
        fh.seek(size)
        return [json.loads(line) for line in fh.read().decode().splitlines()]


@pytest.mark.usefixtures("lab_operator")
def test_the_record_names_the_operator_certificate_and_duty_the_gate_checked(tmp_path):
    reports = tmp_path / "reports"
    args = ("--check", "-e", f"jinbao_reports_dir={reports}", "-e", f"jinbao_service_pki_dir={tmp_path / 'svc'}")
    before = OFFICIAL[0].stat().st_size
    result = run(ROOT / "playbooks" / "service_certs.yml", None, *args, inventory=str(ROOT / "inventory" / "lab"))
    assert result.returncode == 0, result.output[-3000:]
    gate = records(reports / "audit" / "gate.jsonl")[-1]
    start, end = official_records_since(before)[-2:]
    assert start["type"] == "run_start" and end["run_id"] == start["run_id"] == gate["run_id"]
    who = end["who"]
    assert (who["operator"], who["cert_cn"], who["cert_serial"], who["duty"]) == (
        "lab-sysadmin", gate["cn"], gate["serial"], "system-admin")
    assert who["gate"]["result"] == "granted"

    before = OFFICIAL[0].stat().st_size
    refused = run(ROOT / "playbooks" / "service_certs.yml", None, *args, inventory=str(ROOT / "inventory" / "lab"),
                  env={"JINBAO_OPERATOR": "op-audit-nobody"})
    assert refused.returncode != 0
    end = official_records_since(before)[-1]
    assert end["result"] == "refused" and end["who"]["gate"]["result"] == "refused"
    assert end["who"]["cert_cn"] is None and end["who"]["operator_claimed"] == "op-audit-nobody"
    assert chain.verify(*OFFICIAL).ok


@pytest.mark.usefixtures("lab_operator")
def test_a_configuration_with_other_sinks_is_not_official_and_the_gate_admits_no_one(tmp_path, sinks):
    result = run(ROOT / "playbooks" / "service_certs.yml", sinks, "--check", "-e", f"jinbao_reports_dir={tmp_path}",
                 inventory=str(ROOT / "inventory" / "lab"))
    assert result.returncode != 0
    assert "operator gate: audit: sinks: this run writes its audit trail to" in result.output, result.output[-3000:]
    end = records(sinks[0])[-1]
    assert end["result"] == "refused" and "not to the official sinks" in end["who"]["gate"]["reason"]


@pytest.mark.parametrize("variable", ["JINBAO_AUDIT_LOG", "JINBAO_AUDIT_SINK2", "ANSIBLE_CALLBACK_PLUGINS"])
def test_an_environment_override_of_the_trail_stops_the_run_and_the_refusal_is_in_the_official_trail(
        tmp_path, canary, variable):
    before = OFFICIAL[0].stat().st_size
    out = tmp_path / "out"
    out.mkdir()
    result = run(CANARY_PLAYBOOK, None, "-e", f"audit_out={out}", "-e", f"audit_canary={canary}",
                 env={variable: str(tmp_path / "elsewhere")})
    assert result.returncode != 0 and f"audit trail: {variable} set in the environment" in result.output
    assert "TASK [" not in result.output and not (out / "secret.txt").exists()
    start, end = official_records_since(before)[-2:]
    assert start["type"] == "run_start" and end["result"] == "stopped" and variable in end["reason"]
    assert not (tmp_path / "elsewhere").exists()


@pytest.mark.parametrize("name", ["jinbao_operator", "jinbao_operator_pki_dir", "vault_addr", "vault_ca_file",
                                  "vault_port", "lab_state_dir", "operator_gate_cert", "jinbao_credential_path",
                                  "pki_operator_token"])
def test_an_extra_var_of_the_gate_or_vault_is_refused_before_any_task(tmp_path, canary, name):
    before = OFFICIAL[0].stat().st_size
    out = tmp_path / "out"
    out.mkdir()
    result = run(CANARY_PLAYBOOK, None, "-e", f"audit_out={out}", "-e", f"audit_canary={canary}",
                 "-e", json.dumps({name: "/tmp/elsewhere"}))
    assert result.returncode != 0 and f"audit trail: -e {name}: " in result.output, result.output[-2000:]
    assert "TASK [" not in result.output
    assert official_records_since(before)[-1]["result"] == "stopped"


@pytest.mark.usefixtures("lab_operator")
def test_a_gated_run_anchors_the_chain_in_vault_and_a_chain_resealed_on_the_controller_is_caught(tmp_path):
    result = run(ROOT / "playbooks" / "service_certs.yml", None, "--check", "-e", f"jinbao_reports_dir={tmp_path}",
                 inventory=str(ROOT / "inventory" / "lab"))
    assert result.returncode == 0, result.output[-3000:]
    auditor = ROOT / ".pki" / "operators" / "lab-auditor" / "lab-auditor"
    vault = ["--vault", "https://127.0.0.1:18200", "--vault-ca", str(ROOT / ".lab" / "pki" / "ca.crt"),
             "--cert", f"{auditor}.crt", "--key", f"{auditor}.key"]
    cli = [str(VENV_BIN / "python"), "-m", "ansible_collections.jinbao.dc.plugins.module_utils.audit.cli", "verify"]
    env = dict(os.environ, PYTHONPATH=str(ROOT / ".cache" / "collections"))
    good = subprocess.run([*cli, *vault], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert good.returncode == 0 and "matches its anchors in Vault" in good.stdout, good.stdout + good.stderr
    # A forger with write access to the controller re-seals a copy of the chain (every hash consistent again)
    lines = OFFICIAL[0].read_text().splitlines()
    head = json.loads(lines[-1])
    assert head["type"] == "run_end" and head["who"]["cert_cn"].startswith("lab-sysadmin.")
    forged, changed = [], False
    for line in lines:
        record = json.loads(line)
        if record["seq"] == head["seq"]:  # the anchored run's end: make it say someone else did it
            record["who"]["operator"], changed = "someone-else", True
        body = {k: v for k, v in record.items() if k not in ("v", "seq", "prev_sha256", "sha256")}
        forged.append(chain.seal(body, record["seq"], forged[-1] if forged else None))
    assert changed
    copy = tmp_path / "forged" / "audit.jsonl"
    copy.parent.mkdir()
    copy.write_text("\n".join(forged) + "\n")
    assert chain.verify(copy, None).ok  # on its own, the re-sealed chain holds together
    bad = subprocess.run([*cli, "--log", str(copy), "--no-sink2", *vault], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode == 1 and "ANCHOR" in bad.stdout and f"seq {head['seq']}" in bad.stdout, bad.stdout
