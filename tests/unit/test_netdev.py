"""The device-independent half of plugins/module_utils/netdev.py: normalised configurations, the scoped
delta (nothing outside the managed sections is ever negated), and versioned backups."""

from __future__ import annotations

import sys

from conftest import ROOT

sys.path.insert(0, str(ROOT / "plugins" / "module_utils"))
import netdev

IOS = netdev.VENDORS["cisco"]
RUNNING = """Building configuration...

Current configuration : 1234 bytes
! Last configuration change at 10:00:00 UTC Sat Nov 28 2026
hostname core-01
!
interface GigabitEthernet1/0/5
 description printer
!
interface Vlan10
 ip address 10.10.0.2 255.255.0.0
!
ip access-list extended ZONE-OLD-IN
 permit ip any any
ip access-list extended CUSTOMER-ACL
 deny   ip any any
!
end
"""
INTENDED = """interface Vlan10
 ip vrf forwarding PRODUCTION
 ip address 10.10.0.2 255.255.0.0
 ip access-group ZONE-PRODUCTION-IN in
ip access-list extended ZONE-PRODUCTION-IN
 deny ip any any log
"""


def test_normalising_drops_the_lines_that_change_by_themselves():
    a = netdev.normalise(RUNNING, IOS)
    b = netdev.normalise(RUNNING.replace("1234 bytes", "1301 bytes").replace("10:00:00", "11:42:07"), IOS)
    assert a == b and a.startswith("hostname core-01\n")
    assert netdev.checksum(a) == netdev.checksum(b)


def test_the_delta_touches_only_managed_sections_and_resends_an_interface_after_a_vrf_change():
    lines = netdev.delta(netdev.normalise(RUNNING, IOS), INTENDED, IOS, managed=[r"^ip access-list extended ZONE-"])
    assert "no ip access-list extended ZONE-OLD-IN" in lines  # a stale zone ACL goes
    assert not any("CUSTOMER-ACL" in line or "GigabitEthernet1/0/5" in line or "hostname" in line
                   for line in lines)  # the rest of the device is none of its business
    i = lines.index("interface Vlan10")
    assert lines[i + 1:i + 4] == [" ip vrf forwarding PRODUCTION", " ip address 10.10.0.2 255.255.0.0",
                                  " ip access-group ZONE-PRODUCTION-IN in"]


def test_padded_acl_entries_as_ios_prints_them_are_no_difference():
    running = "ip access-list extended ZONE-X-IN\n deny   ip any any log\n"
    assert netdev.delta(running, "ip access-list extended ZONE-X-IN\n deny ip any any log\n", IOS) == []


def test_a_backup_is_written_only_when_the_configuration_changed_and_old_ones_are_pruned(tmp_path):
    first = netdev.keep_backup(str(tmp_path), "core-01", "hostname a\n", keep=2)
    assert first.changed and (tmp_path / "core-01" / "latest").read_text() == "hostname a\n"
    sha_file = tmp_path / "core-01" / (first.path.rsplit("/", 1)[1] + ".sha256")
    assert sha_file.read_text().split()[0] == netdev.checksum("hostname a\n")
    same = netdev.keep_backup(str(tmp_path), "core-01", "hostname a\n", keep=2)
    assert not same.changed and same.path == first.path
    assert netdev.keep_backup(str(tmp_path), "core-01", "hostname b\n", keep=2, check_mode=True).path == ""
    for name in ("b", "c"):
        last = netdev.keep_backup(str(tmp_path), "core-01", f"hostname {name}\n", keep=2)
    assert len(list((tmp_path / "core-01").glob("*.cfg"))) == 2 and last.pruned == [first.path.rsplit("/", 1)[1]]
    assert (tmp_path / "core-01" / "latest").read_text() == "hostname c\n"


def _change(tmp_path, **more):
    return {"name": "core-01", "intended": INTENDED, "managed": [r"^ip access-list extended ZONE-"],
            "confirm_minutes": 5, "backup_dir": str(tmp_path / "backups"), **more}


def test_a_change_is_expected_when_the_latest_backup_lacks_the_intent_or_there_is_none(tmp_path):
    """Only then is the rollback point made on a second session while the first reads the configuration."""
    p = _change(tmp_path)
    assert netdev.change_expected(p, IOS)  # never backed up: a first change
    netdev.keep_backup(p["backup_dir"], "core-01", netdev.normalise(RUNNING, IOS))
    assert netdev.change_expected(p, IOS)  # the intent is not there yet
    netdev.keep_backup(p["backup_dir"], "core-01", INTENDED)
    assert not netdev.change_expected(p, IOS)  # the last run left it as intended: read first, arm only on drift
    assert not netdev.change_expected(_change(tmp_path / "new", backup_dir=None), IOS)  # no history to go by
    assert not netdev.change_expected(_change(tmp_path / "new"), netdev.VENDORS["huawei"])  # never configured
