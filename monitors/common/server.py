"""Serving /metrics over HTTP or HTTPS (optionally mutual TLS) with prometheus_client's own server."""

from __future__ import annotations

import ipaddress
import ssl
import threading
from pathlib import Path

from prometheus_client import start_http_server
from prometheus_client.registry import CollectorRegistry

from monitors.common.config import ConfigError


def parse_listen_address(value: str) -> tuple[str, int]:
    """("127.0.0.1", 19101) from "127.0.0.1:19101" ("[::1]:19101" for IPv6); ValueError naming the fix."""
    fix = "give HOST:PORT, e.g. 127.0.0.1:19101 or [::1]:19101"
    host, sep, port_text = (value or "").rpartition(":")
    if not sep or not host:
        raise ValueError(f"--web.listen-address {value!r}: no HOST:PORT; {fix}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"--web.listen-address {value!r}: an IPv6 address needs brackets; {fix}")
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"--web.listen-address {value!r}: port {port_text!r} is not a number; {fix}") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"--web.listen-address {value!r}: port {port} is outside 0-65535; {fix}")
    if not host.replace("-", "").replace(".", "").isalnum():
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise ValueError(f"--web.listen-address {value!r}: {host!r} is neither an IP address nor a "
                             f"host name; {fix}") from None
    return host, port


def _check_readable(tls: dict, key: str, source: str) -> None:
    path = tls.get(key)
    if path is None:
        return
    try:
        with Path(path).open("rb"):
            pass
    except OSError as exc:
        raise ConfigError(f"{source}: tls.{key}: cannot read {path} ({exc.strerror}); "
                          "fix the path or the file's permissions") from None


def serve(registry: CollectorRegistry, host: str, port: int, tls: dict | None = None,
          source: str = "<config>") -> tuple[object, threading.Thread]:
    """Start serving `registry` on host:port (HTTPS when `tls` has certfile/keyfile); return (server, thread).

    Call server.shutdown() to stop. TLS problems raise ConfigError naming the file and field.
    """
    kwargs: dict = {}
    if tls:
        for key in ("certfile", "keyfile", "client_cafile"):
            _check_readable(tls, key, source)
        kwargs = {"certfile": tls["certfile"], "keyfile": tls["keyfile"],
                  "client_cafile": tls.get("client_cafile"),
                  "client_auth_required": bool(tls.get("client_auth_required", False)),
                  "tls_min_version": ssl.TLSVersion.TLSv1_2}
    try:
        return start_http_server(port, addr=host, registry=registry, **kwargs)
    except ssl.SSLError as exc:
        reason = getattr(exc, "reason", None) or exc
        raise ConfigError(f"{source}: tls: the certificate, key or client CA cannot be used ({reason}); "
                          "check that certfile and keyfile are a matching PEM pair and client_cafile is a PEM CA"
                          ) from None
    except OSError as exc:
        raise ConfigError(f"--web.listen-address {host}:{port}: cannot listen ({exc.strerror or exc}); "
                          "choose a free port or an address of this machine") from None
