"""Out-of-core helpers (analysis.scale): the streaming ingest route, the partitioned aggregates,
incremental recomputation, and the vectorised generator."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from analysis import privacy, scale, schema

KEY = b"test-key-not-secret-0123456789abcdef"
NS = "t"
T0 = datetime(2024, 1, 15, tzinfo=UTC)
T1 = datetime(2024, 2, 3, tzinfo=UTC)


def _raw() -> pl.DataFrame:
    return schema.conform(
        pl.DataFrame(
            {
                "post_id": ["q1", "a1", "a2", "a3", "q2", "m1"],
                "platform": ["reddit"] * 5 + ["mastodon"],
                "account_id": ["alice", "bob", "carol", "alice", "bob", "minor"],
                "kind": ["question", "answer", "answer", "answer", "question", "post"],
                "parent_post_id": [None, "q1", "q1", "q1", None, None],
                "root_post_id": [None, "q1", "q1", "q1", None, None],
                "reply_to_account_id": [None, "alice", "alice", "alice", None, None],
                "created_at": [T0, T0, T0, T1, T1, T1],
                "text": [
                    "ask @bob at bob@example.com",
                    "see https://x.org/a",
                    None,
                    "self reply",
                    "hi",
                    "x",
                ],
                "labels": [["coffee"], ["bob"], None, [], ["tea"], None],
            }
        ),
        "posts",
    )


@pytest.fixture()
def dump(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    _raw().write_parquet(raw / "part-0.parquet")
    return raw


def _read(root) -> pl.DataFrame:
    return pl.read_parquet(f"{root}/**/*.parquet", hive_partitioning=False).sort(
        "created_at", "text"
    )


def test_streaming_ingest_uses_the_privacy_functions(dump, tmp_path) -> None:
    res = scale.ingest_parquet(dump, tmp_path / "out", KEY, NS, removed_accounts={"minor"})
    out = _read(tmp_path / "out")
    assert res.n_rows == 5 == out.height  # the minor's post is gone
    assert set(res.partitions) == {("reddit", "2024-01"), ("reddit", "2024-02")}
    raw = _raw().filter(pl.col("account_id") != "minor").sort("created_at", "text")
    ps = lambda v, kind, prefix: None if v is None else privacy.pseudonym(KEY, NS, kind, v, prefix)  # noqa: E731
    for col, kind, prefix in (
        ("post_id", "post", privacy.POST_PREFIX),
        ("parent_post_id", "post", privacy.POST_PREFIX),
        ("root_post_id", "post", privacy.POST_PREFIX),
        ("account_id", "account", privacy.ACCOUNT_PREFIX),
        ("reply_to_account_id", "account", privacy.ACCOUNT_PREFIX),
    ):
        assert out[col].to_list() == [ps(v, kind, prefix) for v in raw[col].to_list()], col
    assert out["text"].to_list() == [privacy.scrub_text(t) for t in raw["text"].to_list()]
    assert "bob@example.com" not in " ".join(out["text"].drop_nulls().to_list())
    # the interim schema (plus the partition key), raw handles never present
    assert out.drop("month").columns == list(schema.columns("posts", schema.INTERIM))
    schema.validate(out.drop("month").sort("created_at"), "posts", schema.INTERIM)


def test_streaming_pseudonyms_equal_the_eager_expression(dump, tmp_path) -> None:
    scale.ingest_parquet(dump, tmp_path / "out", KEY, NS)
    out = _read(tmp_path / "out")
    eager = (
        _raw()
        .with_columns(privacy.pseudonymise_expr("post_id", KEY, NS, "post", privacy.POST_PREFIX))
        .sort("created_at", "text")
    )
    assert out["post_id"].to_list() == eager["post_id"].to_list()


def test_removed_addressee_becomes_the_placeholder_and_names_leave_labels(dump, tmp_path) -> None:
    names = privacy.NameRedactor(["bob"])
    scale.ingest_parquet(dump, tmp_path / "out", KEY, NS, names=names, removed_accounts={"alice"})
    out = _read(tmp_path / "out")
    assert out.height == 4  # alice's question and self-reply are gone (6 - 2)
    addressed = out.filter(pl.col("parent_post_id").is_not_null())["reply_to_account_id"].unique()
    assert addressed.to_list() == [schema.NONPARTICIPANT_ID]
    labels = out.filter(pl.col("kind") == "answer")["labels"].to_list()
    assert ["bob"] not in labels  # a label equal to a known name is dropped


def test_run_tags_add_files_instead_of_overwriting(dump, tmp_path) -> None:
    scale.ingest_parquet(dump, tmp_path / "out", KEY, NS, tag="first")
    scale.ingest_parquet(dump, tmp_path / "out", KEY, NS, tag="second")
    assert _read(tmp_path / "out").height == 12


def test_aggregates_on_a_tiny_frame() -> None:
    posts = _raw().filter(pl.col("platform") == "reddit").lazy()
    got = scale.account_month_aggregates(posts).collect()
    expected = pl.DataFrame(
        {
            "platform": ["reddit"] * 4,
            "month": ["2024-01", "2024-01", "2024-01", "2024-02"],
            "account_id": [
                "alice",
                "bob",
                "carol",
                "bob",
            ],  # alice's self-reply month has no row...
            "n_posts": [1, 1, 1, 1],
            "n_replies_received": [2, 0, 0, 0],
            "n_distinct_repliers": [2, 0, 0, 0],
        },
        schema=scale.AGGREGATES,
    )
    feb_alice = got.filter((pl.col("month") == "2024-02") & (pl.col("account_id") == "alice"))
    # ...except her own post that month: written 1, received 0 (self-replies do not count)
    assert feb_alice.select("n_posts", "n_replies_received").row(0) == (1, 0)
    assert_frame_equal(
        got.filter(~((pl.col("month") == "2024-02") & (pl.col("account_id") == "alice"))), expected
    )


def test_aggregates_of_nothing_are_empty() -> None:
    empty = schema.empty("posts", schema.INTERIM).lazy()
    assert scale.account_month_aggregates(empty).collect().height == 0


def test_partials_combine_across_slices() -> None:
    posts = scale.synthetic_posts(3000, seed=1)
    whole = scale.account_month_aggregates(posts.lazy()).collect()
    parts = [scale.aggregate_partials(posts.slice(i, 700).lazy()) for i in range(0, 3000, 700)]
    combined = scale.finish_aggregates(
        pl.concat([a for a, _ in parts]), pl.concat([b for _, b in parts])
    ).collect()
    assert_frame_equal(combined, whole)


def test_incremental_partitions_equal_a_full_recompute(tmp_path) -> None:
    scale.write_synthetic_dump(tmp_path / "raw", 20_000, chunk_rows=10_000, seed=3)
    scale.ingest_parquet(tmp_path / "raw", tmp_path / "posts", KEY, NS, tag="base")
    full = scale.aggregate_partitions(tmp_path / "posts", tmp_path / "agg")
    last = pl.scan_parquet(tmp_path / "raw").select(pl.col("created_at").max()).collect().item()
    scale.write_synthetic_dump(tmp_path / "new", 200, seed=9, offset=10**9, span_days=5, start=last)
    res = scale.ingest_parquet(tmp_path / "new", tmp_path / "posts", KEY, NS, tag="new")
    inc = scale.aggregate_partitions(tmp_path / "posts", tmp_path / "agg", only=res.partitions)
    assert inc["n_partitions"] < full["n_partitions"]
    ref = scale.account_month_aggregates(
        pl.scan_parquet(tmp_path / "posts" / "**" / "*.parquet", hive_partitioning=False)
    ).collect()
    assert_frame_equal(scale.read_aggregates(tmp_path / "agg"), ref)
    # the stale answer is different: the new posts did change something
    assert not scale.read_aggregates(tmp_path / "agg").equals(
        scale.account_month_aggregates(
            pl.scan_parquet(tmp_path / "posts" / "**" / "base-*.parquet", hive_partitioning=False)
        ).collect()
    )


def test_workers_split_the_files_and_give_the_same_rows(tmp_path) -> None:
    scale.write_synthetic_dump(tmp_path / "raw", 4000, chunk_rows=1000, seed=4)
    one = scale.ingest_parquet(tmp_path / "raw", tmp_path / "a", KEY, NS)
    two = scale.ingest_parquet(tmp_path / "raw", tmp_path / "b", KEY, NS, workers=2)
    assert one.n_rows == two.n_rows == 4000
    assert_frame_equal(_read(tmp_path / "a").sort("post_id"), _read(tmp_path / "b").sort("post_id"))


def test_generator_is_canonical_deterministic_and_linked() -> None:
    a = scale.synthetic_posts(5000, seed=2)
    schema.validate(a, "posts")
    assert a.equals(scale.synthetic_posts(5000, seed=2))
    assert not a.equals(scale.synthetic_posts(5000, seed=3))
    ids = set(a["post_id"].to_list())
    assert set(a["parent_post_id"].drop_nulls().to_list()) <= ids
    assert set(a["root_post_id"].drop_nulls().to_list()) <= ids
    roots = a.filter(pl.col("root_post_id").is_not_null()).join(
        a.select(
            pl.col("post_id").alias("root_post_id"), pl.col("parent_post_id").alias("root_parent")
        ),
        on="root_post_id",
    )
    assert roots["root_parent"].null_count() == roots.height  # a root has no parent
    # a reply stays on its thread's platform
    par = a.join(
        a.select(pl.col("post_id").alias("parent_post_id"), pl.col("platform").alias("pp")),
        on="parent_post_id",
    )
    assert (par["platform"] == par["pp"]).all()


def test_both_engines_write_the_same_rows(dump, tmp_path) -> None:
    scale.ingest_parquet(dump, tmp_path / "a", KEY, NS, engine="batches")
    scale.ingest_parquet(dump, tmp_path / "b", KEY, NS, engine="polars")
    assert_frame_equal(_read(tmp_path / "a"), _read(tmp_path / "b"))
    with pytest.raises(ValueError, match="engine"):
        scale.ingest_parquet(dump, tmp_path / "c", KEY, NS, engine="spark")
