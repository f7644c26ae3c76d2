"""The PKI hierarchy converger (plugins/module_utils/pki/hierarchy.py, vault_pki's logic) against a fake Vault client
that keeps what is written and records every call: real keys and certificates, no lab."""

from __future__ import annotations

import datetime

import hvac
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ansible_collections.jinbao.dc.plugins.module_utils.pki.hierarchy import Converger
from ansible_collections.jinbao.dc.plugins.module_utils.seams.vault import VaultError

URL = "https://vault.example:8200"
CAS = [
    {"mount": "pki-root", "common_name": "jinbao national root CA", "ttl": "87600h", "key_type": "ec", "key_bits": 384},
    {"mount": "pki-province", "parent": "pki-root", "common_name": "jinbao province CA", "ttl": "43800h"},
    {"mount": "pki-city", "parent": "pki-province", "common_name": "jinbao city issuing CA", "ttl": "26280h"},
]
ROLES = [{"mount": "pki-city", "name": "operator",
          "settings": {"allowed_domains": ["operators.city.example"], "client_flag": True, "server_flag": False,
                       "key_type": "ec", "key_bits": 256, "ttl": 259200}}]


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


class FakeVault:
    """The hvac client surface the converger uses (sys.*, adapter.get/post), over an in-memory Vault."""

    def __init__(self) -> None:
        self.mounts: dict[str, dict] = {}
        self.data: dict[str, dict] = {}   # path -> what was written there
        self.keys: dict[str, ec.EllipticCurvePrivateKey] = {}
        self.certs: dict[str, str] = {}
        self.writes: list[str] = []
        self.sys, self.adapter = self, self

    # sys
    def list_mounted_secrets_engines(self) -> dict:
        return {"data": {f"{m}/": {"config": cfg} for m, cfg in self.mounts.items()}}

    def enable_secrets_engine(self, backend_type, path, config, description) -> None:
        self.writes.append(f"enable {path}")
        self.mounts[path] = {"max_lease_ttl": int(config["max_lease_ttl"].rstrip("s"))}

    def tune_mount_configuration(self, path, max_lease_ttl) -> None:
        self.writes.append(f"tune {path}")
        self.mounts[path]["max_lease_ttl"] = int(max_lease_ttl.rstrip("s"))

    # adapter
    def get(self, url: str, raise_exception: bool = True):
        path = url.removeprefix("/v1/")
        mount, _, rest = path.partition("/")
        if rest == "cert/ca":
            return {"data": {"certificate": self.certs.get(mount, "")}}
        if path not in self.data:
            raise hvac.exceptions.InvalidPath(f"no handler for route {path}")
        return {"data": dict(self.data[path])}

    def post(self, url: str, json: dict):
        path = url.removeprefix("/v1/")
        mount, _, rest = path.partition("/")
        self.writes.append(path)
        if rest == "root/generate/internal":
            self.keys[mount] = ec.generate_private_key(ec.SECP384R1())
            self.certs[mount] = self._cert(json["common_name"], self.keys[mount], json["common_name"], self.keys[mount])
            self.data[f"{mount}/issuer/default"] = {"leaf_not_after_behavior": "truncate"}
            return {"data": {"certificate": self.certs[mount]}}
        if rest == "intermediate/generate/internal":
            self.keys[mount] = ec.generate_private_key(ec.SECP256R1())
            csr = (x509.CertificateSigningRequestBuilder().subject_name(_name(json["common_name"]))
                   .sign(self.keys[mount], hashes.SHA256()))
            return {"data": {"csr": csr.public_bytes(serialization.Encoding.PEM).decode()}}
        if rest == "root/sign-intermediate":
            csr = x509.load_pem_x509_csr(json["csr"].encode())
            issuer = x509.load_pem_x509_certificate(self.certs[mount].encode())
            pem = self._cert(json["common_name"], csr.public_key(), issuer.subject.rfc4514_string().split("=", 1)[1],
                             self.keys[mount])
            return {"data": {"certificate": pem, "ca_chain": [pem, self.certs[mount]]}}
        if rest == "intermediate/set-signed":
            end = "-----END CERTIFICATE-----"
            self.certs[mount] = json["certificate"].split(end)[0] + end + "\n"
            self.data[f"{mount}/issuer/default"] = {"leaf_not_after_behavior": "truncate"}
            return {"data": {}}
        self.data[path] = {**self.data.get(path, {}), **json}
        return {"data": {}}

    @staticmethod
    def _cert(cn: str, public_key, issuer_cn: str, signing_key) -> str:
        now = datetime.datetime.now(datetime.UTC)
        pub = public_key.public_key() if hasattr(public_key, "public_key") else public_key
        cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(issuer_cn)).public_key(pub)
                .serial_number(x509.random_serial_number()).not_valid_before(now)
                .not_valid_after(now + datetime.timedelta(days=365))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(signing_key, hashes.SHA256()))
        return cert.public_bytes(serialization.Encoding.PEM).decode()


