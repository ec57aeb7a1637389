"""The topics a score at ``models.as_of`` reads (``stages.scoring_topics``): never a fit that saw
posts written after ``as_of``."""

from __future__ import annotations

import argparse
from datetime import timedelta

import polars as pl
import pytest

from analysis import contracts, paths
from analysis.demo_check import tables_from_demo
from analysis.io import write_parquet
from analysis.models import common
from analysis.models.params import ModelParams
from analysis.stages import score as stage

RUN_TOPIC, REFIT_TOPIC = 7, 3


@pytest.fixture
def project(monkeypatch, tmp_path, small_demo):
    """Interim tables, the run's post topics (every post: topic 7, as a fit over the whole dump
    gives them) and an embeddings folder, in a fresh working directory."""
    monkeypatch.chdir(tmp_path)
    tables = tables_from_demo(small_demo)
    for name, path in paths.INTERIM_TABLES.items():
        write_parquet(getattr(tables, name), path)
    write_parquet(
        tables.posts.select(
            "post_id", topic_id=pl.lit(RUN_TOPIC, pl.Int64), probability=pl.lit(1.0)
        ).with_columns(is_primary=pl.lit(True)),
        paths.POST_TOPICS,
    )
    paths.EMBEDDINGS.mkdir(parents=True)
    refits = []

    def refit(embeddings, posts, before, tp, k):
        refits.append((before, posts.columns, k))
        return (
            posts.filter(pl.col("created_at") < before)
            .select("post_id", topic_id=pl.lit(REFIT_TOPIC, pl.Int64), probability=pl.lit(1.0))
            .with_columns(is_primary=pl.lit(True))
        )

    monkeypatch.setattr("analysis.topics.post_topics_before", refit)
    handed = {}
    real = stage.score_one

    def score_one(t, name, p, as_of):
        handed[name] = t.post_topics
        return real(t, name, p, as_of)

    monkeypatch.setattr(stage, "score_one", score_one)
    return tables, refits, handed


def _topics_of(frame: pl.DataFrame | None) -> set[int]:
    return set() if frame is None else set(frame["topic_id"].unique().to_list())


def test_a_score_before_the_last_post_reads_topics_refitted_before_it(project) -> None:
    """``models.as_of`` halfway through the dump: the run's topics were fitted with the posts
    after it (the old score stage handed them to network_topic as they were: on beer at the
    0.6 quantile 866 of 1,352 scores moved, percentiles by up to 28 points); the score reads
    topics refitted on the posts before ``as_of``, with the number chosen there too."""
    tables, refits, handed = project
    times = tables.posts["created_at"].sort()
    as_of = times[times.len() // 2] + timedelta(seconds=1)
    params = {"models": {"as_of": as_of.isoformat()}}
    assert stage.run(params, argparse.Namespace(models=["network_topic", "volume"])) == 0
    assert _topics_of(handed["network_topic"]) == {REFIT_TOPIC}
    assert handed["volume"] is None
    assert [(b, k) for b, _, k in refits] == [(as_of, None)]
    assert refits[0][1] == ["post_id", "created_at"]


def test_at_the_default_date_the_run_topics_are_read_without_a_refit(project) -> None:
    _, refits, handed = project
    assert stage.run({}, argparse.Namespace(models=["network_topic"])) == 0
    assert _topics_of(handed["network_topic"]) == {RUN_TOPIC}
    assert refits == []


def test_a_fit_frozen_before_the_scoring_date_is_read_as_it_is(project) -> None:
    """``topic_model.json`` records the fit's latest post: a fit that ended before ``as_of``
    (``dvc freeze topic_fit``) knows nothing after it, and its topics are read without a refit;
    one that ended at ``as_of`` or after is refitted."""
    from analysis.stages.scoring_topics import post_topics_at

    tables, refits, _ = project
    as_of = common.resolve_as_of(ModelParams(), tables.posts) - timedelta(days=10)

    def fit(through):
        return contracts.TopicFit(
            method="kmeans",
            vectors="test",
            n_topics=1,
            dim=1,
            assign_centroids=[[1.0]],
            assign_topic_ids=[0],
            outlier_min_cosine=None,
            centroids=[[1.0]],
            keywords=[[]],
            n_posts=1,
            fitted_through=through.isoformat(),
            n_sample_outliers=0,
            n_sample_outliers_assigned=0,
            stability_mean_pairwise_ari=None,
            topic_diversity=None,
        )

    contracts.write(fit(as_of - timedelta(seconds=1)), paths.TOPIC_MODEL)
    assert _topics_of(post_topics_at({}, tables.posts, as_of)) == {RUN_TOPIC}
    assert refits == []
    contracts.write(fit(as_of), paths.TOPIC_MODEL)
    assert _topics_of(post_topics_at({}, tables.posts, as_of)) == {REFIT_TOPIC}
    assert len(refits) == 1
