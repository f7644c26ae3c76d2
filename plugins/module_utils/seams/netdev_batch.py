"""A batch of switches changed at once (netdev_config_batch's logic): one job per device, each on its own thread
and SSH sessions through seams/netdev.configure, with one core of each redundant pair at a time (`PairOrder`).

Side a goes first in the queue; a side-b device starts (reads, backs up, arms its rollback point) once every
side-a device is confirmed, and sends its delta only once every side-a device has ended without failing;
otherwise it is left as it was (held). In check mode nothing is sent, so there is no order to keep.

`configure` is injectable (`run_batch(..., configure=fake)`), so unit tests drive the ordering without devices.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ansible_collections.jinbao.dc.plugins.module_utils.seams.netdev import configure as netdev_configure


class BatchError(ValueError):
    """The batch itself is wrong (not one device's trouble); str() is one line naming the field."""


class PairOrder:
    """Side b of the redundant pairs waits for side a: it starts (reads, backs up, arms its rollback point)
    once every side-a device is verified and confirmed or has ended, and sends its delta only once every
    side-a device has ended (saved) without failing; otherwise it is left as it was."""

    def __init__(self, side_a: list[str]) -> None:
        self._running, self._unconfirmed = set(side_a), set(side_a)
        self._failed: list[str] = []
        self._cond = threading.Condition()

    def confirmed(self, name: str) -> None:
        with self._cond:
            self._unconfirmed.discard(name)
            self._cond.notify_all()

    def ended(self, name: str, failed: bool) -> None:
        with self._cond:
            self._running.discard(name)
            self._unconfirmed.discard(name)
            if failed:
                self._failed.append(name)
            self._cond.notify_all()

    def _reason(self) -> str:
        return (f"side a of the redundant pairs failed ({', '.join(sorted(self._failed))}), so side b is left as "
                "it was" if self._failed else "")

    def start_b(self) -> str:
        """Wait until side a is confirmed everywhere; why side b must not start ('' to start)."""
        with self._cond:
            self._cond.wait_for(lambda: not self._unconfirmed)
            return self._reason()

    def change_b(self) -> str:
        """Wait until side a has ended everywhere (saved); why side b must not change ('' to change)."""
        with self._cond:
            self._cond.wait_for(lambda: not self._running)
            return self._reason()


def build_jobs(devices: Sequence[Mapping[str, Any]], shared: Mapping[str, Any],
               reports_dir: str | None) -> list[dict[str, Any]]:
    """One job per device (its own options, the shared ones, and its files under `reports_dir`), side a first
    in the queue: a side-b job waits for side a, so side a must never wait for a worker. BatchError when a
    device name is listed twice."""
    jobs = []
    for device in devices:
        name = device["name"]
        files = {"intended_file": os.path.join(reports_dir, "network", "intended", f"{name}.cfg"),
                 "change_dir": os.path.join(reports_dir, "network", "changes"),
                 "facts_file": os.path.join(reports_dir, "network", "facts", f"{name}.json")} if reports_dir else {}
        jobs.append({**device, **shared, **files})
    names = [job["name"] for job in jobs]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise BatchError(f"devices: listed twice: {', '.join(twice)}")
    jobs.sort(key=lambda job: job.get("side", "a"))
    return jobs


def run_batch(devices: Sequence[Mapping[str, Any]], shared: Mapping[str, Any], reports_dir: str | None,
              workers: int, check_mode: bool, configure: Callable[..., dict] = netdev_configure,
              ) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """Change every device of the batch, up to `workers` at once, side b after side a (not in check mode).

    Returns (outcomes, diffs): each device's name to its outcome as `configure` gives it (or held, for a side-b
    device left as it was because side a failed), and the diffs taken out of the outcomes. A device's failure
    is in its outcome, never raised; BatchError only for a batch that lists a device twice."""
    jobs = build_jobs(devices, shared, reports_dir)
    order = PairOrder([job["name"] for job in jobs if job.get("side", "a") == "a"])

    def one(job: dict[str, Any]) -> dict[str, Any]:
        name = job["name"]
        if check_mode:  # nothing is sent: no order to keep
            return configure(job, True)
        if job.get("side", "a") == "a":
            outcome = {"failed": True, "changed": False, "msg": f"{name}: the change ended unexpectedly"}
            try:
                outcome = configure(job, confirmed=lambda: order.confirmed(name))
            finally:
                order.ended(name, outcome["failed"])
            return outcome
        reason = order.start_b()
        if reason:
            return {"failed": False, "changed": False, "held": True, "commands": [], "msg": f"{name}: not changed: "
                    f"{reason}", "before_sha256": "", "after_sha256": "", "before_backup": "", "after_backup": ""}
        return configure(job, hold=order.change_b)

    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(jobs) or 1))) as pool:
        outcomes = dict(zip([job["name"] for job in jobs], pool.map(one, jobs), strict=True))
    diffs = [outcome.pop("diff") for outcome in outcomes.values() if "diff" in outcome]
    return outcomes, diffs
