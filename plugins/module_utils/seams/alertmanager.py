"""The Alertmanager API seam: which critical alerts fire in a room (the gate's "no change while the room is in
alarm", runbooks/alerts/UPSOnBattery.md).

room_alarms() asks Alertmanager's v2 API for the alerts that are active, not silenced and not inhibited, and
keeps those with `severity="critical"` and `room="<room>"`: the labels monitors/alerts/*.rules.yml set (the
environment rules' UPSOnBattery, UPSLowRuntime, SmokeDetected, WaterLeakDetected, RoomTemperatureOutOfRange,
RoomHumidityOutOfRange carry the exporter's `room`; the scrape config gives other alerts their host's room).
Every way of not getting a clear answer (unreachable, TLS, HTTP error, not JSON) is an AlertmanagerError naming
the URL and the cause: the caller fails closed, as a change must not start in a room nobody can see.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from typing import Any

SEVERITY = "critical"
ROOM_LABEL = "room"


class AlertmanagerError(OSError):
    """Alertmanager could not say which alerts fire; the message names its URL, the cause and the fix."""


def alerts_url(url: str, room: str) -> str:
    """The v2 query for the active, unsilenced, uninhibited critical alerts of `room` (filtered again here)."""
    query = [("active", "true"), ("silenced", "false"), ("inhibited", "false"),
             ("filter", f'severity="{SEVERITY}"'), ("filter", f'{ROOM_LABEL}="{room}"')]
    return f"{url.rstrip('/')}/api/v2/alerts?{urllib.parse.urlencode(query)}"


def _context(url: str, ca_file: str | None, cert: str | None, key: str | None) -> ssl.SSLContext | None:
    if not url.startswith("https:"):
        return None
    try:
        context = ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise AlertmanagerError(f"Alertmanager at {url}: ca_file: cannot load the CA bundle {ca_file} "
                                f"({getattr(exc, 'strerror', None) or exc}); give the CA that signed its "
                                "certificate") from None
    if cert:
        try:
            context.load_cert_chain(cert, key)
        except (OSError, ssl.SSLError) as exc:
            raise AlertmanagerError(f"Alertmanager at {url}: cert/key: cannot load the client certificate {cert} "
                                    f"with key {key} ({getattr(exc, 'strerror', None) or exc})") from None
    return context


def _fetch(url: str, query: str, context: ssl.SSLContext | None, timeout: float) -> Any:
    try:
        with urllib.request.urlopen(query, timeout=timeout, context=context) as answer:
            raw = answer.read()
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:200].decode("utf-8", "replace").strip() or exc.reason
        raise AlertmanagerError(f"Alertmanager at {url}: HTTP {exc.code} to the alerts query ({detail}); "
                                "nothing can be said about the room's alarms") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, TimeoutError):
            raise AlertmanagerError(f"Alertmanager at {url}: no answer within {timeout:g}s") from None
        if isinstance(reason, ssl.SSLError):
            raise AlertmanagerError(f"Alertmanager at {url}: TLS failed ({reason}); check ca_file (the CA that "
                                    "signed its certificate) and that the URL is https on its HTTPS port") from None
        raise AlertmanagerError(f"Alertmanager at {url}: unreachable ({reason}); is it running, and is the URL "
                                "right (alertmanager_port)?") from None
    except ssl.SSLError as exc:
        raise AlertmanagerError(f"Alertmanager at {url}: TLS failed ({exc})") from None
    except TimeoutError:
        raise AlertmanagerError(f"Alertmanager at {url}: no answer within {timeout:g}s") from None
    except OSError as exc:
        raise AlertmanagerError(f"Alertmanager at {url}: unreachable ({exc.strerror or exc})") from None
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        start = raw[:80].decode("utf-8", "replace")
        raise AlertmanagerError(f"Alertmanager at {url}: the alerts query answered something that is not JSON "
                                f"({start!r}...); is the URL Alertmanager's (not Prometheus' or a proxy's)?") from None


def room_alarms(url: str, room: str, ca_file: str | None, cert: str | None = None, key: str | None = None,
                timeout: float = 10) -> list[dict[str, str]]:
    """The critical alerts firing in `room`: [{alertname, room, summary, startsAt}], sorted by alertname, then
    startsAt. Raises AlertmanagerError (URL and cause) when Alertmanager cannot answer clearly."""
    if not url.startswith(("https://", "http://")):
        raise AlertmanagerError(f"Alertmanager at {url}: url: not an http(s) URL; give https://<host>:<port>")
    body = _fetch(url, alerts_url(url, room), _context(url, ca_file, cert, key), timeout)
    if not isinstance(body, list):
        raise AlertmanagerError(f"Alertmanager at {url}: the alerts query answered JSON that is not a list of "
                                f"alerts ({type(body).__name__}); is this Alertmanager's v2 API?")
    return select(body, room)


def select(alerts: Iterable[Any], room: str) -> list[dict[str, str]]:
    """Of Alertmanager v2 alerts (GettableAlert), the active critical ones of `room`, in room_alarms' shape."""
    out = []
    for alert in alerts:
        if not isinstance(alert, Mapping):
            continue
        labels = alert.get("labels") or {}
        state = (alert.get("status") or {}).get("state", "active")
        if labels.get("severity") != SEVERITY or labels.get(ROOM_LABEL) != room or state != "active":
            continue
        out.append({"alertname": str(labels.get("alertname", "?")), "room": room,
                    "summary": str((alert.get("annotations") or {}).get("summary", "")),
                    "startsAt": str(alert.get("startsAt", ""))})
    return sorted(out, key=lambda a: (a["alertname"], a["startsAt"], a["summary"]))


def alarm_refusal(alarms: Iterable[Mapping[str, str]], room: str) -> str:
    """The gate's one-line refusal for `alarms` (room_alarms' answer); "" when there is none."""
    alarms = list(alarms)
    if not alarms:
        return ""
    named = ", ".join(f"{a['alertname']} (since {a.get('startsAt') or '?'})" for a in alarms)
    return f"room {room} is in alarm: {named}; no change starts while a critical alert fires"
