"""Stage ``topics``: keywords of every topic (class-based TF-IDF), the topic table, diversity.

:func:`ctfidf_keywords` counts the words of each topic's texts batch by batch (BERTopic's
c-TF-IDF, ties broken alphabetically); :func:`topic_table` labels each topic with its id and top
keywords; :func:`diversity` is the unique share of the top keywords. Used by stage
``topic_fit``, which writes the keywords into ``topic_model.json``; ``topics`` labels by them.

A keyword is published (the topic table, its label, the report), so a word is a topic's
keyword only where at least ``min_authors`` distinct authors (``privacy.min_cell_k``) use it
in that topic's texts: a word that one person alone writes (a nickname, a signature, a farm,
an employer) identifies them however many authors the topic has. Before, one author writing
"Zyxwick Farm" in 40 posts of a 31-author topic made its label ``0_zyxwick_...``; on the
Stack Exchange beer dump the label ``2_beer_day_national`` carried "national", 87 of its 91
uses in the topic by one author (3 authors in all). Authors per word are counted as
``privacy.ordinary_words`` counts them (distinct ``(word, author)`` pairs,
``names.author_counts``), per topic.

The scores themselves still count every use (occurrences, not authors): counting each author's
uses once (document frequency by author) was measured on beer and not kept. It turned the
labels generic ("4_like_cocktail_recipe", "10_taste_just_like") and needs every (topic, word,
author) triple held to the end, which grows with the dump; the rule needs only the triples of
words not yet used by ``min_authors`` authors.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import numpy as np
import polars as pl

from analysis import vectors
from analysis.config import PrivacyParams
from analysis.names import author_counts
from analysis.topics_clustering import OUTLIER
from analysis.vectors import MEAN_EMBEDDING

log = logging.getLogger(__name__)

#: The scrubber's placeholders (``privacy.PLACEHOLDERS``) tokenise to these words.
PLACEHOLDER_WORDS = ("handle", "email", "url", "phone", "user")

#: scikit-learn's CountVectorizer pattern of the c-TF-IDF (words of 2+ characters, starting with
#: a letter), run by polars' (Rust) regex on the lower-cased texts. It gives CountVectorizer's
#: words except where a combining mark follows a non-letter: Rust's ``\w`` holds the marks,
#: Python's does not (beer writes the degree sign as U+030A before "C": Rust finds the word
#: "\u030ac", Python none; 5 of beer's 6,740 texts).
TOKEN_PATTERN = r"\b[^\W\d_][\w'-]*[^\W_]\b"

#: ``privacy.min_cell_k``'s default: the fewest distinct authors of a topic's keyword.
MIN_AUTHORS: int = PrivacyParams.model_fields["min_cell_k"].default

#: Texts tokenised at once: a batch of 50,000 Stack Exchange posts is ~4M words, ~350 MB
#: while they are counted; 10,000 at a time, ~70 MB.
TOKEN_ROWS = 10_000

#: The fewest counted rows gathered before they are added up: (topic, word) uses, and (topic,
#: word, author) rows, whose (topic, word) pairs that reach ``min_authors`` then drop their
#: rows. Added up whenever they outnumber twice the rows already held, so the work stays
#: linear in the rows and memory near what the totals hold (the words of each topic, the
#: authors of the words of fewer than ``min_authors``), whatever the size of the dump.
REDUCE_ROWS = 500_000

_KEY = ("topic_id", "w")


def ctfidf_keywords(
    texts: list[str] | pl.Series,
    labels: np.ndarray,
    authors: list[str] | pl.Series,
    n_keywords: int = 10,
    min_authors: int = MIN_AUTHORS,
    extra_stop_words: tuple[str, ...] = PLACEHOLDER_WORDS,
    batch_rows: int | None = None,
) -> dict[int, list[str]]:
    """Top words of every topic by class-based TF-IDF (BERTopic's c-TF-IDF), among the words
    at least ``min_authors`` distinct authors use in the topic.

    score(t, c) = tf(t, c) / |c| * log(1 + A / f(t)), with tf the count of word t in the texts
    of topic c, |c| the number of words of c, A the mean number of words per topic and f(t) the
    count of t over all topics. Outlier texts (label -1) are left out. ``authors``: the
    author (``account_id``) of each text. A word of fewer authors in a topic is never among
    its keywords; it still counts in |c|, A and f(t), so the other words score as before.

    The words are counted ``batch_rows`` texts at a time (default
    :data:`analysis.vectors.BATCH_ROWS`): :func:`ctfidf_keywords_batches` over the slices.
    """
    labels = np.asarray(labels)
    if len(texts) != labels.size or len(authors) != labels.size:
        raise ValueError(
            f"{len(texts)} texts, {len(authors)} authors and {labels.size} labels: one each"
        )
    size = batch_rows or vectors.BATCH_ROWS
    return ctfidf_keywords_batches(
        (
            (
                texts[start : start + size],
                authors[start : start + size],
                labels[start : start + size],
            )
            for start in range(0, len(labels), size)
        ),
        [int(t) for t in np.unique(labels) if t != OUTLIER],
        n_keywords,
        min_authors,
        extra_stop_words,
    )


def ctfidf_keywords_batches(
    batches: Iterable[tuple[list[str] | pl.Series, list[str] | pl.Series, np.ndarray]],
    topic_ids: list[int],
    n_keywords: int = 10,
    min_authors: int = MIN_AUTHORS,
    extra_stop_words: tuple[str, ...] = PLACEHOLDER_WORDS,
) -> dict[int, list[str]]:
    """:func:`ctfidf_keywords` of texts given batch by batch: (texts, their authors, their
    topics' labels).

    Only counts are kept, never one document of all a topic's texts: the uses of each
    (topic, word), and the distinct authors of each (topic, word) until it has
    ``min_authors`` of them. The texts may come in any order and batches (the stage reads them
    from the posts file): counts are integers and distinct authors are counted over the
    batches' pairs put together, so any batching gives the same keywords. Tokenised as
    CountVectorizer's one document per topic would be (a space between two texts ends every
    token, so tokenising texts apart or joined gives the same words; :data:`TOKEN_PATTERN`).
    ``topic_ids``: the topics (labels of other values, the outliers' included, are left out).
    """
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    ids = sorted(topic_ids)
    if not ids:
        return {}
    stop = pl.Series(sorted(ENGLISH_STOP_WORDS | set(extra_stop_words)), dtype=pl.String)
    uses = _Totals()
    authors = _Authors(min_authors)
    for texts, who, lab in batches:
        batch = pl.DataFrame(
            {
                "topic_id": np.asarray(lab, dtype=np.int64),
                "account_id": pl.Series(who, dtype=pl.String),
                "text": pl.Series(texts, dtype=pl.String),
            }
        )
        for part in batch.iter_slices(TOKEN_ROWS):
            _count_words(part, ids, stop, uses, authors)
    counted = uses.total().with_columns(pl.col("w").cast(pl.String))
    if not counted.height:  # every text is stop words only
        return {c: [] for c in ids}
    words = counted["w"].unique().sort()
    word_ix = pl.DataFrame({"w": words, "col": np.arange(words.len())})
    topic_ix = pl.DataFrame({"topic_id": ids, "row": np.arange(len(ids))})
    cells = counted.join(word_ix, on="w").join(topic_ix, on="topic_id")
    counts = np.zeros((len(ids), words.len()), dtype=np.float64)
    counts[cells["row"].to_numpy(), cells["col"].to_numpy()] = cells["n"].to_numpy()
    allowed = np.zeros(counts.shape, dtype=bool)
    ok = (
        authors.enough()
        .with_columns(pl.col("w").cast(pl.String))
        .join(word_ix, on="w")
        .join(topic_ix, on="topic_id")
    )
    allowed[ok["row"].to_numpy(), ok["col"].to_numpy()] = True
    log.info(
        "keywords: %d words of %d topics, %d of %d (topic, word) pairs used by %d+ authors "
        "(only those can be keywords)",
        words.len(),
        len(ids),
        ok.height,
        counted.height,
        min_authors,
    )
    per_class = counts.sum(axis=1, keepdims=True)
    tf = counts / np.where(per_class == 0, 1, per_class)
    avg_words = per_class.mean()
    idf = np.log(1 + avg_words / np.maximum(counts.sum(axis=0), 1))
    score = np.where(allowed, tf * idf, 0.0)
    vocab = np.asarray(words.to_list(), dtype=object)
    out: dict[int, list[str]] = {}
    for row, c in enumerate(ids):
        order = np.lexsort((vocab, -score[row]))  # ties broken alphabetically: deterministic
        out[c] = [str(vocab[j]) for j in order[:n_keywords] if score[row, j] > 0]
    return out


def _count_words(
    part: pl.DataFrame, ids: list[int], stop: pl.Series, uses: _Totals, authors: _Authors
) -> None:
    """Add the words of ``part``'s texts (``topic_id``, ``account_id``, ``text``) of the
    topics ``ids`` to ``uses`` and ``authors`` (stop words left out)."""
    words = (
        part.lazy()
        .filter(pl.col("topic_id").is_in(ids))
        .select(
            "topic_id",
            "account_id",
            w=pl.col("text").str.to_lowercase().str.extract_all(TOKEN_PATTERN),
        )
        .explode("w")
        .filter(pl.col("w").is_not_null() & ~pl.col("w").is_in(stop.implode()))
        # as codes: a string kept from a batch would hold the whole batch's words in memory
        .with_columns(pl.col("w", "account_id").cast(pl.Categorical))
        .group_by(*_KEY, "account_id")
        .agg(n=pl.len())
        .collect()
    )
    uses.add(words.group_by(_KEY).agg(pl.col("n").sum()))
    authors.add(words.drop("n"))


class _Totals:
    """Uses of each (topic, word), summed over the batches (the parts are added up whenever
    they outnumber twice the running total's rows, so the work stays linear in the rows)."""

    def __init__(self) -> None:
        self.summed = pl.DataFrame(
            schema={"topic_id": pl.Int64, "w": pl.Categorical, "n": pl.Int64}
        )
        self.parts: list[pl.DataFrame] = []
        self.n_rows = 0

    def add(self, part: pl.DataFrame) -> None:
        self.parts.append(part.with_columns(pl.col("n").cast(pl.Int64)))
        self.n_rows += part.height
        if self.n_rows > max(REDUCE_ROWS, 2 * self.summed.height):
            self.total()

    def total(self) -> pl.DataFrame:
        self.summed = pl.concat([self.summed, *self.parts]).group_by(_KEY).agg(pl.col("n").sum())
        self.parts, self.n_rows = [], 0
        return self.summed


class _Authors:
    """Which (topic, word) pairs at least ``k`` distinct authors use (``author_counts``).

    Holds the distinct (topic, word, author) rows of the pairs not yet at ``k``; a pair that
    reaches ``k`` is kept as settled and its rows dropped (the next batches' rows of it too,
    at the next count). Counted again whenever the new rows outnumber twice those held.
    """

    def __init__(self, k: int) -> None:
        self.k = k
        self.held = pl.DataFrame(
            schema={"topic_id": pl.Int64, "w": pl.Categorical, "account_id": pl.Categorical}
        )
        self.settled = self.held.select(_KEY)
        self.parts: list[pl.DataFrame] = []
        self.n_rows = 0

    def add(self, rows: pl.DataFrame) -> None:
        self.parts.append(rows)
        self.n_rows += rows.height
        if self.n_rows > max(REDUCE_ROWS, 2 * (self.held.height + self.settled.height)):
            self._count()

    def _count(self) -> None:
        rows = pl.concat([self.held, *self.parts]).join(self.settled, on=_KEY, how="anti").unique()
        n = author_counts(rows, _KEY)
        reached = n.filter(pl.col("n_authors") >= self.k).select(_KEY)
        self.settled = pl.concat([self.settled, reached])
        self.held = rows.join(reached, on=_KEY, how="anti")
        self.parts, self.n_rows = [], 0

    def enough(self) -> pl.DataFrame:
        """The (topic, word) pairs of at least ``k`` distinct authors, over every batch."""
        self._count()
        return self.settled


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
