"""Shared test set-up: project paths, and import of the plugins' pure-Python modules without Ansible."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"

os.environ.setdefault("ANSIBLE_CONFIG", str(ROOT / "ansible.cfg"))
COLLECTIONS = ROOT / ".cache" / "collections"
assert (COLLECTIONS / "ansible_collections" / "jinbao" / "dc" / "galaxy.yml").exists(), (
    f"{COLLECTIONS}/ansible_collections/jinbao/dc is not the link to this repository: run `make deps`")


def _install_collection_loader() -> None:
    """Ansible's own collection loader, before any test imports the collection: every test then imports
    ansible_collections.jinbao.dc.plugins... exactly as ansible-playbook does (one loader, one copy of each module)."""
    from ansible.plugins.loader import init_plugin_loader

    init_plugin_loader([str(COLLECTIONS)])


_install_collection_loader()


def load_plugin_module(relpath: str, name: str):
    """Import a file from plugins/ (module_utils, filter) by path, as the tests' own module `name`."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / relpath)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


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
