"""room_alarms() against the lab's real Alertmanager (mon-city-01, HTTPS with the city CA's service
certificate): a synthetic critical alert posted for room main is returned for main, with the gate's refusal
line naming it, and not for another room; once resolved it is gone. A CA that did not sign Alertmanager's
certificate is a TLS error, never an empty answer.

The alert's labels are unique to this run (alertname JinbaoGateRoomAlarmTest, test_id=<uuid>) so no other test
or rule confuses it; it routes to the on-call sink's critical/facilities receiver, lives 5 minutes at most, and
is resolved in a finalizer (the same alert posted again with endsAt now). The shared lab is only read otherwise.
"""

from __future__ import annotations

import json
import ssl
import time
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import yaml
from vcsim_fixtures import INVENTORY, LAB_STATE, approver, run_playbook

from ansible_collections.jinbao.dc.plugins.module_utils.seams import alertmanager

PORT = yaml.safe_load((INVENTORY / "host_vars" / "mon-city-01.yml").read_text())["alertmanager_port"]
AM = f"https://127.0.0.1:{PORT}"
# The service CA bundle (city issuing CA, province CA, national root) monitoring.yml writes on the host
# (monitoring_tls_ca_file); the runbooks' lab value for $CA.
CA = LAB_STATE / "data" / "mon-city-01" / "rootfs" / "etc" / "jinbao-monitoring" / "service-ca.crt"
FOREIGN_CA = LAB_STATE / "pki" / "ca.crt"  # the lab's bootstrap CA: it signed OpenBao's certificate, not this one
ALERTNAME = "JinbaoGateRoomAlarmTest"


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def post(alerts: list[dict]) -> None:
    request = urllib.request.Request(f"{AM}/api/v2/alerts", data=json.dumps(alerts).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10, context=ssl.create_default_context(cafile=str(CA))) as answer:
        assert answer.status == 200


def ours(alarms: list[dict], test_id: str) -> list[dict]:
    return [a for a in alarms if a["alertname"] == ALERTNAME and test_id in a["summary"]]


def alarms_until(room: str, test_id: str, present: bool) -> list[dict]:
    """room_alarms(room) once our alert is there (present) or gone; Alertmanager applies a POST at once,
    the loop only rides out a busy lab machine."""
    for _ in range(60):
        alarms = alertmanager.room_alarms(AM, room, str(CA))
        if bool(ours(alarms, test_id)) == present:
            return alarms
        time.sleep(0.5)
    return alarms


@pytest.fixture
def synthetic_alarm() -> Iterator[str]:
    """A critical alert of room main, firing for at most 5 minutes; resolved at the end whatever happened."""
    if not CA.exists():
        pytest.fail(f"no service CA bundle at {CA}: the lab's monitoring is not deployed (make lab-up, then "
                    "monitoring.yml)", pytrace=False)
    try:
        alertmanager.room_alarms(AM, "main", str(CA))
    except alertmanager.AlertmanagerError as exc:
        pytest.fail(f"the lab's Alertmanager does not answer: {exc}", pytrace=False)
    test_id = uuid.uuid4().hex
    now = datetime.now(UTC)
    alert = {"labels": {"alertname": ALERTNAME, "severity": "critical", "room": "main", "test_id": test_id},
             "annotations": {"summary": f"synthetic alarm of test_room_alarms_lab.py ({test_id})"},
             "startsAt": iso(now), "endsAt": iso(now + timedelta(minutes=5))}
    post([alert])
    try:
        yield test_id
    finally:
        post([{**alert, "endsAt": iso(datetime.now(UTC))}])


def test_a_critical_alert_of_room_main_is_an_alarm_of_main_and_of_no_other_room(synthetic_alarm):
    test_id = synthetic_alarm
    found = ours(alarms_until("main", test_id, present=True), test_id)
    assert len(found) == 1, found
    assert found[0]["room"] == "main" and found[0]["startsAt"]
    refusal = alertmanager.alarm_refusal(found, "main")
    assert refusal.startswith(f"room main is in alarm: {ALERTNAME} (since ")
    assert refusal.endswith("no change starts while a critical alert fires")
    assert ours(alertmanager.room_alarms(AM, "branch-east", str(CA)), test_id) == []


