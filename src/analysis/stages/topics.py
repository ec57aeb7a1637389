"""Stage ``topics``: cluster embeddings into topics, attribute topics to accounts, evaluate.

Reads ``data/interim/{posts,accounts,reactions}.parquet`` and ``data/processed/embeddings.parquet``;
writes ``data/processed/{topics,post_topics,account_topics}.parquet`` and
``reports/metrics/topics.json`` (quality metrics, and the ground-truth evaluation where there is
truth: planted roles on the demo, answer tags on Stack Exchange).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

import polars as pl

from analysis import attribution, groundtruth, paths
from analysis.config import section
from analysis.io import write_json, write_parquet
from analysis.topics import TopicsParams, agreement, post_vectors
from analysis.topics_clustering import OUTLIER, cluster_with_stability, soft_membership
from analysis.topics_keywords import ctfidf_keywords, diversity, topic_table

log = logging.getLogger(__name__)

#: The posts' columns the stage reads: ordering and keywords (``created_at``, ``text``), the
#: labels' agreement, attribution's engagements (``account_id``, ``parent_post_id``) and the
#: answer-tag truth (``kind``, ``score``). Reach, counts and the other ids are not read (at 10M
#: posts ~1 GiB of the table).
COLUMNS = (
    "post_id",
    "account_id",
    "kind",
    "parent_post_id",
    "created_at",
    "text",
    "score",
    "labels",
)


def compute(
    posts: pl.DataFrame,
    embeddings: pl.DataFrame | Path,
    accounts: pl.DataFrame,
    reactions: pl.DataFrame,
    p: TopicsParams,
) -> dict[str, Any]:
    """Everything the stage writes, as frames and a metrics dict (no I/O but the vectors'
    batches when ``embeddings`` is a path)."""
    emb, x = post_vectors(posts, embeddings)
    data = emb.select("post_id").join(
        posts.select("post_id", "text", "labels"), on="post_id", how="left", maintain_order="left"
    )
    log.info(
        "topics: clustering %d posts (%s, k %s)",
        len(x),
        p.method,
        p.n_topics or f"by silhouette over {list(p.k_grid)}",
    )
    res, ari = cluster_with_stability(x, p)
    k = len(res.topic_ids)
    log.info(
        "topics: %d topics in %.1f s (the stability refits included); keywords, soft membership, "
        "attribution",
        k,
        res.seconds,
    )
    keywords = ctfidf_keywords(data["text"].fill_null(""), res.labels, p.n_keywords)
    # the texts' copy is not read past the keywords: freed before soft membership and
    # attribution, where the stage's memory peaks (~1 GiB of 10 at 10M posts)
    data = data.drop("text")
    topics = topic_table(res.labels, keywords)
    soft = soft_membership(x, res.labels, res.centroids, p)
    post_ids = data["post_id"]
    post_topics = soft.with_columns(post_id=post_ids.gather(soft["row"])).select(
        "post_id", "topic_id", "probability", "is_primary"
    )
    primary = post_topics.filter("is_primary").select("post_id", "topic_id")
    account_topics = attribution.attribute(posts, reactions, accounts, primary, p)
    first = data["labels"].list.first().to_list()
    metrics: dict[str, Any] = {
        "method": p.method,
        "n_posts": posts.height,
        "n_posts_embedded": emb.height,
        "n_posts_skipped_empty_text": posts.height - emb.height,
        "n_topics": k,
        "n_outliers_before_reassignment": int((res.raw_labels == OUTLIER).sum()),
        "n_outliers_reassigned": res.n_reassigned,
        "outlier_share": float((res.labels == OUTLIER).mean()) if len(res.labels) else None,
        "vs_labels": agreement(res.labels, first),
        "stability_mean_pairwise_ari": ari,
        "topic_diversity": diversity(keywords, 10),
        "mean_topics_per_post": post_topics.height / max(emb.height, 1),
        "attribution": {
            m: {
                "n_pairs": int(g.height),
                "n_attributed": int(g["is_attributed"].sum()),
                "n_accounts_attributed": int(g.filter("is_attributed")["account_id"].n_unique()),
            }
            for m, g in (
                (m, account_topics.filter(pl.col("method") == m)) for m in ("naive", "evidence")
            )
        },
    }
    # Wall time goes to the log, not to the metrics: metrics must be a function of data and
    # params, so that a fresh clone's `dvc repro` leaves them (and git) unchanged.
    log.info("topics: clustering took %.1f s", res.seconds)
    return {
        "topics": topics,
        "post_topics": post_topics,
        "account_topics": account_topics,
        "primary": primary,
        "metrics": metrics,
    }


def run(params: dict[str, Any], args: argparse.Namespace) -> int:
    """Cluster, label, attribute and evaluate; write the four outputs."""
    p = section(params, "topics", TopicsParams)
    for path in (paths.POSTS, paths.EMBEDDINGS):
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing; run ingest and embed first")
    posts = pl.read_parquet(paths.POSTS, columns=list(COLUMNS))
    accounts = pl.read_parquet(paths.ACCOUNTS)
    reactions = pl.read_parquet(paths.REACTIONS)
    out = compute(posts, paths.EMBEDDINGS, accounts, reactions, p)
    metrics = out["metrics"]
    if groundtruth.has_truth(params):
        truth_accounts, truth_posts = groundtruth.load_truth(params, accounts)
        metrics["ground_truth_demo"] = attribution.evaluate_demo(
            out["account_topics"], out["primary"], truth_accounts, truth_posts
        )
    if (posts["kind"] == "answer").any():
        metrics["ground_truth_answer_tags"] = attribution.evaluate_tags(
            out["account_topics"], out["primary"], posts
        )
    for name, path in paths.TOPIC_TABLES.items():
        write_parquet(out[name], path)
    write_json(metrics, paths.TOPICS_METRICS)
    log.info(
        "topics: %d posts -> %d topics (%s), outliers %.1f %% (%d reassigned), NMI %.3f, "
        "stability %.3f; attributed pairs naive %d, evidence %d",
        metrics["n_posts_embedded"],
        metrics["n_topics"],
        p.method,
        100 * (metrics["outlier_share"] or 0),
        metrics["n_outliers_reassigned"],
        metrics["vs_labels"]["nmi"] or float("nan"),
        metrics["stability_mean_pairwise_ari"] or float("nan"),
        metrics["attribution"]["naive"]["n_attributed"],
        metrics["attribution"]["evidence"]["n_attributed"],
    )
    return 0
