# aimachine: the admin's verbs. `make` (or `make help`) lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
AIMACHINE := $(BIN)/aimachine
CATALOG ?= catalog.yml
VM ?= vm-llm-aimachine
export AIMACHINE_CATALOG := $(CATALOG)

# Lab targets need the same credentials the bpg Terraform provider reads.
define require_lab_env
	@missing=""; for v in PROXMOX_VE_ENDPOINT PROXMOX_VE_API_TOKEN; do \
	  [ -n "$${!v}" ] || missing="$$missing $$v"; done; \
	if [ -n "$$missing" ]; then \
	  echo "error: not set:$$missing (see docs: The API token). PROXMOX_VE_INSECURE=true accepts a self-signed certificate." >&2; \
	  exit 2; fi
endef

REHEARSE_ARGS ?=

.PHONY: help setup wheelhouse engines test-host tools rehearse test test-fast mutate check-pins lint docs fmt lab-env deploy-vm-llm-aimachine verify ssh test-ping bench preflight provision status destroy configure plan test-acceptance upgrade-driver

help: ## List the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | \
	  awk 'BEGIN {FS = ":.*## "}; {printf "  %-26s %s\n", $$1, $$2}'

$(BIN)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[test]'
	@touch $@

setup: $(BIN)/.installed ## Create .venv and install aimachine (editable) with test tools

# aimachine's dependencies (and setuptools to build it) as wheels, outside the checkout: the test that
# installs the built wheel into a fresh venv takes them from here, never from a registry
WHEELHOUSE ?= $(HOME)/.cache/aimachine/wheels
export AIMACHINE_WHEELHOUSE := $(WHEELHOUSE)
$(WHEELHOUSE)/.filled: pyproject.toml constraints.txt $(BIN)/.installed
	$(BIN)/python -m pip wheel -q -w $(WHEELHOUSE) -c constraints.txt 'setuptools>=77' \
	  $$($(BIN)/python -c 'from importlib.metadata import requires; print(*[r for r in requires("aimachine") if "extra ==" not in r])')
	@touch $@

wheelhouse: $(WHEELHOUSE)/.filled ## Fill ~/.cache/aimachine/wheels with aimachine's dependencies (for the wheel install test)

test-host: $(BIN)/.installed ## Fill ~/.cache/aimachine/ubuntu-archive and build the Ubuntu 24.04 test host (once per machine; as root)
	$(BIN)/python -m aimachine.rehearsal.archive_fill

tools: ## Build (once) the pinned bpg/proxmox provider, OpenTofu if no Terraform >= 1.5, and Ollama's release asset: aimachine/tools/pins.env
	tools/build.sh

engines: $(BIN)/.installed ## Fill ~/.cache/aimachine/engine-wheels (once): vLLM 0.32.0's wheels and its CPU build, ~4 GB, for the engine tests
	$(BIN)/python -m aimachine.rehearsal.engine_wheels

rehearse: $(BIN)/.installed tools test-host ## Rehearse the deploy of VM on a built-in Proxmox host, no token needed; as root with a local guest (REHEARSE_ARGS=--scenario gpu-busy)
	$(AIMACHINE) rehearse $(VM) $(REHEARSE_ARGS)

test: $(BIN)/.installed tools wheelhouse engines test-host ## Run the whole test suite (what CI runs; builds the Terraform tools first) and name the slowest
	$(BIN)/python -m pytest --durations=15

test-fast: $(BIN)/.installed ## The fast tier: pure, golden, @fake and docs tests (under a minute; no venvs, pip or containers)
	$(BIN)/python -m pytest tests/unit tests/deploy tests/docs --durations=5

test-acceptance: $(BIN)/.installed ## The nine acceptance scenarios (simulator + test host; AIMACHINE_LAB=1: the real lab)
	$(BIN)/python -m pytest tests/bdd/ -v -m acceptance

MUTMUT_VERSION ?= 3.8.1

mutate: $(BIN)/.installed tools ## Mutation testing (mutmut) of the safety promises and pure judges: >= 90 % killed per module (docs/TESTING.md)
	$(BIN)/python -m pip install -q 'mutmut==$(MUTMUT_VERSION)'
	@echo "mutmut run (its progress: mutants/run.log) ..."
	@$(BIN)/mutmut run > mutants-run.log 2>&1 || { tail -30 mutants-run.log; exit 1; }
	@mv mutants-run.log mutants/run.log
	$(BIN)/python tools/mutation_report.py --min 90

check-pins: $(BIN)/.installed ## Ask PyPI whether the catalog's vLLM pin exists and fits its Python and CUDA toolkit (needs the network)
	$(BIN)/python tools/check_pins.py --catalog $(CATALOG)

docs: $(BIN)/.installed ## Regenerate the catalog field tables in docs/catalog.md and docs/configuration.md from the schema
	$(BIN)/python tools/docs.py

lint: $(BIN)/.installed ## ruff check, and terraform fmt -check when terraform is installed
	$(BIN)/ruff check .
	@if command -v terraform >/dev/null; then terraform fmt -check -recursive aimachine/terraform; \
	  else echo "terraform not installed: skipped terraform fmt -check"; fi

fmt: $(BIN)/.installed ## Format Python (ruff) and Terraform files
	$(BIN)/ruff check --fix .
	@if command -v terraform >/dev/null; then terraform fmt -recursive aimachine/terraform; fi

lab-env: ## Check that the Proxmox API variables are set (the lab targets do this first)
	$(require_lab_env)

preflight: lab-env $(BIN)/.installed ## Check the Proxmox host for VM (default vm-llm-aimachine), read-only
	$(AIMACHINE) preflight $(VM)

provision: lab-env $(BIN)/.installed ## Create or update VM on Proxmox (preflight, cloud-init, Terraform, boot)
	$(AIMACHINE) provision $(VM)

deploy-vm-llm-aimachine: lab-env $(BIN)/.installed ## Deploy vm-llm-aimachine end to end: check, provision, configure, verify
	$(AIMACHINE) deploy vm-llm-aimachine

plan: lab-env $(BIN)/.installed ## Show what a deploy of the VM would change, changing nothing (VM=name)
	$(AIMACHINE) plan $(VM)

verify: $(BIN)/.installed ## Check the running VM against the acceptance criteria (VM=name)
	$(AIMACHINE) verify $(VM)

ssh: $(BIN)/.installed ## Open a shell on the VM as its login user (VM=name)
	$(AIMACHINE) ssh $(VM)

test-ping: $(BIN)/.installed ## Ping the VM three times (VM=name)
	ping -c 3 "$$($(AIMACHINE) address $(VM))"

bench: $(BIN)/.installed ## Benchmark vLLM and Ollama on $(VM) through SSH: TTFT, tokens/s, roofline (BENCH_ARGS=...)
	$(AIMACHINE) bench $(VM) $(BENCH_ARGS)

status: lab-env $(BIN)/.installed ## Show the VM at a glance: state, address, GPU, services (VM=name)
	$(AIMACHINE) status $(VM)

destroy: lab-env $(BIN)/.installed ## Destroy the VM after checking its id and name, asks first (VM=name)
	$(AIMACHINE) destroy $(VM)
configure: $(BIN)/.installed ## Configure the VM named by VM= (default vm-llm-aimachine) with pyinfra; a re-run changes nothing
	$(AIMACHINE) configure $(VM)
upgrade-driver: $(BIN)/.installed ## Move the VM's held NVIDIA driver and kernel together to the newest (or nvidia.driver_branch); says if a reboot is needed (VM=name)
	$(AIMACHINE) configure $(VM) --upgrade-driver
