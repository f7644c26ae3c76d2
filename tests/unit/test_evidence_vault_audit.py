"""The evidence pack checks every gated run against Vault's audit log: the certificate the gate admitted logged in
to Vault, and that login's token read the credentials. The Vault entries below are copied from the lab's OpenBao
2.7.2 audit device (.lab/data/vault-01/audit/audit.log, 2026-12-06; one compact JSON line each in the log, shown
indented here), token and accessor HMACs as they were."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jinja2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.jinbao.dc.plugins.module_utils.audit import chain as audit_chain
from ansible_collections.jinbao.dc.plugins.module_utils.evidence import common, vault_audit
from ansible_collections.jinbao.dc.plugins.module_utils.evidence import pack as evidence_pack

from conftest import ROOT

# --- real entries ------------------------------------------------------------------------------------------------

# lab-sysadmin logs in with its certificate (auth/cert, role operators): the response carries the certificate's
# CN, its serial in decimal, and the new token's accessor (HMAC'd).
LOGIN_RESPONSE = r"""
{
 "time": "2026-12-06T07:23:58.276423004Z",
 "type": "response",
 "auth": {
  "client_token": "hmac-sha256:c6764189e604d028931bff7b4896b9f9e3eced97ad64fbaa9430794095512852",
  "accessor": "hmac-sha256:8e171624697a22961146a740075975871db4e0831b8383cfe8940c37f72ff572",
  "display_name": "cert-operators",
  "policies": [
   "default",
   "jinbao-system-admin"
  ],
  "token_policies": [
   "default"
  ],
  "identity_policies": [
   "jinbao-system-admin"
  ],
  "metadata": {
   "authority_key_id": "3d:cd:bd:cf:5b:88:86:04:bc:27:0b:2c:25:52:fa:14:73:46:fd:3c",
   "cert_name": "operators",
   "common_name": "lab-sysadmin.operators.city.jinbao.example",
   "serial_number": "239885498975528517032336509040697694528308916466",
   "subject_key_id": "22:d7:a8:3c:dc:2f:f0:93:d2:e1:ec:7d:9d:fb:ca:f8:7c:50:6d:eb"
  },
  "entity_id": "ced70e21-7317-4ed5-4c39-12263eeecead",
  "token_type": "service",
  "token_ttl": 3600
 },
 "request": {
  "id": "276a7e1a-4724-7b3e-e18c-e890d9f6e20f",
  "operation": "update",
  "mount_point": "auth/cert/",
  "mount_type": "cert",
  "mount_accessor": "auth_cert_ce9716e5",
  "mount_running_version": "v2.7.2+builtin.bao",
  "mount_class": "auth",
  "client_token": "hmac-sha256:c6764189e604d028931bff7b4896b9f9e3eced97ad64fbaa9430794095512852",
  "namespace": {
   "id": "root"
  },
  "path": "auth/cert/login",
  "data": {
   "name": "hmac-sha256:40266fc50b46e9235b1ef32d3d76b1766850fe00f493161b6b1acc8de9488506"
  },
  "remote_address": "127.0.0.1",
  "remote_port": 57094
 },
 "response": {
  "auth": {
   "client_token": "hmac-sha256:c6764189e604d028931bff7b4896b9f9e3eced97ad64fbaa9430794095512852",
   "accessor": "hmac-sha256:8e171624697a22961146a740075975871db4e0831b8383cfe8940c37f72ff572",
   "display_name": "cert-operators",
   "policies": [
    "default",
    "jinbao-system-admin"
   ],
   "token_policies": [
    "default"
   ],
   "identity_policies": [
    "jinbao-system-admin"
   ],
   "metadata": {
    "authority_key_id": "3d:cd:bd:cf:5b:88:86:04:bc:27:0b:2c:25:52:fa:14:73:46:fd:3c",
    "cert_name": "operators",
    "common_name": "lab-sysadmin.operators.city.jinbao.example",
    "serial_number": "239885498975528517032336509040697694528308916466",
    "subject_key_id": "22:d7:a8:3c:dc:2f:f0:93:d2:e1:ec:7d:9d:fb:ca:f8:7c:50:6d:eb"
   },
   "entity_id": "ced70e21-7317-4ed5-4c39-12263eeecead",
   "token_type": "service",
   "token_ttl": 3600
  },
  "mount_point": "auth/cert/",
  "mount_type": "cert",
  "mount_accessor": "auth_cert_ce9716e5",
  "mount_running_plugin_version": "v2.7.2+builtin.bao",
  "mount_class": "auth"
 }
}
"""
# The same token (the same HMAC'd accessor) reads a facility credential: the request, then the response (the
# value HMAC'd).
READ_REQUEST = r"""
{
 "time": "2026-12-06T07:23:58.320284184Z",
 "type": "request",
 "auth": {
  "client_token": "hmac-sha256:215faa09d0b0bf0c18be4c71e0ebfeaf90edd56eb3e77d1d838fc7b4ae960d7e",
  "accessor": "hmac-sha256:8e171624697a22961146a740075975871db4e0831b8383cfe8940c37f72ff572",
  "display_name": "cert-operators",
  "policies": [
   "default",
   "jinbao-system-admin"
  ],
  "token_policies": [
   "default"
  ],
  "identity_policies": [
   "jinbao-system-admin"
  ],
  "policy_results": {
   "allowed": true,
   "granting_policies": [
    {
     "name": "jinbao-system-admin",
     "namespace_id": "root",
     "type": "acl"
    }
   ]
  },
  "metadata": {
   "authority_key_id": "3d:cd:bd:cf:5b:88:86:04:bc:27:0b:2c:25:52:fa:14:73:46:fd:3c",
   "cert_name": "operators",
   "common_name": "lab-sysadmin.operators.city.jinbao.example",
   "serial_number": "239885498975528517032336509040697694528308916466",
   "subject_key_id": "22:d7:a8:3c:dc:2f:f0:93:d2:e1:ec:7d:9d:fb:ca:f8:7c:50:6d:eb"
  },
  "entity_id": "ced70e21-7317-4ed5-4c39-12263eeecead",
  "token_type": "service",
  "token_ttl": 3600,
  "token_issue_time": "2026-12-06T07:23:58Z"
 },
 "request": {
  "id": "91801016-47ba-9301-d9ef-01e0842e4ceb",
  "client_id": "ced70e21-7317-4ed5-4c39-12263eeecead",
  "operation": "read",
  "mount_point": "jinbao/",
  "mount_type": "kv",
  "mount_running_version": "v2.7.2+builtin.bao",
  "mount_class": "secret",
  "client_token": "hmac-sha256:215faa09d0b0bf0c18be4c71e0ebfeaf90edd56eb3e77d1d838fc7b4ae960d7e",
  "client_token_accessor": "hmac-sha256:8e171624697a22961146a740075975871db4e0831b8383cfe8940c37f72ff572",
  "namespace": {
   "id": "root"
  },
  "path": "jinbao/data/facility/main/test/t1",
  "remote_address": "127.0.0.1",
  "remote_port": 57116
 }
}
"""
READ_RESPONSE = r"""
{
 "time": "2026-12-06T07:23:58.320550897Z",
 "type": "response",
 "auth": {
  "client_token": "hmac-sha256:215faa09d0b0bf0c18be4c71e0ebfeaf90edd56eb3e77d1d838fc7b4ae960d7e",
  "accessor": "hmac-sha256:8e171624697a22961146a740075975871db4e0831b8383cfe8940c37f72ff572",
  "display_name": "cert-operators",
  "policies": [
   "default",
   "jinbao-system-admin"
  ],
  "token_policies": [
   "default"
  ],
  "identity_policies": [
   "jinbao-system-admin"
  ],
  "policy_results": {
   "allowed": true,
   "granting_policies": [
    {
     "name": "jinbao-system-admin",
     "namespace_id": "root",
     "type": "acl"
    }
   ]
  },
  "metadata": {
   "authority_key_id": "3d:cd:bd:cf:5b:88:86:04:bc:27:0b:2c:25:52:fa:14:73:46:fd:3c",
   "cert_name": "operators",
   "common_name": "lab-sysadmin.operators.city.jinbao.example",
   "serial_number": "239885498975528517032336509040697694528308916466",
   "subject_key_id": "22:d7:a8:3c:dc:2f:f0:93:d2:e1:ec:7d:9d:fb:ca:f8:7c:50:6d:eb"
  },
  "entity_id": "ced70e21-7317-4ed5-4c39-12263eeecead",
  "token_type": "service",
  "token_ttl": 3600,
  "token_issue_time": "2026-12-06T07:23:58Z"
 },
 "request": {
  "id": "91801016-47ba-9301-d9ef-01e0842e4ceb",
  "client_id": "ced70e21-7317-4ed5-4c39-12263eeecead",
  "operation": "read",
  "mount_point": "jinbao/",
  "mount_type": "kv",
  "mount_accessor": "kv_2e2bc4c8",
  "mount_running_version": "v2.7.2+builtin.bao",
  "mount_class": "secret",
  "client_token": "hmac-sha256:215faa09d0b0bf0c18be4c71e0ebfeaf90edd56eb3e77d1d838fc7b4ae960d7e",
  "client_token_accessor": "hmac-sha256:8e171624697a22961146a740075975871db4e0831b8383cfe8940c37f72ff572",
  "namespace": {
   "id": "root"
  },
  "path": "jinbao/data/facility/main/test/t1",
  "remote_address": "127.0.0.1",
  "remote_port": 57116
 },
 "response": {
  "mount_point": "jinbao/",
  "mount_type": "kv",
  "mount_accessor": "kv_2e2bc4c8",
  "mount_running_plugin_version": "v2.7.2+builtin.bao",
  "mount_class": "secret",
  "data": {
   "data": {
    "password": "hmac-sha256:06c1b3a94ad38b0e1ff3b52d5e3ba0963b89f101bc067018e58c60fb0d5b3d36"
   },
   "metadata": {
    "created_time": "2026-12-06T07:23:58.31029428Z",
    "custom_metadata": null,
    "deletion_time": "hmac-sha256:c47e616873de54dc087ed1fd6117792fa6208c98ab6ff66c9a4c8299b71f86f8",
    "destroyed": false,
    "version": 1
   }
  }
 }
}
"""
# lab-auditor's token (audit duty: no facility credential) is refused a read of vCenter's credential.
REFUSED_RESPONSE = r"""
{
 "time": "2026-12-06T07:23:58.342307693Z",
 "type": "response",
 "auth": {
  "client_token": "hmac-sha256:c5c0cd0c4fb8e9963a0f95c35290b09caeae7385e1caf79bf8192fd100cf7232",
  "accessor": "hmac-sha256:9d85eb452241efd128b02c3335e4841b8b3e1e782ca24aae847554824f98b5ef",
  "display_name": "cert-operators",
  "policies": [
   "default",
   "jinbao-audit-admin"
  ],
  "token_policies": [
   "default"
  ],
  "identity_policies": [
   "jinbao-audit-admin"
  ],
  "policy_results": {
   "allowed": false
  },
  "metadata": {
   "authority_key_id": "3d:cd:bd:cf:5b:88:86:04:bc:27:0b:2c:25:52:fa:14:73:46:fd:3c",
   "cert_name": "operators",
   "common_name": "lab-auditor.operators.city.jinbao.example",
   "serial_number": "600788934404186639526655254409773999080291076180",
   "subject_key_id": "32:87:34:5c:d4:68:0d:f4:50:72:f0:13:0b:f9:80:f4:7a:c8:da:6e"
  },
  "entity_id": "9e599c79-6754-5b1f-e6e6-f57acc09e6cc",
  "token_type": "service",
  "token_ttl": 3600,
  "token_issue_time": "2026-12-06T07:23:58Z"
 },
 "request": {
  "id": "45cee292-bac6-aa76-2003-74ea1d1f91a7",
  "client_id": "9e599c79-6754-5b1f-e6e6-f57acc09e6cc",
  "operation": "read",
  "mount_point": "jinbao/",
  "mount_type": "kv",
  "mount_running_version": "v2.7.2+builtin.bao",
  "mount_class": "secret",
  "client_token": "hmac-sha256:c5c0cd0c4fb8e9963a0f95c35290b09caeae7385e1caf79bf8192fd100cf7232",
  "client_token_accessor": "hmac-sha256:9d85eb452241efd128b02c3335e4841b8b3e1e782ca24aae847554824f98b5ef",
  "namespace": {
   "id": "root"
  },
  "path": "jinbao/data/facility/main/vcenter/vc-central",
  "remote_address": "127.0.0.1",
  "remote_port": 57128
 },
 "response": {
  "mount_point": "jinbao/",
  "mount_type": "kv",
  "mount_running_plugin_version": "v2.7.2+builtin.bao",
  "mount_class": "secret",
  "data": {
   "error": "hmac-sha256:5b95d7c21401eb2f27f5b15a815ca6ca4d15409d445c9d26088f06856436c9cd"
  }
 },
 "error": "1 error occurred:\n\t* permission denied\n\n"
}
"""

SYSADMIN_CN = "lab-sysadmin.operators.city.jinbao.example"
# The chain writes serials in colon hex; here in upper case, as another tool might: the same certificate as
# Vault's decimal 239885498975528517032336509040697694528308916466.
SYSADMIN_SERIAL = "2A:04:D6:7A:39:8C:65:60:52:60:C3:D3:3E:F0:A9:1B:75:56:30:F2"
SECADMIN_CN = "lab-secadmin.operators.city.jinbao.example"
SECADMIN_SERIAL = "7f:59:d7:ed:25:6d:33:e6:ac:c8:1b:8b:20:c2:47:ed:eb:11:40:23"
PERIOD = common.Period(datetime(2026, 12, 6, 7, 0, tzinfo=UTC), datetime(2026, 12, 6, 8, 0, tzinfo=UTC))
TEMPLATES = ROOT / "roles" / "evidence" / "templates" / "reports" / "evidence"


def line(text: str, **changes: object) -> str:
    """One entry as Vault writes it (compact JSON), with top-level fields changed where a test needs it."""
    entry = json.loads(text)
    entry.update(changes)
    return json.dumps(entry, separators=(",", ":"), ensure_ascii=False)


def gated_run(log: audit_chain.Appender, run_id: str, start: datetime, seconds: float, cn: str, serial: str,
              playbook: str = "playbooks/discover.yml") -> None:
    end = start + timedelta(seconds=seconds)
    operator = cn.split(".", 1)[0]
    log.append({"type": "run_start", "run_id": run_id, "who": {"os_user": "root", "operator_claimed": operator},
                "what": {"playbooks": [playbook], "check_mode": False}}, now=start)
    log.append({"type": "run_end", "run_id": run_id, "result": "ok",
                "who": {"os_user": "root", "operator": operator, "cert_cn": cn, "cert_serial": serial,
                        "duty": "system-admin",
                        "gate": {"result": "granted", "cn": cn, "serial": serial, "vault_accessor": "x" * 24}},
                "what": {"playbooks": [playbook], "check_mode": False},
                "when": {"start": audit_chain.iso(start), "end": audit_chain.iso(end)},
                "hosts": {"vc-central": {"stats": {"changed": 1}, "failed": [], "changed": []}}}, now=end)


@pytest.fixture
def lab(tmp_path: Path) -> Path:
    """A chain with two gated runs, and the nodes' audit logs: vault-01 led during the sysadmin's run (its login
    and read), vault-02 led later (the auditor's refused read, and the sysadmin's token reading after its run),
    vault-03 never led (no file)."""
    log = audit_chain.Appender(tmp_path / "reports" / "audit" / "audit.jsonl", [])
    # the sysadmin's run: its window holds the login (07:23:58.276) and the read (07:23:58.320)
    gated_run(log, "run-sysadmin", datetime(2026, 12, 6, 7, 23, 58, 100000, tzinfo=UTC), 1.5, SYSADMIN_CN,
              SYSADMIN_SERIAL)
    # the secadmin's run, ten minutes later: Vault has no login by its certificate
    gated_run(log, "run-secadmin", datetime(2026, 12, 6, 7, 33, 0, tzinfo=UTC), 3, SECADMIN_CN, SECADMIN_SERIAL,
              "playbooks/credentials.yml")
    for node in ("vault-01", "vault-02", "vault-03"):
        (tmp_path / ".lab" / "data" / node / "audit").mkdir(parents=True)
    (tmp_path / ".lab/data/vault-01/audit/audit.log").write_text(
        "".join(line(e) + "\n" for e in (LOGIN_RESPONSE, READ_REQUEST, READ_RESPONSE)))
    later = json.loads(READ_RESPONSE)
    later["request"]["id"] = "0e0e0e0e-47ba-9301-d9ef-01e0842e4ceb"
    (tmp_path / ".lab/data/vault-02/audit/audit.log").write_text(
        line(REFUSED_RESPONSE) + "\n"
        + line(json.dumps(later), time="2026-12-06T07:40:00.000000000Z") + "\n")
    return tmp_path


def node_logs(root: Path) -> list[str]:
    return [str(root / ".lab" / "data" / node / "audit" / "audit.log") for node in ("vault-01", "vault-02", "vault-03")]


def check(root: Path) -> dict:
    entries = audit_chain.read_log(root / "reports" / "audit" / "audit.jsonl")
    return vault_audit.vault_audit_section(entries, PERIOD, node_logs(root),
                                           common.Where(str(root / "reports" / "evidence" / PERIOD.slug), str(root)))


def claims_about(section: dict, text: str) -> list[dict]:
    return [c for c in section["claims"] if text in c["claim"]]


# --- tests -------------------------------------------------------------------------------------------------------


def test_a_run_is_matched_to_its_cert_login_and_the_reads_made_with_that_login_token(lab):
    section = check(lab)
    [claim] = claims_about(section, "run run-sysa by lab-sysadmin")
    assert claim["status"] == "ok"
    assert claim["claim"] == f"run run-sysa by {SYSADMIN_CN} ({SYSADMIN_SERIAL.lower()})"
    assert claim["value"] == ("playbooks/discover.yml: cert login at 2026-12-06T07:23:58Z, 1 credential read(s) "
                              "(facility/main/test/t1)")
    hrefs = [link["href"] for link in claim["evidence"]]
    assert hrefs[0].startswith("../../audit/audit.jsonl#L")  # the run_end record
    assert hrefs[1:] == ["../../../.lab/data/vault-01/audit/audit.log#L1",  # the login's response
                         "../../../.lab/data/vault-01/audit/audit.log#L3"]  # the read's response, not its request


def test_a_run_with_no_cert_login_by_its_certificate_needs_attention(lab):
    [claim] = claims_about(check(lab), "run run-seca by lab-secadmin")
    assert claim["status"] == "attention"
    assert claim["value"] == ("playbooks/credentials.yml: no cert login by this certificate "
                              "from 2026-12-06T07:33:00Z to 2026-12-06T07:33:03Z")


def test_a_read_outside_any_gated_run_is_a_finding_naming_the_certificate(lab):
    section = check(lab)
    [auditor] = claims_about(section, "Credential reads outside an audited run by lab-auditor")
    assert auditor["status"] == "attention"
    assert auditor["claim"].endswith("(69:3c:4e:bc:12:58:2f:b4:f5:9c:b2:41:a6:a5:59:c6:bd:be:88:54)")
    assert "facility/main/vcenter/vc-central; 1 of them refused by Vault's policy" in auditor["value"]
    assert auditor["evidence"][0]["href"] == "../../../.lab/data/vault-02/audit/audit.log#L1"
    # the sysadmin's own token, used twenty minutes after its run ended, is outside the run too
    [late] = claims_about(section, "Credential reads outside an audited run by lab-sysadmin")
    assert "1 read(s) from 2026-12-06T07:40:00Z" in late["value"] and late["status"] == "attention"


def test_vault_decimal_serial_and_the_chain_colon_hex_name_the_same_certificate(lab):
    decimal = json.loads(LOGIN_RESPONSE)["auth"]["metadata"]["serial_number"]
    assert vault_audit.normalise_serial(decimal) == vault_audit.normalise_serial(SYSADMIN_SERIAL)
    assert vault_audit.serial_text(vault_audit.normalise_serial(decimal)) == SYSADMIN_SERIAL.lower()
    # another certificate of the same person (same CN, another serial) is not this run's login
    log = audit_chain.Appender(lab / "reports" / "audit" / "audit.jsonl", [])
    gated_run(log, "run-other", datetime(2026, 12, 6, 7, 23, 58, 200000, tzinfo=UTC), 1, SYSADMIN_CN,
              "2a:04:d6:7a:39:8c:65:60:52:60:c3:d3:3e:f0:a9:1b:75:56:30:f3")
    [other] = claims_about(check(lab), "run run-othe")
    assert other["status"] == "attention"
    assert other["value"].endswith("; only by another certificate of the same CN (serial in the evidence)")
    assert other["evidence"][1]["note"] == f"serial {SYSADMIN_SERIAL.lower()}"


@given(st.integers(min_value=256, max_value=2**160 - 1))
def test_any_serial_reads_the_same_in_decimal_and_in_colon_hex(serial):
    assert vault_audit.normalise_serial(str(serial)) == vault_audit.normalise_serial(
        vault_audit.serial_text(serial)) == serial


def test_a_missing_node_log_is_named_and_needs_attention_and_the_others_are_still_read(lab):
    section = check(lab)
    [missing] = claims_about(section, "Vault audit log missing")
    assert missing["claim"] == "Vault audit log missing: .lab/data/vault-03/audit/audit.log"
    assert missing["status"] == "attention"
    assert section["source"].endswith("(.lab/data/vault-01/audit/audit.log, .lab/data/vault-02/audit/audit.log: "
                                      "1 cert login(s) and 3 credential read(s) in the period; their earliest "
                                      "entry is 2026-12-06T07:23:58Z, after the period's start)")
    assert claims_about(section, "run run-sysa")[0]["status"] == "ok"


def test_the_same_request_in_two_logs_counts_once(lab):
    first = lab / ".lab/data/vault-01/audit/audit.log"
    (first.parent / "audit-mirror.log").write_text(first.read_text())
    vault = vault_audit.read_logs([str(first), str(first.parent / "audit-mirror.log")])
    assert [(e.kind, e.line) for e in vault.events] == [("login", 1), ("read", 3)]


def test_no_token_accessor_or_secret_hmac_reaches_the_pack(lab):
    text = json.dumps(check(lab))
    assert "hmac-sha256" not in text and "8e171624697a" not in text and "06c1b3a94ad3" not in text


def test_the_section_is_part_of_security_management_and_renders_in_md_and_html(lab):
    out = lab / "reports" / "evidence" / PERIOD.slug
    sources = evidence_pack.Sources(reports_dir=str(lab / "reports"), runbooks_dir=str(ROOT / "runbooks"),
                                    vault_audit_logs=node_logs(lab))
    pack = evidence_pack.collect(PERIOD, sources, common.Where(str(out), str(lab)), None)
    security = next(a for a in pack["areas"] if a["key"] == "security")
    assert vault_audit.TITLE in [s["title"] for s in security["sections"]]
    assert security["attention"] >= 4  # no login, two outside findings, one missing log
    for href in evidence_pack.file_links(pack):
        assert (out / href).resolve().exists(), href
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), trim_blocks=True, autoescape=False)
    env.filters["comment"] = lambda text, *args, **kwargs: f"<!-- {text} -->"
    for kind in ("md", "html"):
        text = env.get_template(f"evidence.{kind}.j2").render(__evidence_pack=pack, ansible_managed="managed")
        assert "cert login at 2026-12-06T07:23:58Z, 1 credential read(s) (facility/main/test/t1)" in text
        assert "Credential reads outside an audited run by lab-auditor" in text


def test_no_audit_log_configured_is_said_and_no_claim_is_made(lab):
    entries = audit_chain.read_log(lab / "reports" / "audit" / "audit.jsonl")
    section = vault_audit.vault_audit_section(entries, PERIOD, [], common.Where(str(lab), str(lab)))
    assert not section["claims"]
    assert section["statement"].startswith("No Vault audit log is configured for the pack")


def test_a_torn_line_in_a_node_log_is_counted_and_needs_attention(lab):
    log = lab / ".lab/data/vault-01/audit/audit.log"
    log.write_text(log.read_text() + line(READ_RESPONSE)[:300] + "\n" + "not json\n")
    [torn] = claims_about(check(lab), "Vault audit log lines that cannot be read")
    assert torn["status"] == "attention" and torn["value"].startswith("2 line(s) with no time or not JSON")
