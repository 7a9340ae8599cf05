# The two commands of the README:
#   make all    install into .venv (if needed) and run `snakemake all` at the configured (quick) scale
#   make test   install into .venv (if needed) and run the test suite (what CI runs)
PYTHON ?= python3
VENV ?= .venv
CORES ?= all
BIN := $(VENV)/bin

.PHONY: all test test-slurm setup lint report clean-results

all: setup
	$(BIN)/snakemake --cores $(CORES) all

test: setup
	$(BIN)/python -m pytest -q

# The Slurm profile against a real one-node Slurm on localhost (installs Debian's slurm and munge; needs root).
test-slurm: setup
	$(BIN)/python -m pip install --quiet "snakemake-executor-plugin-slurm==2.8.0"
	bash tests/slurm/slurm_test.sh $(abspath $(BIN))/python

# torch is pinned to the CPU wheel on disk here; pyproject.toml keeps a loose range for users elsewhere.
setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

lint: setup
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check .

# Reports the targets that are built and names the missing ones (snakemake --report alone stops at the first).
report: setup
	$(BIN)/python -m assocmem report --out results/report.html

clean-results:
	rm -rf results logs .test/results .test/logs
