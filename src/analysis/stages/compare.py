"""Stage ``compare``: ``python -m analysis compare``.

Reads ``data/interim/{accounts,posts,reactions}.parquet`` (+ ``data/processed/post_topics.parquet``),
every ``data/processed/scores/<model>.parquet``, ``reports/metrics/models.json`` (validity) and,
on the demo, the planted roles. Writes ``data/processed/divergence.parquet``, ``data/processed/counterfactual_changes.parquet``
(every re-scored account of every counterfactual test),
``reports/metrics/compare.json`` and the plot data under ``reports/plots/compare/``.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

import polars as pl

from analysis import compare, counterfactual, demo_check, groundtruth, ordering
from analysis import models as registry
from analysis.compute import ComputeParams, open_engine
from analysis.config import DemoParams, PrivacyParams, section
from analysis.io import read_json, write_json, write_parquet
from analysis.models import common
from analysis.models.params import model_params
from analysis.stages.score import SCORES, load_tables

log = logging.getLogger(__name__)

DIVERGENCE = Path("data/processed/divergence.parquet")
CHANGES = Path("data/processed/counterfactual_changes.parquet")
METRICS = Path("reports/metrics/compare.json")
VALIDITY = Path("reports/metrics/models.json")
PLOTS = Path("reports/plots/compare")

METHOD = {
    "agreement": "Spearman rho and Kendall tau-b (scipy), Jaccard of the top-k lists (k capped at n, "
    "ties broken by account id) and extrapolated rank-biased overlap (Webber, Moffat & Zobel 2010, "
    "eq. 32; implemented here, neither scipy nor scikit-learn has it) on the accounts both models "
    "scored; 95 % percentile bootstrap intervals, accounts resampled with replacement.",
    "divergence": "Quadrants from score_pct thresholds (high = at or above); divergence = residual "
    "of conversation_pct regressed on reach_pct (statsmodels OLS), positive = more conversation "
    "than reach predicts.",
    "counterfactual": "A seeded sample of accounts active before the scoring date (ordered by "
    "first post time and content, never by pseudonym) is altered in batches; every model is "
    "re-run on the altered tables and each altered account's new score is ranked against the "
    "frozen baseline scores of everyone else (no batch cross-effects). Change = percentile "
    "points, relative change (pct_cf - pct_base) / max(pct_base, floor_pct), and score change "
    "in the model's own standard errors. Weekend off and time off remove the account's own "
    "posts and, with drop_responses, the replies to them and the reactions on them; their "
    "placebos remove as many random weekday (older) posts; bias = median paired change beyond "
    "the placebo, noise = median absolute change, both with 95 % bootstrap intervals over "
    "accounts. Weekend moved shifts weekend posts to the Friday before. Adversaries (spam "
    "drawing replies, reply-to-everyone, self-reply chains, two-person exchanges, sockpuppet "
    "farms, reaction rings) are curves of the targets' median relative gain per strength. "
    "'legacy' keeps the old figures (percentiles re-ranked inside the altered tables).",
}


def _agreement_json(agree: pl.DataFrame) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for row in agree.iter_rows(named=True):
        out.setdefault(row["pair"], {"n_accounts": row["n_accounts"]})[row["statistic"]] = {
            "value": row["value"],
            "ci_low": row["ci_low"],
            "ci_high": row["ci_high"],
        }
    return out


def _write_plots(
    agree: pl.DataFrame,
    div: pl.DataFrame,
    robust: dict[str, dict[str, Any]],
    cf: dict[str, Any],
    multipliers: tuple[float, ...],
) -> None:
    PLOTS.mkdir(parents=True, exist_ok=True)
    wide = agree.pivot(on="statistic", index="pair", values="value")
    wide.write_csv(PLOTS / "agreement.csv")
    div.select("reach_pct", "conversation_pct", "quadrant", "divergence").sort(
        "reach_pct", "conversation_pct"
    ).write_csv(PLOTS / "divergence.csv")
    pl.DataFrame([{"model": m, **r} for m, r in robust.items()]).write_csv(PLOTS / "robustness.csv")
    gaming = cf["volume"]
    rows = [{"volume_increase_pct": 0.0, **{m: 0.0 for m in gaming}}]
    for mult in multipliers:
        key = f"+{round(100 * mult)}%"
        rows.append(
            {
                "volume_increase_pct": 100 * mult,
                **{m: g["median_rel_change"].get(key) for m, g in gaming.items()},
            }
        )
    pl.DataFrame(rows).write_csv(PLOTS / "gaming.csv")
    counterfactual.stability_table(cf).write_csv(PLOTS / "stability.csv")
    counterfactual.adversary_table(cf).write_csv(PLOTS / "adversaries.csv")
    log.info("wrote plot data to %s", PLOTS)


def run(params: dict[str, Any], args: argparse.Namespace) -> int:
    """Agreement, divergence, weekend-off and gaming tests, and the recommendation."""
    cp = section(params, "compare", compare.CompareParams)
    mp = model_params(params)
    names = [n for n in (cp.models or mp.names) if n in registry.MODELS]
    for needed in (cp.reach_model, cp.conversation_model):
        if needed not in names:
            raise ValueError(f"compare: divergence needs model {needed!r}; compared: {names}")
    tables = load_tables()
    as_of = common.resolve_as_of(mp, tables.posts)
    scores = {}
    for name in names:
        path = SCORES / f"{name}.parquet"
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: run `python -m analysis score {name}`")
        scores[name] = pl.read_parquet(path)

    agree = compare.agreement(scores, cp, ordering.account_order(tables.posts))
    log.info(
        "agreement: %d pairs x %d statistics, %d bootstrap draws",
        agree["pair"].n_unique(),
        agree["statistic"].n_unique(),
        cp.n_boot,
    )
    div, fit = compare.divergence(scores[cp.reach_model], scores[cp.conversation_model], cp)
    div_json: dict[str, Any] = {
        "models": {"reach": cp.reach_model, "conversation": cp.conversation_model},
        "thresholds_pct": {"reach": cp.reach_high_pct, "conversation": cp.conversation_high_pct},
        "quadrants": compare.quadrant_counts(div),
        # no follower counts and no views (Usenet): nobody is placed in a quadrant
        "reach_missing": fit.pop("reach_missing"),
        "ols": fit,
    }
    if groundtruth.has_truth(params):
        truth, _ = groundtruth.load_truth(params, tables.accounts)
        k = section(params, "privacy", PrivacyParams).min_cell_k
        div_json["planted_roles"] = compare.role_rates(div, truth, k)

    models = {n: registry.MODELS[n] for n in names}
    n_part = tables.participants().height
    with open_engine(section(params, "compute", ComputeParams)) as engine:
        cf = counterfactual.run_all(tables, models, mp, as_of, cp.counterfactual, engine)
    robust = counterfactual.robustness_table(cf)
    validity = read_json(VALIDITY) if VALIDITY.exists() else None
    if validity is None:
        log.warning("%s is missing: the recommendation has no validity numbers", VALIDITY)
    rec = compare.recommend(robust, validity, cp)
    log.info(
        "recommended model (%s): %s",
        rec["primary_question"],
        rec["recommended_model"] or "no model is valid (see the reasoning in compare.json)",
    )

    result = {
        "as_of": as_of.isoformat(),
        "n_participants": tables.participants().height,
        "models": names,
        "agreement": _agreement_json(agree),
        "divergence": div_json,
        "counterfactual": counterfactual.headline(cf, cp.counterfactual, n_part),
        "robustness": robust,
        "robustness_gates": counterfactual.gate_results(robust, cp.gates),
        "recommendation": rec,
        "recommended_model": rec["recommended_model"],
        "method": METHOD,
    }
    if groundtruth.has_truth(params):
        # The demo only: regenerate it over the grid of reply-trait correlations and score
        # every model against the hidden trait (simulated people, about 15 s).
        grid = demo_check.trait_grid(section(params, "demo", DemoParams), models, mp)
        result["hidden_trait"] = demo_check.grid_json(grid)
        PLOTS.mkdir(parents=True, exist_ok=True)
        grid.write_csv(PLOTS / "hidden_trait.csv")
    else:
        # a declared DVC output: a real dump has no hidden trait, so the plot data is empty
        PLOTS.mkdir(parents=True, exist_ok=True)
        (PLOTS / "hidden_trait.csv").write_text(
            "reply_trait_correlation,model,auc_trait,spearman_adoptions,spearman_adoption_rate,auc_roles\n"
        )
    write_parquet(div, DIVERGENCE)
    write_parquet(counterfactual.changes_table(cf), CHANGES)
    write_json(result, METRICS)
    _write_plots(agree, div, robust, cf, cp.counterfactual.gaming_multipliers)
    return 0
