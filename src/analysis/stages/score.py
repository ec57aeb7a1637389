"""Stage ``score``: ``python -m analysis score MODEL``.

Reads the interim tables (and the post topics when present), runs the model
``analysis.models.<MODEL>`` at ``models.as_of`` and writes its score file (``analysis.paths``).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from analysis import models as registry
from analysis import paths
from analysis.io import write_parquet
from analysis.models import common
from analysis.models.base import READS_TOPICS_FLAG, Tables, skipped_post_columns
from analysis.models.params import ModelParams, model_params

log = logging.getLogger(__name__)

#: Significant digits of the score files (far beyond any reported precision).
SCORE_DIGITS = 10


def load_tables(
    interim: Path = paths.INTERIM,
    topics: Path | None = paths.POST_TOPICS,
    skip_post_columns: Sequence[str] = (),
) -> Tables:
    """The interim tables (plus post topics when the topics stage has written them and
    ``topics`` is not None); the posts without the ``skip_post_columns`` (read from the file,
    the others are never loaded)."""
    frames = {}
    for table, default in paths.INTERIM_TABLES.items():
        path = interim / default.name
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: run `python -m analysis ingest` first")
        columns = None
        if table == "posts" and skip_post_columns:
            columns = [c for c in pl.read_parquet_schema(path) if c not in skip_post_columns]
        frames[table] = pl.read_parquet(path, columns=columns)
    if topics is None:
        return Tables(**frames)
    post_topics = pl.read_parquet(topics) if topics.exists() else None
    if post_topics is None:
        log.info("no %s: topic-sensitive models fall back to plain ones", topics)
    return Tables(**frames, post_topics=post_topics)


def score_one(tables: Tables, name: str, p: ModelParams, as_of: datetime) -> pl.DataFrame:
    """Run model ``name`` and check the output against the protocol."""
    df = registry.get(name).score(tables, p, as_of)
    common.check_output(df)
    return df


def run(params: dict[str, Any], args: argparse.Namespace) -> int:
    """Score one model and write its parquet."""
    p = model_params(params)
    module = registry.get(args.model)
    reads_topics = bool(getattr(module, READS_TOPICS_FLAG, False))
    tables = load_tables(
        topics=paths.POST_TOPICS if reads_topics else None,
        skip_post_columns=skipped_post_columns([module]),
    )
    as_of = common.resolve_as_of(p, tables.posts)
    log.info(
        "%s: scoring %s participants at %s from %s posts",
        module.NAME,
        f"{tables.participants().height:,}",
        as_of.isoformat(),
        f"{tables.posts.height:,}",
    )
    df = score_one(tables, args.model, p, as_of)
    # Ten significant digits: parallel sums in polars differ in the last bit between runs, and
    # DVC hashes bytes; rounding keeps the same data and params writing the same file.
    write_parquet(
        df.with_columns(pl.col(pl.Float64).round_sig_figs(SCORE_DIGITS)),
        paths.score_file(args.model),
    )
    return 0
