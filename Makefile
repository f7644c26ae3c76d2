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

.PHONY: help deps demo test lab-up lab-down lab-reset lab-status lab-build validate lint syntax unit integration e2e \
        docs audit-verify evidence bench bench-discover bench-controller bench-migrate bench-pki bench-netpush bench-exporters \
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

LAB_REQUIREMENTS := lab/fakenos/requirements.txt lab/fakeswitch/requirements.txt

$(STAMPS)/venv: requirements.txt requirements-dev.txt $(LAB_REQUIREMENTS) lab/fakeswitch/requirements-nodeps.txt $(STAMPS)/apt
	@test -x $(BIN)/python || /usr/bin/python3 -m venv $(VENV)
	@echo "Installing Python packages into .venv (pinned in requirements*.txt and the lab's)"
	@$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	@$(BIN)/python -m pip install -q --no-compile --disable-pip-version-check -r requirements.txt -r requirements-dev.txt \
	  $(addprefix -r ,$(LAB_REQUIREMENTS))
	@# fake-switches declares Twisted<17, which does not build on Python 3.11; its real needs are above.
	@$(BIN)/python -m pip install -q --no-compile --disable-pip-version-check --no-deps -r lab/fakeswitch/requirements-nodeps.txt
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
	@$(BIN)/python lab/labctl.py build

# --- the lab ------------------------------------------------------------------------------------
lab-up: deps
	@$(BIN)/python lab/labctl.py up --inventory $(INVENTORY)

lab-down:
	@if [ -x $(BIN)/python ]; then $(BIN)/python lab/labctl.py down --inventory $(INVENTORY); \
	 else echo "no .venv: nothing of the lab can be running"; fi

lab-reset:
	@if [ -x $(BIN)/python ]; then $(BIN)/python lab/labctl.py reset --inventory $(INVENTORY); \
	 else echo "no .venv: nothing of the lab can be running"; fi

lab-status: deps
	@$(BIN)/python lab/labctl.py status --inventory $(INVENTORY)

# --- the main job ------------------------------------------------------------------------------
# The main job, then the auditor's evidence pack of exactly that run (its start and end records in the audit log).
demo: lab-up
	@$(BIN)/ansible-playbook -i $(INVENTORY) playbooks/site.yml
	@$(BIN)/ansible-playbook -i $(INVENTORY) playbooks/evidence.yml -e '{"evidence_from": "run start", "evidence_to": "run end"}'

# --- checks -------------------------------------------------------------------------------------
validate: deps
	@for inv in inventory/lab inventory/example; do \
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

integration: lab-build
	@$(PYTEST) -q tests/integration

e2e: lab-build
	@$(PYTEST) -q tests/e2e

test: lint validate unit integration e2e
	@echo "make test: all green"

# --- the runbooks site and the audit trail --------------------------------------------------------
docs: deps
	@NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --config-file $(ROOT)/mkdocs.yml --site-dir $(ROOT)/site
	@echo "docs: runbook site in site/ (publish at https://runbooks.jinbao.example/; preview: $(BIN)/mkdocs serve)"

audit-verify: deps
	@PYTHONPATH=$(ROOT)/.cache/collections $(BIN)/python -m ansible_collections.jinbao.dc.plugins.module_utils.audit.cli verify

# The auditor's evidence pack of a period: make evidence FROM=2026-12-01T00:00:00Z TO=2026-12-02T00:00:00Z
evidence: deps
	@test -n "$(FROM)" -a -n "$(TO)" || { echo "make evidence FROM=<UTC, RFC 3339> TO=<UTC, RFC 3339>" >&2; exit 2; }
	@$(BIN)/ansible-playbook -i $(INVENTORY) playbooks/evidence.yml -e evidence_from=$(FROM) -e evidence_to=$(TO)

# --- benchmarks ---------------------------------------------------------------------------------
bench: bench-discover bench-migrate bench-controller bench-pki bench-netpush bench-exporters

bench-discover: lab-build
	@$(BIN)/python bench/discover/run.py

bench-migrate: lab-build
	@$(BIN)/python bench/migrate/run.py

bench-pki: lab-build
	@$(BIN)/python bench/pki/run.py

# Twice: on the instant simulator (the controller's cost) and with IOS-class device latency (real gear).
bench-netpush: lab-build
	@rc=0; $(BIN)/python bench/netpush/run.py --latency none --rounds 3 || rc=$$?; \
	 $(BIN)/python bench/netpush/run.py --latency ios --rounds 3 || rc=$$?; exit $$rc

# 2,000 backup jobs (the issue asks 10,000: `.venv/bin/python bench/exporters/run.py` takes 10-13 minutes and loads
# a 2-CPU machine heavily; see docs/BENCHMARKS.md), 500 sensors on 25 snmpsim agents, and prometheus-snmp-exporter.
bench-exporters: lab-build
	@$(BIN)/python bench/exporters/run.py --jobs 2000

bench-controller: deps
	@$(BIN)/python bench/controller/run.py

clean: lab-down
	rm -rf .lab .cache reports site
