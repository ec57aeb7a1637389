"""Stage ``topic_fit``: clustering of post embeddings into topics; ``topics``: soft memberships.

Unit-norm vectors (:func:`normalise`) are clustered by k-means, agglomerative or HDBSCAN on a
seeded sample of at most ``fit_max_posts`` posts (:func:`cluster_posts`). Every post, in the
sample or not, then takes its topic by one rule (:class:`Assigner`): the nearest of the fit's
centroids by cosine; with HDBSCAN, a post whose best cosine stays below
``outlier_min_cosine`` is an outlier. A post's topic is thus a function of its vector and the
fit alone, which is what lets stage ``topics`` assign posts that arrive after a frozen fit.
``k`` comes from params or from the silhouette over seeded subsamples (:func:`choose_k`).
:func:`soft_membership` gives each post a probability per topic; :func:`stability` refits with
other seeds (:func:`cluster_with_stability`: the clustering and those refits from two passes
over the vectors). Vectors may be an array or ``analysis.vectors.Vectors`` read batch by batch.
Why these methods: ``analysis.topics``. scikit-learn is imported by the functions that fit
(stage ``topic_fit``), not by the module: stage ``topics`` assigns without it (its import was
~2 s of every run).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from analysis.vectors import ArrayVectors, Vectors

if TYPE_CHECKING:  # topics imports this module: only the annotations need its params
    from analysis.topics import TopicsParams

log = logging.getLogger(__name__)

#: The topic id of posts that belong to no topic (HDBSCAN's outliers left unassigned).
OUTLIER = -1


def cosines(x: np.ndarray, cents: np.ndarray) -> np.ndarray:
    """``x @ cents.T`` (rows of unit vectors against unit centroids), BLAS on one thread.

    OpenBLAS splits a product between its threads (one per core by default) and each part
    takes another kernel path, so the last bits depended on the machine: on beer (384
    dimensions, 25 centroids) 2 threads against 1 moved the soft memberships of the topics
    refitted before an earlier ``as_of`` by 2e-6. One thread gives every machine the same bits
    (the product is small: n x k).
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return x @ cents.T


def normalise(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero)."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.where(norms == 0, 1, norms)).astype(np.float32, copy=False)


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


def _unit(x: np.ndarray | Vectors) -> _Unit:
    """``x`` (an array or batched vectors) served with unit-norm rows."""
    return _Unit(ArrayVectors(x) if isinstance(x, np.ndarray) else x)


def _stability_seeds(p: TopicsParams) -> list[int]:
    """``p.seed, p.seed + 1, ...``: ``n_stability_seeds`` seeds, the clustering's own first."""
    return [p.seed + i for i in range(p.n_stability_seeds)]


def _rows(x: np.ndarray | Vectors, idx: np.ndarray) -> np.ndarray:
    return x[idx] if isinstance(x, np.ndarray) else x.take(idx)


def _fit_labels(x: np.ndarray, method: str, k: int, seed: int, p: TopicsParams) -> np.ndarray:
    from sklearn.cluster import HDBSCAN, AgglomerativeClustering, KMeans

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
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

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
    0.001-0.003), so its argmax moves with any small change of the vectors (docs/scaling-log.md).
    ``rule="one_se"``: :func:`silhouette_curve` over ``replicates`` subsamples, then
    :func:`one_se_k`: a k larger than the smallest is taken only when it beats it by more
    than the noise. It is stable where the curve is flat over the whole grid (the unit test;
    ai, quantumcomputing), but not where the best k sits about one SE above the rest
    (beer with int8 vectors). ``rule="mean_silhouette"``: the argmax of the mean curve over
    the same replicates (less noise, still an argmax). Measured in docs/scaling-log.md,
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
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

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
class Assigner:
    """How a post takes its topic from a fit, the same for every post.

    The nearest of the fit's unit-norm centroids by cosine (the first on an exact tie, in the
    fit's order); with a ``min_cosine`` (HDBSCAN, whose fits leave outliers), a post whose best
    cosine is below it belongs to no topic (:data:`OUTLIER`). Posts of the fitting sample follow
    the rule too: the clusterer's own labels shape the centroids only (k-means labels by
    Euclidean distance to unnormalised centres, so 0.1-0.3 % of a demo sample would otherwise
    carry another topic than the same vector outside it).
    """

    centroids: np.ndarray  #: unit-norm, one row per centroid of the fit, in the fit's order
    #: the topic id of each row; :data:`OUTLIER` for a centroid no row joined in the fit, which
    #: is never chosen (kept so that the matrix product is the fit's own, to the last bit)
    topic_ids: np.ndarray
    min_cosine: float | None = None

    def labels(self, xb: np.ndarray) -> np.ndarray:
        """The topic of each row of ``xb`` (unit-norm rows)."""
        n = len(xb)
        unused = self.topic_ids == OUTLIER
        if unused.all():
            return np.full(n, OUTLIER, dtype=np.int64)
        sims = cosines(xb, self.centroids)
        if unused.any():
            sims[:, unused] = -np.inf
        best = np.argmax(sims, axis=1)
        lab = self.topic_ids[best].astype(np.int64)
        if self.min_cosine is not None:
            lab[sims[np.arange(n), best] < self.min_cosine] = OUTLIER
        return lab


