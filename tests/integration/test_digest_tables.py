"""Stages ``validate`` and ``compare`` leave the posts' texts in the file: their hash and length
stand in for them (``stages.digest``). Run with the texts in memory instead, each must write the
very same files on the built demo project."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.project import GROUPS, copy_built

pytestmark = pytest.mark.slow


def _names(params):
    from analysis import models as registry
    from analysis.models.params import model_params

    return [n for n in model_params(params).names if n in registry.MODELS]


def _loader_with_texts(seen: dict[str, list[str]]):
    """A stand-in for the stage's loader: the tables with the texts in memory (their columns
    noted in ``seen``)."""
    from analysis import paths
    from analysis.stages import score

    def with_texts(
        names: list[str], interim=paths.INTERIM, topics=paths.POST_TOPICS, post_numbers=True
    ):
        tables = score.load_tables(interim, topics, post_numbers=post_numbers)
        seen["columns"] = tables.posts.columns
        return tables

    return with_texts


@pytest.mark.xdist_group(GROUPS["changes"])
def test_validate_writes_the_same_validity_with_the_texts_in_memory(
    tmp_path_factory, tmp_path: Path, monkeypatch
) -> None:
    from analysis import ordering, paths
    from analysis.config import load_params
    from analysis.stages import score, validate

    project = copy_built(tmp_path_factory, tmp_path / "project")
    monkeypatch.chdir(project)
    params = load_params(project / "params.yaml")

    slim = validate.load_validate_tables(_names(params))
    assert "text" not in slim.posts.columns and "labels" not in slim.posts.columns
    assert {ordering.TEXT_HASH, ordering.TEXT_LEN} <= set(slim.posts.columns)
    whole = score.load_tables()
    assert slim.posts.drop(ordering.TEXT_HASH, ordering.TEXT_LEN).equals(
        whole.posts.drop("text", "labels")
    )

    built = paths.VALIDITY.read_bytes()  # written by the build's `dvc repro` (texts in the file)
    seen: dict[str, list[str]] = {}
    monkeypatch.setattr(validate, "load_validate_tables", _loader_with_texts(seen))
    assert validate.run(params, None) == 0
    assert "text" in seen["columns"]
    assert paths.VALIDITY.read_bytes() == built


@pytest.mark.xdist_group(GROUPS["changes"])
def test_compare_writes_the_same_results_with_the_texts_in_memory(
    tmp_path_factory, tmp_path: Path, monkeypatch
) -> None:
    """The adversaries pick posts and accounts in an order the texts' hash breaks ties of: the
    same picks from the texts or their digest, so the same re-scorings and recommendation."""
    from analysis import paths
    from analysis.config import load_params
    from analysis.stages import compare

    project = copy_built(tmp_path_factory, tmp_path / "project")
    monkeypatch.chdir(project)
    params = load_params(project / "params.yaml")
    built = {p: p.read_bytes() for p in (paths.COMPARE_RESULT, paths.CHANGES)}
    seen: dict[str, list[str]] = {}
    monkeypatch.setattr(compare, "load_digest_tables", _loader_with_texts(seen))
    assert compare.run(params, None) == 0
    assert "text" in seen["columns"]
    for path, data in built.items():
        assert path.read_bytes() == data, path
