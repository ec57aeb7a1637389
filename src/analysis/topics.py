"""Topics of posts (logic of stage ``topics``; I/O lives in ``stages/topics.py``).

Reads post embeddings (``embed``), returns topics, keywords and soft memberships; the account
attribution built on them is in ``attribution.py``.

Method chosen by measurement (``benchmarks/topics.py``; 2 cores, seed 42, all-MiniLM-L6-v2
vectors). Demo with default params: 14,828 posts, 10 planted subjects (8 + "dolls" + "spam").
Stack Exchange: french-meta, 2,079 posts and comments, labels = first tag (meta tags such as
"discussion" are not topical, so NMI is low for every method there)::

    data         method               k   NMI    ARI    outliers  stability  diversity  s/fit
    demo         kmeans, auto k      30   0.758  0.466   0.0 %    0.640      0.72       10.1
    demo         kmeans, k=10        10   0.793  0.661   0.0 %    0.848      0.97        9.7
    demo         agglomerative, k=10 10   0.839  0.738   0.0 %    0.911      0.98       33.7
    demo         agglomerative, auto 30   0.797  0.660   0.0 %    0.830      0.69       38.0
    demo         HDBSCAN (mcs 25)    12   0.426  0.113   5.8 %    0.865      0.51       20.5
    demo         HDBSCAN, no reassign 12  0.379  0.103  13.1 %    0.750      0.55       22.9
    demo         BERTopic 0.17 dflt 415   0.525  0.186  14.1 %    n/a (UMAP unseeded) 0.08  91.0
    french-meta  kmeans, auto k       6   0.052  0.012   0.0 %    0.852      0.65       16.1
    french-meta  kmeans, k=10        10   0.059  0.010   0.0 %    0.612      0.69        2.6
    french-meta  agglomerative, k=10 10   0.053  0.050   0.0 %    1.000      0.92        0.4
    french-meta  agglomerative, auto  6   0.028  0.034   0.0 %    1.000      0.90        6.4
    beer         kmeans, auto k      10   0.194  0.064   0.0 %    0.751      0.74        6.7
    beer         agglomerative, auto 10   0.030  0.001   0.0 %    1.000      0.96       12.1

Beer (6,941 questions, answers, comments; 121 first tags): evidence-based P@3 of answerers'
score-weighted tags 0.563 vs naive 0.479 on the same answerers with k-means (0.427 vs 0.357
with agglomerative).

(stability = mean pairwise ARI over 5 seeds; diversity = unique share of the top-10 keywords.)
Agglomerative (average linkage, cosine) wins on the demo at equal k, but on real data it
degenerates into one giant cluster plus crumbs (beer: NMI 0.03, "stability" 1.0 because every
seed gives the same giant cluster). k-means is close on the demo and clearly better on real
data, and fast: it is the default. HDBSCAN lumps most of the demo into one cluster and leaves
6-13 % outliers. The silhouette choice of k over-splits the demo (30 topics for 10 subjects):
set ``n_topics`` when the number is known.

All methods fit on at most ``fit_max_posts`` posts (a seeded sample; agglomerative and HDBSCAN
are quadratic) and every other post joins the nearest centroid, so the three are comparable.
Outliers (HDBSCAN's -1) join the nearest centroid when their cosine to it reaches
``outlier_min_cosine``, otherwise they stay topic -1 and are counted.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

import numpy as np
import polars as pl
from pydantic import Field
from sklearn.cluster import HDBSCAN, AgglomerativeClustering, KMeans
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score, silhouette_score

from analysis import ordering, vectors
from analysis.config import Frozen
from analysis.vectors import ArrayVectors, Vectors

log = logging.getLogger(__name__)

#: The scrubber's placeholders (``privacy.PLACEHOLDERS``) tokenise to these words.
PLACEHOLDER_WORDS = ("handle", "email", "url", "phone", "user")
OUTLIER = -1


class TopicsParams(Frozen):
    """``topics``: clustering, keywords, soft membership and attribution."""

    method: Literal["kmeans", "agglomerative", "hdbscan"] = "kmeans"
    #: Number of topics; 0 = choose by cosine silhouette over ``k_grid`` (k-means/agglomerative).
    n_topics: int = Field(0, ge=0)
    k_grid: tuple[int, ...] = (6, 8, 10, 12, 15, 20, 25, 30)
    #: How ``n_topics: 0`` picks k: ``silhouette`` (argmax on one sample), ``mean_silhouette``
    #: (argmax of the mean over ``k_replicates`` seeded subsamples) or ``one_se`` (the smallest
    #: k within one standard error of the best mean over those subsamples); see ``choose_k``.
    k_rule: Literal["silhouette", "mean_silhouette", "one_se"] = "silhouette"
    k_replicates: int = Field(5, ge=2)
    seed: int = 42
    #: Seeds used for the stability metric (seed, seed+1, ...).
    n_stability_seeds: int = Field(5, ge=2)
    fit_max_posts: int = Field(8000, ge=100)
    hdbscan_min_cluster_size: int = Field(25, ge=2)
    #: Outliers join the nearest topic when their cosine to its centroid is at least this.
    outlier_min_cosine: float = Field(0.35, ge=-1, le=1)
    max_topics_per_post: int = Field(3, ge=1)
    #: Softmax temperature over cosines to centroids (smaller = harder memberships).
    softmax_temperature: float = Field(0.05, gt=0)
    min_probability: float = Field(0.1, ge=0, le=1)
    n_keywords: int = Field(10, ge=1)
    threads: int = Field(2, ge=1)
    # --- attribution (attribution.py)
    #: Evidence-based attribution needs at least this many posts in the topic ...
    min_posts: int = Field(3, ge=1)
    #: ... and this many distinct other participants who replied to or reacted to them.
    min_engagers: int = Field(2, ge=0)
    #: Width of the credible interval of relative engagement.
    interval: float = Field(0.9, gt=0, lt=1)
    #: Optional: also require the interval's lower end to reach this (1 = topic baseline).
    min_ci_low: float | None = None


# ---------------------------------------------------------------------------- clustering
def normalise(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero)."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.where(norms == 0, 1, norms)).astype(np.float32)


def centroids(x: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit-norm mean vector of every non-outlier label; returns (topic ids, centroids)."""
    ids = np.unique(labels[labels != OUTLIER])
    if ids.size == 0:
        return ids, np.zeros((0, x.shape[1]), dtype=np.float32)
    cents = np.stack([x[labels == t].mean(axis=0) for t in ids])
    return ids, normalise(cents)