def min_cosine(p: TopicsParams) -> float | None:
    """The outlier threshold of the method: HDBSCAN's fits leave outliers, the others none."""
    return p.outlier_min_cosine if p.method == "hdbscan" else None


@dataclass(frozen=True)
class Clustering:
    """Result of :func:`cluster_posts`: labels, centroids, the rule that assigns, counts."""

    labels: np.ndarray  # every row's topic (:class:`Assigner`), ids renumbered by size
    topic_ids: np.ndarray
    centroids: np.ndarray  # unit-norm mean of every topic's rows (soft membership)
    assigner: Assigner  # the fit's centroids under the final ids: labels = assigner.labels(x)
    n_topics_fitted: int
    #: rows of the fitting sample the clusterer left out (HDBSCAN's -1), and how many of them
    #: the rule gave a topic (their best cosine reaches ``outlier_min_cosine``)
    n_fit_outliers: int
    n_reassigned: int
    seconds: float


def cluster_posts(x: np.ndarray | Vectors, p: TopicsParams, seed: int | None = None) -> Clustering:
    """Cluster unit-norm embeddings; deterministic given ``seed`` (default ``p.seed``).

    Fits on a seeded sample of at most ``p.fit_max_posts`` rows, then gives every row its topic
    by the fit's :class:`Assigner` (the nearest centroid; with HDBSCAN none below
    ``p.outlier_min_cosine``), the sample's rows included.
    ``x`` is an array or :class:`analysis.vectors.Vectors` (rows read batch by batch: only the
    fitting sample and one batch are in memory; one batch gives the array's result bit for bit).
    """
    started = time.perf_counter()
    seed = p.seed if seed is None else seed
    src = _unit(x)
    if len(src) == 0:
        return _empty(src.dim)
    k = p.n_topics or choose_k(src, p.k_grid, seed, rule=p.k_rule, replicates=p.k_replicates)
    return _cluster_seeds(src, p, k, [seed], started)[0]


def cluster_seeds(x: np.ndarray | Vectors, p: TopicsParams, seeds: list[int]) -> list[Clustering]:
    """:func:`cluster_posts` at each of ``seeds`` with ``k = p.n_topics`` (required), the
    same result for each, with two passes over the vectors in all (one taking every seed's
    sample, one assigning every row to every seed's centroids) instead of two per seed: on a
    10M-post file each pass reads ~14 GB (docs/scaling-log.md)."""
    if not p.n_topics:
        raise ValueError("cluster_seeds refits at a known k: set n_topics")
    src = _unit(x)
    if len(src) == 0:
        return [_empty(src.dim) for _ in seeds]
    return _cluster_seeds(src, p, p.n_topics, seeds, time.perf_counter())


def _empty(dim: int) -> Clustering:
    empty = np.zeros(0, dtype=np.int64)
    none = np.zeros((0, dim), np.float32)
    return Clustering(empty, empty, none, Assigner(none, empty), 0, 0, 0, 0.0)


def _fit_sample(n: int, max_posts: int, seed: int) -> np.ndarray:
    """Row numbers of the seeded fitting sample (every row when there are few)."""
    if n <= max_posts:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_posts, replace=False))


def _take_samples(src: Vectors, samples: list[np.ndarray]) -> list[np.ndarray]:
    """The rows of every sample, from one ``take`` of their union (rows are row-wise
    functions of the file: the same values as one ``take`` per sample)."""
    union = np.unique(np.concatenate(samples))
    rows = src.take(union)
    return [rows[np.searchsorted(union, idx)] for idx in samples]


