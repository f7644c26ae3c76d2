"""The lab's switches and firewall (lab/netdevices/fakeswitch, fakenos), driven the way automation drives real ones:
netmiko over SSH with strict host-key checking against .lab/netdev/known_hosts.

core-01 is reset to its seed configuration before and after (the tests change, save and restart it, write
files to its flash: and run its revert timer with faults.json {"seconds_per_minute": 1}); acc-main-01 gets
its changes replaced away and its flash: file deleted; every device is left running.
"""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

import pytest
import yaml
from vcsim_fixtures import INVENTORY, LAB_STATE, labctl

netmiko = pytest.importorskip("netmiko")
from netmiko.exceptions import ConfigInvalidException  # noqa: E402
from ntc_templates.parse import parse_output  # noqa: E402

from lab.netdevices import base as netdev  # noqa: E402

KNOWN_HOSTS = LAB_STATE / "netdev" / "known_hosts"
# The version command of each netmiko device type, and whether the real CLI names the host in its answer
# (IOS "core-01 uptime is ...", ASA "fw-main-01 up ..."; EOS, VRP and Comware do not, only their prompt).
VERSION = {"cisco_ios": ("show version", True), "arista_eos": ("show version", False),
           "huawei": ("display version", False), "hp_comware": ("display version", False),
           "cisco_asa": ("show version", True)}


def _devices() -> dict[str, dict]:
    found = {}
    for path in sorted((INVENTORY / "host_vars").glob("*.yml")):
        hv = yaml.safe_load(path.read_text()) or {}
        if hv.get("lab_service") in ("fakeswitch", "fakenos"):
            found[path.stem] = hv
    return found


DEVICES = _devices()


@pytest.fixture(scope="module")
def network() -> dict[str, dict]:
    """Every network device up, core-01 back at its seed configuration."""
    assert len(DEVICES) == 7, f"expected the lab's 7 network devices in {INVENTORY}/host_vars, found {sorted(DEVICES)}"
    labctl("reset", "--only", "core-01")
    labctl("up", "--only", "fakeswitch", "fakenos")
    try:
        yield DEVICES
    finally:
        (LAB_STATE / "data" / "core-01" / "faults.json").unlink(missing_ok=True)
        labctl("reset", "--only", "core-01")  # leave the seed configuration for whoever comes next
        labctl("up", "--only", "core-01")


def connect(name: str, known_hosts: Path = KNOWN_HOSTS, enable: bool = True):
    hv = DEVICES[name]
    password = (LAB_STATE / "secrets" / "netdev.password").read_text().strip()
    conn = netmiko.ConnectHandler(
        device_type=hv["netdev_device_type"], host="127.0.0.1", port=hv["ansible_port"], username="jinbao-lab",
        password=password, secret=password, ssh_strict=True, system_host_keys=False, alt_host_keys=True,
        alt_key_file=str(known_hosts), allow_agent=False, use_keys=False, conn_timeout=10,
        fast_cli=hv.get("netdev_fast_cli", True))  # off for FakeNOS, which answers in pieces (inventory/lab)
    if enable and hv["netdev_device_type"] in ("cisco_ios", "arista_eos"):
        conn.enable()
    return conn


@pytest.fixture(scope="module")
def core(network):
    conn = connect("core-01")
    yield conn
    conn.disconnect()


def test_known_hosts_covers_every_device(network):
    lines = KNOWN_HOSTS.read_text().splitlines()
    for name, hv in network.items():
        entry = [line for line in lines if line.startswith(f"[127.0.0.1]:{hv['ansible_port']} ssh-rsa ")]
        assert len(entry) == 1, f"{name}: no single known_hosts line for port {hv['ansible_port']}"
        _key, public = netdev.host_key(LAB_STATE / "data" / name)
        assert entry[0].split(" ", 1)[1] == public


