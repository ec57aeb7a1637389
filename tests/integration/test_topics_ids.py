"""Stage ``topics`` holds its account ids as polars categoricals and its post ids as the 64-bit
numbers of their pseudonyms (``stages.topics.read_tables``: at 10M posts its peak 5.96 ->
4.1-4.2 GiB with every id a categorical, session 57; 3.41 GiB with the post ids as numbers,
session 61). On the built demo project, the stage's computation on the tables with their ids
as strings, and with every id a categorical, writes the very tables the build wrote."""

from __future__ import annotations

import polars as pl
import pytest

from tests.project import GROUPS, built_project

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group(GROUPS["reads"])]


def test_topics_from_string_ids_are_the_tables_the_stage_wrote(
    tmp_path_factory, monkeypatch
) -> None:
    from analysis import contracts, paths, schema
    from analysis.config import load_params, section
    from analysis.contracts import TopicFit
    from analysis.embed import EmbedParams, vector_space
    from analysis.stages import topics as stage
    from analysis.topics import TopicsParams

    project = built_project(tmp_path_factory)
    monkeypatch.chdir(project)  # read only: no memo is given, nothing is written
    params = load_params(project / "params.yaml")
    posts, accounts, reactions = stage.read_tables()
    for c in ("post_id", "parent_post_id"):  # those it reads
        assert posts.schema[c] == pl.UInt64, c
    assert reactions.schema["post_id"] == pl.UInt64
    assert posts.schema["account_id"] == pl.Categorical
    assert accounts.schema["account_id"] == pl.Categorical
    as_text = [schema.ids_as_strings(t) for t in (posts, accounts, reactions)]
    assert not any(isinstance(d, pl.Categorical) for t in as_text for d in t.schema.dtypes())
    assert as_text[0]["post_id"].str.contains(schema.POST_PSEUDONYM).all()
    as_cats = [
        t.with_columns(
            pl.col(c).cast(pl.Categorical) for c in schema.ID_COLUMNS[name] if c in t.columns
        )
        for name, t in zip(("posts", "accounts", "reactions"), as_text, strict=True)
    ]

    p = section(params, "topics", TopicsParams)
    fit = contracts.load(TopicFit, paths.TOPIC_MODEL)
    space = vector_space(section(params, "embed", EmbedParams), posts.height)
    out = stage.compute(*as_text[:1], paths.EMBEDDINGS, *as_text[1:], p, fit, space, None)
    held = stage.compute(posts, paths.EMBEDDINGS, accounts, reactions, p, fit, space, None)
    cats = stage.compute(*as_cats[:1], paths.EMBEDDINGS, *as_cats[1:], p, fit, space, None)
    for name, path in paths.TOPIC_TABLES.items():
        written = pl.read_parquet(path)
        assert out[name].equals(written), name
        assert schema.ids_as_strings(held[name]).equals(written), name
        assert schema.ids_as_strings(cats[name]).equals(written), name
        assert out[name].height > 0, name
    for other in (held, cats):
        assert out["metrics"]["attribution"] == other["metrics"]["attribution"]
        assert out["metrics"]["vs_labels"] == other["metrics"]["vs_labels"]
