"""The seam to Vault (HashiCorp Vault or OpenBao, same HTTP API): the only place in jinbao-dc that imports hvac.

`connect()` turns every way of failing to reach a usable Vault into one `VaultError` line that names the
Vault (its inventory name), the field to look at, and what was seen:

    vault-01: vault_addr: cannot connect to https://127.0.0.1:18200 (connection refused)
    vault-01: sealed: Vault at https://127.0.0.1:18200 is sealed; nothing was read or written
    vault-01: vault_token: the token was refused (permission denied)

Callers then fail closed: nothing is issued or changed when connect() raises.
"""

from __future__ import annotations

import json
import threading
from typing import Any

try:
    import hvac
    import requests

    HAS_HVAC = True
    HVAC_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - reported by the module through missing_required_lib
    HAS_HVAC = False
    HVAC_IMPORT_ERROR = exc


class VaultError(Exception):
    """A Vault operation failed; str() is one line: '<vault>: <field>: <what happened>'."""

    def __init__(self, subject: str, field: str, message: str) -> None:
        super().__init__(f"{subject}: {field}: {message}")
        self.subject = subject
        self.field = field
        self.message = message


CONNECTION_ARGS: dict[str, dict[str, Any]] = {
    "name": {"type": "str", "required": True},
    "url": {"type": "str", "required": True},
    "token": {"type": "str", "required": True, "no_log": True},
    "ca_file": {"type": "path"},
    "timeout": {"type": "float", "default": 30.0},
}


# The connection options of a module that reads only public PKI endpoints or logs in by AppRole (no token).
# They are what a play sets once for every module of the action group (module_defaults: group/jinbao.dc.vault).
PUBLIC_ARGS: dict[str, dict[str, Any]] = {k: v for k, v in CONNECTION_ARGS.items() if k != "token"}


def argument_spec(*, token: bool = False, **options: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A Vault module's argument spec: the connection (doc fragment jinbao.dc.vault; with `token`, also
    jinbao.dc.vault.token) plus the module's own options."""
    return {**(CONNECTION_ARGS if token else PUBLIC_ARGS), **options}


def twin(client: Any, timeout: float = 30.0) -> Any:
    """A second client with the same address, trust and token, on its own HTTP session: one per thread."""
    return hvac.Client(url=client.url, token=client.token, verify=client.session.verify, timeout=timeout)


def connect(name: str, url: str, token: str, ca_file: str | None = None, timeout: float = 30.0) -> Any:
    """An authenticated hvac client for an unsealed Vault, or VaultError naming what to fix."""
    client = open_unsealed(name, url, ca_file, timeout, token=token)
    try:
        client.auth.token.lookup_self()
    except (hvac.exceptions.Forbidden, hvac.exceptions.Unauthorized) as exc:
        raise VaultError(name, "vault_token", f"the token was refused ({_reason(exc)})") from None
    return client


def connect_approle(name: str, url: str, approle_file: str, ca_file: str | None = None, timeout: float = 30.0,
                    mount: str = "approle") -> Any:
    """A client logged in with the AppRole whose role_id and secret_id pki.yml keeps in `approle_file` (JSON,
    mode 0600). The secret ID is read here, so it never travels through module arguments or task output."""
    try:
        with open(approle_file, encoding="utf-8") as fh:
            creds = json.load(fh)
        role_id, secret_id = str(creds["role_id"]), str(creds["secret_id"])
    except OSError as exc:
        raise VaultError(name, "vault_approle_file", f"cannot read {approle_file} ({exc.strerror}); "
                                                     "pki.yml writes it") from None
    except (ValueError, KeyError, TypeError):
        raise VaultError(name, "vault_approle_file", f"{approle_file} is not JSON with role_id and secret_id; "
                                                     "run pki.yml to write it again") from None
    client = open_unsealed(name, url, ca_file, timeout)
    try:
        client.auth.approle.login(role_id=role_id, secret_id=secret_id, mount_point=mount)
    except (hvac.exceptions.Forbidden, hvac.exceptions.Unauthorized, hvac.exceptions.InvalidRequest) as exc:
        raise VaultError(name, "vault_approle_file", f"the AppRole in {approle_file} was refused "
                                                     f"({_reason(exc)}); run pki.yml to renew it") from None
    return client


def open_unsealed(name: str, url: str, ca_file: str | None = None, timeout: float = 30.0,
                  token: str | None = None) -> Any:
    """An hvac client (with `token`, or none: for public PKI reads) once Vault answers, initialised and unsealed."""
    if not HAS_HVAC:
        raise VaultError(name, "controller", f"the hvac library is missing ({HVAC_IMPORT_ERROR}); run `make deps`")
    client = hvac.Client(url=url, token=token, verify=ca_file or True, timeout=timeout)
    try:
        status = client.sys.read_seal_status()
    except requests.exceptions.SSLError as exc:
        raise VaultError(name, "vault_ca_file", f"the certificate of {url} does not verify against "
                                                f"{ca_file or 'the system trust store'} ({_reason(exc)})") from None
    except requests.exceptions.ConnectionError as exc:
        raise VaultError(name, "vault_addr", f"cannot connect to {url} ({_reason(exc)})") from None
    except requests.exceptions.Timeout:
        raise VaultError(name, "vault_addr", f"{url} did not answer within {timeout:g}s") from None
    except hvac.exceptions.VaultError as exc:
        raise VaultError(name, "vault_addr", f"{url} answered with an error: {exc}") from None
    if not status.get("initialized", True):
        raise VaultError(name, "initialized", f"Vault at {url} is not initialised; nothing was read or written")
    if status.get("sealed"):
        raise VaultError(name, "sealed", f"Vault at {url} is sealed; unseal it first (the lab: make lab-up). "
                                         "Nothing was read or written")
    return client


