"""Reading certificates and CRLs with `cryptography`: PEM files, and CRLs from a file or an https URL."""

from __future__ import annotations

import ssl
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID

MAX_CRL_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True)
class CertInfo:
    cn: str
    serial: str  # lower-case hex bytes joined by colons, as Vault writes serials
    issuer: str  # the issuer's CN (or its whole name when it has none)
    issuer_der: bytes  # the issuer name, to match CRLs exactly
    not_before: float
    not_after: float


def serial_hex(number: int) -> str:
    raw = f"{number:x}"
    raw = raw.zfill(len(raw) + len(raw) % 2)
    return ":".join(raw[i:i + 2] for i in range(0, len(raw), 2))


def common_name(name: x509.Name) -> str:
    cns = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    value = cns[0].value if cns else name.rfc4514_string()
    return (value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)) or "(empty)"


def describe(cert: x509.Certificate) -> CertInfo:
    return CertInfo(cn=common_name(cert.subject), serial=serial_hex(cert.serial_number),
                    issuer=common_name(cert.issuer), issuer_der=cert.issuer.public_bytes(),
                    not_before=cert.not_valid_before_utc.timestamp(), not_after=cert.not_valid_after_utc.timestamp())


def read_pem_certs(path: Path) -> list[x509.Certificate]:
    """Every certificate in a PEM file, in order; ValueError naming the file when it holds none or garbage."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"{path}: cannot be read ({exc.strerror}); check its permissions") from None
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise ValueError(f"{path}: not a PEM certificate file ({exc}); replace it, or narrow `path` so it "
                         "matches certificates only") from None
    if not certs:
        raise ValueError(f"{path}: holds no certificate; narrow `path` so it matches certificates only")
    return certs


def parse_crl(data: bytes, source: str) -> x509.CertificateRevocationList:
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_crl(data)
        return x509.load_der_x509_crl(data)
    except ValueError as exc:
        raise ValueError(f"{source}: not a CRL in PEM or DER ({exc}); check the URL or file (a Vault PKI mount "
                         "serves it at /v1/<mount>/crl/pem)") from None


def fetch(url: str, ca_file: str | None, timeout: float) -> bytes:
    """GET `url` (https verified against `ca_file`, else the system CAs); at most 20 MiB."""
    context = ssl.create_default_context(cafile=ca_file) if url.startswith("https://") else None
    request = urllib.request.Request(url, headers={"Accept": "application/pkix-crl, application/x-pem-file"})
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            data = response.read(MAX_CRL_BYTES + 1)
    except OSError as exc:  # URLError, HTTPError, ssl.SSLError, timeouts
        raise ConnectionError(f"{url}: {getattr(exc, 'reason', None) or exc}; check the URL, that the server "
                              "runs, and ca_file") from None
    if len(data) > MAX_CRL_BYTES:
        raise ValueError(f"{url}: more than {MAX_CRL_BYTES} bytes; not a CRL this exporter will read")
    return data
