"""Stage 2 against the lab's real OpenBao server: bootstrap.yml builds the CA hierarchy, roles, duties and the
certificate login with the root token and revokes it; from then on each duty's certificate can do its own part only
(the security administrator keeps the PKI and the people, the system administrator reads the credentials, the
audit administrator neither), and pki.yml fails closed."""

from __future__ import annotations

import ipaddress
import json

import hvac
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from vcsim_fixtures import LAB_STATE, approver, labctl, run_playbook

from lab.security import login

URL = "https://127.0.0.1:18200"
DOMAIN = "operators.city.jinbao.example"


INIT = LAB_STATE / "secrets" / "openbao-init.json"
NODES = ("vault-01", "vault-02", "vault-03")  # the lab's raft cluster
SECADMIN = "lab-secadmin"


@pytest.fixture(scope="module")
def vault():
    """A fresh lab Vault (reset: no PKI yet), initialised and unsealed by labctl but not bootstrapped; a client
    holding the root token (revoked by the bootstrap test)."""
    labctl("reset", "--only", "openbao")
    labctl("up", "--only", "openbao", "--no-bootstrap")
    token = json.loads(INIT.read_text())["root_token"]
    yield hvac.Client(url=URL, token=token, verify=str(LAB_STATE / "pki" / "ca.crt"))
    labctl("up", "--only", "openbao")  # unsealed, bootstrapped and its operators made again, whatever a test did


def bootstrap(*args: str):
    root = json.loads(INIT.read_text())["root_token"]
    return run_playbook("bootstrap.yml", "-e", f"first_security_admin={SECADMIN}", *args,
                        env={"JINBAO_BOOTSTRAP_TOKEN": root})


def csr(cn: str, sans: list[x509.GeneralName] | None = None) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                                                                               cn)]))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


def test_check_mode_on_an_empty_vault_lists_the_hierarchy_and_creates_nothing(vault):
    run = bootstrap("--check", "--diff")
    assert run.returncode == 0, run.output[-3000:]
    assert "pki-root: generate the root CA 'jinbao national root CA'" in run.output
    assert "pki-city: role operator" in run.output
    assert "pki-root/" not in vault.sys.list_mounted_secrets_engines()["data"]


def test_bootstrap_builds_root_province_and_city_cas_with_roles_only_on_the_city_and_revokes_the_root(vault):
    run = bootstrap("-vvv")
    assert run.returncode == 0, run.output[-3000:]
    token = vault.token
    assert token not in run.output, "the bootstrap token appeared in the output"
    with pytest.raises(hvac.exceptions.Forbidden):
        vault.auth.token.lookup_self()  # revoked: nobody holds a root token any more
    init = json.loads(INIT.read_text())
    INIT.write_text(json.dumps({**init, "root_token": None}))  # as labctl does after its own bootstrap
    labctl("up", "--only", "openbao")  # the lab's credentials and its other two operators, by lab-secadmin
    vault = login(SECADMIN)
    mounts = vault.sys.list_mounted_secrets_engines()["data"]
    ttl = {m: int(mounts[f"{m}/"]["config"]["max_lease_ttl"]) for m in ("pki-root", "pki-province", "pki-city")}
    assert ttl["pki-root"] >= ttl["pki-province"] >= ttl["pki-city"]
    certs = {m: x509.load_pem_x509_certificate(vault.adapter.get(f"/v1/{m}/cert/ca")["data"]["certificate"].encode())
             for m in ttl}
    assert certs["pki-root"].issuer == certs["pki-root"].subject
    assert certs["pki-province"].issuer == certs["pki-root"].subject
    assert certs["pki-city"].issuer == certs["pki-province"].subject
    with pytest.raises(hvac.exceptions.InvalidPath):
        vault.adapter.list("/v1/pki-root/roles")  # no role points at the root
    assert vault.adapter.get("/v1/pki-city/config/crl")["data"]["auto_rebuild"] is True
    urls = vault.adapter.get("/v1/pki-city/config/urls")["data"]
    assert urls["crl_distribution_points"] == [f"{URL}/v1/pki-city/crl"]
    assert vault.adapter.get("/v1/pki-city/issuer/default")["data"]["leaf_not_after_behavior"] == "err"

    signed = vault.adapter.post("/v1/pki-city/sign/operator", json={"csr": csr(f"op-0001.{DOMAIN}")})["data"]
    cert = x509.load_pem_x509_certificate(signed["certificate"].encode())
    usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usages) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert cert.issuer == certs["pki-city"].subject


