"""The one protocol every influence model follows (stage ``score``; used by ``compare`` too).

A model is a pure function of the interim canonical tables, its params and a scoring date::

    score(tables: Tables, params: ModelParams, as_of: datetime) -> pl.DataFrame

and declares ``NAME``, ``TITLE``, ``UNIT``, ``OBS``, ``COMPONENTS`` and its own ``Params``
(:class:`Model`). Its own params are ``params.scored[NAME]``, read with
``analysis.models.params.own_params``; the shared ones (``as_of``, ``half_life_days``,
``window_days``) are fields of ``params``.

It sees only activity strictly before ``as_of`` and returns one row per *participant* account
(never the non-participant placeholder) with the columns of :data:`SCORE_COLUMNS` followed by
its named components ``c_<name>``. Components add up to ``score`` unless the model's docstring
says how they combine: to the ``common.SCORE_DIGITS`` (10) significant digits the score is rounded
to (the score file rounds every float so; demo and beer: relative error at most 9e-10). ``compare`` re-runs models on counterfactual tables (weekend off, extra
posts, reaction rings), so a model must never read files or global state.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

import polars as pl
from pydantic import BaseModel

from analysis import schema

if TYPE_CHECKING:
    from analysis.models.params import ModelParams

SCORE_COLUMNS: dict[str, pl.DataType] = {
    "account_id": pl.String(),
    "model": pl.String(),
    "score": pl.Float64(),  # the raw score, in the model's own units
    # 0-100 percentile among the participants present at as_of (common.present_at); null for
    # an account that joined after as_of (only at a models.as_of before the dump's end)
    "score_pct": pl.Float64(),
    "score_se": pl.Float64(),  # uncertainty (standard error) where the model has one, else null
    "n_obs": pl.Int64(),  # observations behind the score (posts, replies, edges...)
}
COMPONENT_PREFIX = "c_"


#: Post columns no built-in model reads: the score stage leaves them on disk. The texts are a
#: third of a post's bytes in memory, and a filter of the posts copies every column it holds
#: (at 10M posts each score process held ~1 GiB of texts, twice). A model that reads them sets
#: ``READS_TEXT = True`` in its module.
UNREAD_POST_COLUMNS = ("text", "labels")


def skipped_post_columns(modules: Iterable[object]) -> tuple[str, ...]:
    """The post columns a stage running ``modules`` may leave on disk: :data:`UNREAD_POST_COLUMNS`,
    or none when one of them sets ``READS_TEXT = True``."""
    if any(getattr(m, "READS_TEXT", False) for m in modules):
        return ()
    return UNREAD_POST_COLUMNS


#: Whether the score stage loads the post topics for a model: only for a module that sets
#: ``READS_TOPICS = True`` (``network_topic``). They are about two rows per post (~0.75 GiB at
#: 10M posts by polars' estimate) and no other built-in model reads them; a model without the
#: flag sees ``post_topics=None``, as it would where the topics stage has not run.
READS_TOPICS_FLAG = "READS_TOPICS"


@dataclass(frozen=True)
class Tables:
    """The interim canonical tables a model reads (plus optional per-post topics).

    The score stage hands a model ``posts`` without the :data:`UNREAD_POST_COLUMNS` (no
    built-in model reads them) unless the model module sets ``READS_TEXT = True``, and
    ``post_topics`` only to a module that sets ``READS_TOPICS = True``. The stages hold the
    ids as polars ``Categorical`` (``analysis.schema.ID_COLUMNS``), the post ids as the 64-bit
    numbers of their pseudonyms where every one is a pseudonym
    (``analysis.schema.POST_NUMBER_COLUMNS``; docs/adding-a-model.md).
    """

    accounts: pl.DataFrame
    posts: pl.DataFrame
    reactions: pl.DataFrame
    post_topics: pl.DataFrame | None = None
    #: When the export-time totals (views, scores, follower counts) were taken; None: at the
    #: last post. Scoring before it excludes them (``common.timed_view``).
    totals_at: datetime | None = None
    #: Frames derived from these tables alone that every model reads the same
    #: (``common.present_at``), kept for this instance: the nine models of a scoring, and
    #: compare's nine per altered copy, computed them nine times. Small frames only (a score
    #: stage's scoped posts are not kept: each model scopes for itself, ``common.scoped_posts``).
    #: A copy (``replace``, :meth:`with_posts`) starts empty.
    derived: dict[tuple[object, ...], pl.DataFrame] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def with_posts(self, posts: pl.DataFrame) -> Tables:
        """A copy with other posts (for counterfactuals)."""
        return replace(self, posts=posts)

    def participants(self) -> pl.DataFrame:
        """Participant accounts only (the placeholder and non-authors excluded)."""
        return self.accounts.filter(
            pl.col("is_participant") & (pl.col("account_id") != schema.NONPARTICIPANT_ID)
        )


class Model(Protocol):
    """What every ``analysis.models.<name>`` module exposes (a module satisfies it as is).

    A type checker verifies each built-in model against it (the ``TYPE_CHECKING`` line at
    the bottom of every model module); :func:`analysis.models.registry.conform` checks the
    same at run time for a model registered from elsewhere. ``docs/adding-a-model.md`` walks
    through a new one.
    """

    # Read-only members (properties), so that a module's constants and classes satisfy them.
    @property
    def NAME(self) -> str:  # noqa: N802
        """The name in params (``models.scored``), the score file and the ``model`` column."""
        ...

    @property
    def TITLE(self) -> str:  # noqa: N802
        """Plain-language title for the report."""
        ...

    @property
    def UNIT(self) -> str:  # noqa: N802
        """Unit of the raw ``score`` column."""
        ...

    @property
    def OBS(self) -> str:  # noqa: N802
        """What ``n_obs`` counts."""
        ...

    @property
    def COMPONENTS(self) -> Mapping[str, str]:  # noqa: N802
        """Component column (``c_<name>``) -> what it counts; empty when data-dependent
        (``network_topic``: one per topic)."""
        ...

    @property
    def Params(self) -> type[BaseModel]:  # noqa: N802
        """The model's own params (its ``models.scored.<NAME>`` line), a frozen pydantic model."""
        ...

    def score(self, tables: Tables, params: ModelParams, as_of: datetime) -> pl.DataFrame: ...


def percentile(expr: pl.Expr) -> pl.Expr:
    """0-100 percentile rank (average ties) of ``expr`` among the rows present."""
    n = pl.len()
    return pl.when(n > 1).then((expr.rank("average") - 1) / (n - 1) * 100).otherwise(50.0)
