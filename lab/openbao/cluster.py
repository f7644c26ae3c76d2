"""The lab's OpenBao raft cluster seen from outside: each node's role, the leader, the voters, and a leader kill.

Every function takes one node (a lab.openbao.service.Service); its siblings come from its
`vault_cluster_nodes`. Seal status and leader status are unauthenticated. The raft configuration needs a
token: the lab uses the root token of .lab/secrets/openbao-init.json for it, here only, because the lab
bootstraps the facility (nothing outside lab/ reads the root token this way), and only until labctl up's
security bootstrap revokes it; after that, a settled cluster is one whose unsealed nodes follow one leader.

    from lab.openbao import cluster
    old = cluster.leader(node)       # the Service of the current leader, or None
    cluster.kill(old)                # SIGKILL its process
    cluster.await_leader(node, exclude={old.name})
    old.start()                      # restarts, unseals, rejoins (= labctl up --only <old.name>)
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lab import common

if TYPE_CHECKING:
    from lab.openbao.service import Service


def client(url: str, ca_file: Path, token: str | None = None, timeout: float = 10.0) -> Any:
    """An hvac client for one node, verifying its certificate against the lab CA."""
    import hvac

    return hvac.Client(url=url, token=token, verify=str(ca_file), timeout=timeout)


def nodes(node: Service) -> list[Service]:
    """Every node of the cluster `node` belongs to (itself included), by name."""
    return [node if name == node.name else node.sibling(name) for name in sorted(node.nodes)]


def _seal_status(node: Service) -> dict | None:
    if not common.port_open(node.address, node.port):
        return None
    try:
        return client(node.url, node.lab.ca_cert, timeout=5).sys.read_seal_status()
    except Exception:
        return None


def initialised(node: Service) -> bool:
    """The node answers and is initialised (it holds the cluster's data, or has been let in to it)."""
    return bool((_seal_status(node) or {}).get("initialized"))


def unsealed(node: Service) -> bool:
    status = _seal_status(node)
    return bool(status and status.get("initialized") and not status.get("sealed"))


def _leader_status(node: Service) -> dict | None:
    if not unsealed(node):
        return None
    try:
        return client(node.url, node.lab.ca_cert, timeout=5).sys.read_leader_status()
    except Exception:
        return None


def leader(node: Service) -> Service | None:
    """The node that is the cluster's active node (raft leader), or None while there is none."""
    for each in nodes(node):
        status = _leader_status(each)
        if status and status.get("is_self"):
            return each
    return None


def role(node: Service) -> str:
    """`leader`, `follower of <leader>` or `no leader` (an unsealed node); `sealed` or `down` otherwise."""
    status = _seal_status(node)
    if status is None:
        return "down"
    if not status.get("initialized") or status.get("sealed"):
        return "sealed"
    info = _leader_status(node) or {}
    if info.get("is_self"):
        return "leader"
    address = info.get("leader_address") or ""
    if not address:
        return "no leader"
    name = next((n for n, url in node.nodes.items() if url == address.rstrip("/")), address)
    return f"follower of {name}"


def describe(node: Service) -> str:
    """Every node's role in one line: `vault-01 leader, vault-02 follower of vault-01, vault-03 down`."""
    return ", ".join(f"{each.name} {role(each)}" for each in nodes(node))


def root_token(node: Service) -> str | None:
    """The root token of `operator init`, while the lab still holds it: labctl up's security bootstrap
    (lab/security.py) revokes it and keeps only the unseal key, and then this is None."""
    try:
        return json.loads(node.init_file.read_text()).get("root_token") or None
    except (OSError, ValueError):
        return None


def raft_servers(node: Service) -> list[dict]:
    """sys/storage/raft/configuration, asked of `node` (a follower forwards it to the leader): node_id,
    address, leader, voter for each raft server. Needs the root token (see root_token)."""
    token = root_token(node)
    if token is None:
        raise common.LabError(f"{node.name}: the raft configuration needs a token, and the root token in "
                              f"{node.init_file} is revoked (labctl up's security bootstrap)")
    answer = client(node.url, node.lab.ca_cert, token=token, timeout=10).sys.read_raft_config()
    return answer["data"]["config"]["servers"]


def await_leader(node: Service, exclude: set[str] | frozenset[str] = frozenset(), timeout: float = 120.0) -> Service:
    """Wait until a node not in `exclude` leads the cluster; return it."""
    deadline = time.monotonic() + timeout
    while True:
        found = next((each for each in nodes(node) if each.name not in exclude
                      and (_leader_status(each) or {}).get("is_self")), None)
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise common.LabError(f"{node.name}: no leader (other than {', '.join(sorted(exclude)) or 'none'}) "
                                  f"after {timeout:.0f}s: {describe(node)}")
        time.sleep(0.5)


def await_voters(node: Service, timeout: float = 120.0) -> None:
    """Wait until the cluster has a leader and every unsealed node is a voter. With fewer than a quorum of
    nodes unsealed there can be no leader yet: return at once (the next node's start waits instead).
    Once the root token is revoked (the lab's security bootstrap), the voters cannot be read: then every
    unsealed node following the leader is enough (a restarted node is a voter already; only a node that
    joins afresh is a non-voter for autopilot's stabilisation time, and a fresh cluster has its root token)."""
    if len(node.nodes) == 1:
        return
    quorum = len(node.nodes) // 2 + 1
    deadline = time.monotonic() + timeout
    while True:
        up = [each for each in nodes(node) if unsealed(each)]
        if len(up) < quorum:
            return
        chief = next((each for each in up if (_leader_status(each) or {}).get("is_self")), None)
        if chief is None:
            detail = "no leader elected"
        elif root_token(node) is None:
            lost = [each.name for each in up if each is not chief and role(each) != f"follower of {chief.name}"]
            if not lost:
                return
            detail = f"not following {chief.name}: {', '.join(lost)}"
        else:
            try:
                voters = {server["node_id"] for server in raft_servers(node) if server.get("voter")}
            except Exception as exc:
                detail = f"raft configuration: {type(exc).__name__}: {exc}"
            else:
                missing = sorted({each.name for each in up} - voters)
                if not missing:
                    return
                detail = f"not yet voters: {', '.join(missing)}"
        if time.monotonic() > deadline:
            raise common.LabError(f"{node.name}: raft cluster not settled after {timeout:.0f}s ({detail}): "
                                  f"{describe(node)}; see {node.log_file}")
        time.sleep(1.0)  # each look at the raft configuration is an audited request


def kill(node: Service) -> int:
    """SIGKILL the node's process (no shutdown, no step-down: a crash) and wait until it is gone; its pid."""
    pid = node.pid()
    if pid is None:
        raise common.LabError(f"{node.name}: not running, nothing to kill")
    os.kill(pid, signal.SIGKILL)
    for _ in range(100):
        if node.pid() is None:
            break
        time.sleep(0.1)
    else:
        raise common.LabError(f"{node.name}: pid {pid} still alive after SIGKILL")
    return pid
