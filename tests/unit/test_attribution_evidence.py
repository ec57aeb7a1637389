"""The evidence rule of topic attribution on crafted communities: no account is "influential
about" a topic on the strength of one post, of posts nobody else responded to, or of posts
whose only responses are its own or one other account's."""

from __future__ import annotations

import polars as pl

from analysis.attribution import attribute
from analysis.topics import TopicsParams

RULE = TopicsParams(min_posts=3, min_engagers=2)


def _tables(
    threads: list[tuple[str, str, list[str]]],
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """``threads``: (post id, author, repliers in order); every post and reply in topic 0."""
    rows = []
    for pid, author, repliers in threads:
        rows.append((pid, author, None))
        rows += [(f"{pid}_r{i}", who, pid) for i, who in enumerate(repliers)]
    posts = pl.DataFrame(
        rows, schema=["post_id", "account_id", "parent_post_id"], orient="row"
    ).with_columns(pl.col("parent_post_id").cast(pl.String))
    names = sorted(set(posts["account_id"]))
    accounts = pl.DataFrame({"account_id": names, "is_participant": [True] * len(names)})
    reactions = pl.DataFrame(schema={"post_id": pl.String, "actor_account_id": pl.String})
    topic = posts.select("post_id", topic_id=pl.lit(0, pl.Int64))
    return posts, reactions, accounts, topic


def _evidence(threads: list[tuple[str, str, list[str]]], who: str = "acct_a") -> dict:
    att = attribute(*_tables(threads), RULE)
    return att.filter((pl.col("method") == "evidence") & (pl.col("account_id") == who)).row(
        0, named=True
    )


def test_one_answered_post_and_unanswered_ones_are_not_evidence() -> None:
    """Three posts, one of them answered by three others: the old gate (3 posts, 2 engagers)
    credited the topic on that one post."""
    row = _evidence(
        [
            ("p0", "acct_a", ["acct_b", "acct_c", "acct_d"]),
            ("p1", "acct_a", []),
            ("p2", "acct_a", []),
        ]
    )
    assert (row["n_posts"], row["n_engaged_posts"], row["n_engagers"]) == (3, 1, 3)
    assert not row["is_attributed"]


def test_own_follow_ups_are_not_evidence() -> None:
    """One post answered by two others, then two replies of the author under it: three posts in
    the topic, but the only responses to two of them are the author's own."""
    row = _evidence([("p0", "acct_a", ["acct_b", "acct_c", "acct_a", "acct_a"])])
    assert (row["n_posts"], row["n_engaged_posts"]) == (3, 1)
    assert not row["is_attributed"]


def test_posts_answered_by_one_other_account_only_are_not_evidence() -> None:
    row = _evidence([(f"p{i}", "acct_a", ["acct_b"]) for i in range(5)])
    assert (row["n_engaged_posts"], row["n_engagers"]) == (5, 1)
    assert not row["is_attributed"]


def test_three_answered_posts_by_two_others_are_evidence() -> None:
    row = _evidence(
        [("p0", "acct_a", ["acct_b"]), ("p1", "acct_a", ["acct_c"]), ("p2", "acct_a", ["acct_b"])]
    )
    assert (row["n_engaged_posts"], row["n_engagers"]) == (3, 2)
    assert row["is_attributed"]
