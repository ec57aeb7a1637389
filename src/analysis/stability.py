"""Stage ``compare``: the time-off scenarios of the stability tests (table transforms, pure).

Weekend off and time off remove an account's own posts (with ``drop_responses``, the replies
others wrote to them and the reactions on them too); their placebos remove as much of the
account's own activity (its posts and its own follow-ups below them, unit by unit), drawn at
random from outside the pattern (weekday posts; posts before the time off); weekend moved
shifts weekend posts to the Friday before. Every random draw is seeded and made in a
key-independent order (post time, text). Used by :mod:`analysis.counterfactual`.
"""

from __future__ import annotations

import bisect
from collections import Counter
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
    """Every post below ``post_ids`` in their reply trees (the posts themselves excluded), of
    the posts' id type (categorical as the stages hold them, or string)."""
    dtype = posts.schema["post_id"]
    frontier = pl.Series("post_id", list(post_ids), dtype=pl.String).cast(dtype)
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
    return pl.concat(found) if found else pl.Series("post_id", [], dtype=dtype)


def remove_posts(tables: Tables, post_ids: pl.Series, drop_responses: bool = True) -> Tables:
    """Tables without ``post_ids`` (and, with ``drop_responses``, their reply subtrees and the
    reactions on every removed post)."""
    removed = post_ids.cast(tables.posts.schema["post_id"])
    if drop_responses:
        removed = pl.concat([removed, descendants(tables.posts, post_ids)])
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


def _own_ancestors(posts: pl.DataFrame, own: pl.DataFrame) -> dict[str, set[str]]:
    """Per post of ``own``, every post above it in its reply tree (whoever wrote them)."""
    links = posts.select("post_id", "parent_post_id").filter(pl.col("parent_post_id").is_not_null())
    up = own.select("post_id", a=pl.col("parent_post_id")).filter(pl.col("a").is_not_null())
    found: dict[str, set[str]] = {p: set() for p in own["post_id"].to_list()}
    while up.height:
        for p, a in up.iter_rows():
            found[p].add(a)
        up = up.join(links, left_on="a", right_on="post_id", how="inner").select(
            "post_id", a=pl.col("parent_post_id")
        )
        # a cycle in dirty data ends where a post's ancestor comes round again
        up = up.filter(pl.Series([a not in found[p] for p, a in up.iter_rows()], dtype=pl.Boolean))
    return found


def _units(ids: list[str], ancestors: dict[str, set[str]], drop: bool) -> dict[str, set[str]]:
    """Per post of ``ids`` (one account's, before T), the account's posts a removal of it takes:
    itself and, with ``drop_responses``, its own posts below it."""
    unit = {p: {p} for p in ids}
    if drop:
        for q in ids:
            for a in ancestors[q] & unit.keys():
                unit[a].add(q)
    return unit


def _kinds(c: Counter[str]) -> tuple[str, ...]:
    """A multiset of kinds as a sorted tuple (a key that does not depend on set order)."""
    return tuple(sorted(c.elements()))


def _by_size(kinds: tuple[str, ...]) -> tuple[int, tuple[str, ...]]:
    """The order in which units are matched: by size, then by their kinds."""
    return len(kinds), kinds


class _Pool:
    """An account's pool posts that are still free to draw, in buckets of one shape each (unit
    size, the kinds of its posts): a draw scores each bucket once, not each post (an account
    with 18,742 posts before T took 59 s to draw post by post), and a post leaves its bucket
    (swap-remove) the moment its unit is no longer whole."""

    def __init__(self, pool: list[str], made: dict[str, Counter[str]]) -> None:
        self.members: dict[tuple[int, tuple[str, ...]], list[str]] = {}
        self.where: dict[str, tuple[tuple[int, tuple[str, ...]], int]] = {}
        for p in pool:  # pool order (key-independent) within each bucket
            shape = (made[p].total(), _kinds(made[p]))
            bucket = self.members.setdefault(shape, [])
            self.where[p] = (shape, len(bucket))
            bucket.append(p)

    def draw(self, want: Counter[str], rng: np.random.Generator) -> str | None:
        """A free post whose unit is the largest not larger than ``want`` and, of those, the
        most alike in kinds; uniform over the posts that tie (None: only larger units left)."""
        size = want.total()
        scored = {
            shape: (shape[0], (Counter(shape[1]) & want).total())
            for shape, bucket in self.members.items()
            if bucket and shape[0] <= size
        }
        if not scored:
            return None
        best = max(scored.values())
        tied = sorted(shape for shape, score in scored.items() if score == best)
        r = int(rng.integers(sum(len(self.members[shape]) for shape in tied)))
        for shape in tied:
            if r < len(self.members[shape]):
                return self.members[shape][r]
            r -= len(self.members[shape])
        raise AssertionError("unreachable: r is below the tied buckets' total")

    def discard(self, p: str) -> None:
        """``p`` no longer free (if it was in the pool): the bucket's last post takes its place."""
        if p not in self.where:
            return
        shape, i = self.where.pop(p)
        bucket = self.members[shape]
        last = bucket.pop()
        if last != p:
            bucket[i] = last
            self.where[last] = (shape, i)


