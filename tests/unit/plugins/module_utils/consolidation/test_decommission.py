"""Decommissioning emptied rooms (plugins/module_utils/consolidation/decommission.py), on a register made here and a
fake vCenter that records the steps: no lab."""

from __future__ import annotations

import pytest

from ansible_collections.jinbao.dc.plugins.module_utils.consolidation.decommission import (
    DecommissionRefused,
    decommission,
)


def host(name: str, room: str, maintenance: bool = False) -> dict:
    return {"name": name, "room": room, "connection_state": "connected", "maintenance": maintenance}


def register(vms=()) -> dict:
    return {
        "hosts": [host("esx-north-01", "branch-north"), host("esx-north-02", "branch-north", maintenance=True),
                  host("esx-prod-01", "main")],
        "datastores": [{"name": "north-local", "room": "branch-north", "hosts": ["esx-north-01"]}],
        "vms": list(vms),
    }


class Steps:
    def __init__(self) -> None:
        self.done: list[str] = []

    def enter_maintenance(self, host):
        self.done.append(f"maintenance {host}")

    def remove_datastore(self, via_host, datastore):
        self.done.append(f"remove {datastore} via {via_host}")

    def disconnect_host(self, host):
        self.done.append(f"disconnect {host}")


def test_a_room_still_holding_a_vm_is_refused_before_any_step():
    steps = Steps()
    vm = {"name": "north-db01", "host": "esx-north-01", "datastores": ["north-local"]}
    with pytest.raises(DecommissionRefused) as err:
        decommission(register([vm]), {"branch-north"}, steps)
    assert err.value.problems == [
        "esx-north-01: vms: host in branch-north still holds 1 VM(s): north-db01",
        "north-local: vms: datastore in branch-north still holds 1 VM(s): north-db01"]
    assert steps.done == []


def test_an_empty_room_goes_into_maintenance_loses_its_datastores_then_disconnects_in_that_order():
    steps = Steps()
    result = decommission(register(), {"branch-north"}, steps)
    assert steps.done == ["maintenance esx-north-01", "remove north-local via esx-north-01",
                          "disconnect esx-north-01", "disconnect esx-north-02"]
    assert result["changed"] and all(h["after"]["connection_state"] == "disconnected" for h in result["hosts"])


def test_check_mode_takes_no_step_and_lists_each_one():
    result = decommission(register(), {"branch-north"}, None)
    assert result["diff"]["after"].splitlines() == [
        "esx-north-01 (branch-north): enter maintenance mode", "north-local (branch-north): remove datastore",
        "esx-north-01 (branch-north): disconnect", "esx-north-02 (branch-north): disconnect"]
