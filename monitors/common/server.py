"""Serving /metrics over HTTP or HTTPS (optionally mutual TLS) with prometheus_client's WSGI server.

With mutual TLS the CA proves a client certificate genuine, but the city CA issues certificates to every operator
and service: `tls.allowed_client_names` then names the identities that may scrape (the Prometheus service
certificate's CN or DNS SAN), and any other certificate of the same CA gets 403 and a log line naming it.

serve() takes either an ExpositionCache (the exporters: a scrape is a lookup of pre-rendered bytes) or a
CollectorRegistry (rendered on every scrape by prometheus_client's own app: the bench's naive baseline).
Every path but /favicon.ico serves the metrics, as prometheus_client's server does.
"""

from __future__ import annotations

import ipaddress
import logging
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

LOG = logging.getLogger("monitors.server")
CLIENT_NAMES = "jinbao.client_names"  # WSGI environ key: the verified client certificate's CN and DNS SANs


def client_names(cert: dict | None) -> tuple[str, ...]:
    """The names a verified peer certificate (ssl's getpeercert() dict) proves: its CNs, then its DNS SANs."""
    if not cert:
        return ()
    cns = [value for rdn in cert.get("subject", ()) for key, value in rdn if key == "commonName"]
    sans = [value for kind, value in cert.get("subjectAltName", ()) if kind == "DNS"]
    return tuple(dict.fromkeys([*cns, *sans]))


class _PeerHandler(_SilentHandler):
    """prometheus_client's quiet handler, which also hands the app the client certificate's names."""

    def get_environ(self) -> dict:
        environ = super().get_environ()
        getpeercert = getattr(self.connection, "getpeercert", None)
        environ[CLIENT_NAMES] = client_names(getpeercert() if getpeercert else None)
        return environ


def only_clients(app: Callable, allowed: Iterable[str]) -> Callable:
    """`app`, answering 403 to any client whose certificate names none of `allowed`."""
    allowed = frozenset(allowed)

    def guarded(environ: dict, start_response: Callable) -> Iterable[bytes]:
        names = environ.get(CLIENT_NAMES, ())
        if allowed.isdisjoint(names):
            LOG.warning("refused a scrape from %s: client certificate %s is not in tls.allowed_client_names",
                        environ.get("REMOTE_ADDR", "?"), ", ".join(names) or "(none)")
            body = b"Forbidden: this client certificate may not scrape this exporter\n"
            start_response("403 Forbidden", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
            return [body]
        return app(environ, start_response)

    return guarded


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
    certfile/keyfile (client_cafile/client_auth_required: mutual TLS; allowed_client_names: only those client
    identities); return (server, thread).

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
    if tls and tls.get("allowed_client_names"):
        app = only_clients(app, tls["allowed_client_names"])

    class Server(ThreadingWSGIServer):
        """ThreadingWSGIServer with the address family of `host`."""

    try:
        Server.address_family, addr = _get_best_family(host, port)
        httpd = make_server(addr, port, app, Server, handler_class=_PeerHandler)
    except OSError as exc:
        raise ConfigError(f"--web.listen-address {host}:{port}: cannot listen ({exc.strerror or exc}); "
                          "choose a free port or an address of this machine") from None
    if context is not None:
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True, name="metrics-server")
    thread.start()
    return httpd, thread
