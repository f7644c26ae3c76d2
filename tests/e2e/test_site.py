"""The main job end to end: playbooks/site.yml on the lab facility, twice (the second run changes nothing)."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from conftest import ROOT, VENV_BIN

RECAP = re.compile(r"^(?P<host>\S+)\s+:\s+ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)"
                   r"\s+failed=(?P<failed>\d+)", re.M)


@pytest.fixture(scope="module")
def lab():
    proc = subprocess.run([sys.executable, "lab/labctl.py", "up"], cwd=ROOT, capture_output=True, text=True,
                          timeout=1800)
    assert proc.returncode == 0, f"lab-up failed:\n{proc.stdout}\n{proc.stderr}"


def run_site() -> tuple[subprocess.CompletedProcess, dict[str, dict[str, int]]]:
    proc = subprocess.run([str(VENV_BIN / "ansible-playbook"), "playbooks/site.yml"], cwd=ROOT,
                          capture_output=True, text=True, timeout=3600)
    recap = {m["host"]: {k: int(m[k]) for k in ("ok", "changed", "unreachable", "failed")}
             for m in RECAP.finditer(proc.stdout)}
    return proc, recap


def test_site_runs_clean_and_a_second_run_changes_nothing(lab):
    first, recap1 = run_site()
    assert first.returncode == 0, first.stdout[-5000:] + first.stderr[-3000:]
    assert recap1 and all(r["failed"] == 0 and r["unreachable"] == 0 for r in recap1.values())
    register = json.loads((ROOT / "reports" / "assets.json").read_text())
    assert register["counts"]["vms"] > 0

    reports = ROOT / "reports"
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in reports.iterdir() if p.is_file()}

    second, recap2 = run_site()
    assert second.returncode == 0, second.stdout[-5000:] + second.stderr[-3000:]
    changed = {host: r["changed"] for host, r in recap2.items() if r["changed"]}
    assert changed == {}, f"a second run of site.yml changed something: {changed}"
    assert "Traceback" not in second.stdout + second.stderr
    after = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in reports.iterdir() if p.is_file()}
    assert after == before, "a second run of site.yml rewrote a report file"
