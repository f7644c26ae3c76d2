"""python -m monitors.pki --config.file pki.yml [--web.listen-address 127.0.0.1:19104]

Installed (monitors/pyproject.toml), the same runs as the console script `jinbao-pki-exporter`.
"""

from __future__ import annotations

import sys

from monitors.common.cli import run
from monitors.pki.collector import PkiCollector
from monitors.pki.config import SCHEMA


def main(argv: list[str] | None = None) -> int:
    return run("pki", PkiCollector, SCHEMA, argv)


if __name__ == "__main__":
    sys.exit(main())
