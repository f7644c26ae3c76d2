"""A wave whose vCenter dies under it: the play fails clearly, the ledger stays consistent, a re-run finishes.

The private simulator here persists its inventory (as a real vCenter does) and takes 200 ms per
relocation, so a SIGKILL lands in the middle of the wave. After the restart the same wave is run again.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter

import pytest
from vcsim_fixtures import ROOT, VENV_BIN, private_vcenter, run_playbook, share_lab_password

from ansible_collections.jinbao.dc.plugins.module_utils.consolidation import ledger as ledger_utils
from lab.vcsim import service

# The playbooks here are cert-gated: they run as lab-sysadmin (the lab's system administrator, by certificate).
pytestmark = pytest.mark.usefixtures("lab_operator")

PORT = 18644
BRANCH_ROOMS = {"branch-north", "branch-south", "branch-east"}


@pytest.fixture
def sim(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_VCSIM_RELOCATE_MS", "200")
    svc = service.standalone("vc-kill", PORT, tmp_path / "lab", persist=True)
    share_lab_password(svc)
    svc.start()
    yield svc
    svc.stop()


def play_args(svc, reports):
    return [*private_vcenter(svc.lab.state_dir, PORT), "-e", f"jinbao_reports_dir={reports}"]


def per_zone(register: dict) -> Counter:
    zones = Counter()
    for counts in register["counts"]["vms_by_room_zone"].values():
        zones.update(counts)
    return zones


@pytest.mark.parametrize("kill_after", [1, 3, 6])
def test_a_vcenter_killed_mid_wave_loses_nothing_and_the_rerun_finishes_it(sim, tmp_path, kill_after):
    reports = tmp_path / "reports"
    for playbook in ("discover.yml", "plan.yml"):
        run = run_playbook(playbook, *play_args(sim, reports))
        assert run.returncode == 0, run.output[-3000:]
    before = json.loads((reports / "assets.json").read_text())
    wave = json.loads((reports / "plan.json").read_text())["waves"][0]
    assert len(wave["vms"]) > kill_after + 2, "the wave is too small to be cut in the middle"
    ledger = reports / "waves" / "1.json"

    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1", PYTHONDONTWRITEBYTECODE="")
    proc = subprocess.Popen([str(VENV_BIN / "ansible-playbook"), "-i", str(ROOT / "inventory" / "lab"),
                             str(ROOT / "playbooks" / "migrate.yml"), "-e", "wave=1", "-e", "migrate_concurrency=2",
                             *play_args(sim, reports)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 300
    moved = 0
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            moved = sum(1 for e in ledger_utils.read(str(ledger))["vms"].values() if e["status"] == "moved")
        except ValueError:
            pass  # never: the ledger is replaced atomically; read() would name the file
        if moved >= kill_after:
            break
        time.sleep(0.05)
    assert proc.poll() is None and moved >= kill_after, f"the wave ended before {kill_after} moves"
    os.killpg(sim.pid(), signal.SIGKILL)  # the vCenter dies mid-wave, with no chance to clean up
    output, _ = proc.communicate(timeout=600)
    assert proc.returncode != 0
    assert "wave 1:" in output and ("lost the connection to 127.0.0.1:18644" in output
                                    or "cannot connect to 127.0.0.1:18644" in output), output[-3000:]
    assert "Traceback" not in output

    cut = ledger_utils.read(str(ledger))  # valid JSON, every entry with a known status
    assert all(e["status"] in ledger_utils.STATUSES for e in cut["vms"].values())
    moved_before_kill = {name for name, e in cut["vms"].items() if e["status"] == "moved"}
    assert len(moved_before_kill) >= kill_after

    sim.start()  # the vCenter comes back with what it had done
    run = run_playbook("migrate.yml", "-e", "wave=1", *play_args(sim, reports))
    assert run.returncode == 0, run.output[-3000:]
    final = ledger_utils.read(str(ledger))["vms"]
    assert set(final) == {vm["name"] for vm in wave["vms"]}
    assert all(e["status"] in ("moved", "in_place") for e in final.values()), final
    for name in moved_before_kill:  # found in place after the restart: not moved a second time
        assert final[name]["status"] == "moved" and final[name]["attempts"] == 1, (name, final[name])
    rooms = {h["name"]: h["room"] for h in before["hosts"]}
    for name, entry in final.items():
        if entry["status"] == "moved":  # each move started in a branch room, so no VM moved twice
            assert rooms[entry["source"]["host"]] in BRANCH_ROOMS, (name, entry)

    run = run_playbook("discover.yml", *play_args(sim, reports))
    assert run.returncode == 0, run.output[-3000:]
    after = json.loads((reports / "assets.json").read_text())
    assert per_zone(after) == per_zone(before)
    placed = {vm["name"]: vm["cluster"] for vm in after["vms"]}
    assert all(placed[vm["name"]] == vm["target"]["cluster"] for vm in wave["vms"])
