"""What the API benchmarks share: paths, progress lines, a timed playbook run, a private simulator,
and the rewrite of one section of docs/BENCHMARKS.md."""

from __future__ import annotations

import datetime
import os
import re
import subprocess
import time
from pathlib import Path

from lab import common
from lab.vcsim import service

ROOT = Path(__file__).resolve().parents[1]

BENCHMARKS = ROOT / "docs" / "BENCHMARKS.md"
VENV_BIN = ROOT / ".venv" / "bin"


def log(msg: str) -> None:
    print(f"[{datetime.datetime.now():%H:%M:%S}] {msg}", flush=True)


def simulator(name: str, port: int, state: Path, vms: int) -> service.Service:
    """A private lab vCenter of `vms` VMs (own port and state), not yet started."""
    if common.port_open("127.0.0.1", port):
        raise SystemExit(f"bench: 127.0.0.1:{port} is already in use; pick another with --port")
    os.environ["LAB_VCSIM_VMS"] = str(vms)
    return service.standalone(name, port, state, start_timeout=1800.0)  # 2,000 VMs take a while


def run_playbook(label: str, playbook: Path, extra: list[str], timeout: float, *, check: bool = True,
                 quiet: bool = False) -> tuple[float, str, int]:
    """Run one playbook, echo its task names as progress, return (wall seconds, output, exit code)."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
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


def lab_operator() -> list[str]:
    """The lab's Vault up with its PKI built and lab-operator onboarded: what a cert-gated playbook needs to
    start. Returns the extra vars that keep the gate on the lab's Vault when a bench points lab_state_dir
    at a private simulator."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
    subprocess.run([str(VENV_BIN / "python"), "-m", "lab.labctl", "up", "--only", "openbao"],
                   check=True, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    run_playbook("pki.yml", ROOT / "playbooks" / "pki.yml", [], 600, quiet=True)
    run_playbook("onboard", ROOT / "playbooks" / "operator_onboard.yml", ["-e", "operator=lab-operator"], 600,
                 quiet=True)
    return ["-e", f"vault_ca_file={ROOT / '.lab' / 'pki' / 'ca.crt'}"]
