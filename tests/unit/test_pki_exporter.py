"""The pki exporter against certificates and CRLs made here with `cryptography` (no Vault needed)."""

from __future__ import annotations

import datetime
import http.server
import threading
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from monitors.common.collection import targets_from_config
from monitors.common.config import ConfigError, validate_config
from monitors.pki.collector import PkiCollector
from monitors.pki.config import SCHEMA

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC)
PEM = serialization.Encoding.PEM


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(cn: str, issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None, days: int, serial: int,
          ca: bool = False) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    issuer_name, issuer_key = issuer or (_name(cn), key)
    cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(issuer_name).public_key(key.public_key())
            .serial_number(serial).not_valid_before(NOW - datetime.timedelta(days=1))
            .not_valid_after(NOW + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .sign(issuer_key, hashes.SHA256()))
    return cert, key


@pytest.fixture()
def pki(tmp_path: Path) -> dict:
    """A CA, two service certs (each file: cert + CA chain), and a CRL on which one of them is revoked."""
    ca, ca_key = _cert("test issuing CA", None, 3650, 0x10, ca=True)
    issuer = (ca.subject, ca_key)
    good, _ = _cert("exporter-pki.svc.test", issuer, 30, 0x0A0B0C)
    bad, _ = _cert("prometheus.svc.test", issuer, 90, 0x77)
    for name, cert in (("exporter-pki", good), ("prometheus", bad)):
        (tmp_path / "services" / name).mkdir(parents=True)
        (tmp_path / "services" / name / f"{name}.crt").write_bytes(cert.public_bytes(PEM) + ca.public_bytes(PEM))
    revoked = x509.RevokedCertificateBuilder().serial_number(bad.serial_number).revocation_date(NOW).build()
    crl = (x509.CertificateRevocationListBuilder().issuer_name(ca.subject).last_update(NOW)
           .next_update(NOW + datetime.timedelta(days=3)).add_revoked_certificate(revoked)
           .sign(ca_key, hashes.SHA256()))
    (tmp_path / "city.crl").write_bytes(crl.public_bytes(PEM))
    return {"dir": tmp_path, "good": good, "bad": bad, "ca": ca, "crl": crl}


def _collector(targets: list[dict]) -> PkiCollector:
    config = validate_config({"targets": targets}, SCHEMA, "pki.yml")
    return PkiCollector(targets_from_config(config), config, clock=lambda: NOW.timestamp())


def _by(collector: PkiCollector, name: str, key: str = "cn") -> dict[str, float]:
    return {s.labels.get(key, s.labels["target"]): s.value for f in collector.collect() for s in f.samples
            if s.name == name}


def test_not_after_and_not_before_come_from_the_certificate(pki):
    collector = _collector([{"name": "svc", "type": "files", "path": str(pki["dir"] / "services/*/*.crt"),
                             "kind": "service"}])
    collector.collect_now()
    not_after = _by(collector, "jinbao_pki_cert_not_after_timestamp_seconds")
    assert not_after == {"exporter-pki.svc.test": pki["good"].not_valid_after_utc.timestamp(),
                         "prometheus.svc.test": pki["bad"].not_valid_after_utc.timestamp()}
    samples = [s for f in collector.collect() for s in f.samples if s.name.endswith("not_before_timestamp_seconds")]
    assert {s.labels["kind"] for s in samples} == {"service"}  # the chain is not exposed unless asked
    assert {s.labels["serial"] for s in samples} == {"0a:0b:0c", "77"}
    assert {s.labels["issuer"] for s in samples} == {"test issuing CA"}


def test_include_chain_exposes_the_ca_once_as_kind_ca(pki):
    collector = _collector([{"name": "svc", "type": "files", "path": str(pki["dir"] / "services/*/*.crt"),
                             "kind": "service", "include_chain": True}])
    collector.collect_now()
    samples = [s for f in collector.collect() for s in f.samples if s.name.endswith("not_after_timestamp_seconds")]
    assert sorted((s.labels["cn"], s.labels["kind"]) for s in samples) == [
        ("exporter-pki.svc.test", "service"), ("prometheus.svc.test", "service"), ("test issuing CA", "ca")]