@pytest.mark.parametrize("name", sorted(DEVICES))
def test_device_answers_its_version_command(network, name):
    hv = network[name]
    facts = netdev.device(name)
    command, names_host = VERSION[hv["netdev_device_type"]]
    conn = connect(name)
    try:
        prompt = conn.find_prompt()
        output = conn.send_command(command)
    finally:
        conn.disconnect()
    assert name in prompt
    assert facts["hardware"] in output, output
    if names_host:
        assert re.search(rf"^{re.escape(name)} (uptime is|up) ", output, re.M), output


def test_a_wrong_host_key_is_refused(network, tmp_path):
    port = network["acc-main-01"]["ansible_port"]
    _key, other = netdev.host_key(tmp_path)
    wrong = tmp_path / "known_hosts"
    wrong.write_text(f"[127.0.0.1]:{port} {other}\n")
    with pytest.raises(Exception, match=r"(?i)host key|known_hosts"):
        connect("acc-main-01", known_hosts=wrong)


def test_acl_set_by_send_config_set_shows_in_running_config_and_access_lists(core):
    core.send_config_set(["ip access-list extended EXCH-TO-DECISION",
                          "permit ip 10.20.0.0 0.0.255.255 10.30.0.0 0.0.255.255",
                          "permit tcp any host 10.0.0.1 eq 443",
                          "deny ip any any",
                          "interface Vlan20",
                          "ip access-group EXCH-TO-DECISION in"], error_pattern=r"% Invalid")
    running = core.send_command("show running-config")
    assert ("ip access-list extended EXCH-TO-DECISION\n"
            " permit ip 10.20.0.0 0.0.255.255 10.30.0.0 0.0.255.255\n"
            " permit tcp any host 10.0.0.1 eq 443\n"
            " deny   ip any any\n") in running
    assert re.search(r"^interface Vlan20\n(?: .*\n)* ip access-group EXCH-TO-DECISION in$", running, re.M)
    acls = core.send_command("show ip access-lists EXCH-TO-DECISION")
    assert acls.splitlines() == ["Extended IP access list EXCH-TO-DECISION",
                                 "    10 permit ip 10.20.0.0 0.0.255.255 10.30.0.0 0.0.255.255",
                                 "    20 permit tcp any host 10.0.0.1 eq 443",
                                 "    30 deny ip any any"]
    parsed = [r for r in parse_output(platform="cisco_ios", command="show ip access-lists", data=acls) if r["action"]]
    assert [(r["line_num"], r["action"], r["dst_host"], r["dst_port"]) for r in parsed] == [
        ("10", "permit", "", ""), ("20", "permit", "10.0.0.1", "443"), ("30", "deny", "", "")]
    core.send_config_set(["ip access-list extended EXCH-TO-DECISION", "no permit tcp any host 10.0.0.1 eq 443"])
    assert "eq 443" not in core.send_command("show ip access-lists EXCH-TO-DECISION")


def test_invalid_input_is_rejected_like_ios(core):
    with pytest.raises(ConfigInvalidException, match=r"command: permit ip 10\.0\.0\.300 any"):
        core.send_config_set(["ip access-list extended BROKEN", "permit ip 10.0.0.300 any"],
                             error_pattern=r"% Invalid input detected at '\^' marker\.")
    core.exit_config_mode()  # netmiko leaves the session in configuration mode when it raises
    assert "% Invalid input detected at '^' marker." in core.send_command("show running-configuration-x")
    assert "10.0.0.300" not in core.send_command("show running-config | section ip access-list")


def test_configure_replace_restores_the_saved_config_byte_for_byte(core):
    assert "[OK]" in core.save_config()
    saved = core.send_command("show running-config")
    core.send_config_set(["vlan 55", "name SCRATCH", "interface GigabitEthernet1/0/10",
                          "description temporary", "switchport access vlan 55", "no ip access-list extended BROKEN"])
    changed = core.send_command("show running-config")
    assert changed != saved and "SCRATCH" in changed
    assert "Rollback Done" in core.send_command("configure replace nvram:startup-config force")
    assert core.send_command("show running-config") == saved


