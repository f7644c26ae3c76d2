"""The Prometheus HTTP API seam: instant queries and links to the graph page (the evidence pack's reader)."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any


class PrometheusError(OSError):
    """Prometheus did not answer, or answered with an error; the message says which."""


def rfc3339(moment: datetime) -> str:
    """2026-12-01T00:00:00Z: the form the API takes and the evidence shows."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Prometheus:
    """Instant queries against the Prometheus HTTP API, each evaluated at a given time (the period's end)."""

    def __init__(self, url: str, ca_file: str | None = None, timeout: float = 10.0,
                 opener: Callable[..., Any] | None = None) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._context = ssl.create_default_context(cafile=ca_file) if url.startswith("https") else None
        self._open = opener or urllib.request.urlopen
        self.down: str = ""  # set at the first failure to connect: later queries are not tried

    def api_url(self, expr: str, at: datetime) -> str:
        return f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": expr, "time": rfc3339(at)})

    def graph_url(self, expr: str, at: datetime) -> str:
        return f"{self.url}/graph?" + urllib.parse.urlencode(
            {"g0.expr": expr, "g0.tab": "1", "g0.moment_input": at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")})

    def link(self, expr: str, at: datetime) -> dict[str, str]:
        """The evidence of a query: the exact PromQL, its evaluation time, the API URL and the graph URL."""
        return {"kind": "query", "text": f"{expr} @ {rfc3339(at)}", "href": self.graph_url(expr, at),
                "note": self.api_url(expr, at)}

    def query(self, expr: str, at: datetime) -> list[dict[str, Any]]:
        """The vector `expr` gives at `at`: [{metric: {labels}, value: float}]. Raises PrometheusError."""
        if self.down:
            raise PrometheusError(self.down)
        try:
            with self._open(self.api_url(expr, at), timeout=self.timeout, context=self._context) as answer:
                body = json.loads(answer.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            try:
                detail = json.loads(exc.read().decode("utf-8")).get("error") or exc.reason
            except (ValueError, OSError):
                detail = exc.reason
            raise PrometheusError(f"Prometheus at {self.url} refused the query {expr!r}: HTTP {exc.code} "
                                  f"{detail}") from exc
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            self.down = f"Prometheus at {self.url} did not answer: {reason}"
            raise PrometheusError(self.down) from exc
        if body.get("status") != "success":
            raise PrometheusError(f"Prometheus at {self.url} answered the query {expr!r} with an error: "
                                  f"{body.get('error') or body}")
        result = (body.get("data") or {}).get("result") or []
        out = []
        for sample in result:
            try:
                value = float(sample["value"][1])
            except (KeyError, IndexError, TypeError, ValueError):
                continue
            out.append({"metric": dict(sample.get("metric") or {}), "value": value})
        return out


