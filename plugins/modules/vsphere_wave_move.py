#!/usr/bin/python
"""Move a batch of a wave's VMs (compute and storage) with bounded concurrency, with pre- and post-checks."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: vsphere_wave_move
short_description: Move a batch of VMs to their planned places, several at once, recording each outcome
description:
  - Moves the given VMs with up to I(concurrency) relocations running at once, each worker on its own
    vCenter session. One module call moves a whole batch, so a wave of hundreds of VMs costs a handful
    of module start-ups, not one per VM.
  - Reads vCenter once per call (one PropertyCollector pass) and finds each VM by BIOS uuid (a VM renamed
    since the plan is still found, and reported as renamed); a move then costs a few round trips.
  - "Pre-checks per VM: the VM exists, the source and target hosts are connected, the target host is
    not in maintenance, the VM has no snapshots (unless allowed) and the target datastore has room for
    its disks."
  - Moves compute and storage with one RelocateVM_Task, then the VM folder, and waits with a timeout.
  - "Post-checks per VM: host, datastore, power state and folder are as planned; the power state is unchanged."
  - A VM that fails any step after leaving its source is moved back to its source host, datastore and folder.
  - Every outcome (moved, in_place, failed, missing, skipped) is written to the wave ledger as it happens,
    under a lock with an atomic replace, so a killed run leaves a consistent ledger and a re-run resumes.
  - When the failures of the wave (I(failures_before) plus this batch) exceed I(max_fail_percentage) of
    I(wave_size), no further VM is started; the VMs not started are recorded as skipped (all of them,
    when earlier batches had already gone over the limit).
  - Check mode changes nothing and returns the planned moves as a diff.
extends_documentation_fragment: [jinbao.dc.vsphere]
options:
  vms:
    description: The VMs to move, as vsphere_wave_state returns them in C(pending) (name, uuid, target, current).
    type: list
    elements: dict
    required: true
  ledger: {description: The wave ledger file (reports/waves/N.json)., type: path, required: true}
  wave: {description: The wave number., type: int, required: true}
  concurrency: {description: Relocations running at once., type: int, default: 8}
  task_timeout: {description: Seconds to wait for one relocation task., type: float, default: 600}
  allow_snapshots: {description: Move VMs that have snapshots., type: bool, default: false}
  max_fail_percentage:
    description: Abort the wave when more than this share of I(wave_size) VMs has failed.
    type: float
    default: 20
  wave_size: {description: VMs in the whole wave (the base of I(max_fail_percentage))., type: int, required: true}
  failures_before: {description: VMs of this wave that failed in earlier batches of this run., type: int, default: 0}
author: jinbao-dc
"""

EXAMPLES = r"""
- name: Move the first batch of wave 1
  vsphere_wave_move:
    name: vc-central
    hostname: 127.0.0.1
    port: 18443
    username: jinbao-lab
    password: "{{ vcenter_password }}"
    vms: "{{ wave_state.pending[0:25] }}"
    ledger: reports/waves/1.json
    wave: 1
    wave_size: "{{ wave_state.pending | length }}"
"""

RETURN = r"""
moved:
  description: Names of the VMs moved by this call (in check mode, the VMs that would move).
  type: list
  elements: str
  returned: always
failures:
  description: One entry per failed VM, with name, message and whether it is back on its source.
  type: list
  elements: dict
  returned: always
skipped:
  description: Names of the VMs not started because the wave was aborted.
  type: list
  elements: str
  returned: always
aborted:
  description: True when the failures exceeded max_fail_percentage and the rest of the batch was skipped.
  type: bool
  returned: always
renamed:
  description: VMs found under another name than the planned one, as "planned -> now".
  type: list
  elements: str
  returned: always
"""

