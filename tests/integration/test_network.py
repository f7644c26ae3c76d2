"""Stage 5 against the lab's switches (fake-switches Cisco/Arista, FakeNOS Huawei/H3C/ASA): discovery, backups,
zone segmentation with only the delta pushed, the policy check of what runs, and the faults: a rejected
command (restored, proven by checksum), an unreachable device, a wrong password, a wrong host key."""

from __future__ import annotations

import hashlib
import json

import pytest
from vcsim_fixtures import LAB_STATE, labctl, run_playbook

pytestmark = pytest.mark.usefixtures("lab_operator", "second_person")  # the core pair: two-person control

CONFIGURED = ("core-01", "core-02", "acc-main-01", "core-hw-01", "core-hw-02", "acc-h3c-01")
VRP_COMWARE = ("core-hw-01", "core-hw-02", "acc-h3c-01")  # lab/netdevices/vrpcomware (test_network_vrp_comware.py)
PLAN = {"port_assignments": [
    {"host": "db-north-01", "switch": "acc-main-01", "port": "Ethernet11", "zone": "production"},
    {"host": "db-south-01", "switch": "acc-main-01", "port": "Ethernet12", "zone": "production"}]}


@pytest.fixture
def seed(tmp_path):
    """The lab's switches back at their seed configuration, up; reports and backups in folders of the test."""
    labctl("reset", "--only", "fakeswitch", *VRP_COMWARE)
    labctl("up", "--only", "fakeswitch", "fakenos", *VRP_COMWARE)
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "plan.json").write_text(json.dumps(PLAN))

    def args(*more: str) -> list[str]:
        return ["-e", f"jinbao_reports_dir={tmp_path / 'reports'}", "-e", f"jinbao_backups_dir={tmp_path / 'backups'}",
                *more]
    args.tmp = tmp_path
    yield args
    for host in CONFIGURED:
        (LAB_STATE / "data" / host / "faults.json").unlink(missing_ok=True)
    labctl("up", "--only", "fakeswitch", "fakenos", *VRP_COMWARE)


def latest(tmp_path, device: str) -> str:
    return (tmp_path / "backups" / device / "latest").read_text()


def test_check_mode_shows_each_delta_and_sends_nothing(seed):
    run = run_playbook("network.yml", "--check", "--diff", *seed())
    assert run.returncode == 0, run.output[-4000:]
    assert "ip access-list extended ZONE-DECISION-IN" in run.output
    assert "interface Ethernet11" in run.output and "description db-north-01" in run.output
    after = run_playbook("network.yml", "--check", *seed())
    assert after.returncode == 0 and after.recap("core-01")["changed"] > 0  # still to do: nothing was sent


def test_network_segments_the_zones_backs_up_and_a_second_run_changes_nothing(seed):
    run = run_playbook("network.yml", *seed())
    assert run.returncode == 0, run.output[-4000:]
    tmp = seed.tmp
    for device in ("core-01", "core-02", "acc-main-01", "acc-north-01", "acc-south-01", "acc-east-01", "fw-main-01"):
        folder = tmp / "backups" / device
        backups = sorted(folder.glob("*.cfg"))
        assert backups, f"no backup of {device}"
        text = (folder / "latest").read_text()
        digest = (folder / "latest").resolve().with_suffix(".cfg.sha256").read_text().split()[0]
        assert hashlib.sha256(text.encode()).hexdigest() == digest
        facts = json.loads((tmp / "reports" / "network" / "facts" / f"{device}.json").read_text())
        assert facts["device"] == device
    assert len(list((tmp / "backups" / "core-01").glob("*.cfg"))) == 2  # before and after the change
    running = latest(tmp, "core-01")
    assert "ip access-list extended ZONE-DECISION-IN" in running and "ip vrf forwarding DECISION" in running
    assert "interface Ethernet11" in latest(tmp, "acc-main-01")
    policy = json.loads((tmp / "reports" / "network" / "policy-running.json").read_text())
    assert policy["passed"] and policy["matrix"]["decision"]["production"] is False
    assert policy["matrix"]["production"]["exchange"] is True
    changes = sorted((tmp / "reports" / "network" / "changes").glob("*.json"))
    assert {json.loads(c.read_text())["device"] for c in changes} == set(CONFIGURED)
    assert all(json.loads(c.read_text())["operator"]["cn"].startswith("lab-sysadmin.") for c in changes)

    again = run_playbook("network.yml", *seed())
    assert again.returncode == 0, again.output[-4000:]
    for device in (*CONFIGURED, "acc-north-01", "fw-main-01"):
        assert again.recap(device)["changed"] == 0, again.output[-4000:]
    assert len(list((tmp / "backups" / "core-01").glob("*.cfg"))) == 2  # nothing changed, no new version


