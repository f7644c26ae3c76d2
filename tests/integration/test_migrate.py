"""Stages 4, 5 and 8 against a private lab vCenter: plan, migrate the waves, report.

The waves change the simulator, so these tests run on a simulator of their own (own port and state
directory), not on the lab's vc-central that the discovery tests read.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from vcsim_fixtures import approver, private_vcenter, run_playbook, share_lab_password

from ansible_collections.jinbao.dc.plugins.module_utils.seams import vsphere
from lab.vcsim import service

# The playbooks here are cert-gated: they run as lab-sysadmin (the lab's system administrator, by certificate).
pytestmark = pytest.mark.usefixtures("lab_operator")

PORT = 18643
NAME = "vc-central"


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    """A fresh private simulator for this module, stopped at the end."""
    state = tmp_path_factory.mktemp("vcsim-migrate")
    svc = service.standalone("vc-migrate", PORT, state)
    share_lab_password(svc)
    status = svc.start()
    assert "seeded" in status or "started" in status, status
    yield svc
    svc.stop()


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    return tmp_path_factory.mktemp("reports")


def play(sim, reports: Path, playbook: str, *args: str):
    """A playbook against the private simulator, with every report under `reports`."""
    return run_playbook(playbook, *private_vcenter(sim.lab.state_dir, PORT), "-e", f"jinbao_reports_dir={reports}",
                        *args)


def endpoint(sim):
    return vsphere.Endpoint(name=NAME, hostname="127.0.0.1", port=PORT, username="jinbao-lab",
                            password=(sim.lab.state_dir / "secrets" / "vcenter.password").read_text().strip(),
                            ca_file=str(sim.lab.state_dir / "pki" / "ca.crt"))


def read_vcenter(sim) -> dict:
    """The simulator's inventory, read as discovery reads it (vsphere.collect)."""
    ep = endpoint(sim)
    si = vsphere.connect(ep)
    try:
        return vsphere.collect(si, ep)
    finally:
        vsphere.disconnect(si)


def placements(sim) -> dict[str, dict]:
    """Every VM's name -> host, cluster and datastores, read from the simulator."""
    raw = read_vcenter(sim)
    compute = raw["compute"]
    out = {}
    for vm in raw["vms"].values():
        host = raw["hosts"].get(vm.get("runtime.host")) or {}
        cluster = compute.get(host.get("parent")) or {}
        out[vm["name"]] = {"host": host.get("name"), "cluster": cluster.get("name"),
                           "datastores": sorted(raw["datastores"][d]["name"] for d in vm.get("datastore") or ())}
    return out


def inventory_state(sim) -> tuple[dict[str, tuple[str, bool]], set[str]]:
    """Every host's (connection state, maintenance) and the names of the datastores, from the simulator."""
    raw = read_vcenter(sim)
    hosts = {h["name"]: (h["runtime.connectionState"], h["runtime.inMaintenanceMode"]) for h in raw["hosts"].values()}
    return hosts, {d["name"] for d in raw["datastores"].values()}


@pytest.fixture(scope="module")
def planned(sim, reports):
    run = play(sim, reports, "discover.yml")
    assert run.returncode == 0, run.output[-3000:]
    run = play(sim, reports, "plan.yml")
    assert run.returncode == 0, run.output[-3000:]
    return json.loads((reports / "plan.json").read_text())


def test_check_diff_shows_the_moves_and_changes_nothing(sim, reports, planned):
    before = placements(sim)
    run = play(sim, reports, "migrate.yml", "-e", "wave=1", "--check", "--diff")
    assert run.returncode == 0, run.output[-3000:]
    wave1 = planned["waves"][0]["vms"]
    for vm in wave1:
        assert f"{vm['name']}: " in run.output and f"/{vm['target']['folder']}" in run.output, vm["name"]
    assert placements(sim) == before
    assert not (reports / "waves" / "1.json").exists()


def test_a_wave_that_does_not_fit_stops_before_any_move(sim, reports, planned, tmp_path):
    tight = json.loads(json.dumps(planned))
    tight["options"]["host_reserve"] = 10  # every host of every target cluster held in reserve
    (tmp_path / "plan.json").write_text(json.dumps(tight))
    before = placements(sim)
    run = play(sim, tmp_path, "migrate.yml", "-e", "wave=1")
    assert run.returncode != 0
    assert "the wave does not fit; no VM was moved" in run.output
    assert "short by" in run.output and "in reserve" in run.output
    assert placements(sim) == before


