"""Certificates on the controller: keys, requests, the certificate registers and the operator gate.

Everything here is pure Python over the `cryptography` library (the one community.crypto itself uses), with
no Vault and no Ansible in it, so it is unit-tested without the lab:

* keys are made here and never leave the controller (written atomically with mode 0600);
* `due()` decides whether a certificate must be (re)issued: none yet, not signed by the current issuing CA,
  not matching its key, revoked, or less than the renewal share of its lifetime left;
* the register (reports/pki/<kind>.csv) has one row per certificate: subject, serial, not_before, not_after,
  revoked_at;
* `gate()` is the check that starts every changing playbook (operator_gate): the operator's certificate
  chains to the issuing CA, is in its validity period, is not in a CRL signed by that CA, matches the key the
  operator holds, names the operator, and the operator is authorised for the playbook.
"""

from __future__ import annotations

import csv
import io
import ipaddress
import os
import tempfile
from datetime import UTC, datetime

try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    HAS_CRYPTOGRAPHY = True
    CRYPTOGRAPHY_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - reported by the module through missing_required_lib
    HAS_CRYPTOGRAPHY = False
    CRYPTOGRAPHY_IMPORT_ERROR = exc

REGISTER_TAIL = ("serial", "not_before", "not_after", "revoked_at")
KEY_TYPES = {("ec", 256), ("ec", 384), ("rsa", 2048), ("rsa", 3072), ("rsa", 4096)}


class PkiError(Exception):
    """One line naming the subject (operator or service), the field and what is wrong."""

    def __init__(self, subject: str, field: str, message: str) -> None:
        super().__init__(f"{subject}: {field}: {message}")
        self.subject = subject
        self.field = field
        self.message = message


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def serial_hex(cert: x509.Certificate) -> str:
    """The serial the way Vault writes it: lower-case hex bytes joined by colons."""
    return _hex(cert.serial_number)


def _hex(number: int) -> str:
    raw = f"{number:x}"
    raw = raw.zfill(len(raw) + len(raw) % 2)
    return ":".join(raw[i:i + 2] for i in range(0, len(raw), 2))


# --- files --------------------------------------------------------------------------------------------------
def write_atomic(path: str, data: bytes, mode: int) -> None:
    """Write `path` so that a reader sees the old file or the new one, never a part; the mode is set before
    any byte is written (a key is never readable by others, not even for a moment)."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, mode=0o700, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def revoked_serials(crl: x509.CertificateRevocationList) -> set[str]:
    return {_hex(r.serial_number) for r in crl}


def load_chain(path: str) -> list[x509.Certificate]:
    """The certificates of a PEM file, leaf first; [] when the file does not exist."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        return []
    return x509.load_pem_x509_certificates(data)


def load_key(path: str):
    try:
        with open(path, "rb") as fh:
            return serialization.load_pem_private_key(fh.read(), password=None)
    except FileNotFoundError:
        return None


def new_key(key_type: str, key_bits: int):
    if (key_type, key_bits) not in KEY_TYPES:
        raise ValueError(f"key type {key_type} {key_bits} is not one of "
                         f"{', '.join(f'{t} {b}' for t, b in sorted(KEY_TYPES))}")
    if key_type == "ec":
        return ec.generate_private_key(ec.SECP256R1() if key_bits == 256 else ec.SECP384R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=key_bits)


def key_matches(key, key_type: str, key_bits: int) -> bool:
    if key_type == "ec":
        return isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size == key_bits
    return isinstance(key, rsa.RSAPrivateKey) and key.key_size == key_bits


def key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def csr_pem(key, common_name: str, dns_sans: list[str] = (), ip_sans: list[str] = (),
            server: bool = False) -> str:
    """A certificate request: the CN, the SANs asked for, and the usages (clientAuth, plus serverAuth for a
    service). Vault's role decides what it accepts; the request never carries the key."""
    names = [x509.DNSName(n) for n in dns_sans] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ip_sans]
    usages = [ExtendedKeyUsageOID.CLIENT_AUTH] + ([ExtendedKeyUsageOID.SERVER_AUTH] if server else [])
    builder = (x509.CertificateSigningRequestBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
               .add_extension(x509.ExtendedKeyUsage(usages), critical=False))
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


def same_public_key(key, cert: x509.Certificate) -> bool:
    fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return key.public_key().public_bytes(*fmt) == cert.public_key().public_bytes(*fmt)


def signed_by(cert, issuer: x509.Certificate) -> bool:
    """Whether `cert` (a certificate or a CRL) carries a valid signature of `issuer`."""
    try:
        if isinstance(cert, x509.CertificateRevocationList):
            return cert.issuer == issuer.subject and cert.is_signature_valid(issuer.public_key())
        cert.verify_directly_issued_by(issuer)
        return True
    except (InvalidSignature, ValueError, TypeError):
        return False


