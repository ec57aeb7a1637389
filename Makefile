# Resonance: `make reports` regenerates every report; `make test` runs the whole test suite.
# Both set up .venv first (idempotent: a no-op when pyproject.toml and requirements.lock are unchanged).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
WARM := $(VENV)/.warmed
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
# Python may cache compiled bytecode (in .venv and the repository's __pycache__, both ignored
# by git). An environment that sets PYTHONDONTWRITEBYTECODE makes every process compile all its
# imports from source again: a score stage 2.5 CPU-s instead of 0.9, a `dvc` call 4.7 instead
# of 2.3, test collection 24 s instead of 14 (uv, unlike pip, compiles nothing at install).
unexport PYTHONDONTWRITEBYTECODE

.DEFAULT_GOAL := help
.PHONY: help setup reports metrics diff plots test test-fast lint typecheck format bench bench-full bench-scale browser lock clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

setup: $(WARM) ## create .venv, install the pinned dependencies, compile what the pipeline imports (fast when nothing changed)

$(STAMP): pyproject.toml requirements.lock .ci/install.py
	@test -x $(PY) || python3 -m venv $(VENV)
	@# uv with pip's own settings (9x faster), pip if uv fails: .ci/install.py. Last, the cascade
	@# peer's reference code, for tests only: without its pinned bot-classifier deps
	$(PY) .ci/install.py -e '.[dev]' --no-deps 'birdspotter==0.1.6b1'
	$(PY) -m ipykernel install --sys-prefix --name resonance --display-name "Resonance (.venv)" >/dev/null
	@touch $(STAMP)

# The bytecode of what the pipeline imports (~20 s), not of all 252 packages (~35 s): for the
# processes run outside make where PYTHONDONTWRITEBYTECODE is set (they read bytecode, never
# write it). `make test` does without: its processes write the bytecode of all they import
# (a superset: 7,241 modules after a run), ~24 CPU-s of compiling spread over both workers,
# where the warm-up is ~25 s before the first test (imports and DVC commands run twice).
$(WARM): $(STAMP) .ci/warm_bytecode.py
	$(PY) .ci/warm_bytecode.py src
	@touch $(WARM)

reports: setup browser ## run the pipeline (dvc repro) on the dump named in params.yaml
	dvc repro

metrics: ## print the run's metrics (dvc metrics show, from .venv)
	dvc metrics show

diff: ## compare the metrics and params with the last commit (dvc metrics diff + dvc params diff)
	dvc metrics diff
	dvc params diff

plots: ## render the DVC plots offline into dvc_plots/index.html
	dvc plots show --html-template reports/templates/dvc_plots.html

# Debian's chromium as root; as any other user nothing (the browser test is skipped). Without
# the packages its libraries recommend (avahi, samba, udev, upower, cups helpers, perl's LWP):
# headless Chromium needs none of them; 19 packages instead of 107 on a Debian 12 base, 12 s
# and 17 CPU-s instead of 22 s and 28 CPU-s, on the cores the tests share.
INSTALL_BROWSER = command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && (apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null) || echo "chromium not installed: the browser test will be skipped"; }

browser: ## apt-get install Debian's chromium for the browser test (as root only; else the test is skipped)
	@$(INSTALL_BROWSER)

# `make test` runs the browser install in the background (about a minute of apt-get as root)
# while the tests run; the browser test builds the demo project first, then waits while the job
# holds the lock .lock (flock; tests/browser_job.py); .log and .done (its exit status) are for
# people. Not a sub-make: make -j would wait for its job slot.
BROWSER_JOB := $(VENV)/browser-install

test: $(STAMP) ## run the whole test suite (unit, integration, notebooks, real data, browser)
	@rm -f $(BROWSER_JOB).done
	@( exec 9>$(BROWSER_JOB).lock; flock 9; $(INSTALL_BROWSER); echo $$? > $(BROWSER_JOB).done ) > $(BROWSER_JOB).log 2>&1 &
	pytest -n 2 --dist loadgroup --durations=25

test-fast: setup ## unit tests only
	pytest -m "not slow" -n 2

lint: setup ## ruff lint + format check
	ruff check src tests benchmarks .ci && ruff format --check src tests benchmarks .ci

typecheck: setup ## mypy: every model module against the model protocol (analysis.models.base.Model)
	mypy src/analysis/models --exclude 'src/analysis/models/(validity|within_thread|within_thread_responses|incremental|peers)\.py'

format: setup ## apply ruff fixes and formatting
	ruff check --fix src tests benchmarks .ci && ruff format src tests benchmarks .ci

bench: setup ## print throughput, peak memory and peer ratios of every stage
	$(PY) -m benchmarks

bench-scale: setup ## dvc repro on synthetic dumps of 10k-300k posts: seconds, peak RSS and slope per stage (~1 h)
	$(PY) -m benchmarks.pipeline_scale --sizes 10k,30k,100k,300k --incremental

bench-full: setup ## install the peers (BERTopic, UMAP, HDBSCAN, ONNX); sweep up to 10M posts
	$(PY) -m pip install -q -c requirements.lock -e '.[dev,bench]'
	$(PY) -m benchmarks --full

lock: ## re-resolve dependencies (with the bench peers) and rewrite requirements.lock
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q -e '.[dev,bench]'
	@# uv is set-up tooling (.ci/install.py), not a dependency of the project
	$(PY) -m pip freeze --exclude-editable | grep -v '^uv==' | sed 's/+cpu$$//' > requirements.lock

clean: ## remove pipeline outputs (not the venv, not the key)
	rm -rf data/interim data/processed reports/index.html reports/methodology.* reports/figures logs