@dataclass(frozen=True)
class _Unit:
    """:class:`analysis.vectors.Vectors` with every row scaled by :func:`normalise`."""

    src: Vectors

    @property
    def dim(self) -> int:
        return self.src.dim

    def __len__(self) -> int:
        return len(self.src)

    def batches(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for pos, x in self.src.batches():
            yield pos, normalise(x)

    def take(self, positions: np.ndarray) -> np.ndarray:
        return normalise(self.src.take(positions))


def _rows(x: np.ndarray | Vectors, idx: np.ndarray) -> np.ndarray:
    return x[idx] if isinstance(x, np.ndarray) else x.take(idx)


def _fit_labels(x: np.ndarray, method: str, k: int, seed: int, p: TopicsParams) -> np.ndarray:
    if method == "kmeans":
        return KMeans(n_clusters=k, n_init=4, random_state=seed).fit_predict(x)
    if method == "agglomerative":
        return AgglomerativeClustering(
            n_clusters=k, metric="cosine", linkage="average"
        ).fit_predict(x)
    if method == "hdbscan":
        # On unit vectors euclidean distance is a monotone function of cosine; brute force is
        # 20x faster than the tree on 384 dims (MEASURED.md).
        return HDBSCAN(
            min_cluster_size=p.hdbscan_min_cluster_size,
            algorithm="brute",
            n_jobs=p.threads,
            copy=True,
        ).fit_predict(x)
    raise ValueError(f"topics.method {method!r}: expected kmeans, agglomerative or hdbscan")


def silhouette_curve(
    x: np.ndarray | Vectors, grid: tuple[int, ...], seed: int, sample: int, replicates: int
) -> tuple[tuple[int, ...], np.ndarray]:
    """Cosine silhouette of k-means at every k of ``grid`` on ``replicates`` seeded subsamples.

    Replicate ``b`` draws its own sample of at most ``sample`` rows (seed ``[seed, b]``) and fits
    k-means with one start (``random_state = seed + b``): the spread over replicates holds both
    the sampling noise and k-means' local optima. Returns (the k tried, a replicates x k array).
    """
    started = time.perf_counter()
    size = min(sample, len(x))
    tried = tuple(k for k in grid if k < size)
    scores = np.zeros((replicates, len(tried)))
    for b in range(replicates):
        rng = np.random.default_rng([seed, b])
        xs = _rows(x, rng.choice(len(x), size=size, replace=False))
        for j, k in enumerate(tried):
            labels = KMeans(n_clusters=k, n_init=1, random_state=seed + b).fit_predict(xs)
            scores[b, j] = silhouette_score(xs, labels, metric="cosine")
        # one line per replicate: the search takes minutes on large dumps
        log.info(
            "topics: k search replicate %d/%d: %s (%.1f s)",
            b + 1,
            replicates,
            " ".join(f"k={k}:{v:.4f}" for k, v in zip(tried, scores[b], strict=True)),
            time.perf_counter() - started,
        )
    return tried, scores


def one_se_k(tried: tuple[int, ...], scores: np.ndarray) -> int:
    """The smallest k whose mean silhouette is within one standard error of the best mean
    (the one-standard-error rule of Breiman et al. 1984); the SE is that of the best k's mean
    over the replicates."""
    mean = scores.mean(axis=0)
    best = int(np.argmax(mean))
    se = scores[:, best].std(ddof=1) / math.sqrt(len(scores)) if len(scores) > 1 else 0.0
    return next(k for k, m in zip(tried, mean, strict=True) if m >= mean[best] - se)


def choose_k(
    x: np.ndarray | Vectors,
    grid: tuple[int, ...],
    seed: int,
    sample: int = 3000,
    rule: str = "silhouette",
    replicates: int = 5,
) -> int:
    """k of the grid by cosine silhouette of k-means on seeded samples.

    ``rule="silhouette"``: the argmax on one sample (k-means with two starts). On real dumps
    the curve is flat (beer: every k of the grid within 0.0033 of each other, standard error
    0.001-0.003), so its argmax moves with any small change of the vectors (docs/scaling.md).
    ``rule="one_se"``: :func:`silhouette_curve` over ``replicates`` subsamples, then
    :func:`one_se_k`: a k larger than the smallest is taken only when it beats it by more
    than the noise. It is stable where the curve is flat over the whole grid (the unit test;
    ai, quantumcomputing), but not where the best k sits about one SE above the rest
    (beer with int8 vectors). ``rule="mean_silhouette"``: the argmax of the mean curve over
    the same replicates (less noise, still an argmax). Measured in docs/scaling.md,
    "Choosing k": no rule keeps beer's k under int8 vectors, so the default stays the old one.
    """
    if rule in ("one_se", "mean_silhouette"):
        tried, scores = silhouette_curve(x, grid, seed, sample, replicates)
        if not tried:
            return grid[0]
        if rule == "one_se":
            k = one_se_k(tried, scores)
        else:
            k = tried[int(np.argmax(scores.mean(axis=0)))]
        log.info("topics: chose k=%d by %s over %d replicates", k, rule, replicates)
        return k
    if rule != "silhouette":
        raise ValueError(f"topics.k_rule {rule!r}: expected silhouette, mean_silhouette or one_se")
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    xs = _rows(x, rng.choice(len(x), size=min(sample, len(x)), replace=False))
    best, best_score = grid[0], -math.inf
    tried = [k for k in grid if k < len(xs)]
    for i, k in enumerate(tried, 1):
        labels = KMeans(n_clusters=k, n_init=2, random_state=seed).fit_predict(xs)
        score = silhouette_score(xs, labels, metric="cosine")
        # one line per k: the search takes minutes on large dumps and must not look stuck
        log.info(
            "topics: k search %d/%d: k=%d silhouette %.4f (%.1f s)",
            i,
            len(tried),
            k,
            score,
            time.perf_counter() - started,
        )
        if score > best_score:
            best, best_score = k, score
    log.info("topics: chose k=%d on %d sampled posts", best, len(xs))
    return best


@dataclass(frozen=True)
class Clustering:
    """Result of :func:`cluster_posts`: raw and final labels, centroids, counts."""

    raw_labels: np.ndarray  # clusterer's labels for every row (-1 = outlier), before reassignment
    labels: np.ndarray  # after outlier reassignment
    topic_ids: np.ndarray
    centroids: np.ndarray
    n_topics_fitted: int
    n_reassigned: int
    seconds: float


def cluster_posts(x: np.ndarray | Vectors, p: TopicsParams, seed: int | None = None) -> Clustering:
    """Cluster unit-norm embeddings; deterministic given ``seed`` (default ``p.seed``).

    Fits on a seeded sample of at most ``p.fit_max_posts`` rows, assigns every other row to the
    nearest centroid, then reassigns outliers whose best cosine reaches ``p.outlier_min_cosine``.
    ``x`` is an array or :class:`analysis.vectors.Vectors` (rows read batch by batch: only the
    fitting sample and one batch are in memory; one batch gives the array's result bit for bit).
    """
    started = time.perf_counter()
    seed = p.seed if seed is None else seed
    src = _Unit(ArrayVectors(x) if isinstance(x, np.ndarray) else x)
    n = len(src)
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Clustering(empty, empty, empty, np.zeros((0, src.dim), np.float32), 0, 0, 0.0)
    rng = np.random.default_rng(seed)
    fit_idx = (
        np.sort(rng.choice(n, size=p.fit_max_posts, replace=False))
        if n > p.fit_max_posts
        else np.arange(n)
    )
    k = p.n_topics or choose_k(src, p.k_grid, seed, rule=p.k_rule, replicates=p.k_replicates)
    k = max(1, min(k, len(fit_idx)))
    x_fit = src.take(fit_idx)
    fit_labels = _fit_labels(x_fit, p.method, k, seed, p)
    ids, cents = centroids(x_fit, fit_labels)
    del x_fit
    raw = np.full(n, OUTLIER, dtype=np.int64)
    raw[fit_idx] = fit_labels
    in_fit = np.zeros(n, dtype=bool)
    in_fit[fit_idx] = True
    labels = raw.copy()
    n_reassigned = 0
    sums = np.zeros((len(ids), src.dim), dtype=np.float64)
    counts = np.zeros(len(ids), dtype=np.int64)
    for pos, xb in src.batches():
        rest = ~in_fit[pos]
        if rest.any() and ids.size:
            raw[pos[rest]] = ids[np.argmax(xb[rest] @ cents.T, axis=1)]
        lab = raw[pos]
        out = np.flatnonzero(lab == OUTLIER)
        if out.size and ids.size:
            sims = xb[out] @ cents.T
            best = np.argmax(sims, axis=1)
            ok = sims[np.arange(out.size), best] >= p.outlier_min_cosine
            lab[out[ok]] = ids[best[ok]]
            n_reassigned += int(ok.sum())
        labels[pos] = lab
        # the unit-norm mean of every topic over all rows (``centroids``), summed batch by batch
        for j, t in enumerate(ids):
            m = lab == t
            if m.any():
                sums[j] += xb[m].sum(axis=0)
                counts[j] += int(m.sum())
    kept = counts > 0
    ids = ids[kept]
    cents = normalise((sums[kept] / counts[kept, None]).astype(np.float32))
    # Renumber topics by size (0 = largest) so ids are stable across equivalent runs.
    sizes = counts[kept]
    order = np.lexsort((ids, -sizes))
    labels, raw = _renumber(labels, ids[order]), _renumber(raw, ids[order])
    return Clustering(
        raw,
        labels,
        np.arange(len(order)),
        cents[order],
        len(ids),
        n_reassigned,
        time.perf_counter() - started,
    )


def _renumber(labels: np.ndarray, old_ids: np.ndarray) -> np.ndarray:
    """``labels`` with ``old_ids[i]`` renamed ``i``; any other label becomes ``OUTLIER``."""
    out = np.full(len(labels), OUTLIER, dtype=np.int64)
    if old_ids.size:
        by_id = np.argsort(old_ids)
        at = np.searchsorted(old_ids, labels, sorter=by_id).clip(0, len(old_ids) - 1)
        hit = old_ids[by_id[at]] == labels
        out[hit] = by_id[at[hit]]
    return out


def soft_membership(
    x: np.ndarray | Vectors, labels: np.ndarray, cents: np.ndarray, p: TopicsParams
) -> pl.DataFrame:
    """Up to ``max_topics_per_post`` topics per row with softmax-of-cosine probabilities.

    Probabilities are ``softmax(cos / temperature)`` over all centroids; topics with probability
    below ``min_probability`` are dropped except the primary one (the row's label), which is
    always kept. Outlier rows get one row with topic -1 and a null probability. ``x`` is an
    array or :class:`analysis.vectors.Vectors`, read batch by batch.

    Returns:
        Frame with ``row`` (index into ``x``), ``topic_id``, ``probability``, ``is_primary``,
        ordered by ``row``.
    """
    src = ArrayVectors(x) if isinstance(x, np.ndarray) else x
    parts = [
        soft.with_columns(row=pl.Series(pos, dtype=pl.Int64).gather(soft["row"]))
        for pos, xb in src.batches()
        for soft in (_soft_rows(xb, labels[pos], cents, p),)
    ]
    if not parts:
        return _soft_rows(np.zeros((0, src.dim), np.float32), labels[:0], cents, p)
    if len(parts) == 1:
        return parts[0]
    return pl.concat(parts).sort("row", maintain_order=True)


def _soft_rows(
    x: np.ndarray, labels: np.ndarray, cents: np.ndarray, p: TopicsParams
) -> pl.DataFrame:
    """:func:`soft_membership` of the rows of one array (``row`` = index into ``x``)."""
    x = normalise(x)
    rows, topics, probs, prim = [], [], [], []
    if len(cents):
        logits = (x @ cents.T) / p.softmax_temperature
        logits -= logits.max(axis=1, keepdims=True)
        prob = np.exp(logits)
        prob /= prob.sum(axis=1, keepdims=True)
        top = np.argsort(-prob, axis=1, kind="stable")[:, : p.max_topics_per_post]
    for i, lab in enumerate(labels):
        if lab == OUTLIER or not len(cents):
            rows.append(i), topics.append(OUTLIER), probs.append(None), prim.append(True)
            continue
        chosen = [int(t) for t in top[i] if prob[i, t] >= p.min_probability and t != lab]
        chosen = [int(lab), *chosen][: p.max_topics_per_post]
        for t in chosen:
            rows.append(i), topics.append(t), probs.append(float(prob[i, t])), prim.append(t == lab)
    return pl.DataFrame(
        {"row": rows, "topic_id": topics, "probability": probs, "is_primary": prim},
        schema={
            "row": pl.Int64,
            "topic_id": pl.Int64,
            "probability": pl.Float64,
            "is_primary": pl.Boolean,
        },
    )


# ---------------------------------------------------------------------------- keywords
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
    :data:`analysis.vectors.BATCH_ROWS`): only the counts per topic and word are kept, never one
    document of all a topic's texts. Counts are integers, so any batch size gives the same
    keywords as CountVectorizer over one document per topic (a space between two texts ends
    every token, so tokenising texts apart or joined gives the same words).
    """
    labels = np.asarray(labels)
    ids = [int(t) for t in np.unique(labels) if t != OUTLIER]
    if not ids:
        return {}
    analyze = CountVectorizer(
        stop_words=sorted(ENGLISH_STOP_WORDS | set(extra_stop_words)),
        token_pattern=r"(?u)\b[^\W\d_][\w'-]*[^\W_]\b",
    ).build_analyzer()
    per_topic: dict[int, Counter[str]] = {c: Counter() for c in ids}
    size = batch_rows or vectors.BATCH_ROWS
    for start in range(0, len(labels), size):
        chunk = texts[start : start + size]
        batch = chunk.to_list() if isinstance(chunk, pl.Series) else list(chunk)
        lab = labels[start : start + size]
        by_label = np.argsort(lab, kind="stable")
        bounds = np.searchsorted(lab[by_label], [*ids, ids[-1] + 1])
        for j, c in enumerate(ids):
            doc = " ".join(t for i in by_label[bounds[j] : bounds[j + 1]] if (t := batch[i]))
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


def topic_table(labels: np.ndarray, keywords: dict[int, list[str]]) -> pl.DataFrame:
    """``topic_id``, ``label`` (id + top 3 keywords), ``keywords``, ``n_posts`` (primary)."""
    ids, counts = np.unique(labels, return_counts=True)
    rows = []
    for t, n in zip(ids, counts, strict=True):
        kw = keywords.get(int(t), []) if t != OUTLIER else []
        label = "outliers" if t == OUTLIER else "_".join([str(t), *kw[:3]])
        rows.append({"topic_id": int(t), "label": label, "keywords": kw, "n_posts": int(n)})
    return pl.DataFrame(
        rows,
        schema={
            "topic_id": pl.Int64,
            "label": pl.String,
            "keywords": pl.List(pl.String),
            "n_posts": pl.Int64,
        },
    )


# ---------------------------------------------------------------------------- quality
def diversity(keywords: dict[int, list[str]], top: int = 10) -> float | None:
    """Share of unique words among the top-``top`` keywords of all topics (1 = no overlap)."""
    words = [w for kw in keywords.values() for w in kw[:top]]
    return len(set(words)) / len(words) if words else None


def agreement(labels: np.ndarray, truth: list[str | None]) -> dict[str, float | None]:
    """NMI and ARI of topic labels against truth labels (rows with a null truth left out).

    Outliers count as one more cluster: leaving them out would reward throwing posts away.
    """
    keep = [i for i, t in enumerate(truth) if t is not None]
    if len(keep) < 2:
        return {"nmi": None, "ari": None, "n_labelled": len(keep)}
    pred = np.asarray(labels)[keep]
    true = [truth[i] for i in keep]
    return {
        "nmi": float(normalized_mutual_info_score(true, pred)),
        "ari": float(adjusted_rand_score(true, pred)),
        "n_labelled": len(keep),
    }


def stability(x: np.ndarray | Vectors, p: TopicsParams) -> float | None:
    """Mean pairwise ARI of final labels across ``n_stability_seeds`` seeds (same k)."""
    runs = []
    for i in range(p.n_stability_seeds):
        log.info("topics: stability refit %d/%d (seed %d)", i + 1, p.n_stability_seeds, p.seed + i)
        runs.append(cluster_posts(x, p, seed=p.seed + i).labels)
    pairs = [
        adjusted_rand_score(runs[i], runs[j])
        for i in range(len(runs))
        for j in range(i + 1, len(runs))
    ]
    return float(np.mean(pairs)) if pairs else None


def post_vectors(
    posts: pl.DataFrame, embeddings: pl.DataFrame | Path
) -> tuple[pl.DataFrame, Vectors]:
    """The embedded posts in a key-independent order, and their vectors in that order.

    ``embeddings`` is the ``embed`` table in memory, or the path of its Parquet file: then only
    ``post_id`` and the null mask are read whole, and the vectors batch by batch when used.
    """
    if isinstance(embeddings, pl.DataFrame):
        kept = embeddings.filter(~pl.col("is_empty_text") & pl.col("embedding").is_not_null())
        rows = kept.select("post_id").with_row_index("_file_row")
    else:
        rows = vectors.embedded_posts(embeddings)
    # A key-independent row order (time, then content): the seeded fitting sample and k-means
    # initialisation must not depend on the pseudonyms, which change with the secret key.
    emb = ordering.sort_posts(
        rows.join(posts.select("post_id", "created_at", "text"), on="post_id")
    ).drop("created_at", "text")
    order = emb["_file_row"].cast(pl.Int64).to_numpy()
    if isinstance(embeddings, pl.DataFrame):
        x = kept["embedding"].to_numpy().astype(np.float32) if kept.height else None
        src: Vectors = vectors.ArrayVectors(
            x[order] if x is not None else np.zeros((0, vectors.DEFAULT_DIM), np.float32)
        )
    else:
        src = vectors.ParquetVectors(embeddings, order, vectors.vector_dim(embeddings))
    return emb.drop("_file_row"), src


def post_topics_before(
    embeddings: pl.DataFrame | Path,
    posts: pl.DataFrame,
    before: datetime,
    p: TopicsParams,
    k: int,
) -> pl.DataFrame:
    """Topics fitted only on posts written before ``before`` (for scores at that date).

    The topics stage fits on the whole dump; a score at an earlier date that read those topics
    would know subjects that emerged later. Here k-means with the run's ``k`` is refitted on
    the embeddings of earlier posts (in a key-independent order, so the seeded sample does not
    depend on pseudonyms) and their soft membership returned.

    ``embeddings`` is the ``embed`` table in memory, or the path of its Parquet file: then the
    vectors are read batch by batch (:func:`post_vectors`), never all at once. In one batch (up
    to :data:`analysis.vectors.BATCH_ROWS` earlier posts) both give the same bits; in several,
    the batches are cut at other rows (float rounding only).

    Returns:
        ``post_id, topic_id, probability, is_primary`` for posts before ``before``.
    """
    early, x = post_vectors(posts.filter(pl.col("created_at") < before), embeddings)
    if len(x) < 2:
        return pl.DataFrame(
            schema={
                "post_id": pl.String,
                "topic_id": pl.Int64,
                "probability": pl.Float64,
                "is_primary": pl.Boolean,
            }
        )
    res = cluster_posts(x, p.model_copy(update={"n_topics": max(1, min(k, len(x)))}))
    soft = soft_membership(x, res.labels, res.centroids, p)
    return soft.with_columns(post_id=early["post_id"].gather(soft["row"])).select(
        "post_id", "topic_id", "probability", "is_primary"
    )
