"""A clone anywhere runs the lab: under a parent closed to everyone but root (root's home, `mktemp -d`), the lab
processes that drop root (snmpsim as nobody, PostgreSQL as postgres) still find what they read and write,
because it lives in the lab's runtime dir (/var/lib/jinbao-lab/<hash>/), not in the clone.

The repository (git ls-files) is copied into a fresh `mktemp -d` (mode 0700); from that copy, its own labctl
starts one snmpsim agent and one PostgreSQL cluster on free ports (an inventory of the test's own, so the
running lab is not touched), a real SNMP GET and a real SQL query reach them, and a full reset stops them and
removes the copy's runtime dir.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml
from vcsim_fixtures import ROOT, VENV_BIN

from lab import common

SYS_NAME = "1.3.6.1.2.1.1.5.0"


def _free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _copy_repository(dest: Path) -> None:
    """The files a clone has: tracked ones and untracked ones git does not ignore (no .venv, .lab, .cache)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        source = ROOT / rel
        if source.is_file() and not source.is_symlink():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / rel)


def _labctl(clone: Path, inventory: Path, *args: str) -> str:
    """The copy's own labctl (`python -m lab.labctl` with the copy as cwd and as the only lab on the path)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "LAB_STATE_DIR")}
    proc = subprocess.run([str(VENV_BIN / "python"), "-m", "lab.labctl", *args, "--inventory", str(inventory)],
                          cwd=clone, env=dict(env, PYTHONPATH=str(clone)), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=600)
    assert proc.returncode == 0, f"labctl {' '.join(args)} in the copy {clone} failed:\n{proc.stdout}"
    return proc.stdout


def _snmp_get(port: int, community: str, oid: str) -> str:
    from pysnmp.hlapi.v3arch.asyncio import (
        CommunityData,
        ContextData,
        ObjectIdentity,
        ObjectType,
        SnmpEngine,
        UdpTransportTarget,
        get_cmd,
    )

    async def get() -> str:
        engine = SnmpEngine()
        try:
            target = await UdpTransportTarget.create(("127.0.0.1", port), timeout=2, retries=1)
            err, status, _index, binds = await get_cmd(engine, CommunityData(community, mpModel=1), target,
                                                       ContextData(), ObjectType(ObjectIdentity(oid)))
            assert not err and not status, f"SNMP GET {oid} on udp 127.0.0.1:{port}: {err or status.prettyPrint()}"
            return binds[0][1].prettyPrint()
        finally:
            engine.close_dispatcher()

    return asyncio.run(get())


@pytest.fixture(scope="module")
def clone():
    """A copy of the repository in a fresh 0700 folder, with a two-host inventory on free ports; torn down
    (services stopped, runtime dir and copy removed) at the end."""
    parent = Path(tempfile.mkdtemp(prefix="jinbao-clone-"))
    clone = parent / "jinbao-dc"
    inventory = parent / "inventory.yml"
    ports = {"snmp": _free_port(socket.SOCK_DGRAM), "postgres": _free_port(socket.SOCK_STREAM)}
    inventory.write_text(yaml.safe_dump({"all": {"hosts": {
        "clone-env-01": {"lab_service": "snmpsim", "snmp_profile": "sensors", "snmp_port": ports["snmp"]},
        "clone-pg-01": {"lab_service": "postgres", "postgres_port": ports["postgres"]},
    }}}))
    lab = None
    try:
        _copy_repository(clone)
        lab = common.Lab(clone / ".lab")  # the copy's lab, as its labctl sees it (made here to know its runtime dir)
        yield clone, inventory, ports, lab
    finally:
        if lab is not None:
            subprocess.run([str(VENV_BIN / "python"), "-m", "lab.labctl", "reset", "--inventory", str(inventory)],
                           cwd=clone, env=dict(os.environ, PYTHONPATH=str(clone)), capture_output=True, timeout=300)
            shutil.rmtree(lab.runtime_dir, ignore_errors=True)
        shutil.rmtree(parent, ignore_errors=True)


def test_a_clone_under_a_closed_parent_runs_snmpsim_and_postgres(clone):
    clone, inventory, ports, lab = clone
    parent_mode = clone.parent.stat().st_mode & 0o777
    assert parent_mode == 0o700, f"mktemp -d made {clone.parent} mode {parent_mode:o}; the test needs a closed parent"
    for user in ("nobody", "postgres"):
        with pytest.raises(common.LabError, match="chmod o\\+x"):
            common.require_reachable("test", clone / "lab", user)  # neither can enter the copy

    out = _labctl(clone, inventory, "up")
    assert "clone-env-01" in out and "clone-pg-01" in out, out

    community = (clone / ".lab" / "secrets" / "snmp-community").read_text().strip()
    assert _snmp_get(ports["snmp"], community, SYS_NAME) == "clone-env-01"

    import psycopg

    passfile = clone / ".lab" / "secrets" / "pg-monitor.pgpass"
    with psycopg.connect(host="127.0.0.1", port=ports["postgres"], dbname="basic_info", user="jinbao_monitor",
                         passfile=str(passfile), connect_timeout=5) as conn:
        assert conn.execute("SELECT count(*) FROM jinbao_heartbeat").fetchone()[0] == 1  # seeded at start
        assert conn.execute("SELECT current_setting('data_directory')").fetchone()[0] == str(
            lab.runtime_dir / "data" / "clone-pg-01" / "pgdata")

    # What the dropped processes use is outside the copy, and theirs: the agent's data, the cluster, the venv.
    agent_dir = lab.runtime_dir / "data" / "clone-env-01" / "agent"
    assert agent_dir.stat().st_uid == pwd.getpwnam("nobody").pw_uid
    assert (lab.runtime_dir / "data" / "clone-pg-01" / "pgdata").stat().st_uid == pwd.getpwnam("postgres").pw_uid
    assert (lab.runtime_dir / "snmpsim-venv" / "bin" / "snmpsim-command-responder").exists()
    assert not (clone / ".lab" / "data" / "clone-env-01").exists()
    assert not (clone / ".lab" / "data" / "clone-pg-01").exists()

    status = _labctl(clone, inventory, "status")
    assert status.count(" up ") == 2, status

    out = _labctl(clone, inventory, "reset")
    assert f"{lab.runtime_dir}: removed" in out, out
    assert not lab.runtime_dir.exists()
    with pytest.raises(AssertionError):
        _snmp_get(ports["snmp"], community, SYS_NAME)  # stopped with the reset


def test_a_folder_closed_to_the_service_user_is_named_with_the_fix():
    closed = Path(tempfile.mkdtemp())  # mode 0700, in /tmp (pytest's own tmp_path is under a 0700 folder too)
    try:
        (closed / "inner").mkdir()
        with pytest.raises(common.LabError) as err:
            common.require_reachable("env-main-01", closed / "inner", "nobody")
        message = str(err.value)
        assert "\n" not in message
        assert message.startswith("env-main-01: ") and message.endswith(f"chmod o+x {closed}")
        closed.chmod(0o711)
        common.require_reachable("env-main-01", closed / "inner", "nobody")
    finally:
        shutil.rmtree(closed)
