"""Tidy frames behind every chart and table of the report stage (no I/O, no rendering).

Stage ``report`` (``analysis.stages.report``) reads the pipeline's outputs into :class:`Inputs`
and :func:`build` turns them, with the stage-result tables of ``analysis.report.results``,
into frames for ``analysis.report.figures`` (plotly figures),
``analysis.report.public`` (publication tables) and ``analysis.report.analyst`` /
``analysis.report.methodology`` (pages). Nothing here recomputes what an upstream stage
wrote: quadrants, agreement and every interval are read from the typed results of
``validate``, ``divergence`` and ``compare`` (:mod:`analysis.contracts`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from analysis.contracts import CompareResult, DivergenceResult, TopicEval, ValidityResult
from analysis.report.params import ReportParams
from analysis.report.results import (
    adversary_frame,
    agreement_frame,
    auc_frame,
    divergence_points,
    effect_frame,
    exclusion_table,
    gates_table,
    oot_frame,
    planted_role_rates,
    quadrant_table,
    ranking_frame,
    reach_floor,
    recommendation_table,
    stability_frame,
    within_thread_frame,
)
from analysis.schema import NONPARTICIPANT_ID


@dataclass
class Inputs:
    """Everything the report may read; ``None`` = that stage has not run (section omitted)."""

    params: dict[str, Any] = field(default_factory=dict)
    ingest: dict[str, Any] | None = None
    topics_metrics: dict[str, Any] | None = None
    #: ``reports/metrics/scores.json``: what the models fitted in the score stage
    scores_metrics: dict[str, Any] | None = None
    validity: ValidityResult | None = None
    compare: CompareResult | None = None
    divergence_result: DivergenceResult | None = None
    #: the topics against ground truth (stage ``topic_eval``)
    topic_eval: TopicEval | None = None
    posts: pl.DataFrame | None = None
    reactions: pl.DataFrame | None = None
    topics: pl.DataFrame | None = None
    post_topics: pl.DataFrame | None = None
    #: mean embedding of each topic's primary posts, one row per row of ``topics`` (the
    #: topics stage sums them in its pass over the vectors: ``topics.parquet``'s
    #: ``mean_embedding``)
    topic_means: np.ndarray | None = None
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
                rows.append({"table": table, "outcome": outcome, "n": c[outcome]})  # None: <k
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
                "removed_linked",
                "removed_privacy",
                "merged_nonparticipant",
                "detached_replies",
                "removed_text_cut",
                "rejected",
            ):
                if rule in c:
                    rows.append({"source": source, "table": table, "rule": rule, "n": c[rule]})
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
    topics: pl.DataFrame, means: np.ndarray | None, seed: int = 0
) -> pl.DataFrame:
    """``topics`` plus ``x``, ``y``: a 2-D map where near topics use similar language.

    ``means`` holds each topic's centroid (one row per row of ``topics``): the mean embedding of
    the posts whose primary topic it is; the map is metric MDS (seeded) of the cosine distances
    between centroids. PCA of the centroids was tried first: a few very distinct topics (spam,
    chit-chat) took both axes and piled the rest into one unreadable clump. Uses the topics
    stage's own ``x``/``y`` when it wrote them; without centroids, topics sit on a circle.
    """
    if {"x", "y"} <= set(topics.columns):
        return topics
    ids = topics["topic_id"].to_list()
    if means is None or len(ids) < 3:
        angle = np.linspace(0, 2 * math.pi, num=max(len(ids), 1), endpoint=False)
        return topics.with_columns(
            x=pl.Series(np.cos(angle)[: len(ids)]), y=pl.Series(np.sin(angle)[: len(ids)])
        )
    centroids = means
    norms = np.linalg.norm(centroids, axis=1, keepdims=True)
    unit = centroids / np.where(norms > 0, norms, 1.0)
    dist = np.clip(1.0 - unit @ unit.T, 0.0, None)
    np.fill_diagonal(dist, 0.0)
    dist = (dist + dist.T) / 2
    xy = metric_mds(dist, n_init=4, seed=seed)
    return topics.with_columns(x=pl.Series(xy[:, 0]), y=pl.Series(xy[:, 1]))


def metric_mds(
    dist: np.ndarray, n_init: int = 4, seed: int = 0, max_iter: int = 300, eps: float = 1e-6
) -> np.ndarray:
    """2-D metric MDS of the symmetric distances ``dist``: SMACOF (Guttman transforms) from
    ``n_init`` random starts drawn from one seeded generator, the lowest raw stress kept.

    scikit-learn's ``MDS(metric="precomputed", init="random", n_init, random_state=seed)``,
    the same arithmetic in the same order (``tests/unit/test_report.py`` holds them equal to
    the bit); written here because importing ``sklearn.manifold`` cost the report stage 1.8 s
    for a map of a few dozen points.
    """
    if not np.isfinite(dist).all():  # as scikit-learn's input check
        raise ValueError("metric_mds: the distances hold NaN or infinity")
    rng = np.random.RandomState(seed)
    n = dist.shape[0]
    best, best_stress = None, None
    for _ in range(n_init):
        x = rng.uniform(size=n * 2).reshape((n, 2))
        distances = _euclidean(x)
        old = None
        for _ in range(max_iter):
            distances[distances == 0] = 1e-5
            ratio = dist / distances
            b = -ratio
            b[np.arange(n), np.arange(n)] += ratio.sum(axis=1)
            x = 1.0 / n * np.dot(b, x)
            distances = _euclidean(x)
            stress = ((distances.ravel() - dist.ravel()) ** 2).sum() / 2
            if old is not None and (old - stress) / ((distances.ravel() ** 2).sum() / 2) < eps:
                break
            old = stress
        if best_stress is None or stress < best_stress:
            best, best_stress = x.copy(), stress
    assert best is not None
    return best


def _euclidean(x: np.ndarray) -> np.ndarray:
    """Pairwise Euclidean distances of the rows of ``x`` as scikit-learn computes them (float64:
    squared norms plus the Gram matrix, floored at 0, a zero diagonal)."""
    sq = np.einsum("ij,ij->i", x, x)[:, None]
    d = -2 * (x @ x.T)
    d += sq
    d += sq.T
    np.maximum(d, 0, out=d)
    np.fill_diagonal(d, 0)
    return np.sqrt(d, out=d)


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


#: The order of a topic's experts, best first: what the data says about each account, never
#: its pseudonym (an HMAC under the key).
EXPERT_ORDER = ("expected", "ci_low", "n_engagers", "n_posts", "ci_high")


def topic_experts(
    account_topics: pl.DataFrame, topics: pl.DataFrame, per_topic: int
) -> pl.DataFrame:
    """The ``per_topic`` strongest evidence-based experts of each topic, and every account tied
    with the last of them.

    Attributed ``evidence`` rows only, ordered by expected repliers in the topic
    (``n_posts * estimate``, the attribution's own ranking), then by the lower interval bound,
    distinct engagers, posts and the upper bound (:data:`EXPERT_ORDER`). Accounts equal on all
    of these are all listed or none: cut by row order, which follows the pseudonyms, the list
    changed with the key (beer, topic 11: two accounts of 3 posts with the same interval
    shared the third place). Equal rows are shown in pseudonym order (they differ in nothing
    else).
    """
    ev = account_topics.filter((pl.col("method") == "evidence") & pl.col("is_attributed"))
    labels = keywords_text(topics).select("topic_id", pl.col("label").alias("topic"), "keywords")
    keys = list(EXPERT_ORDER)
    return (
        ev.with_columns(expected=pl.col("n_posts") * pl.col("estimate"))
        .sort(
            ["topic_id", *keys, "account_id"],
            descending=[False, *[True] * len(keys), False],
            nulls_last=True,
        )
        .with_columns(_pos=pl.int_range(1, pl.len() + 1).over("topic_id"))
        # the place of an account's tie group: the first place any of its members holds
        .filter(pl.col("_pos").min().over(["topic_id", *keys]) <= per_topic)
        .join(labels, on="topic_id", how="left", maintain_order="left")
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


def min_cell_k(params: Mapping[str, Any]) -> int:
    """``privacy.min_cell_k`` of the run's params (the default where absent)."""
    from analysis.config import PrivacyParams, section

    return section(dict(params), "privacy", PrivacyParams).min_cell_k


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
        out["topic_map"] = topic_coordinates(keywords_text(inp.topics), inp.topic_means, p.seed)
        if inp.account_topics is not None:
            out["experts"] = topic_experts(inp.account_topics, inp.topics, p.experts_per_topic)
    dv = inp.divergence_result
    if dv is not None:
        if inp.divergence is not None and not dv.reach_missing:
            out["points"] = divergence_points(inp.divergence)
            out["reach_floor"] = reach_floor(inp.divergence, dv, min_cell_k(inp.params))
        out["quadrants"] = quadrant_table(dv)
        rates = planted_role_rates(dv)
        if rates is not None:
            out["planted_role_rates"] = rates
    cmp = inp.compare
    if cmp is not None:
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