def common_name(cert: x509.Certificate) -> str:
    attrs = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else ""


def sans(cert: x509.Certificate) -> tuple[list[str], list[str]]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], []
    return ext.get_values_for_type(x509.DNSName), [str(i) for i in ext.get_values_for_type(x509.IPAddress)]


# --- renewal -------------------------------------------------------------------------------------------------
def due(chain: list[x509.Certificate], key, issuing_ca: x509.Certificate | None, want: dict,
        revoked_serials: set[str], fraction: float, now: datetime | None = None) -> str:
    """Why a certificate must be issued now, or '' when the one on file stays.

    `want` holds common_name, dns_sans and ip_sans. A certificate is kept only while it is the one asked for,
    issued by the current issuing CA, matches the key, is not revoked, and has at least `fraction` of its
    lifetime left."""
    now = now or utcnow()
    if not chain:
        return "no certificate yet"
    cert = chain[0]
    if key is None or not same_public_key(key, cert):
        return "the certificate does not match the key on file"
    if issuing_ca is not None and not signed_by(cert, issuing_ca):
        return "not issued by the current issuing CA"
    if common_name(cert) != want["common_name"]:
        return f"CN {common_name(cert)} is not {want['common_name']}"
    dns, ips = sans(cert)
    cn = {want["common_name"]}  # Vault adds the CN to the DNS SANs unless a role says otherwise
    if set(dns) - cn != set(want.get("dns_sans") or []) - cn or set(ips) != set(want.get("ip_sans") or []):
        return "its names differ from the ones asked for"
    if serial_hex(cert) in revoked_serials:
        return "revoked"
    life = (cert.not_valid_after_utc - cert.not_valid_before_utc).total_seconds()
    left = (cert.not_valid_after_utc - now).total_seconds()
    if left <= 0:
        return "expired"
    if left / max(life, 1) < fraction:
        return f"less than {fraction:.0%} of its lifetime left"
    return ""


# --- the register -------------------------------------------------------------------------------------------
def read_register(path: str, subject: str) -> dict[str, dict[str, str]]:
    """Rows by serial. A file with other columns is an error naming them (the register is never overwritten
    with a guess)."""
    columns = (subject, *REGISTER_TAIL)
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            if reader.fieldnames and tuple(reader.fieldnames) != columns:
                raise PkiError(path, "columns", f"expected {', '.join(columns)}, found {', '.join(reader.fieldnames)};"
                                                " fix or move the file")
            return {r["serial"]: r for r in reader}
    except FileNotFoundError:
        return {}


def write_register(path: str, subject: str, rows: dict[str, dict[str, str]]) -> None:
    columns = (subject, *REGISTER_TAIL)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(sorted(rows.values(), key=lambda r: (r[subject], r["not_before"], r["serial"])))
    write_atomic(path, out.getvalue().encode(), 0o644)


def register_row(subject: str, name: str, cert: x509.Certificate) -> dict[str, str]:
    return {subject: name, "serial": serial_hex(cert), "not_before": iso(cert.not_valid_before_utc),
            "not_after": iso(cert.not_valid_after_utc), "revoked_at": ""}


# --- the gate ------------------------------------------------------------------------------------------------
def gate(operator: str, playbook: str, chain: list[x509.Certificate], key, issuing_ca: x509.Certificate,
         crl: x509.CertificateRevocationList | None, domain: str, authorisations: dict[str, list[str]] | None = None,
         now: datetime | None = None) -> dict:
    """The identity a run proceeds under, or PkiError naming the operator, the failed check and the reason.
    Without `authorisations` only the certificate is checked: the duty then comes from Vault (pki/duties.py)."""
    now = now or utcnow()
    if not chain:
        raise PkiError(operator, "certificate", "no certificate on file; onboard the operator first "
                                                "(playbooks/operator_onboard.yml -e operator=<id>)")
    cert = chain[0]
    serial = serial_hex(cert)
    if not signed_by(cert, issuing_ca):
        raise PkiError(operator, "chain", f"certificate {serial} (issuer {cert.issuer.rfc4514_string()}) does not "
                                          f"chain to the issuing CA {issuing_ca.subject.rfc4514_string()}")
    if now < cert.not_valid_before_utc:
        raise PkiError(operator, "not_before", f"certificate {serial} is not valid before "
                                               f"{iso(cert.not_valid_before_utc)}")
    if now >= cert.not_valid_after_utc:
        raise PkiError(operator, "not_after", f"certificate {serial} expired at {iso(cert.not_valid_after_utc)}; "
                                              "renew it (playbooks/operator_renew.yml)")
    if crl is None or not signed_by(crl, issuing_ca):
        raise PkiError(operator, "crl", "the issuing CA's CRL is missing or not signed by it; refusing to run")
    if crl.next_update_utc is not None and crl.next_update_utc < now:
        raise PkiError(operator, "crl", f"the issuing CA's CRL is stale (next update was "
                                        f"{iso(crl.next_update_utc)}); refusing to run")
    revoked = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
    if revoked is not None:
        raise PkiError(operator, "revoked", f"certificate {serial} was revoked at "
                                            f"{iso(revoked.revocation_date_utc)} (it is in the issuing CA's CRL)")
    try:
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        usages = []
    if ExtendedKeyUsageOID.CLIENT_AUTH not in usages:
        raise PkiError(operator, "usage", f"certificate {serial} is not a client (operator) certificate")
    cn = common_name(cert)
    if cn != f"{operator}.{domain}":
        raise PkiError(operator, "common_name", f"certificate {serial} names {cn}, not {operator}.{domain}")
    if key is None or not same_public_key(key, cert):
        raise PkiError(operator, "key", f"the private key on file does not belong to certificate {serial}")
    allowed = (authorisations or {}).get(operator) or []
    if authorisations is not None and playbook not in allowed:
        raise PkiError(operator, "authorisation", f"{operator} is not authorised to run {playbook} "
                                                  f"(jinbao_operator_authorisations allows: "
                                                  f"{', '.join(allowed) or 'nothing'})")
    return {"operator": operator, "cn": cn, "serial": serial, "not_after": iso(cert.not_valid_after_utc),
            "issuer": cert.issuer.rfc4514_string(), "playbook": playbook}