@dataclass
class _Assign:
    """One seed's fit and what the pass over every row adds up for it."""

    rule: Assigner  # the fit's centroids under the fit's own ids
    fit_idx: np.ndarray  # rows of the fitting sample
    fit_out: np.ndarray  # those the clusterer left out
    labels: np.ndarray  # every row's topic, by the rule
    sums: np.ndarray
    counts: np.ndarray

    def add(self, pos: np.ndarray, xb: np.ndarray) -> None:
        lab = self.rule.labels(xb)
        self.labels[pos] = lab
        # the unit-norm mean of every topic over all rows (``centroids``), summed batch by batch
        for j, t in enumerate(self.rule.topic_ids):
            m = lab == t
            if m.any():
                self.sums[j] += xb[m].sum(axis=0)
                self.counts[j] += int(m.sum())


def _cluster_seeds(
    src: _Unit, p: TopicsParams, k: int, seeds: list[int], started: float
) -> list[Clustering]:
    n = len(src)
    samples = [_fit_sample(n, p.fit_max_posts, s) for s in seeds]
    k = max(1, min(k, len(samples[0])))
    states = []
    xs = _take_samples(src, samples)
    for i, (seed, fit_idx, x_fit) in enumerate(zip(seeds, samples, xs, strict=True), 1):
        fit_labels = _fit_labels(x_fit, p.method, k, seed, p)
        ids, cents = centroids(x_fit, fit_labels)
        # one line per fit: at 10M posts the fits and the pass take minutes
        log.info(
            "topics: seed %d fitted (%d/%d, %.1f s)",
            seed,
            i,
            len(seeds),
            time.perf_counter() - started,
        )
        # int32 while every seed's labels are held together (topic ids are small); the
        # results are int64 (``_renumber``)
        states.append(
            _Assign(
                Assigner(cents, ids, min_cosine(p)),
                fit_idx,
                fit_labels == OUTLIER,
                np.full(n, OUTLIER, dtype=np.int32),
                np.zeros((len(ids), src.dim), dtype=np.float64),
                np.zeros(len(ids), dtype=np.int64),
            )
        )
    for pos, xb in src.batches():
        for st in states:
            st.add(pos, xb)
    seconds = time.perf_counter() - started
    log.info("topics: %d posts assigned to the %d fits (%.1f s)", n, len(states), seconds)
    states.reverse()  # each state freed once finished: one seed's working arrays at a time
    return [_finish(states.pop(), seconds) for _ in range(len(states))]


