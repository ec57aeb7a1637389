"""Stage ``divergence``: ``python -m analysis divergence``.

Reads the score files of the ``divergence`` params' two models
(``data/processed/scores/<model>.parquet``), the posts' times and the accounts
(``data/interim/``, for the scores' date, the accounts' platforms and, on the demo, the planted
roles). Writes
``data/processed/divergence.parquet`` (every account's quadrant and divergence),
``data/processed/divergence.json`` (:class:`analysis.contracts.DivergenceResult`, read by the
report), its headline ``reports/metrics/divergence.json`` and the plot data
``reports/plots/divergence/divergence.csv``.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

import polars as pl

from analysis import contracts, divergence, groundtruth, paths
from analysis.config import PrivacyParams, section
from analysis.io import write_json, write_parquet
from analysis.models import common
from analysis.models.params import model_params

log = logging.getLogger(__name__)


def _scores(name: str, scored: list[str]) -> pl.DataFrame:
    if name not in scored:
        raise ValueError(f"divergence: model {name!r} is not scored (models.scored: {scored})")
    path = paths.score_file(name)
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run `python -m analysis score {name}`")
    return pl.read_parquet(path, columns=["account_id", "score_pct"])


def run(params: dict[str, Any], args: argparse.Namespace) -> int:
    """Quadrants and divergence of every account scored by both models."""
    dp = section(params, "divergence", divergence.DivergenceParams)
    mp = model_params(params)
    reach = _scores(dp.reach_model, mp.names)
    conversation = _scores(dp.conversation_model, mp.names)
    posts = pl.read_parquet(paths.POSTS, columns=["created_at"])
    as_of = common.resolve_as_of(mp, posts)

    # accounts of a platform without reach data are not placed (the platform is named)
    platforms = pl.read_parquet(paths.ACCOUNTS, columns=["account_id", "platform"])
    div, fit = divergence.divergence(reach, conversation, dp, platforms)
    result: dict[str, Any] = {
        "as_of": as_of.isoformat(),
        "models": {"reach": dp.reach_model, "conversation": dp.conversation_model},
        "thresholds_pct": {"reach": dp.reach_high_pct, "conversation": dp.conversation_high_pct},
        "quadrants": divergence.quadrant_counts(div),
        # no follower counts and no views (Usenet): nobody is placed in a quadrant
        "reach_missing": fit.pop("reach_missing"),
        "reach_missing_platforms": fit.pop("reach_missing_platforms"),
        "ols": fit,
    }
    k = section(params, "privacy", PrivacyParams).min_cell_k
    if groundtruth.has_truth(params):
        truth, _ = groundtruth.load_truth(params, pl.read_parquet(paths.ACCOUNTS))
        result["planted_roles"] = divergence.role_rates(div, truth, k)
    typed = contracts.DivergenceResult.model_validate(result)
    log.info(
        "divergence: %d accounts placed by %s against %s%s",
        sum(q.n for q in typed.quadrants.values()),
        dp.reach_model,
        dp.conversation_model,
        " (no reach data: nobody placed)" if typed.reach_missing else "",
    )
    write_parquet(div, paths.DIVERGENCE)
    contracts.write(typed, paths.DIVERGENCE_RESULT)
    write_json(divergence.headline(typed, k), paths.DIVERGENCE_METRICS)
    paths.DIVERGENCE_PLOTS.mkdir(parents=True, exist_ok=True)
    div.select("reach_pct", "conversation_pct", "quadrant", "divergence").sort(
        "reach_pct", "conversation_pct"
    ).write_csv(paths.DIVERGENCE_PLOTS / "divergence.csv")
    return 0
