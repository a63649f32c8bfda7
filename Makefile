# apiplatform.ha — one entry point per check. `make lab` brings up the 3-site lab and deploys
# the platform into it; `make test` runs every test layer and fails when any layer fails.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
PY := $(BIN)/python
export PATH := $(BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/.collections
export ANSIBLE_FORCE_COLOR ?= 0
export PY_COLORS ?= 0
LAB_INVENTORY := molecule/inventory/hosts.yml
SCENARIOS ?= default

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.txt
	python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

.PHONY: venv
venv: $(VENV)/.installed ## Python virtualenv with the pinned controller packages

.PHONY: collections
collections: venv ## Extract the community collections from the ansible wheel (no Galaxy)
	bash scripts/collections.sh

.PHONY: host
host: ## Docker engine running and the lab's base image built (installs what is missing)
	bash scripts/lab-host.sh all
	bash scripts/host-packages.sh

.PHONY: deps
deps: venv collections host

.PHONY: lab
lab: deps ## Bring up the 3-site lab, deploy the whole platform, print its health
	molecule converge -s default
	ansible-playbook -i $(LAB_INVENTORY) playbooks/health.yml
	@bash scripts/lab-endpoints.sh

.PHONY: lab-health
lab-health: venv collections ## Print the lab's health table again
	ansible-playbook -i $(LAB_INVENTORY) playbooks/health.yml

.PHONY: lab-destroy
lab-destroy: venv collections ## Remove only the lab's containers, networks and volumes
	molecule destroy -s default

.PHONY: drill-replace
drill-replace: deps ## On a converged lab (make lab): replace dc2-node2 by an empty server with the same name
	MOLECULE_PROJECT_DIRECTORY=$(CURDIR) ansible-playbook -i $(LAB_INVENTORY) molecule/default/drill_replace.yml

.PHONY: drill-lsyncd
drill-lsyncd: deps ## On a converged lab (make lab): continuous replication with lsyncd from dc1 to dc2, then off
	MOLECULE_PROJECT_DIRECTORY=$(CURDIR) ansible-playbook -i $(LAB_INVENTORY) molecule/default/drill_lsyncd.yml

.PHONY: drill-artifacts
drill-artifacts: deps ## On a converged lab (make lab): app_service from http URLs (an archive, then a .deb), a bad checksum refused
	MOLECULE_PROJECT_DIRECTORY=$(CURDIR) ansible-playbook -i $(LAB_INVENTORY) molecule/default/drill_artifacts.yml

.PHONY: lint
lint: venv collections ## ruff, yamllint, ansible-lint (production profile, offline)
	ruff check .
	ruff format --check .
	yamllint --strict .
	ansible-lint --offline

.PHONY: sanity
sanity: venv collections ## ansible-test sanity (offline-capable)
	bash scripts/sanity.sh

.PHONY: unit
unit: venv collections ## pytest unit tests
	$(PY) -m pytest tests/unit -q

.PHONY: integration
integration: deps ## pytest integration tests against real servers on loopback
	$(PY) -m pytest tests/integration -q

.PHONY: molecule
molecule: deps ## every molecule scenario (create, converge, idempotence, verify, drills, destroy)
	bash scripts/molecule-test.sh $(SCENARIOS)

.PHONY: build
build: venv ## Build the collection tarball and install it offline into a scratch path
	bash scripts/build-collection.sh

.PHONY: test
test: lint sanity unit build integration molecule ## Every test layer

.PHONY: bench
bench: deps ## Benchmarks, printed as tables
	$(PY) tests/bench/run.py

TIERS ?= pg,rmq,apps,shared_fs
.PHONY: bench-converge
bench-converge: deps ## Fresh lab, first converge and no-change rerun of site.yml, their ratio; the lab is kept
	$(PY) tests/bench/run.py --converge-only

.PHONY: bench-lab
bench-lab: deps ## On a converged lab (make lab): only the tiers' rows, lab kept (TIERS=pg,rmq,apps,shared_fs)
	$(PY) tests/bench/run.py --existing-lab $(TIERS)
