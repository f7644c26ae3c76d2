"""room_alarms() and alarm_refusal() (plugins/module_utils/seams/alertmanager.py) against a tiny local HTTP
server that answers like Alertmanager's v2 API. The canned alerts are copies of the lab Alertmanager's answer
(0.25; FeedDirectionForbidden and Watchdog as served, and room alerts in the same shape with the labels the
environment exporter and the city Prometheus put on them). Only active, critical alerts of the asked room count;
every way of not getting a clear answer (unreachable, TLS, HTTP error, not JSON) is an AlertmanagerError that
names the URL, so the gate fails closed. The real Alertmanager: tests/integration/test_room_alarms_lab.py."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from ansible_collections.jinbao.dc.plugins.module_utils.seams import alertmanager


def am_alert(name: str, severity: str, labels: dict, summary: str, starts: str, receiver: str,
             expr: str, state: str = "active", silenced_by: tuple[str, ...] = ()) -> dict:
    """One GettableAlert exactly as Alertmanager v2 serves it (field order and all)."""
    return {"annotations": {"description": summary + ".", "runbook_url": f"https://runbooks.jinbao.example/alerts/{name}/",
                            "summary": summary},
            "endsAt": "2026-12-06T06:56:42.165Z", "fingerprint": hashlib.sha256(summary.encode()).hexdigest()[:16],
            "receivers": [{"name": receiver}], "startsAt": starts,
            "status": {"inhibitedBy": [], "silencedBy": list(silenced_by), "state": state},
            "updatedAt": "2026-12-06T06:52:42.173Z",
            "generatorURL": f"https://127.0.0.1:19090/graph?{urllib.parse.urlencode({'g0.expr': expr, 'g0.tab': '1'})}",
            "labels": {"alertname": name, "city": "lab-city", "prometheus": "mon-city-01", "severity": severity,
                       "tier": "city", **labels}}


ENV = {"exporter_host": "mon-city-01", "instance": "127.0.0.1:19103", "job": "jinbao-environment"}
ALERTS = [
    # Served by the lab's Alertmanager as they are here.
    {"annotations": {"description": "Feed stats-backflow copies from decision to production; only production-"
                                    ">exchange, production->decision and exchange->decision are allowed.",
                     "runbook_url": "https://runbooks.jinbao.example/alerts/FeedDirectionForbidden/",
                     "summary": "Feed stats-backflow moves data in a direction the zone policy forbids"},
     "endsAt": "2026-12-06T06:56:42.165Z", "fingerprint": "a25860801a6d6722",
     "receivers": [{"name": "critical-platform"}], "startsAt": "2026-12-06T06:48:22.165Z",
     "status": {"inhibitedBy": [], "silencedBy": [], "state": "active"}, "updatedAt": "2026-12-06T06:52:42.173Z",
     "generatorURL": "https://127.0.0.1:19090/graph?g0.expr=jinbao_replication_feed_direction_allowed+%3D%3D+0"
                     "&g0.tab=1",
     "labels": {"alertname": "FeedDirectionForbidden", "city": "lab-city", "destination_zone": "production",
                "exporter_host": "mon-city-01", "feed": "stats-backflow", "instance": "127.0.0.1:19102",
                "job": "jinbao-replication", "prometheus": "mon-city-01", "severity": "critical",
                "source_zone": "decision", "system": "statistics", "target": "stats-backflow", "tier": "city"}},
    {"annotations": {"description": "Always firing, on purpose, from the city Prometheus.",
                     "runbook_url": "https://runbooks.jinbao.example/alerts/Watchdog/",
                     "summary": "The alerting pipeline works (this alert always fires)"},
     "endsAt": "2026-12-06T06:56:31.006Z", "fingerprint": "db957ba3429c435f", "receivers": [{"name": "watchdog"}],
     "startsAt": "2026-12-06T06:48:11.006Z", "status": {"inhibitedBy": [], "silencedBy": [], "state": "active"},
     "updatedAt": "2026-12-06T06:52:31.010Z",
     "generatorURL": "https://127.0.0.1:19090/graph?g0.expr=vector%281%29&g0.tab=1",
     "labels": {"alertname": "Watchdog", "city": "lab-city", "prometheus": "mon-city-01", "severity": "none",
                "tier": "city"}},
    # Room alerts, in the same shape, with monitors/alerts/environment.rules.yml's labels and summaries.
    am_alert("UPSOnBattery", "critical", {**ENV, "rack": "main-B01", "room": "main", "target": "ups-main-01"},
             "UPS ups-main-01 (room main) runs on battery", "2026-12-06T06:40:05.000Z", "critical-facilities",
             "jinbao_environment_ups_on_battery == 1"),
    am_alert("SmokeDetected", "critical", {**ENV, "room": "main", "sensor": "ceiling-row-a", "target": "env-main-01"},
             "Room main: smoke at ceiling-row-a", "2026-12-06T06:45:00.000Z", "critical-facilities",
             "jinbao_environment_smoke_detected == 1"),
    am_alert("RoomTemperatureOutOfRange", "warning", {**ENV, "room": "main", "sensor": "hot-aisle",
                                                      "target": "env-main-01"},
             "Room main: temperature 31.5 °C outside 18-27 °C", "2026-12-06T06:30:00.000Z", "warning-facilities",
             "jinbao_environment_temperature_celsius < 18 or jinbao_environment_temperature_celsius > 27"),
    am_alert("WaterLeakDetected", "critical", {**ENV, "room": "branch-east", "sensor": "underfloor",
                                               "target": "env-east-01"},
             "Room branch-east: water leak at underfloor", "2026-12-06T06:41:00.000Z", "critical-facilities",
             "jinbao_environment_water_leak_detected == 1"),
    am_alert("UPSLowRuntime", "critical", {**ENV, "room": "main", "target": "ups-main-01"},
             "UPS ups-main-01: battery runtime 8m", "2026-12-06T06:44:00.000Z", "critical-facilities",
             "jinbao_environment_ups_battery_runtime_seconds < 600", state="suppressed",
             silenced_by=("5a3c8f0e-0000-4000-8000-000000000001",)),
]


class FakeAlertmanager(BaseHTTPRequestHandler):
    """/<mode>/api/v2/alerts: `ok` the canned alerts, `html` a web page, `error` HTTP 500, `object` a JSON map."""

    requests: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        FakeAlertmanager.requests.append(self.path)
        mode = self.path.split("/")[1]
        if mode == "ok":
            self.answer(200, "application/json", json.dumps(ALERTS))
        elif mode == "html":
            self.answer(200, "text/html", "<html><body>Grafana</body></html>")
        elif mode == "object":
            self.answer(200, "application/json", json.dumps({"status": "success", "data": []}))
        else:
            self.answer(500, "text/plain", "alertmanager: internal error")

    def answer(self, code: int, kind: str, text: str) -> None:
        data = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeAlertmanager)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_only_active_critical_alerts_of_the_room_are_alarms(server):
    alarms = alertmanager.room_alarms(f"http://{server}/ok", "main", None)
    assert alarms == [
        {"alertname": "SmokeDetected", "room": "main", "summary": "Room main: smoke at ceiling-row-a",
         "startsAt": "2026-12-06T06:45:00.000Z"},
        {"alertname": "UPSOnBattery", "room": "main", "summary": "UPS ups-main-01 (room main) runs on battery",
         "startsAt": "2026-12-06T06:40:05.000Z"},
    ]


def test_another_rooms_alarm_does_not_hold_this_room(server):
    assert [a["alertname"] for a in alertmanager.room_alarms(f"http://{server}/ok", "branch-east", None)] == \
        ["WaterLeakDetected"]
    assert alertmanager.room_alarms(f"http://{server}/ok", "branch-north", None) == []


def test_the_query_asks_for_active_unsilenced_uninhibited_critical_alerts_of_the_room(server):
    FakeAlertmanager.requests.clear()
    alertmanager.room_alarms(f"http://{server}/ok/", "main", None)
    path, _, query = FakeAlertmanager.requests[-1].partition("?")
    assert path == "/ok/api/v2/alerts"
    assert urllib.parse.parse_qs(query) == {"active": ["true"], "silenced": ["false"], "inhibited": ["false"],
                                            "filter": ['severity="critical"', 'room="main"']}


def test_the_refusal_names_the_room_and_each_alarm_with_its_start(server):
    alarms = alertmanager.room_alarms(f"http://{server}/ok", "main", None)
    assert alertmanager.alarm_refusal(alarms, "main") == (
        "room main is in alarm: SmokeDetected (since 2026-12-06T06:45:00.000Z), UPSOnBattery (since "
        "2026-12-06T06:40:05.000Z); no change starts while a critical alert fires")
    assert alertmanager.alarm_refusal([], "main") == ""


@pytest.mark.parametrize(("mode", "cause"), [("html", "not JSON"), ("error", "HTTP 500"),
                                             ("object", "not a list of alerts")])
def test_an_answer_that_is_not_an_alert_list_fails_closed(server, mode, cause):
    url = f"http://{server}/{mode}"
    with pytest.raises(alertmanager.AlertmanagerError, match=cause) as refused:
        alertmanager.room_alarms(url, "main", None)
    assert url in str(refused.value)


def test_an_unreachable_alertmanager_fails_closed():
    url = f"http://127.0.0.1:{closed_port()}"
    with pytest.raises(alertmanager.AlertmanagerError, match="unreachable") as refused:
        alertmanager.room_alarms(url, "main", None)
    assert url in str(refused.value)


def test_https_to_a_server_that_does_not_speak_tls_is_a_tls_error(server):
    with pytest.raises(alertmanager.AlertmanagerError, match="TLS failed"):
        alertmanager.room_alarms(f"https://{server}/ok", "main", None)


def test_missing_trust_or_client_certificate_files_are_named(server, tmp_path):
    with pytest.raises(alertmanager.AlertmanagerError, match="ca_file: cannot load the CA bundle"):
        alertmanager.room_alarms(f"https://{server}/ok", "main", str(tmp_path / "none.crt"))
    with pytest.raises(alertmanager.AlertmanagerError, match="cert/key: cannot load the client certificate"):
        alertmanager.room_alarms(f"https://{server}/ok", "main", None, cert=str(tmp_path / "op.crt"),
                                 key=str(tmp_path / "op.key"))
    with pytest.raises(alertmanager.AlertmanagerError, match="not an http"):
        alertmanager.room_alarms(f"file://{tmp_path}", "main", None)
