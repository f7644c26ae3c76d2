"""plugins/modules/monitoring_process.py: a plain background process kept up idempotently - started
once, left alone when it runs with the same command line, restarted when the command line changes, and
nothing done in check mode."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODULE = ROOT / "plugins" / "modules" / "monitoring_process.py"


def _run(tmp_path: Path, argv: list[str], **params: object) -> dict:
    args = {"name": "sleeper", "argv": argv, "pid_file": str(tmp_path / "sleeper.pid"),
            "log_file": str(tmp_path / "sleeper.log"), **params}
    args_file = tmp_path / "args.json"
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    proc = subprocess.run([sys.executable, str(MODULE), str(args_file)], capture_output=True, text=True, timeout=60)
    result = json.loads(proc.stdout)
    assert not result.get("failed"), result
    return result


@pytest.fixture
def sleeper(tmp_path: Path):
    argv = [sys.executable, "-c", "import time; time.sleep(300)"]
    yield argv
    _run(tmp_path, argv, state="stopped")


def test_a_process_is_started_once_and_then_left_alone(tmp_path: Path, sleeper: list[str]) -> None:
    first = _run(tmp_path, sleeper)
    assert first["changed"] and first["action"] == "started"
    assert Path(f"/proc/{first['pid']}").exists()
    second = _run(tmp_path, sleeper)
    assert not second["changed"] and second["pid"] == first["pid"]


def test_a_changed_command_line_restarts_the_process(tmp_path: Path, sleeper: list[str]) -> None:
    first = _run(tmp_path, sleeper)
    changed = [*sleeper[:2], "import time; time.sleep(301)"]
    second = _run(tmp_path, changed)
    assert second["changed"] and second["action"] == "restarted" and second["pid"] != first["pid"]
    _run(tmp_path, changed, state="stopped")


def test_check_mode_reports_the_start_and_starts_nothing(tmp_path: Path, sleeper: list[str]) -> None:
    result = _run(tmp_path, sleeper, _ansible_check_mode=True)
    assert result["changed"] and result["action"] == "started"
    assert not (tmp_path / "sleeper.pid").exists()


def test_a_reused_pid_is_never_taken_for_the_process(tmp_path: Path, sleeper: list[str]) -> None:
    # this test runner's pid: alive, but not the program the pid file says was started
    (tmp_path / "sleeper.pid").write_text(f"{os.getpid()}\n{json.dumps(sleeper)}\n")
    result = _run(tmp_path, sleeper)
    assert result["action"] == "started"
    assert result["pid"] != os.getpid() and Path(f"/proc/{os.getpid()}").exists()
