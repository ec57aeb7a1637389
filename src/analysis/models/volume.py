"""Model ``volume``: how much an account posts (the naive baseline every other model is set against).

score = c_posts + c_replies: the decay-weighted number of posts that start something and of
replies, written strictly before ``as_of``. Standard error: sqrt(sum of squared weights), the
Poisson error of a weighted count.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import polars as pl

from analysis.models import common
from analysis.models.base import Model, Tables
from analysis.models.params import ModelParams, NoParams, model_params

NAME = "volume"
TITLE = "Volume (how much the account posts)"
UNIT = "weighted posts"
OBS = "posts and replies it wrote"
COMPONENTS = {
    "c_posts": "new posts and questions it started",
    "c_replies": "replies, answers and comments it wrote",
}

#: No params of its own (its ``models.scored`` line is ``{}``).
Params = NoParams


def score(tables: Tables, params: ModelParams, as_of: datetime) -> pl.DataFrame:
    """Score every participant by how much they posted before ``as_of``."""
    p = model_params(params)
    half_life, window = common.timing(p)
    posts = common.scoped_posts(tables.posts, as_of, half_life, window)
    per = (
        posts.group_by("account_id")
        .agg(
            c_posts=common.ordered_sum(pl.col("w").filter(~pl.col("is_reply"))),
            c_replies=common.ordered_sum(pl.col("w").filter(pl.col("is_reply"))),
            score_se=common.ordered_sum(pl.col("w") ** 2).sqrt(),
            n_obs=pl.len(),
        )
        .with_columns(score=pl.col("c_posts") + pl.col("c_replies"))
    )
    return common.finish(per, tables, NAME, as_of, half_life, window, [])


if TYPE_CHECKING:  # a type checker verifies this module against the model protocol
    from analysis.models import volume as _self

    _protocol_check: Model = _self