def _draw(
    ids: list[str],
    kinds: list[str],
    taken: set[str],
    pool: list[str],
    unit: dict[str, set[str]],
    ancestors: dict[str, set[str]],
    rng: np.random.Generator,
) -> list[str]:
    """One account's placebo: the posts of ``pool`` whose units match the units of ``taken``
    (:func:`placebo_off`); ``ids`` and ``kinds`` are the account's posts, in draw order."""
    kind = dict(zip(ids, kinds, strict=True))
    made = {p: Counter(kind[q] for q in u) for p, u in unit.items()}  # the kinds in each unit
    # each unit the scenario takes, as the kinds of its posts, in ascending order: the largest
    # is matched first (popped from the end)
    need = sorted(
        (_kinds(made[s]) for s in taken if not ancestors.get(s, set()) & taken), key=_by_size
    )
    free = _Pool(pool, made)
    rank = {p: i for i, p in enumerate(ids)}
    picked: list[str] = []
    while need:
        want = Counter(need.pop())
        p = free.draw(want, rng)
        if p is None:
            break  # only larger units left: the pair is not read for this account
        picked.append(p)
        # its unit is gone, and so is every pool post above one of its posts (their units
        # are no longer whole); discarded in draw order: the buckets' order, which the next
        # draws index, must not follow a set's (hash-seeded) order
        gone = set(unit[p]).union(*(ancestors.get(q, set()) & unit.keys() for q in unit[p]))
        for q in sorted(gone, key=rank.__getitem__):
            free.discard(q)
        if len(unit[p]) < want.total():  # the rest of the unit, matched again
            rest = _kinds(want - made[p])[: want.total() - len(unit[p])]
            bisect.insort(need, rest, key=_by_size)
    return picked


def placebo_off(
    tables: Tables,
    account_ids: Sequence[str],
    target: pl.Expr,
    pool: pl.Expr,
    as_of: datetime,
    seed: int,
    drop_responses: bool = True,
) -> Tables:
    """The placebo of the scenario that removes the accounts' posts matching ``target``:
    as much of each account's own activity before ``as_of``, drawn at random from its posts
    matching ``pool`` (weekday posts; posts before the time off), seeded, in a key-independent
    order.

    A removal takes a post and, with ``drop_responses``, the replies below it, the account's own
    follow-ups among them: an answer with five comments of its author below it is a unit of six
    posts. The scenario's units (its posts with no other taken post above them) are matched one
    by one, largest first, by a pool post whose unit is as large and, of those, the most alike
    in the kinds of its posts (an answer with a comment for an answer with a comment); where no
    unit as large is left, by the largest smaller one and the rest of the unit matched again, so
    that both take as many of the account's posts where the pool allows
    (:func:`analysis.counterfactual.matched` reads the pair only there). The pool holds whole
    units outside the scenario: a weekday follow-up below a weekend post is the weekend off's,
    and a weekday post with a weekend follow-up below it would take a weekend post. Drawn by
    count alone, a weekend off of an account that answered on a Sunday and commented below it on
    Monday took six posts against its placebo's one (stackexchange-quantumcomputing: 12 of the
    32 accounts a weekend off took posts from were matched; 29 now).
    """
    rng = np.random.default_rng(seed)
    own = _own_before(tables, account_ids, as_of).with_columns(
        _t=target.fill_null(False), _p=pool.fill_null(False)
    )
    ancestors = _own_ancestors(tables.posts, own) if drop_responses else {}
    picked: list[str] = []
    for aid in account_ids:
        mine = own.filter(pl.col("account_id") == aid)
        ids = mine["post_id"].to_list()
        taken = {p for p, t in zip(ids, mine["_t"].to_list(), strict=True) if t}
        unit = _units(ids, ancestors, drop_responses)
        # the pool holds whole units outside the scenario: none of the posts it takes, none
        # below them, none above one of them (a weekday post with a weekend follow-up below)
        scenario = set().union(*(unit[s] for s in taken))
        pool_ids = [
            p
            for p, b in zip(ids, mine["_p"].to_list(), strict=True)
            if b and p not in scenario and not unit[p] & taken
        ]
        kinds = mine["kind"].fill_null("").to_list()
        picked += _draw(ids, kinds, taken, pool_ids, unit, ancestors, rng)
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
    """As much of the account's activity before T as a weekend off takes, drawn from its
    *weekday* posts (:func:`placebo_off`)."""
    return placebo_off(tables, account_ids, IS_WEEKEND, ~IS_WEEKEND, as_of, seed, drop)


def time_off_placebo(
    tables: Tables,
    account_ids: Sequence[str],
    start: datetime,
    as_of: datetime,
    seed: int,
    drop: bool = True,
) -> Tables:
    """As much of the account's activity as a time off in [start, T) takes, drawn from its
    posts before ``start`` (:func:`placebo_off`)."""
    off = pl.col("created_at") >= start
    return placebo_off(tables, account_ids, off, ~off, as_of, seed, drop)


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
