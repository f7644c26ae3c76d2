"""Cert-gated runs, duties, service certificates and bulk onboarding against the lab's real OpenBao server.

A changing playbook (service_certs.yml here: it needs only Vault) starts for a system administrator with a valid
certificate, and its gate record names the certificate and the duty; an expired, revoked or foreign-CA
certificate, a certificate of another duty or of none, and a sealed Vault each stop it before any change, with the
reason. One person holds one duty; an offboarded operator comes back only by an explicit, recorded re-enrolment.
"""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import hvac
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from vcsim_fixtures import LAB_STATE, ROOT, labctl, run_playbook

DOMAIN = "operators.city.jinbao.example"
URL = "https://127.0.0.1:18200"
CA = str(LAB_STATE / "pki" / "ca.crt")

pytestmark = pytest.mark.usefixtures("lab_operator")
OPERATORS = ROOT / ".pki" / "operators"  # where the gate finds every operator's certificate (inventory/lab)
SECADMIN = "lab-secadmin"
RUN = uuid.uuid4().hex[:6]  # Vault remembers an offboarded operator across runs: a name of this run's own


@pytest.fixture
def place(tmp_path):
    """Reports and service certificates of this test in its own folders; extra vars that point there. The test's
    operators (op-gate-*) are onboarded into the lab's operator folder, where the gate looks, and removed after."""
    def args(*more: str) -> list[str]:
        return ["-e", f"jinbao_reports_dir={tmp_path / 'reports'}",
                "-e", f"jinbao_service_pki_dir={tmp_path / 'services'}", *more]
    args.tmp = tmp_path
    yield args
    for folder in OPERATORS.glob("op-gate-*"):
        shutil.rmtree(folder)


def onboard(place, *more: str):
    run = run_playbook("operator_onboard.yml", *place(*more), operator=SECADMIN)
    return run


def gate_records(tmp_path) -> list[dict]:
    path = tmp_path / "reports" / "audit" / "gate.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def refused(run, field: str, words: str) -> None:
    assert run.returncode != 0, run.output[-3000:]
    assert "operator gate: " in run.output and f": {field}: " in run.output and words in run.output, run.output[-3000:]
    assert "The playbook stops here; nothing was changed." in run.output
    assert "Service certificates | issue and renew" not in run.output  # the changing play never started


def test_a_system_administrator_runs_and_the_record_names_the_certificate_and_duty(place):
    run = run_playbook("service_certs.yml", *place())
    assert run.returncode == 0, run.output[-3000:]
    own = OPERATORS / "lab-sysadmin" / "lab-sysadmin.crt"
    cert = x509.load_pem_x509_certificate(own.read_bytes())
    serial = f"{cert.serial_number:x}"
    record = gate_records(place.tmp)[-1]
    assert record["result"] == "granted" and record["playbook"] == "service_certs"
    assert record["cn"] == f"lab-sysadmin.{DOMAIN}" and record["serial"].replace(":", "").lstrip("0") == serial
    assert record["duty"] == "system-admin" and record["os_user"] and record["time"].endswith("Z")


def test_service_certificates_serve_tls_and_a_second_run_changes_nothing(place):
    run = run_playbook("service_certs.yml", *place())
    assert run.returncode == 0, run.output[-3000:]
    services = place.tmp / "services"
    key, crt = services / "prometheus" / "prometheus.key", services / "prometheus" / "prometheus.crt"
    assert key.stat().st_mode & 0o777 == 0o600 and key.read_text() not in run.output
    cert = x509.load_pem_x509_certificate(crt.read_bytes())
    usages = list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    assert ExtendedKeyUsageOID.SERVER_AUTH in usages and ExtendedKeyUsageOID.CLIENT_AUTH in usages
    rows = (place.tmp / "reports" / "pki" / "services.csv").read_text().splitlines()
    declared = yaml.safe_load((ROOT / "inventory" / "lab" / "group_vars" / "all" / "services.yml").read_text())
    assert rows[0] == "service,serial,not_before,not_after,revoked_at"
    assert sorted(r.split(",")[0] for r in rows[1:]) == sorted(s["name"] for s in declared["jinbao_services"])

    # The certificate is usable as issued: a TLS server on it, a client that trusts only the root CA.
    chain = x509.load_pem_x509_certificates(crt.read_bytes())
    root = (place.tmp / "root.pem")
    root.write_bytes(chain[-1].public_bytes(serialization.Encoding.PEM))
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(str(crt), str(key))
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve():
        conn, _ = listener.accept()
        with server_ctx.wrap_socket(conn, server_side=True) as tls:
            tls.sendall(b"ok")

    threading.Thread(target=serve, daemon=True).start()
    client_ctx = ssl.create_default_context(cafile=str(root))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            client_ctx.wrap_socket(raw, server_hostname="prometheus.svc.city.jinbao.example") as tls:
        assert tls.recv(2) == b"ok"
    listener.close()

    again = run_playbook("service_certs.yml", *place())
    assert again.returncode == 0 and again.recap("vault-01")["changed"] == 0, again.output[-3000:]


