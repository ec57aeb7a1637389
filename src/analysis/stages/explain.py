"""Stage helper ``explain``: ``resonance explain PSEUDONYM`` prints every model's explanation.

Reads ``data/processed/scores/*.parquet``, ``data/interim/accounts.parquet`` and (for topic
labels) ``data/processed/topics.parquet``; writes nothing.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

import polars as pl

from analysis.explain import ExplainError, explain
from analysis.stages.score import INTERIM, SCORES

log = logging.getLogger(__name__)

TOPICS = Path("data/processed/topics.parquet")


def run(params: dict[str, Any], args: argparse.Namespace) -> int:
    """Print the explanation of one account (exit code 1 when it cannot be explained)."""
    files = sorted(SCORES.glob("*.parquet"))
    if not files:
        raise FileNotFoundError(
            f"no scores in {SCORES}: run `python -m analysis score MODEL` first"
        )
    scores = {f.stem: pl.read_parquet(f) for f in files}
    acc_path = Path(INTERIM) / "accounts.parquet"
    accounts = pl.read_parquet(acc_path) if acc_path.exists() else None
    topics = pl.read_parquet(TOPICS) if TOPICS.exists() else None
    try:
        text = explain(args.account, scores, params, accounts, topics)
    except ExplainError as exc:
        log.error("explain: %s", exc)
        return 1
    # The explanation is the command's output (stdout), not a log line.
    sys.stdout.write(text)
    return 0
