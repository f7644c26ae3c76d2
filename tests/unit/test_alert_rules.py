"""The alert rules (monitors/alerts): promtool accepts them, their unit tests pass, and every alert carries
what the person paged needs (severity, summary, templated description, runbook) and is covered by a firing
and a non-firing promtool case, so a new rule without tests fails here."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import promtool

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "monitors" / "alerts"
TESTS = ALERTS / "tests"
RULE_FILES = sorted(ALERTS.glob("*.rules.yml"))
TEST_FILES = sorted(TESTS.glob("*.test.yml"))
SEVERITIES = {"critical", "warning", "none"}
# Alerts that fire by design at every evaluation: they cannot have a non-firing case.
ALWAYS_FIRING = {"Watchdog"}


def _alert_rules(paths: list[Path]) -> list[tuple[Path, dict]]:
    found = []
    for path in paths:
        for group in yaml.safe_load(path.read_text())["groups"]:
            found += [(path, rule) for rule in group["rules"] if "alert" in rule]
    return found


def _coverage(test_files: list[Path]) -> tuple[set[str], set[str]]:
    """The alert names with a firing case, and those with a non-firing case, across the promtool tests."""
    firing: set[str] = set()
    quiet: set[str] = set()
    for path in test_files:
        for case in yaml.safe_load(path.read_text()).get("tests", []):
            for check in case.get("alert_rule_test") or []:
                (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    return firing, quiet


def test_there_are_rule_files_and_test_files() -> None:
    assert RULE_FILES, f"no *.rules.yml in {ALERTS}"
    assert TEST_FILES, f"no *.test.yml in {TESTS}"


def test_promtool_accepts_every_rule_file() -> None:
    proc = subprocess.run([promtool(), "check", "rules", *map(str, RULE_FILES)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_promtool_unit_tests_pass() -> None:
    proc = subprocess.run([promtool(), "test", "rules", *(p.name for p in TEST_FILES)], capture_output=True,
                          text=True, cwd=TESTS)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _id(value: object) -> str:
    return value.get("alert", "") if isinstance(value, dict) else Path(str(value)).name


@pytest.mark.parametrize(("path", "rule"), _alert_rules(RULE_FILES), ids=_id)
def test_every_alert_has_severity_summary_description_and_runbook(path: Path, rule: dict) -> None:
    name = rule["alert"]
    where = f"{path.name}: alert {name}"
    assert rule.get("labels", {}).get("severity") in SEVERITIES, f"{where}: labels.severity must be one of {SEVERITIES}"
    notes = rule.get("annotations", {})
    assert notes.get("summary"), f"{where}: add annotations.summary"
    assert re.search(r"\{\{.*\$(labels|value|externalLabels).*\}\}", notes.get("description", "")), (
        f"{where}: annotations.description must be templated ({{{{ $labels.x }}}} or {{{{ $value }}}})")
    assert notes.get("runbook_url") == f"https://runbooks.jinbao.example/alerts/{name}/", (
        f"{where}: runbook_url must be https://runbooks.jinbao.example/alerts/{name}/")


def test_every_alert_of_the_contract_has_a_rule() -> None:
    contract = (ROOT / "monitors" / "CONTRACT.md").read_text()
    listed = contract.split("## Alerts", 1)[1].split("Every rule:", 1)[0]
    names = set(re.findall(r"\b([A-Z][A-Za-z]+)\b", listed)) - {"Alerts", "Alert"}
    defined = {rule["alert"] for _, rule in _alert_rules(RULE_FILES)}
    assert names - defined == set(), f"alerts in CONTRACT.md without a rule: {sorted(names - defined)}"


def test_every_alert_has_a_firing_and_a_non_firing_promtool_case() -> None:
    firing, quiet = _coverage(TEST_FILES)
    names = {rule["alert"] for _, rule in _alert_rules(RULE_FILES)}
    assert names - firing == set(), f"alerts without a firing case in {TESTS}: {sorted(names - firing)}"
    missing_quiet = names - quiet - ALWAYS_FIRING
    assert missing_quiet == set(), (
        f"alerts without a non-firing case (exp_alerts: []) in {TESTS}: {sorted(missing_quiet)}")


def test_the_coverage_check_catches_a_rule_without_tests(tmp_path: Path) -> None:
    rules = tmp_path / "new.rules.yml"
    rules.write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [
        {"alert": "BrandNew", "expr": "vector(1)", "labels": {"severity": "warning"}}]}]}))
    only_firing = tmp_path / "new.test.yml"
    only_firing.write_text(yaml.safe_dump({"tests": [{"alert_rule_test": [
        {"alertname": "BrandNew", "eval_time": "1m", "exp_alerts": [{"exp_labels": {"severity": "warning"}}]}]}]}))
    firing, quiet = _coverage([only_firing])
    names = {rule["alert"] for _, rule in _alert_rules([rules])}
    assert names - firing == set()
    assert names - quiet == {"BrandNew"}
    assert names - _coverage([])[0] == {"BrandNew"}


def _render_rpo_targets(systems: dict) -> str:
    import jinja2

    template = ROOT / "roles" / "monitoring" / "templates" / "etc" / "prometheus" / "rules" / "rpo-targets.rules.yml.j2"
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, trim_blocks=True, keep_trailing_newline=True)
    env.filters["comment"] = lambda text: f"# {text}"
    env.filters["to_json"] = lambda value: __import__("json").dumps(value)
    return env.from_string(template.read_text()).render(ansible_managed="Ansible managed",
                                                        monitoring_facility_systems=systems)


def test_the_rpo_targets_declare_every_system_of_the_facility_model(tmp_path: Path) -> None:
    facility = yaml.safe_load((ROOT / "inventory" / "lab" / "group_vars" / "all" / "facility.yml").read_text())
    systems = facility["facility_systems"]
    rendered = tmp_path / "rpo-targets.rules.yml"
    rendered.write_text(_render_rpo_targets(systems))
    proc = subprocess.run([promtool(), "check", "rules", str(rendered)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rules = yaml.safe_load(rendered.read_text())["groups"][0]["rules"]
    declared = {r["labels"]["system"]: (r["labels"]["zone"], r["expr"]) for r in rules}
    assert declared == {name: (s["zone"], f"vector({s['rpo_seconds']})") for name, s in systems.items()}
