"""Model ``klout_like``: a BASELINE re-creation of Klout's published method (2011-2014), not ours.

Klout described its score as three sub-scores computed over a rolling 90-day window, combined
and log-scaled to 1-100:

* **True Reach**: how many people the account reaches, its engaged audience: followers plus the
  distinct accounts who acted on its content (replied, or reacted with a known actor);
* **Amplification**: how much its content is acted upon: reactions and replies received (Klout
  counted retweets, mentions, likes and comments, i.e. totals, not per-post rates);
* **Network impact**: how influential the engaged audience is: re-created as the sum, over the
  distinct accounts who engaged with it, of their own engaged audience (the distinct accounts
  who acted on *their* content; their followers are not counted here).

Re-created here as ``raw = log1p(followers) + log1p(engagers) + log1p(actions) + log1p(network)``
over a hard ``models.scored.klout_like.window_days`` window (Klout's was 90 days; no decay: a
post a day older than the window counts nothing, one a day inside it counts fully), then
``score = 1 + 99 * raw / max(raw)`` over the scored accounts: 1-100, logarithmic in every input.
Components add up to the score: ``c_base`` (the floor of 1) plus ``c_reach``,
``c_amplification`` and ``c_network``, each sub-score's logs times the same ``99 / max(raw)``
(its share of the 99 points, in points: not a count of followers, people or actions).

Kept to show what the critique in ``klout-critique.txt`` complains about: totals over a hard
window fall when the account takes weekends off and rise with sheer posting.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import polars as pl
from pydantic import Field

from analysis import schema
from analysis.config import Frozen
from analysis.models import common
from analysis.models.base import Model, Tables
from analysis.models.params import ModelParams, model_params, own_params

NAME = "klout_like"
TITLE = "Klout-like BASELINE (re-creation of Klout's 90-day reach/amplification/network score)"
UNIT = "points (1-100, logarithmic)"
OBS = "posts it wrote in the window"
COMPONENTS = {
    "c_base": "the floor every account starts from (1 point)",
    "c_reach": "True Reach, in points: log(1 + followers) + log(1 + distinct people who acted "
    "on its posts in the window)",
    "c_amplification": "Amplification, in points: log(1 + reactions and replies it received in "
    "the window)",
    "c_network": "Network impact, in points: log(1 + how many people engaged with those who "
    "engaged with it in the window)",
}


class Params(Frozen):
    """``models.scored.klout_like``."""

    #: Klout's published window (no decay: every action inside counts fully).
    window_days: float = Field(90.0, gt=0)


def score(tables: Tables, params: ModelParams, as_of: datetime) -> pl.DataFrame:
    """Score every participant the way Klout did, over the 90 days before ``as_of``."""
    p = model_params(params)
    tables, excluded = common.timed_view(tables, as_of)
    window = own_params(p, NAME, Params).window_days
    posts = common.scoped_posts(tables.posts, as_of, None, window)
    missing = common.missing_reaction_inputs(posts, tables.reactions)
    if not (
        posts.select(pl.col("follower_count").is_not_null().any()).item()
        or tables.accounts.select(pl.col("follower_count").is_not_null().any()).item()
    ):
        missing.append("follower_count")
    edges = common.reply_edges(posts, reactions=tables.reactions, as_of=as_of).select(
        pl.col("src").alias("actor"), pl.col("dst").alias("account_id")
    )
    reactors = (
        tables.reactions.filter(
            pl.col("actor_account_id").is_not_null()
            & pl.col("kind").is_in(list(common.POSITIVE_REACTIONS))
            # undated rows are left only at the export (timed_view), as post_reactions reads them
            & (pl.col("created_at").is_null() | (pl.col("created_at") < as_of))
        )
        .join(posts.select("post_id", "account_id"), on="post_id")
        .filter(pl.col("actor_account_id") != pl.col("account_id"))
        .select(pl.col("actor_account_id").alias("actor"), "account_id")
    )
    # distinct people: the non-participant placeholder (everyone outside the study) is not one
    engagers = (
        pl.concat([edges, reactors]).filter(pl.col("actor") != schema.NONPARTICIPANT_ID).unique()
    )
    n_engagers = engagers.group_by("account_id").agg(n_engagers=pl.len())
    reactions = (
        common.post_reactions(posts, tables.reactions, as_of)
        .group_by("account_id")
        .agg(n_reactions=pl.col("n_reactions").sum(), n_obs=pl.len())
    )
    n_replies = edges.group_by("account_id").agg(n_replies=pl.len())
    followers = (
        posts.filter(pl.col("follower_count").is_not_null())
        .group_by("account_id")
        .agg(_f_post=common.latest_follower_count())
        .join(
            tables.accounts.select("account_id", pl.col("follower_count").alias("_f_acc")),
            on="account_id",
            how="full",
            coalesce=True,
        )
        .select(
            "account_id", followers=pl.coalesce("_f_post", "_f_acc").cast(pl.Float64).fill_null(0)
        )
    )
    base = (
        reactions.join(n_engagers, on="account_id", how="left")
        .join(n_replies, on="account_id", how="left")
        .join(followers, on="account_id", how="left")
        .with_columns(
            pl.col("n_engagers", "n_replies").fill_null(0), pl.col("followers").fill_null(0.0)
        )
        .with_columns(
            reach=pl.col("followers").log1p() + pl.col("n_engagers").cast(pl.Float64).log1p(),
            amplification=(pl.col("n_reactions") + pl.col("n_replies")).log1p(),
        )
    )
    # Network impact: the engaged audience (engagers, not followers) of everyone who engaged
    # with the account, summed.
    reach_of = base.select(pl.col("account_id").alias("actor"), pl.col("n_engagers").alias("_r"))
    network = (
        engagers.join(reach_of, on="actor", how="left")
        .group_by("account_id")
        .agg(network=pl.col("_r").fill_null(0).sum().cast(pl.Float64).log1p())
    )
    per = (
        base.join(network, on="account_id", how="left")
        .with_columns(pl.col("network").fill_null(0.0))
        .with_columns(raw=pl.col("reach") + pl.col("amplification") + pl.col("network"))
    )
    parts = tables.participants().select("account_id")
    max_raw = per.join(parts, on="account_id").select(pl.col("raw").max()).item() or 0.0
    scale = 99.0 / max_raw if max_raw > 0 else 0.0
    per = per.select(
        "account_id",
        "n_obs",
        c_base=pl.lit(1.0),
        c_reach=pl.col("reach") * scale,
        c_amplification=pl.col("amplification") * scale,
        c_network=pl.col("network") * scale,
    ).with_columns(score=pl.sum_horizontal("c_base", "c_reach", "c_amplification", "c_network"))
    missing = missing + excluded
    out = common.finish(per, tables, NAME, as_of, None, window, missing)
    # Participants silent for 90 days get Klout's floor of 1, not 0; ranked again with it (an
    # active account that drew nothing, score 1, ties with them instead of ranking above them)
    return out.with_columns(
        c_base=pl.lit(1.0), score=pl.when(pl.col("n_obs") == 0).then(1.0).otherwise(pl.col("score"))
    ).pipe(common.rank_again)


if TYPE_CHECKING:  # a type checker verifies this module against the model protocol
    from analysis.models import klout_like as _self

    _protocol_check: Model = _self
