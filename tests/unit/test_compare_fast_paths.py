"""The compare stage's fast paths give the reference's numbers bit for bit.

* ``compare_ranks.spearman`` and ``compare_ranks.kendall_tau_b`` replace ``scipy.stats.spearmanr`` and
  ``kendalltau`` in the agreement bootstrap (pairs of models x draws);
* ``common.scoped_posts`` (parents and channels read on the posts before the date) equals the
  scoping that filtered first and joined every post to its parent;
* the agreement bootstrap reads each draw's sort orders from orders sorted once per pair
  (``compare_ranks.PairOrders``, ``compare_ranks.resampled_statistics``).
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl
from scipy import stats

from analysis import compare, compare_ranks
from analysis.models import common


def _pairs(seed: int, n_cases: int = 400):
    """Score-like vectors: continuous, rounded (many ties), few levels, half zeros."""
    rng = np.random.default_rng(seed)
    for i in range(n_cases):
        n = int(rng.integers(2, 300))
        a = rng.normal(size=n)
        b = a * rng.normal() + rng.normal(size=n)
        kind = i % 4
        if kind == 1:
            a, b = np.round(a, 1), np.round(b, 0)
        elif kind == 2:
            a = rng.integers(0, 3, n).astype(float)
            b = rng.integers(0, 2, n).astype(float)
        elif kind == 3:
            a[: n // 2] = 0.0
        if np.ptp(a) > 0 and np.ptp(b) > 0:
            yield a, b


def _same(x: float, y: float) -> bool:
    return x == y or (np.isnan(x) and np.isnan(y))


def test_average_ranks_equal_scipy_rankdata() -> None:
    for a, b in _pairs(1, 100):
        assert np.array_equal(compare_ranks.average_ranks(a), stats.rankdata(a))
        assert np.array_equal(compare_ranks.average_ranks(b), stats.rankdata(b))


def test_spearman_and_kendall_equal_scipy_bit_for_bit() -> None:
    n = 0
    for a, b in _pairs(2):
        assert _same(compare_ranks.spearman(a, b), float(stats.spearmanr(a, b).statistic)), (a, b)
        ref = float(stats.kendalltau(a, b, variant="b").statistic)
        assert _same(compare_ranks.kendall_tau_b(a, b), ref), (a, b)
        n += 1
    assert n > 300


def test_spearman_and_kendall_are_nan_on_nan_or_constant_input() -> None:
    a = np.array([1.0, 2.0, np.nan, 4.0])
    b = np.array([1.0, 3.0, 2.0, 4.0])
    assert np.isnan(compare_ranks.spearman(a, b)) and np.isnan(compare_ranks.kendall_tau_b(a, b))
    flat = np.ones(4)
    assert np.isnan(compare_ranks.spearman(flat, b)) and np.isnan(
        compare_ranks.kendall_tau_b(flat, b)
    )


def test_agreement_equals_the_scipy_reference(monkeypatch) -> None:
    rng = np.random.default_rng(5)
    ids = [f"a{i:03d}" for i in range(80)]
    base = rng.normal(size=80)
    scores = {
        m: pl.DataFrame({"account_id": ids, "score": np.round(base + s * rng.normal(size=80), 1)})
        for m, s in (("x", 0.3), ("y", 1.0), ("z", 3.0))
    }
    params = compare.CompareParams(n_boot=30)
    fast = compare.agreement(scores, params)
    # the bootstrap's known orders (``PairOrders``) are ignored: scipy sorts each draw itself
    monkeypatch.setattr(
        compare_ranks, "spearman", lambda a, b, *_: float(stats.spearmanr(a, b).statistic)
    )
    monkeypatch.setattr(
        compare_ranks,
        "kendall_tau_b",
        lambda a, b, *_: float(stats.kendalltau(a, b, variant="b").statistic),
    )
    assert fast.equals(compare.agreement(scores, params))


def _scoped_reference(posts, as_of, half_life_days, window_days):
    """The former scoping: the date filter and the window first, then parents and channels."""
    from analysis import semantics

    out = posts.filter(pl.col("created_at") < as_of).with_columns(
        w=common.weight_expr("created_at", as_of, half_life_days, window_days)
    )
    if window_days is not None:
        out = out.filter(pl.col("w") > 0)
    parents = posts.select(
        pl.col("post_id").alias("parent_post_id"), pl.col("account_id").alias("_parent_author")
    )
    out = (
        out.join(parents, on="parent_post_id", how="left")
        .with_columns(reply_to_account_id=pl.coalesce("reply_to_account_id", "_parent_author"))
        .drop("_parent_author")
    )
    return semantics.with_channel(out).with_columns(
        is_reply=pl.col("channel").is_in(list(semantics.CONVERSATIONAL)).fill_null(False),
        is_self_reply=pl.col("reply_to_account_id") == pl.col("account_id"),
    )


def test_the_scoping_equals_the_former_scoping(small_demo) -> None:
    """Every (as_of, decay, window) scoping equals the scoping that filtered and windowed first,
    then joined the parents and read the channels; so does the scoping of the posts annotated
    once for the whole table (``common.annotate``), with addressees to look up or not."""
    from analysis.demo_check import tables_from_demo

    t = tables_from_demo(small_demo)
    last = t.posts["created_at"].max()
    cases = [
        (last + timedelta(seconds=1), 30.0, None),
        (last + timedelta(seconds=1), 10.0, None),
        (last - timedelta(days=7), 30.0, None),
        (last - timedelta(days=20), None, 14.0),
    ]
    # a third of the addressees left to the parent's author (a counterfactual table by hand)
    unaddressed = t.posts.with_columns(
        reply_to_account_id=pl.when(pl.int_range(pl.len()) % 3 == 0)
        .then(None)
        .otherwise(pl.col("reply_to_account_id"))
    )
    for posts in (t.posts, unaddressed):
        annotated = common.annotate(posts)  # the score stage's: once for every model and date
        assert common.annotate(annotated) is annotated
        for case in cases:
            want = _scoped_reference(posts, *case)
            for got in (common.scoped_posts(posts, *case), common.scoped_posts(annotated, *case)):
                assert got.columns == want.columns
                assert got.equals(want), case
    # a stale column of the annotation's (not all of them: not annotated) is read afresh
    stale = t.posts.with_columns(channel=pl.lit("stale"))
    assert common.scoped_posts(stale, *cases[0]).equals(common.scoped_posts(t.posts, *cases[0]))
    windowed = common.scoped_posts(t.posts, *cases[3])
    assert windowed["created_at"].min() >= cases[3][0] - timedelta(days=14)


def _with_nan_and_signed_zeros(seed: int):
    """The cases of :func:`_pairs`, plus inputs with a NaN, -0.0 beside 0.0, and constants."""
    yield from _pairs(seed, 300)
    rng = np.random.default_rng(seed)
    for _ in range(30):
        n = int(rng.integers(2, 60))
        a, b = np.round(rng.normal(size=(2, n)), 0)
        a[rng.integers(0, n)] = np.nan
        yield a, b
        yield np.where(rng.random(n) < 0.5, -0.0, 0.0) + np.round(b), np.ones(n)


def test_resampled_statistics_equal_pair_statistics_on_the_resample() -> None:
    """The bootstrap's fast path (orders sorted once per pair, expanded per draw) gives
    ``pair_statistics`` of the resampled vectors bit for bit, NaN where it gives NaN."""
    rng = np.random.default_rng(9)
    n_cases = 0
    for a, b in _with_nan_and_signed_zeros(4):
        orders = compare_ranks.PairOrders.of(a, b)
        for size in (a.size, 1, 2):
            idx = np.sort(rng.integers(0, a.size, size))
            fast = compare_ranks.resampled_statistics(orders, idx, (3, 10, 50), 0.9)
            counts = np.bincount(idx, minlength=a.size)  # as the bootstrap passes them
            told = compare_ranks.resampled_statistics(orders, idx, (3, 10, 50), 0.9, counts)
            ref = compare_ranks.pair_statistics(
                a[idx], b[idx], np.arange(idx.size), (3, 10, 50), 0.9
            )
            assert fast.keys() == ref.keys() == told.keys()
            assert all(_same(fast[k], ref[k]) for k in ref), (a, b, idx, fast, ref)
            assert all(_same(told[k], ref[k]) for k in ref), (a, b, idx, told, ref)
        n_cases += 1
    assert n_cases > 250


def test_agreement_equals_the_draw_by_draw_reference(monkeypatch) -> None:
    """The whole agreement table with every draw sorted afresh (``pair_statistics`` on the
    resampled vectors) is the fast path's."""
    rng = np.random.default_rng(6)
    ids = [f"a{i:03d}" for i in range(120)]
    base = rng.normal(size=120)
    scores = {
        m: pl.DataFrame({"account_id": ids, "score": np.round(base + s * rng.normal(size=120), 1)})
        for m, s in (("x", 0.3), ("y", 1.0), ("z", 3.0))
    }
    params = compare.CompareParams(n_boot=40)
    fast = compare.agreement(scores, params)

    def reference(o, idx, top_k, p, counts=None):
        # the draws sorted, and each account's copies among them
        assert (np.diff(idx) >= 0).all() and idx.size == o.a.size
        assert counts is None or np.array_equal(counts, np.bincount(idx, minlength=o.a.size))
        return compare_ranks.pair_statistics(o.a[idx], o.b[idx], np.arange(idx.size), top_k, p)

    monkeypatch.setattr(compare, "resampled_statistics", reference)
    slow = compare.agreement(scores, params)
    assert fast.equals(slow)
    assert fast["ci_low"].null_count() == 0
