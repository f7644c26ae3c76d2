"""python -m monitors.environment --config.file environment.yml [--web.listen-address 127.0.0.1:19103]

Installed (monitors/pyproject.toml), the same runs as the console script `jinbao-environment-exporter`.
"""

from __future__ import annotations

import sys

from monitors.common.cli import run
from monitors.environment.collector import EnvironmentCollector
from monitors.environment.config import SCHEMA


def main(argv: list[str] | None = None) -> int:
    return run("environment", EnvironmentCollector, SCHEMA, argv)


if __name__ == "__main__":
    sys.exit(main())
