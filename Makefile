# Two entry points for a new user: `make run` (set up, then run the main job on the shipped
# default) and `make test` (set up, then run the test suite). Everything else is a helper.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip

.PHONY: run test lint setup system-deps

run: setup
	$(VENV)/bin/mlrobust --threads 1 evaluate

test: setup system-deps lint
	@$(PY) -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 0; fi; exit $$rc

# ruff (lint and format) and mypy with torch installed, so tensor types are checked too
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy mlrobust

setup: $(VENV)/.installed

# torch==2.13.0 first: on these machines it is a CPU build on local disk (any other version
# downloads several GB). torchattacks is installed without dependencies so torchvision never
# enters the environment (it does not import beside this torch).
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[dev,gurobi,ray]'
	$(PIP) install -q --no-deps 'torchattacks>=3.5'
	touch $@

# WordNet 3.0 for the graph builder and Chromium for the report browser test (Debian packages).
system-deps:
	@missing=""; \
	[ -f /usr/share/wordnet/index.sense ] || missing="$$missing wordnet-base wordnet-sense-index"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	if [ -n "$$missing" ] && command -v apt-get >/dev/null; then \
		echo "installing Debian packages:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi
