"""network.yml on the lab's Huawei VRP8 core pair and H3C Comware 7 access switch (lab/netdevices/vrpcomware):
per zone a VPN instance, a VLAN and a Vlanif with its own address, its own VRRP group and the zone's inbound ACL
in VRP syntax; a second run changes nothing; a line the VRP8 device rejects is rolled back (the candidate
dropped or the commit trial aborted), proven by checksum, and the other core of the pair is left as it was.

The three devices start from their seed configuration and are put back to it after."""

from __future__ import annotations

import json

import pytest
from vcsim_fixtures import LAB_STATE, labctl, run_playbook

pytestmark = pytest.mark.usefixtures("lab_operator", "second_person")  # the core pair: two-person control

HOSTS = ("core-hw-01", "core-hw-02", "acc-h3c-01")


@pytest.fixture
def seed(tmp_path):
    """The three devices at their seed configuration; reports and backups in folders of the test."""
    labctl("reset", "--only", *HOSTS)
    labctl("up", "--only", *HOSTS)
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "plan.json").write_text(json.dumps({"port_assignments": [
        {"host": "db-north-01", "switch": "acc-h3c-01", "port": "GigabitEthernet1/0/11", "zone": "production"}]}))

    def args(*more: str) -> list[str]:
        return ["-l", ",".join(("vault-01", *HOSTS)), "-e", f"jinbao_reports_dir={tmp_path / 'reports'}",
                "-e", f"jinbao_backups_dir={tmp_path / 'backups'}", *more]

    args.tmp = tmp_path
    yield args
    for host in HOSTS:
        (LAB_STATE / "data" / host / "faults.json").unlink(missing_ok=True)
    labctl("reset", "--only", *HOSTS)  # the seed again for whoever comes next
    labctl("up", "--only", *HOSTS)


def latest(tmp, device: str) -> str:
    return (tmp / "backups" / device / "latest").read_text()


def test_the_huawei_core_pair_and_the_h3c_access_switch_converge_and_a_second_run_changes_nothing(seed):
    run = run_playbook("network.yml", *seed())
    assert run.returncode == 0, run.output[-4000:]
    core = latest(seed.tmp, "core-hw-01")
    assert "acl name ZONE-DECISION-IN advance" in core
    assert ("rule 10 permit tcp source 10.30.0.0 0.0.255.255 destination 10.10.0.0 0.0.255.255 tcp-flag established"
            in core)
    assert ("interface Vlanif30\n ip binding vpn-instance DECISION\n ip address 10.30.0.21 255.255.0.0\n"
            " vrrp vrid 30 virtual-ip 10.30.0.254\n vrrp vrid 30 priority 120\n"
            " traffic-filter inbound acl name ZONE-DECISION-IN") in core
    assert "vrrp vrid 30 priority 100" in latest(seed.tmp, "core-hw-02")
    access = latest(seed.tmp, "acc-h3c-01")
    assert "vlan 30\n name DECISION" in access
    assert "interface GigabitEthernet1/0/11\n description db-north-01\n port access vlan 10" in access
    policy = json.loads((seed.tmp / "reports" / "network" / "policy-running.json").read_text())
    assert policy["passed"], policy["problems"]
    assert policy["matrix"]["decision"]["production"] is False and policy["matrix"]["production"]["decision"]
    records = {json.loads(c.read_text())["device"]
               for c in (seed.tmp / "reports" / "network" / "changes").glob("*.json")}
    assert records == set(HOSTS)
    again = run_playbook("network.yml", *seed())
    assert again.returncode == 0, again.output[-4000:]
    for host in HOSTS:
        assert again.recap(host)["changed"] == 0, again.output[-4000:]


def test_a_rejected_line_on_vrp8_is_rolled_back_proven_by_checksum_and_the_other_core_is_untouched(seed):
    faults = LAB_STATE / "data" / "core-hw-01" / "faults.json"
    faults.write_text(json.dumps({"reject": [r"^traffic-filter inbound acl name ZONE-DECISION-IN"]}))
    run = run_playbook("network.yml", *seed())
    assert run.returncode != 0
    text = " ".join(run.output.split())  # the callback wraps long messages
    assert "core-hw-01: config: the device rejected 'traffic-filter inbound acl name ZONE-DECISION-IN'" in text, \
        run.output[-4000:]
    assert "equals the pre-change one" in text, run.output[-4000:]
    assert ("core-hw-02: not changed: side a of the redundant pairs failed (core-hw-01), so side b is left as it was"
            in text), run.output[-4000:]
    assert not (seed.tmp / "backups" / "core-hw-02").exists()
    before = latest(seed.tmp, "core-hw-01")  # the one backup, taken before the change
    assert "ZONE-DECISION-IN" not in before and len(list((seed.tmp / "backups" / "core-hw-01").glob("*.cfg"))) == 1
    faults.unlink()
    # The device runs its pre-change configuration: read again, it is the backup taken before (no new version).
    check = run_playbook("network.yml", "--check", *seed())
    assert check.returncode == 0, check.output[-3000:]
    assert len(list((seed.tmp / "backups" / "core-hw-01").glob("*.cfg"))) == 1
