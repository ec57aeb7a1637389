"""Model ``conversation_rate``: how much conversation does a typical item of this account draw?

The ``conversation`` model counts totals, so it rewards being present: a weekend offline removes
a weekend's worth of replies. This model measures the same thing per item, which makes it
indifferent to *how much* and *when* someone posts, and lowers it when someone posts more
items that nobody answers:

* ``c_answered``: log(1 + distinct other accounts replying per item), empirical-Bayes shrunk;
* ``c_two_way``: log(1 + reciprocal exchanges per item), empirical-Bayes shrunk (a reply from
  someone the account has also written to, at any time before ``as_of``: by who wrote, so a
  Stack Exchange answer is the answerer's word to the asker, although its credit runs the
  other way);

``score = c_answered + c_two_way``. Both rates are ratios of decay-weighted sums over the
account's own items, so the decay cancels out of a steady rate and time off only means fewer
observations. Shrinkage is gamma-Poisson: with ``E`` the weighted number of items and ``Y`` the
weighted count, the posterior mean is ``(Y + k·m) / (E + k)`` where the population mean ``m``
and the prior strength ``k`` (in items) come from the method of moments across accounts
(prior variance = variance of the rates minus ``m · mean(1/E)``, see
:func:`analysis.models.common.gamma_poisson`). An account with two lucky items is pulled towards
the mean; one with hundreds is not.
``score_se`` is the posterior standard deviation of the answered rate on the log scale (delta
method). Replies to and from the non-participant placeholder do not count.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import polars as pl

from analysis import schema, semantics
from analysis.models import common, fits
from analysis.models.base import Model, Tables
from analysis.models.params import ModelParams, NoParams, model_params

NAME = "conversation_rate"
TITLE = "Conversation per item (distinct repliers and two-way exchanges per post, shrunk)"
UNIT = "log(1 + rate) components"
OBS = "items it authored"
COMPONENTS = {
    "c_answered": "log(1 + distinct people replying per item, shrunk to the population)",
    "c_two_way": "log(1 + two-way exchanges per item, shrunk to the population)",
}

#: No params of its own (its ``models.scored`` line is ``{}``).
Params = NoParams
EXTRA = ("repliers_per_item", "two_way_per_item", "prior_items")


def score(tables: Tables, params: ModelParams, as_of: datetime) -> pl.DataFrame:
    """Score every participant by the conversation its typical item draws, before ``as_of``."""
    p = model_params(params)
    half_life, window = common.timing(p)
    # the columns read below: the scoping copies these alone
    posts = common.scoped_posts(common.edge_posts(tables.posts), as_of, half_life, window)
    placeholder = schema.NONPARTICIPANT_ID
    # Items an account authored (reposts amplify someone else: not the account's own item).
    # the columns read below (an eager filter copies every column)
    items = (
        posts.lazy()
        .filter((pl.col("kind") != "repost") & (pl.col("account_id") != placeholder))
        .select("post_id", "account_id", "w")
        .collect()
    )
    # Credit each item drew from someone else, by the platform's meaning (``analysis.semantics``:
    # replies to it; for a Stack Exchange answer, the asker's credit and comments on it).
    edges = common.reply_edges(posts, reactions=tables.reactions, as_of=as_of).filter(
        pl.col("dst") != placeholder
    )
    del posts  # the scoped posts: a copy at a date before the last post
    replies = (
        edges.select(pl.col("target_post_id").alias("post_id"), pl.col("src").alias("replier"))
        .join(items.select("post_id", "account_id", "w"), on="post_id")
        .filter((pl.col("replier") != pl.col("account_id")) & (pl.col("replier") != placeholder))
    )
    # Reciprocity: pairs (author, replier) where the author also wrote to the replier, by who
    # wrote (``semantics.by_actor``): by credit, "R answered A's question" read as A answering
    # R, and "A answered R's question" as nothing A did.
    answered_back = (
        semantics.by_actor(edges.select("src", "dst", "channel"))
        .select(pl.col("src").alias("account_id"), pl.col("dst").alias("replier"))
        .unique()
    )
    pair = ("account_id", "replier")
    matched = common.pair_join(
        replies.unique(["post_id", "replier"]),
        answered_back.with_columns(two_way=pl.lit(1)),
        pair,
        pair,
        how="left",
    )
    per_item = matched.group_by("post_id").agg(
        n_repliers=pl.len(), n_two_way=pl.col("two_way").fill_null(0).sum()
    )
    per = (
        items.select("post_id", "account_id", "w")
        .join(per_item, on="post_id", how="left")
        .with_columns(pl.col("n_repliers", "n_two_way").fill_null(0))
        .group_by("account_id")
        .agg(
            e=common.ordered_sum(pl.col("w")),
            y=common.ordered_sum(pl.col("w") * pl.col("n_repliers")),
            y2=common.ordered_sum(pl.col("w") * pl.col("n_two_way")),
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
    m1, k1 = common.gamma_poisson(pl.col("y"), pl.col("e"), per)
    m2, k2 = common.gamma_poisson(pl.col("y2"), pl.col("e"), per)
    fits.note(
        NAME,
        as_of,
        f"{common.GAMMA_POISSON}; answered: {common.gamma_poisson_state(m1, k1)}; two-way: "
        f"{common.gamma_poisson_state(m2, k2)}",
        per.height,
        answered_mean=m1,
        answered_prior_items=k1,
        two_way_mean=m2,
        two_way_prior_items=k2,
    )
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


if TYPE_CHECKING:  # a type checker verifies this module against the model protocol
    from analysis.models import conversation_rate as _self

    _protocol_check: Model = _self
