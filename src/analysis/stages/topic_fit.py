"""Stage ``topic_fit``: cluster the posts' embeddings into topics, the fit ``topics`` assigns by.

Reads ``data/interim/posts.parquet`` (ids and times; the texts and their authors batch by
batch, for the keywords), ``data/processed/embeddings/`` and ``reports/metrics/ingest.json``
(the removed accounts' digest, recorded in the fit); writes
``data/processed/topic_model.json`` (:class:`analysis.contracts.TopicFit`: centroids, keywords
and the fit's figures; no pseudonym, no post). A keyword is a word that at least
``privacy.min_cell_k`` distinct authors use in the topic (``topics_keywords``): the keywords
and the labels made of them are published.

This is the costly half of the topics: the choice of k, the seeded fits of the stability check
and a pass over every vector (at 1M posts ~70 of the former stage's 95 s). Refit on a schedule
by freezing it (``dvc freeze topic_fit``): ``topics`` then gives every new post its topic by
the fitted rule, ids and keywords unchanged, and the report says how many posts the fit has
not seen. Unfrozen, ``dvc repro`` refits whenever the posts or their vectors change. The fit
records ingest's digest of the removed accounts: when an account is erased, flagged a minor or
opts out after a frozen fit, the report refuses to publish its keywords until it is refitted.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from analysis import contracts, paths, vectors
from analysis.config import PrivacyParams, section
from analysis.contracts import TopicFit
from analysis.embed import EmbedParams, vector_space
from analysis.io import read_contiguous, read_json, table_batches
from analysis.topics import TopicsParams, post_vectors, topic_fit
from analysis.topics_clustering import OUTLIER, cluster_with_stability
from analysis.topics_keywords import MIN_AUTHORS, ctfidf_keywords_batches

log = logging.getLogger(__name__)

#: The posts' columns the fit reads whole (the texts are read from the file in batches).
COLUMNS = ("post_id", "created_at")

#: The posts' columns the keywords read batch by batch: each text and its author.
TEXT_COLUMNS = ["text", "account_id"]

#: The posts' :data:`TEXT_COLUMNS`, batch by batch in the rows' order, at each call.
Texts = Callable[[], Iterator[pl.DataFrame]]


def fit(
    posts: pl.DataFrame,
    embeddings: pl.DataFrame | Path,
    p: TopicsParams,
    texts: Texts | None = None,
    space: str = "unspecified",
    min_authors: int = MIN_AUTHORS,
) -> TopicFit:
    """The topics of the embedded posts (no I/O but the vectors' batches when ``embeddings``
    is a path, and the texts' when ``texts`` reads them).

    ``texts``: when ``posts`` holds no ``text`` column, each call gives the posts' texts and
    authors (:data:`TEXT_COLUMNS`) batch by batch in the rows' order (read once, for the
    keywords; at 10M posts ~1 GiB); else ``posts`` holds ``text`` and ``account_id``.
    ``space``: what the vectors are (``embed.vector_space``), recorded for ``topics``.
    ``min_authors``: the fewest distinct authors of a keyword in its topic
    (``privacy.min_cell_k``).
    """
    if texts is None:
        size = vectors.BATCH_ROWS
        held = posts.select(TEXT_COLUMNS)
        texts = lambda: (held.slice(i, size) for i in range(0, held.height, size))  # noqa: E731
    emb, x = post_vectors(posts, embeddings)
    log.info(
        "topic_fit: clustering %d posts (%s, k %s)",
        len(x),
        p.method,
        p.n_topics or f"by silhouette over {list(p.k_grid)}",
    )
    res, ari = cluster_with_stability(x, p)
    log.info(
        "topic_fit: %d topics in %.1f s (the stability refits included); keywords",
        len(res.topic_ids),
        res.seconds,
    )
    keywords = ctfidf_keywords_batches(
        _texts_with_labels(texts, posts["post_id"], emb["post_id"], res.labels),
        [int(t) for t in np.unique(res.labels) if t != OUTLIER],
        p.n_keywords,
        min_authors,
    )
    # the k the keywords were chosen at: the report refuses a frozen fit of a smaller k
    return topic_fit(res, keywords, ari, emb, p, space).model_copy(
        update={"min_cell_k": min_authors}
    )


def _texts_with_labels(
    texts: Texts, post_ids: pl.Series, clustered: pl.Series, labels: np.ndarray
) -> Iterator[tuple[pl.Series, pl.Series, np.ndarray]]:
    """The texts' batches, each with its posts' authors and topic labels (OUTLIER for a post
    not clustered: left out of the keywords). ``clustered`` are the post ids the labels are
    of, in their order."""
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
        n = batch.height
        if start + n > label.size:  # checked before counting: the labels' slice would be short
            raise RuntimeError(f"topic_fit: {start + n} texts read for {label.size} posts")
        yield batch["text"].fill_null(""), batch["account_id"], label[start : start + n]
        start += n
    if start != label.size:
        raise RuntimeError(f"topic_fit: {start} texts read for {label.size} posts")


def file_texts(path: Path) -> Texts:
    """The texts and authors of the posts file, :data:`analysis.vectors.BATCH_ROWS` rows at a
    time."""
    return lambda: (
        t.cast(dict.fromkeys(TEXT_COLUMNS, pl.String))
        for t in table_batches(path, TEXT_COLUMNS, vectors.BATCH_ROWS)
    )


def run(params: dict[str, Any], args: argparse.Namespace) -> int:
    """Fit the topics; write ``topic_model.json``."""
    p = section(params, "topics", TopicsParams)
    k = section(params, "privacy", PrivacyParams).min_cell_k
    for path in (paths.POSTS, paths.EMBEDDINGS):
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing; run ingest and embed first")
    # the ids as 64-bit numbers where they are pseudonyms (schema.post_numbers), else text
    posts = read_contiguous(paths.POSTS, COLUMNS, numbers=("post_id",))
    space = vector_space(section(params, "embed", EmbedParams), posts.height)
    model = fit(posts, paths.EMBEDDINGS, p, file_texts(paths.POSTS), space, k)
    # the accounts removed when the fit ran: a frozen fit's keywords hold their authors' words,
    # so the report checks that ingest has removed no one since (stages.report)
    removed = (
        read_json(paths.INGEST_METRICS).get("removed_accounts_sha256")
        if paths.INGEST_METRICS.exists()
        else None
    )
    model = model.model_copy(update={"removed_accounts_sha256": removed})
    contracts.write(model, paths.TOPIC_MODEL)
    log.info(
        "topic_fit: %d posts through %s -> %d topics (%s), stability %.3f, diversity %.2f",
        model.n_posts,
        model.fitted_through,
        model.n_topics,
        p.method,
        model.stability_mean_pairwise_ari or float("nan"),
        model.topic_diversity or float("nan"),
    )
    return 0