def test_each_duty_can_do_its_own_part_only_and_issuance_is_audited_in_clear(vault):
    sec, sys_, aud = login(SECADMIN), login("lab-sysadmin"), login("lab-auditor")
    assert set(sec.sys.list_enabled_audit_devices()["data"]) == {"file/", "file-mirror/"}
    # the security administrator signs operators' CSRs, writes credentials and may not read them back
    cn = f"op-0042.{DOMAIN}"
    serial = sec.adapter.post("/v1/pki-city/sign/operator", json={"csr": csr(cn)})["data"]["serial_number"]
    sec.secrets.kv.v2.create_or_update_secret("facility/main/test/t1", {"password": "pw-0042"}, mount_point="jinbao")
    with pytest.raises(hvac.exceptions.Forbidden):
        sec.secrets.kv.v2.read_secret_version("facility/main/test/t1", mount_point="jinbao",
                                             raise_on_deleted_version=True)
    # the system administrator reads it, and may neither sign operators nor change policies or credentials
    read = sys_.secrets.kv.v2.read_secret_version("facility/main/test/t1", mount_point="jinbao",
                                                  raise_on_deleted_version=True)
    assert read["data"]["data"] == {"password": "pw-0042"}
    for client, path, body in ((sys_, "/v1/pki-city/sign/operator", {"csr": csr(cn)}),
                               (sys_, "/v1/sys/policies/acl/jinbao-system-admin", {"policy": 'path "*" {}'}),
                               (sys_, "/v1/jinbao/data/facility/main/test/t1", {"data": {"password": "x"}}),
                               (sys_, "/v1/identity/group/name/jinbao-duty-security-admin", {"member_entity_ids": []}),
                               (sys_, "/v1/pki-root/root/sign-intermediate", {"csr": csr("rogue CA")}),
                               (sec, "/v1/pki-city/issue/operator", {"common_name": cn}),  # keys stay home
                               (aud, "/v1/pki-city/sign/operator", {"csr": csr(cn)})):
        with pytest.raises(hvac.exceptions.Forbidden):
            client.adapter.post(path, json=body)
    # the security administrator's own token changes no CA, policy or trust, gives no entity or group a policy and
    # offboards nobody: that needs a change token, made only when an audit administrator approves (two-person)
    sysadmin_entity = sys_.auth.token.lookup_self()["data"]["entity_id"]
    rule = 'path "*" { capabilities = ["read"] }'
    for path, body in (("/v1/sys/policies/acl/jinbao-security-admin", {"policy": rule}),
                       ("/v1/pki-city/roles/operator", {"ttl": "8760h"}),
                       ("/v1/pki-root/root/sign-intermediate", {"csr": csr("rogue CA")}),
                       ("/v1/pki-city/revoke", {"serial_number": serial}),
                       ("/v1/auth/cert/certs/operators", {"allowed_common_names": ["*"]}),
                       ("/v1/identity/entity", {"name": SECADMIN, "policies": ["jinbao-system-admin"]}),
                       ("/v1/identity/group/name/jinbao-duty-security-admin", {"policies": ["jinbao-system-admin"]}),
                       (f"/v1/identity/entity/id/{sysadmin_entity}", {"disabled": True}),
                       ("/v1/auth/token/create/jinbao-change-ca", None)):
        if path.endswith("jinbao-change-ca"):  # Vault answers only a wrap, which the approver must authorize
            wrap = sec.adapter.post(path, json={})["wrap_info"]
            assert wrap["creation_path"] == "auth/token/create/jinbao-change-ca"
            sec.adapter.post("/v1/auth/token/revoke-self", headers={"X-Vault-Token": wrap["token"]})
            continue
        with pytest.raises(hvac.exceptions.Forbidden):
            sec.adapter.post(path, json=body)
    assert not sys_.auth.token.lookup_self()["data"].get("disabled")
    # the audit administrator holds no facility credential
    with pytest.raises(hvac.exceptions.Forbidden):
        aud.secrets.kv.v2.read_secret_version("facility/main/vcenter/vc-central", mount_point="jinbao",
                                              raise_on_deleted_version=True)
    # the leader of the moment writes each request to its audit devices: the cluster's log is the three nodes'
    audit = "".join((LAB_STATE / "data" / node / "audit" / "audit.log").read_text()
                    for node in NODES if (LAB_STATE / "data" / node / "audit" / "audit.log").exists())
    assert cn in audit and serial in audit  # issuance fields in clear, for the auditor
    assert "pw-0042" not in audit and sec.token not in audit and sys_.token not in audit
    assert f"lab-sysadmin.{DOMAIN}" in audit  # the cert login, by the certificate's CN
    mirror = "".join((LAB_STATE / "data" / node / "audit" / "audit-mirror.log").read_text()
                     for node in NODES if (LAB_STATE / "data" / node / "audit" / "audit-mirror.log").exists())
    assert mirror.count(serial) >= 1


