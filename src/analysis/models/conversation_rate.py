"""Model ``conversation_rate``: how much conversation does a typical item of this account draw?

The ``conversation`` model counts totals, so it rewards being present: a weekend offline removes
a weekend's worth of replies. This model measures the same thing per item, which makes it
indifferent to *how much* and *when* someone posts, and lowers it when someone posts more
items that nobody answers:

* ``c_answered``: log(1 + distinct other accounts replying per item), empirical-Bayes shrunk;
* ``c_two_way``: log(1 + reciprocal exchanges per item), empirical-Bayes shrunk (a reply from
  someone the account has also answered, at any time before ``as_of``);

``score = c_answered + c_two_way``. Both rates are ratios of decay-weighted sums over the
account's own items, so the decay cancels out of a steady rate and time off only means fewer
observations. Shrinkage is gamma-Poisson: with ``E`` the weighted number of items and ``Y`` the
weighted count, the posterior mean is ``(Y + k·m) / (E + k)`` where the population mean ``m``
and the prior strength ``k`` (in items) come from the method of moments across accounts
(prior variance = variance of the rates minus ``m · mean(1/E)``, see :func:`gamma_poisson`). An
account with two lucky items is pulled towards the mean; one with hundreds is not.
``score_se`` is the posterior standard deviation of the answered rate on the log scale (delta
method). Replies to and from the non-participant placeholder do not count.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from analysis import schema
from analysis.models import common
from analysis.models.base import Tables
from analysis.models.params import model_params

NAME = "conversation_rate"
TITLE = "Conversation per item (distinct repliers and two-way exchanges per post, shrunk)"
UNIT = "log(1 + rate) components"
OBS = "items it authored"
COMPONENTS = {
    "c_answered": "log(1 + distinct people replying per item, shrunk to the population)",
    "c_two_way": "log(1 + two-way exchanges per item, shrunk to the population)",
}
EXTRA = ("repliers_per_item", "two_way_per_item", "prior_items")


def gamma_poisson(y: pl.Expr, e: pl.Expr, frame: pl.DataFrame) -> tuple[float, float]:
    """Method-of-moments prior (mean m, strength k in items) of per-item rates ``y/e``.

    With true rates of prior mean m and variance v, an account's observed rate ``y/e`` has
    variance ``v + m/e`` (Poisson noise), so the plain between-account variance of the rates
    is ``v + m * mean(1/e)``: the prior variance is that minus ``m * mean(1/e)`` (not
    ``m / mean(e)``, which understates the noise of small accounts and so shrinks too little);
    k = m / v. With no excess variance the prior is strong (k large). Accounts with less than
    one item's worth of weight (``e < 1``: a few old items) would dominate ``mean(1/e)`` with
    noise, so the moments are taken over the others (all of them when none reach 1).
    """
    fit = frame.filter(e >= 1.0)
    if fit.height < 2:
        fit = frame
    stats = fit.select(
        (y.sum() / e.sum()).alias("m"),
        (y / e).var().alias("var_rate"),
        (1.0 / e).mean().alias("inv_e_mean"),
    ).row(0, named=True)
    m = float(stats["m"] or 0.0)
    if m <= 0:
        return 0.0, 1.0
    excess = float(stats["var_rate"] or 0.0) - m * float(stats["inv_e_mean"] or 0.0)
    k = m / excess if excess > 1e-12 else 1e6
    return m, float(min(max(k, 0.5), 1e6))


def score(tables: Tables, params: object, as_of: datetime) -> pl.DataFrame:
    """Score every participant by the conversation its typical item draws, before ``as_of``."""
    p = model_params(params)
    half_life, window = common.timing(p)
    posts = common.scoped_posts(tables.posts, as_of, half_life, window)
    placeholder = schema.NONPARTICIPANT_ID
    # Items an account authored (reposts amplify someone else: not the account's own item).
    items = posts.filter((pl.col("kind") != "repost") & (pl.col("account_id") != placeholder))
    # Credit each item drew from someone else, by the platform's meaning (``analysis.semantics``:
    # replies to it; for a Stack Exchange answer, the asker's credit and comments on it).
    edges = common.reply_edges(posts, reactions=tables.reactions, as_of=as_of).filter(
        pl.col("dst") != placeholder
    )
    replies = (
        edges.select(pl.col("target_post_id").alias("post_id"), pl.col("src").alias("replier"))
        .join(items.select("post_id", "account_id", "w"), on="post_id")
        .filter((pl.col("replier") != pl.col("account_id")) & (pl.col("replier") != placeholder))
    )
    # Reciprocity: pairs (author, replier) where the author also credited the replier.
    answered_back = edges.select(
        pl.col("src").alias("account_id"), pl.col("dst").alias("replier")
    ).unique()
    per_item = (
        replies.unique(["post_id", "replier"])
        .join(
            answered_back.with_columns(two_way=pl.lit(1)), on=["account_id", "replier"], how="left"
        )
        .group_by("post_id")
        .agg(n_repliers=pl.len(), n_two_way=pl.col("two_way").fill_null(0).sum())
    )
    per = (
        items.select("post_id", "account_id", "w")
        .join(per_item, on="post_id", how="left")
        .with_columns(pl.col("n_repliers", "n_two_way").fill_null(0))
        .group_by("account_id")
        .agg(
            e=pl.col("w").sum(),
            y=(pl.col("w") * pl.col("n_repliers")).sum(),
            y2=(pl.col("w") * pl.col("n_two_way")).sum(),
            n_obs=pl.len(),
        )
        .filter(pl.col("e") > 0)
    )
    if per.height == 0:  # nothing authored before as_of: every participant scores 0
        empty = per.select("account_id").with_columns(
            score=pl.lit(None, dtype=pl.Float64),
            score_se=pl.lit(None, dtype=pl.Float64),
            n_obs=pl.lit(None, dtype=pl.Int64),
            **{c: pl.lit(None, dtype=pl.Float64) for c in (*COMPONENTS, *EXTRA)},
        )
        return common.finish(empty, tables, NAME, as_of, half_life, window, [], extra=EXTRA)
    m1, k1 = gamma_poisson(pl.col("y"), pl.col("e"), per)
    m2, k2 = gamma_poisson(pl.col("y2"), pl.col("e"), per)
    rate1 = (pl.col("y") + k1 * m1) / (pl.col("e") + k1)
    rate2 = (pl.col("y2") + k2 * m2) / (pl.col("e") + k2)
    per = per.with_columns(
        repliers_per_item=rate1,
        two_way_per_item=rate2,
        prior_items=pl.lit(k1),
        c_answered=rate1.log1p(),
        c_two_way=rate2.log1p(),
        # gamma posterior sd of the rate, then the delta method for log1p
        score_se=((pl.col("y") + k1 * m1).sqrt() / (pl.col("e") + k1)) / (1 + rate1),
    ).with_columns(score=pl.col("c_answered") + pl.col("c_two_way"))
    per = per.select("account_id", "score", "score_se", "n_obs", *COMPONENTS, *EXTRA)
    return common.finish(per, tables, NAME, as_of, half_life, window, [], extra=EXTRA)
