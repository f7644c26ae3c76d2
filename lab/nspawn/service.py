"""labctl service `nspawn`: a real Debian 12 machine with systemd as PID 1, reached over SSH, as on a site.

The monitoring hosts (mon-city-01, mon-province-01) are such machines: monitoring.yml deploys to them over SSH
exactly as it would to a site's machine (the wheel, the units, the users, the certificates, Debian's
Prometheus and Alertmanager as systemd services).

- The base: `debootstrap --variant=minbase` of bookworm with PACKAGES, built once into a cache outside the
  clone, /var/cache/jinbao-lab/bookworm-<hash of the suite and package list>/ (LAB_NSPAWN_CACHE overrides the
  folder), from the Debian mirror this machine's apt uses (/etc/apt/sources.list(.d)). Prometheus and
  Alertmanager are installed there only to keep lab-up fast (roles/monitoring still declares and configures
  them); they are disabled in the base, so a host runs them only once monitoring.yml has configured them.
- Each host: its own copy of the base in .lab/data/<host>/rootfs (`reset` forgets it). At every start: sshd
  listens on 127.0.0.1:<ansible_port> only, with its own host keys (made once per copy) recorded in the lab's
  known_hosts (.lab/ssh/known_hosts; host key checking stays on), and the lab's key (.lab/ssh/id_ed25519) in
  root's authorized_keys.
- Boot: `systemd-nspawn -D <rootfs> -b --register=no --keep-unit -M <host>` (--keep-unit because this machine's
  PID 1 is not systemd). The container shares this machine's network, so its services listen on
  127.0.0.1:<their ports> and reach the lab's other services on 127.0.0.1 as before. Healthy when
  `ssh ... systemctl is-system-running` answers running or degraded.
- What the host reads of other lab systems (a site would mount it over NFS) is bind-mounted read-only at the
  same path: `nspawn_bind_ro` in the host's variables, paths relative to the lab's state directory. An entry
  {path, gid} also makes that tree readable by group gid (setgid directories, so files written later keep the
  group; restic >= 0.14 then writes group-readable files into a repository whose config is): the monitoring
  host's reader group has that gid (roles/monitoring monitoring_exporter_groups).
- `down` sends SIGTERM to systemd-nspawn, which shuts the machine down cleanly (systemd stops every unit).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

from lab import common

SUITE = "bookworm"
PACKAGES = ("systemd", "systemd-sysv", "dbus", "openssh-server", "python3", "python3-venv", "python3-apt",
            "python3-packaging", "ca-certificates", "prometheus", "prometheus-alertmanager", "restic")
# Units that come with PACKAGES but must not run until a playbook has configured them.
DISABLED_UNITS = ("prometheus.service", "prometheus-alertmanager.service", "prometheus-node-exporter.service")
CACHE_ROOT = Path(os.environ.get("LAB_NSPAWN_CACHE", "/var/cache/jinbao-lab"))
NSPAWN = "/usr/bin/systemd-nspawn"
DEBOOTSTRAP = "/usr/sbin/debootstrap"
HOST_KEY_TYPES = ("ed25519", "ecdsa", "rsa")


def debian_mirror(apt_dir: Path = Path("/etc/apt")) -> str:
    """The Debian mirror this machine's apt uses for the main archive (deb822 .sources or one-line .list)."""
    files = [apt_dir / "sources.list", *sorted((apt_dir / "sources.list.d").glob("*.sources")),
             *sorted((apt_dir / "sources.list.d").glob("*.list"))]
    for path in files:
        try:
            text = path.read_text()
        except OSError:
            continue
        if path.suffix == ".sources":
            for stanza in re.split(r"\n\s*\n", text):
                fields = dict(re.findall(r"^([A-Za-z-]+):\s*(.+)$", stanza, re.M))
                if "deb" in fields.get("Types", "").split() and SUITE in fields.get("Suites", "").split():
                    return fields["URIs"].split()[0]
        else:
            for line in text.splitlines():
                words = [w for w in line.split() if not w.startswith("[")]
                if len(words) >= 3 and words[0] == "deb" and words[2] == SUITE:
                    return words[1]
    raise common.LabError(f"no `deb ... {SUITE}` source in /etc/apt/sources.list(.d); the lab's Debian machines "
                          "are bootstrapped from that mirror: add one (e.g. http://deb.debian.org/debian)")


def base_dir() -> Path:
    """The cached base for the current package list: rebuilt only when SUITE or PACKAGES change."""
    digest = hashlib.sha256("\n".join((SUITE, *sorted(PACKAGES))).encode()).hexdigest()[:12]
    return CACHE_ROOT / f"{SUITE}-{digest}"