def test_a_rejected_command_stops_the_change_restores_the_backup_and_spares_the_other_core(seed):
    (LAB_STATE / "data" / "core-01" / "faults.json").write_text(json.dumps({"reject": [r"^ip access-group ZONE-"]}))
    run = run_playbook("network.yml", *seed())
    assert run.returncode != 0
    assert "core-01: config: the device rejected 'ip access-group ZONE-" in run.output, run.output[-4000:]
    # IOS archived its running configuration as it armed the revert timer: that archive is the rollback point
    assert "The pre-change configuration was restored from flash:archive-" in run.output, run.output[-4000:]
    (LAB_STATE / "data" / "core-01" / "faults.json").unlink()
    # The device runs its pre-change configuration: the backup module finds it equal to the one taken before.
    check = run_playbook("network.yml", "--check", "-v", "-l", "vault-01,core-01", *seed())
    assert check.returncode == 0, check.output[-3000:]
    only = list((seed.tmp / "backups" / "core-01").glob("*.cfg"))
    assert len(only) == 1 and f"before_backup: {only[0]}" in check.output, check.output[-3000:]
    # One core of a pair at a time: the failed core held the second one, which was never touched
    assert ("core-02: not changed: side a of the redundant pairs failed (core-01), so side b is left as it was"
            in " ".join(run.output.split())), run.output[-4000:]  # the callback wraps long messages
    assert not (seed.tmp / "backups" / "core-02").exists()
    # Only real changes are on record: the access switch beside core-01 on side a did change (its module writes
    # the record as the change holds), the failed core and the untouched one did not.
    records = (seed.tmp / "reports" / "network" / "changes").glob("*.json")
    recorded = {json.loads(c.read_text())["device"] for c in records}
    assert recorded <= {"acc-main-01", "core-hw-01", "acc-h3c-01"}  # side a's other devices


def test_an_unreachable_device_is_named_and_the_others_are_backed_up(seed):
    labctl("down", "--only", "acc-north-01")
    try:
        run = run_playbook("network.yml", "-e", "network_confirm_minutes=0", *seed())
    finally:
        labctl("up", "--only", "acc-north-01")
    assert run.returncode != 0
    assert "acc-north-01: ansible_host: cannot connect to 127.0.0.1:18804" in run.output, run.output[-4000:]
    assert run.recap("acc-north-01")["failed"] == 1
    for device in ("acc-south-01", "fw-main-01", "core-02"):
        assert (seed.tmp / "backups" / device / "latest").exists(), device


def test_a_wrong_password_or_host_key_is_named_and_nothing_is_sent(seed, tmp_path):
    run = run_playbook("network.yml", "-l", "vault-01,acc-east-01", "-e", "netdev_password=not-the-password", *seed())
    assert run.returncode != 0
    assert "acc-east-01: netdev_password: login refused for user jinbao-lab" in run.output, run.output[-3000:]
    assert "not-the-password" not in run.output

    known = (LAB_STATE / "netdev" / "known_hosts").read_text().splitlines()
    port = {"acc-east-01": "18806", "core-01": "18801"}
    east = next(line for line in known if line.startswith(f"[127.0.0.1]:{port['acc-east-01']} "))
    core = next(line for line in known if line.startswith(f"[127.0.0.1]:{port['core-01']} "))
    forged = tmp_path / "known_hosts"
    forged.write_text(east.split()[0] + " " + " ".join(core.split()[1:]) + "\n")  # acc-east-01 with core-01's key
    run = run_playbook("network.yml", "-l", "vault-01,acc-east-01", "-e", f"netdev_known_hosts={forged}", *seed())
    assert run.returncode != 0
    assert "acc-east-01: netdev_known_hosts: the host key of [127.0.0.1]:18806 does not match" in run.output, \
        run.output[-3000:]