# --- what plugins/module_utils/seams/netdev.py sends to IOS (VENDORS["cisco"]) ------------------------------------
IOS_ERROR = r"% ?(Invalid|Incomplete|Ambiguous|Unknown|Bad)"
COPIED = re.compile(r"^(\d+) bytes copied in \d+\.\d{3} secs \(\d+ bytes/sec\)$", re.M)
CORE_FLASH = LAB_STATE / "data" / "core-01" / "flash"


def _timing(conn, command: str) -> str:
    """send_command_timing as the automation uses it, with a shorter quiet period (the simulator is fast)."""
    return conn.send_command_timing(command, last_read=0.5)


def _body(running: str) -> str:
    """`show running-config` without IOS's `Building configuration` / `Current configuration` header."""
    return running.split("\n", 3)[3]


def _checkpoint(conn, name: str) -> str:
    out = _timing(conn, f"copy running-config flash:{name}")
    assert out.strip() == f"Destination filename [{name}]?", out
    out = _timing(conn, "\n")
    if "Do you want to over write? [confirm]" in out:
        out += _timing(conn, "\n")
    return out


def test_running_config_reads_the_same_twice(core):
    first = core.send_command("show running-config")
    second = core.send_command("show running-config")
    assert first == second
    assert re.match(r"Building configuration\.\.\.\n\nCurrent configuration : \d+ bytes\nversion 15\.2\n", first)


def test_copy_running_config_to_flash_asks_before_overwriting(core):
    out = _timing(core, "copy running-config flash:jinbao-copy.cfg")
    assert out.strip() == "Destination filename [jinbao-copy.cfg]?"
    out = _timing(core, "\n")
    saved = (CORE_FLASH / "jinbao-copy.cfg").read_text()
    assert COPIED.fullmatch(out.strip()) and int(COPIED.match(out.strip()).group(1)) == len(saved.encode()), out
    assert saved == _body(core.send_command("show running-config")) + "\n"  # netmiko strips the last newline

    core.send_config_set(["vlan 61", "name NEWER"], error_pattern=IOS_ERROR)
    assert _timing(core, "copy running-config flash:jinbao-copy.cfg").strip().endswith("[jinbao-copy.cfg]?")
    out = _timing(core, "\n")
    assert out.splitlines() == ["%Warning:There is a file already existing with this name ",
                                "Do you want to over write? [confirm]"], out
    assert "NEWER" not in (CORE_FLASH / "jinbao-copy.cfg").read_text()  # nothing written before the confirm
    assert COPIED.fullmatch(_timing(core, "\n").strip())
    assert "vlan 61\n name NEWER\n" in (CORE_FLASH / "jinbao-copy.cfg").read_text()
    assert re.search(r"^\s+\d+\s+-rwx\s+\d+\s+.*\s+jinbao-copy\.cfg$", core.send_command("dir flash:"), re.M)
    core.send_config_set(["no vlan 61"])


def test_configure_replace_from_flash_restores_byte_for_byte(core):
    before = core.send_command("show running-config")
    assert COPIED.search(_checkpoint(core, "jinbao-prechange.cfg"))
    core.send_config_set(["vlan 56", "name SCRATCH", "interface GigabitEthernet1/0/11", "description temporary",
                          "switchport access vlan 56", "ip access-list extended SCRATCH", "deny ip any any log"],
                         error_pattern=IOS_ERROR)
    assert core.send_command("show running-config") != before
    out = _timing(core, "configure replace flash:jinbao-prechange.cfg force")
    assert "Rollback Done" in out and not re.search(IOS_ERROR, out), out
    assert core.send_command("show running-config") == before
    missing = _timing(core, "configure replace flash:no-such-file.cfg force")
    assert missing.strip() == "%Error opening flash:no-such-file.cfg (File not found)"
    assert core.send_command("show running-config") == before