def converge(vault: FakeVault, check_mode: bool = False, cas=CAS, roles=ROLES) -> dict:
    return Converger("vault-01", vault, URL, check_mode=check_mode).run(cas, roles)


def test_a_fresh_vault_gets_the_whole_chain_root_to_city():
    vault = FakeVault()
    result = converge(vault)
    assert result["changed"]
    chain = {c["mount"]: (c["subject"], c["issuer"]) for c in result["chain"]}
    assert chain["pki-root"] == ("CN=jinbao national root CA", "CN=jinbao national root CA")
    assert chain["pki-province"] == ("CN=jinbao province CA", "CN=jinbao national root CA")
    assert chain["pki-city"] == ("CN=jinbao city issuing CA", "CN=jinbao province CA")
    assert vault.data["pki-city/config/urls"]["crl_distribution_points"] == [f"{URL}/v1/pki-city/crl"]
    assert vault.data["pki-city/roles/operator"]["client_flag"] is True
    assert vault.data["pki-city/issuer/default"]["leaf_not_after_behavior"] == "err"


def test_a_second_run_changes_nothing_and_writes_nothing():
    vault = FakeVault()
    converge(vault)
    vault.writes.clear()
    again = converge(vault)
    assert again["changed"] is False and again["changes"] == [] and "diff" not in again
    assert vault.writes == []


def test_check_mode_on_a_fresh_vault_lists_every_change_and_writes_nothing():
    vault = FakeVault()
    result = converge(vault, check_mode=True)
    assert vault.writes == [] and vault.mounts == {}
    assert "pki-root: generate the root CA 'jinbao national root CA' (key kept inside Vault)" in result["changes"]
    assert any(c.startswith("pki-city: role operator") for c in result["changes"])
    assert result["diff"]["after"].count("\n") == len(result["changes"])


def test_a_drifted_role_setting_is_put_back_and_only_that():
    vault = FakeVault()
    converge(vault)
    vault.data["pki-city/roles/operator"]["server_flag"] = True  # changed by hand in Vault
    vault.writes.clear()
    result = converge(vault)
    assert result["changes"] == ["pki-city: role operator server_flag"]
    assert vault.writes == ["pki-city/roles/operator"] and vault.data["pki-city/roles/operator"]["server_flag"] is False


def test_a_role_on_the_root_ca_is_refused_naming_it():
    with pytest.raises(VaultError, match=r"vault-01: roles.bad: a role may not point at the root CA mount pki-root"):
        converge(FakeVault(), roles=[{"mount": "pki-root", "name": "bad", "settings": {}}])


def test_a_ca_whose_parent_comes_later_is_refused_before_any_write():
    vault = FakeVault()
    with pytest.raises(VaultError, match=r"cas.pki-city.parent: no CA with mount pki-province before it"):
        converge(vault, cas=[CAS[0], CAS[2]])
    assert vault.writes == []
