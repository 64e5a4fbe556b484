# studykit: `make all` sets everything up and builds; `make test` runs the tests.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
SLUG := $(shell sed -n 's/^slug: *//p' content/deck.yaml 2>/dev/null)
OUTPUTS := build/$(SLUG).apkg build/$(SLUG).pdf build/$(SLUG).html build/$(SLUG).full.pdf build/$(SLUG).cards.pdf
SOURCES := $(shell find content templates generator -type f ! -name '*.pyc' 2>/dev/null)
# Figures: content/figures/src/<name>.py draws content/figures/<name>.svg; common.py is their shared style.
FIGURES := $(patsubst content/figures/src/%.py,content/figures/%.svg,$(filter-out %/common.py,$(wildcard content/figures/src/*.py)))

.PHONY: all check test lint clean distclean bench

all: $(OUTPUTS)

$(INSTALLED): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

# One run of the generator writes all three outputs (grouped target).
$(OUTPUTS) &: $(INSTALLED) $(SOURCES) $(FIGURES)
	$(BIN)/studykit build --content content --output build

# The SVGs are committed; one is redrawn only when its script or the shared style is newer than it. The venv is an
# order-only prerequisite, so (re)installing it does not redraw every figure.
content/figures/%.svg: content/figures/src/%.py content/figures/src/common.py | $(INSTALLED)
	$(BIN)/python $<

# Synthetic banks of 100 and 1,000 notes: stage times, memory, and the issue-6 targets (bench/README.md).
# 5,000 notes takes far longer than 15 minutes here: make bench BENCH_ARGS="--sizes 100,1000,5000".
bench: $(INSTALLED)
	$(BIN)/python bench/bench.py $(BENCH_ARGS)

check: $(INSTALLED)
	$(BIN)/studykit check --content content

test: $(INSTALLED)
	$(BIN)/python -m pytest

lint: $(INSTALLED)
	$(BIN)/ruff check generator tests
	$(BIN)/ruff format --check generator tests
	$(BIN)/mypy

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache

distclean: clean
	rm -rf $(VENV) *.egg-info

# Rebuilds generator/engines/mathjax_bundle.js from the pinned npm packages (needs Node and npm).
mathjax:
	tools/mathjax/build.sh
.PHONY: mathjax
