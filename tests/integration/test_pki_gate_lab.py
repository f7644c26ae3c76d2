"""Cert-gated runs, service certificates and bulk onboarding against the lab's real OpenBao server.

A changing playbook (service_certs.yml here: it needs only Vault) starts for an authorised operator with a
valid certificate, and its gate record names the certificate; an expired, revoked or foreign-CA certificate,
an unauthorised operator and a sealed Vault each stop it before any change, with the reason.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from datetime import UTC, datetime, timedelta

import hvac
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from vcsim_fixtures import LAB_STATE, ROOT, labctl, run_playbook

DOMAIN = "operators.city.jinbao.example"
URL = "https://127.0.0.1:18200"
CA = str(LAB_STATE / "pki" / "ca.crt")

pytestmark = pytest.mark.usefixtures("lab_operator")


@pytest.fixture
def place(tmp_path):
    """Keys, certificates and reports of this test in its own folders; extra vars that point there."""
    def args(runner: str = "lab-operator", *more: str) -> list[str]:
        own = ROOT / ".pki" / "operators" if runner == "lab-operator" else tmp_path / "operators"
        auth = {"lab-operator": ["service_certs", "operator_offboard"], "op-gate-expired": ["service_certs"],
                "op-gate-revoked": ["service_certs"], "op-gate-foreign": ["service_certs"],
                "op-gate-idle": []}
        return ["-e", f"jinbao_pki_dir={tmp_path / 'operators'}", "-e", f"jinbao_reports_dir={tmp_path / 'reports'}",
                "-e", f"jinbao_service_pki_dir={tmp_path / 'services'}", "-e", f"jinbao_operator={runner}",
                "-e", json.dumps({"jinbao_operator_authorisations": auth}),
                "-e", f"jinbao_operator_pki_dir={own}",
                *more]
    args.tmp = tmp_path
    return args


def gate_records(tmp_path) -> list[dict]:
    path = tmp_path / "reports" / "audit" / "gate.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def refused(run, field: str, words: str) -> None:
    assert run.returncode != 0, run.output[-3000:]
    assert "operator gate: " in run.output and f": {field}: " in run.output and words in run.output, run.output[-3000:]
    assert "The playbook stops here; nothing was changed." in run.output
    assert "Service certificates | issue and renew" not in run.output  # the changing play never started


def test_an_authorised_operator_runs_and_the_record_names_the_certificate(place):
    run = run_playbook("service_certs.yml", *place())
    assert run.returncode == 0, run.output[-3000:]
    own = ROOT / ".pki" / "operators" / "lab-operator" / "lab-operator.crt"
    cert = x509.load_pem_x509_certificate(own.read_bytes())
    serial = f"{cert.serial_number:x}"
    record = gate_records(place.tmp)[-1]
    assert record["result"] == "granted" and record["playbook"] == "service_certs"
    assert record["cn"] == f"lab-operator.{DOMAIN}" and record["serial"].replace(":", "").lstrip("0") == serial
    assert record["os_user"] and record["time"].endswith("Z")


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
    assert rows[0] == "service,serial,not_before,not_after,revoked_at" and len(rows) == 7

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
    run = run_playbook("operator_onboard.yml", *place("lab-operator", "-e", "operator=op-gate-expired",
                                                       "-e", "pki_operator_ttl=4s"))
    assert run.returncode == 0, run.output[-3000:]
    time.sleep(5)
    refused(run_playbook("service_certs.yml", *place("op-gate-expired")), "not_after", "expired at")
    assert gate_records(place.tmp)[-1]["result"] == "refused"


def test_a_revoked_certificate_cannot_start_a_changing_playbook(place):
    run = run_playbook("operator_onboard.yml", *place("lab-operator", "-e", "operator=op-gate-revoked"))
    assert run.returncode == 0, run.output[-3000:]
    assert run_playbook("service_certs.yml", *place("op-gate-revoked")).returncode == 0  # valid until revoked
    off = run_playbook("operator_offboard.yml", *place("lab-operator", "-e", "operator=op-gate-revoked"))
    assert off.returncode == 0, off.output[-3000:]
    refused(run_playbook("service_certs.yml", *place("op-gate-revoked")), "revoked", "was revoked at")
    # ... and renewal does not bring an offboarded operator back.
    renew = run_playbook("operator_renew.yml", *place("lab-operator", "-e", "operator=op-gate-revoked"))
    assert renew.returncode != 0 and "op-gate-revoked: revoked, so not renewed" in renew.output


def test_a_certificate_from_a_foreign_ca_cannot_start_a_changing_playbook(place):
    """A look-alike CA (same name as the city issuing CA, its own key) signs a perfect operator certificate."""
    city = x509.load_pem_x509_certificates((ROOT / ".pki" / "operators" / "lab-operator" /
                                            "lab-operator.crt").read_bytes())[1]
    rogue_key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    cn = f"op-gate-foreign.{DOMAIN}"
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .issuer_name(city.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(rogue_key, hashes.SHA256()))
    folder = place.tmp / "operators" / "op-gate-foreign"
    folder.mkdir(parents=True)
    (folder / "op-gate-foreign.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "op-gate-foreign.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    refused(run_playbook("service_certs.yml", *place("op-gate-foreign")), "chain", "does not chain to the issuing CA")


def test_an_operator_without_the_authorisation_or_without_a_certificate_is_stopped(place):
    run = run_playbook("operator_onboard.yml", *place("lab-operator", "-e", "operator=op-gate-idle"))
    assert run.returncode == 0, run.output[-3000:]
    refused(run_playbook("service_certs.yml", *place("op-gate-idle")), "authorisation",
            "op-gate-idle is not authorised to run service_certs")
    refused(run_playbook("service_certs.yml", *place("op-gate-nobody")), "certificate", "no certificate on file")


def test_many_operators_are_onboarded_in_one_run_and_a_second_run_issues_none(place):
    ids = [f"op-bulk-{i:03d}" for i in range(40)]
    run = run_playbook("operator_onboard.yml", *place("lab-operator", "-e", json.dumps({"operators": ids})))
    assert run.returncode == 0, run.output[-3000:]
    rows = (place.tmp / "reports" / "pki" / "operators.csv").read_text().splitlines()[1:]
    assert sorted(r.split(",")[0] for r in rows) == ids
    assert all((place.tmp / "operators" / i / f"{i}.key").stat().st_mode & 0o777 == 0o600 for i in ids)
    again = run_playbook("operator_onboard.yml", *place("lab-operator", "-e", json.dumps({"operators": ids})))
    assert again.returncode == 0 and again.recap("vault-01")["changed"] == 0, again.output[-3000:]
    renew = run_playbook("operator_renew.yml", *place("lab-operator"))  # all live ones; none is due
    assert renew.returncode == 0 and renew.recap("vault-01")["changed"] == 0, renew.output[-3000:]
    never = run_playbook("operator_renew.yml", *place("lab-operator", "-e", "operator=op-never-seen"))
    assert never.returncode != 0 and "op-never-seen: no certificate to renew (onboard first)" in never.output


def test_a_sealed_vault_stops_the_gate_and_nothing_is_issued(place):
    token = json.loads((LAB_STATE / "secrets" / "openbao-init.json").read_text())["root_token"]
    vault = hvac.Client(url=URL, token=token, verify=CA)
    vault.sys.seal()
    try:
        run = run_playbook("service_certs.yml", *place())
    finally:
        labctl("up", "--only", "openbao")  # unseals
    refused(run, "sealed", "is sealed")
    assert not (place.tmp / "services").exists()
    assert not vault.sys.is_sealed()
