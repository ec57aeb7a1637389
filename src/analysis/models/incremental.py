"""Account-level incremental validity over plain activity (stage ``validate``; pure).

Does a score say anything about an account's future that its activity does not? At each
rolling origin ``T`` (the same as the within-thread test), take the accounts active before ``T``
that post in the window after it. Outcome: what their window posts draw *per post* (distinct
other accounts crediting each post, and positive reactions, within ``follow_days`` of it),
modelled as a Poisson GLM with ``log(posts in the window)`` as exposure offset, so that posting
more buys nothing by construction. The baseline is plain activity: ``log(1 + posts before T)``,
``log(1 + days since the last post before T)`` and one effect per origin. Each model adds its
standardised score; reported: its coefficient (log rate ratio per SD) and the gain in McFadden
pseudo-R² over the baseline, with intervals from a bootstrap over accounts (all origins of an
account move together) that refits every model on the same draws (paired).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
from threadpoolctl import threadpool_limits

from analysis import ordering
from analysis.compute import Engine, LocalEngine
from analysis.models import common, poisson_irls
from analysis.models.base import Tables
from analysis.models.bootstrap import interval, paired_differences, sample_units
from analysis.models.validity import EDGE_COLUMNS, active_before, order_columns
from analysis.models.within_thread import ValidateParams
from analysis.models.within_thread_responses import Origin, fitted_z, origins

log = logging.getLogger(__name__)

OUTCOMES = ("conversation", "approval")
#: The accounts' sampling stream (``bootstrap.sample_units``): numbers of its own.
ACCOUNT_STREAM = 2
BASELINE = ("log_prior_posts", "log_days_since_last")


def account_outcomes(tables: Tables, o: Origin, follow_days: float, end: datetime) -> pl.DataFrame:
    """Per account active before T and posting in the window: exposure, baseline and outcomes."""
    posts = tables.posts
    t0, t1 = o.scored_at, o.window_end
    follow = timedelta(days=follow_days)
    # only the columns each step reads are filtered (a filter copies every column it keeps)
    before = posts.select("account_id", "created_at").filter(pl.col("created_at") < t0)
    base = before.group_by("account_id").agg(
        log_prior_posts=pl.len().cast(pl.Float64).log1p(),
        log_days_since_last=((pl.lit(t0) - pl.col("created_at").max()).dt.total_seconds() / 86400)
        .cast(pl.Float64)
        .log1p(),
    )
    window = (
        posts.select("post_id", "account_id", "created_at", "kind")
        .filter(
            (pl.col("created_at") > t0)
            & (pl.col("created_at") <= t1)
            & (pl.col("created_at") + follow <= end)
            & (pl.col("kind") != "repost")
        )
        .select("post_id", "account_id", "created_at")
    )
    scoped = common.scoped_posts(
        posts.select(EDGE_COLUMNS).filter(pl.col("created_at") <= t1 + follow),
        t1 + follow,
        1.0,
        None,
    )
    # Responses to the post itself (an answer's own credit from the asker is not a response).
    edges = (
        common.reply_edges(scoped)
        .filter(pl.col("post_id") != pl.col("target_post_id"))
        .select("target_post_id", "src", pl.col("created_at").alias("_at"))
    )
    conv = (
        window.join(edges, left_on="post_id", right_on="target_post_id")
        .filter(
            (pl.col("src") != pl.col("account_id"))
            & (pl.col("_at") <= pl.col("created_at") + follow)
        )
        .group_by("post_id")
        .agg(conversation=pl.col("src").n_unique())
    )
    positive = tables.reactions.filter(
        pl.col("kind").is_in(list(common.POSITIVE_REACTIONS)) & pl.col("created_at").is_not_null()
    )
    if positive.height:
        appr = (
            window.join(
                positive.select("post_id", "actor_account_id", pl.col("created_at").alias("_r")),
                on="post_id",
            )
            .filter(
                (
                    pl.col("actor_account_id").is_null()
                    | (pl.col("actor_account_id") != pl.col("account_id"))
                )
                & (pl.col("_r") <= pl.col("created_at") + follow)
            )
            .group_by("post_id")
            .agg(approval=pl.len())
        )
    else:
        has_likes = pl.col("n_likes").is_not_null() | pl.col("n_reposts").is_not_null()
        appr = (
            posts.select("post_id", "n_likes", "n_reposts", "score")
            .join(window.select("post_id"), on="post_id")
            .select(
                "post_id",
                approval=pl.when(has_likes)
                .then(pl.col("n_likes").fill_null(0) + pl.col("n_reposts").fill_null(0))
                .otherwise(pl.col("score").clip(lower_bound=0)),
            )
        )
    per_post = (
        window.join(conv, on="post_id", how="left")
        .join(appr, on="post_id", how="left")
        .with_columns(pl.col("conversation", "approval").fill_null(0))
    )
    return (
        per_post.group_by("account_id")
        .agg(
            n_posts_window=pl.len(),
            conversation=pl.col("conversation").sum().cast(pl.Float64),
            approval=pl.col("approval").sum().cast(pl.Float64),
        )
        .join(base, on="account_id")
        .with_columns(origin=pl.lit(t0.isoformat()))
    )


def _poisson(y, x, offset, weights) -> tuple[float | None, float | None, float | None]:
    """(coefficient of column 0 of ``x`` or None, log-likelihood, null log-likelihood):
    statsmodels' ``GLM(..., family=Poisson(), offset, freq_weights).fit()`` and its ``llf``
    and ``llnull``, to the bit, by :mod:`poisson_irls` (the baseline of every bootstrap draw:
    statsmodels built two models and their results objects per fit)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            params, llf = poisson_irls.poisson_irls(y, x, offset, weights)
            llnull = poisson_irls.poisson_null_llf(y, offset, weights)
        return float(params[0]), llf, llnull
    except Exception as exc:  # separation, singular designs in a bootstrap draw
        log.debug("poisson fit failed: %s", exc)
        return None, None, None