def test_failing_vms_stay_on_their_source_and_too_many_abort_the_wave(sim, reports, planned, tmp_path):
    broken = json.loads(json.dumps(planned))
    wave = broken["waves"][0]
    for vm in wave["vms"]:  # every VM of the wave aims at a datastore that does not exist
        vm["target"]["datastore"] = "no-such-datastore"
    (tmp_path / "plan.json").write_text(json.dumps(broken))
    before = placements(sim)
    run = play(sim, tmp_path, "migrate.yml", "-e", "wave=1", "-e", "migrate_concurrency=1",
                       "-e", "migrate_batch_size=2", "-e", "migrate_max_fail_percentage=20")
    assert run.returncode != 0
    assert "wave 1: aborted: more than 20" in run.output
    assert "pre-check: target datastore no-such-datastore does not exist in vc-central" in run.output
    assert placements(sim) == before
    ledger = json.loads((tmp_path / "waves" / "1.json").read_text())["vms"]
    statuses = Counter(e["status"] for e in ledger.values())
    limit = int(len(wave["vms"]) * 0.2)
    assert statuses["failed"] == limit + 1  # the first failure over the limit stops the wave
    assert statuses["skipped"] == len(wave["vms"]) - limit - 1
    assert all(e["status"] != "moved" for e in ledger.values())


def test_a_vm_that_fails_after_leaving_its_source_is_moved_back(sim, reports, planned, tmp_path):
    folders = {v["name"]: v["folder"] for v in json.loads((reports / "assets.json").read_text())["vms"]}
    one = json.loads(json.dumps(planned))
    # a VM that also changes folder (a corrected one), so that vCenter can refuse that step after the relocation
    wave, vm = next((w, v) for w in one["waves"] for v in w["vms"] if folders[v["name"]] != v["target"]["folder"])
    one["waves"] = [{**wave, "wave": 1, "vms": [vm]}]
    (tmp_path / "plan.json").write_text(json.dumps(one))
    faults = sim.data_dir / "faults.json"  # vCenter will refuse this VM's folder move, after its relocation
    faults.write_text(json.dumps({"refuse_folder_moves": [vm["name"]]}))
    before = placements(sim)
    try:
        run = play(sim, tmp_path, "migrate.yml", "-e", "wave=1")
    finally:
        faults.unlink()
    assert run.returncode != 0
    assert "the folder move was refused" in run.output
    assert f"(the VM is back on its source {vm['source']['host']})" in run.output
    assert placements(sim) == before
    entry = json.loads((tmp_path / "waves" / "1.json").read_text())["vms"][vm["name"]]
    assert entry["status"] == "failed" and entry["returned_to_source"] is True


def test_decommission_refuses_rooms_that_still_hold_vms_or_servers_and_changes_nothing(sim, reports, planned):
    before = inventory_state(sim)
    run = play(sim, reports, "decommission.yml", "-e", "decommission_servers_group=no_such_group")
    assert run.returncode != 0
    assert "refusing to decommission; nothing was changed" in run.output
    assert "esx-north-01: vms: host in branch-north still holds" in run.output
    assert "esx-north-01-local: vms: datastore in branch-north still holds" in run.output
    run = play(sim, reports, "decommission.yml")
    assert run.returncode != 0
    assert "db-north-01: room: the physical server is still in branch-north" in run.output
    assert inventory_state(sim) == before
    assert not (reports / "decommission.json").exists()


def test_every_wave_moves_every_vm_into_its_zone_cluster_and_the_report_proves_it(sim, reports, planned, lab_bmcs):
    run = play(sim, reports, "migrate.yml", "-e", "wave=all")
    assert run.returncode == 0, run.output[-4000:]
    now = placements(sim)
    for wave in planned["waves"]:
        ledger = json.loads((reports / "waves" / f"{wave['wave']}.json").read_text())["vms"]
        for vm in wave["vms"]:
            assert ledger[vm["name"]]["status"] == "moved", (vm["name"], ledger[vm["name"]])
            assert now[vm["name"]]["cluster"] == vm["target"]["cluster"]
            assert now[vm["name"]]["datastores"] == [vm["target"]["datastore"]]
            assert ledger[vm["name"]]["source"]["host"] == vm["source"]["host"]
    run = play(sim, reports, "report.yml")
    assert run.returncode != 0  # the physical servers have not moved yet
    assert "every planned physical server move is done: db-north-01 (not run), db-south-01 (not run)" in run.output
    run = run_playbook("physical.yml", "-e", f"jinbao_reports_dir={reports}")  # the lab's own BMCs
    assert run.returncode == 0, run.output[-4000:]
    run = play(sim, reports, "report.yml")
    assert run.returncode == 0, run.output[-4000:]
    text = (reports / "consolidation.md").read_text()
    assert "Every check passed." in text
    for room in ("branch-north", "branch-south", "branch-east"):
        assert f"| {room} |" in text
    assert "<table>" in (reports / "consolidation.html").read_text()


