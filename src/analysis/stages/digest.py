"""The interim tables as the evaluation stages (``validate``, ``compare``) read them: the
posts' texts left in the file, their digest in their place.

Those stages read the texts for one thing only: the key-independent order of posts and accounts
(``analysis.ordering``: a hash of each text; validate's within-thread test also controls for
text length). A model module that sets ``READS_TEXT = True`` gets the posts whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import polars as pl

from analysis import models as registry
from analysis import ordering, paths
from analysis.io import column_batches, read_json
from analysis.models.base import Tables, skipped_post_columns
from analysis.stages.tables import load_tables


def removed_accounts_sha256(ingest_metrics: Path = paths.INGEST_METRICS) -> str | None:
    """Ingest's digest of the accounts it removed (erased, minors, opted out), as the
    evaluation stages record it in their result: a frozen result whose digest is not the
    current one was computed with an account's data that the current data no longer holds
    (``analysis.stages.report.check_removed_accounts``). None: no ingest metrics."""
    if not ingest_metrics.exists():
        return None
    return read_json(ingest_metrics).get("removed_accounts_sha256")


#: Texts read at a time to hash them: a few MiB of text, never the whole column.
DIGEST_BATCH_ROWS = 50_000


def load_digest_tables(
    names: Sequence[str],
    interim: Path = paths.INTERIM,
    topics: Path | None = paths.POST_TOPICS,
    post_numbers: bool = True,
) -> Tables:
    """The interim tables with the posts' texts left in the file unless a model of ``names``
    reads them: their digest (``ordering.text_digest``, 12 bytes a post, hashed from the file
    batch by batch) stands in for them (~1 GiB at 10M posts); the posts' ``labels`` are not
    read either. ``topics``: the post topics file (None: not loaded). ``post_numbers``: as
    :func:`analysis.stages.tables.load_tables`'.
    """
    skipped = skipped_post_columns(registry.get(n) for n in names)
    tables = load_tables(interim, topics, skipped, post_numbers)
    if "text" not in skipped:
        return tables
    path = interim / paths.POSTS.name
    digest = pl.concat(
        [ordering.text_digest(t) for t in column_batches(path, "text", DIGEST_BATCH_ROWS)]
    )
    if digest.height != tables.posts.height:
        raise RuntimeError(f"{path}: {digest.height} texts read for {tables.posts.height} posts")
    # one chunk for every column: the digest's batches beside the file's row groups left the
    # columns' chunks misaligned, and polars re-aligns them in every filter and gather of the
    # table (a filter of 1M posts by date: 16-24 ms, 1 ms in one chunk)
    return replace(tables, posts=tables.posts.with_columns(digest).rechunk())
