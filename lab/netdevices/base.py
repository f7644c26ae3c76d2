"""What the lab's simulated network devices share, whichever simulator runs them (fake-switches or FakeNOS).

* the cabling and per-device facts in lab/netdevices/topology.yml (`device()`, `neighbors()`, `expand_ports()`);
* a stable SSH host key per device in its data dir (`host_key()`) and the lab's known_hosts file
  .lab/netdev/known_hosts, one `[127.0.0.1]:<port> ssh-rsa ...` line per device (`publish_host_key()`);
* installing a simulator's pinned requirements into the running venv, quickly when already done
  (`install_requirements()`);
* a health check that reads the SSH identification banner (`ssh_banner()`);
* fault files for tests (`Faults`), read again whenever they change;
* `NetdevService`, the labctl service base of every device (lab/netdevices/fakeswitch, lab/netdevices/fakenos).

Imported by lab/netdevices/*/ as `from lab.netdevices import base`, both by labctl and by the device processes
(`python -m lab.netdevices.fakeswitch.switch`, `python -m lab.netdevices.fakenos.device`); it needs only the
standard library, PyYAML and cryptography (all in the project's requirements).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import socket
import subprocess
import sys
from functools import cache
from pathlib import Path

import yaml

from lab import common

HERE = Path(__file__).resolve().parent
TOPOLOGY = HERE / "topology.yml"
INVALID_INPUT = "% Invalid input detected at '^' marker."
# fake-switches models the lab runs (lab/netdevices/fakeswitch) and FakeNOS platforms (lab/netdevices/fakenos),
# by vendor family.
FAKESWITCH_MODELS = {"cisco_generic": "cisco", "cisco_2960_24TT_L": "cisco", "cisco_2960_48TT_L": "cisco",
                     "arista_generic": "arista"}
FAKENOS_PLATFORMS = {"huawei_vrp": "huawei", "hp_comware": "h3c", "cisco_asa": "cisco_asa"}


class NetdevError(RuntimeError):
    """A network device of the lab cannot be prepared; the message says why."""


# --- topology -------------------------------------------------------------------------------------
@cache
def topology() -> dict:
    return yaml.safe_load(TOPOLOGY.read_text(encoding="utf-8"))


def device(name: str) -> dict:
    try:
        return topology()["devices"][name]
    except KeyError:
        raise NetdevError(f"{name}: not in {TOPOLOGY.relative_to(common.ROOT)} (devices)") from None


def expand_ports(patterns: list[str]) -> list[str]:
    """["GigabitEthernet1/0/1-3", "Ethernet7"] -> GigabitEthernet1/0/1, 1/0/2, 1/0/3, Ethernet7."""
    ports = []
    for pattern in patterns:
        m = re.fullmatch(r"(.*?)(\d+)-(\d+)", pattern)
        if m:
            ports += [f"{m.group(1)}{n}" for n in range(int(m.group(2)), int(m.group(3)) + 1)]
        else:
            ports.append(pattern)
    return ports


def neighbors(name: str) -> list[dict]:
    """The LLDP neighbors of a device: local port, neighbor name, neighbor port, neighbor facts.

    The ASA runs no LLDP: its cables appear on neither end.
    """
    devices = topology()["devices"]
    found = []
    for a, a_port, b, b_port in topology()["links"]:
        for local, local_port, remote, remote_port in ((a, a_port, b, b_port), (b, b_port, a, a_port)):
            if local != name or devices[remote]["vendor"] == "cisco_asa" or devices[local]["vendor"] == "cisco_asa":
                continue
            found.append({"port": local_port, "name": remote, "remote_port": remote_port, **_facts(remote)})
    return found


def _facts(name: str) -> dict:
    dev = topology()["devices"][name]
    return {"vendor": dev["vendor"], "mgmt_ip": dev.get("mgmt_ip", ""), "hardware": dev.get("hardware", ""),
            "software": dev.get("software", "")}


def linked_ports(name: str) -> set[str]:
    """Every port of a device that has a cable in it (LLDP or not): these are 'connected'."""
    ports = set()
    for a, a_port, b, b_port in topology()["links"]:
        if a == name:
            ports.add(a_port)
        if b == name:
            ports.add(b_port)
    return ports


def short_port(name: str) -> str:
    """IOS-style short interface name: GigabitEthernet1/0/1 -> Gi1/0/1, Ethernet49 -> Et49."""
    m = re.match(r"([A-Za-z-]+?)(\d.*)$", name)
    if not m:
        return name
    prefix, number = m.groups()
    short = {"TenGigabitEthernet": "Te", "GigabitEthernet": "Gi", "FastEthernet": "Fa", "Ethernet": "Et",
             "XGigabitEthernet": "XGE", "Ten-GigabitEthernet": "XGE", "Port-channel": "Po", "Vlan": "Vl",
             "Management": "Ma"}.get(prefix, prefix[:2])
    return short + number


# --- SSH host keys and known_hosts ------------------------------------------------------------------
def host_key(data_dir: Path) -> tuple[Path, str]:
    """The device's RSA host key (made once, kept in its data dir) and its `ssh-rsa AAAA...` public line."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    path = data_dir / "ssh_host_rsa_key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption())
        fd = os.open(path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
        os.replace(path.with_suffix(".tmp"), path)
    key = serialization.load_pem_private_key(path.read_bytes(), None)
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return path, public.decode()


def known_hosts_file(state_dir: Path) -> Path:
    return state_dir / "netdev" / "known_hosts"


def publish_host_key(state_dir: Path, address: str, port: int, public_line: str) -> Path:
    """Put `[address]:port <key>` into .lab/netdev/known_hosts, replacing that device's earlier line."""
    path = known_hosts_file(state_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    host = f"[{address}]:{port}"
    with open(path.parent / ".known_hosts.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        lines = path.read_text().splitlines() if path.exists() else []
        kept = [line for line in lines if line.split(" ", 1)[0] != host]
        kept.append(f"{host} {public_line}")
        tmp = path.with_suffix(".tmp")
        tmp.write_text("".join(f"{line}\n" for line in sorted(kept)))
        os.replace(tmp, path)
    return path


# --- requirements -----------------------------------------------------------------------------------
def install_requirements(name: str, steps: list[tuple[Path, bool]], modules: list[str], announce=None) -> bool:
    """pip-install pinned requirement files into this venv, in order; (file, no_deps) per step.

    Skipped (fast) when the venv's stamp (<venv>/.jinbao-lab-<name>-requirements.sha256, gone with the venv)
    matches the files. After pip, every module in `modules` must import (checked in a child interpreter).
    `announce()` is called just before pip runs. Returns True when pip ran.
    """
    digest = hashlib.sha256(sys.executable.encode())
    for path, no_deps in steps:
        digest.update(f"{path.name}:{no_deps}\0".encode() + path.read_bytes())
    wanted = digest.hexdigest()
    stamp = Path(sys.prefix) / f".jinbao-lab-{name}-requirements.sha256"
    if stamp.exists() and stamp.read_text().strip() == wanted:
        return False
    if announce:
        announce()
    for path, no_deps in steps:
        cmd = [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-compile",
               *(["--no-deps"] if no_deps else []), "-r", str(path)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        if proc.returncode != 0:
            raise NetdevError(f"{name}: pip install -r {path.name} failed:\n{proc.stderr.strip()[-3000:]}")
    check = subprocess.run([sys.executable, "-c", f"import {', '.join(modules)}"], capture_output=True, text=True)
    if check.returncode != 0:
        raise NetdevError(f"{name}: installed {', '.join(p.name for p, _ in steps)} but cannot import "
                          f"{', '.join(modules)}: {check.stderr.strip().splitlines()[-1:]}")
    stamp.write_text(wanted + "\n")
    return True


# --- health -----------------------------------------------------------------------------------------
def ssh_banner(address: str, port: int, timeout: float = 3.0) -> tuple[bool, str]:
    """Connect and read the server's SSH identification line (RFC 4253 4.2)."""
    try:
        with socket.create_connection((address, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            data = b""
            while b"\n" not in data and len(data) < 1024:
                chunk = sock.recv(256)
                if not chunk:
                    break
                data += chunk
            if data.startswith(b"SSH-"):
                sock.sendall(b"SSH-2.0-labctl_health\r\n")  # a polite client: say who we are, then leave
    except OSError as exc:
        return False, f"nothing answers on {address}:{port} ({exc})"
    line = data.split(b"\n", 1)[0].strip().decode(errors="replace")
    if not line.startswith("SSH-2.0-"):
        return False, f"{address}:{port} answered {line[:60]!r}, not an SSH banner"
    return True, f"ssh://{address}:{port} {line}"


# --- faults -------------------------------------------------------------------------------------------
class Faults:
    """A device's faults.json, re-read when it changes (tests write it while the device runs).

    {"reject": ["<regex>", ...]}: a command line that matches one of the regular expressions (re.search,
    on the line as typed, in any mode) is refused with the vendor's invalid-input error and not executed.
    {"drop": ["<regex>", ...]}: a command line that matches closes the SSH session at once, unexecuted (the
    session killed in the middle of a push; what came before it stays applied).
    {"seconds_per_minute": N}: how long one "minute" of a device timer lasts (IOS `configure terminal revert
    timer`), 60 unless set; a test makes it 1 to see a rollback in seconds.
    {"delay": {"<regex>": seconds, ...}}: a command line that matches takes that long before the device
    answers (the first match counts), as real gear takes seconds to write NVRAM or flash and to build a large
    running configuration; the simulator answers at once otherwise. Only that session waits (PausingSession):
    another vty session goes on meanwhile, as on real gear. bench/netpush uses it for its real-latency runs.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._mtime: float | None = None
        self._reject: list[re.Pattern] = []
        self._drop: list[re.Pattern] = []
        self._seconds_per_minute = 60.0
        self._delay: list[tuple[re.Pattern, float]] = []

    def _load(self) -> None:
        try:
            mtime = self.path.stat().st_mtime_ns
        except OSError:
            self._mtime, self._reject, self._drop, self._seconds_per_minute = None, [], [], 60.0
            self._delay = []
            return
        if mtime == self._mtime:
            return
        self._mtime = mtime
        try:
            data = json.loads(self.path.read_text() or "{}")
            self._reject = [re.compile(p) for p in data.get("reject") or []]
            self._drop = [re.compile(p) for p in data.get("drop") or []]
            self._delay = [(re.compile(p), max(0.0, float(s))) for p, s in (data.get("delay") or {}).items()]
        except (OSError, ValueError, re.error, AttributeError, TypeError):
            data, self._reject, self._drop, self._delay = {}, [], [], []
        try:
            self._seconds_per_minute = max(0.01, float(data.get("seconds_per_minute", 60)))
        except (AttributeError, TypeError, ValueError):
            self._seconds_per_minute = 60.0

    def rejects(self, line: str) -> bool:
        self._load()
        return any(p.search(line.strip()) for p in self._reject)

    def drops(self, line: str) -> bool:
        self._load()
        return any(p.search(line.strip()) for p in self._drop)

    def delay(self, line: str) -> float:
        """Seconds the device takes before it answers this command line (0: at once)."""
        self._load()
        return next((secs for p, secs in self._delay if p.search(line.strip())), 0.0)

    def seconds_per_minute(self) -> float:
        self._load()
        return self._seconds_per_minute


class PausingSession:
    """The mix-in of an SSH session whose device takes time (Faults.delay): a command that matches answers
    only after its pause, and what the session types meanwhile waits its turn; the device's other sessions
    go on (a reactor timer, not a sleep that would stop the whole simulated device). The session class
    implements handle(line) -> bool (False: close the session), what receive(line) does without pauses."""

    faults: Faults
    _queued: list[str] | None = None  # lines typed while this session waits; None: not waiting

    def handle(self, line: str) -> bool:
        raise NotImplementedError

    def receive(self, line: str) -> bool:
        if self._queued is not None:
            self._queued.append(line)
            return True
        if line.strip() and (pause := self.faults.delay(line)):
            from twisted.internet import reactor

            self._queued = []
            reactor.callLater(pause, self._after_pause, line)
            return True
        return self.handle(line)

    def _after_pause(self, line: str) -> None:
        queued, self._queued = self._queued or [], None
        if not self.handle(line):
            return self._close()
        while queued and self._queued is None:
            if not self.receive(queued.pop(0)):
                return self._close()
        if queued:  # a queued line began its own pause: the rest waits behind it
            self._queued.extend(queued)
        return None

    def _close(self) -> None:
        """What the SSH shell does when receive() returns False, done here after a pause."""
        controller = self.command_processor.terminal_controller
        while not hasattr(controller, "shell"):  # LoggingTerminalController wraps the SSH one
            controller = controller.terminal_controller
        controller.shell.terminal.loseConnection()


# --- the labctl service ------------------------------------------------------------------------------
class NetdevService(common.Service):
    """The labctl service base of every simulated network device (lab/netdevices/fakeswitch, fakenos).

    A device is one inventory host (group `network`) with `ansible_host` (loopback), `ansible_port`,
    `lab_model` (fake-switches model or FakeNOS platform), `netdev_username` and the generated password
    .lab/secrets/netdev.password (mode 0600). Each device runs as its own process with its own pid file, so
    labctl starts, stops and resets devices one by one. At every `up` the device's SSH host key (made once in
    .lab/data/<host>/) is written to .lab/netdev/known_hosts, so clients can check host keys strictly.

    A host that is not itself in lab/netdevices/topology.yml (the extra switches of a benchmark) names the
    device it copies with `lab_topology_device` (hardware, ports, seed, cabling); its own name is still its
    hostname. Unset, a host is looked up by its own name, as every lab device is.
    """

    kind = "netdev"
    start_timeout = 30.0
    runner: str  # the module that runs one device (python -m, cwd-independent: labctl sets PYTHONPATH)
    models: dict[str, str]  # lab_model -> vendor family

    def __init__(self, name: str, hostvars: dict, lab: common.Lab) -> None:
        super().__init__(name, hostvars, lab)
        self.address = str(hostvars.get("ansible_host") or "127.0.0.1")
        common.require_loopback(name, self.address)
        try:
            self.port = int(hostvars["ansible_port"])
        except (KeyError, TypeError, ValueError):
            raise common.LabError(f"{name}: ansible_port: missing or not a number in the inventory") from None
        self.model = str(hostvars.get("lab_model") or "")
        if self.model not in self.models:
            raise common.LabError(f"{name}: lab_model {self.model!r} is not one of {', '.join(sorted(self.models))} "
                                  f"(lab_service {self.kind})")
        self.username = str(hostvars.get("netdev_username") or "jinbao-lab")
        self.device_file = self.data_dir / "device.json"
        self.faults_file = self.data_dir / "faults.json"
        self.topology_device = str(hostvars.get("lab_topology_device") or name)
        try:
            device(self.topology_device)
        except NetdevError as exc:
            raise common.LabError(str(exc)) from None

    def publish_host_key(self) -> Path:
        key, public = host_key(self.data_dir)
        publish_host_key(self.lab.state_dir, self.address, self.port, public)
        return key

    def start(self) -> str:
        self.publish_host_key()  # also when the device is already up: known_hosts covers every device
        return super().start()

    def device_config(self) -> dict:
        return {"hostname": self.name, "model": self.model, "address": self.address, "port": self.port,
                "username": self.username, "data_dir": str(self.data_dir), "host_key": str(self.publish_host_key()),
                "password_file": str(self.lab.state_dir / "secrets" / "netdev.password"),
                "topology_device": self.topology_device}

    def prepare(self) -> None:
        self.lab.secret("netdev.password")
        tmp = self.device_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.device_config(), indent=2, sort_keys=True) + "\n")
        os.replace(tmp, self.device_file)

    def command(self) -> list[str]:
        return [sys.executable, "-m", self.runner, "--config", str(self.device_file)]

    def health(self) -> tuple[bool, str]:
        """The TCP port answers with an SSH identification banner."""
        return ssh_banner(self.address, self.port)


def serve_ssh(core, version_string: bytes, address: str, port: int, username: str, password: bytes,
              host_key: Path, what: str) -> None:
    """Serve a simulated device's CLI (`core`: a fake-switches SwitchCore) over SSH on address:port with one
    login, the lab's host key and the SSH banner a real device of its kind sends; runs Twisted's reactor until
    the process is stopped. `what` names the device in the log line."""
    import logging

    from fake_switches.transports.ssh_service import SSHDemoRealm
    from twisted.conch.ssh import factory, keys, transport
    from twisted.cred import portal
    from twisted.cred.checkers import InMemoryUsernamePasswordDatabaseDontUse
    from twisted.internet import reactor

    class Transport(transport.SSHServerTransport):
        ourVersionString = version_string

    ssh_factory = factory.SSHFactory()
    ssh_factory.protocol = Transport
    ssh_factory.portal = portal.Portal(SSHDemoRealm(core))
    ssh_factory.portal.registerChecker(InMemoryUsernamePasswordDatabaseDontUse(**{username: password}))
    key = keys.Key.fromFile(str(host_key))
    ssh_factory.publicKeys = {b"ssh-rsa": key.public()}
    ssh_factory.privateKeys = {b"ssh-rsa": key}
    reactor.listenTCP(port, ssh_factory, interface=address)
    logging.info("%s listening on ssh://%s:%d", what, address, port)
    reactor.run()
