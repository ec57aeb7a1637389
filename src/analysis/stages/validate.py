"""Stage ``validate``: validity of every model, written to ``data/processed/validity.json``
(:class:`analysis.contracts.ValidityResult`, read by ``compare`` and ``report``) with its
headline in ``reports/metrics/models.json``.

Reads the interim tables, ``data/processed/embeddings/`` (topics refitted before each
scoring origin for the topic-sensitive model), ``reports/metrics/topics.json`` (the run's number
of topics), every ``data/processed/scores/<model>.parquet`` and, on the demo, the planted
ground truth. Headline: the within-thread competition test (``models.within_thread``); beside it
the account-level incremental validity over plain activity (``models.incremental``), the
single-split out-of-time correlations kept for comparison, planted-role AUCs and reputation.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from analysis import contracts, groundtruth, paths
from analysis import models as registry
from analysis.compute import ComputeParams, open_engine
from analysis.config import params_record, section
from analysis.io import write_json
from analysis.models import common, incremental, validity, within_thread
from analysis.models.base import Tables
from analysis.models.params import model_params
from analysis.progress import quiet_fits
from analysis.stages.digest import load_digest_tables, removed_accounts_sha256
from analysis.stages.tables import read_score_file
from analysis.topics import TopicsParams, post_topics_before

log = logging.getLogger(__name__)


def load_validate_tables(names: list[str], interim: Path = paths.INTERIM) -> Tables:
    """The interim tables as validate reads them (``stages.digest.load_digest_tables``: the texts'
    digest in place of the texts, the labels left in the file unless a model reads them).
    The run's post topics are not loaded: they were fitted on the whole dump, posts after every
    origin included; the rolling origins and the out-of-time check refit their own.
    """
    return load_digest_tables(names, interim, topics=None)


def _refit_columns(posts: pl.DataFrame) -> list[str]:
    """The posts' columns a topic refit reads (``topics.post_topics_before`` from the
    embeddings file, in its order: no text or hash): its filter of the earlier posts then
    copies these, not every column of the table."""
    return ["post_id", "created_at"]


def _topics_at(params: dict[str, Any], posts: pl.DataFrame) -> Any:
    """T -> post topics fitted before T, or None without embeddings.

    With ``topics.n_topics: 0`` each refit chooses its number of topics on the posts before T
    by the same rule; a number set in params is kept."""
    if not paths.EMBEDDINGS.exists() or not paths.TOPICS_METRICS.exists():
        log.warning("validate: no embeddings or topics metrics; topic models use no topics")
        return None
    tp = section(params, "topics", TopicsParams)
    k = tp.n_topics or None
    slim = posts.select(_refit_columns(posts))  # the same buffers, fewer columns
    # the vectors are read from the file batch by batch at each origin, never held all at once
    return lambda t: post_topics_before(paths.EMBEDDINGS, slim, t, tp, k)


#: The columns of a score file validate reads (the tests need the score; ``missing_inputs`` is
#: reported): not the model's diagnostics.
SCORE_COLUMNS = ("account_id", "score", "missing_inputs")


def read_scores(path: Path) -> pl.DataFrame:
    """A score file's :data:`SCORE_COLUMNS` (those it has)."""
    have = pl.read_parquet_schema(path)
    return read_score_file(path, [c for c in SCORE_COLUMNS if c in have])


class ScoresAt:
    """T -> model (or peer) name -> ``account_id, score`` at T, each origin scored once.

    The within-thread and incremental tests score at the same rolling origins; the scores are
    kept between them, but only the two columns the tests read (a score frame carries a dozen
    diagnostic columns per account), and :meth:`clear` drops them once no test needs them.
    """

    def __init__(
        self,
        score: Callable[[datetime], dict[str, pl.DataFrame]],
        on_score: Callable[[datetime], None] | None = None,
    ) -> None:
        self._score = score
        self._on_score = on_score
        self._cache: dict[datetime, dict[str, pl.DataFrame]] = {}
        #: every name scored so far (models and the peers the data allowed)
        self.names: set[str] = set()

    def __call__(self, t: datetime) -> dict[str, pl.DataFrame]:
        if t not in self._cache:
            if self._on_score is not None:
                self._on_score(t)
            slim = {k: v.select("account_id", "score") for k, v in self._score(t).items()}
            self.names.update(slim)
            self._cache[t] = slim
        return self._cache[t]

    @property
    def origins(self) -> list[datetime]:
        """The origins whose scores are held now."""
        return list(self._cache)

    def clear(self) -> None:
        """Drop every held score (the names seen are kept)."""
        self._cache.clear()


