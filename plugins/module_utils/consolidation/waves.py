"""Moving a wave of VMs: where the wave stands, the mover (a batch at a time, several at once), the abort rule.

`wave_state()` compares a planned wave with vCenter (one PropertyCollector pass): what is in place, what is
still to move (with a target host each, capacity checked), what is missing or renamed.

A wave is moved in batches, one `vsphere_wave_move` call each. Inside a batch the `WaveMover` runs up to
`concurrency` relocations at once, each worker thread on its own vCenter session, and writes every VM's
outcome to the wave ledger as it happens (consolidation/ledger.py), so a killed run resumes from the ledger.

The abort rule lives here and nowhere else (`AbortRule`): a wave stops starting VMs once more than
`max_fail_percentage` of its VMs have failed, counting the failures of its earlier batches (the previous
call's `wave_failures`, passed back as `failures_before`); it also words the stop.

The mover reaches vCenter only through a session object with the methods of seams/vsphere.Sessions
(`name`, `inventory()`, `vm_state()`, `relocate()`, `close()`), so unit tests drive it with a fake.
"""

from __future__ import annotations

import datetime
import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from ansible_collections.jinbao.dc.plugins.module_utils.consolidation.asset_register import build
from ansible_collections.jinbao.dc.plugins.module_utils.consolidation.ledger import record
from ansible_collections.jinbao.dc.plugins.module_utils.consolidation.planning import DEFAULTS, cluster_capacity
from ansible_collections.jinbao.dc.plugins.module_utils.seams.vsphere import Inventory, VSphereError


class Vcenter(Protocol):
    """What the mover needs from vCenter (seams/vsphere.Sessions; a fake in the unit tests)."""

    name: str

    def inventory(self) -> Inventory: ...

    def vm_state(self, vm_moid: str) -> dict[str, Any] | None: ...

    def relocate(self, vm_moid: str, what: str, *, host: str, pool: str | None, datastore: str | None,
                 folder: str | None, timeout: float = 600.0) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class AbortRule:
    """A wave stops starting VMs once more than `max_fail_percentage` of its `wave_size` VMs have failed."""

    wave: int
    wave_size: int
    max_fail_percentage: float

    @property
    def limit(self) -> float:
        """Failures the wave tolerates (a share of its VMs; a wave of 0 VMs counts as 1)."""
        return self.max_fail_percentage / 100.0 * max(self.wave_size, 1)

    def exceeded(self, failures: int) -> bool:
        return failures > self.limit

    def stop_message(self, failures: Sequence[dict[str, Any]], ledger: str) -> str:
        """Why the wave did not complete, in one message; '' when no VM of it has failed."""
        if not failures:
            return ""
        aborted = (f"aborted: more than {self.max_fail_percentage:g}% of its {self.wave_size} VM(s) failed, so "
                   "no further VM was started; " if self.exceeded(len(failures)) else "")
        return (f"wave {self.wave}: {aborted}{len(failures)} VM(s) failed and stay on (or went back to) their "
                f"source. {' | '.join(f['message'] for f in failures)} Ledger: {ledger}. Fix the cause and re-run "
                "the wave: VMs already moved are skipped.")


class BatchError(Exception):
    """A batch stopped before its VMs' outcomes were all known; `result` holds what was done."""

    def __init__(self, message: str, result: dict[str, Any]) -> None:
        super().__init__(message)
        self.result = result


