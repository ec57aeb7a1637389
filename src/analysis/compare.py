"""Stage ``compare``: where the influence models agree, where reach and conversation diverge,
and which score Resonance recommends for which question (pure functions, no I/O).

Reads (through ``analysis.stages.compare``) every ``data/processed/scores/<model>.parquet``,
the validity results ``data/processed/validity.json`` and, on the demo, the planted roles; the
counterfactual re-scoring (weekend off, two weeks off, extra posts, reaction ring) lives in
``analysis.counterfactual``. Outputs: ``data/processed/divergence.parquet`` and
``data/processed/compare.json`` (:class:`analysis.contracts.CompareResult`, written by the
stage). Numbers and structure only: the report's templates say them in words. The rank
statistics live in ``analysis.compare_ranks``, the recommendation rule in
``analysis.compare_rule``.

* **Agreement** (like Cha et al., ICWSM 2010, Table 2): for every pair of models, on the
  accounts both scored: Spearman's rho, Kendall's tau-b, Jaccard overlap of the top-k lists
  (k capped at n) and rank-biased overlap (RBO; Webber, Moffat & Zobel 2010, extrapolated form,
  eq. 32). Neither scipy nor scikit-learn implements RBO, so ``compare_ranks.rbo`` does. Percentile
  bootstrap intervals resample accounts with replacement (``n_boot``, ``seed``).
* **Divergence**: every participant in a reach-by-conversation quadrant from percentile
  thresholds, and the OLS residual of conversation percentile on reach percentile as a
  continuous divergence score (positive: more conversation than its reach predicts).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import polars as pl
from pydantic import Field

from analysis.compare_ranks import PairOrders, pair_statistics, resampled_statistics
from analysis.compute import Engine, LocalEngine
from analysis.config import Frozen

# The robustness tests own their params and gates (``analysis.counterfactual``).
from analysis.counterfactual import CounterfactualParams, GateParams

QUADRANTS = {
    (True, False): "loud but unheard",
    (False, True): "quiet connectors",
    (True, True): "loud and heard",
    (False, False): "quiet and unheard",
}
#: The planted-role rates reported on the demo: (role, quadrant).
ROLE_QUADRANTS = (
    ("gamer", "loud but unheard"),
    ("broadcaster", "loud but unheard"),
    ("expert", "quiet connectors"),
)


class Question(Frozen):
    """A question a score answers, tested on one outcome of the within-thread test."""

    #: ``conversation`` or ``approval`` (``models.within_thread``).
    outcome: Literal["conversation", "approval"]
    question: str


class CompareParams(Frozen):
    """``compare``: agreement, divergence, counterfactual tests and the recommendation."""

    #: Models compared; None: ``models.names``.
    models: tuple[str, ...] | None = None
    top_k: tuple[int, ...] = (10, 100)
    rbo_p: float = Field(0.9, gt=0, lt=1)
    n_boot: int = Field(200, ge=0)
    seed: int = 2010
    #: The two models of the divergence quadrants (x: how loud, y: how heard).
    reach_model: str = "reach"
    conversation_model: str = "conversation"
    #: Percentile at or above which an account counts as high on each axis.
    reach_high_pct: float = Field(50.0, ge=0, le=100)
    conversation_high_pct: float = Field(50.0, ge=0, le=100)
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
    rows = (engine or LocalEngine()).map(
        pair_agreement, pairs, top_k=params.top_k, rbo_p=params.rbo_p
    )
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
    for _ in range(job.n_draws):
        idx = np.sort(rng.integers(0, n, n))
        # copies of one account tie in both models; ordering them by position keeps the two
        # lists consistent, so a duplicated account never counts as a disagreement.
        for k, v in resampled_statistics(orders, idx, top_k, rbo_p).items():
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


# ---------------------------------------------------------------------------------------------
# Divergence


def quadrant_expr(x: str, y: str, x_high: float, y_high: float) -> pl.Expr:
    """The quadrant name of each row: high means at or above the threshold percentile."""
    hx, hy = pl.col(x) >= x_high, pl.col(y) >= y_high
    expr = pl.when(hx & ~hy).then(pl.lit(QUADRANTS[(True, False)]))
    expr = expr.when(~hx & hy).then(pl.lit(QUADRANTS[(False, True)]))
    expr = expr.when(hx & hy).then(pl.lit(QUADRANTS[(True, True)]))
    return expr.otherwise(pl.lit(QUADRANTS[(False, False)]))


def divergence(
    reach: pl.DataFrame, conversation: pl.DataFrame, params: CompareParams
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Quadrants and the continuous divergence score of every account scored by both models.

    When the dump has no reach data (no follower counts and no views, as on Usenet) every
    reach score is equal and every percentile the same (50): nobody is placed in a quadrant
    (``quadrant`` and ``divergence`` null) and the fit says ``reach_missing``, rather than
    calling everyone "loud".

    Returns:
        The per-account frame (``account_id, reach_pct, conversation_pct, quadrant,
        divergence``) and the OLS fit (intercept, slope, R², n, reach_missing).
    """
    import statsmodels.api as sm

    # equal raw scores give equal percentiles: one distinct percentile = no reach spread at all
    shared = reach.join(conversation.select("account_id"), on="account_id")["score_pct"]
    reach_missing = shared.drop_nulls().n_unique() <= 1
    if reach_missing:
        df = (
            reach.select("account_id", pl.col("score_pct").alias("reach_pct"))
            .join(
                conversation.select("account_id", pl.col("score_pct").alias("conversation_pct")),
                on="account_id",
            )
            .sort("account_id")
            .with_columns(quadrant=pl.lit(None, pl.String), divergence=pl.lit(None, pl.Float64))
        )
        fit = {"n": df.height, "intercept": None, "slope": None, "r2": None}
        return df, {**fit, "reach_missing": True}
    df = (
        reach.select("account_id", pl.col("score_pct").alias("reach_pct"))
        .join(
            conversation.select("account_id", pl.col("score_pct").alias("conversation_pct")),
            on="account_id",
        )
        .drop_nulls()
        .sort("account_id")
        .with_columns(
            quadrant=quadrant_expr(
                "reach_pct", "conversation_pct", params.reach_high_pct, params.conversation_high_pct
            )
        )
    )
    fit: dict[str, Any] = {
        "n": df.height,
        "intercept": None,
        "slope": None,
        "r2": None,
        "reach_missing": False,
    }
    x = df["reach_pct"].to_numpy()
    if df.height >= 3 and np.ptp(x) > 1e-9:
        # has_constant="add": statsmodels would otherwise skip the constant when reach is
        # nearly constant (one-platform dumps without any audience field)
        res = sm.OLS(
            df["conversation_pct"].to_numpy(), sm.add_constant(x, has_constant="add")
        ).fit()
        resid = res.resid
        fit.update(
            intercept=float(res.params[0]), slope=float(res.params[1]), r2=float(res.rsquared)
        )
    else:  # no spread in reach: the residual is the deviation from the mean
        resid = (df["conversation_pct"] - df["conversation_pct"].mean()).to_numpy()
    df = df.with_columns(divergence=pl.Series(resid, dtype=pl.Float64))
    return df.select("account_id", "reach_pct", "conversation_pct", "quadrant", "divergence"), fit


