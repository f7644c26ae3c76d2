"""Stage 6 against the lab BMCs (sushy-tools' Redfish emulator): physical server moves and their faults."""

from __future__ import annotations

import base64
import json
import shutil
import ssl
import urllib.request

import pytest
import yaml
from vcsim_fixtures import LAB_STATE, ROOT, run_playbook

# The playbooks here are cert-gated: they run as lab-sysadmin (the lab's system administrator, by certificate).
pytestmark = pytest.mark.usefixtures("lab_operator")

BMCS = {"db-north-01": ("bmc-db-north-01", 18701), "db-south-01": ("bmc-db-south-01", 18702)}


def power_and_health(server: str) -> tuple[str, str]:
    """What the server's BMC reports now, read directly over Redfish."""
    bmc, port = BMCS[server]
    system = yaml.safe_load((ROOT / "inventory" / "lab" / "host_vars" / f"{bmc}.yml").read_text())["redfish_system"]
    token = base64.b64encode(f"jinbao-lab:{(LAB_STATE / 'secrets' / 'bmc.password').read_text().strip()}".encode())
    req = urllib.request.Request(f"https://127.0.0.1:{port}/redfish/v1/Systems/{system['uuid']}",
                                 headers={"Authorization": f"Basic {token.decode()}"})
    ctx = ssl.create_default_context(cafile=str(LAB_STATE / "pki" / "ca.crt"))
    with urllib.request.urlopen(req, timeout=10, context=ctx) as resp:
        body = json.load(resp)
    return body["PowerState"], body["Status"]["Health"]


@pytest.fixture(scope="module")
def planned(lab_vcenter, lab_bmcs, tmp_path_factory):
    """A plan (discover + plan) of the lab, in a reports directory of this module's own."""
    reports = tmp_path_factory.mktemp("plan")
    for playbook in ("discover.yml", "plan.yml"):
        run = run_playbook(playbook, "-e", f"jinbao_reports_dir={reports}")
        assert run.returncode == 0, run.output[-3000:]
    plan = json.loads((reports / "plan.json").read_text())
    assert sorted(m["server"] for m in plan["physical_moves"]) == sorted(BMCS)
    return reports, plan


@pytest.fixture
def reports(planned, tmp_path):
    """A fresh reports directory holding the plan and no move record."""
    shutil.copy(planned[0] / "plan.json", tmp_path / "plan.json")
    return tmp_path


@pytest.fixture
def fault():
    """Inject a fault into a lab BMC for one test (lab/sushy/emulator.py reads faults.json on every request)."""
    written = []

    def inject(server: str, **faults):
        path = LAB_STATE / "data" / BMCS[server][0] / "faults.json"
        path.write_text(json.dumps(faults))
        written.append(path)

    yield inject
    for path in written:
        path.unlink(missing_ok=True)


def physical(reports, *args):
    return run_playbook("physical.yml", "-e", f"jinbao_reports_dir={reports}", *args)


def test_a_server_that_does_not_shut_down_is_left_on_and_not_counted(reports, fault):
    fault("db-north-01", hang_on_shutdown=True)
    run = physical(reports, "-l", "db-north-01", "-e", "physical_power_timeout=3")
    assert run.returncode != 0
    assert "db-north-01: power: still On 3 s after a graceful shutdown through bmc-db-north-01" in run.output
    assert "it was powered On before and is left so" in run.output
    assert power_and_health("db-north-01") == ("On", "OK")
    record = json.loads((reports / "physical" / "db-north-01.json").read_text())
    assert record["status"] == "failed" and "still On" in record["error"]


def test_a_bmc_that_does_not_answer_stops_the_move_before_anything_changes(reports):
    run = physical(reports, "-l", "db-south-01", "-e", "redfish_port=1")
    assert run.returncode != 0
    assert ("db-south-01: bmc: bmc-db-south-01 at https://127.0.0.1:1 did not answer while reading the server"
            in run.output)
    assert power_and_health("db-south-01")[0] == "On"
    assert json.loads((reports / "physical" / "db-south-01.json").read_text())["status"] == "failed"


def test_a_server_unhealthy_after_power_on_is_not_counted_as_moved(reports, fault):
    fault("db-south-01", health="Critical")
    run = physical(reports, "-l", "db-south-01", "-e", "physical_power_timeout=5")
    assert run.returncode != 0
    assert "db-south-01: health: power On, health Critical" in run.output
    record = json.loads((reports / "physical" / "db-south-01.json").read_text())
    assert record["status"] == "failed"


def test_every_server_moves_with_its_new_place_recorded_and_a_second_run_changes_nothing(reports, planned):
    run = physical(reports)
    assert run.returncode == 0, run.output[-3000:]
    for move in planned[1]["physical_moves"]:
        record = json.loads((reports / "physical" / f"{move['server']}.json").read_text())
        assert record["status"] == "moved"
        assert (record["room"], record["rack"], record["rack_u"]) == ("main", move["target"]["rack"],
                                                                      move["target"]["rack_u"])
        assert record["model"] == "PowerEdge R750" and record["serial"].startswith("CN7016-")
        assert power_and_health(move["server"]) == ("On", "OK")
    records = {p.name: p.read_bytes() for p in (reports / "physical").iterdir()}
    again = physical(reports)
    assert again.returncode == 0, again.output[-3000:]
    assert all(again.recap(server)["changed"] == 0 for server in BMCS), again.output[-2000:]
    assert "already moved to main-A01" in again.output
    assert {p.name: p.read_bytes() for p in (reports / "physical").iterdir()} == records


def test_check_mode_shows_the_move_and_powers_nothing(reports):
    run = physical(reports, "--check", "--diff")
    assert run.returncode == 0, run.output[-3000:]
    assert "to main main-A01 U" in run.output
    assert power_and_health("db-north-01") == ("On", "OK")
    assert not (reports / "physical" / "db-north-01.json").exists()
