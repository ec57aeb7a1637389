"""Stage ``compare``: adversaries that fight back (table transforms, pure, no I/O).

Each function returns altered :class:`~analysis.models.base.Tables` in which a few *target*
accounts game the scores; ``analysis.counterfactual`` re-scores the models on them and reads
each target's gain against the frozen scores of everyone else. Every adversary is a curve over
its strength, so a report can show the elasticity of each model, not one point:

* :func:`inject_posts`: extra low-value posts (a share of the target's own number of posts),
  drawing no replies; with ``replier_share`` > 0 they draw a few replies from a fixed pool of
  real accounts (friends, bots, the curious) of that share of participants;
* :func:`reply_to_everyone`: the target replies to the latest post of many others, who answer
  back with their own observed answer-back rate;
* :func:`self_reply_chains` and :func:`two_person_exchange`: long threads of the target with
  itself, or with one partner (they raise thread depth and reciprocal counts);
* :func:`sockpuppet_farm`: new accounts that only reply to and like one target;
* :func:`reaction_ring`: existing accounts reply to and like each other.

Every random choice takes a seed, and every order is key-independent (post times and a hash
of the texts, ``analysis.ordering``, never pseudonyms), so results do not change with the
pseudonymisation key. The posts may hold their texts or only the texts' digest
(``ordering.TEXT_HASH``, as stage ``compare`` loads them): the same orders either way, and a
synthetic post gets the digest of its text where the table holds digests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from analysis import ordering, schema
from analysis.models.base import Tables

#: Fields a synthetic post leaves empty or at zero (no views recorded, no reactions).
_BLANK_POST: dict[str, Any] = dict(
    n_views=None, score=0, n_likes=0, n_reposts=0, n_comments_reported=0, labels=None
)


def _before(tables: Tables, as_of: datetime) -> pl.DataFrame:
    """Posts strictly before ``as_of``, latest first (ties by the text's hash: key-independent;
    the post id breaks only ties of equal time and text, as ``ordering.sort_posts`` does)."""
    posts = tables.posts.filter(pl.col("created_at") < as_of)
    return (
        posts.with_columns(_h=ordering.hash_of(posts))
        .sort(["created_at", "_h", "post_id"], descending=[True, False, False])
        .drop("_h")
    )


def _by_time(posts: pl.DataFrame) -> pl.DataFrame:
    """``posts`` earliest first, ties by the text's hash (key-independent)."""
    return posts.with_columns(_h=ordering.hash_of(posts)).sort("created_at", "_h").drop("_h")


def _conform(new: pl.DataFrame, posts: pl.DataFrame) -> pl.DataFrame:
    """Synthetic posts ``new`` (with ``text``) in the columns and types of ``posts``: where
    ``posts`` holds the texts' digest instead of the texts, the digest of ``new``'s texts."""
    if "text" not in posts.columns:
        new = new.with_columns(ordering.text_digest(new["text"]).get_columns())
    return new.select(posts.columns).cast(posts.schema)


def _like(new: pl.DataFrame, table: pl.DataFrame) -> pl.DataFrame:
    """``new``'s columns that ``table`` has in ``table``'s types (its ids may be categoricals:
    ``schema.ID_COLUMNS``; a string id beside them would not join)."""
    return new.cast({c: t for c, t in table.schema.items() if c in new.columns})


def _clip(when: datetime, as_of: datetime) -> datetime:
    return min(when, as_of - timedelta(seconds=1))


def _reply(
    post_id: str, author: str, parent: dict[str, Any], when: datetime, text: str, follower: Any
) -> dict[str, Any]:
    return dict(
        post_id=post_id,
        platform=parent["platform"],
        account_id=author,
        kind="reply",
        parent_post_id=parent["post_id"],
        root_post_id=parent["root_post_id"] or parent["post_id"],
        reply_to_account_id=parent["account_id"],
        created_at=when,
        text=text,
        follower_count=follower,
        **_BLANK_POST,
    )