def run(params: dict[str, Any], args: argparse.Namespace) -> int:
    """Within-thread test, incremental validity, out-of-time, planted roles, reputation.

    Warnings of the statistical fits are caught and summed up in one log line, and a model's
    line repeated at every scoring origin is shown once (``progress.quiet_fits``).
    """
    with quiet_fits(log, "validate"):
        return _run(params, args)


def _run(params: dict[str, Any], args: argparse.Namespace) -> int:
    p = model_params(params)
    vp = section(params, "validate", within_thread.ValidateParams)
    names = [n for n in p.names if n in registry.MODELS]
    tables = load_validate_tables(names)
    as_of = common.resolve_as_of(p, tables.posts)
    scores = {}
    for name in names:
        path = paths.score_file(name)
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: run `python -m analysis score {name}`")
        scores[name] = read_scores(path)
    topics_at = _topics_at(params, tables.posts) if "network_topic" in names else None
    if topics_at is not None:
        # Every test refits its own topics before its origin: the run's were fitted on the
        # whole dump (load_validate_tables leaves them out; whatever tables this gets, no test
        # sees them).
        tables = replace(tables, post_topics=None)
    at = ScoresAt(
        lambda t: validity.scores_at(tables, names, p, t, topics_at),
        lambda t: log.info("validate: scoring %d models and the peers at %s", len(names), t.date()),
    )
    # the fits run where `compute` says (this process or a Dask cluster): the same numbers
    with open_engine(section(params, "compute", ComputeParams)) as engine:
        wt = within_thread.within_thread(tables, at, vp, engine)
        inc = incremental.incremental(tables, at, vp, engine=engine)
    # the rolling origins are done with: ranking scores at its own split, out_of_time at its own
    at.clear()
    rank = validity.ranking(
        tables, at, vp.ranking_split, vp.n_boot, vp.seed, vp.interval, vp.comparators
    )
    at.clear()
    result: dict[str, Any] = {
        "as_of": as_of.isoformat(),
        "removed_accounts_sha256": removed_accounts_sha256(),
        # the sections of this stage's params that change the method (not the dump's path,
        # nor the key's source): the report names what differs now (a frozen stage)
        "params": params_record(params, ("models", "validate", "topics")),
        "n_participants": tables.participants().height,
        "comparators": list(vp.comparators) + sorted(at.names - set(names)),
        "missing_inputs": validity.missing_inputs(scores),
        "within_thread": wt,
        "incremental": inc,
        "ranking": rank,
        "out_of_time": validity.out_of_time(
            tables, {n: registry.MODELS[n] for n in names}, p, as_of, topics_at
        ),
    }
    for name, r in (wt.get("models") or {}).items():
        c = (r or {}).get("conversation") or {}
        log.info(
            "%-18s within-thread conversation coef %s [%s, %s]",
            name,
            *(
                f"{c[k]:+.3f}" if c.get(k) is not None else "n/a"
                for k in ("coef", "ci_low", "ci_high")
            ),
        )
    if groundtruth.has_truth(params):
        truth, _ = groundtruth.load_truth(params, tables.accounts)
        result["planted_roles"] = validity.planted_roles(scores, truth, p)
    rep = validity.reputation(scores, tables.accounts)
    if rep is not None:
        result["reputation"] = rep
    typed = contracts.ValidityResult.model_validate(result)
    contracts.write(typed, paths.VALIDITY)
    write_json(typed.headline(), paths.MODELS_METRICS)
    return 0
