"""An ACL drifted by hand on the lab's core-01 (issue #16, 7 and 8): a hand-added permit (decision -> production), a
hand-deleted deny and a reordered ACL are each repaired by the next network.yml run, by content against the
device's own sequence numbers, and a second run changes nothing; --check --diff names the open flow and changes
nothing; and, read from the device after every line sent, no state on the way lets through a flow the policy
forbids."""

from __future__ import annotations

import json
import re

import pytest
import yaml
from vcsim_fixtures import LAB_STATE, ROOT, labctl, run_playbook

from ansible_collections.jinbao.dc.plugins.module_utils.policy import netpolicy
from ansible_collections.jinbao.dc.plugins.module_utils.seams import netdev, netdev_acl

pytestmark = pytest.mark.usefixtures("lab_operator", "second_person")  # the core pair: two-person control

HOSTS = ("core-01", "core-02", "acc-main-01")
ACL = "ZONE-DECISION-IN"
OPEN = "permit ip 10.30.0.0 0.0.255.255 10.10.0.0 0.0.255.255"  # decision -> production, which the policy forbids
IOS = netdev.VENDORS["cisco"]
NETWORKS = yaml.safe_load((ROOT / "inventory" / "lab" / "group_vars" / "all" / "network.yml").read_text())[
    "network_zones"]
PLAN = {"port_assignments": [
    {"host": "db-north-01", "switch": "acc-main-01", "port": "Ethernet11", "zone": "production"}]}


def session():
    """A second person's SSH session on core-01 (the lab's device account)."""
    password = (LAB_STATE / "secrets" / "netdev.password").read_text().strip()
    return netdev.connect(name="core-01", host="127.0.0.1", port=18801, device_type="cisco_ios",
                          username="jinbao-lab", password=password, secret=password,
                          known_hosts=str(LAB_STATE / "netdev" / "known_hosts"))


def by_hand(*lines: str) -> None:
    conn = session()
    try:
        netdev.push("core-01", conn, list(lines), IOS)
    finally:
        netdev.disconnect(conn)


def device_acl(conn=None) -> list[tuple[int, str]]:
    """core-01's ZONE-DECISION-IN as the device numbers it."""
    own = conn is None
    conn = conn or session()
    try:
        text = netdev.command("core-01", conn, f"show ip access-lists {ACL}")
        return netdev_acl.parse_show(text, IOS.acl).get(ACL, [])
    finally:
        if own:
            netdev.disconnect(conn)


def open_flows(conn) -> set[str]:
    """The forbidden flows core-01 lets through now, as netpolicy reads its SVIs and ACLs."""
    numbers = netdev_acl.parse_show(netdev.command("core-01", conn, "show ip access-lists"), IOS.acl)
    view = netdev_acl.policy_view(netdev.running_config("core-01", conn, IOS), IOS.acl, numbers)
    _, problems = netpolicy.check({"core-01": view}, NETWORKS, [])
    return {m.group(1) for p in problems if (m := re.search(r"(\S+→\S+) is reachable, but the flow policy forbids", p))}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """core-01, core-02 and acc-main-01 from their seed, configured once by network.yml; restored at the end."""
    tmp = tmp_path_factory.mktemp("acl-drift")
    labctl("reset", "--only", *HOSTS)
    labctl("up", "--only", *HOSTS)
    (tmp / "reports").mkdir()
    (tmp / "reports" / "plan.json").write_text(json.dumps(PLAN))

    def args(*more: str) -> list[str]:
        return ["-l", ",".join(HOSTS), "-e", f"jinbao_reports_dir={tmp / 'reports'}",
                "-e", f"jinbao_backups_dir={tmp / 'backups'}", *more]  # the switches this file changes, alone
    args.tmp = tmp
    first = run_playbook("network.yml", *args())
    assert first.returncode == 0, first.output[-4000:]
    yield args
    labctl("reset", "--only", *HOSTS)
    labctl("up", "--only", *HOSTS)


def run_and_rerun(lab) -> tuple[list[str], object]:
    """network.yml, then again: the lines core-01 was sent, and the second run."""
    run = run_playbook("network.yml", "-v", *lab())
    assert run.returncode == 0, run.output[-4000:]
    records = sorted((lab.tmp / "reports" / "network" / "changes").glob("core-01-*.json"))
    sent = json.loads(records[-1].read_text())["commands"]
    again = run_playbook("network.yml", *lab())
    assert again.returncode == 0, again.output[-4000:]
    for host in HOSTS:
        assert again.recap(host)["changed"] == 0, again.output[-4000:]
    return sent, run