def _ip(text: str) -> x509.IPAddress:
    return x509.IPAddress(ipaddress.ip_address(text))


# Twenty CSRs the operator role must refuse, each with the reason Vault gives.
REFUSED = {
    "foreign domain": ("op-1.example.org", None, None, "not allowed by this role"),
    "parent domain": ("op-1.city.jinbao.example", None, None, "not allowed by this role"),
    "suffix trick": (f"op-1.{DOMAIN}.evil.example", None, None, "not allowed by this role"),
    "look-alike domain": ("op-1.operators-city.jinbao.example", None, None, "not allowed by this role"),
    "bare domain": (DOMAIN, None, None, "not allowed by this role"),
    "wildcard": (f"*.{DOMAIN}", None, None, "not allowed by this role"),
    "glob": (f"op-*.{DOMAIN}", None, None, "not allowed by this role"),
    "localhost": ("localhost", None, None, "not allowed by this role"),
    "not a hostname": (f"op_1.{DOMAIN}", None, None, "not allowed by this role"),
    "IP SAN": (f"op-1.{DOMAIN}", [_ip("10.0.0.1")], None, "IP Subject Alternative Names are not allowed"),
    "loopback IP SAN": (f"op-1.{DOMAIN}", [_ip("127.0.0.1")], None, "IP Subject Alternative Names are not allowed"),
    "IPv6 SAN": (f"op-1.{DOMAIN}", [_ip("::1")], None, "IP Subject Alternative Names are not allowed"),
    "foreign DNS SAN": (f"op-1.{DOMAIN}", [x509.DNSName("vcenter.example.org")], None, "not allowed by this role"),
    "wildcard DNS SAN": (f"op-1.{DOMAIN}", [x509.DNSName(f"*.{DOMAIN}")], None, "not allowed by this role"),
    "URI SAN": (f"op-1.{DOMAIN}", [x509.UniformResourceIdentifier("spiffe://city/op-1")], None,
                "URI Subject Alternative Names are not allowed"),
    "email SAN": (f"op-1.{DOMAIN}", [x509.RFC822Name("op-1@example.org")], None, "not allowed by this role"),
    "weak RSA 1024 key": (f"op-1.{DOMAIN}", None, "rsa1024", "role requires keys of type ec"),
    "RSA 2048 key": (f"op-1.{DOMAIN}", None, "rsa2048", "role requires keys of type ec"),
    "Ed25519 key": (f"op-1.{DOMAIN}", None, "ed25519", "role requires keys of type ec"),
    "no common name": ("", None, None, "the common_name field is required"),
}


def bad_csr(cn: str, sans, key_kind: str | None) -> str:
    makers = {"rsa1024": lambda: rsa.generate_private_key(65537, 1024),
              "rsa2048": lambda: rsa.generate_private_key(65537, 2048),
              "ed25519": ed25519.Ed25519PrivateKey.generate}
    key = makers.get(key_kind, lambda: ec.generate_private_key(ec.SECP256R1()))()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)] if cn else [])
    builder = x509.CertificateSigningRequestBuilder().subject_name(name)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    algorithm = None if key_kind == "ed25519" else hashes.SHA256()
    return builder.sign(key, algorithm).public_bytes(serialization.Encoding.PEM).decode()