def in_place(where: dict[str, Any], host: str | None, datastore: str | None, folder: str | None) -> bool:
    return ((not host or where["host"] == host) and (not datastore or where["datastores"] == [datastore])
            and (not folder or where["folder"] == folder))


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class WaveMover:
    """Moves one batch of a wave on a pool of worker threads, recording every outcome in the ledger."""

    def __init__(self, vcenter: Vcenter, rule: AbortRule, ledger: str, *, failures_before: Sequence[dict] = (),
                 concurrency: int = 8, task_timeout: float = 600.0, allow_snapshots: bool = False,
                 check_mode: bool = False, now: Callable[[], str] = _now) -> None:
        self.vc = vcenter
        self.rule = rule
        self.ledger = ledger
        self.concurrency = concurrency
        self.task_timeout = task_timeout
        self.allow_snapshots = allow_snapshots
        self.check_mode = check_mode
        self.now = now
        self.lock = threading.Lock()
        self.earlier = list(failures_before)
        self.failed_count = len(self.earlier)
        self.aborted = rule.exceeded(self.failed_count)  # an earlier batch aborted the wave: the rest is skipped
        self.moved: list[str] = []
        self.failures: list[dict[str, Any]] = []
        self.skipped: list[str] = []
        self.renamed: list[str] = []
        self.diffs: list[str] = []
        self.inventory: Inventory | None = None  # read by run(), once per batch

    # --- the batch --------------------------------------------------------------------------------
    def run(self, vms: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """Move `vms`; the batch's outcome. BatchError (with the outcome so far) when vCenter cannot be read or
        the ledger cannot be written."""
        try:
            if not self.aborted:  # nothing will start: vCenter need not be read
                self.inventory = self.vc.inventory()
            workers = max(1, min(self.concurrency, len(vms)))
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="wave") as pool:
                list(pool.map(self.run_one, vms))
        except VSphereError as exc:  # vCenter could not be read before any move
            raise BatchError(f"wave {self.rule.wave}: {exc}", self.result()) from None
        except (OSError, ValueError) as exc:  # the ledger cannot be written: stop, the VMs' state is in vCenter
            raise BatchError(f"{self.vc.name}: ledger: {exc}", self.result()) from None
        finally:
            self.vc.close()
        return self.result()

    def result(self) -> dict[str, Any]:
        failures = sorted(self.failures, key=lambda f: f["name"])
        wave_failures = self.earlier + failures
        out = {"changed": bool(self.moved), "moved": sorted(self.moved), "failures": failures,
               "skipped": sorted(self.skipped), "aborted": self.aborted, "renamed": sorted(self.renamed),
               "wave_failures": wave_failures, "stop": self.rule.stop_message(wave_failures, self.ledger)}
        if self.diffs:
            out["diff"] = {"before": "", "after": "".join(f"{line}\n" for line in sorted(self.diffs)),
                           "after_header": f"wave {self.rule.wave}: planned moves"}
        return out

    # --- the ledger -------------------------------------------------------------------------------
    def note(self, vm: dict[str, Any], status: str, **detail: Any) -> None:
        if self.check_mode:
            return
        record(self.ledger, self.rule.wave, vm["name"], {"status": status, "uuid": vm.get("uuid"), "at": self.now(),
                                                         **detail})

    # --- one VM -----------------------------------------------------------------------------------
    def run_one(self, vm: dict[str, Any]) -> None:
        with self.lock:
            skip = self.aborted
            if skip:
                self.skipped.append(vm["name"])
        if skip:
            self.note(vm, "skipped", error=f"not started: wave {self.rule.wave} was aborted after "
                                           f"{self.failed_count} failure(s)")
            return
        try:
            self.move(vm)
        except VSphereError as exc:
            self.fail(vm, str(exc), returned=None)
        except (OSError, ValueError):
            raise  # the ledger: run() stops the batch
        except Exception as exc:  # one VM's surprise must not lose the others' outcomes
            self.fail(vm, f"{vm['name']}: unexpected error: {type(exc).__name__}: {exc}", returned=None)

    def move(self, vm: dict[str, Any]) -> None:
        name, target, inv = vm["name"], vm["target"], self.inventory
        vm_moid = inv.vm_by_uuid.get(vm["uuid"])
        if vm_moid is None:
            self.note(vm, "missing", error=f"no VM with uuid {vm['uuid']} in {self.vc.name}")
            with self.lock:
                self.failures.append({"name": name, "message": f"{name}: uuid: the VM is gone from {self.vc.name}",
                                      "returned_to_source": None, "status": "missing"})
                self.failed_count += 1
                self.aborted = self.aborted or self.rule.exceeded(self.failed_count)
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
        try:
            self.vc.relocate(vm_moid, f"moving VM {name} to {target['host']}/{target.get('datastore')}", **dest,
                             timeout=self.task_timeout)
            state = self.vc.vm_state(vm_moid)
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
            return {}, [f"target host {host} does not exist in {self.vc.name}"]
        if h.get("runtime.connectionState") != "connected":
            problems.append(f"target host {host} is {h.get('runtime.connectionState')}")
        if h.get("runtime.inMaintenanceMode"):
            problems.append(f"target host {host} is in maintenance mode")
        dest = {"host": h["moid"], "pool": inv.pool_of_host(h["moid"]), "datastore": None, "folder": None}
        if datastore:
            d = inv.datastore(datastore)
            if d is None:
                problems.append(f"target datastore {datastore} does not exist in {self.vc.name}")
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
        if before["snapshots"] and not self.allow_snapshots:
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
            source_ds = before["datastores"][0] if len(before["datastores"]) == 1 else None
            dest, problems = self.destination(before["host"], source_ds, before["folder"])
            state = self.vc.vm_state(vm_moid)
            if problems or state is None:
                return False
            now = self.inventory.where(vm_moid, state)
            if now["folder"] == before["folder"]:
                dest["folder"] = None  # the folder move is what failed, or never happened
            if not in_place(now, before["host"], source_ds, before["folder"]):
                self.vc.relocate(vm_moid, f"returning VM {before['name']} to {before['host']}", **dest,
                                 timeout=self.task_timeout)
                state = self.vc.vm_state(vm_moid)
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
            self.aborted = self.aborted or self.rule.exceeded(self.failed_count)
        detail: dict[str, Any] = {"error": message, "returned_to_source": returned}
        if source:
            detail["source"] = source
        self.note(vm, "failed", **detail)


