# jinbao-dc. The two commands a newcomer needs are `make demo` and `make test`; each does all of
# its own set-up on a fresh Debian 12 machine as root (apt packages, .venv, lab builds). Stamp files
# under .cache/stamps make a re-run fast.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
VENV := $(ROOT)/.venv
BIN := $(VENV)/bin
STAMPS := $(ROOT)/.cache/stamps
INVENTORY ?= inventory/lab
APT_PACKAGES := $(shell grep -v '^\#' $(ROOT)/lab/packages.apt)
PYTEST_ARGS ?=

export ANSIBLE_CONFIG := $(ROOT)/ansible.cfg
export PATH := $(BIN):$(PATH)
# Let Python cache bytecode in .venv: ansible imports thousands of collection files per run.
export PYTHONDONTWRITEBYTECODE :=

# pytest exits 5 when a selection holds no test; that is not a failure of the suite.
PYTEST := run_pytest() { $(BIN)/python -m pytest "$$@" $(PYTEST_ARGS) || { rc=$$?; [ $$rc -eq 5 ] || return $$rc; }; }; run_pytest
# The lab and the benchmarks are packages of the repository (lab/, bench/), run as modules from its root; the
# benchmarks that call the plugins import them as the collection (ansible_collections.jinbao.dc, through the link).
LABCTL := cd $(ROOT) && $(BIN)/python -m lab.labctl
BENCH := cd $(ROOT) && PYTHONPATH=$(ROOT):$(ROOT)/.cache/collections $(BIN)/python -m

.PHONY: help deps demo test lab-up lab-down lab-reset lab-status lab-build validate lint syntax unit units sanity \
        ansible-test-copy ee-context integration e2e \
        docs audit-verify evidence bench bench-discover bench-controller bench-migrate bench-pki bench-gate bench-netpush bench-exporters \
        clean

help:
	@echo "make demo      lab-up, then the whole consolidation (playbooks/site.yml) on the lab facility"
	@echo "make test      every test: lint, validate, unit, integration (starts the lab), e2e"
	@echo "make docs      the runbook site (runbooks/) into site/, strict"
	@echo "make audit-verify  check the audit trail's hash chain, both copies"
	@echo "make evidence FROM=.. TO=..  the auditor's evidence pack of a period (reports/evidence/)"
	@echo "make lab-up | lab-down | lab-reset | lab-status | validate | lint | bench | clean"

