"""Stage ``compare``: where the influence models agree, how they stand up to the counterfactual
tests, and which score Resonance recommends for which question (pure functions, no I/O).

Reads (through ``analysis.stages.compare``) every ``data/processed/scores/<model>.parquet``,
the validity results ``data/processed/validity.json`` and, on the demo, the planted roles; the
counterfactual re-scoring (weekend off, two weeks off, extra posts, reaction ring) lives in
``analysis.counterfactual``, where reach and conversation diverge account by account in
``analysis.divergence`` (its own stage, cheap: it follows every new post while ``compare``,
the method's evaluation, may run on a schedule). Output: ``data/processed/compare.json``
(:class:`analysis.contracts.CompareResult`, written by the stage). Numbers and structure only: the report's templates say them in words. The rank
statistics live in ``analysis.compare_ranks``, the recommendation rule in
``analysis.compare_rule``.

* **Agreement** (like Cha et al., ICWSM 2010, Table 2): for every pair of models, on the
  accounts both scored: Spearman's rho, Kendall's tau-b, Jaccard overlap of the top-k lists
  (k capped at n) and rank-biased overlap (RBO; Webber, Moffat & Zobel 2010, extrapolated form,
  eq. 32). Neither scipy nor scikit-learn implements RBO, so ``compare_ranks.rbo`` does. Percentile
  bootstrap intervals resample accounts with replacement (``n_boot``, ``seed``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import polars as pl
from pydantic import Field

from analysis.compare_ranks import PairOrders, pair_statistics, resampled_statistics
from analysis.compute import Engine, map_threads
from analysis.config import Frozen

# The robustness tests own their params and gates (``analysis.counterfactual``).
from analysis.counterfactual import CounterfactualParams, GateParams


class Question(Frozen):
    """A question a score answers, tested on one outcome of the within-thread test."""

    #: ``conversation`` or ``approval`` (``models.within_thread``).
    outcome: Literal["conversation", "approval"]
    question: str


class CompareParams(Frozen):
    """``compare``: agreement, counterfactual tests and the recommendation."""

    #: Models compared; None: ``models.names``.
    models: tuple[str, ...] | None = None
    top_k: tuple[int, ...] = (10, 100)
    rbo_p: float = Field(0.9, gt=0, lt=1)
    n_boot: int = Field(200, ge=0)
    seed: int = 2010
    counterfactual: CounterfactualParams = CounterfactualParams()
    gates: GateParams = GateParams()
    #: Questions, each validated by an outcome of the within-thread test (``validity.json``).
    questions: tuple[Question, ...] = (
        Question(outcome="conversation", question="whose contributions draw conversation"),
        Question(outcome="approval", question="whose contributions win approval"),
    )
    #: The question whose answer is ``recommended_model``.
    primary_outcome: Literal["conversation", "approval"] = "conversation"


# ---------------------------------------------------------------------------------------------
# Agreement


def agreement(
    scores: dict[str, pl.DataFrame],
    params: CompareParams,
    order: pl.DataFrame | None = None,
    engine: Engine | None = None,
) -> pl.DataFrame:
    """Agreement of every pair of models, with bootstrap intervals (long form).

    Args:
        scores: model name -> score frame (``account_id``, ``score``).
        params: ``top_k``, ``rbo_p``, ``n_boot`` and ``seed``.
        order: ``account_id, order`` (``ordering.account_order``): the key-independent order in
            which accounts are bootstrapped and ties broken. None: by account id (tests only:
            pseudonyms change with the key, and so would the intervals).
        engine: where the pairs' bootstraps run (``compute``; None: this process): one task
            per pair (:func:`pair_agreement`), the same numbers wherever they run.

    Returns:
        One row per (pair, statistic): ``model_a, model_b, pair, statistic, value, ci_low,
        ci_high, n_accounts`` (2.5 and 97.5 percentiles of the bootstrap; null without one).
    """
    rng = np.random.default_rng(params.seed)
    pairs = []
    for name_a, name_b in itertools.combinations(scores, 2):
        joined = (
            scores[name_a]
            .select("account_id", pl.col("score").alias("a"))
            .join(scores[name_b].select("account_id", pl.col("score").alias("b")), on="account_id")
            .drop_nulls()
        )
        joined = (
            joined.sort("account_id")
            if order is None
            else joined.join(order, on="account_id", how="left").sort(
                "order", "account_id", nulls_last=True
            )
        )
        n_draws = params.n_boot if joined.height > 1 else 0
        # One generator for every pair, as when the pairs ran in turn: each pair starts from
        # the state the previous pairs' draws left, taken here by drawing them.
        state = rng.bit_generator.state
        for _ in range(n_draws):
            rng.integers(0, joined.height, joined.height)
        pairs.append(
            PairJob(name_a, name_b, joined["a"].to_numpy(), joined["b"].to_numpy(), state, n_draws)
        )
    # the pairs' work is numpy and scipy's merge sort, which release the GIL: on this
    # process, one thread per core
    rows = map_threads(engine, pair_agreement, pairs, top_k=params.top_k, rbo_p=params.rbo_p)
    return pl.DataFrame(
        [row for pair in rows for row in pair],
        schema={
            "model_a": pl.String,
            "model_b": pl.String,
            "pair": pl.String,
            "statistic": pl.String,
            "value": pl.Float64,
            "ci_low": pl.Float64,
            "ci_high": pl.Float64,
            "n_accounts": pl.Int64,
        },
    )


@dataclass(frozen=True)
class PairJob:
    """One pair of models' scores over the accounts both scored (in bootstrap order), and the
    state of the bootstrap's generator where its draws begin."""

    name_a: str
    name_b: str
    a: np.ndarray
    b: np.ndarray
    rng_state: dict[str, Any]
    n_draws: int


def pair_agreement(job: PairJob, top_k: tuple[int, ...], rbo_p: float) -> list[dict[str, Any]]:
    """The statistics of one pair and their bootstrap intervals: :func:`agreement`'s rows for
    that pair. A top-level, pure task for a ``compute`` engine."""
    a, b, n = job.a, job.b, job.a.size
    rng = np.random.Generator(np.random.PCG64())
    rng.bit_generator.state = job.rng_state
    ids = np.arange(n)  # tie-break by the (key-independent) order of the rows
    point = pair_statistics(a, b, ids, top_k, rbo_p)
    boots: dict[str, list[float]] = {k: [] for k in point}
    orders = PairOrders.of(a, b)  # sorted once; each draw reads its orders in O(n)
    positions = np.arange(n)
    for _ in range(job.n_draws):
        # the draws sorted, by counting (what np.sort gives, in O(n)): each account's copies
        counts = np.bincount(rng.integers(0, n, n), minlength=n)
        idx = np.repeat(positions, counts)
        # copies of one account tie in both models; ordering them by position keeps the two
        # lists consistent, so a duplicated account never counts as a disagreement.
        for k, v in resampled_statistics(orders, idx, top_k, rbo_p, counts).items():
            boots[k].append(v)
    rows = []
    for stat, value in point.items():
        sample = np.asarray(boots[stat], dtype=float)
        sample = sample[np.isfinite(sample)]
        lo, hi = np.percentile(sample, [2.5, 97.5]) if sample.size else (None, None)
        rows.append(
            dict(
                model_a=job.name_a,
                model_b=job.name_b,
                pair=f"{job.name_a} vs {job.name_b}",
                statistic=stat,
                value=value,
                ci_low=None if lo is None else float(lo),
                ci_high=None if hi is None else float(hi),
                n_accounts=n,
            )
        )
    return rows
