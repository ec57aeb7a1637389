"""Stage ``topics``: cluster embeddings into topics, attribute topics to accounts, evaluate.

Reads ``data/interim/{posts,accounts,reactions}.parquet`` and ``data/processed/embeddings.parquet``;
writes ``data/processed/{topics,post_topics,account_topics}.parquet`` and
``reports/metrics/topics.json`` (quality metrics, and the ground-truth evaluation where there is
truth: planted roles on the demo, answer tags on Stack Exchange).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from analysis import attribution, groundtruth, ordering, paths, vectors
from analysis.config import section
from analysis.io import column_batches, write_json, write_parquet
from analysis.topics import TopicsParams, agreement, post_vectors
from analysis.topics_clustering import OUTLIER, cluster_with_stability, soft_membership
from analysis.topics_keywords import ctfidf_keywords_batches, diversity, topic_table

log = logging.getLogger(__name__)

#: The posts' columns the stage uses: ordering and keywords (``created_at``, ``text``), the
#: labels' agreement, attribution's engagements (``account_id``, ``parent_post_id``) and the
#: answer-tag truth (``kind``, ``score``). Reach, counts and the other ids are not read (at 10M
#: posts ~1 GiB of the table); the texts are read from the file in batches, never held whole.
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


#: The posts' texts, batch by batch in the rows' order, at each call.
Texts = Callable[[], Iterator[pl.Series]]


def compute(
    posts: pl.DataFrame,
    embeddings: pl.DataFrame | Path,
    accounts: pl.DataFrame,
    reactions: pl.DataFrame,
    p: TopicsParams,
    texts: Texts | None = None,
) -> dict[str, Any]:
    """Everything the stage writes, as frames and a metrics dict (no I/O but the vectors'
    batches when ``embeddings`` is a path, and the texts' when ``texts`` reads them).

    ``texts``: when ``posts`` holds no ``text`` column, each call gives the posts' texts batch
    by batch, in the rows' order (the stage reads them from the posts file twice: hashed for
    the key-independent order, then counted for the keywords; at 10M posts they are ~1 GiB,
    and their copies in the joins and sorts several more).
    """
    if texts is None:
        size = vectors.BATCH_ROWS
        texts = lambda: (posts["text"].slice(i, size) for i in range(0, posts.height, size))  # noqa: E731
    else:
        hashes = pl.concat([t.to_frame("text").select(ordering.text_hash()) for t in texts()])
        if hashes.height != posts.height:
            raise RuntimeError(f"topics: {hashes.height} texts read for {posts.height} posts")
        posts = posts.with_columns(hashes.to_series().alias(ordering.TEXT_HASH))
    emb, x = post_vectors(posts, embeddings)
    data = emb.select("post_id").join(
        posts.select("post_id", "labels"), on="post_id", how="left", maintain_order="left"
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
    keywords = ctfidf_keywords_batches(
        _texts_with_labels(texts, posts["post_id"], data["post_id"], res.labels),
        [int(t) for t in np.unique(res.labels) if t != OUTLIER],
        p.n_keywords,
    )
    topics = topic_table(res.labels, keywords)
    soft = soft_membership(x, res.labels, res.centroids, p)
    post_ids = data["post_id"]
    post_topics = soft.with_columns(post_id=post_ids.gather(soft["row"])).select(
        "post_id", "topic_id", "probability", "is_primary"
    )
    primary = post_topics.filter("is_primary").select("post_id", "topic_id")
    account_topics = attribution.attribute(posts, reactions, accounts, primary, p)
    first = data["labels"].list.first()
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


def _texts_with_labels(
    texts: Texts, post_ids: pl.Series, clustered: pl.Series, labels: np.ndarray
) -> Iterator[tuple[pl.Series, np.ndarray]]:
    """The texts' batches, each with its posts' topic labels (OUTLIER for a post not clustered:
    left out of the keywords). ``clustered`` are the post ids the labels are of, in their order."""
    label = (
        pl.DataFrame({"post_id": post_ids})
        .join(
            pl.DataFrame({"post_id": clustered, "_l": labels}),
            on="post_id",
            how="left",
            maintain_order="left",
        )["_l"]
        .fill_null(OUTLIER)
        .to_numpy()
    )
    start = 0
    for batch in texts():
        yield batch.fill_null(""), label[start : start + batch.len()]
        start += batch.len()
    if start != label.size:
        raise RuntimeError(f"topics: {start} texts read for {label.size} posts")


def _file_texts(path: Path) -> Texts:
    """The texts of the posts file, :data:`analysis.vectors.BATCH_ROWS` rows at a time."""
    return lambda: (t.cast(pl.String) for t in column_batches(path, "text", vectors.BATCH_ROWS))


def run(params: dict[str, Any], args: argparse.Namespace) -> int:
    """Cluster, label, attribute and evaluate; write the four outputs."""
    p = section(params, "topics", TopicsParams)
    for path in (paths.POSTS, paths.EMBEDDINGS):
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing; run ingest and embed first")
    # the texts stay in the file: read twice batch by batch (hashed, then counted)
    posts = pl.read_parquet(paths.POSTS, columns=[c for c in COLUMNS if c != "text"])
    accounts = pl.read_parquet(paths.ACCOUNTS)
    reactions = pl.read_parquet(paths.REACTIONS)
    out = compute(posts, paths.EMBEDDINGS, accounts, reactions, p, _file_texts(paths.POSTS))
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
