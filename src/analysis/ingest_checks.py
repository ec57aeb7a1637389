"""Stage ``ingest``: the checks of one dump's raw tables, and its thread roots.

Step 1 of ``analysis.ingest`` (validation): required fields and canonical kinds, texts over
``max_text_chars``, duplicate ids, times out of range, negative counts, reply cycles and
dangling parents (to a fixpoint), votes on one's own post where the platform forbids them.
Each rejected row becomes a reject naming its file, line and reason (:func:`_reject`). A reply
dated before its parent is not rejected but detached (a clock was wrong, the text is real). Then the root of every thread (:func:`thread_roots`), after ingest has detached
the replies whose parent went.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import numpy as np
import polars as pl

from analysis import schema

#: The skeleton's stand-in for a text: its length in characters (``ingest.TEXT_CHARS``).
TEXT_CHARS = "_text_chars"
MAX_THREAD_DEPTH = 10_000
#: ``source_file`` of a reject whose row carries no provenance (a table built in code, not read).
UNKNOWN_SOURCE = "(unknown file)"
#: Column of the posts :func:`_validate_posts` returns: true for a reply dated before its parent,
#: detached there (ingest counts them among ``detached_replies``).
DETACHED_EARLY = "_detached_early"


def _reject(df: pl.DataFrame, table: str, reason: str) -> pl.DataFrame:
    """Rows of ``df`` as rejects, each naming the file and line the adapter read it from."""
    id_col = schema.ID_COLUMN[table]
    has = lambda c: c in df.columns  # noqa: E731 - frames built in code may lack provenance
    return df.select(
        pl.lit(table).alias("table"),
        (pl.col("source_file") if has("source_file") else pl.lit(None, dtype=pl.String))
        .fill_null(UNKNOWN_SOURCE)
        .alias("source_file"),
        (pl.col("source_line") if has("source_line") else pl.lit(None, dtype=pl.Int64)).alias(
            "source_line"
        ),
        pl.col(id_col).alias("record_key"),
        pl.lit(reason).alias("reason"),
    )


def _require(df: pl.DataFrame, table: str) -> tuple[pl.DataFrame, list[pl.DataFrame]]:
    """Reject rows whose required fields are null or whose kind is not a canonical kind."""
    rejects = []
    for col in schema.REQUIRED[table]:
        bad = df.filter(pl.col(col).is_null())
        if bad.height:
            rejects.append(_reject(bad, table, f"missing required field {col}"))
            df = df.filter(pl.col(col).is_not_null())
    kinds = {"posts": schema.POST_KINDS, "reactions": schema.REACTION_KINDS}.get(table)
    if kinds:
        bad = df.filter(~pl.col("kind").is_in(list(kinds)))
        if bad.height:
            rejects.append(_reject(bad, table, "kind is not a canonical kind"))
            df = df.filter(pl.col("kind").is_in(list(kinds)))
    return df, rejects


def _validate_posts(
    posts: pl.DataFrame, now: datetime, max_text_chars: int = 100_000
) -> tuple[pl.DataFrame, list[pl.DataFrame]]:
    """Split posts into valid ones and reject frames.

    Rejected: missing fields, texts over ``max_text_chars``, duplicates, dates out of range,
    negative counts, reply cycles, dangling parents (and the replies below them). A reply dated
    before its parent is detached instead (parent link dropped, ``reply_to_account_id`` = the
    parent's author) and flagged in column :data:`DETACHED_EARLY`.
    """
    posts, rejects = _require(posts, "posts")
    too_long = pl.col(TEXT_CHARS).fill_null(0) > max_text_chars
    bad = posts.filter(too_long)
    if bad.height:
        rejects.append(
            _reject(bad, "posts", f"text longer than ingest.max_text_chars ({max_text_chars:,})")
        )
        posts = posts.filter(~too_long)
    if schema.surely_distinct(posts["post_id"]):
        dup = posts.clear()
    else:
        dup, posts = _split(posts, ~pl.col("post_id").is_first_distinct())
    if dup.height:
        rejects.append(_reject(dup, "posts", "duplicate post_id (first occurrence kept)"))
    out_of_range = (pl.col("created_at") < schema.MIN_TIME) | (
        pl.col("created_at") > schema.max_time(now)
    )
    bad = posts.filter(out_of_range)
    if bad.height:
        rejects.append(_reject(bad, "posts", "created_at out of range"))
    posts = posts.filter(~out_of_range)
    posts, negative = _negative_counts(posts, "posts")
    rejects += negative
    # the parent's time and author, looked up once (columns, dropped below; post ids are
    # distinct here)
    posts = posts.join(
        posts.select(
            pl.col("post_id").alias("parent_post_id"),
            pl.col("created_at").alias("_parent_at"),
            pl.col("account_id").alias("_parent_author"),
        ),
        on="parent_post_id",
        how="left",
        maintain_order="left",
    )
    # A reply dated before its parent has a wrong clock somewhere (Usenet's Date header is the
    # poster's own clock): its text is real, its link is not to be trusted in time. Detached,
    # not rejected (step 3 of ``analysis.ingest``): it loses the link, stays addressed to the
    # parent's author, and the replies below it keep theirs.
    early = (pl.col("created_at") < pl.col("_parent_at")).fill_null(False)
    posts = posts.with_columns(
        early.alias(DETACHED_EARLY),
        pl.when(early)
        .then(pl.col("_parent_author"))
        .otherwise(pl.col("reply_to_account_id"))
        .alias("reply_to_account_id"),
        pl.when(early).then(None).otherwise(pl.col("parent_post_id")).alias("parent_post_id"),
        pl.when(early).then(None).otherwise(pl.col("_parent_at")).alias("_parent_at"),
    )
    # What is left of a reply cycle has equal times all round (a cycle whose times differ holds a
    # reply dated before its parent, detached above): looked for among those replies only
    same = posts.filter((pl.col("created_at") == pl.col("_parent_at")).fill_null(False))
    posts = posts.drop("_parent_at", "_parent_author")
    cycle = _cycle_members(same["post_id"].to_list(), same["parent_post_id"].to_list())
    if cycle:
        in_cycle = pl.col("post_id").is_in(sorted(cycle))
        rejects.append(_reject(posts.filter(in_cycle), "posts", "reply cycle (no thread root)"))
        posts = posts.filter(~in_cycle)
    # A reply whose parent was rejected is dangling too, and so on down the thread: to a fixpoint
    # (a reply cycle of equal times has no root and is caught by the thread-root walk).
    reason = "dangling parent_post_id (parent not among the posts)"
    while True:
        dangling = pl.col("parent_post_id").is_not_null() & ~pl.col("parent_post_id").is_in(
            posts["post_id"].implode()
        )
        bad, posts = _split(posts, dangling)
        if not bad.height:
            return posts, rejects
        rejects.append(_reject(bad, "posts", reason))
        reason = "parent rejected (the thread above it is not in the dump)"


def _split(df: pl.DataFrame, mask: pl.Expr) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(rows where ``mask`` holds, the others), the mask evaluated once (null: the others)."""
    hit = df.select(mask.fill_null(False)).to_series()
    if not hit.any():
        return df.clear(), df
    return df.filter(hit), df.filter(~hit)


def _cycle_members(post_ids: list[str], parents: list[str]) -> set[str]:
    """Posts on a cycle of parent links (``parents[i]`` is the parent of ``post_ids[i]``)."""
    up = dict(zip(post_ids, parents, strict=True))
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    members: set[str] = set()
    for start in up:
        path, cur = [], start
        while cur in up and state.get(cur) is None:
            state[cur] = 1
            path.append(cur)
            cur = up[cur]
        if state.get(cur) == 1:  # came back to the current path: a cycle from cur on
            members.update(path[path.index(cur) :])
        for p in path:
            state[p] = 2
    return members


#: Counts no platform reports below zero (a post's score may be negative: votes down).
NON_NEGATIVE = {
    "posts": ("n_views", "n_likes", "n_reposts", "n_comments_reported", "follower_count"),
    "accounts": ("follower_count",),
}


#: Skeleton column: the index in ``NON_NEGATIVE["posts"]`` of a post's first negative count
#: (null: none), taken from its measures as they are read (``ingest_dump.skeleton``): the
#: measures themselves are carried beside the texts, not in the skeleton.
FIRST_NEGATIVE = "_first_negative"


def first_negative(table: str, columns: Iterable[str]) -> pl.Expr:
    """The index in ``NON_NEGATIVE[table]`` of a row's first negative count among ``columns``
    (UInt8; null: none), as :data:`FIRST_NEGATIVE`."""
    present = set(columns)
    code = pl.lit(None, dtype=pl.UInt8)
    for k, col in reversed(list(enumerate(NON_NEGATIVE[table]))):
        if col in present:
            code = pl.when(pl.col(col) < 0).then(pl.lit(k, dtype=pl.UInt8)).otherwise(code)
    return code.alias(FIRST_NEGATIVE)


def _negative_counts(df: pl.DataFrame, table: str) -> tuple[pl.DataFrame, list[pl.DataFrame]]:
    """Rows with a negative count are implausible: rejected, the (first) column named in the
    reason. The counts are ``df``'s own, or read already into :data:`FIRST_NEGATIVE` (dropped
    here)."""
    held = FIRST_NEGATIVE in df.columns
    code = df[FIRST_NEGATIVE] if held else df.select(first_negative(table, df.columns)).to_series()
    rejects = []
    if code.null_count() < code.len():
        for k, col in enumerate(NON_NEGATIVE[table]):
            bad = df.filter((code == k).fill_null(False))
            if bad.height:
                rejects.append(_reject(bad, table, f"negative {col}"))
        df = df.filter(code.is_null())
    return (df.drop(FIRST_NEGATIVE) if held else df), rejects


#: Reactions a platform does not let anyone make on their own post (Stack Exchange: "You can't
#: vote for your own post"; Hacker News shows no vote arrow on one's own items). Replies to
#: oneself are possible on every platform read (a Twitter thread, an answer to one's own
#: question), so they are kept, and no model credits them (``aggregates``, ``models.common``).
IMPOSSIBLE_SELF_REACTIONS: dict[str, frozenset[str]] = {
    "stackexchange": frozenset({"upvote", "downvote"}),
    "hackernews": frozenset({"upvote"}),
}


def _self_votes(
    reactions: pl.DataFrame, posts: pl.DataFrame
) -> tuple[pl.DataFrame, list[pl.DataFrame]]:
    """Reactions on one's own post where the platform has none: rejected as implausible."""
    rules = pl.DataFrame(
        [(p, k) for p, kinds in IMPOSSIBLE_SELF_REACTIONS.items() for k in sorted(kinds)],
        schema={"platform": pl.String, "kind": pl.String},
        orient="row",
    ).with_columns(pl.lit(True).alias("_impossible"))
    marked = reactions.select("post_id", "actor_account_id", "platform", "kind").join(
        rules, on=["platform", "kind"], how="left", maintain_order="left"
    )
    ruled = marked["_impossible"].fill_null(False)
    if not ruled.any():
        return reactions, []
    # the author of the posts those reactions are on alone: a join of the reactions to every
    # post's author built a table of all the posts whatever the reactions (+1.2 GiB at 10M
    # posts for none, session 62)
    author = posts.select("post_id", pl.col("account_id").alias("_author")).join(
        marked.filter(ruled).select(pl.col("post_id").unique()), on="post_id", how="semi"
    )
    authored = marked.select("post_id", "actor_account_id").join(
        author, on="post_id", how="left", maintain_order="left"
    )
    own = (ruled & (authored["actor_account_id"] == authored["_author"])).fill_null(False)
    bad = reactions.filter(own)
    keep = reactions.filter(~own)
    if not bad.height:
        return keep, []
    return keep, [_reject(bad, "reactions", "a vote on one's own post, which the platform forbids")]


def _roots_python(posts: pl.DataFrame) -> pl.Series:
    """Root of every post by following parent links in Python (cycles, very deep threads)."""
    parent = dict(zip(posts["post_id"].to_list(), posts["parent_post_id"].to_list(), strict=True))
    roots: dict[str, str] = {}
    out = []
    for pid in posts["post_id"].to_list():
        chain, cur = [], pid
        while cur is not None and cur not in roots:
            chain.append(cur)
            nxt = parent.get(cur)
            if nxt is None or len(chain) > MAX_THREAD_DEPTH or nxt == cur:
                roots[cur] = cur
                chain.pop()
                break
            cur = nxt
        root = roots[cur] if cur is not None else pid
        for c in chain:
            roots[c] = root
        out.append(roots[pid])
    return pl.Series("root_post_id", out, dtype=pl.String)


#: Pointer-jumping rounds of :func:`_roots`: threads up to 2**11 = 2,048 levels deep converge,
#: far below MAX_THREAD_DEPTH, so the Python walk would never have cut them.
ROOT_ROUNDS = 12


def _roots(posts: pl.DataFrame) -> pl.Series:
    """Root of every post by following parent links (a post without parent is its own root).

    Vectorised pointer jumping over row numbers: each round replaces every post's ancestor by
    that ancestor's ancestor (log2(depth) rounds of one numpy gather; the ids are joined to row
    numbers once). A parent id that is not among the posts is a root of its own. Threads with
    a cycle or deeper than 2,048 levels (never seen in a real dump) take the Python walk
    instead (:func:`_roots_python`).
    """
    parent = posts.select(
        "post_id",
        pl.when(pl.col("parent_post_id") == pl.col("post_id"))
        .then(None)
        .otherwise(pl.col("parent_post_id"))
        .cast(pl.String)
        .alias("up"),
    )
    if not schema.surely_distinct(parent["post_id"]) and parent["post_id"].is_duplicated().any():
        return _roots_python(posts)
    n = parent.height
    rows = pl.DataFrame({"up": parent["post_id"], "_row": pl.int_range(n, eager=True)})
    up_row = parent.join(rows, on="up", how="left", maintain_order="left")["_row"]
    # a parent id that is not a post is a node of its own (numbered n, n + 1, ...), a root
    extra = parent["up"].filter(up_row.is_null() & parent["up"].is_not_null())
    extra = extra.unique(maintain_order=True)
    names = pl.concat([parent["post_id"], extra])
    if extra.len():
        more = pl.DataFrame({"up": extra, "_x": pl.int_range(n, names.len(), eager=True)})
        up_row = (
            parent.join(more, on="up", how="left", maintain_order="left")
            .select(pl.coalesce(up_row, "_x"))
            .to_series()
        )
    up_row = up_row.fill_null(-1).to_numpy()
    up = np.concatenate([up_row, np.full(extra.len(), -1, dtype=up_row.dtype)])
    jump = np.where(up >= 0, up, np.arange(up.size))
    for _ in range(ROOT_ROUNDS):
        nxt = jump[jump]
        if np.array_equal(nxt, jump):
            # a fixed point: every ancestor is a root, unless the links hold a cycle
            if (up[jump] < 0).all():
                return names.gather(jump[:n]).alias("root_post_id")
            break
        jump = nxt
    return _roots_python(posts)


def thread_roots(posts: pl.DataFrame) -> pl.Series:
    """``root_post_id`` of every kept post: the top of its thread, null for a thread's top.

    The parent links give the top of each chain (:func:`_roots`). A chain whose top is a reply
    without parent (its parent is not in the dump, was removed or detached) still belongs to
    the thread the adapter named in ``root_post_id`` (a Usenet article's first ``References``
    entry, a PHEME reaction's thread, a Reddit comment's ``link_id``), where that post is kept:
    the reply and everything below it then take that thread's root, and the reply stays
    without parent (no dangling link, no guessed one). Recomputing the root from the parent
    links alone gave such a reply a thread of its own, which its replies joined at depth 1
    (usenet-mini-newsgroups: 34 replies, pheme-rumour-scheme: 117, the five Stack Exchange
    dumps: 110 comments whose answer went). A named root that is
    itself such a reply is followed to its own thread's top; a named root below the reply, or
    a loop of named roots (malformed data), names none. Every result depends on the links
    alone, never on row order.

    Args:
        posts: the kept posts, ``post_id``, ``parent_post_id`` (links to kept posts only) and
            ``root_post_id`` as the adapter gave it.

    Returns:
        The ``root_post_id`` column, row for row.
    """
    top = _roots(posts)
    ids = posts["post_id"]
    # the adapter's root of a post without parent, where it names another kept post
    named = posts.select(
        pl.when(
            pl.col("parent_post_id").is_null()
            & (pl.col("root_post_id") != pl.col("post_id"))
            & pl.col("root_post_id").is_in(ids.implode())
        ).then(pl.col("root_post_id"))
    ).to_series()
    hinted = posts.select(pl.col("post_id"), named.alias("_named")).filter(
        pl.col("_named").is_not_null()
    )
    linked = pl.col("parent_post_id").is_not_null()
    if not hinted.height:
        return posts.select(pl.when(linked).then(top).alias("root_post_id")).to_series()
    # each post that names a root points at that root's top; followed to a top that names none
    # (a dict of those posts only, not of every post)
    hinted = hinted.join(
        pl.DataFrame({"_named": ids, "_step": top}), on="_named", how="left", maintain_order="left"
    )
    step = dict(zip(hinted["post_id"].to_list(), hinted["_step"].to_list(), strict=True))
    resolved: dict[str, str | None] = {}
    for start in step:
        path, on_path, cur = [start], {start}, step[start]
        while cur in step and cur not in on_path and cur not in resolved:
            path.append(cur)
            on_path.add(cur)
            cur = step[cur]
        # back on the path: a loop (or a root named below the reply), no thread known
        end = None if cur in on_path else resolved.get(cur, cur)
        for p in path:
            resolved[p] = end
    thread = pl.DataFrame(
        {"_top": list(resolved), "_thread": list(resolved.values())},
        schema={"_top": pl.String, "_thread": pl.String},
    )
    return (
        pl.DataFrame({"parent_post_id": posts["parent_post_id"], "_top": top})
        .join(thread, on="_top", how="left", maintain_order="left")
        .select(pl.coalesce("_thread", pl.when(linked).then(pl.col("_top"))).alias("root_post_id"))
        .to_series()
    )
