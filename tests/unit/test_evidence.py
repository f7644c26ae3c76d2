"""The evidence pack: each area's claims link to their evidence; no data and no Prometheus are said plainly."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import threading
import urllib.parse
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jinja2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.jinbao.dc.plugins.module_utils.audit import chain as audit_chain
from ansible_collections.jinbao.dc.plugins.module_utils.evidence import common
from ansible_collections.jinbao.dc.plugins.module_utils.evidence import pack as evidence_pack
from ansible_collections.jinbao.dc.plugins.module_utils.seams.prometheus import Prometheus

from conftest import ROOT

START = datetime(2026, 12, 1, tzinfo=UTC)
END = datetime(2026, 12, 2, tzinfo=UTC)
SERIAL = "45:f3:74:26:2f:9b:df:59:d5:ac:26:e6:1c:05:11:09:0c:54:4c:31"
CANARY = "CANARY-5ecret-7f3a9c"
TEMPLATES = ROOT / "roles" / "evidence" / "templates" / "reports" / "evidence"


# --- fixtures ------------------------------------------------------------------------------------------------


def at(hours: float) -> datetime:
    return START + timedelta(hours=hours)


def run_records(log: audit_chain.Appender, hours: float, playbook: str, changed: int, *, operator: str | None,
                result: str = "ok", extra: dict | None = None) -> None:
    run_id = f"run-{hours}"
    start = at(hours)
    log.append({"type": "run_start", "run_id": run_id, "who": {"os_user": "root"},
                "what": {"playbooks": [playbook], "check_mode": False}}, now=start)
    log.append({"type": "run_end", "run_id": run_id, "result": result,
                "who": {"os_user": "root", "operator": operator, "cert_serial": SERIAL if operator else None,
                        "cert_cn": f"{operator}.operators.city.jinbao.example" if operator else None,
                        "controller": "ctl", **(extra or {}).get("who", {})},
                "what": {"playbooks": [playbook], "check_mode": False, **(extra or {}).get("what", {})},
                "when": {"start": audit_chain.iso(start), "end": audit_chain.iso(start + timedelta(minutes=5))},
                "hosts": {"core-01": {"stats": {"changed": changed}, "failed": [],
                                      "changed": [{"task": (extra or {}).get("task", "Push the configuration"),
                                                   "action": "netdev_config", "path": "roles/network/x.yml:1",
                                                   "diff": None}] if changed else []}}},
               now=start + timedelta(minutes=5))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A small project: an audit log written with audit_chain's own appender, a gate log, a register, a plan
    with a ledger, a network change with its backups and a policy check."""
    reports = tmp_path / "reports"
    log = audit_chain.Appender(reports / "audit" / "audit.jsonl", [tmp_path / ".cache" / "audit-sink" / "audit.jsonl"])
    run_records(log, 2, "playbooks/network.yml", 3, operator="lab-operator")
    run_records(log, 3, "playbooks/preflight.yml", 0, operator=None)
    run_records(log, 30, "playbooks/network.yml", 2, operator="late-operator")  # after the period
    (reports / "audit" / "gate.jsonl").write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in (
        {"operator": "lab-operator", "cn": "lab-operator.operators", "serial": SERIAL, "playbook": "network",
         "result": "granted", "time": "2026-12-01T02:00:01Z"},
        {"operator": "lab-auditor", "serial": "aa:bb", "playbook": "network", "result": "refused",
         "reason": "lab-auditor is not authorised for network", "time": "2026-12-01T04:00:00Z"},
    )))
    (reports / "pki").mkdir()
    (reports / "pki" / "operators.csv").write_text(
        "operator,serial,not_before,not_after,revoked_at\n"
        f"lab-operator,{SERIAL},2026-12-01T01:00:00Z,2026-12-04T01:00:00Z,\n"
        "gone-operator,11:22,2026-11-01T00:00:00Z,2026-11-04T00:00:00Z,2026-12-01T05:00:00Z\n")
    (reports / "plan.json").write_text(json.dumps({"waves": [
        {"wave": 1, "vms": [{"name": "vm-a"}, {"name": "vm-b"}]}]}))
    (reports / "waves").mkdir()
    (reports / "waves" / "1.json").write_text(json.dumps({"vms": {
        "vm-a": {"status": "moved", "at": "2026-12-01T06:00:00Z"},
        "vm-b": {"status": "failed", "at": "2026-12-01T06:10:00Z"}}}))
    backups = tmp_path / "backups" / "core-01"
    backups.mkdir(parents=True)
    for name, text in (("20261201T015900.000000Z.cfg", "hostname core-01\n"),
                       ("20261201T020100.000000Z.cfg", "hostname core-01\nvlan 10\n")):
        (backups / name).write_text(text)
        (backups / f"{name}.sha256").write_text(f"{hashlib.sha256(text.encode()).hexdigest()}  {name}\n")
    (reports / "network" / "changes").mkdir(parents=True)
    (reports / "network" / "changes" / "core-01-20261201T020100.000000Z.json").write_text(json.dumps({
        "device": "core-01", "commands": ["vlan 10", f"username admin secret {CANARY}"],
        "operator": {"cn": "lab-operator.operators.city.jinbao.example", "serial": SERIAL},
        "before": {"sha256": "a" * 64, "backup": "/elsewhere/backups/core-01/20261201T015900.000000Z.cfg"},
        "after": {"sha256": "b" * 64, "backup": "/elsewhere/backups/core-01/20261201T020100.000000Z.cfg"}}))
    (reports / "network" / "policy-running.json").write_text(json.dumps({
        "passed": True, "problems": [], "policy": {"production": {}, "exchange": {}},
        "matrix": {"production": {"exchange": True}, "exchange": {"production": False}}}))
    os.utime(reports / "network" / "policy-running.json", (at(7).timestamp(), at(7).timestamp()))
    (tmp_path / "runbooks" / "policies").mkdir(parents=True)
    for policy in ("security-management", "personnel", "system", "data", "machine-room", "network"):
        (tmp_path / "runbooks" / "policies" / f"{policy}.md").write_text(f"# {policy}\n")
    return tmp_path


