"""The benchmarks' peak memory (``benchmarks.common.PeakRSS``): own peak and worker processes."""

from __future__ import annotations

import multiprocessing as mp
import time

import numpy as np

from benchmarks.common import MIB, PeakRSS


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


def test_a_worker_process_counts_too() -> None:
    """A worker holding 300 MiB against one holding nothing (the interpreter it starts)."""
    assert _worker_growth(300) - _worker_growth(0) >= 250


def test_without_the_high_water_mark_the_sampler_measures(monkeypatch) -> None:
    import benchmarks.common as common

    monkeypatch.setattr(common, "_reset_hwm", lambda: False)
    with PeakRSS() as mem:
        assert not mem.hwm
        _hold(200, 0.3)
    assert mem.growth_mib >= 190, mem.growth_mib