# --- the report ---------------------------------------------------------------------------------------------
def status(chain: list[x509.Certificate], crl: x509.CertificateRevocationList,
           registers: dict[str, list[dict[str, str]]], window_days: int, now: datetime | None = None) -> dict:
    """The PKI as an auditor reads it: the CA chain, every register's certificates issued and revoked (each
    revocation checked against the CA's CRL), and the live certificates that expire within `window_days`."""
    now = now or utcnow()
    in_crl = revoked_serials(crl)
    cas = [{"subject": c.subject.rfc4514_string(), "issuer": c.issuer.rfc4514_string(), "serial": serial_hex(c),
            "not_after": iso(c.not_valid_after_utc), "key": _key_text(c)} for c in chain]
    summary, revoked, expiring = [], [], []
    for kind, rows in sorted(registers.items()):
        subject = "operator" if kind == "operators" else "service"
        live = expired = 0
        for row in rows:
            not_after = datetime.strptime(row["not_after"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=now.tzinfo)
            if row["revoked_at"]:
                revoked.append({"register": kind, "subject": row[subject], "serial": row["serial"],
                                "revoked_at": row["revoked_at"], "in_crl": row["serial"] in in_crl
                                or not_after < now})  # an expired certificate leaves the CRL on tidy
            elif not_after < now:
                expired += 1
            else:
                live += 1
                if (not_after - now).total_seconds() < window_days * 86400:
                    expiring.append({"register": kind, "subject": row[subject], "serial": row["serial"],
                                     "not_after": row["not_after"]})
        summary.append({"register": kind, "issued": len(rows), "valid": live, "expired": expired,
                        "revoked": sum(1 for r in rows if r["revoked_at"])})
    return {"chain": cas, "registers": summary, "revoked": revoked,
            "expiring": sorted(expiring, key=lambda e: e["not_after"]), "window_days": window_days,
            "crl": {"entries": len(in_crl), "this_update": iso(crl.last_update_utc),
                    "next_update": iso(crl.next_update_utc) if crl.next_update_utc else ""}}


def _key_text(cert: x509.Certificate) -> str:
    key = cert.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"EC {key.curve.name}"
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA {key.key_size}"
    return type(key).__name__


def tables(state: dict) -> list[dict]:
    """The PKI section of the consolidation report, as the report's plain tables."""
    return [
        {"title": "PKI: CA chain (issuing CA first)", "columns": ["CA", "issued by", "key", "serial", "valid until"],
         "rows": [[c["subject"], c["issuer"], c["key"], c["serial"], c["not_after"]] for c in state["chain"]]},
        {"title": "PKI: certificates issued and revoked",
         "columns": ["register", "issued", "valid now", "expired", "revoked"],
         "rows": [[r["register"], r["issued"], r["valid"], r["expired"], r["revoked"]] for r in state["registers"]]},
        {"title": f"PKI: revocations (CRL of {state['crl']['this_update']}: {state['crl']['entries']} entries)",
         "columns": ["register", "subject", "serial", "revoked at", "in the CRL"],
         "rows": [[r["register"], r["subject"], r["serial"], r["revoked_at"], "yes" if r["in_crl"] else "NO"]
                  for r in state["revoked"]]},
        {"title": f"PKI: valid certificates expiring within {state['window_days']} days",
         "columns": ["register", "subject", "serial", "valid until"],
         "rows": [[e["register"], e["subject"], e["serial"], e["not_after"]] for e in state["expiring"]]},
    ]
