"""The lab vCenter: govmomi's simulator shaped into the facility (lab/vcsim/README.md)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import ssl
import subprocess
import time
from pathlib import Path

from lab import common
from lab.vcsim import seed

HERE = Path(__file__).resolve().parent

GOPATH = "/usr/share/gocode"
SIMULATOR_SRC = Path(GOPATH) / "src/github.com/vmware/govmomi/simulator"


class Service(common.Service):
    kind = "vcsim"
    start_timeout = 240.0

    def __init__(self, name: str, hostvars: dict, lab: common.Lab) -> None:
        super().__init__(name, hostvars, lab)
        self.address = str(hostvars.get("vcenter_hostname", "127.0.0.1"))
        common.require_loopback(name, self.address)
        try:
            self.port = int(hostvars["vcenter_port"])
        except (KeyError, TypeError, ValueError):
            raise common.LabError(f"{name}: vcenter_port: missing or not a number in the inventory") from None
        self.username = str(hostvars.get("vcenter_username") or "jinbao-lab")
        self.binary = lab.build_dir / "vcsim"
        self.stamp = lab.build_dir / "vcsim.sha256"
        self.plan_file = self.data_dir / "plan.json"
        self.state_file = self.data_dir / "state.json"
        # A real vCenter keeps its inventory across restarts; so does the lab's (labctl reset forgets it).
        self.persist = bool(hostvars.get("lab_vcsim_persist", True))
        self._seeded = ""

    # --- build ------------------------------------------------------------------------------------
    def _source_hash(self) -> str:
        digest = hashlib.sha256()
        for source in sorted(HERE.glob("*.go")):
            digest.update(source.name.encode() + b"\0" + source.read_bytes())
        try:
            version = subprocess.run(["go", "version"], capture_output=True, text=True, timeout=30).stdout
        except (OSError, subprocess.TimeoutExpired):
            version = "no go"
        digest.update(version.encode())
        return digest.hexdigest()

    def build(self) -> None:
        """Compile lab/vcsim/*.go against Debian's govmomi sources; only when a source (or Go) changed."""
        if not SIMULATOR_SRC.is_dir():
            raise common.LabError(f"{self.name}: govmomi simulator sources missing at {SIMULATOR_SRC}; "
                                  "install golang-go golang-github-vmware-govmomi-dev (make deps does)")
        wanted = self._source_hash()
        if self.binary.exists() and self.stamp.exists() and self.stamp.read_text().strip() == wanted:
            return
        self.lab.build_dir.mkdir(parents=True, exist_ok=True)
        # Go's own build cache (~/.cache/go-build unless GOCACHE is set) is shared by every checkout on the
        # machine, so a fresh clone compiles only main.go, not the whole govmomi simulator again.
        env = dict(os.environ, GOPATH=GOPATH, GO111MODULE="off")
        print(f"\n{self.name:<20} building {self.binary.relative_to(common.ROOT)} (first build takes a minute) ...",
              end="", flush=True)
        try:
            sources = sorted(p.name for p in HERE.glob("*.go"))
            proc = subprocess.run(["go", "build", "-o", str(self.binary) + ".tmp", *sources], cwd=HERE, env=env,
                                  capture_output=True, text=True, timeout=1800)
        except FileNotFoundError:
            raise common.LabError(f"{self.name}: the go compiler is missing; "
                                  "install golang-go (make deps does)") from None
        except subprocess.TimeoutExpired:
            raise common.LabError(f"{self.name}: go build did not finish within 30 minutes") from None
        if proc.returncode != 0:
            raise common.LabError(f"{self.name}: go build failed:\n{proc.stderr.strip()}")
        os.replace(str(self.binary) + ".tmp", self.binary)
        self.stamp.write_text(wanted + "\n")

    # --- run --------------------------------------------------------------------------------------
    def vm_count(self) -> int | None:
        """Explicit scale: LAB_VCSIM_VMS, else the inventory's lab_vcsim_vms, else the topology's own."""
        try:
            return seed.scale_from_env(self.vars.get("lab_vcsim_vms"))
        except ValueError as exc:
            raise common.LabError(f"{self.name}: {exc}") from None

    def prepare(self) -> None:
        self.cert, self.key = self.lab.server_cert("vcsim")
        self.password_file = self.lab.state_dir / "secrets" / "vcenter.password"
        self.lab.secret("vcenter.password")
        plan = seed.expand(seed.load_topology(), self.vm_count(), anomalies=seed.anomalies_from_env())
        self.plan_file.write_text(json.dumps(plan, sort_keys=True) + "\n", encoding="utf-8")
        self.expected_vms = len(plan["vms"])

    def command(self) -> list[str]:
        cert, key = self.lab.state_dir / "pki" / "vcsim.crt", self.lab.state_dir / "pki" / "vcsim.key"
        return [str(self.binary), "-listen", f"{self.address}:{self.port}", "-cert", str(cert), "-key", str(key),
                "-username", self.username, "-password-file", str(self.lab.state_dir / "secrets" / "vcenter.password"),
                "-plan", str(self.plan_file), "-datastores", str(self.data_dir / "datastores"),
                "-relocate-delay-ms", str(self.relocate_delay_ms()), "-faults", str(self.data_dir / "faults.json"),
                *(["-state", str(self.state_file)] if self.persist else [])]

    def relocate_delay_ms(self) -> int:
        """LAB_VCSIM_RELOCATE_MS: how long each VM relocation takes (0, instant, unless a benchmark asks)."""
        raw = os.environ.get("LAB_VCSIM_RELOCATE_MS", "0")
        try:
            value = int(raw)
        except ValueError:
            raise common.LabError(f"{self.name}: LAB_VCSIM_RELOCATE_MS={raw!r} is not a whole number of ms") from None
        if value < 0:
            raise common.LabError(f"{self.name}: LAB_VCSIM_RELOCATE_MS={raw!r} must not be negative")
        return value

    def _connect(self):
        from pyVim.connect import SmartConnect

        ctx = ssl.create_default_context(cafile=str(self.lab.ca_cert))
        return SmartConnect(host=self.address, port=self.port, user=self.username,
                            pwd=self.lab.secret("vcenter.password"), sslContext=ctx, httpConnectionTimeout=10)

    def health(self) -> tuple[bool, str]:
        """A real login with the lab password, verified against the lab CA."""
        if not common.port_open(self.address, self.port):
            return False, f"nothing listens on {self.address}:{self.port}"
        try:
            from pyVim.connect import Disconnect

            si = self._connect()
            about = si.content.about.fullName
            Disconnect(si)
        except Exception as exc:
            return False, f"login failed: {type(exc).__name__}: {getattr(exc, 'msg', None) or exc}"
        return True, f"https://{self.address}:{self.port}/sdk login ok ({about})"

    def after_start(self) -> None:
        """The simulator builds the plan before it listens; check that every VM is there."""
        from pyVim.connect import Disconnect
        from pyVmomi import vim

        si = self._connect()
        try:
            content = si.RetrieveContent()
            view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
            found = len(view.view)
            view.Destroy()
        finally:
            Disconnect(si)
        expected = getattr(self, "expected_vms", None)
        if expected is not None and found != expected:
            raise common.LabError(f"{self.name}: seeded {found} VMs but the plan has {expected}; see {self.log_file}")
        self._seeded = self._seed_line() or f"{found} VMs"

    def _seed_line(self) -> str:
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            try:
                lines = self.log_file.read_text(errors="replace").splitlines()
            except OSError:
                lines = []
            for line in reversed(lines):
                m = re.search(r"vcsim: (seeded .*)$", line)
                if m:
                    return m.group(1)
                if "--- " in line and " start" in line:
                    break
            time.sleep(0.1)
        return ""

    def start(self) -> str:
        result = super().start()
        return f"{result} ({self._seeded})" if self._seeded else result


def standalone(name: str, port: int, state_dir: Path, start_timeout: float = 240.0, persist: bool = False) -> Service:
    """A private simulator (own name, port and state directory) for benchmarks and tests that change it.

    Playbooks reach it with `-e lab_state_dir=<state_dir> -e vcenter_port=<port>`; LAB_VCSIM_VMS scales it.
    It forgets every change on restart unless `persist` (then stop + start keeps them; reset() forgets).
    """
    hostvars = {"vcenter_hostname": "127.0.0.1", "vcenter_port": port, "vcenter_username": "jinbao-lab",
                "lab_vcsim_persist": persist}
    svc = Service(name, hostvars, common.Lab(state_dir))
    svc.start_timeout = max(svc.start_timeout, start_timeout)
    return svc
