"""monitors/common: config errors that name the field, background collection that never waits for a hung
probe, family merging, target labels, TLS (and mutual TLS) serving, listen addresses, JSON logs, the CLI."""

from __future__ import annotations

import datetime
import gzip
import io
import ipaddress
import json
import logging
import ssl
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml
from prometheus_client import generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_latest
from prometheus_client.registry import CollectorRegistry

from monitors.common import BackgroundCollector, ConfigError, Target, exporter_schema, load_config
from monitors.common.cli import run
from monitors.common.exposition import ExpositionCache
from monitors.common.logs import setup_logging
from monitors.common.server import parse_listen_address, serve

SCHEMA = exporter_schema({"address": {"type": "string"}}, ["address"])


def write(tmp_path: Path, data, name: str = "exporter.yml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


def targets(n: int = 3) -> list[dict]:
    return [{"name": f"t{i}", "address": f"10.0.0.{i}"} for i in range(n)]


# --- config ---------------------------------------------------------------------------------------------
def test_config_error_names_file_field_path_and_fix(tmp_path):
    items = targets()
    items[2]["interval_seconds"] = -5
    path = write(tmp_path, {"targets": items})
    with pytest.raises(ConfigError) as err:
        load_config(path, SCHEMA)
    message = str(err.value)
    assert message.startswith(f"{path}: targets[2].interval_seconds: ")
    assert "use a number >= 1" in message


def test_config_error_names_the_missing_field_not_its_parent(tmp_path):
    items = targets()
    del items[1]["address"]
    with pytest.raises(ConfigError, match=r"targets\[1\]\.address: is missing; add `address:`"):
        load_config(write(tmp_path, {"targets": items}), SCHEMA)


def test_config_error_names_a_misspelt_field_and_the_known_ones(tmp_path):
    items = targets()
    items[0]["adress"] = "x"
    with pytest.raises(ConfigError, match=r"targets\[0\]\.adress: is not a known field.*known here: address"):
        load_config(write(tmp_path, {"targets": items}), SCHEMA)


def test_duplicate_target_names_are_refused(tmp_path):
    items = targets()
    items[2]["name"] = "t0"
    with pytest.raises(ConfigError, match=r"targets\[2\]\.name: 't0' is already used by targets\[0\]"):
        load_config(write(tmp_path, {"targets": items}), SCHEMA)


def test_reserved_label_names_are_refused(tmp_path):
    items = targets()
    items[0]["labels"] = {"instance": "x"}
    with pytest.raises(ConfigError, match=r"targets\[0\]\.labels: label name 'instance' is reserved"):
        load_config(write(tmp_path, {"targets": items}), SCHEMA)


def test_tls_key_without_cert_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"tls\.certfile: is missing"):
        load_config(write(tmp_path, {"targets": targets(), "tls": {"keyfile": "k.pem"}}), SCHEMA)


@pytest.mark.parametrize("text, expected", [
    ("targets: [a, b\n", r"line \d+, column \d+: not valid YAML"),
    ("", "the file is empty"),
    ("- just\n- a list\n", "is a list, not a mapping"),
    (b"\xff\xfe\x00", "cannot be read"),
])
def test_unusable_config_files_give_a_config_error(tmp_path, text, expected):
    path = tmp_path / "bad.yml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(ConfigError, match=expected):
        load_config(path, SCHEMA)


def test_missing_config_file_gives_a_config_error_naming_it(tmp_path):
    with pytest.raises(ConfigError, match=r"nope\.yml: \(file\): cannot be read"):
        load_config(tmp_path / "nope.yml", SCHEMA)


def test_defaults_are_filled_in(tmp_path):
    config = load_config(write(tmp_path, {"targets": targets(1)}), SCHEMA)
    assert config["collection"] == {"interval_seconds": 30, "timeout_seconds": 10, "workers": 8}
    assert config["targets"][0]["labels"] == {}