def bootstrap_counts(n_acc: int, n_boot: int, seed: int) -> Iterator[np.ndarray]:
    """The bootstrap's multiplicity per account, one array per draw, drawn on demand.

    The same seed gives the same draws each time it is iterated, so each model's refits use the
    draws of the baseline without holding ``n_boot x accounts`` counts.
    """
    rng = np.random.default_rng(seed)
    for _ in range(n_boot):
        yield np.bincount(rng.integers(0, n_acc, n_acc), minlength=n_acc)


def _poisson_coef(y, x, offset, weights) -> tuple[float | None, float | None]:
    """(coefficient of column 0 of ``x`` or None, log-likelihood): :func:`_poisson` without the
    null model, by :func:`poisson_irls.poisson_irls` (statsmodels' numbers, to the bit)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            params, llf = poisson_irls.poisson_irls(y, x, offset, weights)
        return float(params[0]), llf
    except Exception as exc:  # separation, singular designs in a bootstrap draw
        log.debug("poisson fit failed: %s", exc)
        return None, None


@dataclass(frozen=True)
class Fits:
    """What every fit of :func:`incremental` reads: one row per account-origin."""

    y: dict[str, np.ndarray]  #: outcome -> counts
    base_x: np.ndarray  #: intercept, the activity baseline, origin effects
    offset: np.ndarray  #: log(posts in the window)
    z: dict[str, np.ndarray]  #: model -> standardised score
    acct_idx: np.ndarray  #: each row's account (0..n_acc-1), for the bootstrap
    n_acc: int
    n_boot: int
    seed: int

    def counts(self) -> Iterator[np.ndarray]:
        """Each draw's multiplicity per account, drawn again for each model (one draw held at a
        time, not n_boot x accounts) and spread over the account's rows only when fitted."""
        return bootstrap_counts(self.n_acc, self.n_boot, self.seed)


Baseline = tuple[float | None, float | None, list[tuple[float | None, float | None]]]


def baseline_fits(outcome: str, fits: Fits) -> Baseline:
    """The activity baseline on one outcome: its log-likelihood, the null model's, and both for
    every bootstrap draw. A top-level task, mapped over the outcomes by a ``compute`` engine."""
    y = fits.y[outcome]
    with threadpool_limits(limits=1, user_api="blas"):
        _, ll_base, ll_null = _poisson(y, fits.base_x, fits.offset, np.ones(y.shape[0]))
        draws = [_poisson(y, fits.base_x, fits.offset, c[fits.acct_idx])[1:] for c in fits.counts()]
    return ll_base, ll_null, draws


def model_fits(
    item: tuple[str, str], fits: Fits, baselines: dict[str, Baseline], alpha: float
) -> tuple[dict[str, Any] | None, np.ndarray | None]:
    """One model on one outcome: coefficient and pseudo-R² gain over the baseline with their
    intervals, and the bootstrap draws of the coefficient (None where the score does not vary
    or the baseline has no fit). ``item`` is ``(outcome, model)``; a top-level task."""
    outcome, name = item
    ll_base, ll_null, b_base = baselines[outcome]
    zz = fits.z[name]
    if np.std(zz) == 0 or ll_base is None:
        return None, None
    y = fits.y[outcome]
    x = np.column_stack([zz, fits.base_x])
    with threadpool_limits(limits=1, user_api="blas"):
        coef, ll = _poisson_coef(y, x, fits.offset, np.ones(y.shape[0]))
        bc, bg = [], []
        for cnt, (llb, lln) in zip(fits.counts(), b_base, strict=True):
            c, llf = _poisson_coef(y, x, fits.offset, cnt[fits.acct_idx])
            bc.append(np.nan if c is None else c)
            bg.append(np.nan if llf is None or llb is None or not lln else (llf - llb) / -lln)
    boot, gain = np.array(bc), np.array(bg)
    c_low, c_high = interval(boot, alpha)
    g_low, g_high = interval(gain, alpha)
    return {
        "coef": coef,
        "ci_low": c_low,
        "ci_high": c_high,
        "r2_gain": None if ll is None else (ll - ll_base) / -ll_null,
        "r2_gain_ci_low": g_low,
        "r2_gain_ci_high": g_high,
    }, boot