def test_an_expired_certificate_cannot_start_a_changing_playbook(place):
    run = onboard(place, "-e", "operator=op-gate-expired", "-e", "duty=system-admin", "-e", "pki_operator_ttl=4s")
    assert run.returncode == 0, run.output[-3000:]
    time.sleep(5)
    refused(run_playbook("service_certs.yml", *place(), operator="op-gate-expired"), "not_after", "expired at")
    assert gate_records(place.tmp)[-1]["result"] == "refused"


def test_a_revoked_certificate_cannot_start_a_run_nor_log_in_and_is_not_brought_back_quietly(place, second_person):
    run = onboard(place, "-e", f"operator=op-gate-revoked-{RUN}", "-e", "duty=system-admin")
    assert run.returncode == 0, run.output[-3000:]
    valid = run_playbook("service_certs.yml", *place(), operator=f"op-gate-revoked-{RUN}")
    assert valid.returncode == 0, valid.output[-3000:]  # valid until revoked
    off = run_playbook("operator_offboard.yml", *place("-e", f"operator=op-gate-revoked-{RUN}"), operator=SECADMIN)
    assert off.returncode == 0, off.output[-3000:]  # approved by an audit administrator (the second person)
    assert "waits for a second operator (an audit administrator)" in off.output
    refused(run_playbook("service_certs.yml", *place(), operator=f"op-gate-revoked-{RUN}"), "revoked", "was revoked at")
    folder = OPERATORS / f"op-gate-revoked-{RUN}"
    # Vault itself refuses it: the CRL is in auth/cert
    with pytest.raises((hvac.exceptions.Forbidden, hvac.exceptions.InvalidRequest),
                       match=r"no chain matching|permission denied"):
        hvac.Client(url=URL, verify=CA).auth.cert.login(cert_pem=str(folder / f"op-gate-revoked-{RUN}.crt"),
                                                        key_pem=str(folder / f"op-gate-revoked-{RUN}.key"))
    # ... renewal does not bring an offboarded operator back, nor does a plain onboarding ...
    renew = run_playbook("operator_renew.yml", *place("-e", f"operator=op-gate-revoked-{RUN}"), operator=SECADMIN)
    assert renew.returncode != 0 and f"op-gate-revoked-{RUN}: revoked, so not renewed" in renew.output
    again = onboard(place, "-e", f"operator=op-gate-revoked-{RUN}", "-e", "duty=system-admin")
    assert again.returncode != 0 and f"op-gate-revoked-{RUN} was offboarded" in again.output, again.output[-3000:]
    # ... only a re-enrolment with a reason, which is recorded
    back = onboard(place, "-e", f"operator=op-gate-revoked-{RUN}", "-e", "duty=system-admin",
                   "-e", json.dumps({"reenrol_reason": "back from secondment, ticket 4711"}))
    assert back.returncode == 0, back.output[-3000:]
    log = (place.tmp / "reports" / "pki" / "reenrolments.log").read_text()
    assert f"op-gate-revoked-{RUN} re-enrolled: back from secondment, ticket 4711" in log
    assert run_playbook("service_certs.yml", *place(), operator=f"op-gate-revoked-{RUN}").returncode == 0