# --- set-up -------------------------------------------------------------------------------------
$(STAMPS)/apt: lab/packages.apt
	@missing=$$(for p in $(APT_PACKAGES); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then \
	    echo "jinbao-dc needs Debian packages that are missing. As root, run:" >&2; \
	    echo "  apt-get update && apt-get install -y" $$missing >&2; exit 1; fi; \
	  echo "Installing Debian packages:" $$missing; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi
	@mkdir -p $(STAMPS) && touch $@

LAB_REQUIREMENTS := lab/netdevices/fakenos/requirements.txt lab/netdevices/fakeswitch/requirements.txt

$(STAMPS)/venv: requirements.txt requirements-dev.txt $(LAB_REQUIREMENTS) lab/netdevices/fakeswitch/requirements-nodeps.txt $(STAMPS)/apt
	@test -x $(BIN)/python || /usr/bin/python3 -m venv $(VENV)
	@echo "Installing Python packages into .venv (pinned in requirements*.txt and the lab's)"
	@$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	@$(BIN)/python -m pip install -q --no-compile --disable-pip-version-check -r requirements.txt -r requirements-dev.txt \
	  $(addprefix -r ,$(LAB_REQUIREMENTS))
	@# fake-switches declares Twisted<17, which does not build on Python 3.11; its real needs are above.
	@$(BIN)/python -m pip install -q --no-compile --disable-pip-version-check --no-deps -r lab/netdevices/fakeswitch/requirements-nodeps.txt
	@mkdir -p $(ROOT)/.cache/facts
	@touch $@

# The repository is the collection jinbao.dc: ansible.cfg's collections_path reaches it through this link (no
# copy, so an edit is live at once), and Python imports it as ansible_collections.jinbao.dc (pytest.ini).
COLLECTION_LINK := $(ROOT)/.cache/collections/ansible_collections/jinbao/dc
$(COLLECTION_LINK):
	@mkdir -p $(dir $@)
	@ln -sfn ../../../.. $@

deps: $(STAMPS)/venv $(COLLECTION_LINK)

lab-build: deps
	@$(LABCTL) build

# --- the lab ------------------------------------------------------------------------------------
lab-up: deps
	@$(LABCTL) up --inventory $(INVENTORY)

lab-down:
	@if [ -x $(BIN)/python ]; then $(LABCTL) down --inventory $(INVENTORY); \
	 else echo "no .venv: nothing of the lab can be running"; fi

lab-reset:
	@if [ -x $(BIN)/python ]; then $(LABCTL) reset --inventory $(INVENTORY); \
	 else echo "no .venv: nothing of the lab can be running"; fi

lab-status: deps
	@$(LABCTL) status --inventory $(INVENTORY)

# --- the main job ------------------------------------------------------------------------------
# The main job, then the auditor's evidence pack of exactly that run (its start and end records in the audit log).
# site.yml as the lab's system administrator. Its change of the core pair needs a second person: the lab's
# security administrator, played by lab/approver.py (a stand-in for a human) while site.yml runs.
demo: lab-up
	@$(BIN)/python -m lab.approver --seconds 3600 >> $(ROOT)/.lab/log/approver.log 2>&1 & pid=$$!; \
	 JINBAO_OPERATOR=lab-sysadmin $(BIN)/ansible-playbook -i $(INVENTORY) playbooks/site.yml; rc=$$?; \
	 kill $$pid 2>/dev/null; grep "approved" $(ROOT)/.lab/log/approver.log | tail -1; exit $$rc
	@JINBAO_OPERATOR=lab-auditor $(BIN)/ansible-playbook -i $(INVENTORY) playbooks/evidence.yml -e '{"evidence_from": "run start", "evidence_to": "run end"}'

# --- checks -------------------------------------------------------------------------------------
# The lab, the example and, with INVENTORY=inventory/<city>, a site's own inventory.
validate: deps
	@for inv in $(sort inventory/lab inventory/example $(INVENTORY)); do \
	  echo "== validate $$inv"; \
	  $(BIN)/ansible-playbook -i $$inv playbooks/preflight.yml; done

syntax: deps
	@$(BIN)/ansible-playbook --syntax-check -i $(INVENTORY) playbooks/*.yml >/dev/null \
	  || { echo "syntax check failed (the error above names the playbook)" >&2; exit 1; }
	@echo "syntax-check: every playbook OK"

lint: deps syntax
	@$(BIN)/yamllint --strict .
	@$(BIN)/ansible-lint --profile production --offline -q playbooks roles
	@$(BIN)/ruff check $(wildcard plugins lab monitors bench tests)
	@echo "lint: yamllint, ansible-lint (production) and ruff are clean"

unit: deps
	@$(PYTEST) -q tests/unit

# --- ansible-test on the collection ---------------------------------------------------------------
# ansible-test takes the collection from a path that ends in ansible_collections/jinbao/dc and reads its physical
# working directory, so it runs on a copy of the files git tracks (and the untracked ones it does not ignore),
# in a git repository of its own. Its virtualenvs get pip offline (tests/sanity/bootstrap_pip.py, see there).
# The sanity tests chosen, and why each other one is skipped: docs/TESTING.md.
ANSIBLE_TEST_COPY := $(ROOT)/.cache/ansible-test/ansible_collections/jinbao/dc
ANSIBLE_TEST_PIP := 24.2
SANITY_TESTS := action-plugin-docs ansible-doc compile empty-init ignores import line-endings no-assert \
                no-get-exception no-illegal-filenames no-smart-quotes replace-urlopen runtime-metadata shebang \
                symlinks use-argspec-type-path use-compat-six validate-modules yamllint
ANSIBLE_TEST := cd $(ANSIBLE_TEST_COPY) && $(BIN)/ansible-test

$(STAMPS)/ansible-test-pip: tests/sanity/bootstrap_pip.py $(STAMPS)/venv
	@mkdir -p $(HOME)/.ansible/test/cache
	@$(BIN)/python -m pip download -q --disable-pip-version-check --no-deps -d $(HOME)/.ansible/test/cache pip==$(ANSIBLE_TEST_PIP)
	@install -m 0644 tests/sanity/bootstrap_pip.py $(HOME)/.ansible/test/cache/get_pip_$(subst .,_,$(ANSIBLE_TEST_PIP)).py
	@touch $@

ansible-test-copy: deps $(STAMPS)/ansible-test-pip
	@rm -rf $(ANSIBLE_TEST_COPY) && mkdir -p $(ANSIBLE_TEST_COPY)
	@git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do [ -e "$$f" ] && printf '%s\0' "$$f"; done \
	  | tar --null -cf - -T - | tar -xf - -C $(ANSIBLE_TEST_COPY)
	@cd $(ANSIBLE_TEST_COPY) && git init -q && git add -A

sanity: ansible-test-copy
	@$(ANSIBLE_TEST) sanity --python 3.11 --local --color no $(addprefix --test ,$(SANITY_TESTS))
	@echo "sanity: ansible-test sanity is clean ($(words $(SANITY_TESTS)) tests; docs/TESTING.md says why the others are skipped)"

units: ansible-test-copy
	@$(ANSIBLE_TEST) units --python 3.11 --local --color no tests/unit/plugins/

integration: lab-build
	@$(PYTEST) -q tests/integration

e2e: lab-build
	@$(PYTEST) -q tests/e2e

test: lint sanity validate unit units integration e2e
	@echo "make test: all green"

# --- the runbooks site and the audit trail --------------------------------------------------------
docs: deps
	@NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --config-file $(ROOT)/mkdocs.yml --site-dir $(ROOT)/site
	@echo "docs: runbook site in site/ (publish at https://runbooks.jinbao.example/; preview: $(BIN)/mkdocs serve)"

# The chain, both copies, and (when the auditor's certificate is there) the anchors Vault holds. A site:
# make audit-verify AUDITOR=<id> VAULT=https://vault.example:8200 VAULT_CA=/etc/jinbao/vault-ca.crt
AUDITOR ?= lab-auditor
VAULT ?= https://127.0.0.1:18200
VAULT_CA ?= $(ROOT)/.lab/pki/ca.crt
AUDITOR_CERT = $(ROOT)/.pki/operators/$(AUDITOR)/$(AUDITOR)
audit-verify: deps
	@PYTHONPATH=$(ROOT)/.cache/collections $(BIN)/python -m ansible_collections.jinbao.dc.plugins.module_utils.audit.cli verify \
	  $(if $(wildcard $(AUDITOR_CERT).crt),--vault $(VAULT) --vault-ca $(VAULT_CA) --cert $(AUDITOR_CERT).crt --key $(AUDITOR_CERT).key)

# The auditor's evidence pack of a period: make evidence FROM=2026-12-01T00:00:00Z TO=2026-12-02T00:00:00Z
evidence: deps
	@test -n "$(FROM)" -a -n "$(TO)" || { echo "make evidence FROM=<UTC, RFC 3339> TO=<UTC, RFC 3339>" >&2; exit 2; }
	@JINBAO_OPERATOR=lab-auditor $(BIN)/ansible-playbook -i $(INVENTORY) playbooks/evidence.yml -e evidence_from=$(FROM) -e evidence_to=$(TO)

# --- AWX / Automation Platform ------------------------------------------------------------------------
# The execution environment's build context (execution-environment.yml): the collection built from this
# repository, then ansible-builder. Build the image where a container engine and a registry are.
ee-context: deps
	@rm -rf $(ROOT)/.cache/ee && mkdir -p $(ROOT)/.cache/ee/collection
	@$(BIN)/ansible-galaxy collection build --force --output-path $(ROOT)/.cache/ee/collection >/dev/null
	@$(BIN)/ansible-builder create -f execution-environment.yml -c $(ROOT)/.cache/ee/context --output-filename Containerfile
	@echo "ee-context: .cache/ee/context (podman build -t <registry>/jinbao-dc-ee:<version> .cache/ee/context)"

# --- benchmarks ---------------------------------------------------------------------------------
bench: bench-discover bench-migrate bench-controller bench-pki bench-netpush bench-exporters bench-gate

bench-discover: lab-build
	@$(BENCH) bench.discover.run

bench-migrate: lab-build
	@$(BENCH) bench.migrate.run

bench-pki: lab-build
	@$(BENCH) bench.pki.run

# The gate with Vault-brokered credentials against the gate it replaced; 100 devices' credentials in one call.
bench-gate: lab-build
	@$(BENCH) bench.gate.run

# Twice: on the instant simulator (the controller's cost) and with IOS-class device latency (real gear).
bench-netpush: lab-build
	@rc=0; $(BENCH) bench.netpush.run --latency none --rounds 3 || rc=$$?; \
	 $(BENCH) bench.netpush.run --latency ios --rounds 3 || rc=$$?; exit $$rc

# 2,000 backup jobs (the issue asks 10,000: `.venv/bin/python -m bench.exporters.run` takes 10-13 minutes and loads
# a 2-CPU machine heavily; see docs/BENCHMARKS.md), 500 sensors on 25 snmpsim agents, and prometheus-snmp-exporter.
bench-exporters: lab-build
	@$(BENCH) bench.exporters.run --jobs 2000

bench-controller: deps
	@$(BIN)/python bench/controller/run.py

clean: lab-down
	@if [ -x $(BIN)/python ]; then $(LABCTL) clean --inventory $(INVENTORY); fi
	rm -rf .lab .cache reports site
