"""Background collection: each target is probed on its own interval by a bounded pool of workers, with a
timeout, and a scrape serves the latest result of every target at once, so /metrics stays fast when a backend
hangs.

A subclass sets `exporter` and implements `probe(target)`, which returns the metric families of ONE target
(prometheus_client.core *MetricFamily objects) or raises. A probe that raises or overruns its timeout marks
the target failed: its `up` reads 0 and its families are dropped. A hung probe is not started again until
it returns.

Scheduling (start()): one scheduler thread keeps a heap of next-due times and hands due targets to a
WorkerPool of `collection.workers` threads (monitors/common/pool.py). First collections are spread evenly
over min(interval, targets / 200 s), so thousands of targets do not all fire at once; after that each target
keeps a fixed period. A target whose probe is queued or still running is not submitted again. A probe past
its timeout marks its target failed at once; its worker is replaced (up to 4 x workers stuck ones), and its
late result is discarded.

Serving: collect() builds families on demand (prometheus_client protocol: --once, tests); render() builds the
exposition bytes from per-target pieces rendered once per collection (monitors/common/rendering.py), which
monitors/common/exposition.py caches and serves.
"""

from __future__ import annotations

import heapq
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

from monitors.common.pool import WorkerPool
from monitors.common.rendering import Block, Encoder, assemble, render_blocks

log = logging.getLogger("monitors.collection")

DEFAULT_WORKERS = 8
FIRST_COLLECTIONS_PER_SECOND = 200.0  # how fast start() may fire the first collections
HUNG_WORKERS_PER_WORKER = 4  # stuck probes whose worker is replaced, per pool worker


@dataclass(frozen=True)
class Target:
    """One thing an exporter collects from, as its config describes it."""

    name: str
    interval: float
    timeout: float
    labels: dict[str, str] = field(default_factory=dict)
    spec: dict = field(default_factory=dict)  # the target's whole config entry (defaults applied)


def targets_from_config(config: dict) -> list[Target]:
    """Targets from a validated config: per-target interval/timeout, else the `collection` defaults."""
    defaults = config.get("collection") or {}
    interval = float(defaults.get("interval_seconds", 30))
    timeout = float(defaults.get("timeout_seconds", 10))
    return [Target(name=t["name"], interval=float(t.get("interval_seconds", interval)),
                   timeout=float(t.get("timeout_seconds", timeout)),
                   labels={str(k): str(v) for k, v in (t.get("labels") or {}).items()}, spec=dict(t))
            for t in config.get("targets", [])]


@dataclass
class _State:
    families: list[Metric] | None = None  # None: never succeeded, or the last attempt failed
    success: bool = False
    duration: float = 0.0
    last_success: float = 0.0  # clock() at the end of the last successful collection; 0 = never
    error: str = "not collected yet"
    worker: threading.Thread | None = None  # a probe still running after its timeout (collect_target)
    version: int = 0  # bumped on every recorded outcome (render() re-renders the target's pieces then)


@dataclass
class _Flight:
    """A target handed to the pool by the scheduler: queued, then running, until its probe returns."""

    target: Target
    started: float | None = None  # time.monotonic() when a worker began the probe
    thread: threading.Thread | None = None
    overran: bool = False