def test_a_certificate_from_a_foreign_ca_cannot_start_a_changing_playbook(place):
    """A look-alike CA (same name as the city issuing CA, its own key) signs a perfect operator certificate."""
    city = x509.load_pem_x509_certificates((OPERATORS / "lab-sysadmin" / "lab-sysadmin.crt").read_bytes())[1]
    rogue_key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    cn = f"op-gate-foreign.{DOMAIN}"
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .issuer_name(city.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(rogue_key, hashes.SHA256()))
    folder = OPERATORS / "op-gate-foreign"
    folder.mkdir(parents=True)
    (folder / "op-gate-foreign.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "op-gate-foreign.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    refused(run_playbook("service_certs.yml", *place(), operator="op-gate-foreign"), "chain",
            "does not chain to the issuing CA")


def test_a_certificate_of_another_duty_or_of_none_or_no_certificate_is_stopped(place):
    assert onboard(place, "-e", "operator=op-gate-audit", "-e", "duty=audit-admin").returncode == 0
    refused(run_playbook("service_certs.yml", *place(), operator="op-gate-audit"), "duty",
            "service_certs.yml is the system administrator")
    refused(run_playbook("service_certs.yml", *place(), operator=SECADMIN), "duty",
            "service_certs.yml is the system administrator")
    assert onboard(place, "-e", "operator=op-gate-idle").returncode == 0  # a certificate, no duty
    refused(run_playbook("service_certs.yml", *place(), operator="op-gate-idle"), "duty", "holds no duty in Vault")
    refused(run_playbook("service_certs.yml", *place(), operator="op-gate-nobody"), "certificate",
            "no certificate on file")


def test_one_person_holds_one_duty(place):
    assert onboard(place, "-e", "operator=op-gate-one", "-e", "duty=system-admin").returncode == 0
    second = onboard(place, "-e", "operator=op-gate-one", "-e", "duty=security-admin")
    assert second.returncode != 0 and "already holds the duty system-admin; one person holds one duty" in second.output
    assert run_playbook("pki.yml", *place(), operator="op-gate-one").returncode != 0  # still not a security admin


def test_only_a_security_administrator_onboards(place):
    run = run_playbook("operator_onboard.yml", *place("-e", "operator=op-gate-self", "-e", "duty=security-admin"))
    refused(run, "duty", "operator_onboard.yml is the security administrator")  # lab-sysadmin, the default
    assert not (OPERATORS / "op-gate-self").exists()


def test_many_operators_are_onboarded_in_one_run_and_a_second_run_issues_none(place, tmp_path):
    ids = [f"op-bulk-{i:03d}" for i in range(40)]
    keys = ["-e", f"jinbao_pki_dir={tmp_path / 'operators'}"]
    run = onboard(place, *keys, "-e", json.dumps({"operators": ids}))
    assert run.returncode == 0, run.output[-3000:]
    rows = (place.tmp / "reports" / "pki" / "operators.csv").read_text().splitlines()[1:]
    assert sorted(r.split(",")[0] for r in rows) == ids
    assert all((tmp_path / "operators" / i / f"{i}.key").stat().st_mode & 0o777 == 0o600 for i in ids)
    again = onboard(place, *keys, "-e", json.dumps({"operators": ids}))
    assert again.returncode == 0 and again.recap("vault-01")["changed"] == 0, again.output[-3000:]
    renew = run_playbook("operator_renew.yml", *place(*keys), operator=SECADMIN)  # all live ones; none is due
    assert renew.returncode == 0 and renew.recap("vault-01")["changed"] == 0, renew.output[-3000:]
    never = run_playbook("operator_renew.yml", *place(*keys, "-e", "operator=op-never-seen"), operator=SECADMIN)
    assert never.returncode != 0 and "op-never-seen: no certificate to renew (onboard first)" in never.output


def test_a_sealed_vault_stops_the_gate_and_nothing_is_issued(place):
    labctl("act", "vault-01", "restart-sealed")  # the node the playbooks talk to comes back sealed
    try:
        run = run_playbook("service_certs.yml", *place())
    finally:
        labctl("up", "--only", "openbao")  # unseals
    refused(run, "sealed", "is sealed")
    assert not (place.tmp / "services").exists()
    assert not hvac.Client(url=URL, verify=CA).sys.is_sealed()
