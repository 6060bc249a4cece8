# make demo   - one-command local demo: build, deploy in the local agent harness beside the
#               example principal, backup (full, incremental), list, restore, compare (root;
#               in a private mount namespace: leaves nothing on the machine; offline once
#               its prerequisites, apt packages, test venv and wheels, are installed)
# make charm  - build the charm you deploy into ./build/duplicity: the real layer:basic and
#               layer:options at the commits pinned in build-layers.txt (git-fetched into
#               ./build/layers, or CHARM_LAYERS_DIR=/path/to/layers), interface:backup from
#               ./interfaces; fails on any charm proof warning. (`charmcraft pack` builds
#               .charm files the same way.) make build is the same target.
# make test   - install what the tests need (root), then run every test
# make lint   - ruff; vermin: the stdlib-only modules stay Python 3.8 compatible
# make bench  - benchmarks (not tests): prints a table, writes bench-results/*.json
#               (BENCH_ARGS=--quick: 50 MB smoke run; see tests/bench/run.py --help)

PYTHON ?= python3
VENV ?= $(CURDIR)/.venv
BUILD_DIR ?= $(CURDIR)/build
PYTEST_ARGS ?=
TEST_WORKERS ?= 2
# the first pass's workers wait on hooks, servers and duplicity: 3 keep 2 cores busy
E2E_WORKERS ?= $(if $(filter 0,$(TEST_WORKERS)),0,3)
BENCH_ARGS ?=
WHEELS = $(CURDIR)/tests/.wheels
export CHARM_INTERFACES_DIR := $(CURDIR)/interfaces

.PHONY: demo build charm test test-exclusive test-unit unit e2e lint bench setup system apt azurite duplicity-versions wheels clean

$(VENV)/.done: tests/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r tests/requirements.txt
	$(VENV)/bin/python tests/setup/debian_shim.py $(VENV)
	touch $@

# charm build refuses an output directory inside the source: tests/harness/build.py builds
# from a staged copy (the tests build the same way, on the test-only stand-in for
# layer:basic unless HARNESS_REAL_LAYERS=1). --deployable: never the stand-in.
charm: $(VENV)/.done
	PATH=$(VENV)/bin:$$PATH $(VENV)/bin/python tests/harness/build.py --deployable . $(BUILD_DIR)
	test -x $(BUILD_DIR)/duplicity/hooks/install

build: charm

# Every wheel the test build (charm-tools' wheelhouse step) and the harness's unit venvs
# install, downloaded once (tests/setup/download_wheels.py): with it the builds and the
# first deployments need no network. Fetched again when what they need changes.
$(WHEELS)/manifest.json: tests/setup/download_wheels.py tests/harness/wheels.py \
		tests/harness/venv.py $(wildcard wheelhouse.txt tests/charms/*/wheelhouse.txt \
		tests/layers/*/wheelhouse.txt interfaces/*/wheelhouse.txt) | $(VENV)/.done
	$(VENV)/bin/python tests/setup/download_wheels.py $(WHEELS)

wheels: $(WHEELS)/manifest.json

# Needs the apt packages (duplicity, gnupg, ...), the test venv (charm-tools, the harness)
# and the wheels; then it runs without network.
demo: apt $(VENV)/.done wheels
	PATH=$(VENV)/bin:$$PATH $(VENV)/bin/python tests/demo.py

# What the tests need: apt packages first (the rest builds on them), then the Azurite npm
# install, the duplicity venvs and the test venv (then the wheels) side by side (mostly
# downloads).
apt:
	SKIP_AZURITE=1 bash tests/setup/install-system.sh

azurite:
	SKIP_APT=1 bash tests/setup/install-system.sh

duplicity-versions:
	bash tests/setup/install-duplicity-versions.sh

system: apt
	$(MAKE) azurite duplicity-versions

setup: apt
	$(MAKE) -j3 --output-sync=target azurite duplicity-versions $(VENV)/.done wheels

unit: $(VENV)/.done
	$(VENV)/bin/pytest -q unit_tests $(PYTEST_ARGS)

# Two passes (TEST_WORKERS=0: each in one process, one after the other): first, on
# E2E_WORKERS pytest-xdist workers, the tests that deploy units and may share the machine;
# then the tests marked exclusive (a real cron daemon runs every unit's schedule, NRPE is one
# daemon per machine) in one process, one after the other, while the unit tests run beside
# them on TEST_WORKERS workers. (xdist cannot keep tests of several files on one worker:
# loadgroup does nothing with pytest 9.2, pytest-xdist issue #1386; in any other run the
# machine's test lock in tests/conftest.py keeps them apart.) Workers take whole files, longest first
# (LONGEST_FIRST in tests/conftest.py; xdist's own order, most tests first, would start a
# long file last).
PYTEST = $(VENV)/bin/pytest -q -p no:cacheprovider --durations=25
XDIST_ORDER = --dist loadfile --no-loadscope-reorder
test: setup lint
	$(PYTEST) -n $(E2E_WORKERS) $(XDIST_ORDER) -m "not exclusive and not unit" unit_tests tests $(PYTEST_ARGS)
	$(MAKE) --no-print-directory --output-sync=target -j$(if $(filter 0,$(TEST_WORKERS)),1,2) \
		test-exclusive test-unit

# the second pass's two halves (make test runs them side by side)
test-exclusive: $(VENV)/.done
	$(PYTEST) -n 0 -m exclusive tests $(PYTEST_ARGS)

test-unit: $(VENV)/.done
	$(PYTEST) -n $(TEST_WORKERS) $(XDIST_ORDER) -m unit unit_tests tests $(PYTEST_ARGS)

# Everything that runs on a unit stays Python 3.8 compatible: on focal the system python3
# (the cron runner, the NRPE plugin) and the hooks' venv are 3.8.
PY38_MODULES = lib reactive actions/actions.py interfaces files/check_duplicity_backup tools
lint: $(VENV)/.done
	$(VENV)/bin/ruff check lib reactive actions interfaces files/check_duplicity_backup tools unit_tests tests
	$(VENV)/bin/vermin -t=3.8- --no-tips --violations --eval-annotations $(PY38_MODULES)

bench: setup
	$(VENV)/bin/python tests/bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(BUILD_DIR) $(VENV) tests/.work $(WHEELS)