class BackgroundCollector:
    """prometheus_client Collector serving the cached results of per-target background probes."""

    exporter: str = ""

    def __init__(self, targets: list[Target], config: dict | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        if not self.exporter:
            raise TypeError(f"{type(self).__name__}: set the class attribute `exporter` (e.g. 'backup')")
        self.targets = list(targets)
        self.config = config or {}
        self.clock = clock
        self.timer: Callable[[], float] = time.monotonic  # measures probe durations; tests may replace it
        self.log = logging.getLogger(f"monitors.{self.exporter}")
        self._lock = threading.Lock()
        self._state = {t.name: _State() for t in self.targets}
        self._stopping = threading.Event()
        self._loops: list[threading.Thread] = []
        self.workers = int((self.config.get("collection") or {}).get("workers", DEFAULT_WORKERS))
        self.generation = 0  # bumped on every recorded outcome
        self.first_collections_per_second = FIRST_COLLECTIONS_PER_SECOND
        self._pool: WorkerPool | None = None
        self._wake = threading.Event()
        self._flight_lock = threading.Lock()
        self._in_flight: dict[str, _Flight] = {}  # queued or running
        self._running: dict[str, _Flight] = {}  # running (a worker has started the probe)
        self._short_logged = False
        self._render_lock = threading.Lock()
        # target -> (state version, format key -> (blocks, start of the age line)); whole tuples are swapped
        # (atomic under the GIL): the worker that recorded an outcome renders them, render() fills any gap.
        self._pieces: dict[str, tuple[int, dict[str, tuple[list[Block], str]]]] = {}
        self._formats: dict[str, Encoder] = {}  # formats render() was asked for

    # --- what a subclass provides -----------------------------------------------------------------
    def probe(self, target: Target) -> list[Metric]:
        """The metric families of one target; raise (with a message naming the cause and fix) on failure."""
        raise NotImplementedError

    # --- running ------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the scheduler thread and the worker pool (first collections spread, see the module doc)."""
        self._stopping.clear()
        self._pool = WorkerPool(self.workers, f"{self.exporter}-collect", HUNG_WORKERS_PER_WORKER * self.workers)
        self._pool.start()
        loop = threading.Thread(target=self._schedule, daemon=True, name=f"{self.exporter}-scheduler")
        loop.start()
        self._loops.append(loop)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the scheduler and the pool; a probe still running is abandoned (its thread is a daemon)."""
        self._stopping.set()
        self._wake.set()
        for loop in self._loops:
            loop.join(timeout)
        self._loops.clear()
        if self._pool is not None:
            self._pool.stop()
        with self._flight_lock:  # queued jobs were dropped: forget them so a later start() submits them again
            self._in_flight = {name: f for name, f in self._in_flight.items() if f.started is not None}

    def adopt(self, old: BackgroundCollector) -> None:
        """Take over the results of `old` (the collector of the previous config, on SIGHUP) for every target
        whose definition did not change, so a reload does not blank them until their next collection."""
        with old._lock:
            kept = {t.name: old._state[t.name] for t in old.targets if t in self.targets}
        with self._lock:
            self._state.update(kept)

    def collect_now(self) -> None:
        """Collect every target once, `collection.workers` at a time, and wait (tests, --once)."""
        with ThreadPoolExecutor(max_workers=max(1, min(self.workers, len(self.targets))),
                                thread_name_prefix=f"{self.exporter}-once") as pool:
            list(pool.map(self.collect_target, self.targets))

    # --- the scheduler (start()) ----------------------------------------------------------------------
    def _schedule(self) -> None:
        now = time.monotonic()
        count = len(self.targets)
        heap = []
        for i, target in enumerate(self.targets):
            spread = min(target.interval, count / self.first_collections_per_second)
            heap.append((now + spread * i / max(1, count), i, target))
        heapq.heapify(heap)
        while not self._stopping.is_set():
            self._wake.clear()  # before the work, so a wake-up during it is not lost
            now = time.monotonic()
            self._check_overruns(now)
            while heap and heap[0][0] <= now:
                due, i, target = heapq.heappop(heap)
                self._submit(target)
                heapq.heappush(heap, (max(due + target.interval, now), i, target))
            wait = min(1.0, heap[0][0] - now if heap else 1.0, self._next_deadline(now))
            self._wake.wait(max(0.0, wait))

    def _submit(self, target: Target) -> None:
        with self._flight_lock:
            if target.name in self._in_flight:
                return  # still queued, running or hung: not submitted again until it returns
            flight = self._in_flight[target.name] = _Flight(target)
        assert self._pool is not None
        self._pool.submit(lambda: self._run(flight))

    def _next_deadline(self, now: float) -> float:
        with self._flight_lock:
            deadlines = [f.started + f.target.timeout - now for f in self._running.values()
                         if not f.overran and f.started is not None]
        return max(0.01, min(deadlines, default=1.0))

    def _check_overruns(self, now: float) -> None:
        with self._flight_lock:
            late = [f for f in self._running.values()
                    if not f.overran and f.started is not None and now - f.started > f.target.timeout]
            for flight in late:
                flight.overran = True
        for flight in late:
            target = flight.target
            self._record(target, None, now - (flight.started or now),
                         f"probe did not finish within timeout_seconds={target.timeout:g}; "
                         "check the backend, or raise the target's timeout_seconds")
            assert self._pool is not None and flight.thread is not None
            if self._pool.replace(flight.thread):
                self._short_logged = False
            elif not self._short_logged:
                self._short_logged = True
                with self._flight_lock:
                    stuck = sorted(n for n, f in self._running.items() if f.overran)
                self.log.error(f"collection workers exhausted: {len(stuck)} probes are stuck past their timeout "
                               f"({', '.join(stuck[:10])}{' ...' if len(stuck) > 10 else ''}) and no more "
                               "workers may replace them; other targets wait for a worker until one returns. "
                               "Fix the hung backend or raise collection.workers")

    def _run(self, flight: _Flight) -> None:
        """In a pool worker: probe the flight's target and record the outcome, unless it overran meanwhile."""
        target = flight.target
        began = self.timer()
        with self._flight_lock:
            flight.started, flight.thread = time.monotonic(), threading.current_thread()
            self._running[target.name] = flight
        self._wake.set()  # the scheduler now has a deadline to watch
        families, error = None, None
        try:
            families = list(self.probe(target))
        except Exception as exc:  # errors become signals (up 0), never a crash
            error = exc
        duration = self.timer() - began
        with self._flight_lock:
            self._running.pop(target.name, None)
            self._in_flight.pop(target.name, None)
            overran = flight.overran
        if overran:
            self.log.info(f"a probe that overran its timeout returned after {duration:.1f}s; result discarded, "
                          "next collection at the target's next interval", extra={"target": target.name})
            return
        self._outcome(target, families, error, duration)

    def pool_counts(self) -> dict[str, int]:
        """Workers by state (idle; busy: probing within the timeout; hung: stuck in a probe past its timeout,
        replaced or not) and targets waiting for a worker; zeros before start()."""
        if self._pool is None:
            return {"idle": 0, "busy": 0, "hung": 0, "queued": 0}
        counts = self._pool.counts()  # its "hung" are the replaced workers only
        with self._flight_lock:
            stuck = sum(f.overran for f in self._running.values())
        unreplaced = max(0, stuck - counts["hung"])  # stuck in a pool worker no one could replace
        return {"idle": counts["idle"], "busy": max(0, counts["busy"] - unreplaced),
                "hung": max(stuck, counts["hung"]), "queued": counts["queued"]}

    def collect_target(self, target: Target) -> bool:
        """Probe one target in a worker thread, wait at most its timeout, record the outcome; True on success."""
        state = self._state[target.name]
        with self._lock:
            hung = state.worker is not None and state.worker.is_alive()
        if hung:
            self._record(target, None, state.duration, "the previous probe is still running (hung); "
                         "not started again until it returns")
            return False
        box: dict = {}

        def work() -> None:
            try:
                box["families"] = list(self.probe(target))
            except Exception as exc:  # errors become signals (up 0), never a crash
                box["error"] = exc

        began = self.timer()
        worker = threading.Thread(target=work, daemon=True, name=f"{self.exporter}-probe-{target.name}")
        worker.start()
        worker.join(target.timeout)
        duration = self.timer() - began
        if worker.is_alive():
            with self._lock:
                state.worker = worker
            self._record(target, None, duration, f"probe did not finish within timeout_seconds={target.timeout:g}; "
                         "check the backend, or raise the target's timeout_seconds")
            return False
        with self._lock:
            state.worker = None
        return self._outcome(target, box.get("families"), box.get("error"), duration)

    def _outcome(self, target: Target, families: list | None, error: Exception | None, duration: float) -> bool:
        """Record what a probe that returned in time gave; True on success."""
        if error is not None:
            self.log.debug("probe traceback", extra={"target": target.name}, exc_info=error)
            self._record(target, None, duration, f"{type(error).__name__}: {error}")
            return False
        try:
            labelled = [self._labelled(f, target) for f in families or []]
        except Exception as exc:
            self._record(target, None, duration, f"probe returned something that is not a metric family: {exc}")
            return False
        self._record(target, labelled, duration, "")
        return True

    def _record(self, target: Target, families: list[Metric] | None, duration: float, error: str) -> None:
        state = self._state[target.name]
        with self._lock:
            was_ok, old_error = state.success, state.error
            state.families, state.success, state.duration, state.error = families, families is not None, duration, error
            if families is not None:
                state.last_success = self.clock()
            state.version += 1
            self.generation += 1
            version, success, duration, last_success = state.version, state.success, state.duration, state.last_success
        if self._formats:  # pre-render the target's pieces here, so a rebuild only joins them
            self._pieces[target.name] = (version, {
                key: self._target_blocks(target, success, duration, last_success, families or [], encoder)
                for key, encoder in list(self._formats.items())})
        if families is None:
            # Say it once per new problem; repeats of the same failure go to debug so the log stays readable.
            (self.log.warning if was_ok or error != old_error else self.log.debug)(
                f"collection failed: {error}", extra={"target": target.name})
        elif not was_ok:
            self.log.info("collection succeeded", extra={"target": target.name})

    @staticmethod
    def _labelled(family: Metric, target: Target) -> Metric:
        """A copy of `family` whose samples all carry target=<name> and the target's labels (the probe's own
        labels win on a clash)."""
        if not isinstance(family, Metric):
            raise TypeError(f"{family!r} is a {type(family).__name__}")
        extra = {"target": target.name, **target.labels}
        copy = Metric(family.name, family.documentation, family.type, family.unit)
        copy.samples = [s._replace(labels={**extra, **s.labels}) for s in family.samples]
        return copy

    # --- the prometheus_client Collector protocol ---------------------------------------------------
    def _self_families(self) -> dict[str, GaugeMetricFamily]:
        p = f"jinbao_{self.exporter}"
        return {
            "up": GaugeMetricFamily(f"{p}_up", "1 when the target's last collection succeeded, else 0."),
            "success": GaugeMetricFamily(f"{p}_collector_success",
                                         "1 when the collector's last run for the target succeeded, else 0."),
            "duration": GaugeMetricFamily(f"{p}_collector_duration_seconds",
                                          "How long the last collection of the target took."),
            "last": GaugeMetricFamily(f"{p}_last_collection_timestamp_seconds",
                                      "When the target was last collected successfully (Unix time; 0 = never)."),
            "age": GaugeMetricFamily(f"{p}_collection_age_seconds",
                                     "Seconds since the target was last collected successfully (+Inf = never)."),
        }

    def describe(self) -> Iterable[Metric]:
        """The self-metric families (so registering does not run collect())."""
        return list(self._self_families().values())

    def collect(self) -> Iterable[Metric]:
        now = self.clock()
        own = self._self_families()
        merged: dict[str, Metric] = {}
        with self._lock:
            states = [(t, self._state[t.name]) for t in self.targets]
            snapshot = [(t, s.success, s.duration, s.last_success, list(s.families or [])) for t, s in states]
        for target, success, duration, last_success, families in snapshot:
            labels = {"target": target.name, **target.labels}
            with_collector = {"collector": self.exporter, **labels}
            age = (now - last_success) if last_success else math.inf
            for key, value, lab in (("up", success, labels), ("success", success, with_collector),
                                    ("duration", duration, with_collector), ("last", last_success, labels),
                                    ("age", max(0.0, age), labels)):
                fam = own[key]
                fam.samples.append(Sample(fam.name, lab, float(value), None, None))
            for family in families:
                into = merged.get(family.name)
                if into is None:
                    into = merged[family.name] = Metric(family.name, family.documentation, family.type, family.unit)
                elif into.type != family.type:
                    self.log.warning(f"family {family.name} is a {family.type} here but a {into.type} for another "
                                     "target; dropped", extra={"target": target.name})
                    continue
                into.samples.extend(family.samples)
        yield from own.values()
        yield from merged.values()


    # --- the rendered exposition (served from a cache by monitors/common/exposition.py) ---------------
    def render(self, key: str, encoder: Encoder, openmetrics: bool) -> bytes:
        """The whole exposition in one format (`key` names it, `encoder` renders it), as collect() would give
        plus the pool's self-metrics. A target's pieces are rendered once per recorded outcome; the ages are
        computed now (so they are as of this call)."""
        with self._render_lock:
            self._formats.setdefault(key, encoder)
            now = self.clock()
            with self._lock:
                rows = [(t, s.version, s.success, s.duration, s.last_success, s.families)
                        for t, s in ((t, self._state[t.name]) for t in self.targets)]
            groups: list[list[Block]] = []
            ages: list[str] = []
            pieces = self._pieces
            for target, version, success, duration, last_success, families in rows:
                cached = pieces.get(target.name)
                piece = cached[1].get(key) if cached is not None and cached[0] == version else None
                if piece is None:
                    piece = self._target_blocks(target, success, duration, last_success, families or [], encoder)
                    pieces[target.name] = (version, {**(cached[1] if cached and cached[0] == version else {}),
                                                     key: piece})
                groups.append(piece[0])
                age = max(0.0, now - last_success) if last_success else math.inf
                ages.append(f"{piece[1]}{floatToGoString(age)}\n")
            head = render_blocks(list(self._self_families().values()), encoder)  # headers only
            head[-1] = Block(head[-1].name, head[-1].type, head[-1].header, "".join(ages))
            tail = render_blocks(self._pool_families(), encoder)

            def clash(first: Block, dropped: Block) -> None:
                self.log.debug(f"family {dropped.name} is a {dropped.type} for one target but a {first.type} for "
                               "another; dropped")

            return assemble([head, *groups, tail], openmetrics, clash)

    def _target_blocks(self, target: Target, success: bool, duration: float, last_success: float,
                       families: list[Metric], encoder: Encoder) -> tuple[list[Block], str]:
        """The target's blocks (its up, success, duration, last-collection samples and its families) and the
        start of its age sample line (the age changes at every render)."""
        own = self._self_families()
        labels = {"target": target.name, **target.labels}
        with_collector = {"collector": self.exporter, **labels}
        for key, value, lab in (("up", success, labels), ("success", success, with_collector),
                                ("duration", duration, with_collector), ("last", last_success, labels),
                                ("age", 0.0, labels)):
            fam = own[key]
            fam.samples.append(Sample(fam.name, lab, float(value), None, None))
        try:
            blocks = render_blocks([*own.values(), *families], encoder)
        except Exception as exc:  # a family the encoder refuses: serve the target's self-metrics without it
            self.log.warning(f"its metric families cannot be rendered ({type(exc).__name__}: {exc}); served "
                             "without them", extra={"target": target.name})
            blocks = render_blocks(list(own.values()), encoder)
        age = blocks.pop(4).body
        if not age.endswith(" 0.0\n"):
            raise ValueError(f"unexpected age sample line {age!r}")
        return blocks, age[: -len("0.0\n")]

    def _pool_families(self) -> list[Metric]:
        p = f"jinbao_{self.exporter}"
        counts = self.pool_counts()
        workers = GaugeMetricFamily(f"{p}_collection_workers", "Collection worker threads by state: idle, busy "
                                    "(probing within the timeout), hung (stuck in a probe past its timeout).",
                                    labels=["state"])
        for state in ("idle", "busy", "hung"):
            workers.add_metric([state], counts[state])
        queued = GaugeMetricFamily(f"{p}_collection_queued_targets",
                                   "Targets due for collection and waiting for a free worker.", value=counts["queued"])
        return [workers, queued]
