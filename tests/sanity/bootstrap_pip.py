"""ansible-test's pip bootstrap, offline: `make sanity` saves this file where ansible-test looks for its
get-pip script (~/.ansible/test/cache/get_pip_<version>.py), beside the pip wheel of that version from PyPI.

ansible-test makes each sanity and units virtualenv without pip, then runs get-pip.py (downloaded from
ci-files.testing.ansible.com, which this site's controllers cannot reach; ansible-test's own message says to
save the script there by hand). This stands in for it: it runs pip from the wheel beside it and installs the
packages ansible-test asks for (pip==<version> itself), dropping get-pip's own --no-setuptools/--no-wheel flags.
"""

from __future__ import annotations

import glob
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
VERSION = os.path.splitext(os.path.basename(__file__))[0].removeprefix("get_pip_").replace("_", ".")


def main() -> int:
    wheels = glob.glob(os.path.join(HERE, f"pip-{VERSION}-*.whl"))
    if not wheels:
        sys.stderr.write(f"bootstrap_pip: no pip {VERSION} wheel in {HERE}; run `make sanity` (it downloads it)\n")
        return 1
    sys.path.insert(0, wheels[0])
    from pip._internal.cli.main import main as pip_main

    args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
    args = [wheels[0] if a == f"pip=={VERSION}" else a for a in args]
    return pip_main(["install", "--disable-pip-version-check", *args])


if __name__ == "__main__":
    sys.exit(main())
