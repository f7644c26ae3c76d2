"""The lab's OpenBao as a 3-node raft cluster (lab/openbao): TLS on loopback, retry_join, one key for all.

The module starts a throwaway cluster of its own, with labctl and an inventory of the test's own (the same
shape as inventory/lab: hosts in `vault` and `vault_cluster`, vault_cluster_nodes), in a state dir of its
own and on free ports in 18260-18289, so the shared lab's vault-01 is not touched. Then:
- `labctl up` returns with three voters and a leader, a second `labctl up` restarts nothing, and
  `labctl status` shows each node's role;
- a write sent to a follower lands (the follower forwards it to the leader, whose audit log has it);
- the leader killed (SIGKILL), a new one is elected, reads and writes go on through a survivor, and
  `labctl up --only <old leader>` brings it back as a follower;
- a standby cannot be sealed over the API (OpenBao refuses); `labctl act <node> restart-sealed` leaves it
  sealed, and `labctl up --only <node>` unseals it;
- the whole cluster stopped, `labctl up` returns with a leader and the data kept;
- resetting one node resets the whole cluster (a lone node reset would leave a stale raft member);
- a single-node lab from before the cluster (absolute audit paths) moves its audit devices and is joined.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from vcsim_fixtures import ROOT, VENV_BIN

from lab import common
from lab.openbao import cluster
from lab.openbao.service import Service

NODES = ("vault-01", "vault-02", "vault-03")


def _free_base(first: int = 18260, last: int = 18289) -> int:
    """A port P in [first, last - 5] with P..P+5 all free (three nodes, each an API and a cluster port)."""
    for base in range(first, last - 4, 6):
        free = True
        for port in range(base, base + 6):
            with socket.socket() as sock:
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError:
                    free = False
                    break
        if free:
            return base
    pytest.fail(f"no 6 free ports in 127.0.0.1:{first}-{last} for the test's OpenBao cluster")


class ClusterLab:
    """The test's own lab: inventory, state dir, and its three nodes as lab Services."""

    def __init__(self, root: Path) -> None:
        self.state = root / "state"
        self.inventory = root / "inventory"
        base = _free_base()
        self.nodes = {name: f"https://127.0.0.1:{base + 2 * i}" for i, name in enumerate(NODES)}
        (self.inventory / "host_vars").mkdir(parents=True)
        (self.inventory / "group_vars" / "vault_cluster").mkdir(parents=True)
        hosts = {"all": {"children": {"vault": {"hosts": {"vault-01": None}},
                                      "vault_cluster": {"hosts": dict.fromkeys(NODES)}}}}
        (self.inventory / "hosts.yml").write_text(yaml.safe_dump(hosts))
        (self.inventory / "group_vars" / "vault_cluster" / "cluster.yml").write_text(
            yaml.safe_dump({"vault_cluster_nodes": self.nodes}))
        for i, name in enumerate(NODES):
            (self.inventory / "host_vars" / f"{name}.yml").write_text(yaml.safe_dump(
                {"lab_service": "openbao", "vault_hostname": "127.0.0.1", "vault_port": base + 2 * i}))
        self.lab = common.Lab(self.state)
        self.token: str | None = None

    def labctl(self, *args: str, check: bool = True) -> str:
        env = dict(os.environ, LAB_STATE_DIR=str(self.state))
        proc = subprocess.run([str(VENV_BIN / "python"), "-m", "lab.labctl", *args, "--inventory", str(self.inventory)],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=600)
        if check:
            assert proc.returncode == 0, f"labctl {' '.join(args)} failed:\n{proc.stdout}"
        return proc.stdout

    def node(self, name: str) -> Service:
        port = int(self.nodes[name].rsplit(":", 1)[1])
        return Service(name, {"vault_hostname": "127.0.0.1", "vault_port": port, "vault_cluster_nodes": self.nodes},
                       self.lab)

    def client(self, name: str, token: str | None = None):
        """A client of one node, with the test's own token (KV secret/ and the raft configuration)."""
        return cluster.client(self.nodes[name], self.lab.ca_cert, token=token or self.token)

    def revoke_root_token(self) -> None:
        """What labctl up's security bootstrap does (lab/security.py): the root token revoked, the lab forgets it."""
        init_file = self.state / "secrets" / "openbao-init.json"
        init = json.loads(init_file.read_text())
        if init.get("root_token"):
            self.client("vault-01", token=init["root_token"]).auth.token.revoke_self()
            init["root_token"] = None
            init_file.write_text(json.dumps(init))


TEST_POLICY = """
path "secret/*" { capabilities = ["create", "read", "update"] }
path "sys/storage/raft/configuration" { capabilities = ["read"] }
path "sys/seal" { capabilities = ["update", "sudo"] }
"""


