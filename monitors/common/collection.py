"""Background collection: each target is probed on its own interval in a worker thread with a timeout,
and a scrape serves the latest result of every target at once, so /metrics stays fast when a backend hangs.

A subclass sets `exporter` and implements `probe(target)`, which returns the metric families of ONE target
(prometheus_client.core *MetricFamily objects) or raises. A probe that raises or overruns its timeout marks
the target failed: its `up` reads 0 and its families are dropped. A hung probe is not started again until
it returns.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.samples import Sample

log = logging.getLogger("monitors.collection")


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
    worker: threading.Thread | None = None  # a probe still running after its timeout


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

    # --- what a subclass provides -----------------------------------------------------------------
    def probe(self, target: Target) -> list[Metric]:
        """The metric families of one target; raise (with a message naming the cause and fix) on failure."""
        raise NotImplementedError

    # --- running ------------------------------------------------------------------------------------
    def start(self) -> None:
        """One background loop per target, each on its own interval (first collection immediately)."""
        self._stopping.clear()
        for target in self.targets:
            loop = threading.Thread(target=self._loop, args=(target,), daemon=True,
                                    name=f"{self.exporter}-loop-{target.name}")
            loop.start()
            self._loops.append(loop)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the loops; a probe still running is abandoned (its thread is a daemon)."""
        self._stopping.set()
        for loop in self._loops:
            loop.join(timeout)
        self._loops.clear()

    def adopt(self, old: BackgroundCollector) -> None:
        """Take over the results of `old` (the collector of the previous config, on SIGHUP) for every target
        whose definition did not change, so a reload does not blank them until their next collection."""
        with old._lock:
            kept = {t.name: old._state[t.name] for t in old.targets if t in self.targets}
        with self._lock:
            self._state.update(kept)

    def collect_now(self) -> None:
        """Collect every target once, concurrently, and wait (tests, --once). Bounded by the largest timeout."""
        threads = [threading.Thread(target=self.collect_target, args=(t,), daemon=True) for t in self.targets]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _loop(self, target: Target) -> None:
        while not self._stopping.is_set():
            began = time.monotonic()
            self.collect_target(target)
            self._stopping.wait(max(0.0, target.interval - (time.monotonic() - began)))

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
        if "error" in box:
            exc = box["error"]
            self.log.debug("probe traceback", extra={"target": target.name}, exc_info=exc)
            self._record(target, None, duration, f"{type(exc).__name__}: {exc}")
            return False
        try:
            families = [self._labelled(f, target) for f in box["families"]]
        except Exception as exc:
            self._record(target, None, duration, f"probe returned something that is not a metric family: {exc}")
            return False
        self._record(target, families, duration, "")
        return True

    def _record(self, target: Target, families: list[Metric] | None, duration: float, error: str) -> None:
        state = self._state[target.name]
        with self._lock:
            was_ok, old_error = state.success, state.error
            state.families, state.success, state.duration, state.error = families, families is not None, duration, error
            if families is not None:
                state.last_success = self.clock()
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

