"""The wave ledger: one JSON file per wave (reports/waves/N.json) with every VM's outcome.

Writers run concurrently (one Ansible fork per VM), so every update takes an exclusive lock on a
side file, re-reads the ledger, changes one entry and replaces the file atomically (write to a
temporary file, fsync, rename). A reader never sees a half-written ledger, and no update is lost.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from collections.abc import Mapping
from contextlib import contextmanager
from typing import Any

SCHEMA = "jinbao-dc/wave-ledger/1"
FINAL = frozenset({"moved", "in_place"})   # the VM is where the plan wants it
STATUSES = frozenset({"moved", "in_place", "failed", "missing", "skipped"})


@contextmanager
def _locked(path: str):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path + ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def read(path: str, wave: int | None = None) -> dict[str, Any]:
    """The ledger at `path`, or an empty one; a corrupt ledger raises ValueError naming the file."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        return {"schema": SCHEMA, "wave": wave, "vms": {}}
    except ValueError as exc:
        raise ValueError(f"{path}: the wave ledger is not valid JSON ({exc}); restore it from the copy in "
                         "reports/waves/ history or remove it to re-verify every VM against vCenter") from exc
    if not isinstance(data, dict) or not isinstance(data.get("vms"), dict):
        raise ValueError(f"{path}: the wave ledger has no 'vms' mapping")
    return data


def _write(path: str, data: Mapping[str, Any]) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".ledger-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, sort_keys=True)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def record(path: str, wave: int, vm: str, entry: Mapping[str, Any], *, check_mode: bool = False) -> bool:
    """Set the ledger entry of `vm`; True when the entry changed. Attempts are counted, not overwritten."""
    status = entry.get("status")
    if status not in STATUSES:
        raise ValueError(f"{vm}: status: {status!r} is not one of {', '.join(sorted(STATUSES))}")
    if check_mode:  # compare only: no lock file, no directory, nothing on disk changes
        return _update(read(path, wave), wave, vm, entry) is not None
    with _locked(path):
        data = read(path, wave)
        new = _update(data, wave, vm, entry)
        if new is None:
            return False
        _write(path, new)
        return True


def _update(data: dict[str, Any], wave: int, vm: str, entry: Mapping[str, Any]) -> dict[str, Any] | None:
    """The ledger with `vm`'s entry set, or None when that changes nothing but timestamps."""
    status = entry.get("status")
    old = data["vms"].get(vm) or {}
    new = {**old, **{k: v for k, v in entry.items() if k != "at"}}
    if status == "in_place" and old.get("status") == "moved":
        new["status"] = "moved"  # found in place on a re-run: it is still the move this tool made
    comparable_old = {k: v for k, v in old.items() if k not in ("at", "attempts")}
    comparable_new = {k: v for k, v in new.items() if k not in ("at", "attempts")}
    if comparable_old == comparable_new:
        return None
    new["attempts"] = int(old.get("attempts") or 0) + 1
    if entry.get("at"):
        new["at"] = entry["at"]
    return {**data, "wave": wave, "vms": {**data["vms"], vm: new}}
