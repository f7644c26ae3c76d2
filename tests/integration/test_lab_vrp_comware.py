"""The lab's stateful Huawei VRP8 and H3C Comware 7 switches (lab/netdevices/vrpcomware), driven the way
automation drives real ones: netmiko (huawei_vrpv8, hp_comware) over SSH with strict host-key checking.

core-hw-01 and acc-h3c-01 carry the features; core-hw-02 is saved, restarted and reset. All three are reset to
their seed configuration before and after (faults.json {"seconds_per_minute": 1} makes a VRP8 `commit trial 60`
last one second and a Comware `configuration commit delay 1` too), and left running.
"""

from __future__ import annotations

import json
import time

import pytest
import yaml
from vcsim_fixtures import INVENTORY, LAB_STATE, labctl

netmiko = pytest.importorskip("netmiko")

HOSTS = ("core-hw-01", "core-hw-02", "acc-h3c-01")
KNOWN_HOSTS = LAB_STATE / "netdev" / "known_hosts"
PROMPT = r"[>\]]\s*$"


def hostvars(name: str) -> dict:
    return yaml.safe_load((INVENTORY / "host_vars" / f"{name}.yml").read_text())


def faults(name: str, data: dict | None) -> None:
    path = LAB_STATE / "data" / name / "faults.json"
    if data is None:
        path.unlink(missing_ok=True)
    else:
        path.write_text(json.dumps(data))


def connect(name: str):
    hv = hostvars(name)
    password = (LAB_STATE / "secrets" / "netdev.password").read_text().strip()
    return netmiko.ConnectHandler(
        device_type=hv["netdev_device_type"], host="127.0.0.1", port=hv["ansible_port"], username="jinbao-lab",
        password=password, ssh_strict=True, system_host_keys=False, alt_host_keys=True,
        alt_key_file=str(KNOWN_HOSTS), allow_agent=False, use_keys=False, conn_timeout=10)


def run(conn, line: str, expect: str = PROMPT) -> str:
    return conn.send_command(line, expect_string=expect, strip_prompt=False, read_timeout=20)


def current(conn) -> str:
    return run(conn, "display current-configuration")


