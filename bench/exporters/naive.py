"""The baseline of the exporters bench: a naive collect-on-scrape exporter built from the project's own code.

    .venv/bin/python -m bench.exporters.naive {backup|environment} --config.file X --web.listen-address H:P

Same config file, same Collector class and the same probe() as `python -m monitors.<exporter>`, same
prometheus_client HTTP server, same families (the target's own families plus the five self-metric families,
so both expositions have the same samples). The only difference: NaiveCollector.collect() calls probe() for
every target, one after the other, inside the scrape, with no timeout and no cache, the way an exporter
without background collection works.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from collections.abc import Iterable

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import CollectorRegistry

from monitors.backup import config as backup_config
from monitors.backup.collector import BackupCollector
from monitors.common.collection import BackgroundCollector, targets_from_config
from monitors.common.config import load_config
from monitors.common.server import parse_listen_address, serve
from monitors.environment import config as environment_config
from monitors.environment.collector import EnvironmentCollector

COLLECTORS = {"backup": (BackupCollector, backup_config.SCHEMA),
              "environment": (EnvironmentCollector, environment_config.SCHEMA)}


class NaiveCollector:
    """Collect on scrape: the wrapped collector's probe() for every target, inside collect()."""

    def __init__(self, inner: BackgroundCollector) -> None:
        self.inner = inner

    def describe(self) -> Iterable[Metric]:
        return []  # registering must not probe

    def collect(self) -> Iterable[Metric]:
        p = f"jinbao_{self.inner.exporter}"
        own = [GaugeMetricFamily(f"{p}_up", "1 when the target's probe in this scrape succeeded."),
               GaugeMetricFamily(f"{p}_collector_success", "1 when the probe in this scrape succeeded."),
               GaugeMetricFamily(f"{p}_collector_duration_seconds", "How long the probe in this scrape took."),
               GaugeMetricFamily(f"{p}_last_collection_timestamp_seconds", "When the target was collected."),
               GaugeMetricFamily(f"{p}_collection_age_seconds", "Seconds since the target was collected.")]
        merged: dict[str, Metric] = {}
        for target in self.inner.targets:
            began = time.monotonic()
            try:
                families = [self.inner._labelled(f, target) for f in self.inner.probe(target)]
                ok = 1.0
            except Exception:
                families, ok = [], 0.0
            took = time.monotonic() - began
            labels = {"target": target.name, **target.labels}
            with_collector = {"collector": self.inner.exporter, **labels}
            for family, value, lab in zip(own, (ok, ok, took, time.time() if ok else 0.0, 0.0),
                                          (labels, with_collector, with_collector, labels, labels), strict=True):
                family.add_sample(family.name, lab, value)
            for family in families:
                into = merged.setdefault(family.name, Metric(family.name, family.documentation, family.type))
                into.samples.extend(family.samples)
        yield from own
        yield from merged.values()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("exporter", choices=sorted(COLLECTORS))
    parser.add_argument("--config.file", dest="config_file", required=True)
    parser.add_argument("--web.listen-address", dest="listen", required=True)
    args = parser.parse_args(argv)
    collector_class, schema = COLLECTORS[args.exporter]
    config = load_config(args.config_file, schema)
    registry = CollectorRegistry(auto_describe=True)
    registry.register(NaiveCollector(collector_class(targets_from_config(config), config)))
    server, _thread = serve(registry, *parse_listen_address(args.listen))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print(f"naive {args.exporter} exporter serving http://{args.listen}/metrics", flush=True)
    stop.wait()
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
