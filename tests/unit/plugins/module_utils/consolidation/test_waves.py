"""The wave mover and its abort rule (plugins/module_utils/consolidation/waves.py), without the lab: a fake vCenter
session stands in for seams/vsphere.Sessions and moves VMs in memory."""

from __future__ import annotations

import copy
import json
import threading

import pytest

from ansible_collections.jinbao.dc.plugins.module_utils.consolidation import ledger, waves
from ansible_collections.jinbao.dc.plugins.module_utils.seams.vsphere import Inventory, VSphereError

SOURCE, TARGET = "esx-north-01", "esx-prod-01"


def topology(n: int) -> dict:
    """One datacenter: a branch cluster holding n VMs, and the production cluster they move to."""
    raw = {
        "datacenters": {"dc-1": {"name": "central", "parent": "group-d1"}},
        "folders": {"group-h": {"name": "host", "parent": "dc-1"}, "group-v": {"name": "vm", "parent": "dc-1"},
                    "f-prod": {"name": "production", "parent": "group-v"},
                    "f-branch": {"name": "branch-north", "parent": "group-v"}},
        "compute": {"c-branch": {"name": "north", "parent": "group-h", "resourcePool": "rp-branch"},
                    "c-prod": {"name": "production", "parent": "group-h", "resourcePool": "rp-prod"}},
        "hosts": {"h-src": {"name": SOURCE, "parent": "c-branch", "runtime.connectionState": "connected",
                            "runtime.inMaintenanceMode": False},
                  "h-dst": {"name": TARGET, "parent": "c-prod", "runtime.connectionState": "connected",
                            "runtime.inMaintenanceMode": False}},
        "datastores": {"ds-src": {"name": "north-local", "summary.freeSpace": 10**12, "summary.accessible": True},
                       "ds-dst": {"name": "prod-ds", "summary.freeSpace": 10**12, "summary.accessible": True}},
        "vms": {},
    }
    for i in range(n):
        raw["vms"][f"vm-{i}"] = {"name": f"vm{i:02d}", "config.uuid": f"uuid-{i}", "runtime.host": "h-src",
                                 "datastore": ["ds-src"], "runtime.powerState": "poweredOn", "parent": "f-branch",
                                 "rootSnapshot": []}
    return raw


def planned(n: int, datastore: str = "prod-ds") -> list[dict]:
    return [{"name": f"vm{i:02d}", "uuid": f"uuid-{i}", "disk_bytes": 1024,
             "target": {"cluster": "production", "host": TARGET, "datastore": datastore, "folder": "production"}}
            for i in range(n)]


class FakeVcenter:
    """seams/vsphere.Sessions in memory: relocations change the VMs at once; `refuse` names VMs whose folder move
    vCenter refuses after their relocation (so they must be moved back)."""

    name = "vc-test"

    def __init__(self, raw: dict, refuse: set[str] = frozenset()) -> None:
        self.raw, self.refuse = raw, set(refuse)
        self.lock = threading.Lock()
        self.inventory_reads = 0
        self.relocations: list[tuple[str, str]] = []
        self.closed = 0

    def inventory(self) -> Inventory:
        self.inventory_reads += 1
        return Inventory(copy.deepcopy(self.raw))

    def vm_state(self, vm_moid: str) -> dict | None:
        with self.lock:
            vm = self.raw["vms"].get(vm_moid)
            return copy.deepcopy(vm) if vm else None

    def relocate(self, vm_moid, what, *, host, pool, datastore, folder, timeout=600.0) -> None:
        with self.lock:
            vm = self.raw["vms"][vm_moid]
            self.relocations.append((vm["name"], self.raw["hosts"][host]["name"]))
            vm["runtime.host"] = host
            if datastore:
                vm["datastore"] = [datastore]
            if folder and vm["name"] in self.refuse and host == "h-dst":
                raise VSphereError(self.name, "task", f"{what}: folder: the folder move was refused")
            if folder:
                vm["parent"] = folder

    def close(self) -> None:
        self.closed += 1


def move(vc, vms, tmp_path, **kw):
    args = {"ledger": str(tmp_path / "1.json"), "wave": 1, "wave_size": len(vms), "max_fail_percentage": 20.0,
            "concurrency": 4, **kw}
    return waves.move_batch(vc, vms, **args)


def statuses(tmp_path) -> dict[str, str]:
    return {name: e["status"] for name, e in ledger.read(str(tmp_path / "1.json"))["vms"].items()}


def test_a_batch_moves_every_vm_and_records_each_move_in_the_ledger(tmp_path):
    vc = FakeVcenter(topology(6))
    result = move(vc, planned(6), tmp_path)
    assert result["changed"] and result["moved"] == [f"vm{i:02d}" for i in range(6)]
    assert result["failures"] == [] and result["stop"] == "" and not result["aborted"]
    assert set(statuses(tmp_path).values()) == {"moved"}
    assert all(vm["runtime.host"] == "h-dst" and vm["parent"] == "f-prod" for vm in vc.raw["vms"].values())
    assert vc.inventory_reads == 1 and vc.closed == 1


def test_a_wave_stops_starting_vms_once_its_failures_pass_the_limit(tmp_path):
    vc = FakeVcenter(topology(10))
    result = move(vc, planned(10, datastore="no-such-datastore"), tmp_path, concurrency=1)
    assert result["aborted"]
    assert len(result["failures"]) == 3 and len(result["skipped"]) == 7  # 20% of 10 is 2: the third stops it
    assert result["stop"].startswith("wave 1: aborted: more than 20% of its 10 VM(s) failed")
    assert "pre-check: target datastore no-such-datastore does not exist in vc-test" in result["stop"]
    assert sorted(statuses(tmp_path).values()) == ["failed"] * 3 + ["skipped"] * 7
    assert vc.relocations == []