import datetime
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.jinbao.dc.plugins.module_utils.consolidation.ledger import record
from ansible_collections.jinbao.dc.plugins.module_utils.seams.vsphere import (
    CONNECTION_ARGS,
    HAS_PYVMOMI,
    PYVMOMI_IMPORT_ERROR,
    Inventory,
    VSphereError,
    collect,
    connect,
    disconnect,
    endpoint,
    relocate,
    vm_state,
)


def in_place(where: dict, host: str | None, datastore: str | None, folder: str | None) -> bool:
    return ((not host or where["host"] == host) and (not datastore or where["datastores"] == [datastore])
            and (not folder or where["folder"] == folder))


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class WaveMover:
    """Moves VMs on a pool of worker threads, one vCenter session per worker, recording every outcome."""

    def __init__(self, params: dict[str, Any], check_mode: bool) -> None:
        self.p = params
        self.ep = endpoint(params)
        self.check_mode = check_mode
        self.limit = params["max_fail_percentage"] / 100.0 * max(params["wave_size"], 1)
        self.lock = threading.Lock()
        self.failed_count = params["failures_before"]
        self.aborted = self.failed_count > self.limit  # an earlier batch aborted the wave: record the rest skipped
        self.local = threading.local()
        self.sessions: list[Any] = []
        self.moved: list[str] = []
        self.failures: list[dict[str, Any]] = []
        self.skipped: list[str] = []
        self.renamed: list[str] = []
        self.diffs: list[str] = []
        self.inventory: Inventory | None = None  # read by run(), once per call

    # --- sessions ---------------------------------------------------------------------------------
    def session(self) -> Any:
        si = getattr(self.local, "si", None)
        if si is None:
            si = connect(self.ep)
            self.local.si = si
            with self.lock:
                self.sessions.append(si)
        return si

    def close(self) -> None:
        for si in self.sessions:
            disconnect(si)

    # --- the ledger -------------------------------------------------------------------------------
    def note(self, vm: dict[str, Any], status: str, **detail: Any) -> None:
        if self.check_mode:
            return
        record(self.p["ledger"], self.p["wave"], vm["name"],
               {"status": status, "uuid": vm.get("uuid"), "at": _now(), **detail})

    # --- one VM -----------------------------------------------------------------------------------
    def run_one(self, vm: dict[str, Any]) -> None:
        with self.lock:
            if self.aborted:
                self.skipped.append(vm["name"])
                skip = True
            else:
                skip = False
        if skip:
            self.note(vm, "skipped", error=f"not started: wave {self.p['wave']} was aborted after "
                                           f"{self.failed_count} failure(s)")
            return
        try:
            self.move(vm)
        except VSphereError as exc:
            self.fail(vm, str(exc), returned=None)
        except Exception as exc:  # one VM's surprise must not lose the others' outcomes
            self.fail(vm, f"{vm['name']}: unexpected error: {type(exc).__name__}: {exc}", returned=None)

    def move(self, vm: dict[str, Any]) -> None:
        name, target, inv = vm["name"], vm["target"], self.inventory
        vm_moid = inv.vm_by_uuid.get(vm["uuid"])
        if vm_moid is None:
            self.note(vm, "missing", error=f"no VM with uuid {vm['uuid']} in {self.ep.name}")
            with self.lock:
                self.failures.append({"name": name, "message": f"{name}: uuid: the VM is gone from {self.ep.name}",
                                      "returned_to_source": None, "status": "missing"})
            return
        before = inv.where(vm_moid)
        if before["name"] != name:
            with self.lock:
                self.renamed.append(f"{name} -> {before['name']}")
        if in_place(before, target.get("host"), target.get("datastore"), target.get("folder")):
            self.note(vm, "in_place", host=before["host"], datastores=before["datastores"], folder=before["folder"])
            return
        dest, problems = self.prechecks(vm, before)
        if problems:
            self.fail(vm, f"{name}: pre-check: " + "; ".join(problems), returned=None, source=before)
            return
        after = {**before, "host": target["host"], "datastores": [target["datastore"]] if target.get("datastore")
                 else before["datastores"], "folder": target.get("folder") or before["folder"]}
        if self.check_mode:
            with self.lock:
                self.moved.append(name)
                self.diffs.append(f"{name}: {before['host']}/{','.join(before['datastores'])}/{before['folder']}"
                                  f" -> {after['host']}/{','.join(after['datastores'])}/{after['folder']}")
            return
        if before["folder"] == target.get("folder"):
            dest["folder"] = None  # already in its zone folder: one round trip fewer
        si = self.session()
        try:
            relocate(si, self.ep, vm_moid, f"moving VM {name} to {target['host']}/{target.get('datastore')}", **dest,
                     timeout=self.p["task_timeout"])
            state = vm_state(si, self.ep, vm_moid)
            if state is None:
                raise VSphereError(name, "post-check", "the VM vanished from vCenter during its move")
            now = inv.where(vm_moid, state)
            wrong = []
            if not in_place(now, target["host"], target.get("datastore"), target.get("folder")):
                wrong.append(f"placement is {now['host']}/{','.join(now['datastores'])}/{now['folder']}")
            if now["power_state"] != before["power_state"]:
                wrong.append(f"power state changed from {before['power_state']} to {now['power_state']}")
            if wrong:
                raise VSphereError(name, "post-check", "; ".join(wrong))
        except VSphereError as exc:
            self.fail(vm, str(exc), returned=self.return_to_source(vm_moid, before), source=before)
            return
        self.note(vm, "moved", source=before, host=now["host"], datastores=now["datastores"], folder=now["folder"],
                  error="")
        with self.lock:
            self.moved.append(name)

    def destination(self, host: str, datastore: str | None, folder: str | None) -> tuple[dict[str, Any], list[str]]:
        """The ids relocate() needs for a host/datastore/folder by name, and what is wrong with them."""
        inv, problems = self.inventory, []
        h = inv.host(host)
        if h is None:
            return {}, [f"target host {host} does not exist in {self.ep.name}"]
        if h.get("runtime.connectionState") != "connected":
            problems.append(f"target host {host} is {h.get('runtime.connectionState')}")
        if h.get("runtime.inMaintenanceMode"):
            problems.append(f"target host {host} is in maintenance mode")
        dest = {"host": h["moid"], "pool": inv.pool_of_host(h["moid"]), "datastore": None, "folder": None}
        if datastore:
            d = inv.datastore(datastore)
            if d is None:
                problems.append(f"target datastore {datastore} does not exist in {self.ep.name}")
            else:
                dest["datastore"] = d["moid"]
        if folder is not None:
            dest["folder"] = inv.folder_by_path.get((inv.datacenter_of_host(h["moid"]), folder))
            if dest["folder"] is None:
                problems.append(f"target folder {folder} does not exist in the datacenter of {host}")
        return dest, problems

    def prechecks(self, vm: dict[str, Any], before: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        target = vm["target"]
        dest, problems = self.destination(target["host"], target.get("datastore"), target.get("folder"))
        if before["host_connection"] not in (None, "connected"):
            problems.insert(0, f"source host {before['host']} is {before['host_connection']}")
        if before["snapshots"] and not self.p["allow_snapshots"]:
            problems.append("the VM has snapshots; consolidate or delete them first (or set migrate_allow_snapshots)")
        if dest.get("datastore") and target["datastore"] not in before["datastores"]:
            need = int(vm.get("disk_bytes") or 0)
            ds = self.inventory.raw["datastores"][dest["datastore"]]
            free = int(ds.get("summary.freeSpace") or 0) if ds.get("summary.accessible", True) else 0
            if need > free:
                problems.append(f"target datastore {target['datastore']} has {free} bytes free, the VM needs {need}")
        return dest, problems

    def return_to_source(self, vm_moid: str, before: dict[str, Any]) -> bool:
        """Put a VM back where it was; True when it is on its source again."""
        try:
            si = self.session()
            source_ds = before["datastores"][0] if len(before["datastores"]) == 1 else None
            dest, problems = self.destination(before["host"], source_ds, before["folder"])
            state = vm_state(si, self.ep, vm_moid)
            if problems or state is None:
                return False
            now = self.inventory.where(vm_moid, state)
            if now["folder"] == before["folder"]:
                dest["folder"] = None  # the folder move is what failed, or never happened
            if not in_place(now, before["host"], source_ds, before["folder"]):
                relocate(si, self.ep, vm_moid, f"returning VM {before['name']} to {before['host']}", **dest,
                         timeout=self.p["task_timeout"])
                state = vm_state(si, self.ep, vm_moid)
            return state is not None and in_place(self.inventory.where(vm_moid, state), before["host"], source_ds,
                                                  before["folder"])
        except Exception:  # the caller records that the VM is not back
            return False

    def fail(self, vm: dict[str, Any], message: str, returned: bool | None,
             source: dict[str, Any] | None = None) -> None:
        where = ""
        if returned is True:
            where = f" (the VM is back on its source {source['host']})"
        elif returned is False:
            where = " (returning it to its source failed too: check it in vCenter)"
        with self.lock:
            self.failed_count += 1
            self.failures.append({"name": vm["name"], "message": message + where, "returned_to_source": returned,
                                  "status": "failed"})
            if self.failed_count > self.limit and not self.aborted:
                self.aborted = True
        detail: dict[str, Any] = {"error": message, "returned_to_source": returned}
        if source:
            detail["source"] = source
        self.note(vm, "failed", **detail)

    def run(self) -> None:
        vms = self.p["vms"]
        self.inventory = Inventory(collect(self.session(), self.ep))
        workers = max(1, min(self.p["concurrency"], len(vms)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="wave") as pool:
            list(pool.map(self.run_one, vms))


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            **CONNECTION_ARGS,
            "vms": {"type": "list", "elements": "dict", "required": True},
            "ledger": {"type": "path", "required": True},
            "wave": {"type": "int", "required": True},
            "concurrency": {"type": "int", "default": 8},
            "task_timeout": {"type": "float", "default": 600.0},
            "allow_snapshots": {"type": "bool", "default": False},
            "max_fail_percentage": {"type": "float", "default": 20.0},
            "wave_size": {"type": "int", "required": True},
            "failures_before": {"type": "int", "default": 0},
        },
        supports_check_mode=True,
    )
    if not HAS_PYVMOMI:
        module.fail_json(msg=missing_required_lib("pyvmomi"), exception=str(PYVMOMI_IMPORT_ERROR))
    if module.params["concurrency"] < 1:
        module.fail_json(msg=f"{module.params['name']}: concurrency: must be at least 1 "
                             f"(got {module.params['concurrency']})")
    mover = WaveMover(module.params, module.check_mode)
    try:
        mover.run()
    except VSphereError as exc:  # vCenter could not be read before any move
        module.fail_json(msg=str(exc), field=exc.field, moved=sorted(mover.moved), failures=mover.failures,
                         skipped=sorted(mover.skipped), aborted=mover.aborted)
    except (OSError, ValueError) as exc:  # the ledger cannot be written: stop, the VMs' state is in vCenter
        module.fail_json(msg=f"{module.params['name']}: ledger: {exc}", moved=sorted(mover.moved),
                         failures=mover.failures, skipped=sorted(mover.skipped), aborted=mover.aborted)
    finally:
        mover.close()
    result = {"changed": bool(mover.moved), "moved": sorted(mover.moved), "failures": sorted(
        mover.failures, key=lambda f: f["name"]), "skipped": sorted(mover.skipped), "aborted": mover.aborted,
        "renamed": sorted(mover.renamed)}
    if mover.diffs:
        result["diff"] = {"before": "", "after": "".join(f"{line}\n" for line in sorted(mover.diffs)),
                          "after_header": f"wave {module.params['wave']}: planned moves"}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
