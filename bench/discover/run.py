"""Benchmark stage 3: playbooks/discover.yml against the usual community.vmware way, on one 2,000-VM simulator.

    .venv/bin/python -m bench.discover.run [--vms 2000] [--port 18543]

Starts its own lab vCenter (own port on 127.0.0.1, own state under .cache/bench/discover), runs both
playbooks against it one after the other (cold: empty reports directory each), prints both wall times
and the ratio, writes them to docs/BENCHMARKS.md (section `## discover`), and stops the simulator.

discover.yml is cert-gated and reads the vCenter password from Vault: it runs as the lab's system administrator
(lab-sysadmin), the gate and the credential read included in its time, and the simulator has the lab vCenter's
password. The baseline is the plain way, without gate or Vault: it reads the password from the simulator's file.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import sys
import time

from bench.harness import (
    ROOT,
    baseline_password,
    lab_operator,
    log,
    machine,
    private_vcenter,
    run_playbook,
    simulator,
    update_benchmarks,
)

STATE = ROOT / ".cache" / "bench" / "discover"
GOAL = 10.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vms", type=int, default=2000)
    parser.add_argument("--port", type=int, default=18543)
    parser.add_argument("--timeout", type=float, default=3600, help="seconds allowed for each playbook")
    parser.add_argument("--no-write", action="store_true", help="do not update docs/BENCHMARKS.md")
    args = parser.parse_args(argv)
    # Stopped with SIGTERM (kill, a CI timeout): unwind, so that `finally` stops the bench simulator.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))

    log("lab Vault up, its operators and credentials in place (discover.yml is cert-gated)")
    lab_operator()
    svc = simulator("vc-bench", args.port, STATE, args.vms)
    lab = svc.lab
    reports = {"project": STATE / "reports-project", "baseline": STATE / "reports-baseline"}
    # 2,000 VMs in one PropertyCollector page stream can take minutes on a loaded machine: allow it.
    extra = [*private_vcenter(svc), "-e", "vcenter_timeout=900"]
    try:
        log(f"starting a {args.vms}-VM simulator on 127.0.0.1:{args.port} (state {lab.state_dir.relative_to(ROOT)})")
        t0 = time.monotonic()
        status = svc.start()
        log(f"simulator {status} in {time.monotonic() - t0:.1f}s")
        for path in reports.values():
            if path.exists():
                for f in path.iterdir():
                    f.unlink()

        log("project: playbooks/discover.yml (cert gate, vCenter password from Vault, PropertyCollector, one "
            "module call)")
        project_s, _, _ = run_playbook("project", ROOT / "playbooks" / "discover.yml",
                                    [*extra, "-e", f"discover_reports_dir={reports['project']}"], args.timeout)
        log(f"project: {project_s:.1f}s")
        log("baseline: bench/discover/baseline.yml (community.vmware.vmware_vm_info, object by object)")
        baseline_extra = [*extra, *baseline_password(svc), "-e", f"bench_reports_dir={reports['baseline']}"]
        baseline_s, _, _ = run_playbook("baseline", ROOT / "bench" / "discover" / "baseline.yml", baseline_extra,
                                        args.timeout)
        log(f"baseline: {baseline_s:.1f}s")
    finally:
        log(f"stopping the bench simulator: {svc.stop()}")

    project = json.loads((reports["project"] / "assets.json").read_text())
    baseline = json.loads((reports["baseline"] / "assets.json").read_text())
    names_p = sorted(vm["name"] for vm in project["vms"])
    names_b = sorted(vm["name"] for vm in baseline["vms"])
    agree = names_p == names_b
    ratio = baseline_s / project_s if project_s else float("inf")
    m = re.search(r"seeded (\d+) VMs on (\d+) hosts, (\d+) datastores in ([\d.]+)s", status)
    seeded = f"{m.group(1)} VMs on {m.group(2)} hosts, {m.group(3)} datastores, built in {m.group(4)} s" if m \
        else status
    verdict = "meets" if ratio >= GOAL else "MISSES"
    print()
    print(f"  VMs in the register    {len(names_p)} (both registers list the same VMs: {'yes' if agree else 'NO'})")
    print(f"  project discover.yml   {project_s:8.1f} s")
    print(f"  baseline vmware_vm_info{baseline_s:8.1f} s")
    print(f"  ratio                  {ratio:8.1f}x  ({verdict} the goal of {GOAL:.0f}x)")

    if not args.no_write:
        section = (
            "## discover\n\n"
            "`make bench-discover` (bench/discover/run.py): one lab vCenter (govmomi 0.24.2 simulator, TLS) with\n"
            f"{seeded}; each playbook run cold, with ansible-playbook start-up included.\n\n"
            "| run | what it does | wall time |\n|---|---|---|\n"
            f"| project | playbooks/discover.yml: cert gate and the vCenter password from Vault, PropertyCollector "
            f"(ContainerView + RetrievePropertiesEx), register + CSV + differences | {project_s:.1f} s |\n"
            f"| baseline | bench/discover/baseline.yml: community.vmware.vmware_vm_info + "
            f"vmware_datastore_info, register via copy (password from a file) | {baseline_s:.1f} s |\n"
            f"| ratio | baseline / project (goal {GOAL:.0f}x) | **{ratio:.1f}x** |\n\n"
            f"Both registers list the same {len(names_p)} VMs: {'yes' if agree else 'NO'}. Measured "
            f"{machine()}. The baseline takes clusters from each VM's record: "
            "vmware_cluster_info\ncrashes the 0.24.2 simulator (see bench/discover/baseline.yml).\n\n"
        )
        update_benchmarks("discover", section)
        log("wrote the discover section of docs/BENCHMARKS.md")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