def test_revert_timer_rolls_back_unless_confirmed(core):
    faults = LAB_STATE / "data" / "core-01" / "faults.json"
    before = core.send_command("show running-config")
    faults.write_text(json.dumps({"seconds_per_minute": 1}))
    try:
        out = core.send_config_set(["vlan 57", "name REVERTED"],
                                   config_mode_command="configure terminal revert timer 2", error_pattern=IOS_ERROR,
                                   cmd_verify=True)
        assert "Rollback Confirmed Change: Backing up current running config to flash:archive-" in out
        assert "core-01(config)#vlan 57" in out
        assert "Timer value: 2 min" in core.send_command("show archive config rollback timer")
        # a second revert timer only re-arms: the rollback point stays the first one
        core.send_config_set(["vlan 58", "name ALSO-REVERTED"], config_mode_command="configure terminal revert timer 3",
                             error_pattern=IOS_ERROR, cmd_verify=True)
        assert "Timer value: 3 min" in core.send_command("show archive config rollback timer")
        assert "ALSO-REVERTED" in core.send_command("show vlan brief")
        time.sleep(3.5)
        assert core.send_command("show archive config rollback timer").strip() == \
            "%No Rollback Confirmed Change pending"
        assert core.send_command("show running-config") == before

        core.send_config_set(["vlan 59", "name CONFIRMED"], config_mode_command="configure terminal revert timer 2",
                             error_pattern=IOS_ERROR, cmd_verify=True)
        assert core.send_command("configure confirm") == ""
        time.sleep(2.5)
        assert "CONFIRMED" in core.send_command("show vlan brief")
        assert core.send_command("configure confirm").strip() == "%No Rollback Confirmed Change pending"
    finally:
        faults.unlink(missing_ok=True)
    core.send_config_set(["no vlan 59"])
    assert core.send_command("show running-config") == before


def test_commit_confirm_push_rejected_then_restored(core):
    """The automation's failure path: checkpoint, push under a revert timer, a refused line, restore, confirm."""
    before = core.send_command("show running-config")
    _checkpoint(core, "jinbao-prechange.cfg")
    with pytest.raises(ConfigInvalidException, match=r"command: permit ip 10\.0\.0\.300 any"):
        core.send_config_set(["vlan 60", "name HALF-DONE", "ip access-list extended BROKEN",
                              "permit ip 10.0.0.300 any"], config_mode_command="configure terminal revert timer 5",
                             error_pattern=IOS_ERROR, cmd_verify=True)
    # netmiko leaves the session in configuration mode, where IOS has no `configure replace`
    assert core.find_prompt().endswith("(config-ext-nacl)#")
    assert "% Invalid input detected at '^' marker." in _timing(
        core, "configure replace flash:jinbao-prechange.cfg force")
    core.exit_config_mode()
    out = _timing(core, "configure replace flash:jinbao-prechange.cfg force")
    assert "Rollback Done" in out and not re.search(IOS_ERROR, out), out
    assert core.send_command("configure confirm") == ""  # the pre-change config is back: stop the timer
    assert core.send_command("show running-config") == before
    assert "%No Rollback Confirmed Change pending" in core.send_command("show archive config rollback timer")


def test_revert_timer_needs_the_config_archive(core):
    before = core.send_command("show running-config")
    assert " path flash:archive" in before
    core.send_config_set(["no archive"], error_pattern=IOS_ERROR)
    out = _timing(core, "configure terminal revert timer 5")
    assert out.strip() == "%Turn config archive on before using Rollback Confirmed Change"
    with pytest.raises(ValueError, match="Failed to enter configuration mode"):
        core.send_config_set(["vlan 62"], config_mode_command="configure terminal revert timer 5")
    core.send_config_set(["archive", "path flash:archive", "maximum 14"], error_pattern=IOS_ERROR)
    assert core.send_command("show running-config") == before


