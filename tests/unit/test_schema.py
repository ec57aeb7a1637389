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


def test_post_numbers_take_pseudonyms_and_leave_other_columns_as_they_are() -> None:
    """The stages hold post ids as numbers only where every one is a pseudonym: a column of
    nulls only (Parquet's null type) is numbers, a categorical or a column with one id made
    by hand is not (None: the caller keeps it); the numbers spell the same text back."""
    ids = pl.Series("post_id", ["post_00000000000000ff", None, "post_ffffffffffffffff"])
    got = schema.post_numbers(ids)
    assert got is not None and got.dtype == pl.UInt64
    assert got.to_list() == [255, None, 2**64 - 1]
    assert schema.post_ids_as_text(got).to_list() == ids.to_list()
    nulls = schema.post_numbers(pl.Series("parent_post_id", [None, None]))
    assert nulls is not None and nulls.dtype == pl.UInt64 and nulls.null_count() == 2
    assert schema.post_numbers(ids.cast(pl.Categorical)) is None
    for other in ("p1", "POST_00000000000000FF", "post_00000000000000f", "post_00000000000000fff"):
        assert schema.post_numbers(pl.Series([*ids.to_list(), other])) is None, other


def test_post_ids_like_gives_another_tables_type() -> None:
    """A table's post ids in the type another holds them in, so that the two join: to
    numbers an id that is not a pseudonym becomes null (it matches no number); from numbers
    to text or categoricals the pseudonyms' text."""
    text = pl.Series("post_id", ["post_0000000000000001", "p_handmade", None])
    numbers = schema.post_ids_like(text, pl.UInt64)
    assert numbers.dtype == pl.UInt64 and numbers.to_list() == [1, None, None]
    back = schema.post_ids_like(numbers, pl.Categorical())
    assert isinstance(back.dtype, pl.Categorical)
    assert back.cast(pl.String).to_list() == ["post_0000000000000001", None, None]
    assert schema.post_ids_like(text.cast(pl.Categorical), pl.String).to_list() == text.to_list()
    assert schema.post_ids_like(numbers, pl.UInt64) is numbers