def test_a_hand_added_permit_is_named_by_check_mode_and_removed_alone_by_the_next_run(lab):
    intended = device_acl()
    by_hand(f"ip access-list extended {ACL}", f" 5 {OPEN}")
    assert device_acl()[0] == (5, OPEN)

    check = run_playbook("network.yml", "--check", "--diff", *lab())
    assert check.returncode == 0, check.output[-4000:]
    text = " ".join(check.output.replace("''", "'").split())  # the YAML callback wraps and quotes messages
    assert (f"core-01: {ACL} line 1 (sequence 5) '{OPEN}': decision→production is reachable, but the flow policy "
            "forbids it") in text, check.output[-4000:]
    assert f"ip access-list extended {ACL} no 5" in text  # the diff: one line, by the device's own number
    assert device_acl()[0] == (5, OPEN)  # check mode sent nothing

    sent, _ = run_and_rerun(lab)
    assert [line.strip() for line in sent] == [f"ip access-list extended {ACL}", "no 5"]
    assert device_acl() == intended


def test_a_hand_deleted_deny_comes_back_under_a_free_number_in_its_place(lab):
    intended = device_acl()
    seq, deny = intended[-1]
    by_hand(f"ip access-list extended {ACL}", f" no {seq}")
    sent, _ = run_and_rerun(lab)
    assert [line.strip() for line in sent] == [f"ip access-list extended {ACL}", f"{seq} {deny}"]
    assert device_acl() == intended


def test_a_reordered_acl_is_rebuilt_behind_a_second_name_and_converges(lab):
    intended = device_acl()
    (first_seq, first), (deny_seq, deny) = intended[0], intended[-1]
    by_hand(f"ip access-list extended {ACL}", f" no {deny_seq}", f" 1 {deny}", f" no {first_seq}",
            f" {deny_seq + 10} {first}")  # the deny moved to the top, the first permit to the end
    sent, run = run_and_rerun(lab)
    swap = f"{ACL}{IOS.acl.swap_suffix}"
    assert f"ip access-list extended {swap}" in sent and sent[-1] == f"no ip access-list extended {swap}"
    assert [body for _, body in device_acl()] == [body for _, body in intended]
    assert "still differs from the intent" not in run.output


def test_no_line_sent_opens_a_forbidden_flow_read_from_the_device_after_each_one(lab, monkeypatch):
    """The change itself (netdev.configure, what network.yml's batch runs per device), with its push hooked to send
    one line at a time and read core-01's ACLs and SVIs on a second session after each; netpolicy judges them."""
    intended = device_acl()
    (first_seq, first), (deny_seq, deny) = intended[0], intended[-1]
    # the worst drift: a forbidden permit, the deny moved to the top (a rewrite), the first permit at the end
    by_hand(f"ip access-list extended {ACL}", f" 1 {OPEN}", f" no {deny_seq}", f" 2 {deny}", f" no {first_seq}",
            f" {deny_seq + 10} {first}")
    reader = session()
    states: list[tuple[str, set[str]]] = []

    def push_line_by_line(name, conn, lines, v, in_config_mode=False):
        states.append(("(before)", open_flows(reader)))
        if not in_config_mode:
            conn.config_mode()
        for line in lines:
            out = conn.send_config_set([line], enter_config_mode=False, exit_config_mode=False,
                                       error_pattern=v.error_pattern, cmd_verify=True, read_timeout=60)
            assert not re.search(v.error_pattern, out), f"{line!r}: {out}"
            states.append((line, open_flows(reader)))
        conn.exit_config_mode()
        return ""

    monkeypatch.setattr(netdev, "push", push_line_by_line)
    password = (LAB_STATE / "secrets" / "netdev.password").read_text().strip()
    p = {"name": "core-01", "host": "127.0.0.1", "port": 18801, "device_type": "cisco_ios", "vendor": "cisco",
         "username": "jinbao-lab", "password": password, "secret": password,
         "known_hosts": str(LAB_STATE / "netdev" / "known_hosts"), "timeout": 20.0, "retries": 2, "fast_cli": True,
         "intended": (lab.tmp / "reports" / "network" / "intended" / "core-01.cfg").read_text(),
         "managed": ["^ip access-list extended ZONE-"], "checkpoint": "jinbao-prechange.cfg", "confirm_minutes": 5,
         "save": False, "backup_dir": None, "keep": 30, "intended_file": None, "change_dir": None, "operator": {},
         "facts_file": None, "role": "core"}
    try:
        result = netdev.configure(p)
    finally:
        netdev.disconnect(reader)
    assert not result["failed"], result.get("msg")
    before = states[0][1]
    assert before == {"decision→production"}
    for line, flows in states[1:]:
        assert flows <= before, f"after {line!r} core-01 let through {flows - before}"
    assert states[-1][1] == set()
    assert len(states) > 10  # the rewrite: two ACLs built, two rebinds, two removals
    assert [body for _, body in device_acl()] == [body for _, body in intended]