def test_failures_are_counted_across_the_batches_of_a_wave(tmp_path):
    vc = FakeVcenter(topology(10))
    vms = planned(10)
    for vm in vms[:3] + vms[5:6]:
        vm["target"]["datastore"] = "no-such-datastore"
    first = move(vc, vms[:5], tmp_path, wave_size=10, concurrency=1)
    assert len(first["failures"]) == 3 and first["aborted"]  # 3 > 2: the first batch goes over already
    assert first["skipped"] == ["vm03", "vm04"] and first["moved"] == []
    second = move(vc, vms[5:], tmp_path, wave_size=10, failures_before=first["wave_failures"])
    assert second["aborted"] and second["skipped"] == [f"vm{i:02d}" for i in range(5, 10)]
    assert len(second["wave_failures"]) == 3 and "3 VM(s) failed" in second["stop"]


def test_the_limit_is_reached_only_by_the_failures_of_earlier_batches_and_this_one_together(tmp_path):
    vc = FakeVcenter(topology(10))
    vms = planned(10)
    for vm in (vms[0], vms[1], vms[5]):
        vm["target"]["datastore"] = "no-such-datastore"
    first = move(vc, vms[:5], tmp_path, wave_size=10, concurrency=1)
    assert len(first["failures"]) == 2 and not first["aborted"]  # 2 of 10 is not more than 20%
    second = move(vc, vms[5:], tmp_path, wave_size=10, concurrency=1, failures_before=first["wave_failures"])
    assert second["aborted"] and second["failures"][0]["name"] == "vm05"
    assert second["skipped"] == ["vm06", "vm07", "vm08", "vm09"]


def test_a_batch_after_an_aborted_one_skips_every_vm_without_reading_vcenter(tmp_path):
    vc = FakeVcenter(topology(10))
    earlier = [{"name": f"vm{i:02d}", "message": "x", "status": "failed"} for i in range(3)]
    result = move(vc, planned(10)[5:], tmp_path, wave_size=10, failures_before=earlier)
    assert result["aborted"] and len(result["skipped"]) == 5 and vc.inventory_reads == 0
    assert set(statuses(tmp_path).values()) == {"skipped"}


def test_a_rerun_resumes_from_the_ledger_and_moves_nothing_twice(tmp_path):
    vc = FakeVcenter(topology(4))
    first = move(vc, planned(4)[:2], tmp_path)  # the run was cut after two VMs
    assert first["moved"] == ["vm00", "vm01"]
    again = move(vc, planned(4), tmp_path)
    assert again["moved"] == ["vm02", "vm03"]
    entries = ledger.read(str(tmp_path / "1.json"))["vms"]
    assert {n: e["status"] for n, e in entries.items()} == dict.fromkeys(("vm00", "vm01", "vm02", "vm03"), "moved")
    assert entries["vm00"]["attempts"] == 1  # found in place: still the move made before, not a new one
    assert sorted(name for name, _ in vc.relocations) == ["vm00", "vm01", "vm02", "vm03"]
    third = move(vc, planned(4), tmp_path)
    assert not third["changed"] and third["moved"] == []


def test_check_mode_moves_nothing_writes_no_ledger_and_shows_each_move(tmp_path):
    vc = FakeVcenter(topology(3))
    result = move(vc, planned(3), tmp_path, check_mode=True)
    assert result["changed"] and result["moved"] == ["vm00", "vm01", "vm02"]
    assert "vm00: esx-north-01/north-local/branch-north -> esx-prod-01/prod-ds/production" in result["diff"]["after"]
    assert vc.relocations == [] and not (tmp_path / "1.json").exists()


def test_a_vm_that_fails_after_leaving_its_source_is_moved_back(tmp_path):
    vc = FakeVcenter(topology(1), refuse={"vm00"})
    result = move(vc, planned(1), tmp_path)
    (failure,) = result["failures"]
    assert failure["returned_to_source"] is True
    assert failure["message"].endswith(f"(the VM is back on its source {SOURCE})")
    assert vc.raw["vms"]["vm-0"]["runtime.host"] == "h-src" and vc.raw["vms"]["vm-0"]["datastore"] == ["ds-src"]
    entry = json.loads((tmp_path / "1.json").read_text())["vms"]["vm00"]
    assert entry["status"] == "failed" and entry["returned_to_source"] is True


def test_an_unreadable_vcenter_stops_the_batch_naming_the_wave(tmp_path):
    class Down(FakeVcenter):
        def inventory(self):
            raise VSphereError(self.name, "vcenter_port", "cannot connect to 127.0.0.1:1 (connection refused)")

    with pytest.raises(waves.BatchError, match=r"^wave 1: vc-test: vcenter_port: cannot connect"):
        move(Down(topology(1)), planned(1), tmp_path)


@pytest.mark.parametrize(("size", "percent", "failures", "stops"),
                         [(10, 20, 2, False), (10, 20, 3, True), (3, 0, 1, True), (0, 50, 1, True), (7, 100, 7, False)])
def test_the_abort_rule_stops_only_past_its_share_of_the_wave(size, percent, failures, stops):
    assert waves.AbortRule(1, size, percent).exceeded(failures) is stops


def test_a_wave_without_failures_has_no_stop_message():
    assert waves.AbortRule(4, 10, 20).stop_message([], "reports/waves/4.json") == ""
    text = waves.AbortRule(4, 10, 20).stop_message([{"message": "vm1: pre-check: no room"}], "reports/waves/4.json")
    assert text.startswith("wave 4: 1 VM(s) failed") and "aborted" not in text
    assert "Ledger: reports/waves/4.json" in text
