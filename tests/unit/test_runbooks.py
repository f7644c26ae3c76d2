"""The runbook site (runbooks/, mkdocs.yml; `make docs`): every alert has its page, the pages are complete,
linked and reachable, their Diagnosis commands are the platform's own, and the site builds strictly with no
secret in it.

What counts as a valid shell command in a Diagnosis section (the rule `test_diagnosis_shell_*` enforce):

- Only fenced blocks tagged `sh`, `bash`, `shell` or `console` are shell; `promql` blocks are PromQL and are
  not run through these rules. Lines ending in `\\` are joined; blank lines and `#` comments are skipped.
- A line is split (shell quoting respected) into commands at `|`, `||`, `&&`, `;` and `&`. Each command's
  first word, after any leading `VAR=value` assignments, must be one of:
  * a **platform command**:
    - `ansible-playbook` (or `.venv/bin/ansible-playbook`) naming a `playbooks/<name>.yml` that exists;
    - `make` with targets that are all Makefile targets (parsed from the Makefile);
    - `python`/`python3`/`.venv/bin/python` with `-m monitors.<name>` where `monitors/<name>/__main__.py`
      exists, or with `-m lab.labctl <action>` where `<action>` is one labctl accepts (lab only);
  * a **standard tool** from STANDARD_TOOLS below. `curl` must address the platform: `$PROM`, `$AM`, or
    `http://127.0.0.1:<port>` with a port the lab inventory or the monitoring role declares;
  * `export` with only `VAR=value` arguments, or a line of assignments only (setting the page's variables).
- Every Diagnosis section has at least one platform command, so no page diagnoses with generic tools alone.
- Command substitutions inside quoted arguments (`"$(date -u +%s)"`) are not checked.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from collections import deque
from pathlib import Path

import pytest
import yaml
from markdown.extensions.toc import slugify

ROOT = Path(__file__).resolve().parents[2]
RUNBOOKS = ROOT / "runbooks"
RULE_FILES = sorted((ROOT / "monitors" / "alerts").glob("*.rules.yml"))
URL_PREFIX = "https://runbooks.jinbao.example/alerts/"
INDEXES = ("index.md", "oncall.md", "sysadmin.md", "auditor.md")
SECTIONS = ["Meaning", "Impact", "Diagnosis", "Mitigation", "Escalation", "Alert definition"]
SHELL_TAGS = {"sh", "bash", "shell", "console"}
STANDARD_TOOLS = {"curl", "psql", "restic", "promtool", "amtool", "jq", "openssl", "sha256sum", "grep", "tail",
                  "head", "cat", "ls", "cd", "sort", "uniq", "cut", "date", "systemctl", "journalctl", "ssh"}
PYTHONS = {"python", "python3", ".venv/bin/python"}
PLAYBOOK_RUNNERS = {"ansible-playbook", ".venv/bin/ansible-playbook"}
SEPARATORS = {"|", "||", "&&", ";", "&", "|&"}
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
FENCE = re.compile(r"^\s*```\s*([\w-]*)")
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


# --- sources of truth --------------------------------------------------------------------------------------
def alert_rules() -> dict[str, list[dict]]:
    """Every alerting rule of monitors/alerts, by alert name, in file order."""
    rules: dict[str, list[dict]] = {}
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    rules.setdefault(rule["alert"], []).append(rule)
    return rules


def make_targets() -> set[str]:
    targets = set()
    for line in (ROOT / "Makefile").read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9][A-Za-z0-9_.\- ]*?)\s*:(?!=)", line)
        if m and "$" not in m.group(1):
            targets.update(m.group(1).split())
    return targets


def labctl_actions() -> set[str]:
    m = re.search(r"choices=\(([^)]*)\)", (ROOT / "lab" / "labctl.py").read_text())
    assert m, "lab/labctl.py: no `choices=(...)` for its action; update test_runbooks.labctl_actions"
    return set(re.findall(r"[\"']([\w-]+)[\"']", m.group(1)))


def platform_ports() -> set[str]:
    ports = set()
    for path in (ROOT / "inventory" / "lab" / "host_vars").glob("*.yml"):
        for key, value in (yaml.safe_load(path.read_text()) or {}).items():
            if key.endswith("_port") and isinstance(value, int):
                ports.add(str(value))
    defaults = yaml.safe_load((ROOT / "roles" / "monitoring" / "defaults" / "main.yml").read_text())
    ports.update(str(e["port"]) for e in defaults["monitoring_exporters"])
    return ports


# --- reading pages ------------------------------------------------------------------------------------------
def pages() -> list[Path]:
    return sorted(RUNBOOKS.rglob("*.md"))


def h2_sections(text: str) -> list[tuple[str, str]]:
    """(title, body) of each `## ` section, outside fenced code."""
    out: list[tuple[str, list[str]]] = []
    in_code = False
    for line in text.splitlines():
        if FENCE.match(line):
            in_code = not in_code
        if not in_code and line.startswith("## "):
            out.append((line[3:].strip(), []))
        elif out:
            out[-1][1].append(line)
    return [(title, "\n".join(body)) for title, body in out]


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """(language tag, content) of each fenced block."""
    blocks, lang, buf, in_code = [], "", [], False
    for line in text.splitlines():
        m = FENCE.match(line)
        if m and not in_code:
            in_code, lang, buf = True, m.group(1), []
        elif m and in_code:
            blocks.append((lang, "\n".join(buf)))
            in_code = False
        elif in_code:
            buf.append(line)
    return blocks


def prose(text: str) -> str:
    """The page without fenced blocks and inline code, where links live."""
    kept, in_code = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            in_code = not in_code
            continue
        if not in_code:
            kept.append(line)
    return re.sub(r"`[^`]*`", "", "\n".join(kept))  # a code span may wrap onto the next line


def anchors(text: str) -> set[str]:
    found, in_code = set(), False
    for line in text.splitlines():
        if FENCE.match(line):
            in_code = not in_code
        m = re.match(r"^#{1,6}\s+(.*?)\s*$", line)
        if m and not in_code:
            title = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", m.group(1)).replace("`", "")
            found.add(slugify(title, "-"))
    return found


def internal_links(page: Path) -> list[tuple[Path, str]]:
    """(target file, anchor) of every relative link of a page; external and mailto links are skipped."""
    out = []
    for target in LINK.findall(prose(page.read_text())):
        if re.match(r"^[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        out.append(((page.parent / path).resolve() if path else page.resolve(), anchor))
    return out


# --- the Diagnosis shell rule -------------------------------------------------------------------------------
def logical_lines(block: str) -> list[str]:
    lines, pending = [], ""
    for raw in block.splitlines():
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1] + " "
            continue
        line = (pending + raw).strip()
        pending = ""
        if line and not line.startswith("#"):
            lines.append(line)
    return lines


def commands(line: str) -> list[list[str]]:
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    out: list[list[str]] = [[]]
    for token in lexer:
        if token in SEPARATORS:
            out.append([])
        else:
            out[-1].append(token)
    return [c for c in out if c]


class CommandRules:
    """Classifies one command (a list of words) as platform, standard, assignment, or a problem."""

    def __init__(self) -> None:
        self.targets = make_targets()
        self.lab_actions = labctl_actions()
        self.ports = platform_ports()

    def classify(self, words: list[str]) -> tuple[str, str]:
        """("platform" | "standard" | "assignment" | "problem", explanation)."""
        while words and ASSIGNMENT.match(words[0]):
            words = words[1:]
        if not words:
            return "assignment", ""
        cmd, args = words[0], words[1:]
        if cmd == "export":
            bad = [a for a in args if not ASSIGNMENT.match(a)]
            return ("problem", f"export of non-assignments {bad}") if bad else ("assignment", "")
        if cmd in PLAYBOOK_RUNNERS:
            books = [a for a in args if re.fullmatch(r"playbooks/[\w.-]+\.yml", a)]
            if not books:
                return "problem", "ansible-playbook names no playbooks/<name>.yml"
            missing = [b for b in books if not (ROOT / b).is_file()]
            return ("problem", f"no such playbook {missing}") if missing else ("platform", books[0])
        if cmd == "make":
            goals = [a for a in args if not a.startswith("-") and not ASSIGNMENT.match(a)]
            unknown = [g for g in goals if g not in self.targets]
            if not goals or unknown:
                return "problem", f"make target(s) {unknown or '(none)'} not in the Makefile"
            return "platform", f"make {' '.join(goals)}"
        if cmd in PYTHONS:
            if len(args) >= 2 and args[:2] == ["-m", "lab.labctl"]:
                if len(args) > 2 and args[2] in self.lab_actions:
                    return "platform", f"labctl {args[2]}"
                return "problem", f"labctl action {args[2:3]} is not one of {sorted(self.lab_actions)}"
            if len(args) >= 2 and args[0] == "-m":
                name = args[1].split(".", 1)[1] if args[1].startswith("monitors.") else ""
                if name and (ROOT / "monitors" / name / "__main__.py").is_file():
                    return "platform", args[1]
                return "problem", f"python -m {args[1]}: not a monitors exporter"
            return "problem", "python runs neither -m monitors.<name> nor -m lab.labctl"
        if cmd in STANDARD_TOOLS:
            if cmd == "curl" and not any(self._platform_url(a) for a in args):
                return "problem", "curl addresses neither $PROM, $AM nor a declared 127.0.0.1 port"
            return "standard", cmd
        return "problem", f"{cmd!r} is neither a platform command nor a standard tool"

    def _platform_url(self, arg: str) -> bool:
        if arg.startswith(("$PROM", "$AM")):
            return True
        m = re.match(r"https?://127\.0\.0\.1:(\d+)/", arg)
        return bool(m and m.group(1) in self.ports)


@pytest.fixture(scope="module")
def rules_engine() -> CommandRules:
    return CommandRules()


# --- the tests ----------------------------------------------------------------------------------------------
def test_every_alert_rule_links_to_an_existing_page_with_the_required_sections():
    rules = alert_rules()
    assert len(rules) >= 25, f"only {len(rules)} alerts found in {RULE_FILES}"
    problems = []
    for name, group in rules.items():
        for rule in group:
            url = rule["annotations"].get("runbook_url", "")
            if url != f"{URL_PREFIX}{name}/":
                problems.append(f"{name}: runbook_url {url!r} is not {URL_PREFIX}{name}/")
                continue
            page = RUNBOOKS / "alerts" / f"{url[len(URL_PREFIX):].rstrip('/')}.md"
            if not page.is_file():
                problems.append(f"{name}: {page.relative_to(ROOT)} does not exist")
                continue
            text = page.read_text()
            if not text.startswith(f"# {name}\n"):
                problems.append(f"{page.name}: the first line must be '# {name}'")
            titles = [t for t, _ in h2_sections(text)]
            if titles != SECTIONS:
                problems.append(f"{page.name}: sections {titles}, expected {SECTIONS} in that order")
            empty = [t for t, body in h2_sections(text) if len(body.strip()) < 40]
            if empty:
                problems.append(f"{page.name}: section(s) {empty} are (nearly) empty")
    assert problems == [], "\n".join(problems)


def test_no_alert_page_without_an_alert_rule():
    rules = alert_rules()
    orphans = [p.name for p in (RUNBOOKS / "alerts").glob("*.md") if p.stem not in rules]
    assert orphans == [], f"runbooks/alerts pages with no alert rule of that name: {orphans}"


def test_alert_definition_on_each_page_is_the_rule_prometheus_loads():
    for name, group in alert_rules().items():
        body = dict(h2_sections((RUNBOOKS / "alerts" / f"{name}.md").read_text()))["Alert definition"]
        blocks = [yaml.safe_load(code) for lang, code in fenced_blocks(body) if lang == "yaml"]
        assert blocks == [group], (f"runbooks/alerts/{name}.md: the yaml under 'Alert definition' differs from "
                                   f"the rule(s) in monitors/alerts; copy the rule(s) again")


def test_every_page_is_in_the_nav_and_the_nav_names_only_existing_pages():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    assert config["docs_dir"] == "runbooks" and config["use_directory_urls"] is True
    assert config["site_url"] == URL_PREFIX.removesuffix("alerts/")

    def walk(node) -> list[str]:
        if isinstance(node, str):
            return [node]
        if isinstance(node, list):
            return [p for item in node for p in walk(item)]
        return [p for value in node.values() for p in walk(value)]

    nav = walk(config["nav"])
    on_disk = sorted(str(p.relative_to(RUNBOOKS)) for p in pages())
    assert sorted(nav) == on_disk, f"not in nav: {set(on_disk) - set(nav)}; missing files: {set(nav) - set(on_disk)}"


def test_every_page_is_reachable_from_an_index():
    start = [RUNBOOKS / name for name in INDEXES]
    assert all(p.is_file() for p in start), f"an index page is missing: {INDEXES}"
    seen, queue = set(), deque(p.resolve() for p in start)
    while queue:
        page = queue.popleft()
        if page in seen or page.suffix != ".md" or not page.is_file():
            continue
        seen.add(page)
        queue.extend(target for target, _ in internal_links(page))
    unreachable = [str(p.relative_to(RUNBOOKS)) for p in pages() if p.resolve() not in seen]
    assert unreachable == [], f"pages no index leads to: {unreachable}"
    home = prose((RUNBOOKS / "index.md").read_text())
    assert all(f"({name})" in home for name in INDEXES[1:]), "index.md must link the three audience indexes"


def test_every_internal_link_resolves_to_a_page_and_anchor():
    problems = []
    for page in pages():
        for target, anchor in internal_links(page):
            where = page.relative_to(RUNBOOKS)
            if RUNBOOKS.resolve() not in target.parents:
                problems.append(f"{where}: link to {target} leaves runbooks/ (cite repository files as `code`)")
            elif not target.is_file():
                problems.append(f"{where}: link to missing {target.relative_to(RUNBOOKS.resolve())}")
            elif anchor and anchor not in anchors(target.read_text()):
                problems.append(f"{where}: no heading #{anchor} in {target.name}")
    assert problems == [], "\n".join(problems)


def test_diagnosis_shell_lines_use_the_platforms_commands_or_standard_tools(rules_engine):
    problems = []
    for name in alert_rules():
        body = dict(h2_sections((RUNBOOKS / "alerts" / f"{name}.md").read_text()))["Diagnosis"]
        platform = 0
        for lang, code in fenced_blocks(body):
            if lang not in SHELL_TAGS:
                continue
            for line in logical_lines(code):
                for words in commands(line):
                    kind, why = rules_engine.classify(words)
                    platform += kind == "platform"
                    if kind == "problem":
                        problems.append(f"{name}.md: {why}: {line}")
        if not platform:
            problems.append(f"{name}.md: Diagnosis has no playbook, make target, monitors or labctl command")
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("line, expected", [
    ("ansible-playbook -i inventory/lab playbooks/monitoring.yml --check", "platform"),
    ("ansible-playbook -i inventory/lab playbooks/no-such-stage.yml", "problem"),
    ("ansible-playbook -i inventory/lab site.yml", "problem"),
    ("make validate", "platform"),
    ("make no-such-target", "problem"),
    (".venv/bin/python -m monitors.backup --config.file x.yml --once", "platform"),
    (".venv/bin/python -m monitors.nonexistent --once", "problem"),
    (".venv/bin/python -m http.server", "problem"),
    (".venv/bin/python -m lab.labctl act pg-dr-01 start-wal-receiver", "platform"),
    (".venv/bin/python -m lab.labctl explode", "problem"),
    (".venv/bin/python lab/labctl.py act pg-dr-01 start-wal-receiver", "problem"),  # a package: run with -m
    ("curl -s \"$PROM/api/v1/query\" --data-urlencode 'query=up'", "standard"),
    ("curl -s http://127.0.0.1:19090/-/ready", "standard"),
    ("curl -s https://example.com/install.sh", "problem"),
    ("rm -rf /srv/backup", "problem"),
    ("export PROM=http://127.0.0.1:19090 AM=x", "assignment"),
    ("export PATH", "problem"),
])
def test_diagnosis_shell_rule_tells_platform_commands_from_others(rules_engine, line, expected):
    kinds = [rules_engine.classify(words)[0] for words in commands(line)]
    assert kinds[0] == expected, (line, kinds)


def test_a_pipe_into_an_unknown_tool_is_a_problem(rules_engine):
    kinds = [rules_engine.classify(w)[0] for w in commands("make validate | bash -c 'curl x'")]
    assert kinds == ["platform", "problem"]


# --- the built site -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def built_site(tmp_path_factory) -> tuple[Path, str]:
    site = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
                          str(ROOT / "mkdocs.yml"), "--site-dir", str(site)],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, f"mkdocs build --strict failed:\n{run.stdout}\n{run.stderr}"
    return site, run.stdout + run.stderr


def test_site_builds_in_strict_mode_with_no_warning_and_search(built_site):
    site, output = built_site
    warnings = [line for line in output.splitlines() if re.search(r"\bWARNING\b", line)]
    assert warnings == [], "\n".join(warnings)
    index = json.loads((site / "search" / "search_index.json").read_text())
    assert len(index["docs"]) > len(pages()), "the search index does not cover the pages"


def test_each_alerts_runbook_url_is_served_by_the_site(built_site):
    site, _ = built_site
    missing = [name for name in alert_rules() if not (site / "alerts" / name / "index.html").is_file()]
    assert missing == [], f"no page at {URL_PREFIX}<alert>/ for {missing}"


def known_secrets() -> dict[str, str]:
    """Values that must never be published: the lab's generated secrets and a stretch of every private key the
    controller holds (present when the lab or the PKI stages have run; a fresh checkout has none)."""
    secrets: dict[str, str] = {}
    folder = ROOT / ".lab" / "secrets"
    for path in sorted(folder.glob("*")) if folder.is_dir() else []:
        text = path.read_text(errors="replace")
        try:
            values = _strings(json.loads(text))
        except ValueError:
            values = [line.split(":")[-1].strip() for line in text.splitlines()]
        for i, value in enumerate(v for v in values if len(v) >= 8):
            secrets[f"{path.name}[{i}]"] = value
    for key in sorted((ROOT / ".pki").rglob("*.key")) if (ROOT / ".pki").is_dir() else []:
        body = "".join(key.read_text().splitlines()[1:-1])
        secrets[f"private key {key.name}"] = body[20:80]
    return secrets


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def leaks(site: Path, secrets: dict[str, str]) -> list[str]:
    found = []
    for path in site.rglob("*"):
        if path.is_file() and path.suffix in {".html", ".json", ".xml", ".txt", ".js"}:
            text = path.read_text(errors="replace")
            found += [f"{what} in {path.relative_to(site)}" for what, value in secrets.items() if value in text]
            if "PRIVATE KEY-----" in text:
                found.append(f"a PEM private key in {path.relative_to(site)}")
    return found


def test_the_site_publishes_no_secret(built_site):
    site, _ = built_site
    assert leaks(site, known_secrets()) == []


def test_the_secret_check_finds_a_planted_canary(tmp_path):
    (tmp_path / "alerts").mkdir()
    (tmp_path / "alerts" / "index.html").write_text("<p>password: jinbao-canary-0123456789</p>")
    assert leaks(tmp_path, {"canary": "jinbao-canary-0123456789"}) == ["canary in alerts/index.html"]