def test_a_serial_on_the_issuers_crl_reads_revoked(pki):
    collector = _collector([
        {"name": "crl", "type": "crl", "file": str(pki["dir"] / "city.crl")},
        {"name": "svc", "type": "files", "path": str(pki["dir"] / "services/*/*.crt"), "kind": "service"}])
    collector.collect_target(collector.targets[1])  # files first: the CRL is not known yet
    assert _by(collector, "jinbao_pki_cert_revoked") == {"exporter-pki.svc.test": 0.0, "prometheus.svc.test": 0.0}
    collector.collect_target(collector.targets[0])
    collector.collect_target(collector.targets[1])
    revoked = [(s.labels["target"], s.labels["cn"], s.labels["kind"], s.value) for f in collector.collect()
               for s in f.samples if s.name == "jinbao_pki_cert_revoked"]
    assert sorted(revoked) == [("crl", "prometheus.svc.test", "service", 1.0),
                               ("svc", "exporter-pki.svc.test", "service", 0.0),
                               ("svc", "prometheus.svc.test", "service", 1.0)]
    next_update = _by(collector, "jinbao_pki_crl_next_update_timestamp_seconds", "issuer")
    assert next_update == {"test issuing CA": (NOW + datetime.timedelta(days=3)).timestamp()}


def test_a_crl_is_fetched_from_a_url(pki):
    body = pki["crl"].public_bytes(serialization.Encoding.DER)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1/pki-city/crl"
        collector = _collector([{"name": "crl", "type": "crl", "url": url, "timeout_seconds": 5}])
        collector.collect_now()
        assert _by(collector, "jinbao_pki_up", "target") == {"crl": 1.0}
        assert _by(collector, "jinbao_pki_cert_revoked", "serial") == {"77": 1.0}
    finally:
        server.shutdown()


def test_garbage_pem_takes_down_only_its_own_source(pki):
    (pki["dir"] / "operators").mkdir()
    (pki["dir"] / "operators" / "broken.crt").write_text("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n"
                                                         "-----END CERTIFICATE-----\n")
    collector = _collector([
        {"name": "ops", "type": "files", "path": str(pki["dir"] / "operators/*.crt"), "kind": "operator"},
        {"name": "svc", "type": "files", "path": str(pki["dir"] / "services/*/*.crt"), "kind": "service"}])
    collector.collect_now()
    assert _by(collector, "jinbao_pki_up", "target") == {"ops": 0.0, "svc": 1.0}
    assert set(_by(collector, "jinbao_pki_cert_not_after_timestamp_seconds", "target")) == {"svc"}


def test_a_glob_that_matches_nothing_is_down_not_empty(pki):
    collector = _collector([{"name": "none", "type": "files", "path": str(pki["dir"] / "nowhere/*.crt"),
                             "kind": "ca"}])
    collector.collect_now()
    assert _by(collector, "jinbao_pki_up", "target") == {"none": 0.0}


def test_an_unreachable_crl_url_is_down(pki):
    collector = _collector([{"name": "crl", "type": "crl", "url": "http://127.0.0.1:9/crl", "timeout_seconds": 2}])
    collector.collect_now()
    assert _by(collector, "jinbao_pki_up", "target") == {"crl": 0.0}


def test_files_target_without_kind_is_refused_with_the_field_named():
    with pytest.raises(ConfigError, match=r"targets\[0\]\.kind: is missing"):
        validate_config({"targets": [{"name": "x", "type": "files", "path": "*.crt"}]}, SCHEMA, "pki.yml")


def test_example_config_is_valid():
    path = ROOT / "monitors" / "pki" / "example.yml"
    validate_config(yaml.safe_load(path.read_text()), SCHEMA, str(path))
