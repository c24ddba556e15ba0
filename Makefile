# catd-node — the two commands a newcomer needs: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
RUN_STAMP := $(VENV)/.run-stamp
APT_PACKAGES := chromium sane-utils iproute2 postgresql

.PHONY: run test test-fast lint bench venv system-deps clean

# Everything, test tools included (make test, make lint). It also satisfies `make run`.
$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@ $(RUN_STAMP)

venv: $(STAMP)

# What the demo needs and no more: the package and its dependencies, without the test extras.
$(RUN_STAMP): setup.cfg pyproject.toml
	@echo "installing catd-node into $(VENV) (once; a minute or two)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --disable-pip-version-check -e .
	@touch $@

# Debian packages the tests drive for real: chromium (browser tests), sane-utils (scanimage),
# iproute2 (ip netns, veth and tc: the sync test over a shaped link), postgresql (every HQ
# test also runs on a PostgreSQL server the tests start: tests/pgserver.py).
system-deps:
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v scanimage >/dev/null || missing="$$missing sane-utils"; \
	{ command -v ip >/dev/null && command -v tc >/dev/null; } || missing="$$missing iproute2"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

run: $(RUN_STAMP)
	@$(PY) -m simulacro.demo

# Two workers: the suite waits on child processes and servers as much as it computes, so two
# processes on two cores take it from 12.6 to 8.8 minutes (measured on the idle machine).
test: venv system-deps
	$(PY) -m pytest -n 2

test-fast: venv
	$(PY) -m pytest -n 2 -m "not slow and not browser"

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy catd_node scanners sync hq simulacro

bench: venv
	@for b in benchmarks/*.py; do echo "== $$b"; \
	  case $$b in benchmarks/night.py) args="--hours 2 --catds 30 --actas 2000 --speed 30";; *) args="";; esac; \
	  $(PY) $$b $$args || exit 1; done
	@echo "(the full night: .venv/bin/python benchmarks/night.py, ~35 min; see benchmarks/RESULTS.md)"

clean:
	rm -rf $(VENV) demo-data .pytest_cache .ruff_cache .mypy_cache
