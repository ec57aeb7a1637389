"""Tidy frames behind every chart and table of the report stage (no I/O, no rendering).

Stage ``report`` (``analysis.stages.report``) reads the pipeline's outputs, hands whichever exist
to these functions, and passes the frames to ``analysis.plots`` (figures) and
``analysis.writeup`` (HTML report, methodology, public tables). Every function takes what one
upstream stage wrote and tolerates the optional parts being absent.
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
from analysis.schema import NONPARTICIPANT_ID

#: z of a two-sided 95 % interval.
Z95 = 1.959963984540054


class ReportParams(Frozen):
    """``report``: what the report shows and how figures are exported."""

    title: str = "Resonance: who do people actually talk with?"
    #: Evidence-based experts listed per topic (analyst report only; never published).
    experts_per_topic: int = Field(3, ge=1)
    #: Accounts are split into quadrants at this percentile of reach and of conversation.
    quadrant_split_pct: float = Field(50.0, gt=0, lt=100)
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
    models_metrics: dict[str, Any] | None = None
    compare_metrics: dict[str, Any] | None = None
    accounts: pl.DataFrame | None = None
    posts: pl.DataFrame | None = None
    reactions: pl.DataFrame | None = None
    topics: pl.DataFrame | None = None
    post_topics: pl.DataFrame | None = None
    embeddings: pl.DataFrame | None = None
    account_topics: pl.DataFrame | None = None
    scores: dict[str, pl.DataFrame] = field(default_factory=dict)
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


# ---------------------------------------------------------------- models, agreement, divergence


def quadrant_name(reach_high: bool, conversation_high: bool) -> str:
    """Plain quadrant names (used when the compare stage has not named them)."""
    return {
        (True, True): "loud and heard",
        (False, True): "quiet connectors",
        (True, False): "loud but unheard",
        (False, False): "quiet and unheard",
    }[(reach_high, conversation_high)]


def divergence_points(
    divergence: pl.DataFrame | None, scores: Mapping[str, pl.DataFrame], split_pct: float
) -> tuple[pl.DataFrame | None, str]:
    """``label``, ``reach_pct``, ``conversation_pct``, ``quadrant`` per account, and its source.

    Prefers the compare stage's ``divergence.parquet``; falls back to the reach and conversation
    score files (quadrants split at ``split_pct``).
    """
    if divergence is not None and {"reach_pct", "conversation_pct"} <= set(divergence.columns):
        d = divergence
        if "quadrant" not in d.columns:
            d = d.with_columns(quadrant=pl.lit(None, pl.String))
        d = d.with_columns(pl.col("quadrant").cast(pl.String))
        return d.select(
            pl.col("account_id").alias("label"),
            "reach_pct",
            "conversation_pct",
            pl.col("quadrant").fill_null("unassigned"),
        ), "compare stage (divergence.parquet)"
    if "reach" in scores and "conversation" in scores:
        d = (
            scores["reach"]
            .select("account_id", reach_pct="score_pct")
            .join(
                scores["conversation"].select("account_id", conversation_pct="score_pct"),
                on="account_id",
                how="inner",
            )
        )
        q = [
            quadrant_name(r >= split_pct, c >= split_pct)
            for r, c in d.select("reach_pct", "conversation_pct").iter_rows()
        ]
        return (
            d.select(
                pl.col("account_id").alias("label"), "reach_pct", "conversation_pct"
            ).with_columns(quadrant=pl.Series(q, dtype=pl.String)),
            "score files (reach.parquet, conversation.parquet)",
        )
    return None, ""


def quadrant_counts(points: pl.DataFrame) -> pl.DataFrame:
    """``quadrant``, ``n_accounts``."""
    return points.group_by("quadrant").agg(n_accounts=pl.len().cast(pl.Int64)).sort("quadrant")


def _agreement_records(obj: Any) -> list[dict[str, Any]]:
    """compare.json ``agreement`` as records.

    The compare stage writes ``{"A vs B": {"spearman": {"value", "ci_low", "ci_high"}, ...,
    "n_accounts"}}``; a plain ``{A: {B: rho}}`` matrix is accepted too.
    """
    rows = []
    if not isinstance(obj, Mapping):
        return rows
    for key, inner in obj.items():
        if not isinstance(inner, Mapping):
            continue
        if " vs " in key and isinstance(inner.get("spearman"), Mapping | int | float):
            a, b = key.split(" vs ", 1)
            sp = inner["spearman"]
            sp = sp if isinstance(sp, Mapping) else {"value": sp}
            rows.append(
                {
                    "model_a": a,
                    "model_b": b,
                    "value": sp.get("value"),
                    "ci_low": sp.get("ci_low"),
                    "ci_high": sp.get("ci_high"),
                    "n_accounts": inner.get("n_accounts"),
                }
            )
        else:
            rows.extend(
                {
                    "model_a": key,
                    "model_b": b,
                    "value": float(v),
                    "ci_low": None,
                    "ci_high": None,
                    "n_accounts": None,
                }
                for b, v in inner.items()
                if isinstance(v, int | float)
            )
    return rows


AGREEMENT_SCHEMA = {
    "model_a": pl.String,
    "model_b": pl.String,
    "value": pl.Float64,
    "ci_low": pl.Float64,
    "ci_high": pl.Float64,
    "n_accounts": pl.Int64,
}


def agreement_frame(
    compare: Mapping[str, Any] | None, scores: Mapping[str, pl.DataFrame]
) -> tuple[pl.DataFrame | None, str]:
    """Pairwise Spearman agreement (``model_a``, ``model_b``, ``value``, ``ci_low``, ``ci_high``,
    ``n_accounts``) and where it came from.

    Prefers ``compare.json``'s ``agreement``; falls back to rank correlations of the score files.
    """
    if compare and compare.get("agreement") is not None:
        rows = _agreement_records(compare["agreement"])
        if rows:
            return pl.DataFrame(rows, schema=AGREEMENT_SCHEMA), "compare stage (compare.json)"
    if len(scores) < 2:
        return None, ""
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
                    "ci_low": None,
                    "ci_high": None,
                    "value": None if v is None or math.isnan(v) else float(v),
                    "n_accounts": wide.height if wide is not None else None,
                }
            )
    return pl.DataFrame(rows, schema=AGREEMENT_SCHEMA), "score files (Spearman ρ of the scores)"


# ---------------------------------------------------------------- validity (models.json)


def auc_interval(auc: float, n_pos: int, n_neg: int) -> tuple[float, float]:
    """95 % interval of an AUC (Hanley & McNeil 1982 standard error), clipped to [0, 1]."""
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    var = (auc * (1 - auc) + (n_pos - 1) * (q1 - auc**2) + (n_neg - 1) * (q2 - auc**2)) / max(
        n_pos * n_neg, 1
    )
    se = math.sqrt(max(var, 0.0))
    return max(0.0, auc - Z95 * se), min(1.0, auc + Z95 * se)


def spearman_interval(rho: float, n: int) -> tuple[float, float]:
    """95 % interval of a Spearman ρ: Fisher z with the Fieller-Hartley-Pearson variance 1.06/(n-3)."""
    if n <= 3 or abs(rho) >= 1:
        return rho, rho
    z, se = math.atanh(rho), math.sqrt(1.06 / (n - 3))
    return math.tanh(z - Z95 * se), math.tanh(z + Z95 * se)


def _given_ci(r: Mapping[str, Any], name: str) -> tuple[float, float] | None:
    """An interval the validate stage wrote itself (``<name>_ci``, or ``ci_low``/``ci_high``)."""
    ci = r.get(f"{name}_ci")
    if isinstance(ci, list | tuple) and len(ci) == 2 and None not in ci:
        return float(ci[0]), float(ci[1])
    if r.get("ci_low") is not None and r.get("ci_high") is not None:
        return float(r["ci_low"]), float(r["ci_high"])
    return None


def auc_frame(models: Mapping[str, Any]) -> pl.DataFrame:
    """Planted-role AUC per model with its 95 % interval (empty without ground truth)."""
    rows = []
    for model, r in (models.get("planted_roles") or {}).get("models", {}).items():
        if r.get("auc") is None:
            continue
        lo, hi = _given_ci(r, "auc") or auc_interval(r["auc"], r["n_positive"], r["n_negative"])
        rows.append(
            {
                "model": model,
                "auc": float(r["auc"]),
                "ci_low": lo,
                "ci_high": hi,
                "auc_experts": r.get("auc_experts"),
                "n_positive": r["n_positive"],
                "n_negative": r["n_negative"],
            }
        )
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


def oot_frame(models: Mapping[str, Any]) -> pl.DataFrame:
    """Out-of-time Spearman ρ per model and outcome with its 95 % interval."""
    oot = models.get("out_of_time") or {}
    n = int(oot.get("n_accounts") or models.get("n_participants") or 0)
    rows = []
    for model, outcomes in (oot.get("models") or {}).items():
        for outcome, r in outcomes.items():
            rho = r.get("spearman")
            if rho is None:
                continue
            lo, hi = _given_ci(r, "spearman") or spearman_interval(rho, n)
            glm = r.get("nb_glm") or {}
            rows.append(
                {
                    "model": model,
                    "outcome": outcome,
                    "spearman": float(rho),
                    "ci_low": lo,
                    "ci_high": hi,
                    "n_accounts": n,
                    "coef_per_sd": glm.get("coef_per_sd"),
                    "p_value": glm.get("p_value"),
                }
            )
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


# ---------------------------------------------------------------- weekend-off, gaming (compare.json)

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


def effect_frame(compare: Mapping[str, Any] | None, test: str) -> pl.DataFrame | None:
    """The compare stage's counterfactual tests as ``model``, ``series``, ``value`` (the JSON's
    relative change: -0.1 = 10 % lower; charts show it in percent),
    ``n_accounts`` (accounts the number is computed over), ``note`` (the test's other numbers).

    ``weekend_off``: median relative change of the account's percentile score when it stops
    posting at weekends, and when it takes two weeks off (``time_off``).
    ``gaming``: median relative change with +50/+100/+400 % extra low-value posts, and the
    median gain of the members of a reaction ring.
    """
    cf = (compare or {}).get("counterfactual")
    if not isinstance(cf, Mapping):
        return None
    rows = []
    if test == "weekend_off":
        for key, series in (("weekend_off", "weekends off"), ("time_off", "two weeks off")):
            for model, r in (cf.get(key) or {}).items():
                if isinstance(r, Mapping) and r.get("median") is not None:
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
        for model, r in (cf.get("gaming") or {}).items():
            for level, v in ((r or {}).get("median_rel_change") or {}).items():
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
        for model, r in (cf.get("ring") or {}).items():
            if isinstance(r, Mapping) and r.get("ring_gain") is not None:
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


def recommended(compare: Mapping[str, Any] | None) -> tuple[str | None, str]:
    """The compare stage's recommended model and its reasoning (``None`` when absent)."""
    if not compare:
        return None, ""
    rec = compare.get("recommendation") or {}
    model = compare.get("recommended_model") or rec.get("recommended_model")
    q = rec.get("primary_question")
    reason = ((rec.get("by_question") or {}).get(q) or {}).get("reasoning", "") if q else ""
    return (str(model) if model else None), str(reason)


def recommendation_table(compare: Mapping[str, Any] | None) -> pl.DataFrame | None:
    """One row per question: the model the rule picks (or none) and its within-thread evidence."""
    by_q = ((compare or {}).get("recommendation") or {}).get("by_question") or {}
    rows = [
        {
            "question": q,
            "outcome": r.get("outcome"),
            "model": r.get("model") or "no recommendation",
            "coef": r.get("coef"),
            "ci_low": r.get("ci_low"),
            "ci_high": r.get("ci_high"),
            "qualifying": ", ".join(r.get("qualifying") or []) or "none",
        }
        for q, r in by_q.items()
        if isinstance(r, Mapping)
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
    return pl.DataFrame(rows, schema=schema) if rows else None


def exclusion_table(compare: Mapping[str, Any] | None) -> pl.DataFrame | None:
    """Why each candidate was not recommended, per question (empty when one qualified)."""
    by_q = ((compare or {}).get("recommendation") or {}).get("by_question") or {}
    rows = [
        {"question": q, "model": m, "reasons": "; ".join(why)}
        for q, r in by_q.items()
        if isinstance(r, Mapping)
        for m, why in (r.get("excluded") or {}).items()
    ]
    schema = {"question": pl.String, "model": pl.String, "reasons": pl.String}
    return pl.DataFrame(rows, schema=schema) if rows else None


def within_thread_frame(models: Mapping[str, Any] | None) -> pl.DataFrame | None:
    """Per model and outcome: within-thread coefficient, interval, placebo, and the account-level
    coefficient over the activity baseline (``role``: candidate, comparator or peer)."""
    mm = models or {}
    wt = mm.get("within_thread") or {}
    inc = (mm.get("incremental") or {}).get("models") or {}
    comparators = set(mm.get("comparators") or [])
    from analysis.models.peers import PEERS

    rows = []
    for name, per in (wt.get("models") or {}).items():
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
    schema = {
        "model": pl.String,
        "role": pl.String,
        "outcome": pl.String,
        **{
            c: pl.Float64
            for c in (
                "coef",
                "ci_low",
                "ci_high",
                "placebo",
                "account_coef",
                "account_ci_low",
                "account_ci_high",
            )
        },
    }
    return pl.DataFrame(rows, schema=schema) if rows else None


def gates_table(compare: Mapping[str, Any] | None) -> pl.DataFrame | None:
    """Which robustness gates each model passes (``model`` + one column per gate, written as
    ``pass`` / ``fail``, or ``not tested`` where the gate could not be computed)."""
    gates = ((compare or {}).get("recommendation") or {}).get("gates") or {}
    word = {True: "pass", False: "fail", None: "not tested"}
    rows = [
        {"model": m, **{k: word[None if v is None else bool(v)] for k, v in g.items()}}
        for m, g in gates.items()
        if isinstance(g, Mapping)
    ]
    return pl.DataFrame(rows) if rows else None


def compare_quadrants(compare: Mapping[str, Any] | None) -> pl.DataFrame | None:
    """Quadrant counts as the compare stage recorded them (``quadrant``, ``n_accounts``, ``share``)."""
    q = (((compare or {}).get("divergence") or {}).get("quadrants")) or {}
    rows = [
        {"quadrant": name, "n_accounts": r.get("n"), "share": r.get("share")}
        for name, r in q.items()
        if isinstance(r, Mapping)
    ]
    return (
        pl.DataFrame(
            rows, schema={"quadrant": pl.String, "n_accounts": pl.Int64, "share": pl.Float64}
        )
        if rows
        else None
    )


def split_pct(compare: Mapping[str, Any] | None, default: float) -> float:
    """The percentile at which the compare stage split reach (and conversation) into quadrants."""
    t = (((compare or {}).get("divergence") or {}).get("thresholds_pct")) or {}
    return float(t.get("reach", default))


def stability_frame(compare: Mapping[str, Any] | None) -> pl.DataFrame | None:
    """Per scenario and model: bias beyond placebo and noise, with intervals (relative change
    of the frozen-rank percentile; ``compare.json`` ``counterfactual.stability``)."""
    st = (((compare or {}).get("counterfactual") or {}).get("stability")) or {}
    rows = []
    for scenario, by_model in st.items():
        for model, r in (by_model or {}).items():
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
    schema = {
        "scenario": pl.String,
        "model": pl.String,
        "n_accounts": pl.Int64,
        **{
            c: pl.Float64
            for c in (
                "bias",
                "bias_low",
                "bias_high",
                "noise",
                "noise_low",
                "noise_high",
                "share_outside",
            )
        },
    }
    return pl.DataFrame(rows, schema=schema) if rows else None


def adversary_frame(compare: Mapping[str, Any] | None) -> pl.DataFrame | None:
    """Per adversary, model and strength: the targets' median relative gain with its interval."""
    adv = (((compare or {}).get("counterfactual") or {}).get("adversaries")) or {}
    rows = [
        {
            "adversary": name,
            "model": model,
            "strength": float(pt.get("strength")),
            "gain": pt.get("gain"),
            "gain_low": (pt.get("gain_ci") or (None, None))[0],
            "gain_high": (pt.get("gain_ci") or (None, None))[1],
            "n_targets": pt.get("n_targets"),
        }
        for name, a in adv.items()
        for model, curve in ((a or {}).get("models") or {}).items()
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