def test_a_resolved_alert_no_longer_holds_the_room(synthetic_alarm):
    test_id = synthetic_alarm
    assert ours(alarms_until("main", test_id, present=True), test_id)
    now = datetime.now(UTC)
    post([{"labels": {"alertname": ALERTNAME, "severity": "critical", "room": "main", "test_id": test_id},
           "annotations": {"summary": f"synthetic alarm of test_room_alarms_lab.py ({test_id})"},
           "startsAt": iso(now - timedelta(seconds=30)), "endsAt": iso(now)}])
    assert ours(alarms_until("main", test_id, present=False), test_id) == []


def test_a_ca_that_did_not_sign_alertmanager_is_a_tls_error_not_an_empty_answer():
    with pytest.raises(alertmanager.AlertmanagerError, match="TLS failed") as refused:
        alertmanager.room_alarms(AM, "main", str(FOREIGN_CA))
    assert AM in str(refused.value)


@pytest.mark.usefixtures("lab_operator")
def test_the_gate_refuses_a_change_to_a_room_in_alarm_naming_the_alert_and_lets_another_room_change(
        synthetic_alarm, tmp_path):
    test_id = synthetic_alarm
    assert ours(alarms_until("main", test_id, present=True), test_id)
    reports = ["-e", f"jinbao_reports_dir={tmp_path}", "-e", f"jinbao_service_pki_dir={tmp_path / 'svc'}"]
    refused = run_playbook("service_certs.yml", "--check", "--limit", "vault-01", *reports)
    assert refused.returncode != 0, refused.output[-3000:]
    assert f"alarms: room main is in alarm: {ALERTNAME}" in refused.output, refused.output[-3000:]
    assert "The playbook stops here; nothing was changed." in refused.output
    record = json.loads((tmp_path / "audit" / "gate.jsonl").read_text().splitlines()[-1])
    assert record["result"] == "refused" and "room main is in alarm" in record["reason"]
    people = run_playbook("whoami.yml", *reports, operator="lab-secadmin")  # no room change: not held back
    assert people.returncode == 0, people.output[-3000:]
    elsewhere = run_playbook("service_certs.yml", "--check", "--limit", "esx-north-01", *reports)
    assert elsewhere.returncode == 0, elsewhere.output[-3000:]  # branch-north is not in alarm
    record = json.loads((tmp_path / "audit" / "gate.jsonl").read_text().splitlines()[-1])
    assert record["result"] == "granted" and record["rooms"] == ["branch-north"]


def test_an_override_goes_on_only_with_a_security_administrators_approval_and_is_recorded(synthetic_alarm, tmp_path):
    test_id = synthetic_alarm
    assert ours(alarms_until("main", test_id, present=True), test_id)
    reports = ["-e", f"jinbao_reports_dir={tmp_path}", "-e", f"jinbao_service_pki_dir={tmp_path / 'svc'}"]
    why = "UPS on battery; replace the failed ATS before the generator test, ticket CHG-0815"
    override = ["-e", json.dumps({"alarm_override": why})]
    alone = run_playbook("service_certs.yml", "--check", "--limit", "vault-01", *reports, *override,
                         "-e", "alarm_override_timeout=5")
    assert alone.returncode != 0, alone.output[-3000:]  # nobody approved: refused, nothing changed
    assert f"room main is in alarm: {ALERTNAME}" in alone.output and "the override was not approved" in alone.output
    assert json.loads((tmp_path / "audit" / "gate.jsonl").read_text().splitlines()[-1])["result"] == "refused"
    with approver():
        run = run_playbook("service_certs.yml", "--check", "--limit", "vault-01", *reports, *override)
    assert run.returncode == 0, run.output[-3000:]
    assert "waits for a second operator (a security administrator)" in run.output
    record = json.loads((tmp_path / "audit" / "gate.jsonl").read_text().splitlines()[-1])
    override = record["alarm_override"]
    assert record["result"] == "granted" and override["rooms"] == ["main"] and override["reason"] == why
    assert f"main/{ALERTNAME}" in override["alerts"] and override["approver"], override
    assert "in spite of the alarm in main" in run.output
