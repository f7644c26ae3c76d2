"""Stage 3 against the lab vCenter: playbooks/discover.yml builds the asset register from what is really there."""

from __future__ import annotations

import csv
import datetime
import json
import socket
from collections import Counter
from pathlib import Path

import pytest
from vcsim_fixtures import LAB_STATE, run_playbook

from ansible_collections.jinbao.dc.plugins.module_utils.seams import vsphere

VCENTER = "vc-central"


def _discover(reports: Path, *args: str):
    return run_playbook("discover.yml", "-e", f"discover_reports_dir={reports}", *args)


@pytest.fixture(scope="module")
def register_run(lab_vcenter, tmp_path_factory):
    """One discovery run into a fresh reports directory, shared by the read-only assertions."""
    reports = tmp_path_factory.mktemp("reports")
    run = _discover(reports, "-vvv")  # verbose, so that the password check below sees everything
    assert run.returncode == 0, run.output[-4000:]
    return reports, run, json.loads((reports / "assets.json").read_text())


def _expected_by_room_zone(plan: dict) -> dict[str, dict[str, int]]:
    out: dict[str, Counter] = {}
    for vm in plan["vms"]:
        out.setdefault(vm["room"], Counter())[vm["fields"].get("zone") or "(none)"] += 1
    return {room: dict(c) for room, c in out.items()}


def test_register_counts_vms_per_room_and_zone_as_the_topology_has_them(register_run, lab_vcenter):
    _, _, register = register_run
    plan = lab_vcenter
    counts = register["counts"]
    assert counts["vms"] == len(plan["vms"])
    assert counts["vms_by_room_zone"] == _expected_by_room_zone(plan)
    assert counts["hosts"] == len(plan["standalone_hosts"]) + sum(len(c["hosts"]) for c in plan["clusters"])
    assert counts["clusters"] == len(plan["clusters"])
    assert counts["standalone_hosts"] == len(plan["standalone_hosts"])
    assert counts["datastores"] == len(plan["datastores"])
    assert counts["datacenters"] == 1
    off = sum(1 for vm in plan["vms"] if not vm["power_on"])
    assert counts["power_states"] == {"poweredOff": off, "poweredOn": len(plan["vms"]) - off}


def test_every_host_gets_the_room_of_its_folder_or_datacenter(register_run, lab_vcenter):
    _, _, register = register_run
    rooms = {h["name"]: h["room"] for h in register["hosts"]}
    for cluster in lab_vcenter["clusters"]:
        for host in cluster["hosts"]:
            assert rooms[host["name"]] == "main"
    for host in lab_vcenter["standalone_hosts"]:
        assert rooms[host["name"]] == host["folder"]
    shared = {d["name"]: d for d in register["datastores"]}
    assert shared["central-prod-ds01"]["shared"] is True
    assert shared["central-prod-ds01"]["hosts"] == ["esx-prod-01", "esx-prod-02", "esx-prod-03", "esx-prod-04"]
    assert shared["esx-north-01-local"]["room"] == "branch-north"


def test_a_branch_vm_carries_every_register_field(register_run, lab_vcenter):
    _, _, register = register_run
    wanted = next(vm for vm in lab_vcenter["vms"] if vm["name"] == "north-pension-db01")
    vm = next(vm for vm in register["vms"] if vm["name"] == wanted["name"])
    assert vm["cpu"] == wanted["cpu"]
    assert vm["memory_mb"] == wanted["memory_mb"]
    assert vm["disk_bytes"] == wanted["disk_gb"] * 2**30
    assert vm["host"] == wanted["host"]
    assert vm["cluster"] == wanted["host"]  # a standalone host is its own compute resource
    assert vm["datacenter"] == lab_vcenter["datacenter"]
    assert vm["datastores"] == [wanted["datastore"]]
    assert vm["power_state"] == ("poweredOn" if wanted["power_on"] else "poweredOff")
    assert (vm["zone"], vm["system"], vm["owner"]) == ("production", "pension", "pension-dept")
    assert vm["room"] == "branch-north"
    assert vm["folder"] == "production/pension"
    assert len(vm["uuid"]) == 36


def test_exchange_vms_already_sit_in_the_central_exchange_cluster(register_run):
    _, _, register = register_run
    exchange = [vm for vm in register["vms"] if vm["zone"] == "exchange" and vm["room"] == "main"]
    assert exchange and {vm["cluster"] for vm in exchange} == {"exchange"}


