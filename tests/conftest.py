"""Shared test set-up: project paths, and import of the plugins' pure-Python modules without Ansible."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"

os.environ.setdefault("ANSIBLE_CONFIG", str(ROOT / "ansible.cfg"))
COLLECTIONS = ROOT / ".cache" / "collections"


def _install_collection_loader() -> None:
    """Ansible's own collection loader, before any test imports the collection: every test then imports
    ansible_collections.jinbao.dc.plugins... exactly as ansible-playbook does (one loader, one copy of each module).
    Under `ansible-test units` (make units) ansible-test has installed it already, on its own copy."""
    # By name: under ansible-test units, module_utils tests see only the target side of ansible (no ansible.plugins).
    if any(type(finder).__name__ == "_AnsibleCollectionFinder" for finder in sys.meta_path):
        return
    from ansible.plugins.loader import init_plugin_loader
    assert (COLLECTIONS / "ansible_collections" / "jinbao" / "dc" / "galaxy.yml").exists(), (
        f"{COLLECTIONS}/ansible_collections/jinbao/dc is not the link to this repository: run `make deps`")
    init_plugin_loader([str(COLLECTIONS)])


_install_collection_loader()


def required_tool(name: str, package: str) -> str:
    """The path of a command `make deps` installs (lab/packages.apt); missing, it is a broken set-up: the test
    fails saying so instead of skipping."""
    import shutil

    path = shutil.which(name)
    assert path, f"{name} is not installed (Debian package {package}; `make deps` installs it)"
    return path


def promtool() -> str:
    return required_tool("promtool", "prometheus")


def amtool() -> str:
    return required_tool("amtool", "prometheus-alertmanager")
