# studykit: `make all` sets everything up and builds; `make test` runs the tests.
SHELL := /bin/bash
# The Python the virtual environment is made from: the system's /usr/bin/python3 when it is 3.11 or newer, else the
# first python3 on PATH (`make all PYTHON=...` chooses). Distributions build their Python with profile-guided and
# link-time optimisation; pyenv and asdf build theirs without by default, and studykit is mostly pure Python
# (WeasyPrint, Python-Markdown): on this machine a loop runs 28 % faster on Debian's 3.11.2 than on pyenv's
# 3.11.7, the booklet and card tests 12 % faster, the whole suite 6 %.
PYTHON ?= $(shell /usr/bin/python3 -c 'import sys, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
	&& echo /usr/bin/python3 || echo python3)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
# The outputs are whatever the writer registry writes (generator/writers/); this file lists what the last
# build wrote, so that a deleted output is noticed and built again.
BUILT := build/.built
# Directories are prerequisites too: deleting or renaming a note changes its folder's time, not any file's.
SOURCES := $(shell find content templates generator ! -name '*.pyc' ! -name __pycache__ 2>/dev/null)
GONE := $(shell [ -f $(BUILT) ] && while read -r f; do [ -e "$$f" ] || echo "$$f"; done < $(BUILT))
# Figures: the English deck's figures/src/<name>.py draws figures/<name>.svg (common.py is their shared style);
# the Chinese edition shows the same drawings, copied.
FIGDIR := content/dl-interview-51-65/figures
ZH_FIGDIR := content/dl-interview-51-65-zh/figures
FIGURES := $(patsubst $(FIGDIR)/src/%.py,$(FIGDIR)/%.svg,$(filter-out %/common.py,$(wildcard $(FIGDIR)/src/*.py)))
FIGURES += $(patsubst $(FIGDIR)/%,$(ZH_FIGDIR)/%,$(FIGURES))

.PHONY: all check test lint clean clean-cache distclean bench readme FORCE

all: $(BUILT)

$(INSTALLED): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

# One run of the generator writes every output of every deck, then records what it wrote.
$(BUILT): $(INSTALLED) $(SOURCES) $(FIGURES) $(if $(GONE),FORCE)
	$(BIN)/studykit build --content content --output build
	@find build -maxdepth 1 -type f ! -name '.*' | sort > $@

# The SVGs are committed; one is redrawn only when its script or the shared style is newer than it. The venv is an
# order-only prerequisite, so (re)installing it does not redraw every figure.
$(FIGDIR)/%.svg: $(FIGDIR)/src/%.py $(FIGDIR)/src/common.py | $(INSTALLED)
	$(BIN)/python $<

$(ZH_FIGDIR)/%.svg: $(FIGDIR)/%.svg
	cp $< $@

# Synthetic banks of 100 and 1,000 notes: stage times, memory, and the issue-6 targets; then the issue-14
# targets (bench/targets.py: the shipped deck, 100 and 1,000 notes, every output). See bench/README.md.
# 5,000 notes takes far longer: make bench BENCH_ARGS="--sizes 100,1000,5000" TARGET_ARGS="--sizes 15,100,1000,5000".
bench: $(INSTALLED)
	$(BIN)/python bench/math_corpus.py; $(BIN)/python bench/bench.py $(BENCH_ARGS); \
	$(BIN)/python bench/targets.py $(TARGET_ARGS)

check: $(INSTALLED)
	$(BIN)/studykit check --content content

# One pytest worker per core; each test file runs whole on one worker, so its module fixtures are made once, and
# the files go out longest first (tests/conftest.py, LONGEST_FIRST).
PYTEST_ARGS ?= -n auto --dist loadfile --no-loadscope-reorder
# Bytecode is kept (__pycache__, git-ignored) even where the environment says not to write it
# (PYTHONDONTWRITEBYTECODE): otherwise each test worker, and each process a test starts, compiles the package and
# rewrites the tests' assertions again (about 2 s a worker).
test: $(INSTALLED)
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(INSTALLED)
	$(BIN)/ruff check generator tests
	$(BIN)/ruff format --check generator tests
	$(BIN)/mypy

# The README's table of outputs, from the writer registry.
readme: $(INSTALLED)
	$(BIN)/python -m generator.writers README.md

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache

# What studykit keeps between builds (rendered formulas and PDF parts): $STUDYKIT_CACHE_DIR, else ~/.cache/studykit.
clean-cache:
	rm -rf "$${STUDYKIT_CACHE_DIR:-$${XDG_CACHE_HOME:-$$HOME/.cache}/studykit}"

distclean: clean clean-cache
	rm -rf $(VENV) *.egg-info

FORCE:
# Rebuilds generator/engines/mathjax_bundle.js from the pinned npm packages (needs Node and npm).
mathjax:
	tools/mathjax/build.sh
.PHONY: mathjax
