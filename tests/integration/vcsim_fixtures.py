"""Helpers for the lab vCenter tests: project paths and running a playbook the way an operator does."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"
INVENTORY = ROOT / "inventory" / "lab"
LAB_STATE = ROOT / ".lab"  # inventory/lab's lab_state_dir
RECAP = re.compile(r"^(?P<host>\S+)\s*:\s*ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)"
                   r"\s+failed=(?P<failed>\d+)", re.MULTILINE)


@dataclass
class PlaybookRun:
    returncode: int
    output: str

    def recap(self, host: str) -> dict[str, int]:
        for m in RECAP.finditer(self.output):
            if m.group("host") == host:
                return {k: int(v) for k, v in m.groupdict().items() if k != "host"}
        raise AssertionError(f"no PLAY RECAP line for {host} in:\n{self.output[-3000:]}")


def run_playbook(playbook: str, *args: str, timeout: float = 1200, operator: str | None = None,
                 env: dict[str, str] | None = None, inventory: Path | None = None) -> PlaybookRun:
    """ansible-playbook from the project root with the project's ansible.cfg; stdout and stderr together. The run
    presents `operator`'s certificate (JINBAO_OPERATOR; unset: the inventory's default, lab-sysadmin). `inventory`:
    a second inventory source after the lab's (group variables of a test's own)."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1",
               PYTHONDONTWRITEBYTECODE="", **(env or {}))
    if operator:
        env["JINBAO_OPERATOR"] = operator
    sources = ["-i", str(INVENTORY), *(["-i", str(inventory)] if inventory else [])]
    proc = subprocess.run([str(VENV_BIN / "ansible-playbook"), *sources, str(ROOT / "playbooks" / playbook),
                           *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=timeout)
    return PlaybookRun(proc.returncode, proc.stdout)


def private_vcenter(state_dir: Path, port: int) -> list[str]:
    """Extra vars pointing the playbooks at a private lab vCenter (its own state and CA) on `port`. Its password
    is the lab vCenter's (share_lab_password before it starts): the playbooks read it from Vault."""
    return ["-e", f"vcenter_port={port}", "-e", f"vcenter_ca_file={state_dir / 'pki' / 'ca.crt'}"]


def share_lab_password(svc) -> None:
    """Give a private simulator (lab/vcsim standalone, not started yet) the lab vCenter's password, which the
    security administrator put into Vault at lab-up: the playbooks read credentials from Vault only."""
    target = svc.lab.state_dir / "secrets" / "vcenter.password"
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write((LAB_STATE / "secrets" / "vcenter.password").read_text())


def labctl(*args: str, timeout: float = 1200) -> None:
    """`python -m lab.labctl` with these arguments; the test fails with labctl's own output when it does."""
    proc = subprocess.run([str(VENV_BIN / "python"), "-m", "lab.labctl", *args], cwd=ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
    if proc.returncode != 0:
        import pytest

        pytest.fail(f"labctl {' '.join(args)} failed:\n{proc.stdout}", pytrace=False)


@contextmanager
def approver(seconds: float = 3600) -> Iterator[Path]:
    """The lab's second person (lab/approver.py), approving every two-person request while the block runs; yields
    its log (.lab/log/approver.log)."""
    log = LAB_STATE / "log" / "approver.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as out:
        proc = subprocess.Popen([str(VENV_BIN / "python"), "-m", "lab.approver", "--seconds", str(seconds)], cwd=ROOT,
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        yield log
    finally:
        proc.terminate()
        proc.wait(timeout=30)
