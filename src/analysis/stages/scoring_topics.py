"""The post topics a score at ``as_of`` may read (stages ``score`` and ``compare``).

Reads ``data/processed/topic_model.json`` (when its fit saw posts), ``post_topics.parquet`` and,
where the fit saw posts at or after ``as_of``, the embeddings (``data/processed/embeddings/``)
to refit the topics on the posts before it, as every origin of ``validate`` does.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from analysis import contracts, paths, schema, topics
from analysis.config import section
from analysis.stages.tables import read_post_topics

log = logging.getLogger(__name__)


def fitted_through(path: Path = paths.TOPIC_MODEL) -> datetime | None:
    """The time of the latest post the run's topic fit saw (``topic_model.json``), UTC; None
    where the file is absent or the fit saw no post."""
    if not path.exists():
        return None
    last = contracts.load(contracts.TopicFit, path).fitted_through
    if last is None:
        return None
    at = datetime.fromisoformat(last)
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def post_topics_at(
    params: dict[str, Any], posts: pl.DataFrame, as_of: datetime
) -> pl.DataFrame | None:
    """The post topics a score at ``as_of`` may read, or None (plain PageRank, said in
    ``missing_inputs``).

    The run's topics (``post_topics.parquet``) where their fit saw no post at or after
    ``as_of``: the default ``as_of`` (the last post + 1 s), or a fit frozen before it. Where
    ``models.as_of`` is set before the fit's latest post, the run's topics (their number, their
    centroids) were fitted with posts written after ``as_of``: a score at ``as_of`` then reads
    topics refitted on the posts before it (``topics.post_topics_before``, the rule every
    origin of ``validate`` follows; with ``topics.n_topics: 0`` the number is chosen on those
    posts too), never the run's; without the embeddings, None. Without the fit's record
    (``topic_model.json``), the fit is taken to have seen every post of ``posts``.
    """
    # without the fit's record: it saw at most every post of the table
    through = fitted_through() or posts.select(pl.col("created_at").max()).item()
    if through is None or through < as_of:
        # their ids as the posts' (numbers where the posts' are: stages.tables.load_tables;
        # a file of other ids, made by hand, in the posts' type: they join, matching none)
        read = read_post_topics(post_numbers=posts.schema["post_id"] == pl.UInt64)
        if read is None or read.schema["post_id"] == posts.schema["post_id"]:
            return read
        return read.with_columns(schema.post_ids_like(read["post_id"], posts.schema["post_id"]))
    if not paths.EMBEDDINGS.exists():
        log.warning("no %s: topic-sensitive models at %s read no topics", paths.EMBEDDINGS, as_of)
        return None
    tp = section(params, "topics", topics.TopicsParams)
    log.info(
        "the run's topics were fitted with posts up to %s, not before %s: refitting on the "
        "posts before it",
        through,
        as_of,
    )
    slim = posts.select("post_id", "created_at")  # what the refit reads (no text, no hash)
    return topics.post_topics_before(paths.EMBEDDINGS, slim, as_of, tp, tp.n_topics or None)
