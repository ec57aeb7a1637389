"""Stage helper ``explain``: ``resonance explain PSEUDONYM`` prints every model's explanation.

Reads ``data/processed/scores/<model>.parquet`` of the models ``models.scored`` names (a file
of a model since dropped from the params, until the score stage runs again, is no current score),
``data/interim/accounts.parquet`` and (for topic labels) ``data/processed/topics.parquet``;
writes nothing.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

import polars as pl

from analysis import paths
from analysis.explain import ExplainError, explain
from analysis.models.params import model_params

log = logging.getLogger(__name__)


def run(params: dict[str, Any], args: argparse.Namespace) -> int:
    """Print the explanation of one account (exit code 1 when it cannot be explained)."""
    files = [paths.score_file(m) for m in sorted(model_params(params).names)]
    files = [f for f in files if f.exists()]
    if not files:
        raise FileNotFoundError(
            f"no scores in {paths.SCORES}: run `python -m analysis score MODEL` first"
        )
    scores = {f.stem: pl.read_parquet(f) for f in files}
    acc_path = paths.ACCOUNTS
    accounts = pl.read_parquet(acc_path) if acc_path.exists() else None
    topics = pl.read_parquet(paths.TOPICS) if paths.TOPICS.exists() else None
    divergence = pl.read_parquet(paths.DIVERGENCE) if paths.DIVERGENCE.exists() else None
    try:
        text = explain(args.account, scores, params, accounts, topics, divergence)
    except ExplainError as exc:
        log.error("explain: %s", exc)
        return 1
    # The explanation is the command's output (stdout), not a log line.
    sys.stdout.write(text)
    return 0
