"""Shared fixtures: paths, the real-data folder (skipped when absent), small demo dumps,
and the session-scoped embedding model."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# First of all: importing analysis pins the numeric libraries' kernels (analysis.numerics), which
# only takes when it happens before numpy, torch or scikit-learn load. A test module that
# imported numpy first left the test process on numpy's AVX-512 loops while the pipelines and
# Dask workers it starts ran the pinned AVX2 ones: on an AVX-512 machine the local and cluster
# fits then differed in the last bits (tests/unit/test_compute.py).
import analysis  # noqa: F401

# xdist groups under pytest 9.2, and the order they are handed out in (tests/xdist_groups.py):
# imported, the hooks are this conftest's
from tests.xdist_groups import (
    pytest_collection_modifyitems,  # noqa: F401
    pytest_xdist_make_scheduler,  # noqa: F401
)

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "real"
SE_SITES = sorted(p for p in REAL.glob("stackexchange-*") if p.is_dir()) if REAL.exists() else []

if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs two workers on two cores: one thread each for the numeric libraries
    # (in-process and in the pipelines they start), set before any of them loads. Two threads
    # per worker oversubscribed the cores and spent CPU waiting (the demo's compare stage, ~3,000
    # small model runs: 140 -> 113 CPU-s with one polars thread, the same wall time). Results do
    # not depend on it: tests/unit/test_determinism.py compares thread counts explicitly. The
    # pipelines the tests start inherit these (tests/project.env copies os.environ).
    for _name in (
        "POLARS_MAX_THREADS",
        "OMP_NUM_THREADS",
        "MKL_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
    ):
        os.environ.setdefault(_name, "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# A fixed test key: pseudonyms in tests are reproducible and no key file is ever created.
os.environ.setdefault("RESONANCE_KEY", "test-key-not-secret-0123456789abcdef")


@pytest.fixture(scope="session")
def real_data() -> Path:
    """The shared real dumps; skip the test when the folder is absent."""
    if not REAL.exists():
        pytest.skip(f"real data folder {REAL} is absent")
    return REAL


#: The xdist group of the tests that read the PHEME dump: one read (~8 s) serves them all.
PHEME_GROUP = "pheme"


@pytest.fixture(scope="session")
def pheme_tables(real_data: Path):
    """The shared PHEME threads as the twitter adapter reads them, once per worker process
    (read-only: a test that altered them would alter them for the others)."""
    from analysis.sources import read_source

    path = real_data / "pheme-rumour-scheme"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    return read_source("twitter", path)


@pytest.fixture(scope="session")
def small_demo():
    """A small simulated community (about 2,400 posts) with its ground truth."""
    from analysis.config import DemoParams
    from analysis.demo import generate

    return generate(DemoParams(seed=7, n_accounts=60, n_days=60))


@pytest.fixture(scope="session")
def embedding_model():
    """The packaged all-MiniLM-L6-v2, loaded once per session, offline."""
    from analysis.embed import load_model

    return load_model("all-MiniLM-L6-v2", device="cpu")
