"""Stage ``compare`` holds the posts' texts as their digest (``stages.digest``): every adversary
and placebo must alter such tables exactly as it alters the same tables with the texts, down to
which posts ties of equal timestamps pick, and give its synthetic posts the digest of their
texts.

The community here is built of ties: every account posts at the same instants, twice at each
(two texts), so any order that read the texts, the row order or the pseudonyms would show.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from analysis import adversaries, ordering, schema, stability
from analysis.models.base import Tables

START = datetime(2026, 3, 2, 9, tzinfo=UTC)  # a Monday
AS_OF = START + timedelta(days=21)
N = 8


def _ties() -> Tables:
    """``N`` accounts; on each of 21 days every account writes two root posts at 09:00 sharp
    (texts ``"<account> <day> a"`` and ``"... b"``), and the next account replies to both at
    10:00 sharp: every timestamp is shared by many posts."""
    posts = []
    for i in range(N):
        aid, nxt = f"acc{i}", f"acc{(i + 1) % N}"
        for d in range(21):
            for k in "ab":
                pid = f"p{i}_{d}{k}"
                when = START + timedelta(days=d)
                posts.append(
                    dict(post_id=pid, account_id=aid, kind="post", created_at=when, text=pid[::-1])
                )
                posts.append(
                    dict(
                        post_id=f"r{i}_{d}{k}",
                        account_id=nxt,
                        kind="reply",
                        parent_post_id=pid,
                        root_post_id=pid,
                        reply_to_account_id=aid,
                        created_at=when + timedelta(hours=1),
                        text=f"re {k} {d}",
                    )
                )
    ids = [f"acc{i}" for i in range(N)]
    accounts = schema.conform(
        pl.DataFrame({"account_id": ids, "platform": "demo", "is_participant": True}),
        "accounts",
        schema.INTERIM,
    )
    df = pl.DataFrame(posts).with_columns(
        platform=pl.lit("demo"), labels=pl.lit(["x"], dtype=pl.List(pl.String))
    )
    return Tables(
        accounts=accounts,
        posts=schema.conform(df, "posts", schema.INTERIM),
        reactions=schema.empty("reactions", schema.INTERIM),
    )


def _digest(posts: pl.DataFrame) -> pl.DataFrame:
    """``posts`` as ``stages.digest`` loads them: the texts' digest, no texts, no labels."""
    return posts.drop("text", "labels").with_columns(
        ordering.text_digest(posts["text"]).get_columns()
    )


def _shuffled(t: Tables, seed: int) -> Tables:
    return t.with_posts(t.posts.sample(fraction=1.0, shuffle=True, seed=seed))


ADVERSARIES = {
    "spam with replies": lambda t: adversaries.inject_posts(
        t, ["acc1", "acc4"], 0.5, AS_OF, 3, replier_share=0.5, replies_per_post=2
    ),
    "reply to everyone": lambda t: adversaries.reply_to_everyone(t, ["acc2"], 4, AS_OF, 5),
    "self-reply chains": lambda t: adversaries.self_reply_chains(t, ["acc3"], 3, AS_OF),
    "two-person exchange": lambda t: adversaries.two_person_exchange(t, ["acc3"], 4, AS_OF),
    "sockpuppets": lambda t: adversaries.sockpuppet_farm(t, ["acc5"], 2, AS_OF, n_posts=3),
    "reaction ring": lambda t: adversaries.reaction_ring(t, ["acc0", "acc6", "acc7"], AS_OF, 2, 2),
    "weekend placebo": lambda t: stability.weekend_placebo(t, ["acc1", "acc2"], AS_OF, 7),
}


@pytest.mark.parametrize("name", list(ADVERSARIES))
def test_an_adversary_alters_digest_tables_as_it_alters_the_texts(name: str) -> None:
    attack = ADVERSARIES[name]
    whole = _ties()
    slim = replace(whole, posts=_digest(whole.posts))
    a, b = attack(whole), attack(slim)
    assert a.posts.height != whole.posts.height  # it did alter something
    assert "text" not in b.posts.columns and "labels" not in b.posts.columns
    assert b.posts.schema == slim.posts.schema
    # the same rows, in the same order, and a synthetic post's digest is that of its text
    assert b.posts.equals(_digest(a.posts))
    assert b.accounts.equals(a.accounts) and b.reactions.equals(a.reactions)


@pytest.mark.parametrize("name", list(ADVERSARIES))
def test_an_adversary_on_digest_tables_ignores_the_row_order(name: str) -> None:
    attack = ADVERSARIES[name]
    slim = _ties()
    slim = replace(slim, posts=_digest(slim.posts))
    a, b = attack(slim), attack(_shuffled(slim, 11))
    assert b.posts.sort("post_id").equals(a.posts.sort("post_id"))


def test_ties_of_equal_time_are_broken_by_the_texts_hash_not_the_rows() -> None:
    slim = _ties()
    slim = replace(slim, posts=_digest(slim.posts))
    # every account's first posts share one instant: the order follows their texts' hashes
    order = adversaries.key_free_order(slim, AS_OF)
    first = (
        slim.posts.filter(pl.col("created_at") == START)
        .group_by("account_id")
        .agg(pl.col(ordering.TEXT_HASH).min())
        .sort(ordering.TEXT_HASH)
    )
    assert order == first["account_id"].to_list()
    assert adversaries.key_free_order(_shuffled(slim, 3), AS_OF) == order
