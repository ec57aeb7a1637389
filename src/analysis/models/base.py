"""The one protocol every influence model follows (stage ``score``; used by ``compare`` too).

A model is a pure function of the interim canonical tables, its params and a scoring date::

    score(tables: Tables, params: ModelParams, as_of: datetime) -> pl.DataFrame

It sees only activity strictly before ``as_of`` and returns one row per *participant* account
(never the non-participant placeholder) with the columns of :data:`SCORE_COLUMNS` followed by
its named components ``c_<name>``. Components add up to ``score`` unless the model's docstring
says how they combine. ``compare`` re-runs models on counterfactual tables (weekend off, extra
posts, reaction rings), so a model must never read files or global state.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

import polars as pl

from analysis import schema

SCORE_COLUMNS: dict[str, pl.DataType] = {
    "account_id": pl.String(),
    "model": pl.String(),
    "score": pl.Float64(),  # the raw score, in the model's own units
    "score_pct": pl.Float64(),  # 0-100 percentile among scored participants
    "score_se": pl.Float64(),  # uncertainty (standard error) where the model has one, else null
    "n_obs": pl.Int64(),  # observations behind the score (posts, replies, edges...)
}
COMPONENT_PREFIX = "c_"


@dataclass(frozen=True)
class Tables:
    """The interim canonical tables a model reads (plus optional per-post topics)."""

    accounts: pl.DataFrame
    posts: pl.DataFrame
    reactions: pl.DataFrame
    post_topics: pl.DataFrame | None = None
    #: When the export-time totals (views, scores, follower counts) were taken; None: at the
    #: last post. Scoring before it excludes them (``common.timed_view``).
    totals_at: datetime | None = None

    def with_posts(self, posts: pl.DataFrame) -> Tables:
        """A copy with other posts (for counterfactuals)."""
        return replace(self, posts=posts)

    def participants(self) -> pl.DataFrame:
        """Participant accounts only (the placeholder and non-authors excluded)."""
        return self.accounts.filter(
            pl.col("is_participant") & (pl.col("account_id") != schema.NONPARTICIPANT_ID)
        )


class Model(Protocol):
    """What ``analysis.models.<name>`` modules expose."""

    NAME: str

    def score(self, tables: Tables, params: object, as_of: datetime) -> pl.DataFrame: ...


def percentile(expr: pl.Expr) -> pl.Expr:
    """0-100 percentile rank (average ties) of ``expr`` among the rows present."""
    n = pl.len()
    return pl.when(n > 1).then((expr.rank("average") - 1) / (n - 1) * 100).otherwise(50.0)
