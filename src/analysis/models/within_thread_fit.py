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
from threadpoolctl import threadpool_limits

from analysis import ordering
from analysis.compute import Engine, LocalEngine
from analysis.models.bootstrap import interval, paired_differences, sample_units
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
    #: The competitions before :func:`design` drew a sample of ``n_groups`` (None: not told).
    n_groups_total: int | None = None


#: The competitions' sampling stream (``bootstrap.sample_units``): numbers of its own.
COMPETITION_STREAM = 1


def design(
    resp: pl.DataFrame,
    z: dict[str, pl.DataFrame],
    posts: pl.DataFrame,
    max_groups: int | None = None,
    seed: int = 0,
) -> Design:
    """Arrays for fitting; groups and authors numbered in a key-independent order.

    Above ``max_groups`` competitions, a random sample of that many is fitted
    (``bootstrap.sample_units`` with ``seed``): drawn in that order, so the same under any key
    and any row order.

    Args:
        resp: :func:`responses` of every origin.
        z: model -> ``origin``, ``account_id``, ``z`` (standardised score at that origin).
    """
    resp = ordering.sort_posts(
        resp.join(posts.select("post_id", *ordering.content_columns(posts)), on="post_id")
    )
    group_order = resp.group_by("group", maintain_order=True).agg().with_row_index("gi")
    n_total = group_order.height
    keep = sample_units(n_total, max_groups, seed, COMPETITION_STREAM)
    if keep is not None:
        group_order = group_order[keep].drop("gi").with_row_index("gi")
        resp = resp.join(group_order.select("group"), on="group", how="semi")
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
        n_groups_total=n_total,
    )


def _fit(
    d: Design, outcome: str, z: np.ndarray, w_row=None, w_group=None
) -> tuple[float, float | None]:
    x = np.column_stack([z, d.controls])
    x = x - x.mean(axis=0)  # centring changes nothing in a fixed-effects fit but conditioning
    beta, se = cpoisson(d.y[outcome], x, d.groups, w_row, w_group)
    return float(beta[0]), (None if se is None else float(se[0]))


@dataclass(frozen=True)
class PlaceboCells:
    """Where :func:`placebo_z` shuffles: one unit per (origin, author), units in bins.

    Depends on the design and the number of bins only, not on the score being shuffled, so it
    is built once per test (:func:`placebo_cells`) rather than once per shuffle: grouping the
    responses by (origin, author) took four times as long as a fit.
    """

    first: np.ndarray  #: the first response of each unit
    inverse: np.ndarray  #: each response's unit
    cells: tuple[np.ndarray, ...]  #: the units of each (origin, bin), in shuffling order


def placebo_cells(d: Design, bins: int) -> PlaceboCells:
    """Units (origin, author) binned by quantiles of prior posting volume within each origin."""
    keys = np.char.add(np.char.add(d.row_origin.astype(str), "|"), d.authors.astype(str))
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    a_origin, a_prior = d.row_origin[first], d.prior[first]
    cells: list[np.ndarray] = []
    for o in np.unique(a_origin):
        idx = np.flatnonzero(a_origin == o)
        qs = np.quantile(a_prior[idx], np.linspace(0, 1, bins + 1)[1:-1]) if bins > 1 else []
        b = np.searchsorted(qs, a_prior[idx], side="right")
        cells.extend(idx[b == v] for v in np.unique(b))
    return PlaceboCells(first=first, inverse=inverse.ravel(), cells=tuple(cells))


