"""Benchmark stage 5: one wave through playbooks/migrate.yml against a serial vmware_vmotion loop, and a resume.

    .venv/bin/python -m bench.migrate.run [--vms 500] [--wave-vms 200] [--concurrency 8] [--relocate-ms 0,2000]

Starts its own lab vCenter (own port and state under .cache/bench/migrate), discovers and plans it (not
timed; wave size --wave-vms, capacity rules relaxed so that one wave of that size fits), takes the
largest wave, then, each on a fresh simulator:

* baseline: bench/migrate/baseline.yml, one community.vmware.vmware_vmotion task per VM, serially;
* project:  playbooks/migrate.yml -e wave=N (threaded batches, pre- and post-checks, folder, ledger);
* resume:   playbooks/migrate.yml -e wave=N again on the finished wave (everything found in place).

It does so once per --relocate-ms value (how long the simulator takes per relocation: 0 is instant, a
real vMotion takes seconds to minutes), prints the wall times and the ratios (baseline / project, goal
>= 5x; resume / project, goal < 10%), checks that both ways left every VM of the wave in its target
cluster, writes the `## migrate` section of docs/BENCHMARKS.md and stops the simulator.

discover.yml and migrate.yml are cert-gated and read the vCenter password from Vault: the project's playbooks run
as the lab's system administrator (lab-sysadmin), and the simulator has the lab vCenter's password. The baseline
is the plain way, without gate or Vault: it reads the password from the simulator's file.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections import Counter
from pathlib import Path

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

STATE = ROOT / ".cache" / "bench" / "migrate"
GOAL, RESUME_GOAL = 5.0, 0.10
PLAYBOOKS = ROOT / "playbooks"


def placements(reports: Path, extra: list[str], names: set[str]) -> dict[str, str]:
    """Each named VM's cluster (or host, when standalone), from a fresh discovery."""
    run_playbook("check", PLAYBOOKS / "discover.yml", [*extra, "-e", f"jinbao_reports_dir={reports}"], 900,
                 quiet=True)
    register = json.loads((reports / "assets.json").read_text())
    return {vm["name"]: vm["cluster"] or vm["host"] for vm in register["vms"] if vm["name"] in names}


def plan_wave(svc, extra: list[str], relaxed: list[str], reports: Path, timeout: float) -> tuple[dict, list[dict]]:
    """Discover and plan the simulator (not timed); the largest wave and a host for each of its VMs."""
    reports.mkdir(parents=True, exist_ok=True)
    for old in [*reports.glob("*.json"), *reports.glob("waves/*.json")]:
        old.unlink()
    run_playbook("discover", PLAYBOOKS / "discover.yml", [*extra, "-e", f"jinbao_reports_dir={reports}"], timeout,
                 quiet=True)
    run_playbook("plan", PLAYBOOKS / "plan.yml", [*extra, *relaxed, "-e", f"jinbao_reports_dir={reports}"], timeout,
                 quiet=True)
    plan = json.loads((reports / "plan.json").read_text())
    register = json.loads((reports / "assets.json").read_text())
    wave = max(plan["waves"], key=lambda w: (len(w["vms"]), -w["wave"]))
    cluster_hosts = {c["name"]: c["hosts"] for c in register["clusters"] if c["type"] == "cluster"}
    moves, turn = [], Counter()
    for vm in wave["vms"]:  # the baseline names a host per VM, round robin over the target cluster
        hosts = cluster_hosts[vm["target"]["cluster"]]
        moves.append({"name": vm["name"], "uuid": vm["uuid"], "datastore": vm["target"]["datastore"],
                      "host": hosts[turn[vm["target"]["cluster"]] % len(hosts)]})
        turn[vm["target"]["cluster"]] += 1
    return wave, moves