def incremental(
    tables: Tables,
    scores_at: Callable[[datetime], dict[str, pl.DataFrame]],
    p: ValidateParams,
    cached: dict[datetime, dict[str, pl.DataFrame]] | None = None,
    engine: Engine | None = None,
) -> dict[str, Any]:
    """Coefficient and pseudo-R² gain over the activity baseline per model, with intervals.

    The fits (the baseline's per outcome, then each model's per outcome) run through ``engine``
    (``compute`` in params.yaml; None: this process), each on one BLAS thread (many small fits:
    see ``within_thread_fit.run_test``): the same numbers wherever they run.
    """
    posts = tables.posts
    end = posts["created_at"].max()
    frames, zs = [], {}
    for o in origins(posts, p):
        acc = account_outcomes(tables, o, p.follow_days, end)
        if not acc.height:
            continue
        active = active_before(posts, o.scored_at)
        scores = cached[o.scored_at] if cached and o.scored_at in cached else scores_at(o.scored_at)
        for name, s in scores.items():
            zs.setdefault(name, []).append(fitted_z(s, active, acc, o.scored_at))
        frames.append(acc)
    if not frames or sum(f.height for f in frames) < p.min_responses:
        n = sum(f.height for f in frames)
        return {"n_account_origins": n, "skipped": f"{n} account-origins (< {p.min_responses})"}
    data = pl.concat(frames)
    order = ordering.account_order(posts.select(order_columns(posts))).join(
        data.select("account_id").unique(), on="account_id", how="semi"
    )
    data = data.join(order, on="account_id").sort("order", "origin")
    acct_idx = data["order"].rank("dense").cast(pl.Int64).to_numpy() - 1
    n_rows_total, n_acc_total = data.height, int(acct_idx.max()) + 1
    keep = sample_units(n_acc_total, p.max_accounts, p.seed, ACCOUNT_STREAM)
    if keep is not None:
        log.info(
            "incremental: fitting a random %d of %d accounts (validate.max_accounts)",
            keep.size,
            n_acc_total,
        )
        data = data.filter(pl.Series(np.isin(acct_idx, keep)))
        acct_idx = data["order"].rank("dense").cast(pl.Int64).to_numpy() - 1
    dummies = data.select("origin").to_dummies(drop_first=True)
    # one origin: no dummy columns (an empty frame's array has no rows either)
    origin_dummies = (
        dummies.to_numpy().astype(float) if dummies.width else np.empty((data.height, 0))
    )
    fits = Fits(
        y={o: data[o].to_numpy() for o in OUTCOMES},
        base_x=np.column_stack(
            [np.ones(data.height), data.select(BASELINE).to_numpy(), origin_dummies]
        ),
        offset=np.log(data["n_posts_window"].to_numpy().astype(float)),
        z={
            name: data.join(pl.concat(v), on=["origin", "account_id"], how="left")["z"]
            .fill_null(0.0)
            .to_numpy()
            for name, v in zs.items()
        },
        acct_idx=acct_idx,
        n_acc=int(acct_idx.max()) + 1,
        n_boot=p.n_boot,
        seed=p.seed + 7,
    )
    alpha = (1 - p.interval) / 2
    out: dict[str, Any] = {
        "n_account_origins": data.height,
        "n_accounts": fits.n_acc,
        # the whole check's size; above validate.max_accounts the counts above are a sample's
        "n_account_origins_total": n_rows_total,
        "n_accounts_total": n_acc_total,
        "baseline": [*BASELINE, "origin effects"],
        "models": {},
        "paired": {},
    }
    engine = engine or LocalEngine()
    fitted = [o for o in OUTCOMES if fits.y[o].sum() != 0]
    baselines = dict(zip(fitted, engine.map(baseline_fits, fitted, fits=fits), strict=True))
    items = [(o, name) for o in fitted for name in fits.z]
    done = dict(
        zip(
            items,
            engine.map(model_fits, items, fits=fits, baselines=baselines, alpha=alpha),
            strict=True,
        )
    )
    for outcome in fitted:
        boots = {}
        for name in fits.z:
            result, boot = done[outcome, name]
            out["models"].setdefault(name, {})[outcome] = result
            if boot is not None:
                boots[name] = boot
        estimates = {n: out["models"][n][outcome]["coef"] for n in boots}
        out["paired"][outcome] = paired_differences(estimates, boots, p.comparators, alpha)
    return out