def test_the_operator_role_refuses_twenty_bad_requests_and_issues_none():
    vault = login(SECADMIN)
    issued_before = len(vault.adapter.list("/v1/pki-city/certs")["data"]["keys"])
    reasons = {}
    for case, (cn, sans, key_kind, reason) in REFUSED.items():
        with pytest.raises(hvac.exceptions.InvalidRequest) as refused:
            vault.adapter.post("/v1/pki-city/sign/operator", json={"csr": bad_csr(cn, sans, key_kind)})
        reasons[case] = str(refused.value)
        assert reason in reasons[case], (case, reasons[case])
    assert len(REFUSED) >= 20
    assert len(vault.adapter.list("/v1/pki-city/certs")["data"]["keys"]) == issued_before


def test_a_lifetime_over_the_maximum_is_cut_to_thirty_days():
    vault = login(SECADMIN)
    signed = vault.adapter.post("/v1/pki-city/sign/operator", json={"csr": csr(f"op-0005.{DOMAIN}"), "ttl": "2000h"})
    cert = x509.load_pem_x509_certificate(signed["data"]["certificate"].encode())
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).total_seconds() <= 30 * 86400 + 60
    assert any("maxTTL" in w for w in signed.get("warnings") or [])


def test_operator_onboarding_keeps_the_key_home_is_idempotent_and_renews_when_due(vault, tmp_path):
    args = ["-e", "operator=op-0100", "-e", f"jinbao_pki_dir={tmp_path / 'keys'}",
            "-e", f"jinbao_reports_dir={tmp_path / 'reports'}"]
    vault = login(SECADMIN)
    run = run_playbook("operator_onboard.yml", *args, operator=SECADMIN)
    assert run.returncode == 0, run.output[-3000:]
    key = tmp_path / "keys" / "op-0100" / "op-0100.key"
    assert key.stat().st_mode & 0o777 == 0o600 and (key.parent.stat().st_mode & 0o777) == 0o700
    assert key.read_text() not in run.output
    cert = x509.load_pem_x509_certificate((key.parent / "op-0100.crt").read_bytes())
    city = x509.load_pem_x509_certificate(vault.adapter.get("/v1/pki-city/cert/ca")["data"]["certificate"].encode())
    assert cert.issuer == city.subject
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == f"op-0100.{DOMAIN}"
    register = tmp_path / "reports" / "pki" / "operators.csv"
    first = register.read_text().splitlines()
    assert first[0] == "operator,serial,not_before,not_after,revoked_at" and len(first) == 2
    assert first[1].startswith("op-0100,") and first[1].endswith(",")

    again = run_playbook("operator_onboard.yml", *args, operator=SECADMIN)
    assert again.returncode == 0 and again.recap("vault-01")["changed"] == 0, again.output[-3000:]
    assert register.read_text().splitlines() == first

    renewed = run_playbook("operator_onboard.yml", *args, "-e", "pki_operator_renew_fraction=1.01",  # always due
                           operator=SECADMIN)
    assert renewed.returncode == 0, renewed.output[-3000:]
    rows = register.read_text().splitlines()[1:]
    assert len(rows) == 2 and len({r.split(",")[1] for r in rows}) == 2

    bad = run_playbook("operator_onboard.yml", "-e", "operator=Bad_ID", operator=SECADMIN)
    assert bad.returncode != 0 and "operator: Bad_ID is not an operator ID" in bad.output


def test_ca_operations_wait_for_an_audit_administrators_approval_and_a_run_without_change_asks_nobody(vault, tmp_path):
    change = tmp_path / "change.yml"  # a change of the PKI's access controls: the offboarding token's lifetime
    change.write_text("vault:\n  vars:\n    vault_pki_two_person_timeout: 6\n    vault_pki_token_roles:\n"
                      "      - {name: jinbao-change-ca, policies: [jinbao-change-ca], ttl: 900}\n"
                      "      - {name: jinbao-change-offboard, policies: [jinbao-change-offboard], ttl: 600}\n")
    role = "/v1/auth/token/roles/jinbao-change-offboard"
    unapproved = run_playbook("pki.yml", inventory=change, operator=SECADMIN)
    assert unapproved.returncode != 0 and "no approval of change" in unapproved.output, unapproved.output[-3000:]
    assert "waits for a second operator (an audit administrator)" in unapproved.output
    assert login(SECADMIN).adapter.get(role)["data"]["token_explicit_max_ttl"] == 900  # nothing was changed
    with approver():
        approved = run_playbook("pki.yml", "--diff", inventory=change, operator=SECADMIN)
    assert approved.returncode == 0, approved.output[-3000:]
    assert "token role jinbao-change-offboard: update (jinbao-change-offboard, 600 s)" in approved.output
    assert login(SECADMIN).adapter.get(role)["data"]["token_explicit_max_ttl"] == 600
    again = run_playbook("pki.yml", inventory=change, operator=SECADMIN)  # nothing to change: nobody is asked
    assert again.returncode == 0 and again.recap("vault-01")["changed"] == 0, again.output[-3000:]
    assert "waits for a second operator" not in again.output
    back = tmp_path / "back.yml"  # and back to the declared state, approved again
    back.write_text("vault:\n  vars:\n    vault_pki_two_person_timeout: 120\n")
    with approver():
        assert run_playbook("pki.yml", inventory=back, operator=SECADMIN).returncode == 0


