"""Stage ``divergence``: where raw reach and real conversation part, account by account (pure).

Every participant scored by both the reach model and the conversation model (``divergence``
params) lands in a reach-by-conversation quadrant from percentile thresholds ("loud but
unheard", "quiet connectors", ...), except on a platform without reach data (no follower
counts, no views: its accounts are not placed, and the platform is named), and the OLS residual of the conversation percentile on the
reach percentile is a continuous divergence score (positive: more conversation than its reach
predicts). On the demo, the planted roles' rates in their expected quadrants.

Its own stage, apart from ``compare``: it reads two score files and takes seconds, so it
follows every new post, while ``compare`` (agreement bootstrap, counterfactual re-scoring, the
recommendation: the method's evaluation) may be frozen to run on a schedule
(``docs/scaling-log.md``, "Incremental runs"). Written by ``analysis.stages.divergence``:
``data/processed/divergence.parquet`` and ``data/processed/divergence.json``
(:class:`analysis.contracts.DivergenceResult`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
from pydantic import Field

from analysis import publish
from analysis.config import Frozen
from analysis.contracts import DivergenceResult

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


class DivergenceParams(Frozen):
    """``divergence``: the two models of the quadrants and their thresholds."""

    #: The two models of the divergence quadrants (x: how loud, y: how heard).
    reach_model: str = "reach"
    conversation_model: str = "conversation"
    #: Percentile at or above which an account counts as high on each axis.
    reach_high_pct: float = Field(50.0, ge=0, le=100)
    conversation_high_pct: float = Field(50.0, ge=0, le=100)


def quadrant_expr(x: str, y: str, x_high: float, y_high: float) -> pl.Expr:
    """The quadrant name of each row: high means at or above the threshold percentile."""
    hx, hy = pl.col(x) >= x_high, pl.col(y) >= y_high
    expr = pl.when(hx & ~hy).then(pl.lit(QUADRANTS[(True, False)]))
    expr = expr.when(~hx & hy).then(pl.lit(QUADRANTS[(False, True)]))
    expr = expr.when(hx & hy).then(pl.lit(QUADRANTS[(True, True)]))
    return expr.otherwise(pl.lit(QUADRANTS[(False, False)]))


def divergence(
    reach: pl.DataFrame,
    conversation: pl.DataFrame,
    params: DivergenceParams,
    platforms: pl.DataFrame | None = None,
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Quadrants and the continuous divergence score of every account scored by both models.

    A platform without reach data (no follower counts and no views: Reddit, Hacker News,
    Usenet) leaves every one of its accounts at the run's lowest reach: they are not placed
    (``quadrant`` and ``divergence`` null) and the fit names the platform in
    ``reach_missing_platforms``, rather than ranking their zeros as "quiet" (in a run of several
    dumps they were placed beside the accounts of a platform with an audience). The others'
    percentiles are ranked again among the accounts placed, so that the split at
    ``reach_high_pct`` is a split of them. Where no account is placed (one dump without reach,
    as Usenet) the fit says ``reach_missing``, rather than calling everyone "loud".

    Args:
        reach: ``account_id, score_pct`` of the reach model.
        conversation: ``account_id, score_pct`` of the conversation model.
        params: the thresholds.
        platforms: ``account_id, platform`` (None: one platform).

    Returns:
        The per-account frame (``account_id, reach_pct, conversation_pct, quadrant,
        divergence``) and the OLS fit (intercept, slope, R², n, reach_missing,
        reach_missing_platforms).
    """
    both = (
        reach.select("account_id", pl.col("score_pct").alias("reach_pct"))
        .join(
            conversation.select("account_id", pl.col("score_pct").alias("conversation_pct")),
            on="account_id",
        )
        .drop_nulls()
        .sort("account_id")
    )
    if platforms is None:
        platforms = both.select("account_id", platform=pl.lit(""))
    both = both.join(platforms.select("account_id", "platform"), on="account_id", how="left")
    # equal raw scores give equal percentiles: a platform whose every account sits at the
    # lowest reach has no reach spread of its own (with one platform: no spread at all)
    floor = both["reach_pct"].min()
    missing = (
        both.group_by("platform")
        .agg(none=(pl.col("reach_pct") == floor).all())
        .filter(pl.col("none"))["platform"]
        .sort()
        .to_list()
    )
    unplaced = both.filter(pl.col("platform").is_in(missing)).select(
        "account_id",
        "reach_pct",
        "conversation_pct",
        quadrant=pl.lit(None, pl.String),
        divergence=pl.lit(None, pl.Float64),
    )
    df = both.filter(~pl.col("platform").is_in(missing)).drop("platform")
    fit: dict[str, Any] = {
        "n": df.height,
        "intercept": None,
        "slope": None,
        "slope_ci_low": None,
        "slope_ci_high": None,
        "r2": None,
        "reach_missing": df.height == 0,
        "reach_missing_platforms": [p for p in missing if p],
    }
    if df.height == 0:
        return unplaced.sort("account_id"), {**fit, "n": unplaced.height}
    if unplaced.height:  # percentiles among the accounts placed
        n = df.height
        df = df.with_columns(
            pl.when(pl.lit(n > 1))
            .then((pl.col(c).rank("average") - 1) / max(n - 1, 1) * 100)
            .otherwise(50.0)
            .alias(c)
            for c in ("reach_pct", "conversation_pct")
        )
    df = df.with_columns(
        quadrant=quadrant_expr(
            "reach_pct", "conversation_pct", params.reach_high_pct, params.conversation_high_pct
        )
    )
    x = df["reach_pct"].to_numpy()
    if df.height >= 3 and np.ptp(x) > 1e-9:
        # the constant always (statsmodels' add_constant skips it when reach is nearly
        # constant: one-platform dumps without any audience field)
        # fitted on the accounts in the order of their values: ``df`` is in pseudonym order,
        # and the SVD's sums in that order moved every residual in the last bits (up to 1e-13
        # on beer) under another key
        y = df["conversation_pct"].to_numpy()
        by_value = np.lexsort((y, x))
        intercept, slope, r2, fitted_resid = ols_line(x[by_value], y[by_value])
        resid = np.empty_like(fitted_resid)
        resid[by_value] = fitted_resid
        lo, hi = slope_interval(x[by_value], fitted_resid, slope)
        fit.update(intercept=intercept, slope=slope, r2=r2, slope_ci_low=lo, slope_ci_high=hi)
    else:  # no spread in reach: the residual is the deviation from the mean
        resid = (df["conversation_pct"] - df["conversation_pct"].mean()).to_numpy()
    df = df.with_columns(divergence=pl.Series(resid, dtype=pl.Float64))
    cols = ["account_id", "reach_pct", "conversation_pct", "quadrant", "divergence"]
    return pl.concat([df.select(cols), unplaced]).sort("account_id"), fit


