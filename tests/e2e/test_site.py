"""The main job end to end: playbooks/site.yml on the lab facility, twice (the second run changes nothing).

site.yml moves every VM of the lab vCenter, so the lab vCenter is reset to the seed facility (labctl reset)
before the first run and again afterwards, and the reports go to a directory of the test's own: a
developer's reports/ is left alone, and the lab vCenter is left unconsolidated.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from conftest import ROOT, VENV_BIN

RECAP = re.compile(r"^(?P<host>\S+)\s+:\s+ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)"
                   r"\s+failed=(?P<failed>\d+)", re.M)


def labctl(*args: str) -> None:
    proc = subprocess.run([sys.executable, "lab/labctl.py", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=1800)
    assert proc.returncode == 0, f"labctl {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"


@pytest.fixture(scope="module")
def lab():
    labctl("reset", "--only", "vc-central")  # a fresh, unconsolidated lab vCenter
    labctl("up")
    yield
    labctl("reset", "--only", "vc-central")
    labctl("up", "--only", "vc-central")


def run_site(reports) -> tuple[subprocess.CompletedProcess, dict[str, dict[str, int]]]:
    proc = subprocess.run([str(VENV_BIN / "ansible-playbook"), "playbooks/site.yml", "-e",
                           f"jinbao_reports_dir={reports}"], cwd=ROOT, capture_output=True, text=True, timeout=3600)
    recap = {m["host"]: {k: int(m[k]) for k in ("ok", "changed", "unreachable", "failed")}
             for m in RECAP.finditer(proc.stdout)}
    return proc, recap


def files(reports):
    return {str(p.relative_to(reports)): (p.stat().st_mtime_ns, p.read_bytes())
            for p in sorted(reports.rglob("*")) if p.is_file() and not p.name.endswith(".lock")}


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

    second, recap2 = run_site(reports)
    assert second.returncode == 0, second.stdout[-5000:] + second.stderr[-3000:]
    changed = {host: r["changed"] for host, r in recap2.items() if r["changed"]}
    assert changed == {}, f"a second run of site.yml changed something: {changed}"
    assert "Traceback" not in second.stdout + second.stderr
    assert files(reports) == before, "a second run of site.yml rewrote a report file"
