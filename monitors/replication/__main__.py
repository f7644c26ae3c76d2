"""python -m monitors.replication --config.file replication.yml [--web.listen-address 127.0.0.1:19102]

Installed (monitors/pyproject.toml), the same runs as the console script `jinbao-replication-exporter`.
"""

from __future__ import annotations

import sys

from monitors.common.cli import run
from monitors.replication.collector import ReplicationCollector
from monitors.replication.config import SCHEMA


def main(argv: list[str] | None = None) -> int:
    return run("replication", ReplicationCollector, SCHEMA, argv)


if __name__ == "__main__":
    sys.exit(main())
