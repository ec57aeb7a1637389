"""Which topics an account is credited with, and with what evidence (stage ``topics``).

Reads the interim posts and reactions and the posts' primary topics; returns
``account_topics`` rows for two methods:

* ``naive``: any post in a topic counts (what Klout did: one Barbie post made you an expert);
  ranked by number of posts.
* ``evidence``: at least ``min_posts`` posts in the topic that each drew a reply or reaction
  from another participant (``n_engaged_posts``: a post nobody else answered, or only its author
  did, is no evidence of influence; posts in the topic without response still count in the rate's
  exposure) and at least ``min_engagers`` distinct other participants who replied to or reacted
  to those posts. Engagement is
  repliers per post (``n_replies``: each post's distinct other repliers, summed; one person's
  back-and-forth under a post is one) relative to the topic's baseline, shrunk toward the topic mean with a
  gamma-Poisson empirical-Bayes prior (method of moments per topic), with a credible interval.
  Ranked by expected repliers in the topic (posts x shrunk rate).

Only participants are ever attributed; the non-participant placeholder never is. The ground
truth evaluation (demo roles, Stack Exchange answer tags) is in ``attribution_eval``.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy import special

from analysis.schema import NONPARTICIPANT_ID
from analysis.topics import TopicsParams
from analysis.topics_clustering import OUTLIER

#: Cap of the prior's shape: when accounts of a topic do not differ beyond Poisson noise the
#: moment estimate of the between-account variance is <= 0; a prior worth 100 posts is "very sure".
MAX_PRIOR_POSTS = 100.0


def engagements(
    posts: pl.DataFrame,
    reactions: pl.DataFrame,
    participants: pl.Series,
    targets: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """One row per engagement with a post by someone other than its author.

    Args:
        targets: the posts that count (``post_id``, ``account_id``: the author, and any
            columns to carry along, e.g. the post's topic); default every post. An engagement
            with a post not among them is left out (one join: the authors and the carried
            columns at once).

    Returns:
        ``post_id``, ``engager_account_id``, ``is_reply``, ``account_id`` (the post's author)
        and the targets' other columns; engagers are participants only (replies by the
        placeholder or anonymous votes carry no identity to count).
    """
    if targets is None:
        targets = posts.select("post_id", "account_id")
    replies = (
        posts.filter(pl.col("parent_post_id").is_not_null())
        .select(
            pl.col("parent_post_id").alias("post_id"),
            pl.col("account_id").alias("engager_account_id"),
        )
        .with_columns(is_reply=pl.lit(True))
    )
    reacts = (
        reactions.filter(pl.col("actor_account_id").is_not_null())
        .select("post_id", pl.col("actor_account_id").alias("engager_account_id"))
        .with_columns(is_reply=pl.lit(False))
    )
    return (
        pl.concat([replies, reacts])
        .join(targets, on="post_id", how="inner")
        .filter(
            (pl.col("engager_account_id") != pl.col("account_id"))
            & pl.col("engager_account_id").is_in(participants.implode())
            & (pl.col("engager_account_id") != NONPARTICIPANT_ID)
        )
    )


def _gamma_prior(y: np.ndarray, n: np.ndarray) -> tuple[float, float]:
    """Method-of-moments gamma prior (shape, rate) of per-account rates y/n in one topic."""
    total_n = n.sum()
    mean = y.sum() / total_n if total_n else 0.0
    mean = max(mean, 1e-3)  # a topic nobody replies to still needs a proper prior
    rates = y / n
    var_w = float(np.sum(n * (rates - mean) ** 2) / total_n) if total_n else 0.0
    tau2 = var_w - mean * len(n) / total_n  # between-account variance beyond Poisson noise
    shape = mean**2 / tau2 if tau2 > 0 else float("inf")
    shape = min(shape, mean * MAX_PRIOR_POSTS)  # prior worth at most MAX_PRIOR_POSTS posts
    return shape, shape / mean


def _gamma_ppf(q: float, shape: np.ndarray, rate: np.ndarray) -> np.ndarray:
    """Quantile ``q`` (0 < q < 1) of gamma(``shape``, ``rate``): ``scipy.stats.gamma.ppf(q,
    shape, scale=1 / rate)`` bit for bit (the same special function and arithmetic; NaN where
    a parameter is not positive), without importing scipy.stats (~1.5 s of the ``topics``
    stage).

    The inverse incomplete gamma depends on the shape alone, and a posterior's shape is a
    topic's prior plus a count of replies: it is evaluated once per distinct shape (1M posts:
    ~1,200 shapes for ~226k pairs, 0.12 -> 0.003 s per call), the same values gathered back.
    """
    ok = (shape > 0) & (rate > 0)
    distinct, back = np.unique(np.where(ok, shape, 1.0), return_inverse=True)
    x = special.gammaincinv(distinct, q)[back] * (1 / np.where(ok, rate, 1.0)) + 0.0
    return np.where(ok, x, np.nan)


def attribute(
    posts: pl.DataFrame,
    reactions: pl.DataFrame,
    accounts: pl.DataFrame,
    post_topic: pl.DataFrame,
    p: TopicsParams,
) -> pl.DataFrame:
    """Both methods' attribution rows for every (participant, topic) with at least one post.

    Args:
        posts: interim posts (``post_id``, ``account_id``, ``parent_post_id``).
        reactions: interim reactions (``post_id``, ``actor_account_id``).
        accounts: interim accounts (``account_id``, ``is_participant``).
        post_topic: ``post_id``, ``topic_id`` (primary topic; -1 = outlier).
        p: thresholds and interval width.

    Returns:
        ``method``, ``account_id``, ``topic_id``, ``n_posts``, ``n_engaged_posts`` (posts in the
        topic with a reply or reaction by another participant), ``n_engagers``, ``n_replies``,
        ``estimate`` (distinct repliers per post relative to the topic mean: 1 = typical), ``ci_low``,
        ``ci_high`` (null for naive), ``is_attributed``, ``rank`` (1 = strongest, attributed only).
    """
    participants = accounts.filter(
        pl.col("is_participant") & (pl.col("account_id") != NONPARTICIPANT_ID)
    )["account_id"]
    topical = (
        posts.select("post_id", "account_id")
        .join(post_topic, on="post_id", how="inner")
        .filter(pl.col("topic_id") != OUTLIER)
    )
    # the engaged post's author and topic in one join: the author is the credited account
    eng = engagements(
        posts, reactions, participants, topical.select("post_id", "account_id", "topic_id")
    )
    # rows in the output's order (account, then topic) from here on: the two methods' blocks,
    # evidence then naive, concatenate to the sorted output without a sort of the whole table
    # one engager counts once per post and kind: ten replies of one person under one post are
    # one replier there (the gate counts distinct engagers; the rate now agrees with it)
    eng = eng.unique(["post_id", "engager_account_id", "is_reply"])
    per_pair = (
        topical.group_by("account_id", "topic_id")
        .agg(n_posts=pl.len().cast(pl.Int64))
        .join(
            eng.group_by("account_id", "topic_id").agg(
                n_engaged_posts=pl.col("post_id").n_unique().cast(pl.Int64),
                n_engagers=pl.col("engager_account_id").n_unique(),
                n_replies=pl.col("is_reply").sum().cast(pl.Int64),
            ),
            on=["account_id", "topic_id"],
            how="left",
        )
        .with_columns(
            pl.col("n_engaged_posts", "n_engagers", "n_replies").fill_null(0).cast(pl.Int64)
        )
        .filter(pl.col("account_id").is_in(participants.implode()))
        .sort("account_id", "topic_id")
    )
    # each topic's prior from its pairs in account order (the sums' order fixes their bits),
    # then every pair's posterior elementwise
    priors = []
    for (topic,), grp in per_pair.partition_by(
        "topic_id", as_dict=True, maintain_order=True
    ).items():
        shape, rate = _gamma_prior(
            grp["n_replies"].to_numpy().astype(float), grp["n_posts"].to_numpy().astype(float)
        )
        priors.append((topic, shape, rate, shape / rate))
    prior = pl.DataFrame(
        priors,
        schema={
            "topic_id": per_pair.schema["topic_id"],
            "_shape": pl.Float64,
            "_rate": pl.Float64,
            "_mean": pl.Float64,
        },
        orient="row",
    )
    at = per_pair.select("topic_id").join(prior, on="topic_id", how="left", maintain_order="left")
    mean = at["_mean"].to_numpy()
    a = at["_shape"].to_numpy() + per_pair["n_replies"].to_numpy().astype(float)
    b = at["_rate"].to_numpy() + per_pair["n_posts"].to_numpy().astype(float)
    q = (1 - p.interval) / 2
    evidence = per_pair.with_columns(
        method=pl.lit("evidence"),
        estimate=pl.Series(a / b / mean, dtype=pl.Float64),
        ci_low=pl.Series(_gamma_ppf(q, a, b) / mean, dtype=pl.Float64),
        ci_high=pl.Series(_gamma_ppf(1 - q, a, b) / mean, dtype=pl.Float64),
    )
    # posts that drew no response from another participant are no evidence: three posts of
    # which one drew two repliers were credited on the strength of that one post (beer, session
    # 39: 60 of 332 evidence attributions rested on a single post that anyone answered)
    attributed = (pl.col("n_engaged_posts") >= p.min_posts) & (
        pl.col("n_engagers") >= p.min_engagers
    )
    if p.min_ci_low is not None:
        attributed = attributed & (pl.col("ci_low") >= p.min_ci_low)
    evidence = evidence.with_columns(
        is_attributed=attributed, _score=pl.col("n_posts") * pl.col("estimate")
    )
    topic_mean = per_pair.group_by("topic_id").agg(
        _mean=pl.col("n_replies").sum() / pl.col("n_posts").sum()
    )
    naive = (
        per_pair.join(topic_mean, on="topic_id", how="left", maintain_order="left")
        .with_columns(
            method=pl.lit("naive"),
            estimate=(pl.col("n_replies") / pl.col("n_posts") / pl.col("_mean")).fill_nan(None),
            ci_low=pl.lit(None, pl.Float64),
            ci_high=pl.lit(None, pl.Float64),
            is_attributed=pl.lit(True),
            _score=pl.col("n_posts").cast(pl.Float64),
        )
        .drop("_mean")
    )
    cols = [
        "method",
        "account_id",
        "topic_id",
        "n_posts",
        "n_engaged_posts",
        "n_engagers",
        "n_replies",
        "estimate",
        "ci_low",
        "ci_high",
        "is_attributed",
    ]
    # "evidence" sorts before "naive": the blocks in this order are sorted by method, account
    # and topic. rank: 1 = the account's strongest attributed topic (ties to the lower topic
    # id), null where not attributed
    return (
        pl.concat([evidence.select(*cols, "_score"), naive.select(*cols, "_score")])
        .with_columns(
            rank=pl.when("is_attributed")
            .then(pl.struct(-pl.col("_score"), "topic_id"))
            .rank("ordinal")
            .over("method", "account_id")
            .cast(pl.Int64)
        )
        .drop("_score")
    )


# the ground-truth evaluation lives in attribution_eval (re-exported for the callers of old)
from analysis.attribution_eval import (  # noqa: E402
    answer_truth,
    evaluate_demo,
    evaluate_tags,
    paired_comparison,
    topic_majority,
)

__all__ = [
    "answer_truth",
    "attribute",
    "engagements",
    "evaluate_demo",
    "evaluate_tags",
    "paired_comparison",
    "topic_majority",
]