def measure(svc, delay_ms: int, args, extra: list[str], relaxed: list[str]) -> dict:
    """Baseline, project and resume on a simulator whose relocations take delay_ms each."""
    os.environ["LAB_VCSIM_RELOCATE_MS"] = str(delay_ms)
    reports = STATE / "reports"
    svc.stop()
    log(f"simulator ({delay_ms} ms per relocation) {svc.start()}")
    wave, moves = plan_wave(svc, extra, relaxed, reports, args.timeout)
    names = {m["name"] for m in moves}
    moves_file = STATE / "moves.json"
    moves_file.write_text(json.dumps({"bench_moves": moves}))
    log(f"wave {wave['wave']}: {len(moves)} VMs ({', '.join(wave['systems'])})")
    log("baseline: bench/migrate/baseline.yml (serial vmware_vmotion loop)")
    baseline_s, _, _ = run_playbook("baseline", ROOT / "bench" / "migrate" / "baseline.yml",
                                    [*extra, *baseline_password(svc), "-e", f"@{moves_file}"], args.timeout, quiet=True)
    log(f"baseline: {baseline_s:.1f}s")
    after_baseline = placements(STATE / "check-baseline", extra, names)

    svc.stop()
    log(f"fresh simulator for the project run {svc.start()}")
    for old in reports.glob("waves/*.json"):
        old.unlink()
    migrate = [*extra, "-e", f"jinbao_reports_dir={reports}", "-e", f"wave={wave['wave']}",
               "-e", f"migrate_concurrency={args.concurrency}"]
    log(f"project: playbooks/migrate.yml -e wave={wave['wave']} (concurrency {args.concurrency})")
    project_s, _, _ = run_playbook("project", PLAYBOOKS / "migrate.yml", migrate, args.timeout)
    log(f"project: {project_s:.1f}s")
    log("resume: the same wave again")
    resume_s, resume_out, _ = run_playbook("resume", PLAYBOOKS / "migrate.yml", migrate, args.timeout, quiet=True)
    log(f"resume: {resume_s:.1f}s")
    after_project = placements(STATE / "check-project", extra, names)
    targets = {vm["name"]: vm["target"]["cluster"] for vm in wave["vms"]}
    ledger = json.loads((reports / "waves" / f"{wave['wave']}.json").read_text())["vms"]
    return {"delay_ms": delay_ms, "wave": wave, "moves": len(moves), "baseline": baseline_s, "project": project_s,
            "resume": resume_s, "ok": after_baseline == targets and after_project == targets,
            "statuses": Counter(e["status"] for e in ledger.values()),
            "resumed_nothing": "0 VM(s) to move" in resume_out}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vms", type=int, default=500, help="VMs in the simulator (its datastores hold about 1,000)")
    parser.add_argument("--wave-vms", type=int, default=200, help="wave size of the plan")
    parser.add_argument("--concurrency", type=int, default=8, help="migrate_concurrency of the project run")
    parser.add_argument("--relocate-ms", default="0,2000",
                        help="comma-separated milliseconds each relocation takes in the simulator, one run each")
    parser.add_argument("--port", type=int, default=18544)
    parser.add_argument("--timeout", type=float, default=3600, help="seconds allowed for each playbook")
    parser.add_argument("--no-write", action="store_true", help="do not update docs/BENCHMARKS.md")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    delays = [int(d) for d in args.relocate_ms.split(",") if d.strip()]

    lab_operator()  # migrate.yml is cert-gated
    svc = simulator("vc-bench-migrate", args.port, STATE, args.vms)
    extra = [*private_vcenter(svc), "-e", "vcenter_timeout=900"]
    relaxed = ["-e", f"plan_wave_size={args.wave_vms}", "-e", "plan_cpu_overcommit=100",
               "-e", "plan_memory_overcommit=100", "-e", "plan_datastore_fill_limit=1.0", "-e", "plan_host_reserve=0",
               "-e", "plan_replace=true"]
    results = []
    try:
        for delay in delays:
            results.append(measure(svc, delay, args, extra, relaxed))
    finally:
        log(f"stopping the bench simulator: {svc.stop()}")

    good = True
    rows = []
    print()
    for r in results:
        ratio = r["baseline"] / r["project"] if r["project"] else float("inf")
        resume = r["resume"] / r["project"] if r["project"] else float("inf")
        good &= r["ok"] and r["resumed_nothing"] and r["statuses"].get("moved") == r["moves"]
        print(f"  {r['delay_ms']:>5} ms/relocation, wave {r['wave']['wave']} ({r['moves']} VMs): baseline "
              f"{r['baseline']:.1f} s, project {r['project']:.1f} s, resume {r['resume']:.1f} s; ratio {ratio:.1f}x "
              f"({'meets' if ratio >= GOAL else 'MISSES'} {GOAL:.0f}x), resume {resume:.1%} "
              f"({'meets' if resume < RESUME_GOAL else 'MISSES'} < {RESUME_GOAL:.0%}); every VM placed: {r['ok']}; "
              f"resume moved nothing: {r['resumed_nothing']}")
        rows.append(f"| {r['delay_ms']} ms | {r['moves']} | {r['baseline']:.1f} s | {r['project']:.1f} s | "
                    f"{r['resume']:.1f} s | **{ratio:.1f}x** | **{resume:.1%}** | "
                    f"{'yes' if r['ok'] and r['resumed_nothing'] else 'NO'} |")
    if not args.no_write and results:
        wave = results[0]["wave"]
        section = (
            "## migrate\n\n"
            f"`make bench-migrate` (bench/migrate/run.py): a lab vCenter of {args.vms} VMs (govmomi 0.24.2 simulator, "
            f"TLS),\nplanned with waves of up to {args.wave_vms} VMs; the largest wave (wave {wave['wave']}: "
            f"{', '.join(wave['systems'])}) is moved each way\non a fresh simulator, ansible-playbook start-up "
            "included. Baseline: bench/migrate/baseline.yml, one\n`community.vmware.vmware_vmotion` task per VM in a "
            "serial loop (host + datastore). Project: `playbooks/migrate.yml`\n(capacity check, batches of 25, "
            f"{args.concurrency} moves at once, pre- and post-checks, zone folder, ledger). Resume: the same\n"
            "wave again, every VM found in place. The simulator relocates a VM instantly; a real vMotion copies "
            "memory\nand disks for seconds to minutes, so the second row gives each relocation a fixed time "
            "(`-relocate-delay-ms`,\nthe simulator's own method delay), the same for both sides.\n\n"
            "| time per relocation | VMs | baseline | project | resume | baseline / project (goal >= 5x) "
            "| resume / project (goal < 10%) | all placed, resume moved none |\n|---|---|---|---|---|---|---|---|\n"
            + "\n".join(rows) + f"\n\nMeasured {machine()}.\n\n"
        )
        update_benchmarks("migrate", section)
        log("wrote the migrate section of docs/BENCHMARKS.md")
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