# --- collection -----------------------------------------------------------------------------------------
class FakeCollector(BackgroundCollector):
    exporter = "demo"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.release = threading.Event()
        self.calls: dict[str, int] = {}
        self.fail: set[str] = set()

    def probe(self, target: Target):
        self.calls[target.name] = self.calls.get(target.name, 0) + 1
        if target.name.startswith("hung"):
            self.release.wait(30)
        if target.name in self.fail:
            raise RuntimeError(f"{target.name} refused the connection")
        family = GaugeMetricFamily("jinbao_demo_temperature_celsius", "t", labels=["sensor"])
        family.add_metric([f"s-{target.name}"], 21.5)
        return [family]


def sample_values(collector, name: str) -> dict[str, float]:
    registry = CollectorRegistry()
    registry.register(collector)
    return {s.labels["target"]: s.value for m in registry.collect() for s in m.samples if s.name == name}


def make(names, timeout: float = 0.2, labels=None) -> FakeCollector:
    return FakeCollector([Target(n, 60, timeout, dict(labels or {})) for n in names], clock=lambda: 1000.0)


def test_up_drops_to_zero_only_for_the_hung_target_and_the_scrape_does_not_wait():
    collector = make(["a", "hung-b", "c"])
    try:
        collector.collect_now()
        assert not collector.release.is_set()  # the hung probe is still blocked while we scrape
        up = sample_values(collector, "jinbao_demo_up")
        assert up == {"a": 1.0, "hung-b": 0.0, "c": 1.0}
        temps = sample_values(collector, "jinbao_demo_temperature_celsius")
        assert set(temps) == {"a", "c"}
    finally:
        collector.release.set()


def test_a_hung_probe_is_not_started_again_until_it_returns():
    collector = make(["hung"])
    collector.collect_now()
    collector.collect_now()
    assert collector.calls["hung"] == 1
    collector.release.set()
    for thread in threading.enumerate():
        if thread.name == "demo-probe-hung":
            thread.join(5)
    assert collector.collect_target(collector.targets[0]) is True
    assert collector.calls["hung"] == 2
    assert sample_values(collector, "jinbao_demo_up") == {"hung": 1.0}


def test_a_failing_target_loses_its_families_instead_of_serving_them_stale():
    collector = make(["a", "b"])
    collector.collect_now()
    collector.fail.add("b")
    collector.collect_now()
    assert sample_values(collector, "jinbao_demo_up") == {"a": 1.0, "b": 0.0}
    assert set(sample_values(collector, "jinbao_demo_temperature_celsius")) == {"a"}
    assert sample_values(collector, "jinbao_demo_collector_success") == {"a": 1.0, "b": 0.0}


def test_same_name_families_of_all_targets_are_merged_into_one():
    collector = make(["a", "b", "c"])
    collector.collect_now()
    exposition = generate_latest(_registry(collector)).decode()
    assert exposition.count("# TYPE jinbao_demo_temperature_celsius gauge") == 1
    assert exposition.count("jinbao_demo_temperature_celsius{") == 3


def test_every_sample_carries_the_target_and_its_labels():
    collector = make(["a", "b"], labels={"room": "main", "rack": "A01"})
    collector.collect_now()
    for metric in _registry(collector).collect():
        for sample in metric.samples:
            assert sample.labels["target"] in {"a", "b"}
            assert sample.labels["room"] == "main" and sample.labels["rack"] == "A01"


def test_never_collected_target_reads_down_with_infinite_age():
    collector = make(["a"])
    assert sample_values(collector, "jinbao_demo_up") == {"a": 0.0}
    assert sample_values(collector, "jinbao_demo_collection_age_seconds") == {"a": float("inf")}
    collector.collect_now()
    assert sample_values(collector, "jinbao_demo_collection_age_seconds") == {"a": 0.0}


def test_registering_does_not_run_a_collection():
    collector = make(["a"])
    registry = CollectorRegistry()
    registry.register(collector)
    assert collector.calls == {}


