"""Stage ``compare``: the time-off scenarios of the stability tests (table transforms, pure).

Weekend off and time off remove an account's own posts (with ``drop_responses``, the replies
others wrote to them and the reactions on them too); their placebos remove as many of the
account's posts drawn at random from outside the pattern (weekday posts; posts before the time
off); weekend moved shifts weekend posts to the Friday before. Every random draw is seeded and
made in a key-independent order (post time, text). Used by :mod:`analysis.counterfactual`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

import numpy as np
import polars as pl

from analysis import ordering
from analysis.models.base import Tables

# ---------------------------------------------------------------------------------------------
# Table transforms


def descendants(posts: pl.DataFrame, post_ids: pl.Series | Sequence[str]) -> pl.Series:
    """Every post below ``post_ids`` in their reply trees (the posts themselves excluded)."""
    frontier = pl.Series("post_id", list(post_ids), dtype=pl.String)
    links = posts.select("post_id", "parent_post_id").filter(pl.col("parent_post_id").is_not_null())
    found: list[pl.Series] = []
    while frontier.len():
        children = links.filter(pl.col("parent_post_id").is_in(frontier.implode()))["post_id"]
        if found:
            seen = pl.concat(found)
            children = children.filter(~children.is_in(seen.implode()))
        if not children.len():
            break
        found.append(children)
        frontier = children
    return pl.concat(found) if found else pl.Series("post_id", [], dtype=pl.String)


def remove_posts(tables: Tables, post_ids: pl.Series, drop_responses: bool = True) -> Tables:
    """Tables without ``post_ids`` (and, with ``drop_responses``, their reply subtrees and the
    reactions on every removed post)."""
    removed = post_ids
    if drop_responses:
        removed = pl.concat([post_ids, descendants(tables.posts, post_ids)])
    gone = removed.implode()
    reactions = tables.reactions
    if drop_responses:
        reactions = reactions.filter(~pl.col("post_id").is_in(gone))
    return replace(
        tables, posts=tables.posts.filter(~pl.col("post_id").is_in(gone)), reactions=reactions
    )


def weekend_off(tables: Tables, account_ids: Sequence[str], drop_responses: bool = True) -> Tables:
    """The accounts are silent on Saturdays and Sundays (UTC): their weekend posts are removed."""
    ids = tables.posts.filter(
        pl.col("account_id").is_in(list(account_ids)) & (pl.col("created_at").dt.weekday() >= 6)
    )["post_id"]
    return remove_posts(tables, ids, drop_responses)


def time_off(
    tables: Tables,
    account_ids: Sequence[str],
    start: datetime,
    end: datetime,
    drop_responses: bool = True,
) -> Tables:
    """The accounts are silent in ``[start, end)``: their posts in it are removed."""
    ids = tables.posts.filter(
        pl.col("account_id").is_in(list(account_ids))
        & (pl.col("created_at") >= start)
        & (pl.col("created_at") < end)
    )["post_id"]
    return remove_posts(tables, ids, drop_responses)


# ---------------------------------------------------------------------------------------------
# Re-scoring


def _own_before(tables: Tables, account_ids: Sequence[str], as_of: datetime) -> pl.DataFrame:
    """The accounts' own posts before ``as_of``, in a key-independent order (time, the text's
    hash: ``analysis.ordering``, from the text or its digest)."""
    own = tables.posts.filter(
        pl.col("account_id").is_in(list(account_ids)) & (pl.col("created_at") < as_of)
    )
    return own.with_columns(_h=ordering.hash_of(own)).sort("created_at", "_h", "kind").drop("_h")


def placebo_off(
    tables: Tables,
    account_ids: Sequence[str],
    n_remove: dict[str, int],
    pool: pl.Expr,
    as_of: datetime,
    seed: int,
    drop_responses: bool = True,
) -> Tables:
    """Remove ``n_remove[account]`` of each account's own posts drawn at random from ``pool``
    (a filter on posts, e.g. weekdays only), seeded, in a key-independent order."""
    rng = np.random.default_rng(seed)
    own = _own_before(tables, account_ids, as_of).filter(pool)
    picked: list[str] = []
    for aid in account_ids:
        ids = own.filter(pl.col("account_id") == aid)["post_id"].to_list()
        k = min(n_remove.get(aid, 0), len(ids))
        if k:
            picked += [ids[int(i)] for i in rng.choice(len(ids), size=k, replace=False)]
    return remove_posts(tables, pl.Series("post_id", picked, dtype=pl.String), drop_responses)


IS_WEEKEND = pl.col("created_at").dt.weekday() >= 6


def n_posts_where(
    tables: Tables, account_ids: Sequence[str], where: pl.Expr, as_of: datetime
) -> dict[str, int]:
    """Per account, how many of its posts before ``as_of`` match ``where``."""
    own = _own_before(tables, account_ids, as_of).filter(where)
    return dict(own.group_by("account_id").len().iter_rows())


def with_posts_where(
    tables: Tables, account_ids: Sequence[str], where: pl.Expr, as_of: datetime
) -> list[str]:
    """The accounts (in the given order) with at least one post before ``as_of`` matching
    ``where``: those a scenario takes something from. An account without weekend posts loses
    nothing to a weekend off (nor to its placebo, which removes as many); counted in, its
    change of zero would pull every median towards "a weekend off costs nothing"."""
    n = n_posts_where(tables, account_ids, where, as_of)
    return [a for a in account_ids if n.get(a, 0) > 0]


def weekend_placebo(
    tables: Tables, account_ids: Sequence[str], as_of: datetime, seed: int, drop: bool = True
) -> Tables:
    """As many random *weekday* posts removed as the account wrote on weekends (before T)."""
    n = n_posts_where(tables, account_ids, IS_WEEKEND, as_of)
    return placebo_off(tables, account_ids, n, ~IS_WEEKEND, as_of, seed, drop)


def time_off_placebo(
    tables: Tables,
    account_ids: Sequence[str],
    start: datetime,
    as_of: datetime,
    seed: int,
    drop: bool = True,
) -> Tables:
    """As many random posts from before ``start`` removed as the account wrote in [start, T)."""
    n = n_posts_where(tables, account_ids, pl.col("created_at") >= start, as_of)
    return placebo_off(tables, account_ids, n, pl.col("created_at") < start, as_of, seed, drop)


def weekend_moved(tables: Tables, account_ids: Sequence[str]) -> Tables:
    """The accounts' Saturday and Sunday posts move to the Friday before (same time of day);
    replies to them and reactions on them stay."""
    moved = pl.col("account_id").is_in(list(account_ids)) & IS_WEEKEND
    shift = pl.duration(days=pl.col("created_at").dt.weekday().cast(pl.Int64) - 5)
    return tables.with_posts(
        tables.posts.with_columns(
            created_at=pl.when(moved)
            .then(pl.col("created_at") - shift)
            .otherwise(pl.col("created_at"))
        )
    )