def vector(*samples: tuple[dict, float]) -> dict:
    return {"status": "success", "data": {"resultType": "vector",
                                          "result": [{"metric": m, "value": [END.timestamp(), str(v)]}
                                                     for m, v in samples]}}


def canned(query: str, time: str) -> dict:
    """The fake Prometheus' answer to a query at `time`: on 2026-12-01 a failed backup, an RPO breach and a hot
    aisle; before that, nothing."""
    if time < "2026":
        return vector()
    job = {"system": "pension", "backup_job": "pension-files"}
    answers = {
        "jinbao_backup_job_last_run_success": vector((job, 0)),
        "jinbao_backup_job_last_success_timestamp_seconds": vector((job, at(20).timestamp())),
        "jinbao_backup_job_last_verify_timestamp_seconds": vector((job, at(12).timestamp())),
        "jinbao_backup_job_last_verify_success": vector((job, 1)),
        "jinbao:system_recovery_point_age_seconds": vector(({"system": "basic-info", "source": "backup"}, 900),
                                                           ({"system": "pension", "source": "replication"}, 30)),
        "jinbao:system_rpo_seconds": vector(({"system": "basic-info"}, 300), ({"system": "pension"}, 300)),
        "jinbao_environment_humidity_ratio": vector(({"room": "main", "sensor": "cold-aisle-a"}, 0.45)),
        "ALERTS": vector(({"alertname": "RoomTemperatureOutOfRange", "severity": "warning", "room": "main",
                           "sensor": "hot-aisle-a", "alertstate": "firing"}, 1),
                         ({"alertname": "BackupFailed", "severity": "critical", "system": "pension",
                           "alertstate": "firing"}, 1),
                         ({"alertname": "Watchdog", "severity": "none", "alertstate": "firing"}, 1)),
    }
    if "jinbao_environment_temperature_celsius" in query:
        return vector(({"room": "main", "sensor": "hot-aisle-a"}, 29.5 if query.startswith("max") else 24.0))
    return next((answer for name, answer in answers.items() if name in query), vector())