def wait_for(test, what: str, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not test():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not so after {seconds:.0f}s")
        time.sleep(0.5)


@pytest.fixture(scope="module")
def devices():
    for name in HOSTS:
        assert hostvars(name)["lab_service"] in ("vrp8", "comware7")
    labctl("reset", "--only", *HOSTS)
    for name in HOSTS:
        (LAB_STATE / "data" / name).mkdir(parents=True, exist_ok=True)
        faults(name, {"seconds_per_minute": 1})
    labctl("up", "--only", *HOSTS)
    try:
        yield
    finally:
        labctl("reset", "--only", *HOSTS)  # the seed again for whoever comes next
        labctl("up", "--only", *HOSTS)


@pytest.fixture(scope="module")
def vrp(devices):
    conn = connect("core-hw-01")
    yield conn
    conn.disconnect()


@pytest.fixture(scope="module")
def comware(devices):
    conn = connect("acc-h3c-01")
    yield conn
    conn.disconnect()


VRP_FEATURES = [
    "vlan batch 10 20 30",
    "ip vpn-instance PROD", "ipv4-family", "route-distinguisher 65000:10", "quit", "quit",
    "acl number 3001",
    "rule 5 permit ip source 10.10.0.0 0.0.255.255 destination 10.20.0.0 0.0.255.255",
    "rule 10 deny ip source 10.10.0.0 0.0.255.255 destination 10.30.0.0 0.0.255.255",
    "rule 15 permit ip source 10.99.0.5 0 destination 10.30.0.0 0.0.255.255",
    "undo rule 15",
    "quit",
    "acl name ZONE-EXCHANGE advance", "rule permit ip source 10.20.0.0 0.0.255.255", "quit",
    "interface Vlanif10",
    "ip binding vpn-instance PROD",
    "ip address 10.10.0.2 255.255.0.0",
    "vrrp vrid 1 virtual-ip 10.10.0.1",
    "vrrp vrid 1 priority 120",
    "traffic-filter inbound acl 3001",
    "quit",
    "interface 10GE1/0/1", "port link-type access", "port default vlan 10", "quit",
    "interface 10GE1/0/2", "port link-type access", "port default vlan 20", "undo port default vlan", "quit",
]


def test_vrp8_changes_wait_in_the_candidate_until_commit_then_round_trip(vrp):
    out = vrp.send_config_set(VRP_FEATURES)
    assert "Error" not in out, out
    assert "[*core-hw-01" in out  # two-stage mode: uncommitted changes
    assert "vlan batch 10 20 30" not in current(vrp)
    vrp.commit()
    running = current(vrp)
    for block in ("vlan batch 10 20 30 99",
                  "ip vpn-instance PROD\n ipv4-family\n  route-distinguisher 65000:10",
                  "acl number 3001\n rule 5 permit ip source 10.10.0.0 0.0.255.255 destination 10.20.0.0 "
                  "0.0.255.255\n rule 10 deny ip source 10.10.0.0 0.0.255.255 destination 10.30.0.0 0.0.255.255\n#",
                  "acl name ZONE-EXCHANGE advance\n rule 5 permit ip source 10.20.0.0 0.0.255.255",
                  "interface Vlanif10\n ip binding vpn-instance PROD\n ip address 10.10.0.2 255.255.0.0\n"
                  " vrrp vrid 1 virtual-ip 10.10.0.1\n vrrp vrid 1 priority 120\n traffic-filter inbound acl 3001",
                  "interface 10GE1/0/1\n port link-type access\n port default vlan 10",
                  "interface 10GE1/0/2\n port link-type access\n#"):
        assert block in running, f"{block!r} not in:\n{running}"
    acls = run(vrp, "display acl all")
    assert "Advanced ACL 3001, 2 rules" in acls
    assert " rule 5 permit ip source 10.10.0.0 0.0.255.255 destination 10.20.0.0 0.0.255.255" in acls
    assert " rule 10 deny ip" in acls and "rule 15" not in acls


def test_vrp8_unknown_line_answers_the_real_error_with_its_caret(vrp):
    out = run(vrp, "display bogus-thing")
    assert "Error: Unrecognized command found at '^' position." in out
    caret = next(line for line in out.splitlines() if line.strip() == "^")
    assert caret.index("^") == len("<core-hw-01>display ")


def test_vrp8_commit_trial_rolls_back_by_itself_unless_confirmed(vrp):
    vrp.config_mode()
    run(vrp, "vlan batch 401")
    run(vrp, "commit trial 120")  # one "minute" is one second here: 120 s -> 2 s
    assert "401" in run(vrp, "display current-configuration | include vlan batch")
    vrp.exit_config_mode()
    wait_for(lambda: "401" not in run(vrp, "display current-configuration | include vlan batch"),
             "the unconfirmed trial is rolled back")
    vrp.config_mode()
    run(vrp, "vlan batch 402")
    run(vrp, "commit trial 300")  # 5 s here
    run(vrp, "commit")  # confirms the trial
    vrp.exit_config_mode()
    time.sleep(7)
    assert "402" in run(vrp, "display current-configuration | include vlan batch")


def test_vrp8_rollback_to_a_commit_id_restores_that_configuration(vrp):
    vrp.send_config_set(["vlan batch 501"])
    vrp.commit()
    listing = run(vrp, "display configuration commit list")
    point = listing.split("CommitId")[1].split()[1:]  # after the header rule: No., CommitId ...
    commit_id = next(w for w in point if w.isdigit() and len(w) == 10)
    vrp.send_config_set(["vlan batch 502"])
    vrp.commit()
    assert "502" in run(vrp, "display current-configuration | include vlan batch")
    out = run(vrp, f"rollback configuration to commit-id {commit_id}")
    assert "Error" not in out, out
    batch = run(vrp, "display current-configuration | include vlan batch")
    assert "501" in batch and "502" not in batch
    assert run(vrp, "rollback configuration to commit-id 1999999999").count("does not exist") == 1


def test_a_faults_json_reject_pattern_refuses_that_line(vrp):
    faults("core-hw-01", {"seconds_per_minute": 1, "reject": ["^vlan batch 777"]})
    try:
        vrp.config_mode()
        out = run(vrp, "vlan batch 777")
        assert "Error: Unrecognized command found at '^' position." in out
        assert "[~core-hw-01]" in out  # nothing changed in the candidate
        vrp.exit_config_mode()
    finally:
        faults("core-hw-01", {"seconds_per_minute": 1})


COMWARE_FEATURES = [
    "vlan 10", "quit", "vlan 20 to 30",
    "ip vpn-instance PROD", "route-distinguisher 65000:10", "quit",
    "acl advanced 3001",
    "rule 5 permit ip source 10.10.0.0 0.0.255.255 destination 10.20.0.0 0.0.255.255",
    "rule 10 deny ip", "rule 15 permit ip", "undo rule 15", "quit",
    "acl number 3002", "rule permit ip source 10.99.0.0 0.0.255.255", "quit",
    "interface Vlan-interface10",
    "ip binding vpn-instance PROD",
    "ip address 10.10.0.4 255.255.0.0",
    "vrrp vrid 1 virtual-ip 10.10.0.1",
    "vrrp vrid 1 priority 120",
    "packet-filter 3001 inbound",
    "quit",
    "interface GigabitEthernet1/0/1", "port access vlan 10", "quit",
]


def test_comware_applies_at_once_and_round_trips(comware):
    out = comware.send_config_set(COMWARE_FEATURES)
    assert "%" not in out, out
    running = current(comware)
    for block in ("vlan 10\n#\nvlan 20\n#", "vlan 30\n#",
                  "ip vpn-instance PROD\n route-distinguisher 65000:10",
                  "acl advanced 3001\n rule 5 permit ip source 10.10.0.0 0.0.255.255 destination 10.20.0.0 "
                  "0.0.255.255\n rule 10 deny ip\n#",
                  "acl advanced 3002\n rule 0 permit ip source 10.99.0.0 0.0.255.255",
                  "interface Vlan-interface10\n ip binding vpn-instance PROD\n ip address 10.10.0.4 255.255.0.0\n"
                  " vrrp vrid 1 virtual-ip 10.10.0.1\n vrrp vrid 1 priority 120\n packet-filter 3001 inbound",
                  "interface GigabitEthernet1/0/1\n port access vlan 10"):
        assert block in running, f"{block!r} not in:\n{running}"
    acls = run(comware, "display acl all")
    assert "Advanced IPv4 ACL 3001, 2 rules," in acls and " rule 10 deny ip" in acls


def test_comware_unknown_line_answers_the_real_error(comware):
    out = run(comware, "bogus line")
    assert " % Unrecognized command found at '^' position." in out


def test_comware_checkpoint_then_configuration_replace_restores_it(comware):
    assert "Continue? [Y/N]" in run(comware, "save flash:/pre-change.cfg", r"\[Y/N\]:")
    assert "successfully" in run(comware, "y")
    comware.send_config_set(["vlan 601", "quit", "interface GigabitEthernet1/0/2", "port access vlan 601"])
    assert "vlan 601" in current(comware)
    comware.config_mode()
    assert "save current configuration? [Y/N]" in run(comware, "configuration replace file flash:/pre-change.cfg",
                                                     r"\[Y/N\]:")
    out = run(comware, "n")
    assert "Succeeded in replacing current configuration with the file pre-change.cfg." in out
    comware.exit_config_mode()
    running = current(comware)
    assert "vlan 601" not in running and "port access vlan 601" not in running
    assert "packet-filter 3001 inbound" in running  # what the checkpoint held stays


def test_comware_archive_configuration_writes_a_numbered_checkpoint(comware):
    comware.send_config_set(["archive configuration location flash:/archive filename-prefix lab"])
    run(comware, "archive configuration", r"\[Y/N\]:")
    assert "flash:/archive/lab_1.cfg" in run(comware, "y")
    assert "lab_1.cfg" in run(comware, "display archive configuration")


def test_comware_commit_delay_rolls_back_unless_committed(comware):
    comware.send_config_set(["configuration commit delay 1", "vlan 701"])  # one minute is one second here
    wait_for(lambda: "vlan 701" not in current(comware), "the uncommitted change is rolled back")
    comware.send_config_set(["configuration commit delay 5", "vlan 702", "quit", "configuration commit"])
    time.sleep(7)
    assert "vlan 702" in current(comware)


def test_saved_configuration_survives_a_restart_and_reset_restores_the_seed(devices):
    conn = connect("core-hw-02")
    conn.send_config_set(["vlan batch 801"])
    conn.commit()
    assert "Continue? [Y/N]" in run(conn, "save", r"\[Y/N\]:")
    assert "Save the configuration successfully." in run(conn, "y")
    conn.send_config_set(["vlan batch 802"])
    conn.commit()  # committed, not saved
    conn.disconnect()
    labctl("down", "--only", "core-hw-02")
    labctl("up", "--only", "core-hw-02")
    conn = connect("core-hw-02")
    batch = run(conn, "display current-configuration | include vlan batch")
    assert "801" in batch and "802" not in batch
    assert "1000000002" in run(conn, "display configuration commit list")  # the rollback points stay too
    conn.disconnect()
    labctl("reset", "--only", "core-hw-02")
    labctl("up", "--only", "core-hw-02")
    conn = connect("core-hw-02")
    try:
        assert run(conn, "display current-configuration | include vlan batch").strip().startswith("vlan batch 99")
        assert "1000000001" not in run(conn, "display configuration commit list")
    finally:
        conn.disconnect()