def _finish(st: _Assign, seconds: float) -> Clustering:
    kept = st.counts > 0
    ids = st.rule.topic_ids[kept]
    cents = normalise((st.sums[kept] / st.counts[kept, None]).astype(np.float32))
    # Renumber topics by size (0 = largest) so ids are stable across equivalent runs.
    sizes = st.counts[kept]
    order = np.lexsort((ids, -sizes))
    labels = _renumber(st.labels, ids[order])
    # the rule under the final ids: every centroid of the pass in its order, so that the same
    # batch gives the same matrix product and the same nearest (a centroid no row joined
    # becomes OUTLIER: never chosen)
    rule = Assigner(st.rule.centroids, _renumber(st.rule.topic_ids, ids[order]), st.rule.min_cosine)
    out = st.fit_out
    return Clustering(
        labels,
        np.arange(len(order)),
        cents[order],
        rule,
        len(ids),
        int(out.sum()),
        int((labels[st.fit_idx[out]] != OUTLIER).sum()),
        seconds,
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


@dataclass(frozen=True)
class Assignment:
    """What :func:`assign_with_membership` gives: every row's topic, the soft memberships and,
    per topic (outliers included), the sum of its rows' vectors as read (float64) and their
    count."""

    labels: np.ndarray
    soft: pl.DataFrame
    topic_ids: np.ndarray  #: sorted; one per row of ``sums``
    sums: np.ndarray
    counts: np.ndarray

    @property
    def means(self) -> np.ndarray:
        """Each topic's mean vector (float64), one row per topic id."""
        return self.sums / self.counts[:, None]


def assign_with_membership(
    x: np.ndarray | Vectors, rule: Assigner, cents: np.ndarray, p: TopicsParams
) -> Assignment:
    """Every row's topic by ``rule``, its :func:`soft_membership` over ``cents`` and each topic's
    vector sum and count, in one pass over the vectors (stage ``topics``, month by month:
    ``topics_months``). Each batch's rows are unit-normed for the rule exactly as in the fit's
    own pass, and batched alike (``vectors.ParquetVectors`` ends a batch at each month), so the
    posts of the fit get exactly its labels; the sums (the report's topic map) are added per
    batch in float64, as ``vectors.group_sums`` does."""
    src = ArrayVectors(x) if isinstance(x, np.ndarray) else x
    labels = np.full(len(src), OUTLIER, dtype=np.int64)
    parts = []
    sums: dict[int, np.ndarray] = {}
    counts: dict[int, int] = {}
    for pos, xb in src.batches():
        unit = normalise(xb)  # once for the rule and the memberships: the same rows
        lab = rule.labels(unit)
        labels[pos] = lab
        parts.append(_soft_batch(pos, unit, lab, cents, p))
        for t in np.unique(lab):
            m = lab == t
            sums[int(t)] = sums.get(int(t), 0.0) + xb[m].astype(np.float64).sum(axis=0)
            counts[int(t)] = counts.get(int(t), 0) + int(m.sum())
    ids = np.array(sorted(sums), dtype=np.int64)
    return Assignment(
        labels,
        _soft_concat(parts, src.dim, cents, p),
        ids,
        _stack([sums[int(t)] for t in ids], src.dim),
        np.array([counts[int(t)] for t in ids], dtype=np.int64),
    )


def combine(
    parts: Sequence[Assignment], dim: int, cents: np.ndarray, p: TopicsParams
) -> Assignment:
    """The :class:`Assignment` of the rows of ``parts`` one after another (each part's rows
    numbered after the previous parts'): labels and memberships concatenated, each topic's
    sums added part by part in order (from 0.0, as within a part)."""
    if len(parts) == 1:
        return parts[0]
    offsets = np.cumsum([0] + [len(a.labels) for a in parts])
    soft = [
        a.soft.with_columns(pl.col("row") + int(off))
        for a, off in zip(parts, offsets[:-1], strict=True)
        if a.soft.height
    ]
    sums: dict[int, np.ndarray] = {}
    counts: dict[int, int] = {}
    for a in parts:
        for t, s, n in zip(a.topic_ids.tolist(), a.sums, a.counts.tolist(), strict=True):
            sums[t] = sums.get(t, 0.0) + s
            counts[t] = counts.get(t, 0) + n
    ids = np.array(sorted(sums), dtype=np.int64)
    return Assignment(
        np.concatenate([a.labels for a in parts]) if parts else np.zeros(0, np.int64),
        pl.concat(soft) if soft else _soft_concat([], dim, cents, p),
        ids,
        _stack([sums[t] for t in ids.tolist()], dim),
        np.array([counts[t] for t in ids.tolist()], dtype=np.int64),
    )


def _stack(rows: list[np.ndarray], dim: int) -> np.ndarray:
    return np.stack(rows) if rows else np.zeros((0, dim), dtype=np.float64)


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
    parts = [_soft_batch(pos, normalise(xb), labels[pos], cents, p) for pos, xb in src.batches()]
    return _soft_concat(parts, src.dim, cents, p)


def _soft_batch(
    pos: np.ndarray, unit: np.ndarray, labels: np.ndarray, cents: np.ndarray, p: TopicsParams
) -> pl.DataFrame:
    soft = _soft_rows(unit, labels, cents, p)
    return soft.with_columns(row=pl.Series(pos, dtype=pl.Int64).gather(soft["row"]))


def _soft_concat(
    parts: list[pl.DataFrame], dim: int, cents: np.ndarray, p: TopicsParams
) -> pl.DataFrame:
    if not parts:
        return _soft_rows(np.zeros((0, dim), np.float32), np.zeros(0, np.int64), cents, p)
    if len(parts) == 1:
        return parts[0]
    return pl.concat(parts).sort("row", maintain_order=True)


def _soft_rows(
    x: np.ndarray, labels: np.ndarray, cents: np.ndarray, p: TopicsParams
) -> pl.DataFrame:
    """:func:`soft_membership` of the rows of one array of unit-norm rows (:func:`normalise`'s;
    ``row`` = index into ``x``).

    Per row: its label first, then the other topics of the ``max_topics_per_post`` most
    probable (most probable first, ties by topic id) that reach ``min_probability``, at most
    ``max_topics_per_post`` in all. Built as arrays (no Python per row: at 10M posts a loop
    over the rows took minutes).
    """
    n = len(labels)
    outlier = (labels == OUTLIER) if len(cents) else np.ones(n, dtype=bool)
    m = p.max_topics_per_post
    if len(cents):
        logits = cosines(x, cents) / p.softmax_temperature
        logits -= logits.max(axis=1, keepdims=True)
        prob = np.exp(logits)
        prob /= prob.sum(axis=1, keepdims=True)
        top = np.argsort(-prob, axis=1, kind="stable")[:, :m]
        lab = np.where(outlier, 0, labels)
        # candidates in order: the label, then the top topics that qualify
        cand = np.column_stack([lab, top])
        ok = np.column_stack(
            [
                np.ones(n, dtype=bool),
                (np.take_along_axis(prob, top, axis=1) >= p.min_probability)
                & (top != lab[:, None]),
            ]
        )
        keep = ok & (np.cumsum(ok, axis=1) <= m) & ~outlier[:, None]
        row, col = np.nonzero(keep)  # row-major: each row's topics in candidate order
        topic = cand[row, col]
        probability = prob[row, topic].astype(np.float64)
        primary = col == 0
    else:
        row = topic = np.zeros(0, dtype=np.int64)
        probability, primary = np.zeros(0), np.zeros(0, dtype=bool)
    # outlier rows: one row each, topic -1, no probability
    out_rows = np.flatnonzero(outlier)
    frame = pl.DataFrame(
        {
            "row": np.concatenate([row, out_rows]).astype(np.int64),
            "topic_id": np.concatenate([topic, np.full(out_rows.size, OUTLIER)]).astype(np.int64),
            "probability": np.concatenate([probability, np.zeros(out_rows.size)]),
            "is_primary": np.concatenate([primary, np.ones(out_rows.size, dtype=bool)]),
        }
    ).with_columns(
        probability=pl.when(pl.col("topic_id") == OUTLIER).then(None).otherwise("probability")
    )
    # every row's topics together, rows in order (a stable sort keeps each row's order)
    return frame.sort("row", maintain_order=True)


def stability(x: np.ndarray | Vectors, p: TopicsParams) -> float | None:
    """Mean pairwise ARI of final labels across ``n_stability_seeds`` seeds (same k,
    ``p.n_topics``), the refits done together (:func:`cluster_seeds`)."""
    seeds = _stability_seeds(p)
    log.info("topics: stability refits at seeds %s (one pass for all)", seeds)
    return _mean_ari([c.labels for c in cluster_seeds(x, p, seeds)])


def cluster_with_stability(
    x: np.ndarray | Vectors, p: TopicsParams
) -> tuple[Clustering, float | None]:
    """:func:`cluster_posts` and, when it finds more than one topic, the mean pairwise ARI of
    the refits at seeds ``p.seed, p.seed + 1, ...`` (``n_stability_seeds``) at the k it
    fitted, from the same passes over the vectors.

    The first stability seed is the clustering's own: its fit is the first refit, so every
    seed is fitted and assigned together (:func:`cluster_seeds`), the clustering included.
    The k is the one fitted (k-means keeps every topic unless its sample has fewer distinct
    rows than k; HDBSCAN does not take a k).
    """
    started = time.perf_counter()
    src = _unit(x)
    if len(src) == 0:
        return _empty(src.dim), None
    k = p.n_topics or choose_k(src, p.k_grid, p.seed, rule=p.k_rule, replicates=p.k_replicates)
    seeds = _stability_seeds(p)
    log.info("topics: k=%d; fitting at seeds %s together (the first is the clustering)", k, seeds)
    runs = _cluster_seeds(src, p, k, seeds, started)
    if len(runs[0].topic_ids) <= 1:
        return runs[0], None
    return runs[0], _mean_ari([r.labels for r in runs])


def _mean_ari(runs: list[np.ndarray]) -> float | None:
    from sklearn.metrics import adjusted_rand_score

    pairs = [
        adjusted_rand_score(runs[i], runs[j])
        for i in range(len(runs))
        for j in range(i + 1, len(runs))
    ]
    return float(np.mean(pairs)) if pairs else None
