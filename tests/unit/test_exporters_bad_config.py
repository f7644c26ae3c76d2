"""Every exporter refuses a malformed config file with one clear message that names the file and the field,
exit code 2, and never a traceback. Each exporter's own example.yml is the good config; each bad case here is
that config with one thing broken, so a refusal proves the check, not a broken fixture."""

from __future__ import annotations

import contextlib
import copy
import io
from pathlib import Path

import pytest
import yaml

from monitors.backup.collector import BackupCollector
from monitors.backup.config import SCHEMA as BACKUP
from monitors.common.cli import run
from monitors.environment.collector import EnvironmentCollector
from monitors.environment.config import SCHEMA as ENVIRONMENT
from monitors.pki.collector import PkiCollector
from monitors.pki.config import SCHEMA as PKI
from monitors.replication.collector import ReplicationCollector
from monitors.replication.config import SCHEMA as REPLICATION

from conftest import ROOT

EXPORTERS = {"backup": (BackupCollector, BACKUP), "replication": (ReplicationCollector, REPLICATION),
             "environment": (EnvironmentCollector, ENVIRONMENT), "pki": (PkiCollector, PKI)}


def example(exporter: str) -> dict:
    return yaml.safe_load((ROOT / "monitors" / exporter / "example.yml").read_text())


def check(exporter: str, path: Path) -> tuple[int, str]:
    collector, schema = EXPORTERS[exporter]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run(exporter, collector, schema, ["--config.file", str(path), "--check-config", "--log.format", "text"])
    return code, out.getvalue() + err.getvalue()


def _set(config: dict, path: tuple, value) -> dict:
    config = copy.deepcopy(config)
    node = config
    for key in path[:-1]:
        node = node[key]
    if value is _DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return config


_DELETE = object()

# (id, how to break the example: a function of the parsed example, or raw file text)
RAW = {
    "empty file": "",
    "not yaml": "targets: [unclosed\n  - : :\n",
    "a list, not a mapping": "- targets\n- collection\n",
    "a scalar": "42\n",
    "binary junk": "\x00\x01\x02\x7f",
    "tab indentation": "targets:\n\t- name: x\n",
}
STRUCTURAL = {
    "no targets": lambda c: _set(c, ("targets",), _DELETE),
    "targets is a mapping": lambda c: _set(c, ("targets",), {"a": 1}),
    "targets is a string": lambda c: _set(c, ("targets",), "all"),
    "a target is a string": lambda c: _set(c, ("targets",), ["just-a-name"]),
    "a target without a name": lambda c: _set(c, ("targets", 0, "name"), _DELETE),
    "a target name is a number": lambda c: _set(c, ("targets", 0, "name"), 12),
    "an empty target name": lambda c: _set(c, ("targets", 0, "name"), ""),
    "a negative interval": lambda c: _set(c, ("collection",), {"interval_seconds": -5}),
    "a zero timeout": lambda c: _set(c, ("collection",), {"timeout_seconds": 0}),
    "an interval in words": lambda c: _set(c, ("collection",), {"interval_seconds": "every minute"}),
    "a target interval below zero": lambda c: _set(c, ("targets", 0, "interval_seconds"), -1),
    "a target timeout as text": lambda c: _set(c, ("targets", 0, "timeout_seconds"), "soon"),
    "labels as a list": lambda c: _set(c, ("targets", 0, "labels"), ["room", "main"]),
    "a reserved label": lambda c: _set(c, ("targets", 0, "labels"), {"instance": "x"}),
    "an unknown top-level key": lambda c: _set(c, ("colection",), {"interval_seconds": 5}),
    "an unknown target key": lambda c: _set(c, ("targets", 0, "passwrd"), "x"),
    "two targets of one name": lambda c: _set(c, ("targets",), [c["targets"][0], c["targets"][0]]),
    "tls cert without key": lambda c: _set(c, ("tls",), {"certfile": "/etc/x.crt"}),
    "tls client auth without a CA": lambda c: _set(c, ("tls",), {"certfile": "/etc/x.crt", "keyfile": "/etc/x.key",
                                                                 "client_auth_required": True}),
    "tls is a string": lambda c: _set(c, ("tls",), "on"),
}


def _cases() -> list:
    cases = []
    for exporter in EXPORTERS:
        cases += [pytest.param(exporter, text, id=f"{exporter}: {name}") for name, text in RAW.items()]
        cases += [pytest.param(exporter, breaker, id=f"{exporter}: {name}") for name, breaker in STRUCTURAL.items()]
    return cases


@pytest.mark.parametrize("exporter", EXPORTERS)
def test_each_example_config_is_valid(exporter, tmp_path):
    path = tmp_path / "good.yml"
    path.write_text(yaml.safe_dump(example(exporter)))
    code, text = check(exporter, path)
    assert code == 0, text


@pytest.mark.parametrize(("exporter", "broken"), _cases())
def test_a_malformed_config_is_refused_with_the_file_named_and_no_traceback(exporter, broken, tmp_path):
    path = tmp_path / "bad.yml"
    if isinstance(broken, str):
        path.write_bytes(broken.encode("utf-8", "surrogateescape"))
    else:
        path.write_text(yaml.safe_dump(broken(example(exporter))))
    code, text = check(exporter, path)
    assert code == 2, f"accepted:\n{path.read_text()}\n{text}"
    assert str(path) in text or path.name in text, text
    assert "Traceback" not in text, text


def test_the_census_holds_at_least_a_hundred_bad_configs():
    assert len(_cases()) >= 100
