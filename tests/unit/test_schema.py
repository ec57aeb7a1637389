"""The canonical schema: conform and validate catch what they must."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from analysis import schema
from analysis.sources.base import frame

T = datetime(2025, 1, 1, tzinfo=UTC)


def _posts(**over) -> pl.DataFrame:
    row = dict(post_id="p1", platform="demo", account_id="a", kind="post", created_at=T)
    row.update(over)
    return frame([row], "posts")


def test_conform_adds_missing_columns_and_orders_them() -> None:
    df = schema.conform(pl.DataFrame({"post_id": ["p"], "extra": [1]}), "posts")
    assert df.columns == [*schema.POSTS, *schema.PROVENANCE]
    assert df["labels"].dtype == pl.List(pl.String)


def test_conform_converts_naive_times_to_utc() -> None:
    df = schema.conform(pl.DataFrame({"created_at": [datetime(2025, 1, 1)]}), "posts")
    assert df.schema["created_at"] == schema.UTC_TIME


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"account_id": None}, "required column 'account_id' is null in row 0"),
        ({"kind": "tweet"}, "kind 'tweet' is not one of"),
        ({"created_at": datetime(1970, 1, 1, tzinfo=UTC)}, "outside"),
    ],
)
def test_validate_names_the_problem(over, message) -> None:
    with pytest.raises(schema.SchemaError, match=message):
        schema.validate(_posts(**over), "posts")


def test_validate_rejects_duplicates_and_wrong_layers() -> None:
    df = pl.concat([_posts(), _posts()])
    with pytest.raises(schema.SchemaError, match="share an post_id"):
        schema.validate(df, "posts")
    accounts = frame([dict(account_id="a", platform="demo", handle="h")], "accounts")
    with pytest.raises(schema.SchemaError, match="unexpected"):
        schema.validate(accounts, "accounts", schema.INTERIM)


def test_surely_distinct_is_proof_of_distinct_values_never_of_duplicates() -> None:
    assert schema.surely_distinct(pl.Series([f"p{i}" for i in range(10_000)]))
    assert schema.surely_distinct(pl.Series(["a", None]))
    assert schema.surely_distinct(pl.Series([], dtype=pl.String))
    assert not schema.surely_distinct(pl.Series(["a", "b", "a"]))
    assert not schema.surely_distinct(pl.Series([None, "b", None]))


def test_duplicate_checks_give_the_same_answers_on_their_exact_route(monkeypatch) -> None:
    """Where hashes collide, validate and ingest take the exact checks: the same outcomes."""
    from analysis import ingest_checks

    monkeypatch.setattr(schema, "surely_distinct", lambda values: False)
    schema.validate(pl.concat([_posts(), _posts(post_id="p2")]), "posts")
    with pytest.raises(schema.SchemaError, match="share an post_id"):
        schema.validate(pl.concat([_posts(), _posts()]), "posts")
    posts = pl.concat([_posts(), _posts(), _posts(post_id="p2")]).with_columns(
        pl.lit(None, pl.UInt32).alias(ingest_checks.TEXT_CHARS)
    )
    kept, rejects = ingest_checks._validate_posts(posts, datetime(2026, 1, 1, tzinfo=UTC))
    assert kept["post_id"].to_list() == ["p1", "p2"]
    assert [r["reason"].to_list() for r in rejects] == [
        ["duplicate post_id (first occurrence kept)"]
    ]
