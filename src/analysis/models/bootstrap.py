"""Percentile intervals and paired differences from bootstrap draws.

The validity tests (``within_thread``, ``incremental``, ``validity.ranking``) refit every model
on the same bootstrap draws, so the difference of two models' draws is a paired draw of their
difference. :func:`interval` and :func:`paired_differences` turn draws into what the metrics
report; :func:`sample_units` bounds the units a test fits on a very large dump.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def interval(draws: np.ndarray, alpha: float) -> tuple[float | None, float | None]:
    """The ``alpha`` and ``1 - alpha`` quantiles of the finite draws (None, None if none is)."""
    ok = np.isfinite(draws)
    if not ok.any():
        return None, None
    return float(np.quantile(draws[ok], alpha)), float(np.quantile(draws[ok], 1 - alpha))


def sample_units(n: int, cap: int | None, seed: int, stream: int) -> np.ndarray | None:
    """Which of ``n`` units (numbered in a key-independent order) a test fits when ``cap`` is
    below ``n``: ``cap`` of them drawn without replacement, in ascending order; None when all
    are kept (``cap`` None or at least ``n``).

    The draw depends on ``seed`` and ``stream`` only (a stream per test, so that it never
    shares numbers with the test's bootstrap), and the units' numbering is key-independent:
    the sample, like every result, is a function of the data and the params. A simple random
    sample of the units the bootstrap resamples estimates what the whole set would, and the
    bootstrap on the sample gives that estimate's interval (wider, honestly so).
    """
    if cap is None or n <= cap:
        return None
    rng = np.random.default_rng([seed, stream])
    return np.sort(rng.choice(n, size=cap, replace=False))


def reported_pair(a: str, b: str, comparators: tuple[str, ...]) -> bool:
    """Which paired differences go to the metrics: each non-comparator against each comparator
    or peer (what the recommendation needs), and reach against conversation (the second half of
    the double dissociation). The full table would be every ordered pair: unreadable in
    ``dvc metrics show`` and never used."""
    from analysis.models.peers import PEERS

    baselines = set(comparators) | set(PEERS)
    return (a not in baselines and b in baselines) or (a, b) == ("reach", "conversation")


def paired_differences(
    estimates: Mapping[str, float | None],
    draws: Mapping[str, np.ndarray | None],
    comparators: tuple[str, ...],
    alpha: float,
) -> dict[str, dict[str, float | None]]:
    """``"a-b"`` -> difference of the estimates and its paired percentile interval, for every
    reported pair (:func:`reported_pair`) where both models have an estimate and draws."""
    pairs: dict[str, dict[str, float | None]] = {}
    for a, da in draws.items():
        for b, db in draws.items():
            ea, eb = estimates.get(a), estimates.get(b)
            if ea is None or eb is None or da is None or db is None:
                continue
            if not reported_pair(a, b, comparators):
                continue
            low, high = interval(da - db, alpha)
            pairs[f"{a}-{b}"] = {"diff": ea - eb, "ci_low": low, "ci_high": high}
    return pairs
