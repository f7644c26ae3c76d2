"""The seam to Vault (HashiCorp Vault or OpenBao, same HTTP API): the only place in jinbao-dc that imports hvac.

`connect()` turns every way of failing to reach a usable Vault into one `VaultError` line that names the
Vault (its inventory name), the field to look at, and what was seen:

    vault-01: vault_addr: cannot connect to https://127.0.0.1:18200 (connection refused)
    vault-01: sealed: Vault at https://127.0.0.1:18200 is sealed; nothing was read or written
    vault-01: vault_token: the token was refused (permission denied)

Callers then fail closed: nothing is issued or changed when connect() raises.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
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


# The connection options of a module that reads only public PKI endpoints, or holds the run's session (no token).
# They are what a play sets once for every module of the action group (module_defaults: group/jinbao.dc.vault).
PUBLIC_ARGS: dict[str, dict[str, Any]] = {k: v for k, v in CONNECTION_ARGS.items() if k != "token"}


def argument_spec(*, token: bool = False, **options: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A Vault module's argument spec: the connection (doc fragment jinbao.dc.vault; with `token`, also
    jinbao.dc.vault.token) plus the module's own options."""
    return {**(CONNECTION_ARGS if token else PUBLIC_ARGS), **options}


def run_module(module: Any, work: Any) -> None:
    """The body every token-holding Vault module shares: hvac present, a client for the module's connection
    options (doc fragments jinbao.dc.vault and .token), `work(client)`'s result as the module's; a VaultError
    fails the module with its one line and the field to look at."""
    if not HAS_HVAC:
        from ansible.module_utils.basic import missing_required_lib

        module.fail_json(msg=missing_required_lib("hvac"), exception=str(HVAC_IMPORT_ERROR))
    p = module.params
    try:
        result = work(connect(p["name"], p["url"], p["token"], p["ca_file"], p["timeout"]))
    except VaultError as exc:
        module.fail_json(msg=str(exc), field=exc.field)
    module.exit_json(**result)


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
    signed with the run's operator token (the cert gate's), one hvac session per thread. It connects only when a
    first CSR is signed, so a run that issues nothing never uses the token. Unit tests stand a fake in for it."""

    def __init__(self, name: str, url: str, token: str, ca_file: str | None = None,
                 timeout: float = 30.0) -> None:
        self.name, self.url, self.token = name, url, token
        self.ca_file, self.timeout = ca_file, timeout
        self._client: Any = None
        self._lock = threading.Lock()
        self._local = threading.local()

    def issuing_ca(self, mount: str) -> tuple[str, str]:
        """The PEM certificate and PEM CRL of the issuing CA at `mount`."""
        return issuing_ca(self.name, open_unsealed(self.name, self.url, self.ca_file, self.timeout), mount)

    def login(self) -> None:
        """Connect with the token (VaultError naming what to fix); sign() does it on first use."""
        with self._lock:
            if self._client is None:
                self._client = connect(self.name, self.url, self.token, self.ca_file, self.timeout)

    def sign(self, subject: str, sign_path: str, body: dict[str, Any]) -> dict[str, Any]:
        """Vault's answer (`data`: certificate, ca_chain...) to a sign request; VaultError naming `subject`."""
        self.login()
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = twin(self._client, self.timeout)
        return call(subject, sign_path, client.adapter.post, f"/v1/{sign_path}", json=body)["data"]


def cert_login(name: str, url: str, cert: str, key: str, ca_file: str | None = None, mount: str = "cert",
               role: str = "operators", timeout: float = 30.0) -> tuple[Any, dict[str, Any]]:
    """Log in with the operator's client certificate (auth/<mount>, TLS client authentication): an hvac client
    holding the new token, and the token's own view (lookup-self: accessor, entity, identity policies, expiry).
    Vault checks the chain to the city CA, the CRL it holds and the role's allowed names; a refusal is one
    VaultError line naming the check."""
    client = open_unsealed(name, url, ca_file, timeout)
    try:
        auth = client.auth.cert.login(name=role, cert_pem=cert, key_pem=key, mount_point=mount)["auth"]
    except (hvac.exceptions.Forbidden, hvac.exceptions.InvalidRequest) as exc:
        raise VaultError(name, "cert_login", f"Vault refused the certificate at auth/{mount} ({_reason(exc)}): "
                                             "revoked, expired, not issued by the city CA, or not an operator "
                                             "certificate") from None
    except hvac.exceptions.VaultError as exc:
        raise VaultError(name, "cert_login", f"auth/{mount}/login failed ({_reason(exc)})") from None
    except requests.exceptions.SSLError as exc:
        raise VaultError(name, "cert_login", f"the TLS handshake with the client certificate failed "
                                             f"({_reason(exc)})") from None
    except requests.exceptions.RequestException as exc:
        raise VaultError(name, "cert_login", f"the connection failed ({_reason(exc)})") from None
    client.token = auth["client_token"]
    me = call(name, "token lookup-self", client.auth.token.lookup_self)["data"]
    return client, {"accessor": auth["accessor"], "entity_id": auth.get("entity_id") or me.get("entity_id"),
                    "identity_policies": sorted(me.get("identity_policies") or []),
                    "expire_time": me.get("expire_time"), "metadata": auth.get("metadata") or {}}


def session_client(session: dict[str, Any], timeout: float = 30.0) -> Any:
    """An hvac client for the run's operator session (the token the gate obtained). A token within 15 minutes of
    its end is renewed first (up to the certificate login's max TTL), so a run longer than the TTL goes on."""
    if not HAS_HVAC:
        raise VaultError(session.get("vault", "vault"), "controller", f"the hvac library is missing "
                                                                      f"({HVAC_IMPORT_ERROR}); run `make deps`")
    client = hvac.Client(url=session["url"], token=session["token"], verify=session.get("ca_file") or True,
                         timeout=timeout)
    expires = session.get("expire_time")
    if expires:
        try:
            left = (datetime.fromisoformat(str(expires).replace("Z", "+00:00")) - datetime.now(UTC)).total_seconds()
        except ValueError:
            left = None
        if left is not None and left < 900:
            try:
                client.auth.token.renew_self()
            except (hvac.exceptions.VaultError, requests.exceptions.RequestException):
                pass  # the read that follows names what is wrong
    return client


def kv_read(name: str, client: Any, path: str, mount: str = "jinbao") -> dict[str, Any]:
    """The data of the KV v2 secret at `path`; VaultError names the path when it is missing or not allowed."""
    try:
        answer = client.secrets.kv.v2.read_secret_version(path=path, mount_point=mount, raise_on_deleted_version=True)
        if not answer.get("data") and answer.get("wrap_info"):
            raise VaultError(name, f"{mount}/{path}", "this credential is under two-person control: Vault releases "
                                                      "it only after an operator of another duty approved the "
                                                      "change (jinbao.dc.two_person, playbooks/approve.yml)")
        return answer["data"]["data"]
    except hvac.exceptions.InvalidPath:
        raise VaultError(name, f"{mount}/{path}", "no such credential in Vault; the security administrator puts "
                                                  "it there (playbooks/credentials.yml)") from None
    except hvac.exceptions.Forbidden:
        raise VaultError(name, f"{mount}/{path}", "this operator's duty may not read it (permission denied)") from None
    except hvac.exceptions.VaultError as exc:
        raise VaultError(name, f"{mount}/{path}", _reason(exc)) from None
    except requests.exceptions.RequestException as exc:
        raise VaultError(name, f"{mount}/{path}", f"the connection failed ({_reason(exc)})") from None
