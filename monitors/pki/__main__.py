"""python -m monitors.pki --config.file pki.yml [--web.listen-address 127.0.0.1:19104]"""

import sys

from monitors.common.cli import run
from monitors.pki.collector import PkiCollector
from monitors.pki.config import SCHEMA

if __name__ == "__main__":
    sys.exit(run("pki", PkiCollector, SCHEMA))
