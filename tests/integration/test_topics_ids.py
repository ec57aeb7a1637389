"""Stage ``topics`` holds its ids as polars categoricals (``stages.topics.read_tables``: at 10M
posts its peak 5.96 -> 4.1-4.2 GiB, session 57). On the built demo project, the stage's
computation on the tables with their ids as strings writes the very tables the build wrote."""

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
    assert posts.schema["post_id"] == pl.Categorical
    assert posts.schema["account_id"] == pl.Categorical
    assert accounts.schema["account_id"] == pl.Categorical
    as_text = [schema.ids_as_strings(t) for t in (posts, accounts, reactions)]
    assert not any(isinstance(d, pl.Categorical) for t in as_text for d in t.schema.dtypes())

    p = section(params, "topics", TopicsParams)
    fit = contracts.load(TopicFit, paths.TOPIC_MODEL)
    space = vector_space(section(params, "embed", EmbedParams), posts.height)
    out = stage.compute(*as_text[:1], paths.EMBEDDINGS, *as_text[1:], p, fit, space, None)
    held = stage.compute(posts, paths.EMBEDDINGS, accounts, reactions, p, fit, space, None)
    for name, path in paths.TOPIC_TABLES.items():
        written = pl.read_parquet(path)
        assert out[name].equals(written), name
        assert schema.ids_as_strings(held[name]).equals(written), name
        assert out[name].height > 0, name
    assert out["metrics"]["attribution"] == held["metrics"]["attribution"]
    assert out["metrics"]["vs_labels"] == held["metrics"]["vs_labels"]
