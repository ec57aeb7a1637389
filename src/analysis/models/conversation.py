"""Model ``conversation``: do other people talk *with* this account?

Four components, each log-scaled (natural log of 1 + x) so that none dominates by its units;
the score is their plain sum (equal weights, a documented choice, not a fitted one):

* ``c_repliers``: distinct other accounts who replied to it (each counted once, with the decay
  weight of their latest reply);
* ``c_reciprocal``: partners in a reciprocal exchange, A answered B and B answered A, by who
  wrote (a Stack Exchange answer is its answerer's word to the asker, although its credit
  runs the other way; each pair counted once, with the weight of the older of the two
  directions' latest replies);
* ``c_threads``: depth of the threads it started that others joined (sum over its root posts
  with at least one reply by someone else of the root's weight times the depth, in reply levels,
  of the deepest post someone else wrote there: its own replies below do not deepen it);
* ``c_h_index``: h-index on replies: h of its posts drew at least h (weighted) replies from others.

Posting alone adds nothing here: an unanswered post has no repliers, no partner and no depth,
and a chain of its own replies under a thread adds no depth. The non-participant placeholder is
nobody: replies to it go nowhere (it can never answer back), and it is never a replier (an answer
to a question of someone outside the study is credited by no one).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from analysis import schema, semantics
from analysis.models import common
from analysis.models.base import Model, Tables
from analysis.models.params import ModelParams, NoParams, model_params

NAME = "conversation"
TITLE = "Conversation (people who reply, answer back, and keep threads going)"
UNIT = "sum of log(1 + x) components"
OBS = "responses it received from others (replies; a Stack Exchange answer's credit from its asker)"
COMPONENTS = {
    "c_repliers": "log(1 + distinct people who replied to it, each weighted by the age of "
    "their latest reply)",
    "c_reciprocal": "log(1 + people it had a two-way exchange with, each weighted by the age "
    "of the exchange)",
    "c_threads": "log(1 + depth of its threads that others joined, each weighted by the "
    "thread's age)",
    "c_h_index": "log(1 + h-index on replies received)",
}

#: No params of its own (its ``models.scored`` line is ``{}``).
Params = NoParams
EXTRA = ("n_repliers", "n_reciprocal", "thread_depth", "h_index")
MAX_DEPTH = 10_000


def thread_depths(posts: pl.DataFrame) -> pl.DataFrame:
    """Depth in reply levels of every post (roots 0), walking parent links level by level.

    A reply whose parent is absent (deleted, or outside the scope) counts as depth 1.
    """
    known = posts.select("post_id", "parent_post_id")
    present = known.filter(
        pl.col("parent_post_id").is_null()
        | ~pl.col("parent_post_id").is_in(known["post_id"].implode())
    ).with_columns(depth=pl.when(pl.col("parent_post_id").is_null()).then(0).otherwise(1))
    frontier, done = present.select("post_id", "depth"), [present.select("post_id", "depth")]
    rest = known.join(frontier, on="post_id", how="anti")
    for _ in range(MAX_DEPTH):
        if not rest.height or not frontier.height:
            break
        nxt = rest.join(frontier.rename({"post_id": "parent_post_id"}), on="parent_post_id").select(
            "post_id", (pl.col("depth") + 1).alias("depth")
        )
        done.append(nxt)
        rest = rest.join(nxt, on="post_id", how="anti")
        frontier = nxt
    return pl.concat(done)


def thread_roots(posts: pl.DataFrame) -> pl.DataFrame:
    """``post_id, root_post_id``: the top of each post's chain of parent links within ``posts``.

    A post whose parent is absent is its own root. A post on or below a cycle of links has
    none (null, as its depth in :func:`thread_depths`): its chain is still moving after more
    steps than ``posts`` has links, where it took ``MAX_DEPTH`` joins (4 posts: ~3 s) and
    ended on whichever member of the cycle the count reached. Ingest rejects cycles, so only
    hand-built tables hold one. The walk stops after ``MAX_DEPTH`` steps at most: in a table
    of that many posts or more, a cycle's posts keep the member reached then, as before.
    """
    ids = posts["post_id"].implode()
    cur = posts.select(
        "post_id",
        root_post_id=pl.when(pl.col("parent_post_id").is_in(ids))
        .then(pl.col("parent_post_id"))
        .otherwise(pl.col("post_id")),
    )
    parent = posts.select(
        pl.col("post_id").alias("root_post_id"), pl.col("parent_post_id").alias("_up")
    )
    # an acyclic chain of n posts has at most n - 1 links: it stops within n steps
    steps = min(MAX_DEPTH, posts.height + 1)
    for _ in range(steps):
        step = cur.join(parent, on="root_post_id", how="left").with_columns(
            _up=pl.when(pl.col("_up").is_in(ids)).then(pl.col("_up"))
        )
        if step["_up"].null_count() == step.height:
            return cur
        cur = step.select("post_id", root_post_id=pl.coalesce("_up", "root_post_id"))
    if steps == MAX_DEPTH:  # deeper than MAX_DEPTH levels or a cycle: as far as reached
        return cur
    return cur.with_columns(
        root_post_id=pl.when(step["_up"].is_null()).then(pl.col("root_post_id"))
    )


def thread_structure(posts: pl.DataFrame) -> pl.DataFrame:
    """``post_id, depth, root_post_id``: :func:`thread_depths` and :func:`thread_roots` at once.

    Pointer jumping over row numbers (each round doubles the span a post's link covers, so
    log2 of the deepest thread rounds instead of one join per level): the top of each chain and
    the number of links to it. A post whose parent is absent is its own root at depth 1, as in
    :func:`thread_depths`. A missing or duplicate post id or a cycle takes the two level-by-level
    walks (whose results then stand: the posts on or below a cycle get a null depth and root).
    """
    ids = posts["post_id"]
    n = posts.height
    if n == 0 or ids.null_count() or ids.n_unique() != n:
        return _walked(posts)
    parent = (
        posts.select(pl.col("parent_post_id").cast(ids.dtype))
        .with_row_index("_i")
        .join(
            pl.DataFrame({"parent_post_id": ids}).with_row_index("_p"),
            on="parent_post_id",
            how="left",
        )
        .sort("_i")["_p"]
    )
    has_parent = parent.is_not_null().to_numpy()
    rows = np.arange(n)
    up = np.where(has_parent, parent.fill_null(0).to_numpy().astype(np.int64), rows)
    hops = has_parent.astype(np.int64)
    for _ in range(max(1, int(np.ceil(np.log2(n))) + 1)):
        nxt = up[up]
        if np.array_equal(nxt, up):
            break
        hops, up = hops + hops[up], nxt
    else:
        return _walked(posts)  # still moving: a cycle
    if has_parent[up].any():
        return _walked(posts)  # a chain that ends on a post with a parent here: a cycle
    # a chain whose top has a parent outside ``posts`` starts at depth 1
    absent = posts["parent_post_id"].is_not_null().to_numpy()
    return pl.DataFrame(
        {
            "post_id": ids,
            "depth": hops + absent[up],
            "root_post_id": ids.gather(up),
        }
    ).with_columns(pl.col("depth").cast(pl.Int32))


def _walked(posts: pl.DataFrame) -> pl.DataFrame:
    roots = thread_roots(posts)
    return roots.join(thread_depths(posts), on="post_id", how="left").select(
        "post_id", "depth", "root_post_id"
    )


def score(tables: Tables, params: ModelParams, as_of: datetime) -> pl.DataFrame:
    """Score every participant by the conversation it draws, before ``as_of``.

    Each component is a function of its own (:func:`repliers`, :func:`reciprocal`,
    :func:`threads_joined`, :func:`h_index`): what one builds (at 10M posts a thread structure of
    every post, the pairs of accounts) is let go before the next, not held to the end.
    """
    p = model_params(params)
    half_life, window = common.timing(p)
    # the columns read below: the scoping copies these alone
    posts = common.scoped_posts(common.edge_posts(tables.posts), as_of, half_life, window)
    edges = common.reply_edges(posts, reactions=tables.reactions, as_of=as_of).filter(
        (pl.col("dst") != schema.NONPARTICIPANT_ID) & (pl.col("src") != schema.NONPARTICIPANT_ID)
    )
    # the columns the threads read (an eager filter copies every column), the scoped posts let go
    conv = conversation_posts(posts)
    del posts
    threads = threads_joined(conv, edges)
    del conv
    per = (
        repliers(edges)
        .join(reciprocal(edges), on="account_id", how="full", coalesce=True)
        .join(threads, on="account_id", how="full", coalesce=True)
        .join(h_index(edges), on="account_id", how="full", coalesce=True)
        .with_columns(
            pl.col("n_repliers", "n_reciprocal", "h_index", "n_obs").fill_null(0),
            pl.col("_repl_w", "_recip_w", "thread_depth").fill_null(0.0),
        )
        .with_columns(
            c_repliers=pl.col("_repl_w").log1p(),
            c_reciprocal=pl.col("_recip_w").log1p(),
            c_threads=pl.col("thread_depth").log1p(),
            c_h_index=pl.col("h_index").cast(pl.Float64).log1p(),
        )
        .with_columns(score=pl.sum_horizontal(*COMPONENTS))
        .select("account_id", "score", "n_obs", *COMPONENTS, *EXTRA)
    )
    out = common.finish(per, tables, NAME, as_of, half_life, window, [], extra=EXTRA)
    return out.with_columns(
        pl.col("n_repliers", "n_reciprocal", "h_index").fill_null(0),
        pl.col("thread_depth").fill_null(0.0),
    )


def repliers(edges: pl.DataFrame) -> pl.DataFrame:
    """``account_id, n_repliers, _repl_w, n_obs``: distinct repliers, each with the weight of
    their latest reply, and the replies received (``n_obs``)."""
    pair_w = common.pair_group_by(edges, "src", "dst", w=pl.col("w").max())
    out = pair_w.group_by("dst").agg(n_repliers=pl.len(), _repl_w=common.ordered_sum(pl.col("w")))
    n_replies = edges.group_by("dst").agg(n_obs=pl.len())
    return out.join(n_replies, on="dst").rename({"dst": "account_id"})


def reciprocal(edges: pl.DataFrame) -> pl.DataFrame:
    """``account_id, n_reciprocal, _recip_w``: partners in a reciprocal exchange.

    Each of the two addressed the other; each unordered pair counted once per account. Credit
    edges run from the credited item's addressee to its author except a Stack Exchange
    answer's (asker -> answerer, although the answerer acted): by credit, "A answered B and
    commented on B's question" read as an exchange B never took part in, and "A answered B, B
    commented back on the answer" as none (beer: 226 of the 472 ordered pairs were one-sided,
    532 exchanges were missed). So pairs are taken by who acted.
    """
    acted = semantics.by_actor(edges.select("src", "dst", "w", "channel"))
    acted_w = common.pair_group_by(acted, "src", "dst", w=pl.col("w").max())
    # each pair met by its reverse
    back = acted_w.rename({"w": "w_back"})
    both = common.pair_join(acted_w, back, ("src", "dst"), ("dst", "src"))
    recip = both.select(
        pl.col("src").alias("account_id"), pl.min_horizontal("w", "w_back").alias("w")
    )
    return recip.group_by("account_id").agg(
        n_reciprocal=pl.len(), _recip_w=common.ordered_sum(pl.col("w"))
    )


def conversation_posts(posts: pl.DataFrame) -> pl.DataFrame:
    """The posts that can start or deepen a thread, with the columns :func:`threads_joined`
    reads: no reposts (they start nothing), and the parent link of a conversation link only
    (on Stack Exchange an answer is the answerer's own contribution, credited as such, so it
    starts a thread of its own rather than deepening the asker's)."""
    conv = (
        posts.lazy()
        .filter(pl.col("kind") != "repost")
        .select("post_id", "account_id", "channel", "parent_post_id", "root_post_id", "w")
        .collect()
    )
    return conv.with_columns(
        parent_post_id=pl.when(pl.col("channel") == semantics.CONVERSATION).then(
            pl.col("parent_post_id")
        ),
        # A reply whose parent is not in the dump but whose thread is (ingest keeps its
        # ``root_post_id``) started nothing: the thread is its root's and where the reply sits
        # in it is unknown, so it and the replies below it deepen no thread, as below a post
        # out of scope (taken from the links before the line above drops the answers')
        _in_known_thread=pl.col("parent_post_id").is_null() & pl.col("root_post_id").is_not_null(),
    )


def threads_joined(conv: pl.DataFrame, edges: pl.DataFrame) -> pl.DataFrame:
    """``account_id, thread_depth``: over each account's root posts (of
    :func:`conversation_posts`) that someone else joined, the root's weight times the depth of
    the deepest post by someone other than the root's author (a chain of the author's own
    replies under a thread that one other person joined adds no depth)."""
    structure = thread_structure(conv)
    root_of = structure.select("post_id", "root_post_id")
    roots = conv.filter(pl.col("parent_post_id").is_null() & ~pl.col("_in_known_thread")).select(
        pl.col("post_id").alias("root_post_id"), "account_id", "w"
    )
    thread_max = (
        structure.filter(pl.col("depth").is_not_null())
        .join(conv.select("post_id", pl.col("account_id").alias("_by")), on="post_id")
        .join(roots.select("root_post_id", "account_id"), on="root_post_id")
        .filter(pl.col("_by") != pl.col("account_id"))
        .group_by("root_post_id")
        .agg(depth=pl.col("depth").max())
    )
    # the thread of each reply as the links above give it: the edges carry ingest's
    # ``root_post_id`` too, which the join used (a comment under a Stack Exchange answer has
    # the question as root there), so no answer's thread was ever joined
    others_joined = (
        edges.filter(pl.col("channel") == semantics.CONVERSATION)
        .select("post_id", "src")
        .join(root_of, on="post_id")
        .join(roots, on="root_post_id")
        .filter(pl.col("src") != pl.col("account_id"))
        .select("root_post_id")
        .unique()
    )
    return (
        roots.join(others_joined, on="root_post_id")
        .join(thread_max, on="root_post_id")
        .group_by("account_id")
        .agg(thread_depth=common.ordered_sum(pl.col("w") * pl.col("depth")))
    )


def h_index(edges: pl.DataFrame) -> pl.DataFrame:
    """``account_id, h_index``: h of its posts drew at least h weighted replies from others
    (replies to it; for a Stack Exchange answer, the answer's own credit plus the comments on
    it)."""
    # the replies to one post: mostly one or two (``common.group_sums``)
    per_post = common.group_sums(edges, ["dst", "target_post_id"], n=pl.col("w"))
    return (
        per_post.group_by("dst")
        .agg(h_index=(pl.col("n").sort(descending=True) >= pl.int_range(1, pl.len() + 1)).sum())
        .rename({"dst": "account_id"})
    )


if TYPE_CHECKING:  # a type checker verifies this module against the model protocol
    from analysis.models import conversation as _self

    _protocol_check: Model = _self
