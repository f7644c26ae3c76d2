"""Issuing many subjects' certificates (plugins/module_utils/pki/issuance.py, pki_certs' logic) against a fake signer
with a CA made here: keys stay on disk mode 0600, a second run issues nothing, a renewal-only run refuses strangers."""

from __future__ import annotations

import datetime
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ansible_collections.jinbao.dc.plugins.module_utils.pki.issuance import IssueError, Issuer, Request
from ansible_collections.jinbao.dc.plugins.module_utils.seams.vault import VaultError

NOW = datetime.datetime.now(datetime.UTC)


class FakeSigner:
    """A local issuing CA standing in for seams/vault.Signer; `refuse` names subjects Vault refuses."""

    def __init__(self, refuse=()) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "city issuing CA")])
        self.ca = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(self.key.public_key())
                   .serial_number(1).not_valid_before(NOW - datetime.timedelta(days=1))
                   .not_valid_after(NOW + datetime.timedelta(days=3650))
                   .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                   .sign(self.key, hashes.SHA256()))
        self.refuse, self.signed, self.logins = set(refuse), [], 0

    def issuing_ca(self, mount):
        crl = (x509.CertificateRevocationListBuilder().issuer_name(self.ca.subject).last_update(NOW)
               .next_update(NOW + datetime.timedelta(days=1)).sign(self.key, hashes.SHA256()))
        return (self.ca.public_bytes(serialization.Encoding.PEM).decode(),
                crl.public_bytes(serialization.Encoding.PEM).decode())

    def login(self):
        self.logins += 1

    def sign(self, subject, sign_path, body):
        if subject in self.refuse:
            raise VaultError(subject, sign_path, "common name not allowed by this role")
        csr = x509.load_pem_x509_csr(body["csr"].encode())
        cert = (x509.CertificateBuilder().subject_name(csr.subject).issuer_name(self.ca.subject)
                .public_key(csr.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(NOW - datetime.timedelta(minutes=1)).not_valid_after(NOW + datetime.timedelta(days=3))
                .sign(self.key, hashes.SHA256()))
        self.signed.append(subject)
        return {"certificate": cert.public_bytes(serialization.Encoding.PEM).decode(),
                "ca_chain": [self.ca.public_bytes(serialization.Encoding.PEM).decode()]}


def request(tmp_path, **kw) -> Request:
    return Request(mount="pki-city", sign_path="pki-city/sign/operator", dir=str(tmp_path / "operators"),
                   register=str(tmp_path / "operators.csv"), **kw)


CERTS = [{"name": "alice", "common_name": "alice.operators.city.example"},
         {"name": "bob", "common_name": "bob.operators.city.example"}]


def test_each_subject_gets_a_private_key_and_a_certificate_and_a_second_run_issues_nothing(tmp_path):
    signer = FakeSigner()
    first = Issuer(signer, request(tmp_path)).run(CERTS)
    assert first["changed"] and sorted(i["name"] for i in first["issued"]) == ["alice", "bob"]
    key = tmp_path / "operators" / "alice" / "alice.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert (tmp_path / "operators.csv").read_text().count("\n") == 3  # header and one row each
    again = Issuer(signer, request(tmp_path)).run(CERTS)
    assert not again["changed"] and sorted(again["kept"]) == ["alice", "bob"]
    assert sorted(signer.signed) == ["alice", "bob"]
    assert signer.logins == 1  # the second run, with nothing due, did not log in


def test_check_mode_lists_who_would_be_issued_and_writes_nothing(tmp_path):
    signer = FakeSigner()
    result = Issuer(signer, request(tmp_path), check_mode=True).run(CERTS)
    assert result["changed"] and result["diff"]["after"].startswith("issue alice (no certificate yet)")
    assert signer.signed == [] and not (tmp_path / "operators").exists()


def test_a_renewal_only_run_refuses_a_subject_never_onboarded_and_issues_nobody(tmp_path):
    with pytest.raises(IssueError, match=r"renewal refused, nothing issued: alice: no certificate to renew"):
        Issuer(FakeSigner(), request(tmp_path, renew_only=True)).run(CERTS[:1])


def test_a_refused_subject_is_named_and_the_others_keep_their_certificates(tmp_path):
    with pytest.raises(IssueError) as err:
        Issuer(FakeSigner(refuse={"bob"}), request(tmp_path)).run(CERTS)
    assert str(err.value).startswith("1 of 2 certificates were not issued: bob: pki-city/sign/operator: refused")
    assert [i["name"] for i in err.value.result["issued"]] == ["alice"]
    assert "alice" in (tmp_path / "operators.csv").read_text()


def test_a_subject_name_that_is_not_an_id_is_refused_before_vault_is_asked(tmp_path):
    signer = FakeSigner()
    with pytest.raises(IssueError, match=r"certs\[0\]: name: 'Alice!' is not a subject ID"):
        Issuer(signer, request(tmp_path)).run([{"name": "Alice!", "common_name": "a.example"}])
    assert signer.logins == 0