def move_batch(vcenter: Vcenter, vms: Sequence[dict[str, Any]], *, ledger: str, wave: int, wave_size: int,
               max_fail_percentage: float, failures_before: Sequence[dict[str, Any]] = (), concurrency: int = 8,
               task_timeout: float = 600.0, allow_snapshots: bool = False, check_mode: bool = False) -> dict[str, Any]:
    """Move one batch of wave `wave` (vsphere_wave_move's one call); its outcome, or BatchError."""
    if concurrency < 1:
        raise BatchError(f"{vcenter.name}: concurrency: must be at least 1 (got {concurrency})", {})
    rule = AbortRule(wave, wave_size, max_fail_percentage)
    mover = WaveMover(vcenter, rule, ledger, failures_before=failures_before, concurrency=concurrency,
                      task_timeout=task_timeout, allow_snapshots=allow_snapshots, check_mode=check_mode)
    return mover.run(vms)


# --- where a wave stands (vsphere_wave_state) ------------------------------------------------------------

def wave_state(raw: dict[str, Any], vcenter: str, vms: Sequence[dict[str, Any]], *, rooms: dict[str, str] | None = None,
               capacity: dict[str, Any] | None = None) -> tuple[dict[str, list[dict[str, Any]]], list[str]]:
    """Compare a planned wave (`vms`, plan.json entries) with vCenter's inventory (`raw`, seams/vsphere.collect).

    Returns ({"pending", "in_place", "missing", "renamed"}, problems). Each pending VM gets a target host in
    its planned cluster (least memory committed first); `problems` names every target cluster the pending VMs
    do not fit after the N+1 reserve (cluster, resource, shortfall): the wave must not start then.
    """
    register = build(raw, vcenter={"name": vcenter}, rooms=rooms or {}, inventory_hosts={}, systems={})
    by_uuid = {v["uuid"]: v for v in register["vms"] if v.get("uuid")}
    hosts = {h["name"]: h for h in register["hosts"]}
    clusters = {c["name"]: c for c in register["clusters"] if c["type"] == "cluster"}
    opts = {**DEFAULTS, **(capacity or {})}

    pending, placed_vms, missing, renamed = [], [], [], []
    for entry in vms:
        now = by_uuid.get(entry.get("uuid"))
        if now is None:
            missing.append({**entry, "message": f"{entry['name']}: uuid: no VM with uuid {entry.get('uuid')} in "
                                                f"{vcenter}; it was removed or replaced after the plan was made"})
            continue
        if now["name"] != entry["name"]:
            renamed.append({"name": entry["name"], "now": now["name"], "uuid": entry.get("uuid")})
        target = entry["target"]
        current = {"host": now["host"], "cluster": now["cluster"], "datastores": now["datastores"],
                   "folder": now["folder"], "power_state": now["power_state"], "name": now["name"]}
        placed = (now["cluster"] == target["cluster"]
                  and (not target.get("datastore") or now["datastores"] == [target["datastore"]])
                  and (not target.get("folder") or now["folder"] == target["folder"]))
        (placed_vms if placed else pending).append({**entry, "current": current})

    # Capacity of each target cluster for the VMs still to move, and a host for each of them.
    problems = []
    committed: dict[str, dict[str, int]] = defaultdict(lambda: {"cpu": 0, "memory_mb": 0})
    for vm in register["vms"]:
        if vm.get("host") and not vm.get("template"):
            committed[vm["host"]]["cpu"] += vm["cpu"]
            committed[vm["host"]]["memory_mb"] += vm["memory_mb"]
    by_cluster = defaultdict(list)
    for entry in pending:
        by_cluster[entry["target"]["cluster"]].append(entry)
    for name, entries in sorted(by_cluster.items()):
        cluster = clusters.get(name)
        if cluster is None:
            problems.append(f"cluster {name}: cluster: the target cluster does not exist in {vcenter}")
            continue
        cap = cluster_capacity(cluster, hosts, opts)
        members = [h for h in cluster["hosts"] if h in hosts and hosts[h]["connection_state"] == "connected"
                   and not hosts[h]["maintenance"]]
        for resource, unit in (("cpu", "vCPU"), ("memory_mb", "MB")):
            used = sum(committed[h][resource] for h in cluster["hosts"])
            need = sum(e[resource] for e in entries)
            if used + need > cap[resource]:
                problems.append(f"cluster {name}: {resource}: the {len(entries)} VM(s) still to move need {need} "
                                f"{unit}, {used} {unit} is committed, capacity after {opts['host_reserve']} host(s) "
                                f"in reserve is {cap[resource]:.0f} {unit} "
                                f"(short by {used + need - cap[resource]:.0f} {unit})")
        if not members:
            problems.append(f"cluster {name}: hosts: no connected host out of maintenance")
            continue
        for entry in sorted(entries, key=lambda e: -e["memory_mb"]):
            best = min(members, key=lambda h: (committed[h]["memory_mb"] / max(hosts[h]["memory_mb"], 1), h))
            committed[best]["memory_mb"] += entry["memory_mb"]
            committed[best]["cpu"] += entry["cpu"]
            entry["target"] = {**entry["target"], "host": best}
    return {"pending": pending, "in_place": placed_vms, "missing": missing, "renamed": renamed}, problems


def record_found(ledger: str, wave: int, state: dict[str, list[dict[str, Any]]], *, check_mode: bool = False) -> bool:
    """Record in the wave ledger the VMs found missing and in place; True when the ledger changes."""
    changed = False
    for entry in state["missing"]:
        changed |= record(ledger, wave, entry["name"], {"status": "missing", "uuid": entry.get("uuid"),
                                                        "error": entry["message"]}, check_mode=check_mode)
    for entry in state["in_place"]:
        cur = entry["current"]
        changed |= record(ledger, wave, entry["name"], {"status": "in_place", "uuid": entry.get("uuid"),
                                                        "host": cur["host"], "datastores": cur["datastores"],
                                                        "folder": cur["folder"]}, check_mode=check_mode)
    return changed
