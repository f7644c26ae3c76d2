"""Machine-room management (runbooks/policies/machine-room.md): the room envelope, UPS and power."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ansible_collections.jinbao.dc.plugins.module_utils.evidence.common import (
    Period,
    label_key,
    make_claim,
    make_section,
    prom_sections,
)
from ansible_collections.jinbao.dc.plugins.module_utils.seams.prometheus import Prometheus


def machine_room_area(prom: Prometheus | None, period: Period, prom_note: str,
                      envelope: Mapping[str, Sequence[float]]) -> list[dict[str, Any]]:
    window, at = f"[{period.seconds}s]", period.end

    def excursions(metric: str, unit: str, scale: float, low: float, high: float, what: str) -> Callable:
        def build(title: str, rules: list[str], source: str) -> dict[str, Any]:
            q_min, q_max = f"min_over_time({metric}{window})", f"max_over_time({metric}{window})"
            lows = {label_key(s["metric"], "room", "sensor", "target"): s["value"] for s in prom.query(q_min, at)}
            highs = {label_key(s["metric"], "room", "sensor", "target"): s["value"] for s in prom.query(q_max, at)}
            claims = []
            for key in sorted(set(lows) | set(highs)):
                room, sensor, target = key
                lo, hi = lows.get(key, math.nan), highs.get(key, math.nan)
                inside = low <= lo and hi <= high
                claims.append(make_claim(f"{room or '?'} / {sensor or target or '?'}: {what} within "
                                     f"{low * scale:g}-{high * scale:g} {unit}",
                                     f"min {lo * scale:.1f} {unit}, max {hi * scale:.1f} {unit}: "
                                     + ("within" if inside else "EXCURSION"),
                                     [prom.link(q_min, at), prom.link(q_max, at)], "ok" if inside else "attention"))
            return make_section(title, rules, source, claims,
                            f"No {what} reading recorded in Prometheus {period.words()}.", [prom.link(q_max, at)])
        return build

    t_low, t_high = envelope["temperature_celsius"]
    h_low, h_high = envelope["humidity_ratio"]
    return prom_sections(prom, [
        ("Room temperature excursions", ["MR-1"],
         excursions("jinbao_environment_temperature_celsius", "°C", 1.0, t_low, t_high, "temperature")),
        ("Room humidity excursions", ["MR-2"],
         excursions("jinbao_environment_humidity_ratio", "% RH", 100.0, h_low, h_high, "humidity")),
    ], period, prom_note)