def test_a_template_that_opens_production_is_caught_before_any_push(seed):
    opening = {"network_acl_exceptions": {"decision": ["permit ip 10.30.0.0 0.0.255.255 10.10.0.0 0.0.255.255"],
                                          "exchange": ["permit tcp 10.20.0.0 0.0.255.255 host 10.10.0.5 eq 1521"]}}
    run = run_playbook("network.yml", "-e", json.dumps(opening), *seed())
    assert run.returncode != 0
    assert ("core-01: ZONE-DECISION-IN line 5 'permit ip 10.30.0.0 0.0.255.255 10.10.0.0 0.0.255.255': "
            "decision→production is reachable, but the flow policy forbids it") in run.output, run.output[-4000:]
    assert "ZONE-EXCHANGE-IN line 5 'permit tcp 10.20.0.0 0.0.255.255 host 10.10.0.5 eq 1521': exchange→production" \
        in run.output
    assert not (seed.tmp / "backups").exists()  # no device was read, backed up or changed


def test_a_session_killed_mid_push_is_completed_by_the_next_run(seed):
    """The SSH session dies in the middle of the push: what was sent stays on the device (its commit-confirm
    timer would roll it back later). The next run reads the drift, sends only the rest, verifies, confirms."""
    faults = LAB_STATE / "data" / "core-01" / "faults.json"
    faults.write_text(json.dumps({"drop": [r"^ip access-list extended ZONE-DECISION-IN"]}))
    run = run_playbook("network.yml", "-l", "vault-01,core-01", *seed())
    assert run.returncode != 0
    assert "core-01: " in run.output and "ZONE-DECISION-IN" not in latest_or_empty(seed.tmp, "core-01")
    faults.unlink()
    again = run_playbook("network.yml", "-l", "vault-01,core-01", *seed())
    assert again.returncode == 0, again.output[-4000:]
    change = json.loads(next((seed.tmp / "reports" / "network" / "changes").glob("core-01-*.json")).read_text())
    # sent before the session died (the ACLs go first, before the bindings that apply them): not sent again
    assert "ip access-list extended ZONE-PRODUCTION-IN" not in change["commands"]
    assert "ip access-list extended ZONE-DECISION-IN" in change["commands"]
    running = latest(seed.tmp, "core-01")
    assert all(f"ip access-list extended ZONE-{z}-IN" in running for z in ("PRODUCTION", "EXCHANGE", "DECISION"))
    policy = json.loads((seed.tmp / "reports" / "network" / "policy-running.json").read_text())
    assert policy["problems"] == [] or all(p.startswith("core-02") for p in policy["problems"])


def test_a_timer_left_pending_by_a_dead_session_means_an_explicit_checkpoint(seed):
    """A session died mid-push, so the device's revert timer is still pending with its archive of the older
    configuration, and arming it again makes no new archive. The next run takes an explicit checkpoint of what
    it found first; refused a line, it restores that one, proven by checksum."""
    faults = LAB_STATE / "data" / "core-01" / "faults.json"
    faults.write_text(json.dumps({"drop": [r"^ip access-list extended ZONE-DECISION-IN"]}))
    run = run_playbook("network.yml", "-l", "vault-01,core-01", *seed())
    assert run.returncode != 0
    faults.write_text(json.dumps({"reject": [r"^ip access-list extended ZONE-DECISION-IN"]}))  # what is left
    again = run_playbook("network.yml", "-l", "vault-01,core-01", *seed())
    faults.unlink()
    assert again.returncode != 0
    assert "core-01: config: the device rejected 'ip access-list extended ZONE-DECISION-IN'" in again.output, \
        again.output[-4000:]
    assert "The pre-change configuration was restored from flash:jinbao-prechange.cfg (SHA-256" in again.output, \
        again.output[-4000:]


def latest_or_empty(tmp_path, device: str) -> str:
    path = tmp_path / "backups" / device / "latest"
    return path.read_text() if path.exists() else ""
