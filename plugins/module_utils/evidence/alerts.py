"""The alerts that fired in the period, sorted into the six rule areas."""

from __future__ import annotations

import os
from typing import Any

from ansible_collections.jinbao.dc.plugins.module_utils.evidence.common import (
    ALERT_AREAS,
    ALERT_RULES,
    HIDDEN_LABELS,
    Period,
    Where,
    file_link,
    make_claim,
    make_section,
    plain_text,
    stamp,
    unavailable_section,
)
from ansible_collections.jinbao.dc.plugins.module_utils.seams.prometheus import Prometheus, PrometheusError


def alert_sections(prom: Prometheus | None, period: Period, prom_note: str, where: Where,
                   runbooks_dir: str) -> dict[str, dict[str, Any]]:
    """Per area, the section of alerts that fired in the period (ALERTS{alertstate="firing"})."""
    window, at = f"[{period.seconds}s]", period.end
    fired: dict[str, list[dict[str, Any]]] = {area: [] for area in ALERT_RULES}
    title = "Alerts fired"
    source = f"Prometheus at {prom.url}, ALERTS series, evaluated at {stamp(at)}" if prom else "Prometheus"
    if prom is None:
        return {area: unavailable_section(title, rules, source, prom_note) for area, rules in ALERT_RULES.items()}
    query = f'max_over_time(ALERTS{{alertstate="firing"}}{window})'
    try:
        samples = prom.query(query, at)
    except PrometheusError as exc:
        return {area: unavailable_section(title, rules, source, str(exc)) for area, rules in ALERT_RULES.items()}
    for sample in sorted(samples, key=lambda s: sorted(s["metric"].items())):
        labels = sample["metric"]
        name = labels.get("alertname", "?")
        area = ALERT_AREAS.get(name, "system")
        shown = ", ".join(f"{k}={plain_text(v)}" for k, v in sorted(labels.items())
                          if k not in HIDDEN_LABELS and k not in ("alertname", "severity"))
        exact = f'max_over_time(ALERTS{{alertstate="firing",alertname="{name}"}}{window})'
        links = [prom.link(exact, at)]
        page = os.path.join(runbooks_dir, "alerts", f"{name}.md")
        if os.path.exists(page):
            links.append(file_link(page, where, text=f"runbook {name}"))
        status = "info" if name == "Watchdog" else "attention"
        value = ("the alert path was alive (the Watchdog fires always)" if name == "Watchdog"
                 else f"fired for {shown or '(no labels)'}")
        fired[area].append(make_claim(f"{name} ({labels.get('severity', '?')})", value, links, status))
    return {area: make_section(title, ALERT_RULES[area], source, claims,
                           f"No alert of this area fired {period.words()} (query: {query}).",
                           [prom.link(query, at)])
            for area, claims in fired.items()}


