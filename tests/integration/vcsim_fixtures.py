"""Helpers for the lab vCenter tests: project paths and running a playbook the way an operator does."""

from __future__ import annotations

import os
import re
import subprocess
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


def run_playbook(playbook: str, *args: str, timeout: float = 1200) -> PlaybookRun:
    """ansible-playbook from the project root with the project's ansible.cfg; stdout and stderr together."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1",
               PYTHONDONTWRITEBYTECODE="")
    proc = subprocess.run([str(VENV_BIN / "ansible-playbook"), "-i", str(INVENTORY), str(ROOT / "playbooks" / playbook),
                           *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=timeout)
    return PlaybookRun(proc.returncode, proc.stdout)


def private_vcenter(state_dir: Path, port: int) -> list[str]:
    """Extra vars pointing the playbooks at a private lab vCenter (its own state: CA, password) on `port`,
    while the cert gate still reads the lab's Vault with the lab's CA."""
    return ["-e", f"lab_state_dir={state_dir}", "-e", f"vcenter_port={port}",
            "-e", f"vault_ca_file={LAB_STATE / 'pki' / 'ca.crt'}"]


def labctl(*args: str, timeout: float = 1200) -> None:
    """`python -m lab.labctl` with these arguments; the test fails with labctl's own output when it does."""
    proc = subprocess.run([str(VENV_BIN / "python"), "-m", "lab.labctl", *args], cwd=ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
    if proc.returncode != 0:
        import pytest

        pytest.fail(f"labctl {' '.join(args)} failed:\n{proc.stdout}", pytrace=False)
