"""Controller speed: one multi-host play under Ansible's stock settings and under the project's tuning.

The play (bench/controller/play.yml) runs ten everyday tasks on twenty API-managed devices, each reached
with `ansible_connection: local` like every device of the facility. Each setup is an ansible.cfg picked
with ANSIBLE_CONFIG, plus, for what is being measured on top of it, a few ANSIBLE_* variables:

* stock          bench/controller/stock.cfg: forks 5, linear, implicit gathering, no fact cache, no pipelining
* tuned          bench/controller/tuned.cfg: a copy of the project's ansible.cfg
* tuned+pipe     tuned, with pipelining switched on for the local connection too (ANSIBLE_PIPELINING)
* mitogen_linear tuned, with Mitogen's strategy (when `mitogen` from PyPI is installed and works)
* mitogen_free   tuned, with Mitogen's free strategy

Every setup but stock (which has no cache) first runs once untimed: that fills the tuned side's fact cache
(gathering = smart) and proves that the setup works. A Mitogen setup that fails is recorded with its error
and left out; any other failure is an error. Then each setup runs --runs times, in rotating order, with the
work directory emptied before every run, and every run is checked to do the same work (recap and written
files) as the first. The script prints the medians and their ratio to stock, and rewrites the
`## controller` section of docs/BENCHMARKS.md. It exits non-zero only on errors, never because a result
is slow.

Run: .venv/bin/python bench/controller/run.py [--runs 3] [--setups stock,tuned,...] [--resume] [--no-docs]
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import importlib.metadata
import importlib.util
import ipaddress
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PLAY = HERE / "play.yml"
INVENTORY = HERE / "inventory"
CACHE = ROOT / ".cache" / "bench" / "controller"
FACTS = CACHE / "facts"  # tuned.cfg: fact_caching_connection
WORK = CACHE / "work"  # group_vars/bench_devices/bench.yml: bench_controller_workdir
LOGS = CACHE / "logs"
STATE = CACHE / "state.json"
DOC = ROOT / "docs" / "BENCHMARKS.md"
SECTION = "## controller"
TASKS = 10
LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
RECAP = re.compile(
    r"^(?P<host>\S+)\s+:\s+ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+"
    r"unreachable=(?P<unreachable>\d+)\s+failed=(?P<failed>\d+)",
    re.MULTILINE,
)
PIPELINING_NOTE = [
    "",
    "Pipelining: the project's ansible.cfg sets `pipelining = True` under `[ssh_connection]`, which only the ssh",
    "connection reads. The `local` connection that every device uses reads `[defaults]` or `[connection]`, so",
    "`tuned` runs without pipelining (`ansible-config dump --only-changed -t connection` lists it for ssh only);",
    "`tuned+pipe` measures the setting moved to `[connection]`, where ssh reads it too.",
]


class BenchError(RuntimeError):
    """A benchmark run could not be made or gave a wrong result; the message names the setup and the log."""


@dataclass
class Setup:
    """One way of running the play: a config file plus the ANSIBLE_* variables measured on top of it."""

    key: str
    label: str
    cfg: Path
    env: dict[str, str] = field(default_factory=dict)
    optional: bool = False  # a failure is recorded as a verdict instead of aborting the benchmark
    warm_up: bool = True  # one untimed run before timing (stock has no cache to warm)
    broken: bool = False  # left out of the timing; `verdict` says why
    times: list[float] = field(default_factory=list)
    verdict: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.times)


@dataclass
class RunResult:
    seconds: float
    changed: int
    digest: str
    deprecations: list[str]


def log(message: str) -> None:
    print(f"[bench/controller] {message}", flush=True)


def expected_hosts() -> list[str]:
    """The inventory's hosts, after checking that none of them can reach beyond the controller's loopback."""
    data = yaml.safe_load((INVENTORY / "hosts.yml").read_text(encoding="utf-8"))
    hosts = sorted(data["all"]["children"]["bench_devices"]["hosts"])
    conn = yaml.safe_load((INVENTORY / "group_vars" / "bench_devices" / "connection.yml").read_text(encoding="utf-8"))
    address = str(conn.get("ansible_host", ""))
    if conn.get("ansible_connection") != "local" or ipaddress.ip_address(address) not in LOOPBACK:
        raise BenchError(
            f"{INVENTORY}/group_vars/bench_devices/connection.yml: the benchmark only runs with "
            f"ansible_connection local on 127.0.0.0/8 (found {conn.get('ansible_connection')!r}, {address!r})"
        )
    return hosts


def mitogen_strategy_dir() -> tuple[Path | None, str]:
    """Where ansible_mitogen's strategy plugins live in this Python, and the mitogen version, if installed."""
    spec = importlib.util.find_spec("ansible_mitogen")
    if spec is None or spec.origin is None:
        return None, "not installed"
    return Path(spec.origin).parent / "plugins" / "strategy", importlib.metadata.version("mitogen")


