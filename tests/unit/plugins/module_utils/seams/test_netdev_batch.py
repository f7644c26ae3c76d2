"""The batch of switches (plugins/module_utils/seams/netdev_batch.py, netdev_config_batch's logic) with a fake
`configure` that records each device's steps: the jobs, the listed-twice check and the pair order, no devices."""

from __future__ import annotations

import threading

import pytest

from ansible_collections.jinbao.dc.plugins.module_utils.seams.netdev_batch import BatchError, run_batch

SHARED = {"checkpoint": "jinbao-prechange.cfg", "confirm_minutes": 5, "save": True, "backup_dir": None, "keep": 30,
          "operator": {}}
LIVENESS = 5.0  # seconds another thread gets to reach its step (a bound against hanging, not a speed check)
GRACE = 0.3  # seconds side b is given to go too early, where the test proves that it does not


def _device(name: str, side: str = "a", **more) -> dict:
    return {"name": name, "host": "127.0.0.1", "vendor": "cisco", "intended": f"hostname {name}\n", "managed": [],
            "role": "core", "side": side, **more}


def _ok(name: str, **more) -> dict:
    return {"failed": False, "changed": True, "commands": [f"hostname {name}"], **more}


class Recorder:
    """Steps of the fake devices, in the order they happen, and a way to wait for one."""

    def __init__(self) -> None:
        self.steps: list[str] = []
        self.calls: list[tuple[str, tuple, dict]] = []
        self._cond = threading.Condition()

    def step(self, line: str) -> None:
        with self._cond:
            self.steps.append(line)
            self._cond.notify_all()

    def wait_for(self, line: str, timeout: float = LIVENESS) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: any(s.startswith(line) for s in self.steps), timeout=timeout)

    def before(self, first: str, then: str) -> bool:
        return first in self.steps and then in self.steps and self.steps.index(first) < self.steps.index(then)


def test_side_b_starts_only_once_side_a_is_confirmed_and_changes_only_once_side_a_has_ended():
    rec = Recorder()

    def configure(job, check_mode=False, *, hold=None, confirmed=None):
        name = job["name"]
        rec.calls.append((name, (check_mode,), {"hold": hold is not None, "confirmed": confirmed is not None}))
        if name == "acc-01":  # side a, nothing to change: ends without a confirm
            rec.wait_for("core-01: confirmed")
            rec.step("acc-01: ended")
            return {"failed": False, "changed": False, "commands": []}
        if name == "core-01":  # side a: confirmed, then saves while side b reads
            rec.wait_for("core-02: started", timeout=GRACE)  # side b must not start before the confirm
            rec.step("core-01: confirmed")
            confirmed()
            rec.wait_for("core-02: started")
            rec.wait_for("core-02: change", timeout=GRACE)  # nor change before side a has ended
            rec.step("core-01: ended")
            return _ok(name)
        rec.step("core-02: started")  # side b: reads, backs up, arms its rollback point
        reason = hold()
        rec.step(f"core-02: change {reason or 'go'}")
        return _ok(name)

    outcomes, diffs = run_batch([_device("core-02", "b"), _device("core-01"), _device("acc-01")], SHARED, None,
                                workers=3, check_mode=False, configure=configure)
    assert rec.before("core-01: confirmed", "core-02: started") and rec.before("acc-01: ended", "core-02: started")
    assert rec.before("core-02: started", "core-01: ended")  # side b reads while side a saves
    assert rec.before("core-01: ended", "core-02: change go")
    assert {n: (o["failed"], o["changed"]) for n, o in outcomes.items()} == {
        "core-01": (False, True), "acc-01": (False, False), "core-02": (False, True)}
    assert sorted((n, k) for n, _, k in rec.calls) == [
        ("acc-01", {"hold": False, "confirmed": True}), ("core-01", {"hold": False, "confirmed": True}),
        ("core-02", {"hold": True, "confirmed": False})]
    assert diffs == []


def test_a_failed_side_a_device_holds_side_b_which_is_never_touched():
    touched: list[str] = []

    def configure(job, check_mode=False, *, hold=None, confirmed=None):
        touched.append(job["name"])
        return {"failed": True, "changed": False, "msg": f"{job['name']}: push: the device refused a line"}

    outcomes, _ = run_batch([_device("core-01"), _device("core-02", "b")], SHARED, None, workers=2,
                            check_mode=False, configure=configure)
    assert touched == ["core-01"]
    assert outcomes["core-02"] == {
        "failed": False, "changed": False, "held": True, "commands": [],
        "msg": "core-02: not changed: side a of the redundant pairs failed (core-01), so side b is left as it was",
        "before_sha256": "", "after_sha256": "", "before_backup": "", "after_backup": ""}
    assert outcomes["core-01"]["failed"] is True


def test_a_side_a_device_that_fails_after_its_confirm_holds_side_b_before_it_changes():
    rec = Recorder()

    def configure(job, check_mode=False, *, hold=None, confirmed=None):
        if job["name"] == "core-01":
            confirmed()
            rec.wait_for("core-02: started")
            return {"failed": True, "changed": True, "msg": "core-01: save: write memory failed"}
        rec.step("core-02: started")
        reason = hold()
        return {"failed": False, "changed": False, "held": True, "msg": f"core-02: not changed: {reason}"}

    outcomes, _ = run_batch([_device("core-01"), _device("core-02", "b")], SHARED, None, workers=2,
                            check_mode=False, configure=configure)
    assert outcomes["core-02"]["msg"].startswith("core-02: not changed: side a of the redundant pairs failed "
                                                 "(core-01)")


def test_a_device_listed_twice_fails_the_batch_naming_it_before_any_device_is_touched():
    def configure(job, *args, **kwargs):
        pytest.fail(f"{job['name']} was touched")

    with pytest.raises(BatchError, match=r"^devices: listed twice: core-01$"):
        run_batch([_device("core-01"), _device("core-02", "b"), _device("core-01", "b")], SHARED, None, workers=4,
                  check_mode=True, configure=configure)


def test_check_mode_runs_every_device_at_once_without_the_pair_order_and_hands_back_the_diffs(tmp_path):
    rec = Recorder()
    jobs: dict[str, dict] = {}

    def configure(job, check_mode=False, *, hold=None, confirmed=None):
        jobs[job["name"]] = job
        assert check_mode is True and hold is None and confirmed is None
        rec.step(f"{job['name']}: started")
        if job["side"] == "a":  # in order, side b would wait for this device to end: it must not
            assert rec.wait_for("core-02: started"), "side b waited for side a in check mode"
        return _ok(job["name"], diff={"prepared": f"hostname {job['name']}\n"})

    outcomes, diffs = run_batch([_device("core-01"), _device("core-02", "b")], SHARED, str(tmp_path), workers=2,
                                check_mode=True, configure=configure)
    assert set(outcomes) == {"core-01", "core-02"} and all("diff" not in o for o in outcomes.values())
    assert sorted(d["prepared"] for d in diffs) == ["hostname core-01\n", "hostname core-02\n"]
    assert jobs["core-02"]["intended_file"] == str(tmp_path / "network" / "intended" / "core-02.cfg")
    assert jobs["core-02"]["facts_file"] == str(tmp_path / "network" / "facts" / "core-02.json")
    assert jobs["core-02"]["change_dir"] == str(tmp_path / "network" / "changes")
    assert jobs["core-01"]["confirm_minutes"] == 5 and jobs["core-01"]["intended"] == "hostname core-01\n"
