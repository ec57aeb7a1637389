"""``benchmarks.models_memory``: each model scored on a project's tables read both ways, the
ids held both ways."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from analysis import models as registry
from analysis import paths, schema
from analysis.models.base import Tables
from benchmarks.models import synthetic_tables
from benchmarks.models_memory import score_one


def test_each_read_is_what_it_says_and_the_model_is_measured(tmp_path) -> None:
    tables = synthetic_tables(3_000, 200)
    interim = tmp_path / paths.INTERIM
    interim.mkdir(parents=True)
    for name in ("posts", "accounts", "reactions"):
        # small row groups: read as it comes, a column holds one chunk per row group
        getattr(tables, name).write_parquet(
            interim / paths.INTERIM_TABLES[name].name, row_group_size=500
        )
    as_read = score_one(str(tmp_path), "volume", "as-read")
    contiguous = score_one(str(tmp_path), "volume", "contiguous")
    assert as_read["posts_chunks"] == 6 and contiguous["posts_chunks"] == 1
    for r in (as_read, contiguous):
        assert r["model"] == "volume" and r["seconds"] > 0 and r["growth_mib"] >= 0
    # the read the score stage uses is restored after an as-read measurement
    assert score_one(str(tmp_path), "volume", "contiguous")["posts_chunks"] == 1


def _as_pseudonyms(tables: Tables) -> Tables:
    """``tables`` with post ids shaped as ingest writes them (``post_`` and 16 hex digits), so
    that the stage holds them as numbers: each id's 64-bit hash spelt (distinct for 3,000)."""

    def spelt(df: pl.DataFrame, columns: tuple[str, ...]) -> pl.DataFrame:
        return df.with_columns(
            schema.numbers_as_text(df[c].hash(seed=7).set(df[c].is_null(), None), "post_")
            for c in columns
        )

    return Tables(
        posts=spelt(tables.posts, schema.POST_NUMBER_COLUMNS["posts"]),
        accounts=tables.accounts,
        reactions=spelt(tables.reactions, schema.POST_NUMBER_COLUMNS["reactions"]),
    )


@pytest.mark.parametrize("name", sorted(registry.MODELS))
def test_every_way_of_holding_the_ids_gives_every_model_the_same_scores(tmp_path, name) -> None:
    """The score stage holds the post ids as numbers and the other ids as categoricals
    (``schema.POST_NUMBER_COLUMNS``, ``schema.ID_COLUMNS``): every model scores exactly as on
    every id as a categorical and on the strings the files hold, rows in the same order."""
    tables = _as_pseudonyms(synthetic_tables(3_000, 200))
    assert tables.posts["post_id"].n_unique() == tables.posts.height
    interim = tmp_path / paths.INTERIM
    interim.mkdir(parents=True)
    for table in ("posts", "accounts", "reactions"):
        getattr(tables, table).write_parquet(interim / paths.INTERIM_TABLES[table].name)
    files = {ids: tmp_path / f"{ids}.parquet" for ids in ("numbers", "categorical", "string")}
    for ids, out in files.items():
        score_one(str(tmp_path), name, "contiguous", ids, str(out))
    numbers, cat, plain = (pl.read_parquet(f) for f in files.values())
    assert cat.height > 0 and cat.schema["account_id"] == pl.String
    assert_frame_equal(cat, plain, check_exact=True)
    assert_frame_equal(numbers, plain, check_exact=True)


def test_the_stage_read_holds_post_ids_as_numbers(tmp_path) -> None:
    """What the equivalence above compares: the stage's read (``load_tables``) holds the
    pseudonymous post ids as unsigned 64-bit numbers, the account ids as categoricals, and
    hand-made post ids (not pseudonyms) as categoricals; one table of hand-made post ids makes
    every table's post ids categoricals (they must join)."""
    from analysis.stages.tables import load_tables

    tables = _as_pseudonyms(synthetic_tables(300, 20))
    interim = tmp_path / paths.INTERIM
    interim.mkdir(parents=True)

    def write(t: Tables) -> Tables:
        for table in ("posts", "accounts", "reactions"):
            getattr(t, table).write_parquet(interim / paths.INTERIM_TABLES[table].name)
        return load_tables(interim, topics=None)

    got = write(tables)
    for c in schema.POST_NUMBER_COLUMNS["posts"]:
        assert got.posts.schema[c] == pl.UInt64, c
        back = schema.post_ids_as_text(got.posts[c])
        assert back.to_list() == tables.posts[c].to_list(), c
    assert got.reactions.schema["post_id"] == pl.UInt64
    assert isinstance(got.posts.schema["account_id"], pl.Categorical)
    assert_frame_equal(schema.ids_as_strings(got.posts), tables.posts, check_exact=True)
    hand = tables.reactions.with_columns(pl.col("post_id").str.replace("post_", "p"))
    mixed = write(Tables(posts=tables.posts, accounts=tables.accounts, reactions=hand))
    for df, c in (
        (mixed.posts, "post_id"),
        (mixed.posts, "root_post_id"),
        (mixed.reactions, "post_id"),
    ):
        assert isinstance(df.schema[c], pl.Categorical), c
    assert_frame_equal(schema.ids_as_strings(mixed.posts), tables.posts, check_exact=True)


def test_a_topics_file_of_other_ids_is_read_in_the_posts_type(tmp_path, monkeypatch) -> None:
    """The score stage reads the post topics apart from the tables (``post_topics_at``): a
    file holding an id that is not a pseudonym (made by hand) beside pseudonymous posts comes
    in the posts' type, that id null (it matches no post), and network_topic scores on it
    (a categorical beside numbers would not join)."""
    from datetime import timedelta

    from analysis.models import common, network_topic
    from analysis.models.params import ModelParams
    from analysis.stages.scoring_topics import post_topics_at
    from analysis.stages.tables import load_tables

    tables = _as_pseudonyms(synthetic_tables(300, 20))
    interim = tmp_path / paths.INTERIM
    interim.mkdir(parents=True)
    for table in ("posts", "accounts", "reactions"):
        getattr(tables, table).write_parquet(interim / paths.INTERIM_TABLES[table].name)
    monkeypatch.chdir(tmp_path)
    loaded = load_tables(paths.INTERIM, topics=None)
    first = tables.posts["post_id"][0]
    (tmp_path / paths.POST_TOPICS).parent.mkdir(parents=True, exist_ok=True)
    pl.DataFrame(
        {
            "post_id": [first, "p_handmade"],
            "topic_id": [0, 1],
            "probability": [1.0, 1.0],
            "is_primary": [True, True],
        }
    ).write_parquet(tmp_path / paths.POST_TOPICS)
    as_of = loaded.posts["created_at"].max() + timedelta(seconds=1)
    got = post_topics_at({}, loaded.posts, as_of)
    assert got is not None and got.schema["post_id"] == pl.UInt64
    assert schema.post_ids_as_text(got["post_id"]).to_list() == [first, None]
    with_topics = Tables(
        posts=common.annotate(loaded.posts),
        accounts=loaded.accounts,
        reactions=loaded.reactions,
        post_topics=got,
    )
    assert network_topic.score(with_topics, ModelParams(), as_of).height > 0
