"""The interim tables as the models read them (the score stage, and validate's and compare's
digests of them: :mod:`analysis.stages.digest`)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from analysis import paths
from analysis.io import parquet_columns, read_contiguous
from analysis.models.base import Tables
from analysis.schema import CATEGORICAL_COLUMNS, ID_COLUMNS, POST_NUMBER_COLUMNS, one_post_id_type

log = logging.getLogger(__name__)

__all__ = ["ID_COLUMNS", "load_tables", "read_post_topics", "read_score_file"]


def load_tables(
    interim: Path = paths.INTERIM,
    topics: Path | None = paths.POST_TOPICS,
    skip_post_columns: Sequence[str] = (),
    post_numbers: bool = True,
) -> Tables:
    """The interim tables (plus post topics when the topics stage has written them and
    ``topics`` is not None); the posts without the ``skip_post_columns`` (read from the file,
    the others are never loaded); the :data:`ID_COLUMNS` and the platforms and kinds
    (``schema.LABEL_COLUMNS``) as categoricals, and with
    ``post_numbers`` the post ids as numbers (:data:`POST_NUMBER_COLUMNS`) where every table's
    are pseudonyms (``schema.one_post_id_type``)."""
    frames: dict[str, pl.DataFrame | None] = {}
    for table, default in paths.INTERIM_TABLES.items():
        path = interim / default.name
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: run `python -m analysis ingest` first")
        columns = None
        if table == "posts" and skip_post_columns:
            columns = [c for c in parquet_columns(path) if c not in skip_post_columns]
        # one chunk a column, see there; the ids and labels as categoricals, post ids as
        # numbers where they are pseudonyms
        numbers = POST_NUMBER_COLUMNS[table] if post_numbers else ()
        frames[table] = read_contiguous(path, columns, CATEGORICAL_COLUMNS[table], numbers)
    if topics is not None:
        frames["post_topics"] = read_post_topics(topics, post_numbers)
    one = one_post_id_type(frames)
    accounts, posts, reactions = one["accounts"], one["posts"], one["reactions"]
    assert accounts is not None and posts is not None and reactions is not None
    return Tables(accounts, posts, reactions, one.get("post_topics"))


def read_score_file(path: Path, columns: Sequence[str] | None = None) -> pl.DataFrame:
    """A score file (its ``columns``; None: all) with its ids as the tables hold them."""
    return read_contiguous(path, columns, ID_COLUMNS["accounts"])


def read_post_topics(
    path: Path = paths.POST_TOPICS, post_numbers: bool = True
) -> pl.DataFrame | None:
    """The post topics, or None (with a note) where the topics stage has not written them; its
    ids as :func:`load_tables` reads them."""
    if path.exists():
        numbers = POST_NUMBER_COLUMNS["post_topics"] if post_numbers else ()
        return read_contiguous(path, None, ID_COLUMNS["post_topics"], numbers)
    log.info("no %s: topic-sensitive models fall back to plain ones", path)
    return None
