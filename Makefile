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

.PHONY: help lab test deps system-deps lint typecheck unit clean

help:
	@echo "make lab    - bring the local lab up, run it end to end, bring it down (no AWS account needed)"
	@echo "make test   - lint, type-check and run the test suite"
	@echo "make clean  - remove the virtualenv, caches and out/"

deps: system-deps $(STAMP)

# mariadb-server (the Aurora stand-in) and sysbench (traffic) from Debian; the lab runs its own private
# mariadbd, so the distribution's service is kept from starting during the install (policy-rc.d).
system-deps:
	@missing=""; \
	[ -x /usr/sbin/mariadbd ] || command -v mariadbd >/dev/null || missing="$$missing mariadb-server"; \
	command -v sysbench >/dev/null || missing="$$missing sysbench"; \
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
	$(VENV)/bin/ruff check labkit tests bench infrastructure
	$(VENV)/bin/ruff format --check labkit tests bench infrastructure

typecheck: $(STAMP)
	$(VENV)/bin/mypy labkit

test: deps lint typecheck
	$(PY) -m pytest

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache build *.egg-info

include infrastructure/images.mk
clean: clean-images
