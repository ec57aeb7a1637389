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

log = logging.getLogger(__name__)

#: The id columns the models join and group on, held as polars ``Categorical`` (the texts
#: stored once, a 32-bit code a row; the files keep them as strings: ``io.write_parquet``).
#: A pseudonym is ~21 bytes behind a 16-byte view; joins on the codes move 4. Measured at 1.03M
#: posts (``benchmarks.models_memory --ids``, session 46): conversation's working set +394 ->
#: +216 MiB, network's +399 -> +201, conversation_rate's +449 -> +227, the models ~15-25 %
#: faster, the scores byte-identical. They compare with string literals, join with each other
#: and sort by their texts as strings do; ``.str`` needs a ``cast(pl.String)`` first.
ID_COLUMNS: dict[str, tuple[str, ...]] = {
    "accounts": ("account_id",),
    "posts": ("post_id", "account_id", "parent_post_id", "root_post_id", "reply_to_account_id"),
    "reactions": ("reaction_id", "post_id", "actor_account_id"),
    "post_topics": ("post_id",),
}


def load_tables(
    interim: Path = paths.INTERIM,
    topics: Path | None = paths.POST_TOPICS,
    skip_post_columns: Sequence[str] = (),
) -> Tables:
    """The interim tables (plus post topics when the topics stage has written them and
    ``topics`` is not None); the posts without the ``skip_post_columns`` (read from the file,
    the others are never loaded); the :data:`ID_COLUMNS` as categoricals."""
    frames = {}
    for table, default in paths.INTERIM_TABLES.items():
        path = interim / default.name
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: run `python -m analysis ingest` first")
        columns = None
        if table == "posts" and skip_post_columns:
            columns = [c for c in parquet_columns(path) if c not in skip_post_columns]
        # one chunk a column, see there; the ids as categoricals (ID_COLUMNS)
        frames[table] = read_contiguous(path, columns, ID_COLUMNS[table])
    if topics is None:
        return Tables(**frames)
    return Tables(**frames, post_topics=read_post_topics(topics))


def read_score_file(path: Path, columns: Sequence[str] | None = None) -> pl.DataFrame:
    """A score file (its ``columns``; None: all) with its ids as the tables hold them."""
    return read_contiguous(path, columns, ID_COLUMNS["accounts"])


def read_post_topics(path: Path = paths.POST_TOPICS) -> pl.DataFrame | None:
    """The post topics, or None (with a note) where the topics stage has not written them."""
    if path.exists():
        return read_contiguous(path, categorical=ID_COLUMNS["post_topics"])  # see load_tables
    log.info("no %s: topic-sensitive models fall back to plain ones", path)
    return None
