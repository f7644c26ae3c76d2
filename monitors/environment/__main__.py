"""python -m monitors.environment --config.file environment.yml [--web.listen-address 127.0.0.1:19103]"""

import sys

from monitors.common.cli import run
from monitors.environment.collector import EnvironmentCollector
from monitors.environment.config import SCHEMA

if __name__ == "__main__":
    sys.exit(run("environment", EnvironmentCollector, SCHEMA))
