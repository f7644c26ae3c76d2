"""The cert gate and the renewal rule (plugins/module_utils/pki/certificates.py), on certificates made here: every
way an operator's certificate can be wrong stops the run and names the check; only the right one passes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ansible_collections.jinbao.dc.plugins.filter import pki_filters
from ansible_collections.jinbao.dc.plugins.module_utils.pki import certificates as pki
from ansible_collections.jinbao.dc.plugins.module_utils.pki.certificates import PkiError, due, gate

DOMAIN = "operators.city.jinbao.example"
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
AUTH = {"alice": ["migrate", "physical"], "auditor": []}


def name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def ca(cn: str = "jinbao city issuing CA"):
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(name(cn)).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(NOW - timedelta(days=30))
            .not_valid_after(NOW + timedelta(days=300))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(key, hashes.SHA256()))
    return cert, key


def leaf(issuer, cn: str = f"alice.{DOMAIN}", start=NOW - timedelta(hours=1), hours=72,
         usage=ExtendedKeyUsageOID.CLIENT_AUTH, key=None):
    ca_cert, ca_key = issuer
    key = key or ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + timedelta(hours=hours))
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(cn)]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return cert, key


def crl(issuer, revoked=(), next_update=NOW + timedelta(days=3)):
    ca_cert, ca_key = issuer
    builder = (x509.CertificateRevocationListBuilder().issuer_name(ca_cert.subject)
               .last_update(NOW - timedelta(hours=1)).next_update(next_update))
    for cert in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(cert.serial_number)
            .revocation_date(NOW - timedelta(minutes=5)).build())
    return builder.sign(ca_key, hashes.SHA256())


@pytest.fixture(scope="module")
def city():
    return ca()


def check(city, cert, key, *, operator="alice", playbook="migrate", the_crl=None):
    the_crl = crl(city) if the_crl is None else the_crl  # an empty CRL is falsy
    return gate(operator, playbook, [cert, city[0]], key, city[0], the_crl, DOMAIN, AUTH, now=NOW)


def test_a_valid_authorised_certificate_passes_with_its_cn_and_serial(city):
    cert, key = leaf(city)
    identity = check(city, cert, key)
    assert identity["cn"] == f"alice.{DOMAIN}"
    assert identity["serial"] == pki.serial_hex(cert)
    assert identity["playbook"] == "migrate"


def refusal(city, cert, key, **kw) -> PkiError:
    with pytest.raises(PkiError) as err:
        check(city, cert, key, **kw)
    return err.value


def test_a_certificate_from_a_foreign_ca_with_the_same_name_is_refused(city):
    cert, key = leaf(ca())  # same subject as the city CA, other key
    err = refusal(city, cert, key)
    assert err.field == "chain" and "does not chain to the issuing CA" in str(err)


def test_an_expired_certificate_is_refused_with_its_end(city):
    cert, key = leaf(city, start=NOW - timedelta(days=4), hours=72)
    err = refusal(city, cert, key)
    assert err.field == "not_after" and "expired at 2026-11-27T12:00:00Z" in str(err)


def test_a_certificate_not_yet_valid_is_refused(city):
    cert, key = leaf(city, start=NOW + timedelta(hours=2))
    assert refusal(city, cert, key).field == "not_before"


def test_a_revoked_certificate_is_refused(city):
    cert, key = leaf(city)
    err = refusal(city, cert, key, the_crl=crl(city, revoked=[cert]))
    assert err.field == "revoked" and pki.serial_hex(cert) in str(err)


def test_a_crl_that_is_stale_or_signed_by_another_ca_fails_closed(city):
    cert, key = leaf(city)
    assert refusal(city, cert, key, the_crl=crl(city, next_update=NOW - timedelta(minutes=1))).field == "crl"
    other = ca()
    assert refusal(city, cert, key, the_crl=crl(other)).field == "crl"


def test_a_server_certificate_is_not_an_operator_certificate(city):
    cert, key = leaf(city, usage=ExtendedKeyUsageOID.SERVER_AUTH)
    assert refusal(city, cert, key).field == "usage"


def test_someone_elses_certificate_or_key_is_refused(city):
    cert, key = leaf(city, cn=f"bob.{DOMAIN}")
    assert refusal(city, cert, key).field == "common_name"
    cert, _ = leaf(city)
    assert refusal(city, cert, ec.generate_private_key(ec.SECP256R1())).field == "key"
    assert refusal(city, cert, None).field == "key"


def test_an_operator_not_authorised_for_the_playbook_is_refused(city):
    cert, key = leaf(city)
    err = refusal(city, cert, key, playbook="decommission")
    assert err.field == "authorisation" and "allows: migrate, physical" in str(err)
    cert, key = leaf(city, cn=f"auditor.{DOMAIN}")
    assert "allows: nothing" in str(refusal(city, cert, key, operator="auditor"))


def test_no_certificate_says_how_to_onboard(city):
    with pytest.raises(PkiError, match=r"operator_onboard\.yml"):
        gate("alice", "migrate", [], None, city[0], crl(city), DOMAIN, AUTH, now=NOW)


WANT = {"common_name": f"alice.{DOMAIN}", "dns_sans": [], "ip_sans": []}


@pytest.mark.parametrize(("start_hours_ago", "reason"), [(1, ""), (47, ""), (49, "less than 33% of its lifetime left"),
                                                         (80, "expired")])
def test_renewal_is_due_in_the_last_third_of_the_lifetime(city, start_hours_ago, reason):
    cert, key = leaf(city, start=NOW - timedelta(hours=start_hours_ago), hours=72)
    assert due([cert], key, city[0], WANT, set(), 1 / 3, now=NOW) == reason


def test_renewal_is_due_for_a_revoked_or_foreign_certificate_or_another_key(city):
    cert, key = leaf(city)
    assert due([cert], key, city[0], WANT, {pki.serial_hex(cert)}, 1 / 3, now=NOW) == "revoked"
    assert due([cert], key, ca()[0], WANT, set(), 1 / 3, now=NOW) == "not issued by the current issuing CA"
    assert "does not match the key" in due([cert], ec.generate_private_key(ec.SECP256R1()), city[0], WANT, set(),
                                           1 / 3, now=NOW)
    assert due([], None, city[0], WANT, set(), 1 / 3, now=NOW) == "no certificate yet"
    assert "names differ" in due([cert], key, city[0], {**WANT, "dns_sans": ["x.example"]}, set(), 1 / 3, now=NOW)


def test_the_register_refuses_a_file_with_other_columns(tmp_path):
    path = tmp_path / "operators.csv"
    path.write_text("who,serial\nalice,01\n")
    with pytest.raises(PkiError, match="expected operator, serial, not_before, not_after, revoked_at"):
        pki.read_register(str(path), "operator")


def test_service_requests_put_the_cn_first_in_the_sans():

    filters = pki_filters
    out = filters.service_cert_requests([{"name": "prometheus", "dns_sans": ["localhost"], "ip_sans": ["127.0.0.1"]}],
                                        "svc.example")
    assert out == [{"name": "prometheus", "common_name": "prometheus.svc.example",
                    "dns_sans": ["prometheus.svc.example", "localhost"], "ip_sans": ["127.0.0.1"]}]


def test_the_report_section_counts_issued_revoked_and_expiring_and_checks_the_crl(city):
    alive, _ = leaf(city)
    gone, _ = leaf(city)
    lost, _ = leaf(city)  # revoked in the register but missing from the CRL: the report must say NO

    def row(cert, who, revoked_at="", not_after=None):
        return {"operator": who, "serial": pki.serial_hex(cert), "not_before": pki.iso(cert.not_valid_before_utc),
                "not_after": not_after or pki.iso(cert.not_valid_after_utc), "revoked_at": revoked_at}

    registers = {"operators": [row(alive, "alice"), row(gone, "bob", "2026-11-28T11:00:00Z"),
                               row(lost, "carol", "2026-11-28T11:00:00Z"),
                               row(alive, "dave", not_after="2026-11-01T00:00:00Z")]}
    state = pki.status([city[0]], crl(city, revoked=[gone]), registers, window_days=7, now=NOW)
    assert state["registers"] == [{"register": "operators", "issued": 4, "valid": 1, "expired": 1, "revoked": 2}]
    assert {r["subject"]: r["in_crl"] for r in state["revoked"]} == {"bob": True, "carol": False}
    assert [e["subject"] for e in state["expiring"]] == ["alice"]  # 71 hours left, inside 7 days
    titles = [t["title"] for t in pki.tables(state)]
    assert titles[0] == "PKI: CA chain (issuing CA first)" and "1 entries" in titles[2]
    assert ["operators", "carol", pki.serial_hex(lost), "2026-11-28T11:00:00Z", "NO"] in pki.tables(state)[2]["rows"]