def test_offboarding_revokes_every_certificate_and_the_crl_proves_it(vault, tmp_path):
    args = ["-e", "operator=op-0200", "-e", f"jinbao_pki_dir={tmp_path / 'keys'}",
            "-e", f"jinbao_reports_dir={tmp_path / 'reports'}"]
    for extra in ([], ["-e", "pki_operator_renew_fraction=1.01"]):  # two certificates for op-0200
        run = run_playbook("operator_onboard.yml", *args, *extra, operator=SECADMIN)
        assert run.returncode == 0, run.output[-3000:]
    register = tmp_path / "reports" / "pki" / "operators.csv"
    serials = [row.split(",")[1] for row in register.read_text().splitlines()[1:]]
    assert len(serials) == 2
    refused = run_playbook("operator_offboard.yml", *args, "-e", "pki_operator_two_person_timeout=5", operator=SECADMIN)
    assert refused.returncode != 0 and "no approval of change" in refused.output, refused.output[-3000:]
    assert "offboarding op-0200 (2 certificate(s) to revoke)" in refused.output
    assert all(row.split(",")[4] == "" for row in register.read_text().splitlines()[1:])  # nothing revoked
    with approver():  # an audit administrator approves the offboarding
        run = run_playbook("operator_offboard.yml", *args, operator=SECADMIN)
    assert run.returncode == 0, run.output[-3000:]
    assert "op-0200: 2 certificate(s) revoked now and found in the CRL" in run.output
    crl = x509.load_pem_x509_crl(requests.get(f"{URL}/v1/pki-city/crl/pem", timeout=10,
                                              verify=str(LAB_STATE / "pki" / "ca.crt")).content)
    listed = {entry.serial_number for entry in crl}
    assert {int(s.replace(":", ""), 16) for s in serials} <= listed
    rows = register.read_text().splitlines()[1:]
    assert all(row.split(",")[4].endswith("Z") for row in rows), rows
    again = run_playbook("operator_offboard.yml", *args, operator=SECADMIN)
    assert again.returncode == 0 and again.recap("vault-01")["changed"] == 0, again.output[-3000:]
    assert "(all revoked earlier)" in again.output
    unknown = run_playbook("operator_offboard.yml", "-e", "operator=op-9999", "-e",
                           f"jinbao_reports_dir={tmp_path / 'reports'}", operator=SECADMIN)
    assert unknown.returncode != 0 and "op-9999 has no certificate in" in unknown.output


def test_a_second_run_changes_nothing(vault):
    run = run_playbook("pki.yml", operator=SECADMIN)
    assert run.returncode == 0 and run.recap("vault-01")["changed"] == 0, run.output[-3000:]


def test_an_unreachable_vault_fails_closed_with_one_line(vault):
    labctl("down", "--only", "vault-01")
    try:
        run = run_playbook("pki.yml", operator=SECADMIN)
    finally:
        labctl("up", "--only", "openbao")
    assert run.returncode != 0
    assert "vault-01: vault_addr: cannot connect to https://127.0.0.1:18200" in run.output
    assert "Traceback" not in run.output


def test_a_sealed_vault_fails_closed_and_nothing_is_written(vault):
    labctl("act", "vault-01", "restart-sealed")  # the node the playbooks talk to comes back sealed
    run = run_playbook("pki.yml", operator=SECADMIN)
    assert run.returncode != 0
    assert "vault-01: sealed: Vault at https://127.0.0.1:18200 is sealed" in run.output
    labctl("up", "--only", "openbao")  # unseals
    assert not vault.sys.is_sealed()
