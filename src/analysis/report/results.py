"""Tidy frames of the stage results the report prints: the typed results of ``validate``
(:class:`~analysis.contracts.ValidityResult`) and ``compare``
(:class:`~analysis.contracts.CompareResult`) as tables (no I/O, no prose).

Nothing is recomputed: intervals, quadrants and agreement are the upstream stages' own.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import polars as pl

from analysis import publish
from analysis.contracts import CompareResult, Counterfactual, Divergence, ValidityResult
from analysis.report import fmt

# ---------------------------------------------------------------- agreement, divergence (compare)


def divergence_points(divergence: pl.DataFrame) -> pl.DataFrame:
    """``label``, ``reach_pct``, ``conversation_pct``, ``quadrant`` per account, as the compare
    stage placed them (``divergence.parquet``)."""
    return divergence.select(
        pl.col("account_id").alias("label"),
        "reach_pct",
        "conversation_pct",
        pl.col("quadrant").cast(pl.String).fill_null("unassigned"),
    )


def quadrant_table(div: Divergence) -> pl.DataFrame:
    """Quadrant counts as the divergence stage recorded them (``quadrant``, ``n_accounts``,
    ``share``)."""
    return pl.DataFrame(
        [
            {"quadrant": name, "n_accounts": q.n, "share": q.share}
            for name, q in div.quadrants.items()
        ],
        schema={"quadrant": pl.String, "n_accounts": pl.Int64, "share": pl.Float64},
    )


def reach_floor(divergence: pl.DataFrame, div: Divergence, k: int) -> dict[str, Any] | None:
    """The accounts that share the lowest reach, where they are many: no audience was measured
    for them (reach scores a missing follower count or views as 0), so every one of them falls
    on the same side of the reach split by construction, and the quadrants on that side say
    nothing about an audience (beer: 807 of 1,352 accounts never asked a question, the only
    posts with views there).

    ``n`` and ``share`` of the placed accounts at the floor, ``side`` (``quiet`` or ``loud``),
    ``quadrants`` (those the floor's accounts fall in); ``None`` where fewer than ``k`` accounts
    tie there. ``n`` is ``None`` (and ``share`` too) where it would show a group under ``k`` by
    subtraction: within ``k`` of the placed accounts or of its side's quadrant counts.
    """
    placed = divergence.filter(pl.col("quadrant").is_not_null())
    if div.reach_missing or placed.height < 2:
        return None
    low = placed["reach_pct"].min()
    floor = placed.filter(pl.col("reach_pct") == low)
    n = floor.height
    if n < max(k, 2):  # a few accounts at the floor: little to say, and nothing to publish
        return None
    quadrants = sorted(floor["quadrant"].unique().to_list())
    side_total = sum(div.quadrants[q].n for q in quadrants if q in div.quadrants)
    hidden = publish.gives_away(n, (placed.height, side_total), k)
    return {
        "n": None if hidden else n,
        "share": None if hidden else n / placed.height,
        "side": "loud" if low >= div.thresholds_pct["reach"] else "quiet",
        "quadrants": quadrants,
    }


def planted_role_rates(div: Divergence) -> pl.DataFrame | None:
    """Planted roles in the quadrant they should fall in (the demo): ``role_in_quadrant``,
    ``n_accounts`` (null where the divergence stage suppressed it), ``rate`` and its exact 95 %
    interval (``ci_low``, ``ci_high``)."""
    roles = div.planted_roles
    if not roles:
        return None
    return pl.DataFrame(
        [
            {
                "role_in_quadrant": name.replace("_", " "),
                "n_accounts": None if r.suppressed else r.n_role,
                "rate": None if r.suppressed else r.rate,
                "ci_low": None if r.suppressed else r.ci_low,
                "ci_high": None if r.suppressed else r.ci_high,
            }
            for name, r in roles.items()
        ],
        schema={
            "role_in_quadrant": pl.String,
            "n_accounts": pl.Int64,
            "rate": pl.Float64,
            "ci_low": pl.Float64,
            "ci_high": pl.Float64,
        },
    )


AGREEMENT_SCHEMA = {
    "model_a": pl.String,
    "model_b": pl.String,
    "value": pl.Float64,
    "ci_low": pl.Float64,
    "ci_high": pl.Float64,
    "n_accounts": pl.Int64,
}


def agreement_frame(compare: CompareResult, statistic: str = "spearman") -> pl.DataFrame:
    """Pairwise agreement (``model_a``, ``model_b``, ``value``, ``ci_low``, ``ci_high``,
    ``n_accounts``) with the compare stage's bootstrap intervals."""
    rows = [
        {
            "model_a": p.model_a,
            "model_b": p.model_b,
            **p.statistics[statistic].model_dump(),
            "n_accounts": p.n_accounts,
        }
        for p in compare.agreement
        if statistic in p.statistics
    ]
    return pl.DataFrame(rows, schema=AGREEMENT_SCHEMA)


def score_agreement(scores: Mapping[str, pl.DataFrame]) -> pl.DataFrame:
    """Spearman rho of every pair of score files (for notebooks run before ``compare``; the
    report reads :func:`agreement_frame`)."""
    names = list(scores)
    wide = None
    for name in names:
        s = scores[name].select("account_id", pl.col("score").rank().alias(name))
        wide = s if wide is None else wide.join(s, on="account_id", how="inner")
    rows = []
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            v = wide.select(pl.corr(a, b)).item() if wide is not None and wide.height > 2 else None
            rows.append(
                {
                    "model_a": a,
                    "model_b": b,
                    "value": None if v is None or math.isnan(v) else float(v),
                    "ci_low": None,
                    "ci_high": None,
                    "n_accounts": wide.height if wide is not None else None,
                }
            )
    return pl.DataFrame(rows, schema=AGREEMENT_SCHEMA)


# ---------------------------------------------------------------- validity (validate)


def auc_frame(validity: ValidityResult) -> pl.DataFrame:
    """Planted-role AUC per model with the validate stage's 95 % interval (empty without
    ground truth)."""
    pr = validity.planted_roles
    rows = [
        {
            "model": model,
            "auc": r.auc,
            "ci_low": r.ci_low,
            "ci_high": r.ci_high,
            "auc_experts": r.auc_experts,
            "n_positive": r.n_positive,
            "n_negative": r.n_negative,
        }
        for model, r in (pr.models.items() if pr is not None else ())
        if r.auc is not None
    ]
    return pl.DataFrame(
        rows,
        schema={
            "model": pl.String,
            "auc": pl.Float64,
            "ci_low": pl.Float64,
            "ci_high": pl.Float64,
            "auc_experts": pl.Float64,
            "n_positive": pl.Int64,
            "n_negative": pl.Int64,
        },
    )


def oot_frame(validity: ValidityResult) -> pl.DataFrame:
    """Out-of-time Spearman rho per model and outcome with the validate stage's interval."""
    oot = validity.out_of_time
    rows = [
        {
            "model": model,
            "outcome": outcome,
            "spearman": r.spearman,
            "ci_low": r.ci_low,
            "ci_high": r.ci_high,
            "n_accounts": oot.n_accounts,
            "coef_per_sd": r.nb_glm.coef_per_sd,
            "p_value": r.nb_glm.p_value,
        }
        for model, outcomes in oot.models.items()
        for outcome, r in outcomes.items()
        if r.spearman is not None
    ]
    return pl.DataFrame(
        rows,
        schema={
            "model": pl.String,
            "outcome": pl.String,
            "spearman": pl.Float64,
            "ci_low": pl.Float64,
            "ci_high": pl.Float64,
            "n_accounts": pl.Int64,
            "coef_per_sd": pl.Float64,
            "p_value": pl.Float64,
        },
    )


def within_thread_frame(validity: ValidityResult) -> pl.DataFrame | None:
    """Per model and outcome: within-thread coefficient, interval, placebo, and the account-level
    coefficient over the activity baseline (``role``: candidate, comparator or peer)."""
    from analysis.models.peers import PEERS

    wt = validity.within_thread.get("models") or {}
    inc = validity.incremental.get("models") or {}
    comparators = set(validity.comparators)
    rows = []
    for name, per in wt.items():
        for outcome in ("conversation", "approval"):
            r = (per or {}).get(outcome) or {}
            ri = (inc.get(name) or {}).get(outcome) or {}
            rows.append(
                {
                    "model": name,
                    "role": "peer"
                    if name in PEERS
                    else "comparator"
                    if name in comparators
                    else "candidate",
                    "outcome": outcome,
                    "coef": r.get("coef"),
                    "ci_low": r.get("ci_low"),
                    "ci_high": r.get("ci_high"),
                    "placebo": r.get("placebo_coef"),
                    "account_coef": ri.get("coef"),
                    "account_ci_low": ri.get("ci_low"),
                    "account_ci_high": ri.get("ci_high"),
                }
            )
    floats = ("coef", "ci_low", "ci_high", "placebo", "account_coef", "account_ci_low")
    schema = {
        "model": pl.String,
        "role": pl.String,
        "outcome": pl.String,
        **{c: pl.Float64 for c in (*floats, "account_ci_high")},
    }
    return pl.DataFrame(rows, schema=schema) if rows else None


def ranking_frame(validity: ValidityResult) -> pl.DataFrame | None:
    """The one-split account ranking: Spearman rho per model and outcome with its interval."""
    rk = validity.ranking.get("models") or {}
    rows = [
        {
            "model": m,
            "outcome": o,
            "spearman": r.get("spearman"),
            "ci_low": r.get("ci_low"),
            "ci_high": r.get("ci_high"),
        }
        for m, per in rk.items()
        for o, r in per.items()
    ]
    return pl.DataFrame(rows) if rows else None


# ---------------------------------------------------------------- counterfactual tests (compare)

EFFECT_SCHEMA = {
    "model": pl.String,
    "series": pl.String,
    "value": pl.Float64,
    "n_accounts": pl.Int64,
    "note": pl.String,
}


def _note(r: Mapping[str, Any], skip: tuple[str, ...]) -> str:
    return "; ".join(
        f"{k.replace('_', ' ')} {v:.3g}"
        for k, v in r.items()
        if k not in skip and isinstance(v, int | float) and not isinstance(v, bool)
    )


def effect_frame(cf: Counterfactual, test: str) -> pl.DataFrame | None:
    """The compare stage's counterfactual tests as ``model``, ``series``, ``value`` (the
    relative change: -0.1 = 10 % lower; charts show it in percent), ``n_accounts`` (accounts
    the number is computed over), ``note`` (the test's other numbers).

    ``weekend_off``: median relative change of the account's percentile score when it stops
    posting at weekends, and when it takes two weeks off (``time_off``).
    ``gaming``: median relative change with +50/+100/+400 % extra low-value posts, and the
    median gain of the members of a reaction ring.
    """
    rows = []
    if test == "weekend_off":
        for by_model, series in ((cf.weekend_off, "weekends off"), (cf.time_off, "two weeks off")):
            for model, r in by_model.items():
                if r.get("median") is not None:
                    rows.append(
                        {
                            "model": model,
                            "series": series,
                            "value": r["median"],
                            "n_accounts": r.get("n_accounts"),
                            "note": _note(r, ("median",)),
                        }
                    )
    elif test == "gaming":
        for model, r in cf.gaming.items():
            for level, v in (r.get("median_rel_change") or {}).items():
                if v is not None:
                    rows.append(
                        {
                            "model": model,
                            "series": f"{level} posts",
                            "value": v,
                            "n_accounts": r.get("n_accounts"),
                            "note": _note(r, ("n_accounts",)),
                        }
                    )
        for model, r in cf.ring.items():
            if r.get("ring_gain") is not None:
                rows.append(
                    {
                        "model": model,
                        "series": f"reaction ring ({r.get('n_members')} accounts)",
                        "value": r["ring_gain"],
                        "n_accounts": r.get("n_members"),
                        "note": _note(r, ("ring_gain",)),
                    }
                )
    else:
        raise ValueError(f"unknown test {test!r}: expected weekend_off or gaming")
    return pl.DataFrame(rows, schema=EFFECT_SCHEMA) if rows else None


def recommendation_table(compare: CompareResult) -> pl.DataFrame:
    """One row per question: the model the rule picks (or none) and its within-thread evidence."""
    rows = [
        {
            "question": q,
            "outcome": r.outcome,
            "model": r.model or "no recommendation",
            "coef": r.coef,
            "ci_low": r.ci_low,
            "ci_high": r.ci_high,
            "qualifying": ", ".join(r.qualifying) or "none",
        }
        for q, r in compare.recommendation.by_question.items()
    ]
    schema = {
        "question": pl.String,
        "outcome": pl.String,
        "model": pl.String,
        "coef": pl.Float64,
        "ci_low": pl.Float64,
        "ci_high": pl.Float64,
        "qualifying": pl.String,
    }
    return pl.DataFrame(rows, schema=schema)


def exclusion_table(compare: CompareResult) -> pl.DataFrame | None:
    """Why each candidate was not recommended, per question (None when every one qualified)."""
    rows = [
        {"question": q, "model": m, "reasons": "; ".join(fmt.reason(r) for r in why)}
        for q, r in compare.recommendation.by_question.items()
        for m, why in r.excluded.items()
    ]
    schema = {"question": pl.String, "model": pl.String, "reasons": pl.String}
    return pl.DataFrame(rows, schema=schema) if rows else None


#: A gate over fewer than k accounts, in the gates table (untested: the writeup says why).
GATE_BELOW_K = f"not tested ({publish.SUPPRESSED} accounts)"


def gates_table(compare: CompareResult) -> pl.DataFrame | None:
    """Which robustness gates each model passes (``model`` + one column per gate, written as
    ``pass`` / ``fail``, ``not tested`` where the gate could not be computed, or
    :data:`GATE_BELOW_K` where it is over fewer than ``privacy.min_cell_k`` accounts)."""
    word = {True: "pass", False: "fail", None: "not tested"}
    small = compare.recommendation.gates_below_k
    rows = [
        {
            "model": m,
            **{k: GATE_BELOW_K if k in small.get(m, ()) else word[v] for k, v in g.items()},
        }
        for m, g in compare.recommendation.gates.items()
    ]
    return pl.DataFrame(rows) if rows else None


def stability_frame(compare: CompareResult) -> pl.DataFrame | None:
    """Per scenario and model: bias beyond placebo and noise, with intervals (relative change
    of the frozen-rank percentile)."""
    rows = []
    for scenario, by_model in compare.counterfactual.stability.items():
        for model, r in by_model.items():
            lo, hi = r.get("bias_ci") or (None, None)
            nlo, nhi = r.get("noise_ci") or (None, None)
            rows.append(
                {
                    "scenario": scenario,
                    "model": model,
                    "n_accounts": r.get("n_accounts"),
                    "bias": r.get("bias"),
                    "bias_low": lo,
                    "bias_high": hi,
                    "noise": r.get("noise"),
                    "noise_low": nlo,
                    "noise_high": nhi,
                    "share_outside": r.get("share_outside"),
                }
            )
    floats = ("bias", "bias_low", "bias_high", "noise", "noise_low", "noise_high")
    schema = {
        "scenario": pl.String,
        "model": pl.String,
        "n_accounts": pl.Int64,
        **{c: pl.Float64 for c in (*floats, "share_outside")},
    }
    return pl.DataFrame(rows, schema=schema) if rows else None


def adversary_frame(compare: CompareResult) -> pl.DataFrame | None:
    """Per adversary, model and strength: the targets' median relative gain with its interval."""
    rows = [
        {
            "adversary": name,
            "model": model,
            "strength": float(pt["strength"]),
            "gain": pt.get("gain"),
            "gain_low": (pt.get("gain_ci") or (None, None))[0],
            "gain_high": (pt.get("gain_ci") or (None, None))[1],
            "n_targets": pt.get("n_targets"),
        }
        for name, a in compare.counterfactual.adversaries.items()
        for model, curve in (a.get("models") or {}).items()
        for pt in curve or []
    ]
    schema = {
        "adversary": pl.String,
        "model": pl.String,
        "strength": pl.Float64,
        "gain": pl.Float64,
        "gain_low": pl.Float64,
        "gain_high": pl.Float64,
        "n_targets": pl.Int64,
    }
    return pl.DataFrame(rows, schema=schema) if rows else None
