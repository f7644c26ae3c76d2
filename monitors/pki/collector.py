"""PkiCollector: when certificates expire and whether they are revoked.

Two kinds of target:
- `files`: a glob of PEM files (service certs, operator certs, CA certs). The first certificate of each file
  is exposed with the target's `kind`; with `include_chain` the chain after it is exposed as kind `ca`. A file
  that is not a certificate makes the target down (up 0), naming the file.
- `crl`: a CRL from a URL (e.g. Vault's unauthenticated /v1/pki-city/crl/pem, verified with `ca_file`) or a
  file. Every serial on it is exposed with revoked 1; the collector remembers the list, so a `files`
  certificate whose issuer published that CRL reads revoked 1 too (from its next collection on).
"""

from __future__ import annotations

import glob
import threading
import time
from collections.abc import Callable
from pathlib import Path

from prometheus_client.core import GaugeMetricFamily, Metric

from monitors.common.collection import BackgroundCollector, Target
from monitors.pki import certs

LABELS = ["cn", "serial", "kind", "issuer"]


class PkiCollector(BackgroundCollector):
    """Certificate not-before/not-after and revocation, from PEM files and CRLs."""

    exporter = "pki"

    def __init__(self, targets: list[Target], config: dict | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(targets, config, clock=clock)
        self._known_lock = threading.Lock()
        self._revoked: dict[str, tuple[bytes, frozenset[int]]] = {}  # crl target -> (issuer name, serials)
        self._seen: dict[tuple[bytes, str], tuple[str, str]] = {}  # (issuer name, serial) -> (cn, kind)

    def probe(self, target: Target) -> list[Metric]:
        if target.spec["type"] == "crl":
            return self._probe_crl(target)
        return self._probe_files(target)

    # --- files ----------------------------------------------------------------------------------------------
    def _probe_files(self, target: Target) -> list[Metric]:
        spec = target.spec
        paths = sorted(Path(p) for p in glob.glob(spec["path"], recursive=True) if Path(p).is_file())
        if not paths:
            raise FileNotFoundError(f"path {spec['path']!r} matches no file (working dir {Path.cwd()}); "
                                    "check the glob, or that the certificates have been issued")
        found: dict[tuple[bytes, str], tuple[certs.CertInfo, str]] = {}
        for path in paths:
            chain = certs.read_pem_certs(path)
            for position, cert in enumerate(chain if spec.get("include_chain") else chain[:1]):
                info = certs.describe(cert)
                found.setdefault((info.issuer_der, info.serial), (info, spec["kind"] if position == 0 else "ca"))
        with self._known_lock:
            revoked = {(issuer, certs.serial_hex(s)) for issuer, serials in self._revoked.values() for s in serials}
            for key, (info, kind) in found.items():
                self._seen[key] = (info.cn, kind)
        fams = _families()
        for key, (info, kind) in sorted(found.items(), key=lambda kv: (kv[1][0].cn, kv[1][0].serial)):
            labels = [info.cn, info.serial, kind, info.issuer]
            fams["not_after"].add_metric(labels, info.not_after)
            fams["not_before"].add_metric(labels, info.not_before)
            fams["revoked"].add_metric(labels, 1.0 if key in revoked else 0.0)
        return list(fams.values())

    # --- crl ------------------------------------------------------------------------------------------------
    def _probe_crl(self, target: Target) -> list[Metric]:
        spec = target.spec
        if spec.get("url"):
            source = spec["url"]
            data = certs.fetch(source, spec.get("ca_file"), timeout=max(0.5, target.timeout * 0.8))
        else:
            source = spec["file"]
            try:
                data = Path(source).read_bytes()
            except OSError as exc:
                raise FileNotFoundError(f"file {source}: cannot be read ({exc.strerror}); check the path") from None
        crl = certs.parse_crl(data, source)
        issuer_der = crl.issuer.public_bytes()
        issuer = certs.common_name(crl.issuer)
        serials = frozenset(entry.serial_number for entry in crl)
        with self._known_lock:
            self._revoked[target.name] = (issuer_der, serials)
            seen = dict(self._seen)
        fams = _families()
        for serial in sorted(serials):
            hexed = certs.serial_hex(serial)
            cn, kind = seen.get((issuer_der, hexed), ("unknown", "unknown"))
            fams["revoked"].add_metric([cn, hexed, kind, issuer], 1.0)
        next_update = GaugeMetricFamily("jinbao_pki_crl_next_update_timestamp_seconds",
                                        "When the CRL's issuer promises the next CRL (Unix time; 0 = not stated).",
                                        labels=["issuer"])
        next_update.add_metric([issuer], crl.next_update_utc.timestamp() if crl.next_update_utc else 0.0)
        return [fams["revoked"], next_update]


def _families() -> dict[str, GaugeMetricFamily]:
    return {
        "not_after": GaugeMetricFamily("jinbao_pki_cert_not_after_timestamp_seconds",
                                       "When the certificate expires (Unix time).", labels=LABELS),
        "not_before": GaugeMetricFamily("jinbao_pki_cert_not_before_timestamp_seconds",
                                        "When the certificate becomes valid (Unix time).", labels=LABELS),
        "revoked": GaugeMetricFamily("jinbao_pki_cert_revoked",
                                     "1 when the certificate's serial is on its issuer's CRL, else 0.", labels=LABELS),
    }
