"""Alertmanager's routing (roles/monitoring templates/etc/prometheus/alertmanager.yml.j2): the lab rendering
in monitors/alertmanager/alertmanager.yml is what the template makes from the role defaults and the lab's
group_vars, amtool accepts it, and alerts land on the receiver of their severity and zone."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import jinja2
import pytest
import yaml

from conftest import amtool

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "roles" / "monitoring" / "templates" / "etc" / "prometheus" / "alertmanager.yml.j2"
LAB_COPY = ROOT / "monitors" / "alertmanager" / "alertmanager.yml"


def render_lab_alertmanager() -> str:
    """The template rendered with the role defaults overlaid by inventory/lab/group_vars/monitoring/*.yml."""
    values = yaml.safe_load((ROOT / "roles" / "monitoring" / "defaults" / "main.yml").read_text())
    for path in sorted((ROOT / "inventory" / "lab" / "group_vars" / "monitoring").glob("*.yml")):
        values.update(yaml.safe_load(path.read_text()) or {})
    # trim_blocks as Ansible's template module has it
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, trim_blocks=True)
    env.filters["comment"] = lambda text: f"# {text}"
    env.filters["to_json"] = json.dumps
    context = {k: v for k, v in values.items() if k.startswith("monitoring_alertmanager_")}
    return env.from_string(TEMPLATE.read_text()).render(ansible_managed="Ansible managed", **context)


def test_the_lab_copy_is_the_template_rendered_with_the_lab_inventory() -> None:
    assert LAB_COPY.read_text() == render_lab_alertmanager(), (
        f"{LAB_COPY} is out of date; regenerate it: .venv/bin/python tests/unit/test_alertmanager_config.py")


def test_amtool_accepts_the_configuration() -> None:
    proc = subprocess.run([amtool(), "check-config", str(LAB_COPY)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize(("labels", "receiver"), [
    (["alertname=BackupFailed", "severity=critical", "zone=production", "system=basic-info"], "critical-production"),
    (["alertname=FeedStale", "severity=warning", "zone=exchange"], "warning-exchange"),
    (["alertname=RPOBreached", "severity=critical", "zone=decision", "system=warehouse"], "critical-decision"),
    (["alertname=UPSOnBattery", "severity=critical", "room=main"], "critical-facilities"),
    (["alertname=RoomTemperatureOutOfRange", "severity=warning", "room=main", "sensor=hot-aisle"],
     "warning-facilities"),
    (["alertname=ExporterDown", "severity=critical", "room=main", "job=jinbao-backup"], "critical-platform"),
    (["alertname=CertificateExpiringSoon", "severity=warning", "kind=service"], "warning-platform"),
    (["alertname=Watchdog", "severity=none"], "watchdog"),
    (["alertname=SomethingInformational", "severity=none"], "blackhole"),
    (["alertname=NoSeverity"], "default"),
])
def test_an_alert_lands_on_the_receiver_of_its_severity_and_zone(labels: list[str], receiver: str) -> None:
    proc = subprocess.run([amtool(), "config", "routes", "test", "--config.file", str(LAB_COPY),
                           f"--verify.receivers={receiver}", *labels], capture_output=True, text=True)
    assert proc.returncode == 0, f"{labels} went to {proc.stdout.strip()}, expected {receiver}: {proc.stderr}"


def test_every_receiver_posts_to_its_own_path_on_the_oncall_sink() -> None:
    config = yaml.safe_load(LAB_COPY.read_text())
    urls = {r["name"]: r["webhook_configs"][0]["url"] for r in config["receivers"] if r.get("webhook_configs")}
    assert urls["critical-production"] == "http://127.0.0.1:19095/critical/production"
    assert len(set(urls.values())) == len(urls), "two receivers share a URL; the sink could not tell them apart"
    assert all(url.startswith("http://127.0.0.1:19095/") for url in urls.values())


def test_a_ups_on_battery_inhibits_the_exporter_alerts_of_its_room_and_critical_inhibits_warning() -> None:
    rules = yaml.safe_load(LAB_COPY.read_text())["inhibit_rules"]
    on_battery = next(r for r in rules if r["source_matchers"] == ['alertname="UPSOnBattery"'])
    assert on_battery["equal"] == ["room"]
    assert "ExporterDown" in on_battery["target_matchers"][0]
    twin = next(r for r in rules if r["source_matchers"] == ['severity="critical"'])
    assert twin["target_matchers"] == ['severity="warning"'] and "alertname" in twin["equal"]


if __name__ == "__main__":  # regenerate the lab copy
    LAB_COPY.write_text(render_lab_alertmanager())
    print(f"wrote {LAB_COPY}")