def test_a_second_run_of_the_waves_moves_nothing(sim, reports, planned):
    ledgers = {p.name: p.read_text() for p in (reports / "waves").glob("*.json")}
    run = play(sim, reports, "migrate.yml", "-e", "wave=all")
    assert run.returncode == 0, run.output[-3000:]
    assert run.recap(NAME)["changed"] == 0, run.output[-3000:]
    assert {p.name: p.read_text() for p in (reports / "waves").glob("*.json")} == ledgers
    run = play(sim, reports, "plan.yml")
    assert run.returncode == 0 and run.recap("localhost")["changed"] == 0, run.output[-3000:]
    assert "is kept" in run.output


def test_decommission_takes_the_emptied_rooms_out_of_service_and_the_register_says_so(sim, reports, planned):
    run = play(sim, reports, "decommission.yml", "--check", "--diff")
    assert run.returncode == 0, run.output[-3000:]
    assert "esx-north-01 (branch-north): disconnect" in run.output
    assert "waits for a second operator" not in run.output  # a check asks nobody: it changes nothing
    assert inventory_state(sim)[0]["esx-north-01"] == ("connected", False)
    # two-person control: without a security administrator's approval, the run stops and changes nothing
    alone = play(sim, reports, "decommission.yml", "-e", "decommission_two_person_timeout=5")
    assert alone.returncode != 0 and "no approval of change" in alone.output, alone.output[-3000:]
    assert "decommissioning branch-east, branch-north, branch-south" in alone.output
    assert inventory_state(sim)[0]["esx-north-01"] == ("connected", False)
    with approver():
        run = play(sim, reports, "decommission.yml")
    assert run.returncode == 0, run.output[-3000:]
    assert "waits for a second operator (a security administrator)" in run.output
    hosts, datastores = inventory_state(sim)
    branch = [h for h in hosts if not h.startswith(("esx-prod", "esx-exch", "esx-dec"))]
    assert branch and all(hosts[h] == ("disconnected", True) for h in branch), hosts
    assert all(hosts[h] == ("connected", False) for h in hosts if h not in branch)
    assert not any(d.endswith("-local") for d in datastores), datastores
    record = json.loads((reports / "decommission.json").read_text())
    assert record["rooms"] == ["branch-east", "branch-north", "branch-south"]
    assert record["hosts"] == sorted(branch) and record["servers"] == ["db-north-01", "db-south-01"]
    again = play(sim, reports, "decommission.yml")  # nothing left to do: nobody is asked
    assert again.returncode == 0 and again.recap(NAME)["changed"] == 0, again.output[-3000:]
    assert "waits for a second operator" not in again.output
    run = play(sim, reports, "report.yml")
    assert run.returncode == 0, run.output[-3000:]
    register = json.loads((reports / "assets.json").read_text())
    assert {h["name"] for h in register["hosts"] if h["lifecycle"] == "decommissioned"} == set(branch)
    assert "esx-north-01-local" in register["decommissioned"]["datastores"]
    assert "hosts: maintenance mode, disconnected" in (reports / "consolidation.md").read_text()


def test_a_vm_renamed_or_removed_after_the_plan_is_reported(sim, reports, planned, tmp_path):
    moved_plan = json.loads(json.dumps(planned))
    wave = moved_plan["waves"][0]
    wave["vms"][0]["uuid"] = "00000000-dead-beef-0000-000000000000"  # removed from vCenter since the plan
    wave["vms"][1]["name"] = wave["vms"][1]["name"] + "-old"          # renamed in vCenter since the plan
    (tmp_path / "plan.json").write_text(json.dumps(moved_plan))
    run = play(sim, tmp_path, "migrate.yml", "-e", "wave=1")
    assert run.returncode == 0, run.output[-3000:]
    assert f"{wave['vms'][0]['name']}: uuid: no VM with uuid 00000000-dead-beef" in run.output
    assert f"{wave['vms'][1]['name']} is now named {wave['vms'][1]['name'][:-4]}" in run.output
    ledger = json.loads((tmp_path / "waves" / "1.json").read_text())["vms"]
    assert ledger[wave["vms"][0]["name"]]["status"] == "missing"
    assert ledger[wave["vms"][1]["name"]]["status"] == "in_place"
