"""The within-thread test's response table: competitions after each origin (stage ``validate``).

After a scoring origin ``T`` (:func:`origins`: quantiles of activity, cut at whole hours), every
*competition* where at least ``min_authors`` scored authors respond to the same parent, with each
response's outcomes (``conversation``, ``approval``) and controls (arrival order, text length,
prior posting volume): :func:`responses`. Scores at ``T`` become rank z-scores among the accounts
active before it (:func:`rank_z`). Used by ``analysis.models.within_thread`` (the test) and
``analysis.models.incremental``; pure functions of the interim tables.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import polars as pl

from analysis import ordering, schema, semantics
from analysis.models import common
from analysis.models.base import Tables

if TYPE_CHECKING:  # within_thread imports this module: only the annotations need its params
    from analysis.models.within_thread import ValidateParams

OUTCOMES = ("conversation", "approval")
CONTROLS = ("log_arrival", "log_text_len", "log_prior_posts")


@dataclass(frozen=True)
class Origin:
    """One scoring date and the window of activity tested after it."""

    scored_at: datetime
    window_end: datetime


def origins(posts: pl.DataFrame, p: ValidateParams) -> list[Origin]:
    """Rolling origins at quantiles of activity, not of the calendar.

    The first origin leaves ``history_share`` of the responses (posts with a parent) before it;
    the windows after it hold equal shares of the remaining responses (dumps with gaps or bursts, such as a month of 2006
    next to a month of 2019, get windows where there is activity). Windows end at the last
    post minus ``follow_days``, so every response's outcome is observed in full.
    """
    if posts.height < 2:
        return []
    # quantiles of the responses (the unit of the test), else of all posts
    responses_at = posts.filter(pl.col("parent_post_id").is_not_null())["created_at"]
    times = (responses_at if responses_at.len() >= 2 else posts["created_at"]).sort()
    last = posts["created_at"].max() - timedelta(days=p.follow_days)
    qs = [p.history_share + k * (1 - p.history_share) / p.origins for k in range(p.origins + 1)]
    # Cut at whole hours: an origin equal to one response's exact time would publish that time
    # in models.json (exact times link pseudonyms to a public copy of the dump).
    cuts = [
        times[min(int(q * (times.len() - 1)), times.len() - 1)].replace(
            minute=0, second=0, microsecond=0
        )
        for q in qs
    ]
    out = []
    for t0, t1 in itertools.pairwise(cuts):
        t1 = min(t1, last)
        if t1 > t0:
            out.append(Origin(t0, t1))
    return out


def rank_z(scores: pl.DataFrame, active: pl.DataFrame) -> pl.DataFrame:
    """``account_id, z``: the score's rank among accounts active before T, standardised.

    Ranks, not raw scores: raw units differ wildly between models (counts, log audiences,
    PageRank mass) and are heavy-tailed; a rank-based z is comparable across models.
    """
    j = scores.select("account_id", "score").join(active, on="account_id", how="semi")
    if j.height < 2:
        return j.select("account_id", z=pl.lit(0.0))
    r = pl.col("score").rank("average")
    return j.select("account_id", z=((r - r.mean()) / r.std()).fill_nan(0.0))


def fitted_z(
    scores: pl.DataFrame, active: pl.DataFrame, fitted: pl.DataFrame, at: datetime
) -> pl.DataFrame:
    """``account_id, z, origin``: :func:`rank_z` among the accounts ``active`` before ``at``,
    kept for the ``fitted`` accounts alone (the tests' designs read no other: at 1M posts ~40 %
    of the active, 9 scores x 4 origins held), ``origin`` the date as text."""
    return (
        rank_z(scores, active)
        .join(fitted.select("account_id"), on="account_id", how="semi")
        .with_columns(origin=pl.lit(at.isoformat()))
    )


def responses(tables: Tables, origin: Origin, p: ValidateParams, end: datetime) -> pl.DataFrame:
    """Every response in a competition after ``origin``, with its outcomes and controls.

    Returns:
        ``group`` (origin, parent and kind), ``post_id``, ``account_id``, ``created_at``,
        ``log_arrival``, ``log_text_len``, ``log_prior_posts``, ``conversation``, ``approval``
        (what it counts: :func:`approval_source`).
    """
    posts = tables.posts
    t0, t1 = origin.scored_at, origin.window_end
    follow = timedelta(days=p.follow_days)
    prior = (
        posts.filter(pl.col("created_at") < t0)
        .group_by("account_id")
        .agg(log_prior_posts=pl.len().cast(pl.Float64).log1p())
    )
    parents = posts.select(
        pl.col("post_id").alias("parent_post_id"), pl.col("account_id").alias("_owner")
    )
    cand = semantics.with_channel(
        posts.filter((pl.col("created_at") > t0) & (pl.col("created_at") <= t1))
    ).filter(
        pl.col("channel").is_in(list(semantics.CONVERSATIONAL))
        & pl.col("parent_post_id").is_not_null()
    )
    cand = (
        cand.join(parents, on="parent_post_id")
        .filter(pl.col("account_id") != pl.col("_owner"))
        .join(prior, on="account_id")  # scored authors only: they posted before T
        .with_columns(_h=ordering.hash_of(posts))
        .sort("created_at", "_h")
        .with_columns(
            _unit=pl.when(pl.col("platform").is_in(list(semantics.THREAD_COMPETITION)))
            .then(pl.coalesce("root_post_id", "parent_post_id"))
            .otherwise(pl.col("parent_post_id"))
        )
        .unique(["_unit", "kind", "account_id"], keep="first", maintain_order=True)
    )
    # the unit's post id as text in the group's name, whatever the stage holds it as (numbers
    # where the ids are pseudonyms: schema.POST_NUMBER_COLUMNS)
    cand = cand.with_columns(schema.post_ids_as_text(cand["_unit"])).with_columns(
        group=pl.lit(t0.isoformat()) + "|" + pl.col("_unit") + "|" + pl.col("kind")
    )
    n_auth = cand.group_by("group").agg(_n=pl.col("account_id").n_unique())
    cand = cand.join(n_auth.filter(pl.col("_n") >= p.min_authors), on="group").with_columns(
        log_arrival=pl.int_range(1, pl.len() + 1).over("group").cast(pl.Float64).log(),
        log_text_len=ordering.len_of(posts).cast(pl.Float64).log1p(),
    )
    # conversation: distinct other accounts replying to the response within follow_days
    kids = posts.filter(pl.col("parent_post_id").is_not_null()).select(
        pl.col("parent_post_id").alias("post_id"),
        pl.col("account_id").alias("_kid_author"),
        pl.col("created_at").alias("_kid_at"),
    )
    conv = (
        cand.select("post_id", "account_id", "created_at")
        .join(kids, on="post_id")
        .filter(
            (pl.col("_kid_author") != pl.col("account_id"))
            & (pl.col("_kid_at") <= pl.col("created_at") + follow)
        )
        .group_by("post_id")
        .agg(conversation=pl.col("_kid_author").n_unique())
    )
    positive = _timed_positive(tables)
    if positive.height:
        appr = (
            cand.select("post_id", "account_id", "created_at")
            .join(
                positive.select("post_id", "actor_account_id", pl.col("created_at").alias("_r_at")),
                on="post_id",
            )
            .filter(
                (
                    pl.col("actor_account_id").is_null()
                    | (pl.col("actor_account_id") != pl.col("account_id"))
                )
                & (pl.col("_r_at") <= pl.col("created_at") + follow)
            )
            .group_by("post_id")
            .agg(approval=pl.len())
        )
    else:
        has_likes = pl.col("n_likes").is_not_null() | pl.col("n_reposts").is_not_null()
        appr = cand.select(
            "post_id",
            approval=pl.when(has_likes)
            .then(pl.col("n_likes").fill_null(0) + pl.col("n_reposts").fill_null(0))
            .otherwise(pl.col("score").clip(lower_bound=0)),
        )
    out = (
        cand.join(conv, on="post_id", how="left")
        .join(appr, on="post_id", how="left")
        .with_columns(pl.col("conversation", "approval").fill_null(0).cast(pl.Float64))
    )
    # the follow-up window must lie inside the dump
    out = out.filter(pl.col("created_at") + follow <= end)
    return out.select(
        "group",
        "post_id",
        "account_id",
        "created_at",
        *CONTROLS,
        *OUTCOMES,
    )


def approval_source(tables: Tables) -> str:
    """What :func:`responses`' ``approval`` counts on these tables (the same at every origin)."""
    if _timed_positive(tables).height:
        return "positive reactions within follow_days (timed rows)"
    return "reported totals at export (likes + reposts, else score): eventual approval"


def _timed_positive(tables: Tables) -> pl.DataFrame:
    """The positive reactions that carry a time (what timed approval counts)."""
    return tables.reactions.filter(
        pl.col("kind").is_in(list(common.POSITIVE_REACTIONS)) & pl.col("created_at").is_not_null()
    )