def test_acl_edits_as_hier_config_sends_them(core):
    core.send_config_set(["ip vrf ZONE-A", "rd 65000:110", "vlan 110", "name ZONE-A",
                          "ip access-list extended ZONE-A-IN",
                          "10 permit ip 10.110.0.0 0.0.255.255 10.120.0.0 0.0.255.255",
                          "20 permit tcp 10.120.0.0 0.0.255.255 10.110.0.0 0.0.255.255 established",
                          "30 deny ip any any log",
                          "interface Vlan110", "description zone a", "ip vrf forwarding ZONE-A",
                          "ip address 10.110.0.2 255.255.0.0", "ip access-group ZONE-A-IN in",
                          "standby version 2", "standby 1 ip 10.110.0.1", "standby 1 priority 110",
                          "standby 1 preempt"], error_pattern=IOS_ERROR, cmd_verify=True)
    core.send_config_set(["ip access-list extended ZONE-A-IN",
                          "  no 10 permit ip 10.110.0.0 0.0.255.255 10.120.0.0 0.0.255.255",
                          "  10 permit ip 10.110.0.0 0.0.255.255 10.110.0.0 0.0.255.255",
                          "  no 30",
                          "  30 permit ip 10.110.0.0 0.0.255.255 10.130.0.0 0.0.255.255",
                          "  40 deny ip any any log"], error_pattern=IOS_ERROR, cmd_verify=True)
    running = core.send_command("show running-config")
    assert ("ip access-list extended ZONE-A-IN\n"
            " permit ip 10.110.0.0 0.0.255.255 10.110.0.0 0.0.255.255\n"
            " permit tcp 10.120.0.0 0.0.255.255 10.110.0.0 0.0.255.255 established\n"
            " permit ip 10.110.0.0 0.0.255.255 10.130.0.0 0.0.255.255\n"
            " deny   ip any any log\n!\n") in running
    assert ("interface Vlan110\n"
            " description zone a\n"
            " ip vrf forwarding ZONE-A\n"
            " ip address 10.110.0.2 255.255.0.0\n"
            " ip access-group ZONE-A-IN in\n"
            " standby version 2\n"
            " standby 1 ip 10.110.0.1\n"
            " standby 1 priority 110\n"
            " standby 1 preempt\n!\n") in running
    assert core.send_command("show ip access-lists ZONE-A-IN").splitlines() == [
        "Extended IP access list ZONE-A-IN",
        "    10 permit ip 10.110.0.0 0.0.255.255 10.110.0.0 0.0.255.255",
        "    20 permit tcp 10.120.0.0 0.0.255.255 10.110.0.0 0.0.255.255 established",
        "    30 permit ip 10.110.0.0 0.0.255.255 10.130.0.0 0.0.255.255",
        "    40 deny ip any any log"]
    # a VRF on an SVI that has an address takes the address away, as IOS does (and says)
    out = core.send_config_set(["ip vrf ZONE-B", "interface Vlan110", "ip vrf forwarding ZONE-B"])
    assert "% Interface Vlan110 IPv4 disabled and address(es) removed due to enabling VRF ZONE-B" in out
    assert " ip address 10.110.0.2" not in core.send_command("show running-config interface Vlan110")
    assert "Rollback Done" in _timing(core, "configure replace nvram:startup-config force")


def test_fault_file_rejects_a_command(core):
    faults = LAB_STATE / "data" / "core-01" / "faults.json"
    faults.write_text(json.dumps({"reject": [r"^show ip access-lists"]}))
    try:
        assert "% Invalid input detected at '^' marker." in core.send_command("show ip access-lists")
        assert "core-01 uptime is" in core.send_command("show version")
    finally:
        faults.unlink()
    assert "Extended IP access list" in core.send_command("show ip access-lists")


def test_saved_config_survives_a_restart_and_unsaved_changes_do_not(core):
    core.send_config_set(["vlan 77", "name KEPT"])
    core.save_config()
    core.send_config_set(["vlan 78", "name LOST"])
    core.disconnect()
    labctl("down", "--only", "core-01")
    labctl("up", "--only", "core-01")
    conn = connect("core-01")
    try:
        vlans = {r["vlan_id"]: r["vlan_name"] for r in conn.send_command("show vlan brief", use_textfsm=True)}
    finally:
        conn.disconnect()
    assert vlans.get("77") == "KEPT" and "78" not in vlans