def build_base(log) -> Path:
    """debootstrap the base once (about a minute); later calls return at once. Safe against a parallel build."""
    base = base_dir()
    if (base / "etc" / "os-release").exists():
        return base
    for tool, package in ((DEBOOTSTRAP, "debootstrap"), (NSPAWN, "systemd-container")):
        if not Path(tool).exists():
            raise common.LabError(f"{tool} is missing; apt-get install -y {package} (lab/packages.apt)")
    CACHE_ROOT.mkdir(parents=True, exist_ok=True)
    with open(CACHE_ROOT / f".{base.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (base / "etc" / "os-release").exists():
            return base
        tmp = base.with_name(base.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        mirror = debian_mirror()
        argv = [DEBOOTSTRAP, "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, str(tmp), mirror]
        log.write(f"building the Debian base: {' '.join(argv)}\n".encode())
        log.flush()
        proc = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, check=False)
        if proc.returncode != 0:
            raise common.LabError(f"debootstrap of {SUITE} from {mirror} failed (exit {proc.returncode}); see the "
                                  f"log, and check that the mirror answers (apt-get update)")
        # Configured by playbooks, not by the base: no unit runs before its configuration exists.
        subprocess.run(["systemctl", f"--root={tmp}", "disable", *DISABLED_UNITS], stdout=log,
                       stderr=subprocess.STDOUT, check=False)
        for key in (tmp / "etc" / "ssh").glob("ssh_host_*"):
            key.unlink()  # every host makes its own
        os.replace(tmp, base)
    return base


def publish_host_keys(known_hosts: Path, address: str, port: int, public_lines: list[str]) -> None:
    """Put `[address]:port <key>` lines into known_hosts, replacing that host's earlier lines."""
    known_hosts.parent.mkdir(parents=True, exist_ok=True)
    host = f"[{address}]:{port}"
    with open(known_hosts.parent / ".known_hosts.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        lines = known_hosts.read_text().splitlines() if known_hosts.exists() else []
        kept = [line for line in lines if line.split(" ", 1)[0] != host]
        kept += [f"{host} {line}" for line in public_lines]
        tmp = known_hosts.with_suffix(".tmp")
        tmp.write_text("".join(f"{line}\n" for line in sorted(kept)))
        os.replace(tmp, known_hosts)


class Service(common.Service):
    kind = "nspawn"
    start_timeout = 180.0

    def __init__(self, name: str, hostvars: dict, lab: common.Lab) -> None:
        super().__init__(name, hostvars, lab)
        self.address = str(hostvars.get("ansible_host", "127.0.0.1"))
        common.require_loopback(name, self.address)
        try:
            self.port = int(hostvars["ansible_port"])
        except (KeyError, TypeError, ValueError):
            raise common.LabError(f"{name}: ansible_port: missing or not a number in inventory/lab/host_vars/"
                                  f"{name}.yml; add e.g. `ansible_port: 12201` (its sshd listens there)") from None
        self.rootfs = self.data_dir / "rootfs"
        self.ssh_dir = lab.state_dir / "ssh"
        self.key = self.ssh_dir / "id_ed25519"
        self.known_hosts = self.ssh_dir / "known_hosts"
        self.binds = [b if isinstance(b, dict) else {"path": b} for b in hostvars.get("nspawn_bind_ro") or []]

    # --- the machine --------------------------------------------------------------------------------
    def build(self) -> None:
        if (self.rootfs / "etc" / "os-release").exists():
            return
        with open(self.log_file, "ab") as log:
            base = build_base(log)
        tmp = self.rootfs.with_name("rootfs.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run(["cp", "-a", "--reflink=auto", str(base), str(tmp)], check=True)
        os.replace(tmp, self.rootfs)

    def _lab_key(self) -> str:
        self.ssh_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.ssh_dir, 0o700)
        if not self.key.exists():
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "jinbao-dc lab", "-f", str(self.key)],
                           check=True)
        return self.key.with_suffix(".pub").read_text().strip()

    def prepare(self) -> None:
        etc = self.rootfs / "etc"
        (etc / "hostname").write_text(f"{self.name}\n")
        (etc / "ssh" / "sshd_config.d").mkdir(parents=True, exist_ok=True)
        (etc / "ssh" / "sshd_config.d" / "jinbao-lab.conf").write_text(
            "# Written by lab/nspawn/service.py at every lab-up: the lab's port, loopback only, keys only.\n"
            f"Port {self.port}\nListenAddress {self.address}\nPermitRootLogin prohibit-password\n"
            "PasswordAuthentication no\n")
        if not (etc / "ssh" / "ssh_host_ed25519_key").exists():
            subprocess.run(["ssh-keygen", "-A", "-f", str(self.rootfs)], check=True, capture_output=True)
        publish_host_keys(self.known_hosts, self.address, self.port,
                          [" ".join((etc / "ssh" / f"ssh_host_{t}_key.pub").read_text().split()[:2])
                           for t in HOST_KEY_TYPES if (etc / "ssh" / f"ssh_host_{t}_key.pub").exists()])
        ssh = self.rootfs / "root" / ".ssh"
        ssh.mkdir(mode=0o700, exist_ok=True)
        (ssh / "authorized_keys").write_text(self._lab_key() + "\n")
        os.chmod(ssh / "authorized_keys", 0o600)
        for bind in self.binds:
            self._prepare_bind(bind)

    def _bind_source(self, bind: dict) -> Path:
        source = (self.lab.state_dir / str(bind["path"])).resolve()
        if not source.is_dir():
            raise common.LabError(f"{self.name}: nspawn_bind_ro {bind['path']!r}: {source} is not a directory; "
                                  "start the lab system that makes it first (labctl up)")
        return source

    def _prepare_bind(self, bind: dict) -> None:
        """The mount point exists in the machine, and every folder above it can be traversed there (a clone
        under root's 0700 home must not hide the mount from the machine's unprivileged users)."""
        source = self._bind_source(bind)
        inside = self.rootfs / source.relative_to("/")
        inside.mkdir(parents=True, exist_ok=True)
        for parent in [inside, *inside.parents]:
            if parent == self.rootfs:
                break
            mode = parent.stat().st_mode
            if not mode & 0o001:
                os.chmod(parent, (mode & 0o7777) | 0o001)
        if bind.get("gid") is not None:
            self._share_with_group(source, int(bind["gid"]))

    @staticmethod
    def _share_with_group(source: Path, gid: int) -> None:
        """Make the tree readable by `gid`, and keep it so for what is written later (setgid directories)."""
        for dirpath, dirnames, filenames in os.walk(source):
            for name in [*dirnames, *filenames, None]:
                path = Path(dirpath) if name is None else Path(dirpath) / name
                if path.is_symlink():
                    continue
                st = path.stat()
                if st.st_gid != gid:
                    os.chown(path, -1, gid)
                extra = 0o2050 if path.is_dir() else 0o040
                if (st.st_mode & extra) != extra:
                    os.chmod(path, (st.st_mode & 0o7777) | extra)

    def command(self) -> list[str]:
        argv = [NSPAWN, "-D", str(self.rootfs), "-b", "--register=no", "--keep-unit", "-M", self.name,
                "--console=read-only"]
        for bind in self.binds:
            source = self._bind_source(bind)
            argv.append(f"--bind-ro={source}")
        return argv

    # --- health and stop ----------------------------------------------------------------------------
    def ssh_argv(self, *command: str) -> list[str]:
        """ssh to the machine as the playbooks do: the lab's key, its known_hosts, strict host key checking."""
        return ["ssh", "-p", str(self.port), "-i", str(self.key), "-o", f"UserKnownHostsFile={self.known_hosts}",
                "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=3",
                f"root@{self.address}", *command]

    def health(self) -> tuple[bool, str]:
        if not common.port_open(self.address, self.port):
            return False, f"sshd not answering on {self.address}:{self.port}"
        try:
            proc = subprocess.run(self.ssh_argv("systemctl", "is-system-running"), capture_output=True, text=True,
                                  timeout=15)
        except subprocess.TimeoutExpired:
            return False, "ssh systemctl is-system-running: timed out"
        state = proc.stdout.strip() or proc.stderr.strip()[-200:]
        return state in ("running", "degraded"), f"ssh {self.address}:{self.port} systemd {state}"

    def stop(self) -> str:
        """SIGTERM to systemd-nspawn: the machine's systemd stops every unit and powers off (up to 90 s)."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return "not running"
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists() and not common._is_zombie(pid):
            time.sleep(0.2)
        if Path(f"/proc/{pid}").exists() and not common._is_zombie(pid):
            os.killpg(pid, signal.SIGKILL)
            self.pid_file.unlink(missing_ok=True)
            return "killed (no clean shutdown within 90 s)"
        self.pid_file.unlink(missing_ok=True)
        return "stopped (clean shutdown)"

    def reset(self) -> str:
        stopped = super().reset()
        publish_host_keys(self.known_hosts, self.address, self.port, [])
        return stopped
