"""labctl service `snmpsim`: the main room's UPS, environment probe and rack PDUs as real SNMP agents.

Each host (groups ups, sensors, pdus in inventory/lab) runs its own snmpsim-command-responder (snmpsim 1.2.2)
on udp 127.0.0.1:`snmp_port`, SNMP v2c, read community from .lab/secrets/snmp-community (group_vars
`snmp_community` reads the same file). What the agent answers comes from lab/snmpsim/devices.py: a real MIB
shape per `snmp_profile` (ups: the shipped Eaton 9PX recording plus RFC 1628 UPS-MIB; sensors: Eaton/MGE EMP
rows of MG-SNMP-UPS-MIB; pdu: APC PowerNet-MIB rPDU2 metered outlets).

Layout under .lab/data/<host>/: agent/<community>.snmprec (the data snmpsim serves; the community is the
file name), cache/ (snmpsim's index), variant (the variant in force, kept across restarts).

snmpsim refuses to run as root: it drops to nobody:nogroup (--process-user/--process-group) after binding,
and then still imports modules and reads its data. So nothing it needs is in the clone, whose parent may be
closed to nobody (root's home, `mktemp -d`): it runs from its own venv, made with /usr/bin/python3 from
lab/snmpsim/requirements.txt in the lab's runtime dir (/var/lib/jinbao-lab/<hash>/snmpsim-venv, at build),
and its data dir is the runtime dir's data/<host>/, where agent/ and cache/ belong to nobody (lab/common.py).

`labctl act HOST variant NAME` rewrites agent/<community>.snmprec (atomically, with a new mtime): snmpsim
re-reads a data file whose mtime changed and rebuilds its index, so the next request sees the new data.
The action checks that over SNMP and restarts the agent if it still answers the old data.
`labctl act HOST variant` lists the variants.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import os
import pwd
import shutil
import subprocess
import time
from pathlib import Path

from lab import common
from lab.snmpsim import devices

REQUIREMENTS = Path(__file__).resolve().parent / "requirements.txt"
BASE_PYTHON = "/usr/bin/python3"  # Debian's: its standard library is readable by nobody
RUN_AS = ("nobody", "nogroup")
SYS_NAME = "1.3.6.1.2.1.1.5.0"


class Service(common.Service):
    kind = "snmpsim"
    start_timeout = 60.0
    runs_as = RUN_AS[0]

    def __init__(self, name: str, hostvars: dict, lab: common.Lab) -> None:
        super().__init__(name, hostvars, lab)
        self.address = str(hostvars.get("snmp_hostname", "127.0.0.1"))
        common.require_loopback(name, self.address)
        try:
            self.port = int(hostvars["snmp_port"])
        except (KeyError, TypeError, ValueError):
            raise common.LabError(f"{name}: snmp_port: missing or not a number in inventory/lab/host_vars") from None
        self.profile = str(hostvars.get("snmp_profile", ""))
        if self.profile not in devices.VARIANTS:
            raise common.LabError(f"{name}: snmp_profile {self.profile!r} is not one of "
                                  f"{', '.join(devices.VARIANTS)}; set it in inventory/lab/group_vars/<group>/snmp.yml")
        self.rack = str(hostvars.get("pdu_rack") or hostvars.get("rack") or "")
        self.location = f"room {hostvars.get('room', 'main')}" + (f", rack {self.rack}" if self.rack else "")
        self.agent_dir = self.data_dir / "agent"
        self.cache_dir = self.data_dir / "cache"
        self.variant_file = self.data_dir / "variant"
        self.actions = {"variant": "switch the agent's data: variant NAME ("
                        + ", ".join(devices.VARIANTS[self.profile]) + "); no NAME lists them"}

    # --- inputs --------------------------------------------------------------------------------------------
    @property
    def community(self) -> str:
        """The read community: the lab's generated secret (the inventory value is a lookup of the same file)."""
        value = str(self.vars.get("snmp_community") or "")
        return value if value and "{{" not in value else self.lab.secret("snmp-community")

    @property
    def data_file(self) -> Path:
        return self.agent_dir / f"{self.community}.snmprec"

    def current_variant(self) -> str:
        try:
            name = self.variant_file.read_text().strip()
        except OSError:
            return "normal"
        return name if name in devices.VARIANTS[self.profile] else "normal"

    @property
    def venv(self) -> Path:
        return self.lab.runtime_dir / "snmpsim-venv"

    @property
    def responder(self) -> Path:
        return self.venv / "bin" / "snmpsim-command-responder"

    # --- lifecycle -----------------------------------------------------------------------------------------
    def build(self) -> None:
        """The responder's venv in the runtime dir, from lab/snmpsim/requirements.txt; fast when up to date."""
        wanted = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
        stamp = self.venv / ".requirements.sha256"
        if self.responder.exists() and stamp.exists() and stamp.read_text().strip() == wanted:
            return
        self.lab.make_runtime_dir()
        with open(self.lab.runtime_dir / ".snmpsim-venv.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # another labctl may be building it right now
            if self.responder.exists() and stamp.exists() and stamp.read_text().strip() == wanted:
                return
            print(f"\n{self.name:<20} making {self.venv} (snmpsim, run as {RUN_AS[0]}) ...", end=" ", flush=True)
            shutil.rmtree(self.venv, ignore_errors=True)
            for what, argv in (("venv", [BASE_PYTHON, "-m", "venv", str(self.venv)]),
                               ("pip install", [str(self.venv / "bin" / "python"), "-m", "pip", "install", "-q",
                                                "--disable-pip-version-check", "-r", str(REQUIREMENTS)])):
                proc = subprocess.run(argv, capture_output=True, text=True, timeout=900)
                if proc.returncode != 0:
                    raise common.LabError(f"{self.name}: {what} for {self.venv} failed (is python3-venv installed? "
                                          f"lab/packages.apt):\n{(proc.stderr or proc.stdout).strip()[-2000:]}")
            os.chmod(self.venv, 0o755)
            stamp.write_text(wanted + "\n")
        common.require_reachable(self.name, self.responder, RUN_AS[0])

    def prepare(self) -> None:
        uid, gid = _run_as_ids()
        for path in (self.agent_dir, self.cache_dir):
            path.mkdir(parents=True, exist_ok=True)
            os.chown(path, uid, gid)
        for stale in self.agent_dir.glob("*.snmprec"):
            if stale != self.data_file:
                stale.unlink()  # a rotated community: the old one must stop answering
        self._write(self.current_variant())

    def command(self) -> list[str]:
        return [str(self.responder), f"--data-dir={self.agent_dir}", f"--cache-dir={self.cache_dir}",
                f"--agent-udpv4-endpoint={self.address}:{self.port}",
                f"--process-user={RUN_AS[0]}", f"--process-group={RUN_AS[1]}", "--log-level=info"]

    def health(self) -> tuple[bool, str]:
        try:
            name = self.snmp_get(SYS_NAME)
        except Exception as exc:
            return False, f"udp {self.address}:{self.port}: {exc}"
        if name != self.name:
            return False, f"udp {self.address}:{self.port} answers sysName {name!r}, expected {self.name!r}"
        return True, f"udp {self.address}:{self.port} {self.profile} variant {self.current_variant()}"

    # --- actions -------------------------------------------------------------------------------------------
    def act(self, action: str, args: list[str]) -> str:
        if action != "variant":
            return super().act(action, args)
        current = self.current_variant()
        if not args:
            return "variants: " + "; ".join(f"{'*' if n == current else ''}{n}: {text}"
                                            for n, text in devices.VARIANTS[self.profile].items())
        if len(args) != 1 or args[0] not in devices.VARIANTS[self.profile]:
            raise common.LabError(f"{self.name}: variant takes one of {', '.join(devices.VARIANTS[self.profile])}; "
                                  f"got {' '.join(args) or 'nothing'}")
        return self.switch(args[0])

    def switch(self, variant: str) -> str:
        """Serve `variant` from now on; checked over SNMP, with a restart if snmpsim kept the old data."""
        old = devices.parse_snmprec(self.data_file.read_text()) if self.data_file.exists() else {}
        new_text = self._write(variant)
        new = devices.parse_snmprec(new_text)
        probe = next((oid for oid in sorted(new) if old.get(oid) != new[oid] and new[oid][0] in ("2", "4")), None)
        if probe is None:
            return f"variant {variant} (same data as before)"
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                if self.snmp_get(probe) == _expected(new[probe]):
                    return f"variant {variant}: {devices.VARIANTS[self.profile][variant]}"
            except Exception:
                pass
            time.sleep(0.2)
        self.stop()
        self.start()
        if self.snmp_get(probe) != _expected(new[probe]):
            raise common.LabError(f"{self.name}: still serving old data for {probe} after a restart; "
                                  f"see {self.log_file}")
        return f"variant {variant} (agent restarted): {devices.VARIANTS[self.profile][variant]}"

    def _write(self, variant: str) -> str:
        """Write the variant's data atomically with an mtime snmpsim has not seen yet; remember the variant."""
        text = devices.records_for(self.profile, self.name, variant, location=self.location, rack=self.rack)
        uid, gid = _run_as_ids()
        tmp = self.agent_dir / f".{self.community}.snmprec.tmp"
        tmp.write_text(text)
        os.chown(tmp, uid, gid)
        os.chmod(tmp, 0o644)
        previous = self.data_file.stat().st_mtime if self.data_file.exists() else 0
        stamp = max(time.time(), int(previous) + 1)  # snmpsim compares whole-second mtimes
        os.utime(tmp, (stamp, stamp))
        os.replace(tmp, self.data_file)
        self.variant_file.write_text(f"{variant}\n")
        return text

    def snmp_get(self, oid: str, timeout: float = 1.0) -> str:
        """One SNMP v2c GET of `oid`; the value as text. Raises with the reason on any error."""
        return asyncio.run(_get(self.address, self.port, self.community, oid, timeout))


def _expected(record: tuple[str, str]) -> str:
    return record[1]


def _run_as_ids() -> tuple[int, int]:
    import grp

    try:
        return pwd.getpwnam(RUN_AS[0]).pw_uid, grp.getgrnam(RUN_AS[1]).gr_gid
    except KeyError as exc:
        raise common.LabError(f"snmpsim: the system has no {exc}; snmpsim must drop root to {RUN_AS}") from None


async def _get(address: str, port: int, community: str, oid: str, timeout: float) -> str:
    from pysnmp.hlapi.v3arch.asyncio import (
        CommunityData,
        ContextData,
        ObjectIdentity,
        ObjectType,
        SnmpEngine,
        UdpTransportTarget,
        get_cmd,
    )

    engine = SnmpEngine()
    try:
        target = await UdpTransportTarget.create((address, port), timeout=timeout, retries=0)
        err, status, _index, binds = await get_cmd(engine, CommunityData(community, mpModel=1), target,
                                                   ContextData(), ObjectType(ObjectIdentity(oid)))
        if err:
            raise RuntimeError(str(err))
        if status:
            raise RuntimeError(status.prettyPrint())
        return binds[0][1].prettyPrint()
    finally:
        engine.close_dispatcher()
