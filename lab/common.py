"""The lab framework: each simulated system is a real process on 127.0.0.1 with a pid file and a log.

A simulated system is a `Service` subclass (lab/<kind>/service.py, lab/netdevices/<kind>/service.py), listed
in labctl's KINDS. labctl creates one per inventory host whose `lab_service` variable names that kind,
passing the host's variables, so every port is declared once, in inventory/lab.

State lives in the lab's state dir (.lab/ of the clone): pid files, logs, PKI, secrets and data/<host>/.
A process that drops root (`Service.runs_as`: snmpsim runs as nobody, PostgreSQL as postgres) cannot be
given anything inside the clone, whose parent may be mode 0700 (root's home, `mktemp -d`): its data
lives in the lab's runtime dir, /var/lib/jinbao-lab/<12 hex of the state dir's sha256>/data/<host>/, made
at `up` with every level mode 0755, and removed by a full `labctl reset` and by `labctl clean` (make clean).
"""

from __future__ import annotations

import datetime
import grp
import hashlib
import ipaddress
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import ClassVar

ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
RUNTIME_BASE = Path("/var/lib/jinbao-lab")  # data of the processes that drop root, one folder per lab


class LabError(RuntimeError):
    """A lab service could not be built, started or checked; the message names it and says why."""


def require_loopback(name: str, address: str) -> None:
    """The lab never binds or targets anything outside 127.0.0.0/8."""
    try:
        ok = ipaddress.ip_address(address) in LOOPBACK
    except ValueError:
        ok = False
    if not ok:
        raise LabError(f"{name}: address {address!r} is not on loopback (127.0.0.0/8); the lab refuses it")


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class Lab:
    """Shared state of one lab: its state directory, its CA and its generated secrets."""

    def __init__(self, state_dir: Path | None = None) -> None:
        self.state_dir = Path(state_dir or os.environ.get("LAB_STATE_DIR") or ROOT / ".lab").resolve()
        self.build_dir = ROOT / ".cache" / "build"
        for sub in ("run", "log", "pki", "secrets", "data"):
            (self.state_dir / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(self.state_dir / "secrets", 0o700)

    # --- the runtime dir: what a process that drops root reads and writes --------------------------------
    @property
    def runtime_dir(self) -> Path:
        """/var/lib/jinbao-lab/<hash>/: this lab's folder outside the clone (one per state dir)."""
        return RUNTIME_BASE / hashlib.sha256(str(self.state_dir).encode()).hexdigest()[:12]

    def make_runtime_dir(self, *parts: str) -> Path:
        """The runtime dir (or a folder in it), made if missing, every level from /var/lib/jinbao-lab mode 0755."""
        path = self.runtime_dir.joinpath(*parts)
        try:
            for level in (*reversed(path.parents), path):
                if level == RUNTIME_BASE or RUNTIME_BASE in level.parents:
                    level.mkdir(exist_ok=True)
                    os.chmod(level, 0o755)  # whatever the umask: the users who run services must get in
        except OSError as exc:
            raise LabError(f"cannot make {path} ({exc.strerror}): run the lab as root (make lab-up)") from None
        owner = self.runtime_dir / "state-dir"  # whose folder this is, for a human who finds it
        if not owner.exists():
            owner.write_text(f"{self.state_dir}\n")
        return path

    def forget_runtime_dir(self) -> str:
        """Remove the runtime dir (a full `labctl reset`, `labctl clean`)."""
        if not self.runtime_dir.exists():
            return f"{self.runtime_dir}: none"
        shutil.rmtree(self.runtime_dir)
        return f"{self.runtime_dir}: removed"

    # --- secrets -------------------------------------------------------------------------------
    def secret(self, name: str) -> str:
        """A random secret generated once per lab and kept in .lab/secrets/<name> (mode 0600)."""
        path = self.state_dir / "secrets" / name
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(24))
        return path.read_text().strip()

    # --- certificates --------------------------------------------------------------------------
    @property
    def ca_cert(self) -> Path:
        return self.state_dir / "pki" / "ca.crt"

    def _ca(self):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key_path = self.state_dir / "pki" / "ca.key"
        if not key_path.exists():
            key = ec.generate_private_key(ec.SECP256R1())
            name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "jinbao-dc lab CA")])
            now = datetime.datetime.now(datetime.UTC)
            cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                    .public_key(key.public_key()).serial_number(x509.random_serial_number())
                    .not_valid_before(now - datetime.timedelta(minutes=5))
                    .not_valid_after(now + datetime.timedelta(days=3650))
                    .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                    .sign(key, hashes.SHA256()))
            _write_private(key_path, key.private_bytes(serialization.Encoding.PEM,
                                                       serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
            self.ca_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key = serialization.load_pem_private_key(key_path.read_bytes(), None)
        cert = x509.load_pem_x509_certificate(self.ca_cert.read_bytes())
        return key, cert

    def server_cert(self, name: str, hostnames: tuple[str, ...] = ("localhost",),
                    addresses: tuple[str, ...] = ("127.0.0.1",)) -> tuple[Path, Path]:
        """A TLS server certificate for a lab service, signed by the lab CA; made once."""
        crt = self.state_dir / "pki" / f"{name}.crt"
        key_path = self.state_dir / "pki" / f"{name}.key"
        if crt.exists() and key_path.exists():
            return crt, key_path
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        ca_key, ca_cert = self._ca()
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        sans = [x509.DNSName(h) for h in hostnames] + [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
                .issuer_name(ca_cert.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=825))
                .add_extension(x509.SubjectAlternativeName(sans), critical=False)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                .sign(ca_key, hashes.SHA256()))
        _write_private(key_path, key.private_bytes(serialization.Encoding.PEM,
                                                   serialization.PrivateFormat.TraditionalOpenSSL,
                                                   serialization.NoEncryption()))
        crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return crt, key_path


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


class Service:
    """One simulated system: a real process on loopback, started and stopped by pid.

    Subclasses set `kind` and implement `command()` and `health()`; they may override `build()`
    (idempotent, before start), `prepare()` (config files, certificates) and `after_start()` (seeding).
    """

    kind = "base"
    start_timeout = 60.0
    # The OS user the process runs as after it drops root (None: it stays root). Its data dir is then in the
    # lab's runtime dir, which that user can reach from /, and it gets no PYTHONPATH into the clone.
    runs_as: str | None = None
    stop_signal = signal.SIGTERM

    def __init__(self, name: str, hostvars: dict, lab: Lab) -> None:
        self.name = name
        self.vars = hostvars
        self.lab = lab
        self.pid_file = lab.state_dir / "run" / f"{name}.pid"
        self.log_file = lab.state_dir / "log" / f"{name}.log"
        self.data_dir = (lab.runtime_dir if self.runs_as else lab.state_dir) / "data" / name

    # --- what a subclass provides ------------------------------------------------------------------
    def build(self) -> None:
        """Build what the service needs (binaries, venvs); idempotent and fast when done."""

    def prepare(self) -> None:
        """Write config and certificates before the process starts."""

    def command(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        return {}

    def health(self) -> tuple[bool, str]:
        raise NotImplementedError

    def after_start(self) -> None:
        """Seed the running service (idempotent: a restart of labctl up must not seed twice)."""

    # Faults and triggers a test or a demo can set off (`labctl act NAME ACTION [ARG ...]`):
    # action name -> one line of help. A subclass that lists actions implements act().
    actions: ClassVar[dict[str, str]] = {}

    def act(self, action: str, args: list[str]) -> str:
        """Carry out one of `actions` on the running service; return what was done, in one line."""
        raise LabError(f"{self.name}: {self.kind} has no action {action!r}"
                       + (f"; known: {', '.join(sorted(self.actions))}" if self.actions else ""))

    # --- process management -----------------------------------------------------------------------
    def pid(self) -> int | None:
        """The pid from our pid file, if that process is alive and is still the one we started."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return None
        expected = os.path.basename(self.command()[0]).encode()
        if not any(os.path.basename(part) == expected for part in cmdline[:3]):
            return None  # the pid was reused by something else: never signal it
        return pid

    def start(self) -> str:
        self._leave_legacy_data()
        if self.pid() is not None:
            ok, detail = self.health()
            if ok:
                return "already running"
            self.stop()
        self.build()
        if self.runs_as:
            self.lab.make_runtime_dir("data", self.name)
            require_reachable(self.name, self.data_dir, self.runs_as)
        else:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        self.prepare()
        env = dict(os.environ, **self.env())
        if not self.runs_as:  # `python -m lab.<kind>.<module>` from any cwd (the data dir)
            env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
        with open(self.log_file, "ab") as log:
            log.write(f"\n--- {datetime.datetime.now(datetime.UTC).isoformat()} start\n".encode())
            log.flush()
            proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env=env, cwd=self.data_dir, start_new_session=True)
        self.pid_file.write_text(f"{proc.pid}\n")
        deadline = time.monotonic() + self.start_timeout
        detail = "not checked"
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise LabError(f"{self.name}: exited with code {proc.returncode} during start; "
                               f"see {self.log_file}:\n{_tail(self.log_file)}")
            ok, detail = self.health()
            if ok:
                self.after_start()
                return "started"
            time.sleep(0.2)
        self.stop()
        raise LabError(f"{self.name}: not healthy after {self.start_timeout:.0f}s ({detail}); see {self.log_file}")

    def reset(self) -> str:
        """Stop the service and forget its data (.lab/data/<name>): the next start is the seed state again."""
        stopped = self.stop()
        if self.data_dir.exists():
            shutil.rmtree(self.data_dir)
        return f"{stopped}; data forgotten"

    def _leave_legacy_data(self) -> None:
        """A lab made before the runtime dir kept a root-dropping process's data in .lab/data/<host>: stop
        that process if it still runs from there, and move its data to the runtime dir (once)."""
        legacy = self.lab.state_dir / "data" / self.name
        if not self.runs_as or legacy == self.data_dir or not legacy.is_dir():
            return
        try:
            pid = int(self.pid_file.read_text().strip())
            if str(legacy).encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                os.kill(pid, self.stop_signal)
                for _ in range(100):
                    if not Path(f"/proc/{pid}").exists() or _is_zombie(pid):
                        break
                    time.sleep(0.1)
        except (OSError, ValueError):
            pass
        if self.data_dir.exists():
            shutil.rmtree(legacy)
        else:
            self.lab.make_runtime_dir("data")
            shutil.move(legacy, self.data_dir)

    def stop(self) -> str:
        self._leave_legacy_data()
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return "not running"
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        for _ in range(50):
            if not Path(f"/proc/{pid}").exists() or _is_zombie(pid):
                break
            time.sleep(0.1)
        else:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.pid_file.unlink(missing_ok=True)
        return "stopped"

    def status(self) -> dict:
        pid = self.pid()
        if pid is None:
            return {"name": self.name, "kind": self.kind, "state": "down", "pid": None, "health": "-"}
        ok, detail = self.health()
        return {"name": self.name, "kind": self.kind, "state": "up" if ok else "unhealthy", "pid": pid,
                "health": detail}


def require_reachable(name: str, path: Path, user: str) -> None:
    """`user` can reach `path` from / (search permission on every folder above it); else one line on what to do."""
    try:
        account = pwd.getpwnam(user)
    except KeyError:
        raise LabError(f"{name}: the system has no {user!r} user, whom this service runs as") from None
    groups = {account.pw_gid, *(g.gr_gid for g in grp.getgrall() if user in g.gr_mem)}
    for folder in [*reversed(path.parents), path]:
        st = folder.stat()
        bit = (stat.S_IXUSR if st.st_uid == account.pw_uid else
               stat.S_IXGRP if st.st_gid in groups else stat.S_IXOTH)
        if not st.st_mode & bit:
            raise LabError(f"{name}: {folder} (mode {stat.S_IMODE(st.st_mode):04o}) is closed to {user}, who runs "
                           f"this service and must reach {path}: chmod o+x {folder}")


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def load_inventory(inventory: Path) -> dict:
    """The inventory as ansible-inventory resolves it (groups, hosts and their variables)."""
    exe = Path(sys.executable).with_name("ansible-inventory")
    proc = subprocess.run([str(exe), "-i", str(inventory), "--list"], capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        raise LabError(f"cannot read inventory {inventory}: {proc.stderr.strip()}")
    return json.loads(proc.stdout)