def build_setups(selected: list[str]) -> tuple[list[Setup], str]:
    strategy_dir, mitogen_version = mitogen_strategy_dir()
    setups = [
        Setup(
            "stock",
            "stock: forks 5, linear, implicit gathering, no fact cache, no pipelining",
            HERE / "stock.cfg",
            warm_up=False,
        ),
        Setup(
            "tuned",
            "tuned: project ansible.cfg (forks 25, smart gathering + jsonfile cache)",
            HERE / "tuned.cfg",
        ),
        Setup(
            "tuned+pipe",
            "tuned + pipelining for the local connection (`[connection] pipelining = True`)",
            HERE / "tuned.cfg",
            {"ANSIBLE_PIPELINING": "True"},
        ),
    ]
    for strategy in ("mitogen_linear", "mitogen_free"):
        setup = Setup(
            strategy,
            f"tuned + Mitogen {mitogen_version} `strategy = {strategy}`",
            HERE / "tuned.cfg",
            {
                "ANSIBLE_STRATEGY_PLUGINS": str(strategy_dir),
                "ANSIBLE_STRATEGY": strategy,
            },
            optional=True,
        )
        if strategy_dir is None:
            setup.broken = True
            setup.verdict = (
                "left out: mitogen is not installed in this Python; `pip install mitogen` into .venv to measure it"
            )
        setups.append(setup)
    unknown = set(selected) - {s.key for s in setups}
    if unknown:
        raise BenchError(
            f"--setups: unknown setup(s) {', '.join(sorted(unknown))}; known: {', '.join(s.key for s in setups)}"
        )
    chosen = [s for s in setups if s.key in selected]
    if not chosen or chosen[0].key != "stock":
        raise BenchError("--setups must include stock: every ratio is relative to it")
    return chosen, mitogen_version


def tree_digest(path: Path) -> str:
    """One digest over every file the play wrote (names and contents), to prove two setups did the same work."""
    digest = hashlib.sha256()
    for item in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(str(item.relative_to(path)).encode())
        digest.update(item.read_bytes())
    return digest.hexdigest()[:16]


