"""Tidy frames behind every chart and table of the report stage (no I/O, no rendering).

Stage ``report`` (``analysis.stages.report``) reads the pipeline's outputs into :class:`Inputs`
and :func:`build` turns them into frames for ``analysis.report.figures`` (plotly figures),
``analysis.report.public`` (publication tables) and ``analysis.report.analyst`` /
``analysis.report.methodology`` (pages). Nothing here recomputes what an upstream stage
wrote: quadrants, agreement and every interval are read from the typed results of
``validate`` and ``compare`` (:mod:`analysis.contracts`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
from pydantic import Field

from analysis.config import Frozen
from analysis.contracts import CompareResult, Counterfactual, ValidityResult
from analysis.schema import NONPARTICIPANT_ID


class ReportParams(Frozen):
    """``report``: what the report shows and how figures are exported."""

    title: str = "Resonance: who do people actually talk with?"
    #: Evidence-based experts listed per topic (analyst report only; never published).
    experts_per_topic: int = Field(3, ge=1)
    #: Static figures for the methodology: png, svg, or none (kaleido + a headless Chromium).
    figure_format: str = Field("png", pattern="^(png|svg|none)$")
    figure_width: int = Field(900, ge=300)
    figure_scale: float = Field(1.5, gt=0)
    #: Seed of the topic map's layout (metric MDS).
    seed: int = 0


@dataclass
class Inputs:
    """Everything the report may read; ``None`` = that stage has not run (section omitted)."""

    params: dict[str, Any] = field(default_factory=dict)
    ingest: dict[str, Any] | None = None
    topics_metrics: dict[str, Any] | None = None
    validity: ValidityResult | None = None
    compare: CompareResult | None = None
    accounts: pl.DataFrame | None = None
    posts: pl.DataFrame | None = None
    reactions: pl.DataFrame | None = None
    topics: pl.DataFrame | None = None
    post_topics: pl.DataFrame | None = None
    embeddings: pl.DataFrame | None = None
    account_topics: pl.DataFrame | None = None
    divergence: pl.DataFrame | None = None
    #: what was read, for the log and the report footer: path -> rows (or None for JSON)
    read: dict[str, int | None] = field(default_factory=dict)


# ---------------------------------------------------------------- data overview (ingest)


def ingest_counts(ingest: Mapping[str, Any]) -> pl.DataFrame:
    """Long table ``table``, ``outcome``, ``n`` of the ingest reconciliation (all sources)."""
    rows = []
    for table, c in ingest.get("totals", {}).items():
        for outcome in ("read", "accepted", "rejected", "removed_privacy", "merged_nonparticipant"):
            if outcome in c:
                rows.append({"table": table, "outcome": outcome, "n": int(c[outcome])})
    return pl.DataFrame(rows, schema={"table": pl.String, "outcome": pl.String, "n": pl.Int64})


def privacy_removals(ingest: Mapping[str, Any]) -> pl.DataFrame:
    """What the privacy rules removed, per source and table (``source``, ``table``, ``rule``, ``n``)."""
    rows = []
    for source, tables in ingest.get("sources", {}).items():
        for table, c in tables.items():
            for rule in (
                "removed_minor",
                "removed_opt_out",
                "removed_no_consent",
                "removed_privacy",
                "merged_nonparticipant",
                "rejected",
            ):
                if rule in c:
                    rows.append({"source": source, "table": table, "rule": rule, "n": int(c[rule])})
    return pl.DataFrame(
        rows, schema={"source": pl.String, "table": pl.String, "rule": pl.String, "n": pl.Int64}
    )


def weekly_activity(posts: pl.DataFrame, reactions: pl.DataFrame | None) -> pl.DataFrame:
    """Posts, reactions and distinct active accounts (authors or reactors) per ISO week."""
    p = posts.select(
        week=pl.col("created_at").dt.truncate("1w").dt.date(),
        account_id="account_id",
        is_post=pl.lit(1),
        is_reaction=pl.lit(0),
    )
    frames = [p]
    if reactions is not None and reactions.height:
        frames.append(
            reactions.select(
                week=pl.col("created_at").dt.truncate("1w").dt.date(),
                account_id=pl.col("actor_account_id"),
                is_post=pl.lit(0),
                is_reaction=pl.lit(1),
            )
        )
    both = pl.concat(frames)
    return (
        both.group_by("week")
        .agg(
            n_posts=pl.col("is_post").sum().cast(pl.Int64),
            n_reactions=pl.col("is_reaction").sum().cast(pl.Int64),
            n_accounts=pl.col("account_id")
            .filter(
                pl.col("account_id").is_not_null() & (pl.col("account_id") != NONPARTICIPANT_ID)
            )
            .n_unique()
            .cast(pl.Int64),
        )
        .sort("week")
    )


# ---------------------------------------------------------------- topics


def keywords_text(topics: pl.DataFrame, n: int = 6) -> pl.DataFrame:
    """``topics`` with ``keywords`` joined into one string of its first ``n`` words."""
    if topics.schema.get("keywords") == pl.List(pl.String):
        return topics.with_columns(pl.col("keywords").list.head(n).list.join(", "))
    return topics


def topic_coordinates(
    topics: pl.DataFrame,
    post_topics: pl.DataFrame | None,
    embeddings: pl.DataFrame | None,
    seed: int = 0,
) -> pl.DataFrame:
    """``topics`` plus ``x``, ``y``: a 2-D map where near topics use similar language.

    Each topic's centroid is the mean embedding of the posts whose primary topic it is; the map is
    metric MDS (seeded) of the cosine distances between centroids. PCA of the centroids was tried
    first: a few very distinct topics (spam, chit-chat) took both axes and piled the rest into one
    unreadable clump. Uses the topics stage's own ``x``/``y`` when it wrote them; without
    embeddings, topics sit on a circle.
    """
    if {"x", "y"} <= set(topics.columns):
        return topics
    ids = topics["topic_id"].to_list()
    if post_topics is None or embeddings is None or len(ids) < 3:
        angle = np.linspace(0, 2 * math.pi, num=max(len(ids), 1), endpoint=False)
        return topics.with_columns(
            x=pl.Series(np.cos(angle)[: len(ids)]), y=pl.Series(np.sin(angle)[: len(ids)])
        )
    from sklearn.manifold import MDS

    primary = post_topics.filter(pl.col("is_primary")).select("post_id", "topic_id")
    emb = embeddings.select("post_id", "embedding").join(primary, on="post_id", how="inner")
    x = emb["embedding"].to_numpy().astype(np.float64)
    labels = emb["topic_id"].to_numpy()
    centroids = np.stack(
        [x[labels == t].mean(axis=0) if (labels == t).any() else np.zeros(x.shape[1]) for t in ids]
    )
    norms = np.linalg.norm(centroids, axis=1, keepdims=True)
    unit = centroids / np.where(norms > 0, norms, 1.0)
    dist = np.clip(1.0 - unit @ unit.T, 0.0, None)
    np.fill_diagonal(dist, 0.0)
    dist = (dist + dist.T) / 2
    xy = MDS(
        n_components=2,
        metric="precomputed",
        n_init=4,
        init="random",
        random_state=seed,
        normalized_stress="auto",
    ).fit_transform(dist)
    return topics.with_columns(x=pl.Series(xy[:, 0]), y=pl.Series(xy[:, 1]))


def topic_table(
    topics: pl.DataFrame, post_topics: pl.DataFrame | None, posts: pl.DataFrame | None
) -> pl.DataFrame:
    """``topic_id``, ``label``, ``keywords`` (text), ``n_posts``, ``n_accounts`` (distinct authors
    of posts whose primary topic it is; null when posts are unavailable), largest first."""
    t = keywords_text(topics).select("topic_id", "label", "keywords", "n_posts")
    if post_topics is None or posts is None:
        return t.with_columns(n_accounts=pl.lit(None, pl.Int64)).sort("n_posts", descending=True)
    authors = (
        post_topics.filter(pl.col("is_primary"))
        .join(posts.select("post_id", "account_id"), on="post_id", how="inner")
        .group_by("topic_id")
        .agg(n_accounts=pl.col("account_id").n_unique().cast(pl.Int64))
    )
    return (
        t.join(authors, on="topic_id", how="left")
        .with_columns(pl.col("n_accounts").fill_null(0))
        .sort("n_posts", descending=True)
    )


def topic_experts(
    account_topics: pl.DataFrame, topics: pl.DataFrame, per_topic: int
) -> pl.DataFrame:
    """The ``per_topic`` strongest evidence-based experts of each topic.

    Attributed ``evidence`` rows only, ordered by expected replies in the topic
    (``n_posts * estimate``, the attribution's own ranking), then by the lower interval bound.
    """
    ev = account_topics.filter((pl.col("method") == "evidence") & pl.col("is_attributed"))
    labels = keywords_text(topics).select("topic_id", pl.col("label").alias("topic"), "keywords")
    return (
        ev.with_columns(expected=pl.col("n_posts") * pl.col("estimate"))
        .sort(["topic_id", "expected", "ci_low"], descending=[False, True, True])
        .group_by("topic_id", maintain_order=True)
        .head(per_topic)
        .join(labels, on="topic_id", how="left")
        .select(
            "topic_id",
            "topic",
            "keywords",
            pl.col("account_id").alias("label"),
            "n_posts",
            "n_engagers",
            "estimate",
            "ci_low",
            "ci_high",
        )
    )


def experts_by_topic(experts: pl.DataFrame) -> pl.DataFrame:
    """One row per topic: its keywords and its experts as ``pseudonym estimate [low, high]``."""
    return (
        experts.with_columns(
            expert=pl.format(
                "{} {} [{}, {}] ({} posts, {} engagers)",
                "label",
                pl.col("estimate").round(2),
                pl.col("ci_low").round(2),
                pl.col("ci_high").round(2),
                "n_posts",
                "n_engagers",
            )
        )
        .group_by("topic_id", "topic", "keywords", maintain_order=True)
        .agg(pl.col("expert").str.join("; ").alias("experts"))
        .drop("topic_id")
    )


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


def quadrant_table(compare: CompareResult) -> pl.DataFrame:
    """Quadrant counts as the compare stage recorded them (``quadrant``, ``n_accounts``, ``share``)."""
    return pl.DataFrame(
        [
            {"quadrant": name, "n_accounts": q.n, "share": q.share}
            for name, q in compare.divergence.quadrants.items()
        ],
        schema={"quadrant": pl.String, "n_accounts": pl.Int64, "share": pl.Float64},
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
        {"question": q, "model": m, "reasons": "; ".join(why)}
        for q, r in compare.recommendation.by_question.items()
        for m, why in r.excluded.items()
    ]
    schema = {"question": pl.String, "model": pl.String, "reasons": pl.String}
    return pl.DataFrame(rows, schema=schema) if rows else None


def gates_table(compare: CompareResult) -> pl.DataFrame | None:
    """Which robustness gates each model passes (``model`` + one column per gate, written as
    ``pass`` / ``fail``, or ``not tested`` where the gate could not be computed)."""
    word = {True: "pass", False: "fail", None: "not tested"}
    rows = [
        {"model": m, **{k: word[v] for k, v in g.items()}}
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


# ---------------------------------------------------------------- every frame of a run


def removals_frame(ingest: Mapping[str, Any]) -> pl.DataFrame:
    """:func:`privacy_removals` with ``n_accounts``, the accounts each count covers (it decides
    suppression): a removed row covers the accounts removed from the same source, a rejected
    row at most one account."""
    acc = {
        s: t.get("accounts", {}).get("removed_privacy", 0)
        for s, t in ingest.get("sources", {}).items()
    }
    return privacy_removals(ingest).with_columns(
        n_accounts=pl.when(pl.col("table") == "accounts")
        .then(pl.col("n"))
        .when(pl.col("rule") == "rejected")
        .then(pl.col("n"))
        .otherwise(pl.col("source").replace_strict(acc, default=0))
        .cast(pl.Int64)
    )


def build(inp: Inputs, p: ReportParams) -> dict[str, Any]:
    """Every frame the outputs need, by name (pure: no file is read or written here).

    A name is absent when the stage that writes its input has not run.
    """
    out: dict[str, Any] = {}
    if inp.ingest is not None:
        out["counts"] = ingest_counts(inp.ingest)
        out["removals"] = removals_frame(inp.ingest)
    if inp.posts is not None:
        out["activity"] = weekly_activity(inp.posts, inp.reactions)
    if inp.topics is not None:
        out["topics"] = topic_table(inp.topics, inp.post_topics, inp.posts)
        out["topic_map"] = topic_coordinates(
            keywords_text(inp.topics), inp.post_topics, inp.embeddings, p.seed
        )
        if inp.account_topics is not None:
            out["experts"] = topic_experts(inp.account_topics, inp.topics, p.experts_per_topic)
    cmp = inp.compare
    if cmp is not None:
        if inp.divergence is not None and not cmp.divergence.reach_missing:
            out["points"] = divergence_points(inp.divergence)
        out["quadrants"] = quadrant_table(cmp)
        out["agreement"] = agreement_frame(cmp)
        for test in ("weekend_off", "gaming"):
            df = effect_frame(cmp.counterfactual, test)
            if df is not None:
                out[test] = df
        out["recommendation"] = recommendation_table(cmp)
        for name, fn in (
            ("exclusions", exclusion_table),
            ("stability", stability_frame),
            ("adversaries", adversary_frame),
            ("gates", gates_table),
        ):
            df = fn(cmp)
            if df is not None:
                out[name] = df
    if inp.validity is not None:
        out["validity_auc"] = auc_frame(inp.validity)
        out["validity_oot"] = oot_frame(inp.validity)
        for name, fn in (("within_thread", within_thread_frame), ("ranking", ranking_frame)):
            df = fn(inp.validity)
            if df is not None:
                out[name] = df
    return out