def test_background_loops_collect_and_stop():
    collector = FakeCollector([Target("a", 3600, 5)])
    collector.start()
    try:
        for _ in range(100):
            if collector.calls.get("a"):
                break
            threading.Event().wait(0.05)
    finally:
        collector.stop()
    assert collector.calls["a"] == 1


def _registry(collector) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(collector)
    return registry


# --- the scheduler, the worker pool and the exposition cache ---------------------------------------------
OPENMETRICS = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"


def eventually(condition, seconds: float = 30.0) -> bool:
    """Poll `condition` until it holds (True) or `seconds` pass (False); the caller asserts on the outcome."""
    deadline = threading.Event()
    timer = threading.Timer(seconds, deadline.set)
    timer.start()
    try:
        while not deadline.is_set():
            if condition():
                return True
            deadline.wait(0.02)
        return condition()
    finally:
        timer.cancel()


def served(cache: ExpositionCache, accept: str | None = None) -> str:
    return cache.lookup(accept, None)[1].decode()


def test_a_scrape_is_answered_from_the_cache_while_a_probe_is_blocked():
    collector = make(["a", "hung-b", "c"])
    cache = ExpositionCache(lambda: collector, refresh_seconds=0.05)
    collector.start()
    cache.start()
    server, _ = serve(cache, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.server_port}/metrics"
    try:
        assert eventually(lambda: 'jinbao_demo_collector_success{collector="demo",target="hung-b"} 0.0'
                          in served(cache) and 'jinbao_demo_up{target="c"} 1.0' in served(cache))
        assert not collector.release.is_set() and collector.calls["hung-b"] == 1  # still blocked in its probe
        with urllib.request.urlopen(url, timeout=10) as response:
            text = response.read().decode()
        assert 'jinbao_demo_up{target="hung-b"} 0.0' in text
        assert 'jinbao_demo_up{target="a"} 1.0' in text and 'jinbao_demo_up{target="c"} 1.0' in text
        assert 'target="hung-b"' not in "".join(line for line in text.splitlines() if "temperature" in line)
    finally:
        collector.release.set()
        server.shutdown()
        cache.stop()
        collector.stop()


def test_the_cache_is_rebuilt_after_a_collection():
    collector = make(["a"])
    cache = ExpositionCache(lambda: collector, refresh_seconds=0.05)
    cache.start()
    try:
        assert 'jinbao_demo_up{target="a"} 0.0' in served(cache)
        collector.collect_now()
        assert eventually(lambda: 'jinbao_demo_up{target="a"} 1.0' in served(cache))
        assert 'jinbao_demo_temperature_celsius{sensor="s-a",target="a"} 21.5' in served(cache)
    finally:
        cache.stop()


def test_a_thousand_targets_with_a_pool_of_four_are_all_collected_four_at_a_time():
    names = [f"t{i}" for i in range(1000)]
    lock, running, peak = threading.Lock(), [0], [0]

    class Counting(FakeCollector):
        def probe(self, target):
            with lock:
                running[0] += 1
                peak[0] = max(peak[0], running[0])
            try:
                return super().probe(target)
            finally:
                with lock:
                    running[0] -= 1

    collector = Counting([Target(n, 3600, 5) for n in names], {"collection": {"workers": 4}}, clock=lambda: 1000.0)
    collector.first_collections_per_second = 10_000  # spread the first collections over 0.1 s, not 5 s
    collector.start()
    try:
        assert eventually(lambda: len(collector.calls) == 1000 and collector.pool_counts()["busy"] == 0)
    finally:
        collector.stop()
    assert set(collector.calls.values()) == {1}
    assert 1 <= peak[0] <= 4
    assert set(sample_values(collector, "jinbao_demo_up").values()) == {1.0}