@pytest.fixture
def prometheus():
    """A fake Prometheus HTTP API on loopback (a test double for this unit test), answering canned vectors."""
    seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            args = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
            seen.append(args)
            body = json.dumps(canned(args.get("query", ""), args.get("time", ""))).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


def make_pack(project: Path, prometheus_url: str | None, start: datetime = START, end: datetime = END,
              timeout: float = 5) -> tuple[dict, Path]:
    period = common.Period(start, end)
    sources = evidence_pack.Sources(reports_dir=str(project / "reports"),
                               audit_sink2=str(project / ".cache" / "audit-sink" / "audit.jsonl"),
                               backups_dir=str(project / "backups"), runbooks_dir=str(project / "runbooks"))
    out = Path(evidence_pack.out_dir_for(str(project / "reports" / "evidence"), period))
    prom = Prometheus(prometheus_url, timeout=timeout) if prometheus_url else None
    return evidence_pack.collect(period, sources, common.Where(str(out), str(project)), prom), out


def render(pack: dict) -> dict[str, str]:
    """The role's templates rendered as the template module would (ansible_managed | comment stubbed)."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), trim_blocks=True, autoescape=False)
    env.filters["comment"] = lambda text, style="plain", prefix="#", postfix="", decoration="# ": \
        f"{prefix}\n{decoration}{text}\n{postfix}"
    return {kind: env.get_template(f"evidence.{kind}.j2").render(__evidence_pack=pack,
                                                                  ansible_managed="Ansible managed")
            for kind in ("md", "html")}


def sections(pack: dict, area: str) -> dict[str, dict]:
    return {s["title"]: s for a in pack["areas"] if a["key"] == area for s in a["sections"]}


# --- tests -------------------------------------------------------------------------------------------------


def test_every_area_has_claims_with_evidence_or_a_plain_statement_and_every_file_link_resolves(project, prometheus):
    pack, out = make_pack(project, prometheus[0])
    assert [a["key"] for a in pack["areas"]] == ["security", "personnel", "system", "data", "machine_room",
                                                  "network"]
    for area in pack["areas"]:
        assert area["sections"], area["key"]
        for section in area["sections"]:
            assert section["claims"] or section["statement"], (area["key"], section["title"])
            for claim in section["claims"]:
                assert claim["evidence"], claim
                assert all(link["href"] for link in claim["evidence"])
    for href in evidence_pack.file_links(pack):
        assert (out / href).resolve().exists(), href


def test_a_change_is_claimed_with_its_operator_cert_serial_and_audit_record(project, prometheus):
    pack, _ = make_pack(project, prometheus[0])
    changes = sections(pack, "security")["Changes by operator"]["claims"]
    assert len(changes) == 1  # the no-change preflight and the run after the period are not claims
    claim = changes[0]
    assert claim["claim"] == f"lab-operator, certificate serial {SERIAL}"
    assert "playbooks/network.yml" in claim["value"] and "3 change(s) on 1 host(s) (core-01)" in claim["value"]
    record = audit_chain.read_log(project / "reports" / "audit" / "audit.jsonl")[1].record
    link = claim["evidence"][0]
    assert link["href"] == "../../audit/audit.jsonl#L2"
    assert f"seq {record['seq']} sha256 {record['sha256'][:12]}" in link["text"]


def test_a_refused_gate_decision_and_a_revocation_are_claimed_with_their_lines(project, prometheus):
    pack, _ = make_pack(project, prometheus[0])
    gate = sections(pack, "security")["Gate decisions (operator certificates checked)"]["claims"]
    refused = [c for c in gate if "refused" in c["claim"]]
    assert refused[0]["status"] == "attention" and "not authorised" in refused[0]["value"]
    assert refused[0]["evidence"][0]["href"] == "../../audit/gate.jsonl#L2"
    personnel = sections(pack, "personnel")
    assert [c["claim"] for c in personnel["Certificates issued"]["claims"]] == [
        "lab-operator (operator) certificate issued"]
    revoked = personnel["Certificates revoked"]["claims"]
    assert revoked[0]["claim"] == "gone-operator (operator) certificate revoked"
    assert revoked[0]["evidence"][0]["href"] == "../../pki/operators.csv#L3"


def test_prometheus_claims_carry_the_exact_query_evaluated_at_the_period_end(project, prometheus):
    url, seen = prometheus
    pack, _ = make_pack(project, url)
    assert seen and {q["time"] for q in seen} == {"2026-12-02T00:00:00Z"}
    assert all("[86400s]" in q["query"] for q in seen)
    data = sections(pack, "data")
    rpo = {c["claim"]: c for c in data["RPO conformance"]["claims"]}
    breach = rpo["basic-info (backup): recovery point within its RPO"]
    assert breach["status"] == "attention" and "BREACHED" in breach["value"]
    assert rpo["pension (replication): recovery point within its RPO"]["status"] == "ok"
    link = breach["evidence"][0]
    assert link["kind"] == "query" and link["href"].startswith(f"{url}/graph?")
    assert "time=2026-12-02T00%3A00%3A00Z" in link["note"]
    assert "a FAILED run" in data["Backups"]["claims"][0]["value"]
    temperature = sections(pack, "machine_room")["Room temperature excursions"]["claims"][0]
    assert temperature["status"] == "attention" and "max 29.5 °C: EXCURSION" in temperature["value"]
    alerts = sections(pack, "machine_room")["Alerts fired"]["claims"]
    assert [c["claim"] for c in alerts] == ["RoomTemperatureOutOfRange (warning)"]
    assert [c["claim"] for c in sections(pack, "data")["Alerts fired"]["claims"]] == ["BackupFailed (critical)"]


def test_a_network_change_links_its_record_and_both_checksummed_backups(project, prometheus):
    pack, _ = make_pack(project, prometheus[0])
    network = sections(pack, "network")
    change = network["Network changes"]["claims"][0]
    assert change["claim"].startswith("core-01 changed by lab-operator.operators.city.jinbao.example")
    assert "2 line(s) sent" in change["value"] and "checksummed: yes" in change["value"]
    assert [link["href"] for link in change["evidence"]] == [
        "../../network/changes/core-01-20261201T020100.000000Z.json",
        "../../../backups/core-01/20261201T015900.000000Z.cfg",
        "../../../backups/core-01/20261201T020100.000000Z.cfg"]
    policy = network["Policy-matrix results"]["claims"][0]
    assert "matches the flow policy" in policy["claim"] and "open: production→exchange" in policy["value"]


def test_a_period_with_no_data_says_so_plainly_naming_the_source(project, prometheus):
    pack, _ = make_pack(project, prometheus[0], datetime(2020, 1, 1, tzinfo=UTC), datetime(2020, 1, 2, tzinfo=UTC))
    state = {"Consolidation progress (waves)", "Policy-matrix results"}  # current state, said to be outside
    for area in pack["areas"]:
        for section in area["sections"]:
            if section["title"] in state:
                continue
            assert not section["claims"], (area["key"], section["title"])
            assert section["statement"].startswith("No "), section
            assert "between 2020-01-01T00:00:00Z and 2020-01-02T00:00:00Z" in section["statement"] \
                or "does not exist" in section["statement"], section
    changes = sections(pack, "security")["Changes by operator"]["statement"]
    assert "read reports/audit/audit.jsonl" in changes
    policy = sections(pack, "network")["Policy-matrix results"]["claims"][0]["value"]
    assert "(before or after the period)" in policy


def test_a_section_with_nothing_renders_its_statement_never_an_empty_table(project, prometheus):
    pack, _ = make_pack(project, prometheus[0], datetime(2020, 1, 1, tzinfo=UTC), datetime(2020, 1, 2, tzinfo=UTC))
    files = render(pack)
    every = [s for a in pack["areas"] for s in a["sections"]]
    with_claims = [s for s in every if s["claims"]]
    assert files["html"].count("<table>") == len(with_claims) == 2
    assert files["md"].count("| claim | value | status | evidence |") == len(with_claims)
    for section in every:
        if not section["claims"]:
            assert f"**{section['statement']}**" in files["md"]
            assert jinja2.utils.markupsafe.escape(section["statement"]) in files["html"]
    head = files["html"].split("<body>")[0]
    assert "<style>" in head and "<link" not in head and "<script" not in files["html"]  # self-contained


def test_an_unreachable_prometheus_is_stated_and_no_claim_is_made_from_it(project):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again when the block ends: nothing listens there
    pack, _ = make_pack(project, f"http://127.0.0.1:{port}", timeout=2)
    for key in ("data", "machine_room"):
        for section in sections(pack, key).values():
            assert not section["claims"]
            assert section["statement"].startswith(f"Prometheus at http://127.0.0.1:{port} did not answer: ")
            assert section["statement"].endswith("; no claim is made.")
    assert sections(pack, "security")["Changes by operator"]["claims"]  # the files still speak
    text = render(pack)["md"]
    assert "did not answer" in text


def test_no_prometheus_configured_is_stated_too(project):
    pack, _ = make_pack(project, None)
    statement = sections(pack, "data")["Backups"]["statement"]
    assert statement == "no Prometheus is configured for the pack (evidence_prometheus_url is empty); " \
                        "no claim is made."


def test_a_canary_in_an_audit_record_or_a_change_record_is_never_copied(project, prometheus):
    log = audit_chain.Appender(project / "reports" / "audit" / "audit.jsonl",
                               [project / ".cache" / "audit-sink" / "audit.jsonl"])
    run_records(log, 8, "playbooks/network.yml", 1, operator="lab-operator",
                extra={"who": {"controller": CANARY, "token": CANARY}, "what": {"extra_vars": {"pw": CANARY},
                       "limit": None}, "task": f"Set the password to {CANARY}"})
    pack, _ = make_pack(project, prometheus[0])
    assert len(sections(pack, "security")["Changes by operator"]["claims"]) == 2  # the seeded run is claimed
    files = render(pack)
    for text in (json.dumps(pack, ensure_ascii=False), *files.values()):
        assert text.count(CANARY) == 0 and text.count(CANARY[7:]) == 0


def test_the_pack_is_the_same_text_for_the_same_period_and_records(project, prometheus):
    first = render(make_pack(project, prometheus[0])[0])
    second = render(make_pack(project, prometheus[0])[0])
    assert first == second
    assert "2026" not in first["md"].split("# Evidence pack")[0]  # no time of its own making in the header


def test_run_start_and_run_end_mean_the_newest_run_of_the_playbook(project):
    log = str(project / "reports" / "audit" / "audit.jsonl")
    period = common.resolve_period("run start", "run end", log, "playbooks/network.yml")
    assert (period.start, period.end) == (at(30), at(30) + timedelta(minutes=5))
    assert period.run["ended"] and period.run["end_entry"].record["type"] == "run_end"
    still = common.resolve_period("run start", "now", log, "playbooks/network.yml", now=at(31) + timedelta(
        microseconds=5))
    assert still.end == at(31) + timedelta(seconds=1)  # rounded up to a whole second
    with pytest.raises(common.EvidenceError, match=r"has no run of playbooks/site\.yml"):
        common.resolve_period("run start", "now", log)


def test_a_period_that_ends_before_it_starts_is_refused_with_the_fix():
    with pytest.raises(common.EvidenceError, match="is not after from"):
        common.resolve_period("2026-12-02T00:00:00Z", "2026-12-01T00:00:00Z", "/nonexistent")


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                    timezones=st.sampled_from([UTC, timezone(timedelta(hours=8))])))
def test_any_rfc3339_time_with_a_zone_parses_to_the_same_instant(moment):
    text = moment.isoformat().replace("+00:00", "Z")
    assert common.parse_moment(text, "from") == moment


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)))
def test_a_time_without_a_zone_is_refused_naming_the_field(moment):
    with pytest.raises(common.EvidenceError, match=r"^to: .* with a zone"):
        common.parse_moment(moment.isoformat(), "to")


@given(st.text(max_size=40))
def test_any_text_is_either_a_time_or_a_named_error(text):
    try:
        moment = common.parse_moment(text, "from")
    except common.EvidenceError as exc:
        assert str(exc).startswith("from: ")
    else:
        assert moment.tzinfo is not None
