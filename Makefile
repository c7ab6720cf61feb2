# The lab's two set-up commands: `make lab` (run the whole lab locally) and `make test`.
# Both install what is missing (Debian packages, .venv, pip) and are safe to run twice.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
LABKIT := $(VENV)/bin/labkit
EXTRAS := lab,notebooks,infra,dev
STAMP := $(VENV)/.installed-$(shell echo $(EXTRAS) | tr , -)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PYTHON ?= python3

.PHONY: help lab test check deps system-deps lint typecheck clean notebooks jupyter dashboard kernel \
	workshop-reset screenshots

help:
	@echo "make lab    - bring the local lab up, run it end to end, bring it down (no AWS account needed)"
	@echo "make test   - lint, type-check and run the whole test suite (what CI runs)"
	@echo "make check  - lint, type-check, unit and functional tests: no lab, no notebooks, no infra, no slow (minutes)"
	@echo "make notebooks - run the workbook headless (papermill) against the local lab -> out/notebooks/"
	@echo "make jupyter   - the local lab up, JupyterLab on 127.0.0.1 serving your working copy out/workshop/"
	@echo "make workshop-reset - replace out/workshop/ with fresh copies of the committed notebooks"
	@echo "make dashboard - the dashboard notebook as a web page (Voila) on 127.0.0.1"
	@echo "make screenshots - the README's pictures (docs/images/) from the workshop run in Chromium"
	@echo "make clean  - remove the virtualenv, caches and out/"
	@echo "AWS target (needs docker, pulumi, aws credentials; see LAMBDA-VERSIONING.md):"
	@echo "  make build | get-ecr-urls | push-images | update-pulumi-config | version-info"
	@echo "  make build-and-push-versioned VERSION=v1.0.0"
	@echo "  with a self-managed Pulumi backend (pulumi login --local): export PULUMI_CONFIG_PASSPHRASE_FILE first"

deps: system-deps $(STAMP)

# mariadb-server (the Aurora stand-in) and sysbench (traffic) from Debian, and chromium (headless, for the
# dashboard page test); the lab runs its own private mariadbd, so the distribution's service is kept from
# starting during the install (policy-rc.d).
system-deps:
	@missing=""; \
	[ -x /usr/sbin/mariadbd ] || command -v mariadbd >/dev/null || missing="$$missing mariadb-server"; \
	command -v sysbench >/dev/null || missing="$$missing sysbench"; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages:$$missing"; \
	  guard=""; if [ ! -e /usr/sbin/policy-rc.d ]; then \
	    printf '#!/bin/sh\nexit 101\n' | $(SUDO) tee /usr/sbin/policy-rc.d >/dev/null && $(SUDO) chmod +x /usr/sbin/policy-rc.d && guard=1; fi; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	  status=$$?; [ -z "$$guard" ] || $(SUDO) rm -f /usr/sbin/policy-rc.d; exit $$status; \
	fi

$(STAMP): pyproject.toml
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[$(EXTRAS)]'
	@rm -f $(VENV)/.installed-* && touch $@

lab: deps
	$(LABKIT) lab

lint: $(STAMP)
	$(VENV)/bin/ruff check labkit tests bench infrastructure notebooks
	$(VENV)/bin/ruff format --check labkit tests bench infrastructure notebooks

typecheck: $(STAMP)
	$(VENV)/bin/mypy labkit

test: deps kernel lint typecheck
	$(PY) -m pytest

# What a developer runs before a commit: the unit and functional tiers (markers set per folder by
# tests/conftest.py), without the few unit tests marked slow (Java, 110 MB through DuckDB). make test runs all.
check: $(STAMP) lint typecheck
	$(PY) -m pytest -m "(unit or functional) and not slow" tests/unit tests/functional

# --- the workbook -------------------------------------------------------------------------------------
# The lab paced for a workshop (labkit.config.PROFILES: scan every 10 s, seal an aurora file 5 s after its
# last write); a LABKIT_SCAN_INTERVAL_S or LABKIT_SEAL_AFTER_S given in the shell beats it.
WORKBOOK_ENV := LABKIT_PROFILE=workshop
KERNEL_SPEC := $(VENV)/share/jupyter/kernels/labkit/kernel.json
JUPYTER_PORT ?= 8888
DASHBOARD_PORT ?= 8866

# A kernelspec inside the venv, named labkit, running the venv's interpreter.
kernel: $(KERNEL_SPEC)
$(KERNEL_SPEC): $(STAMP)
	$(PY) -m ipykernel install --sys-prefix --name labkit --display-name "Python (labkit)"

notebooks: deps $(KERNEL_SPEC)
	$(WORKBOOK_ENV) $(LABKIT) notebooks run --out out/notebooks

# JupyterLab on loopback with a token (printed in its URL; set JUPYTER_TOKEN to choose it), serving a working
# copy of the notebooks (out/workshop, made on first use; the committed notebooks/ never get a learner's
# outputs) on the labkit kernel, with the settings in jupyter/ (no news pop-up, no language-server listing).
# The lab stays up when JupyterLab stops: 90_cleanup or `labkit local down` stops it.
WORKSHOP := $(PY) -m labkit.workbook.workshop
jupyter: deps $(KERNEL_SPEC)
	$(WORKBOOK_ENV) $(LABKIT) local up
	$(WORKBOOK_ENV) $(WORKSHOP) jupyter --port=$(JUPYTER_PORT)

workshop-reset: $(STAMP)
	$(WORKSHOP) reset

# The dashboard notebook as a page (code cells hidden), executed against the running local lab.
dashboard: deps
	$(WORKBOOK_ENV) $(LABKIT) local up
	$(WORKBOOK_ENV) $(WORKSHOP) dashboard --port=$(DASHBOARD_PORT)

# The README's pictures (docs/images/): the browser test drives the workshop and the dashboard page in
# Chromium (its own local lab, free ports) and saves screenshots in out/screenshots/; they are then shrunk.
screenshots: deps $(KERNEL_SPEC)
	$(PY) -m pytest -q tests/notebooks/test_workshop_in_browser.py
	$(WORKSHOP) pictures

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache build *.egg-info

include infrastructure/images.mk
clean: clean-images
