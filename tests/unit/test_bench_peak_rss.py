"""The benchmarks' peak memory (``benchmarks.common.PeakRSS``): own peak and worker processes."""

from __future__ import annotations

import multiprocessing as mp
import subprocess
import sys
import time

import numpy as np

from benchmarks.common import MIB, PeakRSS
from tests.conftest import ROOT


def _hold(mib: int, seconds: float) -> None:
    block = np.ones(mib * MIB // 8)
    time.sleep(seconds)
    del block


def test_a_short_peak_in_this_process_is_caught_exactly() -> None:
    """Allocated and freed between two samples of a sampler: the high-water mark still sees it."""
    with PeakRSS() as mem:
        _hold(200, 0.0)
    assert mem.growth_mib >= 190, mem.growth_mib
    assert mem.peak_mib >= mem.growth_mib


def _worker_growth(mib: int) -> float:
    # spawned, not forked: a forked child's RSS would count the parent's pages as well
    with PeakRSS() as mem:
        child = mp.get_context("spawn").Process(target=_hold, args=(mib, 1.0))
        child.start()
        child.join()
    assert child.exitcode == 0
    return mem.growth_mib


#: Both measurements in a fresh interpreter, whose only child is the worker it spawns: a
#: pytest worker may have children of earlier tests, which PeakRSS counts as well (a CI run under
#: load saw 486 MiB for the worker holding nothing, 40 alone).
_FRESH = (
    "from tests.unit.test_bench_peak_rss import _worker_growth\n"
    "print(_worker_growth(300), _worker_growth(0))"
)


def test_a_worker_process_counts_too() -> None:
    """A worker holding 300 MiB against one holding nothing (the interpreter it starts)."""
    out = subprocess.run(
        [sys.executable, "-c", _FRESH], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    holding, empty = map(float, out.split())
    assert holding - empty >= 250, (holding, empty)


def test_without_the_high_water_mark_the_sampler_measures(monkeypatch) -> None:
    import benchmarks.common as common

    monkeypatch.setattr(common, "_reset_hwm", lambda: False)
    with PeakRSS() as mem:
        assert not mem.hwm
        _hold(200, 0.3)
    assert mem.growth_mib >= 190, mem.growth_mib