def add_posts(tables: Tables, rows: list[dict[str, Any]]) -> Tables:
    """Tables with extra posts; a reply inherits its parent's topics (what it answers)."""
    if not rows:
        return tables
    new = _conform(pl.DataFrame(rows, schema=schema.columns("posts", schema.INTERIM)), tables.posts)
    topics = tables.post_topics
    if topics is not None:
        inherited = (
            new.select("post_id", "parent_post_id")
            .join(topics.rename({"post_id": "parent_post_id"}), on="parent_post_id")
            .select(topics.columns)
        )
        topics = pl.concat([topics, inherited])
    return replace(tables, posts=pl.concat([tables.posts, new]), post_topics=topics)


def add_likes(tables: Tables, likes: list[tuple[str, str, datetime]]) -> Tables:
    """Tables with extra likes ``(post_id, actor, when)``; the liked posts' reported totals grow
    too (their like count where the platform reports one, and their score)."""
    if not likes:
        return tables
    platform = tables.posts["platform"][0] if tables.posts.height else "demo"
    like_df = pl.DataFrame(
        {
            "reaction_id": [f"cf_like_{i}" for i in range(len(likes))],
            "platform": platform,
            "post_id": [x[0] for x in likes],
            "kind": "like",
            "created_at": [x[2] for x in likes],
            "actor_account_id": [x[1] for x in likes],
        }
    )
    like_df = _like(schema.conform(like_df, "reactions", schema.INTERIM), tables.reactions)
    bumps = like_df.group_by("post_id").agg(_bump=pl.len().cast(pl.Int64))
    # Only the liked posts' totals grow, and a total the platform does not report stays null:
    # a like count of 0 filled in on every post made every post "report 0 likes", and a reader
    # of the totals (common.post_reactions) then read those zeros instead of the post's score.
    # Where the score was all there was (a canonical dump with scores and no vote rows, as the
    # synthetic ones) engagement's community rate fell from 2.0 to 0.001 a post (1M posts); a
    # Stack Exchange dump's timed vote rows outweighed the zeros (beer: the same compare.json).
    liked = pl.col("_bump").is_not_null()
    posts = (
        tables.posts.join(bumps, on="post_id", how="left", maintain_order="left")
        .with_columns(
            n_likes=pl.when(liked).then(pl.col("n_likes") + pl.col("_bump")).otherwise("n_likes"),
            score=pl.when(liked)
            .then(pl.col("score").fill_null(0) + pl.col("_bump"))
            .otherwise("score"),
        )
        .drop("_bump")
    )
    return replace(tables, posts=posts, reactions=pl.concat([tables.reactions, like_df]))


