"""What the API benchmarks share: paths, progress lines, a timed playbook run, a private simulator,
and the rewrite of one section of docs/BENCHMARKS.md."""

from __future__ import annotations

import datetime
import os
import re
import subprocess
import time
from pathlib import Path

from lab import common, security
from lab.vcsim import service

ROOT = Path(__file__).resolve().parents[1]

BENCHMARKS = ROOT / "docs" / "BENCHMARKS.md"
VENV_BIN = ROOT / ".venv" / "bin"
LAB = ROOT / ".lab"  # inventory/lab's lab_state_dir
# Who runs the benches' playbooks (JINBAO_OPERATOR): the lab's operators that lab-up makes (lab/security.py). The
# system administrator changes the facility (discover, plan, migrate, network); the security administrator
# onboards operators and writes credentials into Vault.
SECURITY_ADMIN = security.SECURITY_ADMIN
SYSTEM_ADMIN = next(operator for operator, duty in security.OPERATORS if duty == "system-admin")


def log(msg: str) -> None:
    print(f"[{datetime.datetime.now():%H:%M:%S}] {msg}", flush=True)


def simulator(name: str, port: int, state: Path, vms: int) -> service.Service:
    """A private lab vCenter of `vms` VMs (own port and state), not yet started. It takes the lab vCenter's
    password, which the lab's security administrator put into Vault at lab-up (facility/main/vcenter/vc-central):
    the project's playbooks read it from there, with the operator's session. Call lab_operator() first."""
    if common.port_open("127.0.0.1", port):
        raise SystemExit(f"bench: 127.0.0.1:{port} is already in use; pick another with --port")
    os.environ["LAB_VCSIM_VMS"] = str(vms)
    svc = service.standalone(name, port, state, start_timeout=1800.0)  # 2,000 VMs take a while
    target = svc.lab.state_dir / "secrets" / "vcenter.password"
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(common.Lab(LAB).secret("vcenter.password"))
    return svc


def private_vcenter(svc: service.Service) -> list[str]:
    """The extra vars that point inventory/lab's vc-central at a private simulator: its port and the CA of its
    own state. Its credential still comes from Vault (simulator() gave it the lab vCenter's password)."""
    return ["-e", f"vcenter_port={svc.port}", "-e", f"vcenter_ca_file={svc.lab.ca_cert}"]


def baseline_password(svc: service.Service) -> list[str]:
    """The extra var that gives a baseline playbook (the plain community.vmware way, no cert gate, no Vault) the
    simulator's password file, as an engineer without the project would keep it."""
    return ["-e", f"bench_vcenter_password_file={svc.lab.state_dir / 'secrets' / 'vcenter.password'}"]


def run_playbook(label: str, playbook: Path, extra: list[str], timeout: float, *, check: bool = True,
                 quiet: bool = False, operator: str = SYSTEM_ADMIN) -> tuple[float, str, int]:
    """Run one playbook on inventory/lab as `operator` (whose certificate a cert-gated playbook presents), echo its
    task names as progress, return (wall seconds, output, exit code)."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               JINBAO_OPERATOR=operator)
    cmd = [str(VENV_BIN / "ansible-playbook"), "-i", str(ROOT / "inventory" / "lab"), str(playbook), *extra]
    start = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("TASK [") and not quiet:
                log(f"  {label}: {line.strip().strip('*').strip()}")
        proc.wait(timeout=max(1.0, timeout - (time.monotonic() - start)))
    except subprocess.TimeoutExpired:
        proc.kill()
        raise SystemExit(f"bench: {label} did not finish within {timeout:.0f}s") from None
    elapsed = time.monotonic() - start
    output = "".join(lines)
    if check and proc.returncode != 0:
        raise SystemExit(f"bench: {label} failed (exit {proc.returncode}):\n{output[-3000:]}")
    return elapsed, output, proc.returncode


def update_benchmarks(name: str, section: str) -> None:
    """Replace (or add) the `## <name>` section of docs/BENCHMARKS.md, leaving other sections alone."""
    BENCHMARKS.parent.mkdir(parents=True, exist_ok=True)
    text = BENCHMARKS.read_text() if BENCHMARKS.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^## {re.escape(name)}\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    BENCHMARKS.write_text(text.rstrip("\n") + "\n")


def machine() -> str:
    import platform

    return (f"{datetime.date.today().isoformat()} on {platform.system()} {platform.release()}, {os.cpu_count()} CPUs, "
            f"Python {platform.python_version()}")


def lab_operator() -> None:
    """The lab's Vault up with its security administration done: `labctl up --only openbao` starts the OpenBao
    cluster if need be and runs lab/security.py (bootstrap once, the facility's credentials in Vault, the
    operators SECURITY_ADMIN, SYSTEM_ADMIN and the auditor with their certificates and duties); what a cert-gated
    playbook needs to start. Idempotent: on a lab that is up it changes nothing."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
    proc = subprocess.run([str(VENV_BIN / "python"), "-m", "lab.labctl", "up", "--only", "openbao"], cwd=ROOT,
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"bench: labctl up --only openbao failed (exit {proc.returncode}):\n{proc.stdout[-3000:]}")
