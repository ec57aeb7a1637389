"""Stage ``compare``: ``python -m analysis compare``.

Reads ``data/interim/{accounts,posts,reactions}.parquet`` (the posts' texts as their digest:
``stages.digest``) and the post topics a score at ``as_of`` may read
(``stages.scoring_topics.post_topics_at``: ``data/processed/post_topics.parquet``, or topics refitted
from ``data/processed/embeddings`` where ``topic_model.json`` says the fit saw later posts),
every ``data/processed/scores/<model>.parquet``, ``data/processed/validity.json`` (validity) and,
on the demo, the planted roles. Writes ``data/processed/counterfactual_changes.parquet``
(every re-scored account of every counterfactual test),
``data/processed/compare.json`` (:class:`analysis.contracts.CompareResult`, read by the report),
its headline ``reports/metrics/compare.json`` and the plot data under ``reports/plots/compare/``.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import replace
from datetime import datetime
from typing import Any

import polars as pl

from analysis import (
    cf_report,
    compare,
    compare_rule,
    contracts,
    counterfactual,
    demo_check,
    groundtruth,
    ordering,
    paths,
)
from analysis import models as registry
from analysis.compute import ComputeParams, open_engine
from analysis.config import DemoParams, PrivacyParams, params_record, section
from analysis.io import write_json, write_parquet
from analysis.models import common
from analysis.models.base import READS_TOPICS_FLAG, Tables
from analysis.models.params import ModelParams, model_params
from analysis.progress import quiet_fits
from analysis.stages.digest import load_digest_tables, removed_accounts_sha256
from analysis.stages.scoring_topics import post_topics_at
from analysis.stages.tables import read_score_file

log = logging.getLogger(__name__)


def _agreement_pairs(agree: pl.DataFrame) -> list[contracts.AgreementPair]:
    """The long agreement frame as one typed record per pair of models."""
    pairs = []
    for (a, b), g in agree.group_by("model_a", "model_b", maintain_order=True):
        pairs.append(
            contracts.AgreementPair(
                model_a=a,
                model_b=b,
                n_accounts=int(g["n_accounts"][0]),
                statistics={
                    r["statistic"]: contracts.Estimate(
                        value=r["value"], ci_low=r["ci_low"], ci_high=r["ci_high"]
                    )
                    for r in g.iter_rows(named=True)
                },
            )
        )
    return pairs


def _write_plots(
    agree: pl.DataFrame,
    robust: dict[str, dict[str, Any]],
    cf: dict[str, Any],
    cfp: counterfactual.CounterfactualParams,
    k: int,
) -> None:
    """The plot data, every number over fewer than ``k`` accounts (``privacy.min_cell_k``)
    suppressed as in ``reports/public`` (the cached plot data is pushed with the run)."""
    paths.COMPARE_PLOTS.mkdir(parents=True, exist_ok=True)
    wide = agree.pivot(on="statistic", index="pair", values="value")
    wide.write_csv(paths.COMPARE_PLOTS / "agreement.csv")
    for name, table in cf_report.plot_tables(cf, robust, k, cfp.ring_size).items():
        table.write_csv(paths.COMPARE_PLOTS / name)
    # Long (one row per model and volume increase): the plot colours lines by model, so
    # dvc.yaml never lists the model names.
    rows = []
    for m, g in cf["volume"].items():
        shown = (g.get("n_accounts") or 0) >= k  # the gaming sample's accounts
        rows.append({"model": m, "volume_increase_pct": 0.0, "median_rel_change": 0.0})
        for mult in cfp.gaming_multipliers:
            change = g["median_rel_change"].get(f"+{round(100 * mult)}%") if shown else None
            rows.append(
                {"model": m, "volume_increase_pct": 100 * mult, "median_rel_change": change}
            )
    pl.DataFrame(
        rows,
        schema={
            "model": pl.String,
            "volume_increase_pct": pl.Float64,
            "median_rel_change": pl.Float64,
        },
    ).write_csv(paths.COMPARE_PLOTS / "gaming.csv")
    log.info("wrote plot data to %s", paths.COMPARE_PLOTS)


def load_inputs(
    params: dict[str, Any],
) -> tuple[compare.CompareParams, ModelParams, list[str], Tables, datetime]:
    """The stage's params, the models it compares, the tables they are re-scored on and the
    scoring date (also read by ``benchmarks/cf_batches.py``, so both see the same inputs)."""
    cp = section(params, "compare", compare.CompareParams)
    mp = model_params(params)
    names = [n for n in (cp.models or mp.names) if n in registry.MODELS]
    # the texts stay in the file: their digest orders posts and accounts (the adversaries' too);
    # the post ids categoricals, not numbers: the adversaries' posts have ids like cf_spam_0
    tables = load_digest_tables(names, topics=None, post_numbers=False)
    as_of = common.resolve_as_of(mp, tables.posts)
    if any(getattr(registry.MODELS[n], READS_TOPICS_FLAG, False) for n in names):
        # the topics a score at as_of may read, as the score stage hands them
        tables = replace(tables, post_topics=post_topics_at(params, tables.posts, as_of))
    return cp, mp, names, tables, as_of


def recorded_params(params: dict[str, Any], validity: contracts.ValidityResult) -> dict[str, Any]:
    """The params the result records (the report names what differs now): the sections of
    this stage's params that change the method (not the dump's path, the key's source nor the
    publication threshold), and the ``validate`` section of the validity its recommendation
    rests on, as validate ran it (not ``params.yaml``'s: a frozen validate keeps the old one,
    a frozen compare beside a validate re-run with other params is of the old validity)."""
    recorded = params_record(params, ("compare", "demo", "models", "topics"))
    if validity.params is not None:  # None: a validity written before params were recorded
        recorded["validate"] = validity.params.get("validate")
    return recorded


def run(params: dict[str, Any], args: argparse.Namespace) -> int:
    """Agreement, weekend-off and gaming tests, and the recommendation."""
    cp, mp, names, tables, as_of = load_inputs(params)
    scores = {}
    for name in names:
        path = paths.score_file(name)
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: run `python -m analysis score {name}`")
        scores[name] = read_score_file(path)

    models = {n: registry.MODELS[n] for n in names}
    n_part = tables.participants().height
    # one engine (a LocalCluster starts once) for the agreement bootstrap and the re-scoring;
    # a model's line repeated at every re-scoring (its fitted prior) is shown once
    with (
        quiet_fits(log, "compare"),
        open_engine(section(params, "compute", ComputeParams)) as engine,
    ):
        agree = compare.agreement(scores, cp, ordering.account_order(tables.posts), engine)
        log.info(
            "agreement: %d pairs x %d statistics, %d bootstrap draws",
            agree["pair"].n_unique(),
            agree["statistic"].n_unique(),
            cp.n_boot,
        )
        cf = counterfactual.run_all(tables, models, mp, as_of, cp.counterfactual, engine)
    robust = counterfactual.robustness_table(cf)
    validity = contracts.load(contracts.ValidityResult, paths.VALIDITY)
    # a gate over fewer than privacy.min_cell_k accounts is untested: its pass or fail would be
    # a published statistic about a small group
    k = section(params, "privacy", PrivacyParams).min_cell_k
    rec = compare_rule.recommend(robust, validity.model_dump(mode="json"), cp, k)
    log.info(
        "recommended model (%s): %s",
        rec["primary_question"],
        rec["recommended_model"]
        or "no model is valid (the reasons are in data/processed/compare.json)",
    )

    result: dict[str, Any] = {
        "as_of": as_of.isoformat(),
        "removed_accounts_sha256": removed_accounts_sha256(),
        "params": recorded_params(params, validity),
        "n_participants": tables.participants().height,
        "models": names,
        "agreement": _agreement_pairs(agree),
        "counterfactual": counterfactual.headline(cf, cp.counterfactual, n_part),
        "robustness": robust,
        "robustness_gates": counterfactual.gate_results(robust, cp.gates, k),
        "recommendation": rec,
    }
    if groundtruth.has_truth(params):
        # The demo only: regenerate it over the grid of reply-trait correlations and score
        # every model against the hidden trait (simulated people, about 15 s).
        grid = demo_check.trait_grid(section(params, "demo", DemoParams), models, mp)
        result["hidden_trait"] = demo_check.grid_json(grid)
        paths.COMPARE_PLOTS.mkdir(parents=True, exist_ok=True)
        grid.write_csv(paths.COMPARE_PLOTS / "hidden_trait.csv")
    else:
        # a declared DVC output: a real dump has no hidden trait, so the plot data is empty
        paths.COMPARE_PLOTS.mkdir(parents=True, exist_ok=True)
        (paths.COMPARE_PLOTS / "hidden_trait.csv").write_text(
            "reply_trait_correlation,model,auc_trait,spearman_adoptions,spearman_adoption_rate,auc_roles\n"
        )
    write_parquet(counterfactual.changes_table(cf), paths.CHANGES)
    typed = contracts.CompareResult.model_validate(result)
    contracts.write(typed, paths.COMPARE_RESULT)
    write_json(typed.headline(), paths.COMPARE_METRICS)
    _write_plots(agree, robust, cf, cp.counterfactual, k)
    return 0
