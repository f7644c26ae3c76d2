"""Serving /metrics over HTTP or HTTPS (optionally mutual TLS) with prometheus_client's WSGI server.

serve() takes either an ExpositionCache (the exporters: a scrape is a lookup of pre-rendered bytes) or a
CollectorRegistry (rendered on every scrape by prometheus_client's own app: the bench's naive baseline).
Every path but /favicon.ico serves the metrics, as prometheus_client's server does.
"""

from __future__ import annotations

import ipaddress
import ssl
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from prometheus_client.exposition import (
    ThreadingWSGIServer,
    _get_best_family,
    _get_ssl_ctx,
    _SilentHandler,
    make_server,
    make_wsgi_app,
)
from prometheus_client.registry import CollectorRegistry

from monitors.common.config import ConfigError
from monitors.common.exposition import ExpositionCache


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


def cached_app(cache: ExpositionCache) -> Callable:
    """A WSGI app answering every GET from `cache` (Accept and Accept-Encoding honoured as prometheus_client
    does); OPTIONS lists the allowed methods, anything else is 405."""

    def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        if method == "OPTIONS":
            status, headers, body = "200 OK", [("Allow", "OPTIONS,GET")], b""
        elif method != "GET":
            status, headers, body = "405 Method Not Allowed", [("Allow", "OPTIONS,GET")], b"Method Not Allowed"
        elif environ.get("PATH_INFO") == "/favicon.ico":
            status, headers, body = "200 OK", [], b""
        else:
            headers, body = cache.lookup(environ.get("HTTP_ACCEPT"), environ.get("HTTP_ACCEPT_ENCODING"))
            status = "200 OK"
        start_response(status, [*headers, ("Content-Length", str(len(body)))])
        return [body]

    return app


def serve(registry: CollectorRegistry | ExpositionCache, host: str, port: int, tls: dict | None = None,
          source: str = "<config>") -> tuple[object, threading.Thread]:
    """Start serving `registry` (a cache, or a registry rendered per scrape) on host:port, HTTPS when `tls` has
    certfile/keyfile (client_cafile/client_auth_required: mutual TLS); return (server, thread).

    Call server.shutdown() to stop. TLS problems raise ConfigError naming the file and field.
    """
    context = None
    if tls:
        for key in ("certfile", "keyfile", "client_cafile"):
            _check_readable(tls, key, source)
        try:
            context = _get_ssl_ctx(tls["certfile"], tls["keyfile"], ssl.PROTOCOL_TLS_SERVER, tls.get("client_cafile"),
                                   None, bool(tls.get("client_auth_required", False)), ssl.TLSVersion.TLSv1_2)
        except ssl.SSLError as exc:
            reason = getattr(exc, "reason", None) or exc
            raise ConfigError(f"{source}: tls: the certificate, key or client CA cannot be used ({reason}); "
                              "check that certfile and keyfile are a matching PEM pair and client_cafile is a PEM "
                              "CA") from None
        except OSError as exc:
            raise ConfigError(f"{source}: tls: {exc}; check the paths and that the files are PEM") from None
    app = cached_app(registry) if isinstance(registry, ExpositionCache) else make_wsgi_app(registry)

    class Server(ThreadingWSGIServer):
        """ThreadingWSGIServer with the address family of `host`."""

    try:
        Server.address_family, addr = _get_best_family(host, port)
        httpd = make_server(addr, port, app, Server, handler_class=_SilentHandler)
    except OSError as exc:
        raise ConfigError(f"--web.listen-address {host}:{port}: cannot listen ({exc.strerror or exc}); "
                          "choose a free port or an address of this machine") from None
    if context is not None:
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True, name="metrics-server")
    thread.start()
    return httpd, thread
