"""Model ``reach``: audience size, from whatever the platform reports (followers, views).

score = c_followers + c_views, both log-scaled so that a thousandfold audience is three units
more, not a thousand times more:

* ``c_followers`` = log10(1 + followers): the audience at the last post before ``as_of``
  (``posts.follower_count``), else the account's latest known count (``accounts.follower_count``);
* ``c_views`` = log10(1 + decay-weighted mean views per post before ``as_of``).

A platform without followers or views leaves that component at 0 and names it in
``missing_inputs``; an account without a value gets 0 for that component.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import polars as pl

from analysis.models import common
from analysis.models.base import Model, Tables
from analysis.models.params import ModelParams, NoParams, model_params

NAME = "reach"
TITLE = "Reach (audience size: followers, views)"
UNIT = "log10 audience"
OBS = "posts it wrote"
COMPONENTS = {
    "c_followers": "log10(1 + followers)",
    "c_views": "log10(1 + average views per post)",
}

#: No params of its own (its ``models.scored`` line is ``{}``).
Params = NoParams


def score(tables: Tables, params: ModelParams, as_of: datetime) -> pl.DataFrame:
    """Score every participant by audience size before ``as_of``."""
    p = model_params(params)
    tables, excluded = common.timed_view(tables, as_of)
    half_life, window = common.timing(p)
    posts = common.scoped_posts(tables.posts, as_of, half_life, window)
    missing = []
    if not (
        posts.select(pl.col("follower_count").is_not_null().any()).item()
        or tables.accounts.select(pl.col("follower_count").is_not_null().any()).item()
    ):
        missing.append("follower_count")
    if not posts.select(pl.col("n_views").is_not_null().any()).item():
        missing.append("n_views")
    last_followers = (
        posts.filter(pl.col("follower_count").is_not_null())
        .group_by("account_id")
        .agg(_f_post=common.latest_follower_count())
    )
    per = (
        posts.group_by("account_id")
        .agg(
            _views=common.ordered_sum(pl.col("w") * pl.col("n_views"))
            / common.ordered_sum(pl.col("w").filter(pl.col("n_views").is_not_null())),
            n_obs=pl.len(),
        )
        .join(last_followers, on="account_id", how="left")
        .join(
            tables.accounts.select("account_id", pl.col("follower_count").alias("_f_acc")),
            on="account_id",
            how="left",
        )
        .with_columns(
            c_followers=(1 + pl.coalesce("_f_post", "_f_acc").cast(pl.Float64))
            .log10()
            .fill_null(0.0),
            c_views=(1 + pl.col("_views")).log10().fill_nan(None).fill_null(0.0),
        )
        .with_columns(score=pl.col("c_followers") + pl.col("c_views"))
        .select("account_id", "score", "n_obs", "c_followers", "c_views")
    )
    missing = missing + excluded
    return common.finish(per, tables, NAME, as_of, half_life, window, missing)


if TYPE_CHECKING:  # a type checker verifies this module against the model protocol
    from analysis.models import reach as _self

    _protocol_check: Model = _self
