# Doctor: fault-management verification suite for OpenStack clouds.
#   make run    the main job: the lab (unless another cloud is configured),
#               then the fault-management scenario with its report in results/
#   make test   the tests: lint, unit tests, playbook syntax, the lab, end to end
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
RESULTS ?= results
# No other cloud configured (no OS_CLOUD, no OS_AUTH_URL) -> the lab.
USE_LAB := $(if $(or $(OS_AUTH_URL),$(filter-out doctor-lab,$(OS_CLOUD))),,yes)
export INSTALLER_TYPE ?= local

.PHONY: help venv lab lab-down lab-status run test lint unit netns syntax layouts package e2e bench xtesting clean

help:
	@sed -n '2,5p' Makefile

venv: $(BIN)/.installed
# uv installs in seconds what pip took a minute or more for; tox-uv makes tox's own
# environments with it too (make run's first tox -e fault_management).
$(BIN)/.installed: pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check 'uv>=0.5,<1'
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[test]' tox tox-uv ansible-lint
	touch $@

lab: venv
	$(BIN)/doctor lab up

lab-down: venv
	$(BIN)/doctor lab down

lab-status: venv
	$(BIN)/doctor lab status

run: venv
ifeq ($(USE_LAB),yes)
	$(BIN)/doctor lab up
endif
	$(BIN)/tox -e fault_management

lint: venv
	$(BIN)/ruff check .
	$(BIN)/mypy

unit: venv
	mkdir -p $(RESULTS)
	$(BIN)/pytest tests/unit -q -p no:cacheprovider --junitxml=$(RESULTS)/unit.xml

syntax: venv
	for inv in inventory/*/; do for pb in playbooks/*.yml; do \
	  $(BIN)/ansible-playbook -i $$inv --syntax-check $$pb > /dev/null || exit 1; \
	  echo "syntax ok: $$pb with $$inv"; done; done
	$(BIN)/ansible-lint -q playbooks roles

# The wheel in a fresh virtualenv outside the checkout: scenarios collected, options, data
package: venv
	tests/package/check_wheel.sh

# The faults and the collectd monitor for real in namespaces of the tests' own (root; no lab)
netns: venv
	mkdir -p $(RESULTS)
	$(BIN)/pytest tests/netns -q -p no:cacheprovider --junitxml=$(RESULTS)/netns.xml

# The scenarios from the package (as an installed wheel runs them), then Ctrl-C to make run;
# both monitors, so that the fault catalogue runs every fault with every monitor that sees it;
# then each peer's scenario once (docs/peers.md): fault management handled by Vitrage, the
# recovery by Masakari (the first run skips it: it drives INSPECTOR_TYPE=masakari)
e2e: venv
	mkdir -p $(RESULTS)
	TEST_CASE=all MONITOR_TYPE=sample,collectd $(BIN)/pytest --pyargs doctor_tests.scenarios tests/e2e -v -p no:cacheprovider -m lab --junitxml=$(RESULTS)/e2e.xml
	TEST_CASE=fault_management INSPECTOR_TYPE=vitrage MONITOR_TYPE=sample DOCTOR_RESULTS_DIR=$(RESULTS)/vitrage $(BIN)/pytest --pyargs doctor_tests.scenarios -v -s -p no:cacheprovider -m fault --junitxml=$(RESULTS)/e2e-vitrage.xml
	TEST_CASE=recovery INSPECTOR_TYPE=masakari MONITOR_TYPE=sample DOCTOR_RESULTS_DIR=$(RESULTS)/masakari $(BIN)/pytest --pyargs doctor_tests.scenarios -v -s -p no:cacheprovider -m fault --junitxml=$(RESULTS)/e2e-masakari.xml

test: lint unit netns syntax layouts package lab e2e

# The benchmark on the lab (issues 7, 18): docs/benchmarks/latest.json, README.md,
# notification.svg; then the fault x monitor matrix (issue 19): fault-matrix.json and .md
bench: venv
	$(BIN)/doctor bench
	$(BIN)/python -m doctor_tests.bench.matrix --runs 5

# Doctor as an Xtesting case on the lab (docs/xtesting.md): real run_tests, file:// results
xtesting: venv lab
	tests/xtesting/run.sh

clean:
	rm -rf $(VENV) .tox $(RESULTS)

# Layout tests (issue 17): prepare/restore against what Kolla-Ansible (rendered from its
# release package), DevStack and TripleO write; no cloud, no lab. Needs the Python index.
layouts: venv
	rm -rf $(RESULTS)/layouts-real
	$(BIN)/python tests/ansible/real/builders.py
	$(BIN)/pytest tests/ansible/real -q -p no:cacheprovider -n 8 --junitxml=$(RESULTS)/layouts.xml
	$(BIN)/python tests/ansible/real/figures.py $(RESULTS)/layouts-real