def test_eos_vlan_and_port_config_write_and_replace(network):
    conn = connect("acc-main-01")
    try:
        conn.save_config()
        saved = conn.send_command("show running-config")
        conn.send_config_set(["vlan 42", "name TEST42", "interface Ethernet12", "description new server",
                              "switchport access vlan 42"])
        vlans = {r["vlan_id"]: r for r in conn.send_command("show vlan", use_textfsm=True)}
        assert vlans["42"]["vlan_name"] == "TEST42" and "Et12" in vlans["42"]["interfaces"]
        conn.send_command("configure replace flash:startup-config")
        assert conn.send_command("show running-config") == saved
    finally:
        conn.disconnect()


def test_lldp_neighbors_agree_on_both_ends(network):
    seen = {}
    for name, command, platform in (("core-01", "show lldp neighbors", "cisco_ios"),
                                    ("acc-main-01", "show lldp neighbors", "arista_eos"),
                                    ("acc-north-01", "display lldp neighbor", "huawei_vrp")):
        conn = connect(name)
        try:
            rows = parse_output(platform=platform, command=command, data=conn.send_command(command))
        finally:
            conn.disconnect()
        seen[name] = {r["neighbor_name"] for r in rows}
    assert {"core-02", "acc-main-01", "acc-north-01", "acc-south-01", "acc-east-01"} <= seen["core-01"]
    assert seen["acc-main-01"] == {"core-01", "core-02"}
    assert seen["acc-north-01"] == {"core-01", "core-02"}


def test_eos_copy_to_flash_and_configure_replace(network):
    flash = LAB_STATE / "data" / "acc-main-01" / "flash" / "jinbao-prechange.cfg"
    conn = connect("acc-main-01")
    try:
        assert conn.send_command("write memory").strip() == "Copy completed successfully."
        saved = conn.send_command("show running-config")
        assert conn.send_command("copy running-config flash:jinbao-prechange.cfg").strip() == \
            "Copy completed successfully."
        assert flash.read_text() == saved + "\n"
        conn.send_config_set(["vlan 43", "name TEST43", "interface Ethernet13", "description new server",
                              "switchport access vlan 43"],
                             error_pattern=r"% ?(Invalid|Incomplete|Ambiguous|Unavailable)", cmd_verify=True)
        running = conn.send_command("show running-config")
        assert "\nvlan 43\n   name TEST43\n!\n" in running
        assert "\ninterface Ethernet13\n   description new server\n   switchport access vlan 43\n!\n" in running
        assert conn.send_command("configure replace flash:jinbao-prechange.cfg force").strip() == "% Invalid input"
        assert conn.send_command("configure replace flash:jinbao-prechange.cfg") == ""
        assert conn.send_command("show running-config") == saved
        assert "File does not exist" in conn.send_command("configure replace flash:no-such-file.cfg")
        assert conn.send_command("show startup-config") == saved
    finally:
        conn.disconnect()
        flash.unlink(missing_ok=True)
        if flash.parent.is_dir() and not any(flash.parent.iterdir()):
            flash.parent.rmdir()  # the device's flash: as it was


@pytest.mark.parametrize("name", ["core-01", "acc-main-01"])
def test_a_slow_command_holds_up_its_own_session_only(network, name):
    """faults.json "delay": `write memory` takes its seconds on the session that sent it, what that session
    typed meanwhile waits its turn, and another session of the same device answers in between (real gear
    runs a show command on another vty line while it writes NVRAM)."""
    faults = LAB_STATE / "data" / name / "faults.json"
    faults.write_text(json.dumps({"delay": {r"^write memory$": 6}}))
    slow, other = connect(name), connect(name)
    finished: list[str] = []
    try:
        def save() -> None:
            slow.send_command("write memory", read_timeout=60)  # returns at the prompt after the answer
            finished.append("write memory")
        writer = threading.Thread(target=save)
        writer.start()
        time.sleep(1.0)  # the write is under way
        version = other.send_command("show version")
        finished.append("show version")
        writer.join(60)
        assert not writer.is_alive()
        assert finished == ["show version", "write memory"]
        assert netdev.device(name)["hardware"] in version
        # The paused session goes on in order afterwards.
        assert name in slow.find_prompt()
        assert netdev.device(name)["hardware"] in slow.send_command("show version")
    finally:
        faults.unlink(missing_ok=True)
        slow.disconnect()
        other.disconnect()