def ols_line(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float, np.ndarray]:
    """Least squares of ``y`` on a constant and ``x``: intercept, slope, R² and residuals.

    statsmodels' ``OLS(y, add_constant(x, has_constant="add")).fit()`` (the pseudo-inverse by
    SVD with its cut-off, R² against the weighted mean its OLS computes), in the same
    arithmetic: ``tests/unit/test_compare.py`` holds them equal to the bit. Written out
    because importing statsmodels was 1.7 of the stage's 2.8 s for a fit of two numbers.
    """
    exog = np.column_stack((np.ones_like(x, dtype=float), x))
    u, s, vt = np.linalg.svd(exog, False)
    cutoff = 1e-15 * np.maximum.reduce(s)
    s = np.where(s > cutoff, 1.0 / np.where(s > cutoff, s, 1.0), 0.0)
    beta = np.dot(np.dot(np.transpose(vt), np.multiply(s[:, np.newaxis], np.transpose(u))), y)
    resid = y - np.dot(exog, beta)
    weights = np.ones(len(y))
    centered_tss = np.sum(weights * (y - np.average(y, weights=weights)) ** 2)
    r2 = 1 - np.dot(resid, resid) / centered_tss
    return float(beta[0]), float(beta[1]), float(r2), resid


def slope_interval(
    x: np.ndarray, resid: np.ndarray, slope: float, level: float = 0.95
) -> tuple[float | None, float | None]:
    """The OLS slope's ``level`` interval (t with n - 2 degrees of freedom, the classical
    standard error): the writeup quotes the slope of conversation on reach, and a slope
    without its interval is not a finding. None below 3 accounts or without spread in ``x``.
    ``x`` and ``resid`` in the fit's order (sums in a fixed order: the same bits under any key).
    """
    from scipy.special import stdtrit

    n = len(x)
    sxx = float(np.sum((x - np.mean(x)) ** 2))
    if n < 3 or sxx <= 0:
        return None, None
    se = float(np.sqrt(np.dot(resid, resid) / (n - 2) / sxx))
    t = float(stdtrit(n - 2, 0.5 + level / 2))
    return slope - t * se, slope + t * se


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


def headline(result: DivergenceResult, k: int) -> dict[str, Any]:
    """``reports/metrics/divergence.json``: the reach-conversation split in numbers.

    Published (``reports/metrics``), so under the writeup's rule: a quadrant count under ``k``
    (``privacy.min_cell_k``) is null, and so is a complement wherever a hidden count would
    follow from the others and the accounts placed (the writeup prints the OLS n); R² over
    fewer than ``k`` accounts is null too. Zeros stay (a zero covers nobody).
    """
    names = list(result.quadrants)
    rows = [{"n": result.quadrants[q].n} for q in names]
    hide = publish.complement(rows, [0 < r["n"] < k for r in rows], ["n"], [])
    return {
        "reach_missing": result.reach_missing,
        "divergence_r2": result.ols.r2 if result.ols.n >= k else None,
        "quadrants": {
            q.replace(" ", "_"): None if h else r["n"]
            for q, r, h in zip(names, rows, hide, strict=True)
        },
    }


def role_rates(div: pl.DataFrame, truth: pl.DataFrame, min_cell_k: int) -> dict[str, Any]:
    """Rates at which planted roles land in their expected quadrant (aggregates only).

    A role with fewer than ``min_cell_k`` scored accounts gets a null rate (suppressed cell).
    Each rate has its exact (Clopper-Pearson) 95 % interval: 13 of 13 gamers is not a rate of
    1 but one of at least 0.75 (statsmodels' ``proportion_confint``, ``method="beta"``).
    """
    from statsmodels.stats.proportion import proportion_confint

    joined = div.join(truth.select("account_id", "role"), on="account_id")
    out: dict[str, Any] = {}
    for role, quadrant in ROLE_QUADRANTS:
        group = joined.filter(pl.col("role") == role)
        n = group.height
        hits = group.filter(pl.col("quadrant") == quadrant).height
        shown = n >= min_cell_k
        lo, hi = proportion_confint(hits, n, alpha=0.05, method="beta") if shown else (None, None)
        out[f"{role}_in_{quadrant.replace(' ', '_')}"] = {
            "n_role": n if shown else None,
            "rate": hits / n if shown else None,
            "ci_low": None if lo is None else float(lo),
            "ci_high": None if hi is None else float(hi),
            "suppressed": not shown,
        }
    return out
