"""Stage ``validate``: validity of every model, written to ``reports/metrics/models.json``.

Reads the interim tables (+ post topics), every ``data/processed/scores/<model>.parquet`` and,
on the demo, the planted ground truth (``analysis.groundtruth``). See ``analysis.models.validity``.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

import polars as pl

from analysis import groundtruth
from analysis import models as registry
from analysis.io import write_json
from analysis.models import common, validity
from analysis.models.params import model_params
from analysis.stages.score import SCORES, load_tables

log = logging.getLogger(__name__)

METRICS = Path("reports/metrics/models.json")


def run(params: dict[str, Any], args: argparse.Namespace) -> int:
    """Compute out-of-time validity, planted-role AUCs and reputation agreement."""
    p = model_params(params)
    tables = load_tables()
    as_of = common.resolve_as_of(p, tables.posts)
    names = [n for n in p.names if n in registry.MODELS]
    scores = {}
    for name in names:
        path = SCORES / f"{name}.parquet"
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: run `python -m analysis score {name}`")
        scores[name] = pl.read_parquet(path)
    result: dict[str, Any] = {
        "as_of": as_of.isoformat(),
        "n_participants": tables.participants().height,
        "missing_inputs": validity.missing_inputs(scores),
        "out_of_time": validity.out_of_time(
            tables, {n: registry.MODELS[n] for n in names}, p, as_of
        ),
    }
    if groundtruth.has_truth(params):
        truth, _ = groundtruth.load_truth(params, tables.accounts)
        result["planted_roles"] = validity.planted_roles(scores, truth, p)
        for name, r in result["planted_roles"]["models"].items():
            log.info(
                "%-14s AUC %.3f (experts only %.3f)",
                name,
                r["auc"] or float("nan"),
                r["auc_experts"] or float("nan"),
            )
    rep = validity.reputation(scores, tables.accounts)
    if rep is not None:
        result["reputation"] = rep
    write_json(result, METRICS)
    return 0
