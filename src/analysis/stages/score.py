"""Stage ``score``: ``python -m analysis score [MODEL ...]``.

Reads the interim tables once (and the post topics for a model that reads them: the run's,
or, where ``models.as_of`` precedes the topic fit's latest post, topics refitted from the
embeddings on the posts before it, :func:`analysis.stages.scoring_topics.post_topics_at`), runs every
model of ``models.scored`` (or only the ``MODEL`` s named) at ``models.as_of`` and writes one
score file per model (``analysis.paths.score_file``). Scoring every model rebuilds the folder:
a file of a model ``models.scored`` no longer names is deleted, so no stale score (nor the
pseudonyms in it) outlives the run.

One process for all models, not one stage per model: at 1M posts nine stages took 49 s
(each paid Python's start-up, the imports, its own read of the tables and DVC's rewrite of
``dvc.lock``), one process 23 s for the very same files. Models are independent of each
other: the same model writes the same file alone or beside the others.

What a model fitted from everyone's data in its scoring (a community prior: ``engagement``,
``conversation_eb``, ``conversation_rate``) is written to ``reports/metrics/scores.json``
(:mod:`analysis.models.fits`), for the methodology to print beside the model's params.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from analysis import models as registry
from analysis import paths, schema
from analysis.io import read_json, write_json, write_parquet
from analysis.models import common, fits
from analysis.models.base import READS_TOPICS_FLAG, Tables, skipped_post_columns
from analysis.models.params import ModelParams, model_params
from analysis.stages.scoring_topics import post_topics_at
from analysis.stages.tables import load_tables

log = logging.getLogger(__name__)

#: Significant digits of the score files (far beyond any reported precision).
SCORE_DIGITS = common.SCORE_DIGITS


def score_one(tables: Tables, name: str, p: ModelParams, as_of: datetime) -> pl.DataFrame:
    """Run model ``name`` and check the output against the protocol (its ids as strings: the
    tables hold them as categoricals, ``schema.ID_COLUMNS``)."""
    df = registry.get(name).score(tables, p, as_of)
    df = schema.ids_as_strings(df)
    common.check_output(df)
    return df


def write_scores(df: pl.DataFrame, name: str) -> None:
    """Write model ``name``'s scores, floats to :data:`SCORE_DIGITS` significant digits.

    Parallel sums in polars differ in the last bit between runs, and DVC hashes bytes: the
    rounding keeps the same data and params writing the same file."""
    write_parquet(
        df.with_columns(pl.col(pl.Float64).round_sig_figs(SCORE_DIGITS)), paths.score_file(name)
    )


def fits_metrics(
    record: fits.Record,
    names: Sequence[str],
    as_of: datetime,
    scored: Sequence[str],
    before: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``scores.json``: what each of ``names`` fitted at the scoring date ``as_of``.

    ``before`` (the file as it was) keeps the entries of models not scored this time but still
    in ``scored`` (``resonance score MODEL`` re-scores one); a model no longer scored, or one
    scored now without a fit, has none."""
    kept = {
        m: v
        for m, v in ((before or {}).get("models") or {}).items()
        if m in scored and m not in names
    }
    for name in names:
        fit = record.at(name, as_of)
        if fit is not None:
            # no date: the scoring date is the last post's time to the second, finer than
            # privacy.time_resolution allows in metrics (the writeup states it, truncated)
            kept[name] = {
                "method": fit.method,
                "n_accounts": fit.n_accounts,
                **fit.values,
            }
    return {"models": dict(sorted(kept.items()))}


def stray_scores(names: Sequence[str], folder: Path = paths.SCORES) -> list[Path]:
    """Score files in ``folder`` of models not in ``names``."""
    return [f for f in sorted(folder.glob("*.parquet")) if f.stem not in names]


def import_ahead(modules: Sequence[object]) -> threading.Thread | None:
    """Start importing the ``SLOW_IMPORTS`` of ``modules`` on a thread; None when none has any.

    A model that imports a heavy library when it runs (engagement: statsmodels, 1.1-1.7 s)
    then finds it loaded, its import done while the models ahead of it ran (polars and numpy
    release the GIL). Python's lock per module makes an import that meets one in progress wait
    for it, never run it twice; a failed import here fails again, with its error, in the model.
    """
    names = list(dict.fromkeys(n for m in modules for n in getattr(m, "SLOW_IMPORTS", ())))
    if not names:
        return None

    def load() -> None:
        for name in names:
            try:
                importlib.import_module(name)
            except Exception:  # the model's own import reports it
                continue

    thread = threading.Thread(target=load, name="import-ahead")
    thread.start()
    return thread


def score_all(
    params: dict[str, Any],
    tables: Tables,
    names: Sequence[str],
    modules: Sequence[object],
    readers: Sequence[str],
    p: ModelParams,
    as_of: datetime,
) -> None:
    """Score each of ``names`` and write its file, in order.

    The topics (two rows a post) are read at the first model that reads them and dropped
    after the last; the texts, when one model reads them, are handed to that model alone
    (dropping columns copies nothing). Each model sees what its own stage saw before."""
    topics, read = None, False
    for name, module in zip(names, modules, strict=True):
        if name in readers and not read:
            topics, read = post_topics_at(params, tables.posts, as_of), True
        own = skipped_post_columns([module])
        handed = replace(
            tables,
            posts=tables.posts.drop(own, strict=False),
            post_topics=topics if name in readers else None,
        )
        started = time.perf_counter()
        write_scores(score_one(handed, name, p, as_of), name)
        log.info("%s: scored in %.1f s", name, time.perf_counter() - started)
        del handed
        if readers and name == readers[-1]:
            topics = None  # not held through the models after the last reader


def run(params: dict[str, Any], args: argparse.Namespace) -> int:
    """Score the models (every one of ``models.scored``, or those named) and write their files."""
    p = model_params(params)
    asked = list(getattr(args, "models", None) or [])
    names = list(dict.fromkeys(asked)) or list(p.names)
    modules = [registry.get(n) for n in names]
    tables = load_tables(topics=None, skip_post_columns=skipped_post_columns(modules))
    import_ahead(modules)
    # every model scopes the same table: its date-free annotation once, not once per model
    tables = replace(tables, posts=common.annotate(tables.posts))
    as_of = common.resolve_as_of(p, tables.posts)
    log.info(
        "scoring %d model(s) for %s participants at %s from %s posts",
        len(names),
        f"{tables.participants().height:,}",
        as_of.isoformat(),
        f"{tables.posts.height:,}",
    )
    readers = [
        n for n, m in zip(names, modules, strict=True) if getattr(m, READS_TOPICS_FLAG, False)
    ]
    with fits.recording() as record:
        score_all(params, tables, names, modules, readers, p, as_of)
    before = read_json(paths.SCORES_METRICS) if asked and paths.SCORES_METRICS.exists() else None
    write_json(fits_metrics(record, names, as_of, p.names, before), paths.SCORES_METRICS)
    if not asked:
        for f in stray_scores(names):
            f.unlink()
            log.info("deleted %s: %s is not in models.scored", f, f.stem)
    return 0
