"""Stage ``topics``: keywords of every topic (class-based TF-IDF), the topic table, diversity.

:func:`ctfidf_keywords` counts the words of each topic's texts batch by batch (BERTopic's
c-TF-IDF, ties broken alphabetically); :func:`topic_table` labels each topic with its id and top
keywords; :func:`diversity` is the unique share of the top keywords.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import numpy as np
import polars as pl

from analysis import vectors
from analysis.topics_clustering import OUTLIER
from analysis.vectors import MEAN_EMBEDDING

#: The scrubber's placeholders (``privacy.PLACEHOLDERS``) tokenise to these words.
PLACEHOLDER_WORDS = ("handle", "email", "url", "phone", "user")


def ctfidf_keywords(
    texts: list[str] | pl.Series,
    labels: np.ndarray,
    n_keywords: int = 10,
    extra_stop_words: tuple[str, ...] = PLACEHOLDER_WORDS,
    batch_rows: int | None = None,
) -> dict[int, list[str]]:
    """Top words of every topic by class-based TF-IDF (BERTopic's c-TF-IDF).

    score(t, c) = tf(t, c) / |c| * log(1 + A / f(t)), with tf the count of word t in the texts
    of topic c, |c| the number of words of c, A the mean number of words per topic and f(t) the
    count of t over all topics. Outlier texts (label -1) are left out.

    The words are counted ``batch_rows`` texts at a time (default
    :data:`analysis.vectors.BATCH_ROWS`): :func:`ctfidf_keywords_batches` over the slices.
    """
    labels = np.asarray(labels)
    size = batch_rows or vectors.BATCH_ROWS
    return ctfidf_keywords_batches(
        (
            (texts[start : start + size], labels[start : start + size])
            for start in range(0, len(labels), size)
        ),
        [int(t) for t in np.unique(labels) if t != OUTLIER],
        n_keywords,
        extra_stop_words,
    )


def ctfidf_keywords_batches(
    batches: Iterable[tuple[list[str] | pl.Series, np.ndarray]],
    topic_ids: list[int],
    n_keywords: int = 10,
    extra_stop_words: tuple[str, ...] = PLACEHOLDER_WORDS,
) -> dict[int, list[str]]:
    """:func:`ctfidf_keywords` of texts given batch by batch, each with its topics' labels.

    Only the counts per topic and word are kept, never one document of all a topic's texts, and
    the texts may come in any order and batches (the stage reads them from the posts file):
    counts are integers, so any batching gives the same keywords as CountVectorizer over one
    document per topic (a space between two texts ends every token, so tokenising texts apart
    or joined gives the same words). ``topic_ids``: the topics (labels of other values, the
    outliers' included, are left out).
    """
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer

    ids = sorted(topic_ids)
    if not ids:
        return {}
    analyze = CountVectorizer(
        stop_words=sorted(ENGLISH_STOP_WORDS | set(extra_stop_words)),
        token_pattern=r"(?u)\b[^\W\d_][\w'-]*[^\W_]\b",
    ).build_analyzer()
    per_topic: dict[int, Counter[str]] = {c: Counter() for c in ids}
    for chunk, lab in batches:
        batch = chunk.to_list() if isinstance(chunk, pl.Series) else list(chunk)
        lab = np.asarray(lab)
        by_label = np.argsort(lab, kind="stable")
        first = np.searchsorted(lab[by_label], ids, side="left")
        end = np.searchsorted(lab[by_label], ids, side="right")
        for j, c in enumerate(ids):
            doc = " ".join(t for i in by_label[first[j] : end[j]] if (t := batch[i]))
            per_topic[c].update(analyze(doc))
    words = np.asarray(sorted(set().union(*per_topic.values())), dtype=object)
    if not words.size:  # every text is stop words only
        return {c: [] for c in ids}
    column = {w: j for j, w in enumerate(words)}
    counts = np.zeros((len(ids), len(words)), dtype=np.float64)
    for row, c in enumerate(ids):
        for w, n in per_topic[c].items():
            counts[row, column[w]] = n
    per_class = counts.sum(axis=1, keepdims=True)
    tf = counts / np.where(per_class == 0, 1, per_class)
    avg_words = per_class.mean()
    idf = np.log(1 + avg_words / np.maximum(counts.sum(axis=0), 1))
    score = tf * idf
    out: dict[int, list[str]] = {}
    for row, c in enumerate(ids):
        order = np.lexsort((words, -score[row]))  # ties broken alphabetically: deterministic
        out[c] = [str(words[j]) for j in order[:n_keywords] if score[row, j] > 0]
    return out


def topic_table(
    labels: np.ndarray,
    keywords: dict[int, list[str]],
    means: tuple[np.ndarray, np.ndarray] | None = None,
) -> pl.DataFrame:
    """``topic_id``, ``label`` (id + top 3 keywords), ``keywords``, ``n_posts`` (primary) and,
    with ``means`` (topic ids, one mean vector each), :data:`MEAN_EMBEDDING`."""
    ids, counts = np.unique(labels, return_counts=True)
    rows = []
    for t, n in zip(ids, counts, strict=True):
        kw = keywords.get(int(t), []) if t != OUTLIER else []
        label = "outliers" if t == OUTLIER else "_".join([str(t), *kw[:3]])
        rows.append({"topic_id": int(t), "label": label, "keywords": kw, "n_posts": int(n)})
    table = pl.DataFrame(
        rows,
        schema={
            "topic_id": pl.Int64,
            "label": pl.String,
            "keywords": pl.List(pl.String),
            "n_posts": pl.Int64,
        },
    )
    if means is None:
        return table
    mean_ids, vecs = means
    by_id = pl.DataFrame(
        {"topic_id": mean_ids, MEAN_EMBEDDING: vecs},
        schema={"topic_id": pl.Int64, MEAN_EMBEDDING: pl.Array(pl.Float64, vecs.shape[1])},
    )
    return table.join(by_id, on="topic_id", how="left", maintain_order="left")


def diversity(keywords: dict[int, list[str]], top: int = 10) -> float | None:
    """Share of unique words among the top-``top`` keywords of all topics (1 = no overlap)."""
    words = [w for kw in keywords.values() for w in kw[:top]]
    return len(set(words)) / len(words) if words else None