@pytest.fixture(scope="module")
def vault_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterLab]:
    """The test's cluster, up (its security bootstrap left out: this inventory has no facility), with a KV v2
    mount at secret/ and a token of the test's own that outlives the root token."""
    lab = ClusterLab(tmp_path_factory.mktemp("vault-cluster"))
    try:
        lab.labctl("up", "--no-bootstrap")
        root = lab.client("vault-01", token=cluster.root_token(lab.node("vault-01")))
        root.sys.enable_secrets_engine("kv", path="secret", options={"version": "2"})
        root.sys.create_or_update_policy(name="cluster-test", policy=TEST_POLICY)
        lab.token = root.auth.token.create_orphan(policies=["cluster-test"], ttl="2h")["auth"]["client_token"]
        yield lab
    finally:
        lab.labctl("down", check=False)


def _write(client, path: str, data: dict, tries: int = 60) -> None:
    for _ in range(tries):
        try:
            client.secrets.kv.v2.create_or_update_secret(path=path, secret=data, mount_point="secret")
            return
        except Exception as exc:  # a new KV v2 mount's upgrade, or a leader election under way
            last = exc
            time.sleep(0.5)
    raise AssertionError(f"write secret/{path} failed: {last}")


def _read(client, path: str) -> dict:
    return client.secrets.kv.v2.read_secret_version(path=path, mount_point="secret",
                                                    raise_on_deleted_version=True)["data"]["data"]


def test_labctl_up_returns_with_three_voters_and_one_leader(vault_cluster: ClusterLab) -> None:
    servers = vault_cluster.client("vault-02").sys.read_raft_config()["data"]["config"]["servers"]
    assert sorted(s["node_id"] for s in servers if s["voter"]) == list(NODES), servers
    assert len([s for s in servers if s["leader"]]) == 1, servers
    leader = cluster.leader(vault_cluster.node("vault-01"))
    assert leader is not None and leader.name in NODES


def test_a_second_labctl_up_restarts_nothing(vault_cluster: ClusterLab) -> None:
    pids = {name: vault_cluster.node(name).pid() for name in NODES}
    out = vault_cluster.labctl("up", "--no-bootstrap")
    assert out.count("already running") == 3, out
    assert {name: vault_cluster.node(name).pid() for name in NODES} == pids


def test_labctl_status_shows_each_nodes_role(vault_cluster: ClusterLab) -> None:
    out = vault_cluster.labctl("status")
    leader = cluster.leader(vault_cluster.node("vault-01")).name
    lines = {line.split()[0]: line for line in out.splitlines()[1:] if line.strip()}
    assert "unsealed, leader" in lines[leader], out
    for name in set(NODES) - {leader}:
        assert f"unsealed, follower of {leader}" in lines[name], out


def test_a_write_sent_to_a_follower_lands_on_the_leader(vault_cluster: ClusterLab) -> None:
    leader = cluster.leader(vault_cluster.node("vault-01")).name
    follower, other = sorted(set(NODES) - {leader})
    _write(vault_cluster.client(follower), "forwarded", {"via": follower})
    assert _read(vault_cluster.client(leader), "forwarded") == {"via": follower}
    assert _read(vault_cluster.client(other), "forwarded") == {"via": follower}
    # The leader decided it, so the leader's own audit log (under its data dir) has the write.
    audit = (vault_cluster.node(leader).data_dir / "audit" / "audit.log").read_text().splitlines()
    assert any(json.loads(line)["request"]["path"] == "secret/data/forwarded"
               and json.loads(line)["request"]["operation"] in ("create", "update") for line in audit)


def test_leader_killed_a_new_one_is_elected_and_the_old_one_rejoins_as_follower(vault_cluster: ClusterLab) -> None:
    # As in the lab after its security bootstrap: no root token, so labctl up waits on the roles, not the voters.
    vault_cluster.revoke_root_token()
    anyone = vault_cluster.node("vault-01")
    old = cluster.leader(anyone)
    assert old is not None, cluster.describe(anyone)
    _write(vault_cluster.client(old.name), "before-kill", {"n": "1"})
    cluster.kill(old)
    assert old.pid() is None

    new = cluster.await_leader(anyone, exclude={old.name})
    survivor = next(name for name in NODES if name not in (old.name, new.name))
    _write(vault_cluster.client(survivor), "after-kill", {"n": "2"})
    assert _read(vault_cluster.client(survivor), "before-kill") == {"n": "1"}
    assert _read(vault_cluster.client(new.name), "after-kill") == {"n": "2"}

    out = vault_cluster.labctl("up", "--only", old.name, "--no-bootstrap")
    assert f"{old.name}" in out and "started" in out, out
    assert cluster.role(old) == f"follower of {new.name}", cluster.describe(anyone)
    servers = vault_cluster.client(old.name).sys.read_raft_config()["data"]["config"]["servers"]
    assert sorted(s["node_id"] for s in servers if s["voter"]) == list(NODES), servers
    assert _read(vault_cluster.client(old.name), "after-kill") == {"n": "2"}


def test_labctl_act_kill_leader_names_the_killed_leader(vault_cluster: ClusterLab) -> None:
    anyone = vault_cluster.node("vault-01")
    old = cluster.leader(anyone).name
    out = vault_cluster.labctl("act", "vault-01" if old != "vault-01" else "vault-02", "kill-leader")
    assert f"killed the leader {old}" in out, out
    new = cluster.await_leader(anyone, exclude={old})
    vault_cluster.labctl("up", "--only", old, "--no-bootstrap")
    assert cluster.role(vault_cluster.node(old)) == f"follower of {new.name}"


