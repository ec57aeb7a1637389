"""Per-account monthly aggregates (analysis.aggregates): counts on a tiny inline frame."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
from polars.testing import assert_frame_equal

from analysis import aggregates, schema

JAN = datetime(2024, 1, 15, tzinfo=UTC)
FEB = datetime(2024, 2, 3, tzinfo=UTC)
PH = schema.NONPARTICIPANT_ID


def _posts() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "platform": ["reddit"] * 7,
            "account_id": ["alice", "bob", "bob", "carol", "alice", "bob", "dave"],
            "reply_to_account_id": [None, "alice", "alice", "alice", "alice", "alice", PH],
            "created_at": [JAN, JAN, JAN, JAN, JAN, FEB, FEB],
        }
    )


def test_posts_replies_and_distinct_repliers_per_account_and_month() -> None:
    out = aggregates.account_month_aggregates(_posts().lazy())
    want = pl.DataFrame(
        {
            "platform": ["reddit"] * 5,
            "month": ["2024-01", "2024-01", "2024-01", "2024-02", "2024-02"],
            "account_id": ["alice", "bob", "carol", "alice", "bob"],
            "n_posts": [2, 2, 1, 0, 1],
            # a self-reply and a reply to the placeholder count for nobody
            "n_replies_received": [3, 0, 0, 1, 0],
            "n_distinct_repliers": [2, 0, 0, 1, 0],
        },
        schema=aggregates.AGGREGATES,
    )
    assert_frame_equal(out.filter(pl.col("account_id") != "dave"), want)
    assert out.filter(pl.col("account_id") == "dave")["n_posts"].to_list() == [1]


def test_a_month_column_gives_the_same_aggregates() -> None:
    posts = _posts()
    by_time = aggregates.account_month_aggregates(posts.lazy(), engine="in-memory")
    by_text = aggregates.account_month_aggregates(
        posts.lazy().with_columns(aggregates.month_expr())
    )
    assert_frame_equal(by_time, by_text)


def test_the_table_is_sorted_by_text_whatever_order_the_codes_were_given_in() -> None:
    """The keys are grouped as codes given in order of appearance; the table is still sorted by
    their text, and the same whatever the rows' order (here the reverse of the text order)."""
    posts = _posts().with_columns(
        pl.col("platform").replace({"reddit": "zeta"}),
        pl.col("account_id").replace({"alice": "zoe"}),
        pl.col("reply_to_account_id").replace({"alice": "zoe"}),
    )
    twin = posts.with_columns(pl.lit("alpha").alias("platform"))
    both = pl.concat([posts, twin])
    forward = aggregates.account_month_aggregates(both.lazy())
    backward = aggregates.account_month_aggregates(both.reverse().lazy(), engine="in-memory")
    assert_frame_equal(forward, backward)
    assert forward.select(aggregates.AGG_KEYS).equals(
        forward.select(aggregates.AGG_KEYS).sort(aggregates.AGG_KEYS)
    )
    assert forward["platform"].unique(maintain_order=True).to_list() == ["alpha", "zeta"]
    assert forward.filter(pl.col("platform") == "zeta")["account_id"].to_list() == [
        "bob", "carol", "zoe", "bob", "dave", "zoe"
    ]  # fmt: skip