def call(name: str, what: str, fn, /, *args, **kwargs) -> Any:
    """Run one hvac call; Vault's own reason becomes one VaultError line naming `what`."""
    try:
        return fn(*args, **kwargs)
    except hvac.exceptions.VaultError as exc:
        raise VaultError(name, what, _reason(exc)) from None
    except requests.exceptions.RequestException as exc:
        raise VaultError(name, what, f"the connection failed ({_reason(exc)})") from None


def read_or_none(name: str, what: str, fn, /, *args, **kwargs) -> Any:
    """Like call(), for a read: what Vault does not have (a 404) is None, any other failure a VaultError."""
    try:
        return fn(*args, **kwargs)
    except hvac.exceptions.InvalidPath:
        return None
    except hvac.exceptions.VaultError as exc:
        raise VaultError(name, what, _reason(exc)) from None
    except requests.exceptions.RequestException as exc:
        raise VaultError(name, what, f"the connection failed ({_reason(exc)})") from None


def approle_works(url: str, ca_file: str | bool, role_id: str, secret_id: str, mount: str = "approle",
                  timeout: float = 10.0) -> bool:
    """Whether an AppRole's role ID and secret ID still log in (the probe's token is revoked at once)."""
    probe = hvac.Client(url=url, verify=ca_file, timeout=timeout)
    try:
        probe.auth.approle.login(role_id=role_id, secret_id=secret_id, mount_point=mount)
    except (hvac.exceptions.VaultError, requests.exceptions.RequestException):
        return False
    try:
        probe.auth.token.revoke_self()
    except (hvac.exceptions.VaultError, requests.exceptions.RequestException):
        pass  # the token expires with its TTL anyway
    return True


def _reason(exc: BaseException) -> str:
    errors = getattr(exc, "errors", None)
    if errors:
        return "; ".join(str(e) for e in errors)
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]


def issuing_ca(name: str, client: Any, mount: str) -> tuple[str, str]:
    """The PEM certificate and the PEM CRL of the CA at `mount` (both public, unauthenticated reads)."""
    try:
        ca = call(name, f"{mount}/ca/pem", client.secrets.pki.read_ca_certificate, mount_point=mount)
        crl = call(name, f"{mount}/crl/pem", client.secrets.pki.read_crl, mount_point=mount)
    except VaultError as exc:  # an unmounted path answers 'permission denied' to a caller without a token
        raise VaultError(name, exc.field, f"cannot read the issuing CA's certificate and CRL ({exc.message}); "
                                          "has pki.yml built the PKI?") from None
    if "BEGIN CERTIFICATE" not in ca:
        raise VaultError(name, f"{mount}/ca/pem", f"no CA certificate at {mount}; has pki.yml built the PKI?")
    if "BEGIN X509 CRL" not in crl:
        raise VaultError(name, f"{mount}/crl/pem", f"no CRL at {mount}; has pki.yml built the PKI?")
    return ca, crl


class Signer:
    """The Vault side of certificate issuance (pki_certs): the issuing CA and its CRL (public reads), and CSRs
    signed as the AppRole kept in `approle_file`, one hvac session per thread. It logs in only when a first
    CSR is signed, so a run that issues nothing never logs in. Unit tests stand a fake in for it."""

    def __init__(self, name: str, url: str, approle_file: str, ca_file: str | None = None,
                 timeout: float = 30.0) -> None:
        self.name, self.url, self.approle_file = name, url, approle_file
        self.ca_file, self.timeout = ca_file, timeout
        self._client: Any = None
        self._lock = threading.Lock()
        self._local = threading.local()

    def issuing_ca(self, mount: str) -> tuple[str, str]:
        """The PEM certificate and PEM CRL of the issuing CA at `mount`."""
        return issuing_ca(self.name, open_unsealed(self.name, self.url, self.ca_file, self.timeout), mount)

    def login(self) -> None:
        """Log in as the AppRole (VaultError naming what to fix); sign() does it on first use."""
        with self._lock:
            if self._client is None:
                self._client = connect_approle(self.name, self.url, self.approle_file, self.ca_file, self.timeout)

    def sign(self, subject: str, sign_path: str, body: dict[str, Any]) -> dict[str, Any]:
        """Vault's answer (`data`: certificate, ca_chain...) to a sign request; VaultError naming `subject`."""
        self.login()
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = twin(self._client, self.timeout)
        return call(subject, sign_path, client.adapter.post, f"/v1/{sign_path}", json=body)["data"]
