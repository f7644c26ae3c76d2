"""The device-independent half of plugins/module_utils/seams/netdev.py: normalised configurations, the scoped
delta (nothing outside the managed sections is ever negated), and versioned backups."""

from __future__ import annotations

import threading

from ansible_collections.jinbao.dc.plugins.module_utils.seams import netdev

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


def _batch_module():
    """plugins/module_utils/seams/netdev_batch.py, netdev_config_batch's logic (PairOrder, run_batch)."""
    from ansible_collections.jinbao.dc.plugins.module_utils.seams import netdev_batch

    return netdev_batch


def _side_b(order, log: list[str]) -> threading.Thread:
    def run() -> None:
        log.append(f"start:{order.start_b() or 'go'}")
        log.append(f"change:{order.change_b() or 'go'}")
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_side_b_starts_once_side_a_is_confirmed_and_changes_once_side_a_has_ended():
    order = _batch_module().PairOrder(["core-01", "acc-01"])
    log: list[str] = []
    side_b = _side_b(order, log)
    order.confirmed("core-01")
    side_b.join(0.3)
    assert log == []  # acc-01 is still on its way
    order.ended("acc-01", failed=False)  # nothing to change there: ended, so confirmed too
    _until(lambda: log == ["start:go"])
    side_b.join(0.3)
    assert log == ["start:go"]  # core-01 is still saving: side b reads, but sends nothing yet
    order.ended("core-01", failed=False)
    side_b.join(5)
    assert log == ["start:go", "change:go"]


def test_a_failed_side_a_device_holds_side_b_before_it_starts_or_before_it_changes():
    order = _batch_module().PairOrder(["core-01"])
    order.ended("core-01", failed=True)  # refused a line: side b is not even read
    assert "side a of the redundant pairs failed (core-01)" in order.start_b()

    order = _batch_module().PairOrder(["core-01"])
    log: list[str] = []
    side_b = _side_b(order, log)
    order.confirmed("core-01")
    _until(lambda: log == ["start:go"])
    order.ended("core-01", failed=True)  # the save failed after the confirm: side b is read, not changed
    side_b.join(5)
    assert log[1].startswith("change:side a of the redundant pairs failed (core-01)"), log


def _until(condition, timeout: float = 5.0) -> None:
    """Wait for another thread's step (a liveness bound, not a speed check)."""
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the other thread did not get there"
        time.sleep(0.01)


def _early_point(monkeypatch, calls: list[str]):
    """An EarlyRollbackPoint whose device calls are recorded instead of sent."""
    monkeypatch.setattr(netdev, "connect", lambda **p: "second-session")
    monkeypatch.setattr(netdev, "_prepare_rollback", lambda p, session, v: "archive-7")
    monkeypatch.setattr(netdev, "_leave_config_mode", lambda session: calls.append("end"))
    monkeypatch.setattr(netdev, "confirm",
                        lambda name, session, v, strict=True: calls.append(f"confirm strict={strict}"))
    monkeypatch.setattr(netdev, "disconnect", lambda session: calls.append(f"disconnect {session}"))
    return netdev.EarlyRollbackPoint({"name": "core-01", "confirm_minutes": 5}, IOS)


def test_an_early_rollback_point_is_handed_over_or_stopped(monkeypatch):
    calls: list[str] = []
    early = _early_point(monkeypatch, calls)
    assert early.take() == ("second-session", "archive-7")  # the change goes out on the armed session
    early.cancel()
    assert calls == []  # handed over: the caller closes it

    early = _early_point(monkeypatch, calls)
    early.cancel()  # no delta after all: the timer is stopped, the configuration left as it is
    assert calls == ["end", "confirm strict=False", "disconnect second-session"]


def test_a_rollback_point_held_up_past_half_its_timer_is_stopped_so_a_fresh_one_covers_the_change(monkeypatch):
    calls: list[str] = []
    early = _early_point(monkeypatch, calls)
    early._thread.join()
    early._made -= 5 * 30 + 1  # side a of its pair took over 2.5 of the timer's 5 minutes
    assert early.take() is None
    assert calls == ["end", "confirm strict=False", "disconnect second-session"]