def _as_answers(extra: pl.DataFrame, posts: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """``extra`` (root posts) where each post of a platform whose posts include answers becomes
    an answer to a question (a root post) of another account of that platform written before
    it; where no such question exists the post stays a root post."""
    platforms = set(posts.filter(pl.col("kind") == "answer")["platform"].unique().to_list())
    if not platforms:
        return extra
    rows = extra.to_dicts()
    for platform in sorted(platforms):
        roots = _by_time(
            posts.filter(
                (pl.col("platform") == platform)
                & pl.col("parent_post_id").is_null()
                & (pl.col("kind") != "answer")
            )
        ).select("post_id", "account_id", "created_at")
        times = roots["created_at"].to_numpy()
        ids, authors = roots["post_id"].to_list(), roots["account_id"].to_list()
        for row in rows:
            if row["platform"] != platform:
                continue
            before = int(
                np.searchsorted(times, np.datetime64(row["created_at"].replace(tzinfo=None)))
            )
            # a question of another account, drawn at random: a few draws, then the list
            me = row["account_id"]
            tries = (int(rng.integers(0, before)) for _ in range(8 if before else 0))
            q = next((i for i in tries if authors[i] != me), None)
            if q is None:
                others = [i for i in range(before) if authors[i] != me]
                if not others:
                    continue
                q = others[int(rng.integers(0, len(others)))]
            row.update(
                kind="answer",
                parent_post_id=ids[q],
                root_post_id=ids[q],
                reply_to_account_id=authors[q],
                text="low-value answer",
            )
    return pl.DataFrame(rows, schema=extra.schema)


def inject_posts(
    tables: Tables,
    account_ids: Sequence[str],
    multiplier: float,
    as_of: datetime,
    seed: int,
    replier_share: float = 0.0,
    replies_per_post: float = 1.0,
) -> Tables:
    """Add ``round(multiplier * n)`` low-value posts per account, ``n`` its posts before ``as_of``.

    Each extra post copies the time (minus up to an hour) and the follower count of one of the
    account's own posts drawn at random, so the extra volume has the same age profile as the
    real one. Extra posts have no reactions, no views and no topic, and no parent, except on a
    platform whose dump holds answers (Stack Exchange): there volume is answering, and each
    extra post is an answer to another account's question written before it (drawn at random,
    in a key-free order), which nobody takes up (:func:`_as_answers`). With
    ``replier_share`` > 0 each draws Poisson(``replies_per_post``) replies, an hour later, from a
    seeded pool of that share of the participants (at least one account).
    """
    rng = np.random.default_rng(seed)
    own = _by_time(
        tables.posts.filter(
            pl.col("account_id").is_in(list(account_ids)) & (pl.col("created_at") < as_of)
        )
    )
    pieces = []
    for aid in account_ids:  # caller's order, itself key-independent
        group = own.filter(pl.col("account_id") == aid)
        n_extra = round(multiplier * group.height)
        if n_extra == 0:
            continue
        pick = rng.integers(0, group.height, n_extra)
        jitter = rng.integers(1, 3600, n_extra)
        pieces.append(
            group[pick]
            .with_columns(_jitter_s=pl.Series(jitter, dtype=pl.Int64))
            .with_columns(
                created_at=pl.col("created_at") - pl.duration(seconds=pl.col("_jitter_s"))
            )
            .drop("_jitter_s")
        )
    if not pieces:
        return tables
    extra = pl.concat(pieces).with_columns(
        post_id=pl.format("cf_spam_{}", pl.int_range(0, pl.len())),
        kind=pl.lit("post"),
        parent_post_id=pl.lit(None, dtype=pl.String),
        root_post_id=pl.lit(None, dtype=pl.String),
        reply_to_account_id=pl.lit(None, dtype=pl.String),
        text=pl.lit("low-value post"),
        n_views=pl.lit(None, dtype=pl.Int64),
        score=pl.lit(0, dtype=pl.Int64),
        n_likes=pl.lit(0, dtype=pl.Int64),
        n_reposts=pl.lit(0, dtype=pl.Int64),
        n_comments_reported=pl.lit(0, dtype=pl.Int64),
        labels=pl.lit(None, dtype=schema.columns("posts", schema.INTERIM)["labels"]),
    )
    extra = _as_answers(extra, tables.posts, rng)
    extra = _conform(extra, tables.posts)
    out = tables.with_posts(pl.concat([tables.posts, extra]))
    if replier_share <= 0 or replies_per_post <= 0:
        return out
    pool = [a for a in key_free_order(tables, as_of) if a not in set(account_ids)]
    n_pool = max(1, round(replier_share * len(pool)))
    pool = [
        pool[i] for i in np.sort(rng.choice(len(pool), size=min(n_pool, len(pool)), replace=False))
    ]
    rows = []
    for row in extra.iter_rows(named=True):
        for r in rng.choice(
            len(pool), size=min(rng.poisson(replies_per_post), len(pool)), replace=False
        ):
            when = _clip(row["created_at"] + timedelta(hours=1), as_of)
            rows.append(_reply(f"cf_spamreply_{len(rows)}", pool[int(r)], row, when, "ok", None))
    return add_posts(out, rows)


def key_free_order(tables: Tables, as_of: datetime) -> list[str]:
    """Participants with a post before ``as_of``, ordered by first post time, then its text's
    hash (``analysis.ordering``).

    Pseudonyms change with the secret key; first post time and content do not, so sampling from
    this order gives the same accounts (the same people) under any key.
    """
    posts = tables.posts.filter(pl.col("created_at") < as_of).join(
        tables.participants().select("account_id"), on="account_id", how="semi"
    )
    first = (
        posts.select("account_id", "created_at", "kind", _h=ordering.hash_of(posts))
        .sort("created_at", "_h", "kind")
        .group_by("account_id", maintain_order=True)
        .agg(pl.col("created_at").first(), pl.col("_h").first())
        .sort("created_at", "_h")
    )
    return first["account_id"].to_list()


def answer_back_rates(tables: Tables, as_of: datetime) -> dict[str, float]:
    """Per account: the share of replies by others to its posts that it answered (before T)."""
    posts = tables.posts.filter(pl.col("created_at") < as_of)
    parents = posts.select(
        pl.col("post_id").alias("parent_post_id"), pl.col("account_id").alias("_author")
    )
    received = posts.join(parents, on="parent_post_id").filter(
        pl.col("account_id") != pl.col("_author")
    )
    answered = (
        posts.select(pl.col("parent_post_id").alias("post_id"), pl.col("account_id").alias("_by"))
        .join(received.select("post_id", "_author"), on="post_id")
        .filter(pl.col("_by") == pl.col("_author"))
        .select("post_id")
        .unique()
    )
    rates = (
        received.with_columns(
            _ans=pl.col("post_id").is_in(answered["post_id"].implode()).cast(pl.Float64)
        )
        .group_by("_author")
        .agg(pl.col("_ans").mean())
    )
    return dict(rates.iter_rows())


def reply_to_everyone(
    tables: Tables, targets: Sequence[str], n_others: int, as_of: datetime, seed: int
) -> Tables:
    """Each target replies to the latest root post of ``n_others`` others (seeded choice among
    the accounts active before ``as_of``, in key-independent order); each of them answers back,
    an hour later, with the probability it answered replies before (its answer-back rate)."""
    rng = np.random.default_rng(seed)
    posts = _before(tables, as_of)
    roots = (
        posts.filter(pl.col("parent_post_id").is_null())
        .group_by("account_id", maintain_order=True)
        .first()
    )
    latest_root = {r["account_id"]: r for r in roots.iter_rows(named=True)}
    order = [a for a in key_free_order(tables, as_of) if a in latest_root]
    back = answer_back_rates(tables, as_of)
    rows: list[dict[str, Any]] = []
    for t in targets:
        others = [a for a in order if a != t]
        for i in np.sort(rng.choice(len(others), size=min(n_others, len(others)), replace=False)):
            parent = latest_root[others[int(i)]]
            when = _clip(parent["created_at"] + timedelta(hours=1), as_of)
            mine = _reply(f"cf_all_{len(rows)}", t, parent, when, "interesting, thanks", None)
            rows.append(mine)
            if rng.random() < back.get(parent["account_id"], 0.0):
                when2 = _clip(when + timedelta(hours=1), as_of)
                rows.append(
                    _reply(f"cf_all_{len(rows)}", parent["account_id"], mine, when2, "yes", None)
                )
    return add_posts(tables, rows)


def self_reply_chains(
    tables: Tables, targets: Sequence[str], length: int, as_of: datetime, n_threads: int = 3
) -> Tables:
    """Under each target's ``n_threads`` latest root posts, a chain of ``length`` self-replies."""
    posts = _before(tables, as_of)
    rows: list[dict[str, Any]] = []
    for t in targets:
        for root in (
            posts.filter((pl.col("account_id") == t) & pl.col("parent_post_id").is_null())
            .head(n_threads)
            .iter_rows(named=True)
        ):
            parent = root
            for k in range(length):
                when = _clip(root["created_at"] + timedelta(minutes=5 * (k + 1)), as_of)
                parent = _reply(f"cf_self_{len(rows)}", t, parent, when, "and another thing", None)
                rows.append(parent)
    return add_posts(tables, rows)


def two_person_exchange(
    tables: Tables, targets: Sequence[str], length: int, as_of: datetime, n_threads: int = 1
) -> Tables:
    """Under each target's latest root post(s), a partner and the target alternate ``length``
    replies. The partner is whoever replied to the target most often before ``as_of`` (ties:
    the earliest first post), else the earliest other active account."""
    posts = _before(tables, as_of)
    order = key_free_order(tables, as_of)
    rank = {a: i for i, a in enumerate(order)}
    parents = posts.select(
        pl.col("post_id").alias("parent_post_id"), pl.col("account_id").alias("_to")
    )
    counts = (
        posts.join(parents, on="parent_post_id")
        .filter(pl.col("account_id") != pl.col("_to"))
        .group_by("_to", "account_id")
        .len()
    )
    rows: list[dict[str, Any]] = []
    for t in targets:
        mine = counts.filter(pl.col("_to") == t).filter(pl.col("account_id").is_in(order))
        cands = sorted(mine.iter_rows(named=True), key=lambda r: (-r["len"], rank[r["account_id"]]))
        partner = cands[0]["account_id"] if cands else next((a for a in order if a != t), None)
        if partner is None:
            continue
        for root in (
            posts.filter((pl.col("account_id") == t) & pl.col("parent_post_id").is_null())
            .head(n_threads)
            .iter_rows(named=True)
        ):
            parent = root
            for k in range(length):
                who = partner if k % 2 == 0 else t
                when = _clip(root["created_at"] + timedelta(minutes=10 * (k + 1)), as_of)
                parent = _reply(f"cf_pair_{len(rows)}", who, parent, when, "I see, but", None)
                rows.append(parent)
    return add_posts(tables, rows)


def sockpuppet_farm(
    tables: Tables,
    targets: Sequence[str],
    size: int,
    as_of: datetime,
    n_posts: int = 5,
    like: bool = True,
) -> Tables:
    """``size`` new accounts per target; each replies to and likes the target's ``n_posts``
    latest root posts (an hour and half an hour after them). Puppets are participants."""
    posts = _before(tables, as_of)
    rows: list[dict[str, Any]] = []
    likes: list[tuple[str, str, datetime]] = []
    new_ids: list[str] = []
    for i, t in enumerate(targets):
        recent = list(
            posts.filter((pl.col("account_id") == t) & pl.col("parent_post_id").is_null())
            .head(n_posts)
            .iter_rows(named=True)
        )
        for j in range(size):
            puppet = f"cf_puppet_{i}_{j}"
            new_ids.append(puppet)
            for parent in recent:
                when = _clip(parent["created_at"] + timedelta(hours=1), as_of)
                rows.append(_reply(f"cf_pup_{len(rows)}", puppet, parent, when, "great post", 1))
                if like:
                    likes.append(
                        (parent["post_id"], puppet, _clip(when - timedelta(minutes=30), as_of))
                    )
    if not new_ids:
        return tables
    platform = tables.posts["platform"][0] if tables.posts.height else "demo"
    puppets = _like(
        schema.conform(
            pl.DataFrame({"account_id": new_ids, "platform": platform, "is_participant": True}),
            "accounts",
            schema.INTERIM,
        ),
        tables.accounts,
    )
    out = replace(tables, accounts=pl.concat([tables.accounts, puppets], how="diagonal_relaxed"))
    return add_likes(add_posts(out, rows), likes)


def reaction_ring(
    tables: Tables,
    members: Sequence[str],
    as_of: datetime,
    replies_per_pair: int,
    likes_per_pair: int,
) -> Tables:
    """The members reply to and like each other's recent posts (before ``as_of``).

    For every ordered pair (a, b): a replies once to each of b's ``replies_per_pair`` latest
    root posts, an hour after them, and likes b's ``likes_per_pair`` latest posts half an hour
    after them; the platform's like totals grow accordingly.
    """
    posts = _before(tables, as_of)
    last_seen = {aid: posts.filter(pl.col("account_id") == aid) for aid in members}
    rows: list[dict[str, Any]] = []
    likes: list[tuple[str, str, datetime]] = []
    for a in members:
        follower = last_seen[a]["follower_count"][0] if last_seen[a].height else None
        for b in members:
            if a == b:
                continue
            roots = last_seen[b].filter(pl.col("parent_post_id").is_null()).head(replies_per_pair)
            for row in roots.iter_rows(named=True):
                when = _clip(row["created_at"] + timedelta(hours=1), as_of)
                rows.append(_reply(f"cf_ring_{len(rows)}", a, row, when, "ring reply", follower))
            for row in last_seen[b].head(likes_per_pair).iter_rows(named=True):
                likes.append(
                    (row["post_id"], a, _clip(row["created_at"] + timedelta(minutes=30), as_of))
                )
    return add_likes(add_posts(tables, rows), likes)