def test_a_hung_worker_is_replaced_so_healthy_targets_keep_being_collected():
    collector = FakeCollector([Target("hung", 3600, 0.1), *(Target(f"ok{i}", 3600, 5) for i in range(5))],
                              {"collection": {"workers": 1}}, clock=lambda: 1000.0)
    collector.start()
    try:
        assert eventually(lambda: len(collector.calls) == 6)
        assert eventually(lambda: sample_values(collector, "jinbao_demo_up")
                          == {"hung": 0.0, **{f"ok{i}": 1.0 for i in range(5)}})
        assert collector.pool_counts()["hung"] == 1
        text = collector.render("text", generate_latest, openmetrics=False).decode()
        assert 'jinbao_demo_collection_workers{state="hung"} 1.0' in text
    finally:
        collector.release.set()
        collector.stop()
    assert collector.calls["hung"] == 1


def test_when_every_worker_is_stuck_the_log_and_the_self_metrics_say_so(caplog):
    hung = [Target(f"hung-{i}", 3600, 0.05) for i in range(6)]
    collector = FakeCollector([*hung, Target("ok", 3600, 5)], {"collection": {"workers": 1}}, clock=lambda: 1000.0)
    collector.start()  # one worker: up to 4 stuck ones are replaced, the 5th leaves none for hung-5 and "ok"
    try:
        assert eventually(lambda: "collection workers exhausted" in caplog.text)
        assert eventually(lambda: collector.pool_counts() == {"idle": 0, "busy": 0, "hung": 5, "queued": 2})
        text = collector.render("text", generate_latest, openmetrics=False).decode()
        assert 'jinbao_demo_collection_workers{state="hung"} 5.0' in text
        assert "jinbao_demo_collection_queued_targets 2.0" in text
        assert "ok" not in collector.calls
    finally:
        collector.release.set()
        collector.stop()


def test_the_cached_exposition_is_what_prometheus_client_renders():
    collector = make(["a", "b", "hung-c"], labels={"room": "main"})
    collector.fail.add("b")
    try:
        collector.collect_now()
        registry = _registry(collector)
        text = collector.render("text", generate_latest, openmetrics=False).decode()
        assert text.startswith(generate_latest(registry).decode())
        assert "jinbao_demo_collection_queued_targets 0.0" in text
        om = collector.render("om", openmetrics_latest, openmetrics=True).decode()
        assert om.startswith(openmetrics_latest(registry).decode().removesuffix("# EOF\n"))
        assert om.endswith("# EOF\n") and om.count("# EOF") == 1
    finally:
        collector.release.set()


def test_openmetrics_and_gzip_are_served_once_asked_for():
    collector = make(["a"])
    collector.collect_now()
    cache = ExpositionCache(lambda: collector)
    cache.rebuild()
    headers, _ = cache.lookup(OPENMETRICS, "gzip")
    assert dict(headers)["Content-Type"].startswith("text/plain; version=0.0.4")  # until the next rebuild
    assert dict(headers)["Content-Encoding"] == "gzip"
    cache.rebuild()
    headers, body = cache.lookup(OPENMETRICS, "gzip")
    assert dict(headers)["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")
    assert dict(headers)["Content-Encoding"] == "gzip"
    assert gzip.decompress(body).decode().endswith("# EOF\n")
    headers, body = cache.lookup(None, None)
    assert "Content-Encoding" not in dict(headers) and b'jinbao_demo_up{target="a"} 1.0' in body


# --- serving --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("value, expected", [("127.0.0.1:19101", ("127.0.0.1", 19101)),
                                             ("[::1]:9100", ("::1", 9100)), ("localhost:0", ("localhost", 0))])
def test_listen_addresses_are_parsed(value, expected):
    assert parse_listen_address(value) == expected


@pytest.mark.parametrize("value", ["19101", "127.0.0.1", "127.0.0.1:http", "127.0.0.1:70000", "::1:9100",
                                   ":9100", "bad host:1"])
def test_bad_listen_addresses_are_refused_with_the_fix(value):
    with pytest.raises(ValueError, match="give HOST:PORT"):
        parse_listen_address(value)


