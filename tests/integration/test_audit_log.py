"""The audit callback (plugins/callback/audit_log.py) on real ansible-playbook runs.

A run is recorded as a start and an end record, with the OS user, playbook, check mode, the changed tasks per
host with a line count of their diff, UTC start and end, and the result; the cert gate's CN and serial when the
gate ran. A canary secret seeded into the run appears nowhere in either copy of the log. A second sink that
cannot be written stops the run before its first task, or before the next task when it is lost half-way.
"""

from __future__ import annotations

import getpass
import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest
from vcsim_fixtures import ROOT, VENV_BIN, PlaybookRun

from ansible_collections.jinbao.dc.plugins.module_utils.audit import chain

CANARY_PLAYBOOK = ROOT / "tests" / "integration" / "playbooks" / "audit_canary.yml"


def run(playbook: Path, sinks: tuple[Path, Path], *args: str, inventory: str = "localhost,") -> PlaybookRun:
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1",
               PYTHONDONTWRITEBYTECODE="", JINBAO_AUDIT_LOG=str(sinks[0]), JINBAO_AUDIT_SINK2=str(sinks[1]))
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


@pytest.mark.usefixtures("lab_operator")
def test_the_record_names_the_operator_certificate_the_gate_checked(tmp_path, sinks):
    reports = tmp_path / "reports"
    args = ("-e", "jinbao_gated_playbook=service_certs", "-e", "jinbao_operator=lab-operator",
            "-e", f"jinbao_reports_dir={reports}")
    result = run(ROOT / "playbooks" / "gate.yml", sinks, *args, inventory=str(ROOT / "inventory" / "lab"))
    assert result.returncode == 0, result.output[-3000:]
    gate = records(reports / "audit" / "gate.jsonl")[-1]
    who = records(sinks[0])[-1]["who"]
    assert (who["operator"], who["cert_cn"], who["cert_serial"]) == ("lab-operator", gate["cn"], gate["serial"])
    assert who["operator_claimed"] == "lab-operator" and who["gate"]["result"] == "granted"

    refused = run(ROOT / "playbooks" / "gate.yml", sinks, *args[:2], "-e", "jinbao_operator=op-audit-nobody",
                  "-e", f"jinbao_reports_dir={reports}", inventory=str(ROOT / "inventory" / "lab"))
    assert refused.returncode != 0
    end = records(sinks[0])[-1]
    assert end["result"] == "refused" and end["who"]["gate"]["result"] == "refused"
    assert end["who"]["cert_cn"] is None and end["who"]["operator_claimed"] == "op-audit-nobody"
    assert chain.verify(sinks[0], sinks[1]).ok
