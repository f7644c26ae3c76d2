"""Decommissioning emptied rooms in vCenter (vsphere_decommission's logic): refuse while anything still holds a VM,
then hosts into maintenance mode, datastores removed, hosts disconnected.

vCenter is reached through an object with the methods below (seams/vsphere.Decommissioner, or a fake).
"""

from __future__ import annotations

from typing import Any, Protocol

from ansible_collections.jinbao.dc.plugins.module_utils.seams.vsphere import VSphereError


class Vcenter(Protocol):
    def enter_maintenance(self, host: str) -> None: ...

    def remove_datastore(self, via_host: str, datastore: str) -> None: ...

    def disconnect_host(self, host: str) -> None: ...


class DecommissionRefused(Exception):
    """Something in the rooms still holds a VM; nothing was changed. `problems` names each, one line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("refusing to decommission; nothing was changed:\n" + "\n".join(problems))
        self.problems = problems


def decommission(register: dict[str, Any], targets: set[str], vcenter: Vcenter | None) -> dict[str, Any]:
    """Take the rooms `targets` out of service: hosts into maintenance mode and disconnected, their datastores
    removed. DecommissionRefused, before any change, while a host or datastore still holds a VM. With
    `vcenter` None (check mode) nothing is done and the result says what would be."""
    hosts = [h for h in register["hosts"] if h["room"] in targets]
    stores = [d for d in register["datastores"] if d["room"] in targets]
    unknown = sorted(targets - {h["room"] for h in register["hosts"]} - {d["room"] for d in stores})

    # --- refuse, before any change, what still holds a VM ---------------------------------------------
    problems = []
    for h in hosts:
        held = sorted(v["name"] for v in register["vms"] if v["host"] == h["name"])
        if held:
            problems.append(f"{h['name']}: vms: host in {h['room']} still holds {len(held)} VM(s): {', '.join(held)}")
    for d in stores:
        held = sorted(v["name"] for v in register["vms"] if d["name"] in (v["datastores"] or ()))
        if held:
            problems.append(f"{d['name']}: vms: datastore in {d['room']} still holds {len(held)} VM(s): "
                            f"{', '.join(held)}")
    if problems:
        raise DecommissionRefused(problems)

    # --- maintenance, datastores, disconnect ---------------------------------------------------------------
    host_out = []
    for h in hosts:
        steps = []
        if h["connection_state"] == "connected":
            steps = ["disconnect"] if h["maintenance"] else ["enter maintenance mode", "disconnect"]
        host_out.append({"name": h["name"], "room": h["room"], "steps": steps,
                         "before": {"connection_state": h["connection_state"], "maintenance": h["maintenance"]}})
    store_out = [{"name": d["name"], "room": d["room"], "hosts": d["hosts"]} for d in stores]
    diff = ([f"{h['name']} ({h['room']}): enter maintenance mode\n" for h in host_out
             if "enter maintenance mode" in h["steps"]]
            + [f"{d['name']} ({d['room']}): remove datastore\n" for d in store_out]
            + [f"{h['name']} ({h['room']}): disconnect\n" for h in host_out if "disconnect" in h["steps"]])
    changed = bool(diff)
    if vcenter is not None:
        by_name = {h["name"]: h for h in register["hosts"]}
        for h in host_out:
            if "enter maintenance mode" in h["steps"]:
                vcenter.enter_maintenance(h["name"])
        for d in store_out:
            via = next((n for n in d["hosts"] if by_name.get(n, {}).get("connection_state") == "connected"), None)
            if via is None:
                raise VSphereError(d["name"], "hosts", "no connected host mounts the datastore; reconnect one of "
                                                       f"{', '.join(d['hosts']) or 'its hosts'} to remove it")
            vcenter.remove_datastore(via, d["name"])
        for h in host_out:
            if "disconnect" in h["steps"]:
                vcenter.disconnect_host(h["name"])
    for h in host_out:
        h["after"] = {"connection_state": "disconnected" if h["before"]["connection_state"] == "connected"
                      else h["before"]["connection_state"],
                      "maintenance": h["before"]["maintenance"] or "enter maintenance mode" in h["steps"]}
    result: dict[str, Any] = {"changed": changed, "hosts": host_out, "datastores": store_out,
                              "rooms_without_assets": unknown}
    if diff:
        result["diff"] = {"before": "", "after": "".join(diff), "after_header": "decommission steps"}
    return result