def test_a_follower_cannot_be_sealed_over_the_api_and_restart_sealed_leaves_it_sealed(
        vault_cluster: ClusterLab) -> None:
    anyone = vault_cluster.node("vault-01")
    leader = cluster.leader(anyone).name
    follower = sorted(set(NODES) - {leader})[0]
    with pytest.raises(Exception, match="cannot seal when in standby mode"):
        vault_cluster.client(follower).sys.seal()
    out = vault_cluster.labctl("act", follower, "restart-sealed")
    assert f"{follower} sealed" in out, out
    status = vault_cluster.labctl("status", check=False)
    assert "SEALED" in next(line for line in status.splitlines() if line.startswith(follower)), status
    vault_cluster.labctl("up", "--only", follower, "--no-bootstrap")
    assert cluster.role(vault_cluster.node(follower)) == f"follower of {leader}"


def test_a_node_whose_own_address_is_not_in_vault_cluster_nodes_is_refused(tmp_path: Path) -> None:
    lab = common.Lab(tmp_path / "state")
    with pytest.raises(common.LabError, match=r"^vault-02: vault_cluster_nodes: this node's own entry must be "
                                              r"vault-02: https://127.0.0.1:18210"):
        Service("vault-02", {"vault_port": 18210, "vault_cluster_nodes": {"vault-01": "https://127.0.0.1:18200",
                                                                         "vault-02": "https://127.0.0.1:18212"}}, lab)


def test_after_the_whole_cluster_stopped_labctl_up_returns_with_a_leader(vault_cluster: ClusterLab) -> None:
    _write(vault_cluster.client("vault-01"), "before-restart", {"n": "3"})
    vault_cluster.labctl("down")
    assert all(vault_cluster.node(name).pid() is None for name in NODES)
    out = vault_cluster.labctl("up", "--no-bootstrap")
    assert out.count(" started") == 3, out
    anyone = vault_cluster.node("vault-03")
    leader = cluster.leader(anyone)
    assert leader is not None, cluster.describe(anyone)
    assert all(cluster.role(vault_cluster.node(name)) in ("leader", f"follower of {leader.name}") for name in NODES)
    assert _read(vault_cluster.client("vault-03"), "before-restart") == {"n": "3"}


def test_resetting_one_node_resets_the_whole_cluster(vault_cluster: ClusterLab) -> None:
    out = vault_cluster.labctl("reset", "--only", "vault-02")
    assert "the raft cluster is reset whole" in out, out
    for name in NODES:
        node = vault_cluster.node(name)
        assert node.pid() is None and not node.data_dir.exists(), name
    assert not (vault_cluster.state / "secrets" / "openbao-init.json").exists()


def test_a_single_node_lab_from_before_the_cluster_moves_its_audit_devices_and_joins(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A clone whose vault-01 was made by the single-node lab: its audit devices wrote to absolute paths, which
    the replicated audit table keeps. Its first start as a cluster node moves them to the relative layout
    (else the node would refuse to become active), keeps its data and its audit log file, and the others join."""
    from lab.openbao import service

    lab = common.Lab(tmp_path / "state")
    base = _free_base()
    nodes = {name: f"https://127.0.0.1:{base + 2 * i}" for i, name in enumerate(NODES)}
    old_layout = service.AUDIT_STANZAS.replace('file_path = "audit/',
                                               f'file_path = "{lab.state_dir}/data/vault-01/audit/')
    monkeypatch.setattr(service, "AUDIT_STANZAS", old_layout)
    single = Service("vault-01", {"vault_port": base}, lab)
    members = [Service(name, {"vault_port": base + 2 * i, "vault_cluster_nodes": nodes}, lab)
               for i, name in enumerate(NODES)]
    try:
        single.start()
        root = cluster.client(single.url, lab.ca_cert, token=cluster.root_token(single))
        root.sys.enable_secrets_engine("kv", path="secret", options={"version": "2"})
        _write(root, "from-the-single-node", {"kept": "yes"})
        single.stop()
        monkeypatch.undo()

        for member in members:
            assert member.start() == "started", member.name
        devices = root.sys.list_enabled_audit_devices()["data"]
        assert {path: dev["options"]["file_path"] for path, dev in devices.items()} == {
            "file/": "audit/audit.log", "file-mirror/": "audit/audit-mirror.log"}
        assert sorted(s["node_id"] for s in cluster.raft_servers(members[1]) if s["voter"]) == list(NODES)
        via_follower = cluster.client(members[2].url, lab.ca_cert, token=cluster.root_token(single))
        assert _read(via_follower, "from-the-single-node") == {"kept": "yes"}
        log = (members[0].data_dir / "audit" / "audit.log").read_text()
        assert "secret/data/from-the-single-node" in log and "sys/audit" in log  # one file, before and after
    finally:
        for member in reversed(members):
            member.stop()