def placebo_z(cells: PlaceboCells, z: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each author's score shuffled among authors of similar prior activity (per origin).

    One value per (origin, author) is permuted within its cell (:func:`placebo_cells`), then
    written back to every response of that author at that origin.
    """
    a_z = z[cells.first]
    new_z = a_z.copy()
    for members in cells.cells:
        new_z[members] = a_z[rng.permutation(members)]
    return new_z[cells.inverse]


def pigeonhole_draws(d: Design, n_boot: int, seed: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(author multiplicities, competition multiplicities)`` of each bootstrap draw, drawn on
    demand: the same seed gives the same draws at every iteration."""
    rng = np.random.default_rng(seed)
    for _ in range(n_boot):
        mg = np.bincount(rng.integers(0, d.n_groups, d.n_groups), minlength=d.n_groups)
        ma = np.bincount(rng.integers(0, d.n_authors, d.n_authors), minlength=d.n_authors)
        yield ma, mg


def model_fits(
    item: tuple[str, str], design: Design, params: ValidateParams, cells: PlaceboCells
) -> tuple[dict[str, Any] | None, np.ndarray]:
    """One model on one outcome: its coefficient, bootstrap and placebo intervals, and its
    bootstrap draws (for the paired differences), or ``(None, NaN draws)`` where the model's
    score does not vary or its fit has no finite maximum.

    ``item`` is ``(outcome, model)``. A top-level, pure task: :func:`run_test` maps it over every
    (outcome, model) through a ``compute`` engine, so the fits can run on a cluster; each task
    fits on one BLAS thread (see :func:`run_test`).
    """
    outcome, m = item
    d, p = design, params
    alpha = (1 - p.interval) / 2
    nan = np.full(p.n_boot, np.nan)
    with threadpool_limits(limits=1, user_api="blas"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if np.std(d.z[m]) == 0:
            return None, nan
        coef, se = _fit(d, outcome, d.z[m])
        if not np.isfinite(coef):
            return None, nan
        # per draw one multiplicity per author and per competition, drawn again for each model
        # (one draw held at a time, not n_boot x (authors + competitions)) and spread over the
        # rows only when fitted
        boot = np.empty(p.n_boot)
        for b, (ma, mg) in enumerate(pigeonhole_draws(d, p.n_boot, p.seed)):
            boot[b] = _fit(d, outcome, d.z[m], ma[d.authors], mg)[0]
        prng = np.random.default_rng(p.seed + 1)
        plac = np.array(
            [_fit(d, outcome, placebo_z(cells, d.z[m], prng))[0] for _ in range(p.n_placebo)]
        )
    low, high = interval(boot, alpha)
    return {
        "coef": coef,
        "se": se,
        "ci_low": low,
        "ci_high": high,
        "placebo_coef": float(np.mean(plac)),
        "placebo_low": float(np.quantile(plac, alpha)),
        "placebo_high": float(np.quantile(plac, 1 - alpha)),
    }, boot


def run_test(d: Design, p: ValidateParams, engine: Engine | None = None) -> dict[str, Any]:
    """Coefficients, bootstrap and placebo intervals, and paired differences for every model.

    The (outcome, model) fits (:func:`model_fits`) run through ``engine`` (``compute`` in
    params.yaml; None: this process): the same numbers wherever they run.

    Thousands of fits, each a few passes of matrix-vector products over the responses, each on
    one BLAS thread. Above OpenBLAS's threading threshold every product otherwise hands half
    its rows to a second thread and waits for it; on a shared, loaded machine each wait costs a
    scheduler slice, which made a fit at 100k synthetic posts 170 times slower than at 30k
    (0.42 s against 2.4 ms for 3.4 times the rows; docs/scaling-log.md). One thread also makes the
    numbers independent of the core count: a reduction over rows split between two threads
    sums in another order, and Newton's stopping rule turns that last bit into ~1e-9 in a
    coefficient.
    """
    alpha = (1 - p.interval) / 2
    models = list(d.z)
    fitted = [o for o in OUTCOMES if d.y[o].sum() != 0]
    items = [(o, m) for o in fitted for m in models]
    engine = engine or LocalEngine()
    done = dict(
        zip(
            items,
            engine.map(
                model_fits, items, design=d, params=p, cells=placebo_cells(d, p.placebo_bins)
            ),
            strict=True,
        )
    )
    # a model whose score does not vary has no fit, and a comparator that does not vary sets no
    # bar to beat (the rule then asks only for the candidate's own interval above zero)
    constant = [m for m in models if np.std(d.z[m]) == 0]
    res: dict[str, Any] = {"models": {}, "paired": {}, "constant_scores": constant}
    for outcome in OUTCOMES:
        for m in models:
            res["models"].setdefault(m, {})[outcome] = (
                done[outcome, m][0] if outcome in fitted else None
            )
        if outcome not in fitted:
            continue
        estimates = {m: (res["models"][m][outcome] or {}).get("coef") for m in models}
        res["paired"][outcome] = paired_differences(
            estimates, {m: done[outcome, m][1] for m in models}, p.comparators, alpha
        )
    return res