def test_csv_has_one_line_per_vm_with_the_register_columns(register_run):
    reports, _, register = register_run
    with open(reports / "assets.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(register["vms"])
    assert list(rows[0]) == ["name", "uuid", "cpu", "memory_mb", "disk_bytes", "host", "cluster", "datacenter",
                             "datastores", "power_state", "zone", "system", "owner", "room", "folder"]
    first = register["vms"][0]
    assert rows[0]["name"] == first["name"] and rows[0]["datastores"] == ";".join(first["datastores"])


def test_differences_name_each_lab_anomaly_in_the_register_and_the_play_output(register_run, lab_vcenter):
    _, run, register = register_run
    kinds = {(d["kind"], d["subject"]) for d in register["differences"]}
    assert not any(kind.startswith("host_") for kind, _ in kinds), register["differences"]
    assert register["counts"]["differences"] == len(register["differences"])
    if not any(vm["name"] == "east-scan01" for vm in lab_vcenter["vms"]):
        pytest.skip("the lab runs without anomalies (LAB_VCSIM_ANOMALIES=0)")
    assert kinds == {
        ("vm_zone_missing", "east-scan01"),
        ("vm_system_missing", "east-scan01"),
        ("vm_system_unknown", "south-legacy-payroll01"),
        ("vm_zone_mismatch", "north-report01"),
        ("vm_outside_main_room", "north-public-service-gw01"),
    }
    assert "north-public-service-gw01: room: exchange VMs must sit in the main machine room" in run.output


def test_play_ends_with_a_summary_table_and_the_register_path(register_run):
    reports, run, _ = register_run
    tail = run.output[run.output.rindex("Summarise the asset register"):]
    assert "ROOM" in tail and "production" in tail and "TOTAL" in tail
    assert f"register: {reports.resolve()}/assets.json" in tail


# The second run changing nothing (and leaving the register files untouched) is proven end to end by
# tests/e2e/test_site.py, which runs site.yml (preflight + discovery) twice.


def test_check_diff_shows_the_change_and_writes_nothing(lab_vcenter, tmp_path):
    stale = tmp_path / "stale"
    stale.mkdir()
    (stale / "assets.json").write_text('{"schema": "old"}\n')
    run = _discover(stale, "--check", "--diff")
    assert run.returncode == 0, run.output[-4000:]
    assert run.recap(VCENTER)["changed"] >= 1
    assert (stale / "assets.json").read_text() == '{"schema": "old"}\n'
    assert sorted(p.name for p in stale.iterdir()) == ["assets.json"]
    assert '-{"schema": "old"}' in run.output
    assert '+ "schema": "jinbao-dc/asset-register/1"' in run.output


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _assert_one_clear_failure(run, line: str) -> None:
    """Non-zero exit, one failed task whose error line is `line`, and no Python traceback anywhere."""
    assert run.returncode != 0
    assert "Traceback" not in run.output, run.output[-4000:]
    errors = [x for x in run.output.splitlines() if x.startswith("[ERROR]")]
    assert len(errors) == 1, run.output[-4000:]
    assert line in errors[0], errors[0]
    assert run.output.count("fatal: [") == 1
    assert run.recap(VCENTER)["failed"] == 1


def _lab_endpoint(**change) -> object:
    fields = dict(name=VCENTER, hostname="127.0.0.1", port=18443, username="jinbao-lab",
                  password=(LAB_STATE / "secrets" / "vcenter.password").read_text().strip(),
                  ca_file=str(LAB_STATE / "pki" / "ca.crt"), timeout=30.0)
    fields.update(change)
    return vsphere.Endpoint(**fields)


def test_wrong_port_is_one_clear_line(lab_vcenter):
    port = _free_port()
    with pytest.raises(vsphere.VSphereError) as err:
        vsphere.connect(_lab_endpoint(port=port))
    assert str(err.value) == f"vc-central: vcenter_port: cannot connect to 127.0.0.1:{port} (connection refused)"


def test_wrong_ca_file_is_one_clear_line(lab_vcenter, tmp_path):
    other_ca = _self_signed_ca(tmp_path / "other-ca.crt")
    with pytest.raises(vsphere.VSphereError) as err:
        vsphere.connect(_lab_endpoint(ca_file=str(other_ca)))
    assert str(err.value).startswith(f"vc-central: vcenter_ca_file: the server certificate does not verify against "
                                     f"{other_ca}")


def test_wrong_password_fails_the_play_with_one_clear_line_and_writes_nothing(lab_vcenter, tmp_path):
    run = _discover(tmp_path, "-e", "vcenter_password=not-the-lab-password")
    _assert_one_clear_failure(run, "vc-central: vcenter_password: login refused for user jinbao-lab")
    assert not (tmp_path / "assets.json").exists()


def test_password_never_reaches_the_output(register_run):
    _, run, _ = register_run
    password = (LAB_STATE / "secrets" / "vcenter.password").read_text().strip()
    assert "task path: " in run.output  # the run really was verbose
    assert password not in run.output


def _self_signed_ca(path: Path) -> Path:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "some other CA")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(key, hashes.SHA256()))
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path
