"""Integration tests run against the lab: this starts the lab vCenter once per session and leaves it running."""

from __future__ import annotations

import json

import pytest
from vcsim_fixtures import LAB_STATE, labctl, run_playbook


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
    """The lab's Vault with its PKI built, and lab-operator (the lab's default operator, authorised for every
    changing playbook) holding a valid certificate from it: what a cert-gated playbook needs to start."""
    labctl("up", "--only", "openbao")
    for playbook, args in (("pki.yml", ()), ("operator_onboard.yml", ("-e", "operator=lab-operator"))):
        run = run_playbook(playbook, *args)
        assert run.returncode == 0, run.output[-3000:]
    return "lab-operator"


@pytest.fixture(scope="session")
def service_certs() -> None:
    """The services' server certificates (playbooks/service_certs.yml, .pki/services/<name>/), issued or kept
    once per session: what monitoring.yml needs with monitoring_tls (the lab's default). Needs the lab's Vault,
    its PKI and lab-operator, so it runs what lab_operator runs first."""
    labctl("up", "--only", "openbao")
    for playbook, args in (("pki.yml", ()), ("operator_onboard.yml", ("-e", "operator=lab-operator")),
                           ("service_certs.yml", ("-e", "jinbao_operator=lab-operator"))):
        run = run_playbook(playbook, *args)
        assert run.returncode == 0, run.output[-3000:]
