"""Integration tests run against the lab: this starts the lab vCenter once per session and leaves it running."""

from __future__ import annotations

import json

import pytest
from vcsim_fixtures import LAB_STATE, approver, labctl, run_playbook


@pytest.fixture(scope="session")
def lab_vcenter() -> dict:
    """The lab vCenter, fresh (reset to the seed facility, as a demo may have consolidated it) for the whole
    session; it stays up afterwards.

    Yields the plan the running simulator was built from (lab/vcsim/seed.py's expansion of topology.yml).
    """
    labctl("reset", "--only", "vc-central")
    labctl("up", "--only", "vc-central")
    yield json.loads((LAB_STATE / "data" / "vc-central" / "plan.json").read_text())


@pytest.fixture(scope="session")
def lab_bmcs() -> None:
    """The lab's Redfish BMCs (lab/sushy), up for the whole session; they stay up afterwards."""
    labctl("up", "--only", "sushy")


@pytest.fixture(scope="module")
def lab_operator() -> str:
    """The lab's Vault with its PKI, duties and credentials and its three operators (lab/security.py, run by
    `labctl up`): lab-secadmin, lab-sysadmin and lab-auditor. Returns lab-sysadmin, the system administrator every
    changing playbook runs as by default (inventory/lab: jinbao_operator)."""
    labctl("up", "--only", "openbao")
    return "lab-sysadmin"


@pytest.fixture(scope="session")
def service_certs() -> None:
    """The services' server certificates (playbooks/service_certs.yml, .pki/services/<name>/), issued or kept
    once per session by the lab's system administrator: what monitoring.yml needs with monitoring_tls (the lab's
    default)."""
    labctl("up", "--only", "openbao")
    run = run_playbook("service_certs.yml")
    assert run.returncode == 0, run.output[-3000:]


@pytest.fixture(scope="module")
def second_person(lab_operator: str):
    """The lab's second person (lab/approver.py, a stand-in for a human: lab-secadmin approving the system
    administrator's two-person requests, lab-auditor the security administrator's, through playbooks/approve.yml),
    for the module's runs that change the core pair, the PKI or offboard someone."""
    with approver() as log:
        yield log