def run_play(setup: Setup, hosts: list[str], tag: str) -> RunResult:
    """Run the play once under `setup`; check the recap of every host and return the wall-clock time."""
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    LOGS.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(
        {
            "ANSIBLE_CONFIG": str(setup.cfg),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
        }
    )
    env.update(setup.env)
    log_path = LOGS / f"{setup.key}-{tag}.log"
    playbook = Path(sys.executable).parent / "ansible-playbook"
    with log_path.open("w", encoding="utf-8") as out:
        started = time.perf_counter()
        # ansible-playbook starts its own session, so stopping run.py must stop it explicitly.
        proc = subprocess.Popen([str(playbook), str(PLAY)], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            returncode = proc.wait()
        except BaseException:
            proc.terminate()
            proc.wait()
            raise
        seconds = time.perf_counter() - started
    text = log_path.read_text(encoding="utf-8", errors="replace")
    recap = {m["host"]: m for m in RECAP.finditer(text)}
    problems = []
    if returncode != 0:
        problems.append(f"ansible-playbook exited {returncode}")
    if sorted(recap) != hosts:
        problems.append(f"recap lists {len(recap)} of {len(hosts)} hosts")
    bad = [h for h, m in recap.items() if int(m["failed"]) or int(m["unreachable"])]
    if bad:
        problems.append(f"failed or unreachable: {', '.join(sorted(bad))}")
    if problems:
        tail = "\n".join(text.strip().splitlines()[-15:])
        raise BenchError(f"{setup.key} ({tag}): {'; '.join(problems)}; full log {log_path}\n{tail}")
    changed = sum(int(m["changed"]) for m in recap.values())
    deprecations = [line.strip() for line in text.splitlines() if line.startswith("[DEPRECATION WARNING]")]
    return RunResult(seconds, changed, tree_digest(WORK), deprecations)


def first_error_line(message: str) -> str:
    """The most telling line of a failed run's output, for the verdict."""
    for line in message.splitlines():
        if re.search(r"ERROR!|Error|error:|Exception|fatal:", line):
            return line.strip()[:300]
    return message.splitlines()[0][:300]


class Runner:
    """Runs the setups and checks that every run did the same work as the first one (the reference).

    After every run the state (times, verdicts, reference, which warm-ups are done) is saved to
    .cache/bench/controller/state.json, so `--resume` continues a benchmark that was stopped part-way.
    """

    def __init__(self, hosts: list[str], setups: list[Setup], resume: bool) -> None:
        self.hosts = hosts
        self.setups = setups
        self.reference: tuple[str, int, str] | None = None  # setup key, changed count, files digest
        self.warmed: set[str] = set()
        self.load_before = os.getloadavg()[0]
        if resume:
            self.load()
        else:
            STATE.unlink(missing_ok=True)

    def load(self) -> None:
        if not STATE.exists():
            log(f"--resume: no saved state in {STATE}; starting afresh")
            return
        data = json.loads(STATE.read_text(encoding="utf-8"))
        keys = [s.key for s in self.setups]
        if data["setups"].keys() != set(keys):
            raise BenchError(
                f"--resume: {STATE} holds setups {','.join(data['setups'])}; "
                "pass the same --setups, or run without --resume to start afresh"
            )
        ref = data["reference"]
        self.reference = (str(ref[0]), int(ref[1]), str(ref[2])) if ref else None
        self.warmed = set(data["warmed"])
        self.load_before = data["load_before"]
        for setup in self.setups:
            saved = data["setups"][setup.key]
            setup.times, setup.verdict, setup.broken = saved["times"], saved["verdict"], saved["broken"]
        if self.warmed and not any(FACTS.glob("*")):
            log("--resume: the fact cache is gone; warming up again")
            self.warmed.clear()
        log(f"--resume: continuing from {STATE}")

    def save(self) -> None:
        data = {
            "reference": self.reference,
            "warmed": sorted(self.warmed),
            "load_before": self.load_before,
            "setups": {s.key: {"times": s.times, "verdict": s.verdict, "broken": s.broken} for s in self.setups},
        }
        tmp = STATE.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
        os.replace(tmp, STATE)

    def run(self, setup: Setup, tag: str) -> RunResult | None:
        """One run; a broken optional setup gets a verdict and None, any other failure raises BenchError."""
        try:
            result = run_play(setup, self.hosts, tag)
            if self.reference is None:
                self.reference = (setup.key, result.changed, result.digest)
            ref_key, ref_changed, ref_digest = self.reference
            if (result.changed, result.digest) != (ref_changed, ref_digest):
                raise BenchError(
                    f"{setup.key} ({tag}): the play did different work than under {ref_key} "
                    f"(changed={result.changed}, files {result.digest}; {ref_key}: changed={ref_changed}, "
                    f"files {ref_digest}); logs in {LOGS}"
                )
        except BenchError as exc:
            if not setup.optional:
                raise
            setup.broken = True
            setup.verdict = f"fails, left out: {first_error_line(str(exc))} (log: {LOGS / f'{setup.key}-{tag}.log'})"
            log(f"{setup.key}: {setup.verdict}")
            self.save()
            return None
        return result

    def warm_up(self) -> None:
        """One untimed run per setup that has something to warm: it fills the tuned side's fact cache and
        proves that the setup works. Stock has no cache, so its first timed run is its first run."""
        if not self.warmed:
            shutil.rmtree(FACTS, ignore_errors=True)
            log("fact cache emptied; the first tuned warm-up run gathers facts and fills it")
        for setup in self.setups:
            if setup.broken:
                log(f"{setup.key}: {setup.verdict}")
                continue
            if not setup.warm_up or setup.key in self.warmed:
                continue
            log(f"{setup.key}: warm-up run (untimed)")
            result = self.run(setup, "warmup")
            if result is None:
                continue
            log(f"{setup.key}: warm-up {result.seconds:.1f} s, changed={result.changed}, files {result.digest}")
            if setup.optional:
                setup.verdict = (
                    f"works: same recap (changed={result.changed}) and byte-identical files ({result.digest}) "
                    "as the other setups"
                )
                for line in result.deprecations:
                    if "strategy" in line:
                        setup.verdict += f"; ansible-core {importlib.metadata.version('ansible-core')} warns: {line}"
            self.warmed.add(setup.key)
            self.save()

    def timed(self, runs: int) -> list[Setup]:
        """`runs` timed runs per setup, the order rotating each round. Returns the setups that never failed."""
        for i in range(runs):
            usable = [s for s in self.setups if not s.broken]
            shift = i % len(usable)
            for setup in usable[shift:] + usable[:shift]:
                if len(setup.times) > i:
                    continue  # done before --resume
                result = self.run(setup, f"run{i + 1}")
                if result is None:
                    continue
                setup.times.append(result.seconds)
                self.save()
                log(f"{setup.key}: run {i + 1}/{runs}: {result.seconds:.1f} s")
        return [s for s in self.setups if not s.broken]


def rewrite_section(body: str) -> None:
    """Replace the `## controller` section of docs/BENCHMARKS.md (up to the next `## ` heading), or append it."""
    DOC.parent.mkdir(parents=True, exist_ok=True)
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else "# Benchmarks\n"
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == SECTION), None)
    new = body.rstrip("\n").splitlines()
    if start is None:
        while lines and not lines[-1].strip():
            lines.pop()
        lines += ["", *new]
    else:
        end = next(
            (i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")),
            len(lines),
        )
        lines[start:end] = [*new, ""] if end < len(lines) else new
    tmp = DOC.with_suffix(".md.controller-tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, DOC)


def render_section(
    setups: list[Setup],
    skipped: list[Setup],
    runs: int,
    hosts: int,
    facts: dict[str, str],
) -> str:
    stock = setups[0].median
    best = min(setups, key=lambda s: s.median)
    rows = [
        f"| {s.label} | {s.median:.1f} | {', '.join(f'{t:.1f}' for t in s.times)} | {stock / s.median:.1f}x |"
        for s in setups
    ]
    rows += [f"| {s.label} | – | – | left out |" for s in skipped]
    verdicts = [f"- `{s.key}`: {s.verdict}" for s in setups + skipped if s.optional and s.verdict]
    return "\n".join(
        [
            SECTION,
            "",
            f"`.venv/bin/python bench/controller/run.py`, {facts['date']}, on {facts['machine']}.",
            f"The play `bench/controller/play.yml`: {hosts} hosts × {TASKS} tasks, `ansible_connection: local`",
            "like every device of the facility. Every setup but stock (which has no cache) ran once untimed",
            "first: that run fills the tuned side's fact cache in `.cache/bench/controller/facts` and proves",
            f"the setup works. Then {runs} timed runs each, in rotating order, with the work directory emptied",
            "before each run and every run checked to do the same work (recap and written files). Figures are",
            "wall-clock seconds of `ansible-playbook`; the ratio is stock's median over the setup's.",
            "",
            "| Setup | Median (s) | Runs (s) | vs stock |",
            "|---|---:|---|---:|",
            *rows,
            "",
            f"Fastest: **{best.key}**, {stock / best.median:.1f}x faster than stock. {facts['load']}",
            *(["", "Mitogen:", *verdicts] if verdicts else []),
            *(PIPELINING_NOTE if any(s.key == "tuned+pipe" for s in setups) else []),
            "",
        ]
    )


def stop_on_sigterm(signum: int, frame: object) -> None:
    """Stop the running ansible-playbook too (see run_play), and say why the benchmark ended."""
    print(f"[bench/controller] stopped by signal {signal.Signals(signum).name}; no figures written", file=sys.stderr)
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="timed runs per setup (default 3)")
    parser.add_argument(
        "--setups",
        default="stock,tuned,tuned+pipe,mitogen_linear,mitogen_free",
        help="comma-separated setups to run; stock first (default: all)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the benchmark saved in .cache/bench/controller/state.json (after an interruption)",
    )
    parser.add_argument(
        "--no-docs",
        action="store_true",
        help="print only; leave docs/BENCHMARKS.md alone",
    )
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    try:
        hosts = expected_hosts()
        setups, mitogen_version = build_setups([s.strip() for s in args.setups.split(",") if s.strip()])
        load_now = os.getloadavg()[0]
        cores = os.cpu_count() or 1
        log(
            f"{len(hosts)} hosts × {TASKS} tasks; {args.runs} timed runs per setup; nproc {cores}; "
            f"ansible-core {importlib.metadata.version('ansible-core')}; mitogen {mitogen_version}"
        )
        if load_now > cores:
            log(f"warning: load average {load_now:.1f} on {cores} cores; figures will be noisy")
        runner = Runner(hosts, setups, args.resume)
        runner.warm_up()
        usable = runner.timed(args.runs)
        load_before = runner.load_before
        load_after = os.getloadavg()[0]
    except BenchError as exc:
        print(f"[bench/controller] ERROR: {exc}", file=sys.stderr)
        return 1
    stock = usable[0].median
    for setup in usable:
        log(f"{setup.key:>15}: median {setup.median:6.1f} s   {stock / setup.median:4.1f}x vs stock")
    skipped = [s for s in setups if s.broken]
    for setup in skipped:
        log(f"{setup.key:>15}: {setup.verdict}")
    facts = {
        "date": datetime.date.today().isoformat(),
        "machine": (
            f"{platform.system()} {platform.machine()}, nproc {cores}, Python {platform.python_version()}, "
            f"ansible-core {importlib.metadata.version('ansible-core')}, mitogen {mitogen_version}"
        ),
        "load": f"Load average (1 min) {load_before:.1f} before, {load_after:.1f} after.",
    }
    if not args.no_docs:
        rewrite_section(render_section(usable, skipped, args.runs, len(hosts), facts))
        log(f"wrote the {SECTION} section of {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
