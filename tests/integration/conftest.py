"""Integration tests run against the lab: this starts the lab vCenter once per session and leaves it running."""

from __future__ import annotations

import json
import subprocess

import pytest
from vcsim_fixtures import LAB_STATE, ROOT, VENV_BIN


@pytest.fixture(scope="session")
def lab_vcenter() -> dict:
    """The lab vCenter, fresh (reset to the seed facility, as a demo may have consolidated it) for the whole
    session; it stays up afterwards.

    Yields the plan the running simulator was built from (lab/vcsim/seed.py's expansion of topology.yml).
    """
    for action in ("reset", "up"):
        proc = subprocess.run([str(VENV_BIN / "python"), str(ROOT / "lab" / "labctl.py"), action, "--only",
                               "vc-central"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=1200)
        if proc.returncode != 0:
            pytest.fail(f"labctl {action} --only vc-central failed:\n{proc.stdout}", pytrace=False)
    yield json.loads((LAB_STATE / "data" / "vc-central" / "plan.json").read_text())


@pytest.fixture(scope="session")
def lab_bmcs() -> None:
    """The lab's Redfish BMCs (lab/sushy), up for the whole session; they stay up afterwards."""
    proc = subprocess.run([str(VENV_BIN / "python"), str(ROOT / "lab" / "labctl.py"), "up", "--only", "sushy"],
                          cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
    if proc.returncode != 0:
        pytest.fail(f"labctl up --only sushy failed:\n{proc.stdout}", pytrace=False)
