"""The within-thread test's fits: design arrays, coefficients, bootstrap and placebo intervals.

:func:`design` turns the response table (``analysis.models.within_thread_responses``) into arrays,
groups and authors numbered in a key-independent order; :func:`run_test` fits every model's
standardised score on each outcome (``analysis.models.conditional_poisson``), with pigeonhole
bootstrap intervals (:func:`pigeonhole_draws`: competitions and authors resampled at once),
activity-matched placebo shuffles (:func:`placebo_z`) and paired differences between models.
Stage ``validate``; pure.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from analysis import ordering
from analysis.models.bootstrap import interval, paired_differences
from analysis.models.conditional_poisson import cpoisson
from analysis.models.within_thread_responses import CONTROLS, OUTCOMES

if TYPE_CHECKING:  # within_thread imports this module: only the annotations need its params
    from analysis.models.within_thread import ValidateParams


@dataclass
class Design:
    """The response table turned into arrays (one per model for the score column)."""

    y: dict[str, np.ndarray]
    controls: np.ndarray
    z: dict[str, np.ndarray]
    groups: np.ndarray
    authors: np.ndarray
    prior: np.ndarray
    row_origin: np.ndarray
    n_groups: int
    n_authors: int


def design(resp: pl.DataFrame, z: dict[str, pl.DataFrame], posts: pl.DataFrame) -> Design:
    """Arrays for fitting; groups and authors numbered in a key-independent order.

    Args:
        resp: :func:`responses` of every origin.
        z: model -> ``origin``, ``account_id``, ``z`` (standardised score at that origin).
    """
    resp = ordering.sort_posts(resp.join(posts.select("post_id", "text"), on="post_id"))
    group_order = resp.group_by("group", maintain_order=True).agg().with_row_index("gi")
    author_order = (
        ordering.account_order(posts)
        .join(resp.select("account_id").unique(), on="account_id", how="semi")
        .sort("order")
        .with_row_index("ai")
    )
    resp = resp.join(group_order, on="group").join(
        author_order.select("account_id", "ai"), on="account_id"
    )
    resp = resp.with_columns(origin=pl.col("group").str.split("|").list.first())
    zs = {}
    for name, frame in z.items():
        j = resp.join(frame, on=["origin", "account_id"], how="left")
        zs[name] = j["z"].fill_null(0.0).to_numpy()
    return Design(
        y={o: resp[o].to_numpy().astype(float) for o in OUTCOMES},
        controls=resp.select(CONTROLS).to_numpy().astype(float),
        z=zs,
        groups=resp["gi"].to_numpy().astype(np.int64),
        authors=resp["ai"].to_numpy().astype(np.int64),
        prior=resp["log_prior_posts"].to_numpy(),
        row_origin=resp["origin"].to_numpy(),
        n_groups=group_order.height,
        n_authors=author_order.height,
    )


def _fit(
    d: Design, outcome: str, z: np.ndarray, w_row=None, w_group=None
) -> tuple[float, float | None]:
    x = np.column_stack([z, d.controls])
    x = x - x.mean(axis=0)  # centring changes nothing in a fixed-effects fit but conditioning
    beta, se = cpoisson(d.y[outcome], x, d.groups, w_row, w_group)
    return float(beta[0]), (None if se is None else float(se[0]))


def placebo_z(d: Design, z: np.ndarray, rng: np.random.Generator, bins: int) -> np.ndarray:
    """Each author's score shuffled among authors of similar prior activity (per origin).

    One value per (origin, author) is permuted within quantile bins of prior posting volume,
    then written back to every response of that author at that origin.
    """
    keys = np.char.add(np.char.add(d.row_origin.astype(str), "|"), d.authors.astype(str))
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    a_origin, a_prior, a_z = d.row_origin[first], d.prior[first], z[first]
    new_z = a_z.copy()
    for o in np.unique(a_origin):
        idx = np.flatnonzero(a_origin == o)
        qs = np.quantile(a_prior[idx], np.linspace(0, 1, bins + 1)[1:-1]) if bins > 1 else []
        b = np.searchsorted(qs, a_prior[idx], side="right")
        for v in np.unique(b):
            members = idx[b == v]
            new_z[members] = a_z[rng.permutation(members)]
    return new_z[inverse.ravel()]


def pigeonhole_draws(d: Design, n_boot: int, seed: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(author multiplicities, competition multiplicities)`` of each bootstrap draw, drawn on
    demand: the same seed gives the same draws at every iteration."""
    rng = np.random.default_rng(seed)
    for _ in range(n_boot):
        mg = np.bincount(rng.integers(0, d.n_groups, d.n_groups), minlength=d.n_groups)
        ma = np.bincount(rng.integers(0, d.n_authors, d.n_authors), minlength=d.n_authors)
        yield ma, mg


def run_test(d: Design, p: ValidateParams) -> dict[str, Any]:
    """Coefficients, bootstrap and placebo intervals, and paired differences for every model.

    Thousands of fits, each a few passes of matrix-vector products over the responses:
    :func:`within_thread` runs them on one BLAS thread. Above OpenBLAS's threading threshold
    every product otherwise hands half its rows to a second thread and waits for it; on a
    shared, loaded machine each wait costs a scheduler slice, which made a fit at 100k
    synthetic posts 170 times slower than at 30k (0.42 s against 2.4 ms for 3.4 times the
    rows; docs/scaling.md). One thread also makes the numbers independent of the core count: a
    reduction over rows split between two threads sums in another order, and Newton's stopping
    rule turns that last bit into ~1e-9 in a coefficient.
    """
    alpha = (1 - p.interval) / 2
    models = list(d.z)
    res: dict[str, Any] = {"models": {}, "paired": {}}
    # per draw one multiplicity per author and per competition, drawn again for each model (one
    # draw held at a time, not n_boot x (authors + competitions)) and spread over the rows only
    # when fitted
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for outcome in OUTCOMES:
            if d.y[outcome].sum() == 0:
                for m in models:
                    res["models"].setdefault(m, {})[outcome] = None
                continue
            boot = {m: np.empty(p.n_boot) for m in models}
            for m in models:
                if np.std(d.z[m]) == 0:
                    res["models"].setdefault(m, {})[outcome] = None
                    boot[m] = np.full(p.n_boot, np.nan)
                    continue
                coef, se = _fit(d, outcome, d.z[m])
                if not np.isfinite(coef):
                    res["models"].setdefault(m, {})[outcome] = None
                    boot[m] = np.full(p.n_boot, np.nan)
                    continue
                for b, (ma, mg) in enumerate(pigeonhole_draws(d, p.n_boot, p.seed)):
                    boot[m][b] = _fit(d, outcome, d.z[m], ma[d.authors], mg)[0]
                prng = np.random.default_rng(p.seed + 1)
                plac = np.array(
                    [
                        _fit(d, outcome, placebo_z(d, d.z[m], prng, p.placebo_bins))[0]
                        for _ in range(p.n_placebo)
                    ]
                )
                low, high = interval(boot[m], alpha)
                res["models"].setdefault(m, {})[outcome] = {
                    "coef": coef,
                    "se": se,
                    "ci_low": low,
                    "ci_high": high,
                    "placebo_coef": float(np.mean(plac)),
                    "placebo_low": float(np.quantile(plac, alpha)),
                    "placebo_high": float(np.quantile(plac, 1 - alpha)),
                }
            estimates = {m: (res["models"][m][outcome] or {}).get("coef") for m in models}
            res["paired"][outcome] = paired_differences(
                estimates, {m: boot[m] for m in models}, p.comparators, alpha
            )
    return res