def quadrant_counts(div: pl.DataFrame) -> dict[str, dict[str, float]]:
    """Count and share of placed accounts per quadrant (every quadrant listed, empty ones as 0).

    Accounts without a quadrant (no reach data) are not counted: with nobody placed, every
    count is 0 and every share null.
    """
    placed = div.filter(pl.col("quadrant").is_not_null())
    n = placed.height
    counts = dict(placed.group_by("quadrant").len().iter_rows())
    return {
        q: {"n": int(counts.get(q, 0)), "share": (counts.get(q, 0) / n) if n else None}
        for q in QUADRANTS.values()
    }


def role_rates(div: pl.DataFrame, truth: pl.DataFrame, min_cell_k: int) -> dict[str, Any]:
    """Rates at which planted roles land in their expected quadrant (aggregates only).

    A role with fewer than ``min_cell_k`` scored accounts gets a null rate (suppressed cell).
    """
    joined = div.join(truth.select("account_id", "role"), on="account_id")
    out: dict[str, Any] = {}
    for role, quadrant in ROLE_QUADRANTS:
        group = joined.filter(pl.col("role") == role)
        n = group.height
        hits = group.filter(pl.col("quadrant") == quadrant).height
        out[f"{role}_in_{quadrant.replace(' ', '_')}"] = {
            "n_role": n if n >= min_cell_k else None,
            "rate": hits / n if n >= min_cell_k else None,
            "suppressed": n < min_cell_k,
        }
    return out