def _pki(tmp_path: Path) -> dict[str, Path]:
    """A lab CA, a server certificate for 127.0.0.1 and a client certificate, all made here."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def save(stem, key, cert):
        (tmp_path / f"{stem}.key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                                 serialization.PrivateFormat.PKCS8,
                                                                 serialization.NoEncryption()))
        (tmp_path / f"{stem}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("test CA")).issuer_name(name("test CA"))
          .public_key(ca_key.public_key()).serial_number(1).not_valid_before(now - datetime.timedelta(hours=1))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True).sign(ca_key, hashes.SHA256()))
    save("ca", ca_key, ca)
    for stem, cn, extension in (
            ("server", "server", x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])),
            ("client", "client", None),
            # the Prometheus service certificate: its name as CN and as the first DNS SAN
            ("scraper", "prometheus.svc.city.example",
             x509.SubjectAlternativeName([x509.DNSName("prometheus.svc.city.example")])),
            # an operator's client certificate from the same CA, its SAN spoofing nothing
            ("operator", "alice.operators.city.example",
             x509.SubjectAlternativeName([x509.DNSName("alice.operators.city.example")]))):
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(ca.subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(hours=1))
                   .not_valid_after(now + datetime.timedelta(days=1)))
        if extension is not None:
            builder = builder.add_extension(extension, critical=False)
        save(stem, key, builder.sign(ca_key, hashes.SHA256()))
    return {k: tmp_path / f"{k}" for k in ("ca.crt", "server.crt", "server.key", "client.crt", "client.key",
                                           "scraper.crt", "scraper.key", "operator.crt", "operator.key")}


def _fetch(port: int, context: ssl.SSLContext) -> str:
    with urllib.request.urlopen(f"https://127.0.0.1:{port}/metrics", context=context, timeout=10) as response:
        return response.read().decode()


def test_metrics_are_served_over_tls_with_a_lab_made_certificate(tmp_path):
    pki = _pki(tmp_path)
    collector = make(["a"])
    collector.collect_now()
    server, _ = serve(_registry(collector), "127.0.0.1", 0,
                      {"certfile": str(pki["server.crt"]), "keyfile": str(pki["server.key"])})
    try:
        context = ssl.create_default_context(cafile=str(pki["ca.crt"]))
        assert 'jinbao_demo_up{target="a"} 1.0' in _fetch(server.server_port, context)
    finally:
        server.shutdown()


def test_mutual_tls_refuses_a_client_without_a_certificate(tmp_path):
    pki = _pki(tmp_path)
    collector = make(["a"])
    server, _ = serve(_registry(collector), "127.0.0.1", 0,
                      {"certfile": str(pki["server.crt"]), "keyfile": str(pki["server.key"]),
                       "client_cafile": str(pki["ca.crt"]), "client_auth_required": True})
    try:
        anonymous = ssl.create_default_context(cafile=str(pki["ca.crt"]))
        with pytest.raises((ssl.SSLError, urllib.error.URLError, ConnectionError)):
            _fetch(server.server_port, anonymous)
        known = ssl.create_default_context(cafile=str(pki["ca.crt"]))
        known.load_cert_chain(str(pki["client.crt"]), str(pki["client.key"]))
        assert "jinbao_demo_up" in _fetch(server.server_port, known)
    finally:
        server.shutdown()


def _as(pki: dict[str, Path], stem: str) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki["ca.crt"]))
    context.load_cert_chain(str(pki[f"{stem}.crt"]), str(pki[f"{stem}.key"]))
    return context


def test_only_the_named_scraper_may_read_an_exporter_and_an_operators_certificate_of_the_same_ca_is_refused(
        tmp_path, caplog):
    pki = _pki(tmp_path)
    collector = make(["a"])
    collector.collect_now()
    server, _ = serve(_registry(collector), "127.0.0.1", 0,
                      {"certfile": str(pki["server.crt"]), "keyfile": str(pki["server.key"]),
                       "client_cafile": str(pki["ca.crt"]), "client_auth_required": True,
                       "allowed_client_names": ["prometheus.svc.city.example"]})
    try:
        assert 'jinbao_demo_up{target="a"} 1.0' in _fetch(server.server_port, _as(pki, "scraper"))
        for stem in ("operator", "client"):  # genuine certificates of the same CA, but not the scraper
            with pytest.raises(urllib.error.HTTPError) as refused:
                _fetch(server.server_port, _as(pki, stem))
            assert refused.value.code == 403 and b"jinbao_demo_up" not in refused.value.read()
        assert "alice.operators.city.example is not in tls.allowed_client_names" in caplog.text
    finally:
        server.shutdown()


def test_allowed_client_names_without_mutual_tls_is_a_config_error(tmp_path):
    pki = _pki(tmp_path)
    config = tmp_path / "exporter.yml"
    config.write_text(yaml.safe_dump({"tls": {"certfile": str(pki["server.crt"]), "keyfile": str(pki["server.key"]),
                                              "allowed_client_names": ["prometheus.svc.city.example"]}}))
    with pytest.raises(ConfigError, match=r"allowed_client_names"):
        load_config(config, exporter_schema({}, []))


def test_unreadable_tls_file_is_a_config_error_naming_the_field(tmp_path):
    with pytest.raises(ConfigError, match=r"tls\.certfile: cannot read .*missing\.crt"):
        serve(CollectorRegistry(), "127.0.0.1", 0, {"certfile": str(tmp_path / "missing.crt"),
                                                    "keyfile": str(tmp_path / "missing.key")})


def test_a_mismatched_tls_key_is_a_config_error(tmp_path):
    pki = _pki(tmp_path)
    with pytest.raises(ConfigError, match=r"tls: the certificate, key or client CA cannot be used"):
        serve(CollectorRegistry(), "127.0.0.1", 0, {"certfile": str(pki["server.crt"]),
                                                    "keyfile": str(pki["client.key"])})


# --- logs and CLI ---------------------------------------------------------------------------------------
def test_json_logs_carry_time_level_exporter_target_and_msg():
    stream = io.StringIO()
    setup_logging("demo", "info", "json", stream)
    logging.getLogger("monitors.demo").warning("collection failed: boom", extra={"target": "ups-main-01"})
    record = json.loads(stream.getvalue().splitlines()[-1])
    assert record["level"] == "WARNING" and record["exporter"] == "demo" and record["target"] == "ups-main-01"
    assert record["msg"] == "collection failed: boom"
    assert record["time"].endswith("Z")


def test_check_config_reports_the_bad_field_and_exits_2(tmp_path, capsys):
    items = targets()
    items[2]["timeout_seconds"] = "soon"
    code = run("demo", FakeCollector, SCHEMA, ["--config.file", str(write(tmp_path, {"targets": items})),
                                               "--check-config", "--log.format", "text"])
    assert code == 2
    assert "targets[2].timeout_seconds" in capsys.readouterr().err


def test_once_prints_the_exposition_and_exits_0(tmp_path, capsys):
    path = write(tmp_path, {"targets": targets(2)})
    assert run("demo", FakeCollector, SCHEMA, ["--config.file", str(path), "--once"]) == 0
    out = capsys.readouterr().out
    assert 'jinbao_demo_up{target="t0"} 1.0' in out and 'jinbao_demo_temperature_celsius{sensor="s-t1"' in out


def test_a_bad_listen_address_exits_2_with_the_fix(tmp_path, capsys):
    path = write(tmp_path, {"targets": targets(1)})
    assert run("demo", FakeCollector, SCHEMA, ["--config.file", str(path), "--web.listen-address", "nowhere"]) == 2
    assert "give HOST:PORT" in capsys.readouterr().err


def test_a_reload_keeps_the_results_of_unchanged_targets_only():
    old = make(["a", "b"])
    old.collect_now()
    new = FakeCollector([Target("a", 60, 0.2), Target("b", 120, 0.2)], clock=lambda: 1000.0)
    new.adopt(old)
    assert sample_values(new, "jinbao_demo_up") == {"a": 1.0, "b": 0.0}
    assert new.calls == {}
