"""Topics of posts (logic of stages ``topic_fit`` and ``topics``; I/O in ``stages/``).

Reads post embeddings (``embed``). ``topic_fit`` clusters them into topics with keywords
(:func:`topic_fit`: the fit as a :class:`analysis.contracts.TopicFit`); ``topics`` gives
every post its topics by the fit's rule (:func:`assigner`, :func:`centroid_matrix`); the
account attribution built on them is in ``attribution.py``.

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

Beer (6,941 questions, answers, comments; 121 first tags), answerers' score-weighted tags: the
evidence method is not more precise than counting posts. An earlier note here (evidence P@3
0.563 vs naive 0.479; 0.427 vs 0.357 with agglomerative) divided by min(3, list length), so
evidence, which credits most answerers one or two topics, was scored at P@1 against naive at
P@3. Measured again (session 36 build, k-means, the 85 answerers evidence credits): at the same
cut-off (naive cut to the evidence list's length) evidence 0.592 vs naive 0.608, paired
difference -0.016, 95 % bootstrap [-0.063, 0.027]; P@3 with a missing slot a miss, 0.396 vs
0.514 (``attribution.evaluate_tags``). Session 37 counts each post's distinct repliers (10 % of
beer's 4,846 replies to credited pairs were one person replying again under the same post; 59 of
285 attributed ranks moved, no attribution flipped): 0.596 vs 0.608, difference -0.012
[-0.055, 0.031], P@3 0.400 vs 0.514. What evidence does claim: it never credits a topic on
one post (single-post attributions 0 vs naive's 70 %).

Session 39 (beer, 6 topics by silhouette): the evidence gate counts only posts that others
responded to (60 of 332 attributions rested on one answered post; now 174 pairs). The topic's
tag is chosen without the scored answerer's own threads (in sample it gave evidence P@3 0.370,
out of sample 0.337 [0.276, 0.407]; naive 0.158 -> 0.145 [0.127, 0.164]), and a trivial
baseline, the site's 3 most common tags, scores 0.147 [0.129, 0.166]. At each method's own
list length: naive +0.030 [0.006, 0.055] over that baseline, evidence -0.006 [-0.087, 0.079]:
the evidence method's topics add nothing shown over the site's tag counts; against naive
-0.018 [-0.049, 0.000].

(stability = mean pairwise ARI over 5 seeds; diversity = unique share of the top-10 keywords.)
Agglomerative (average linkage, cosine) wins on the demo at equal k, but on real data it
degenerates into one giant cluster plus crumbs (beer: NMI 0.03, "stability" 1.0 because every
seed gives the same giant cluster). k-means is close on the demo and clearly better on real
data, and fast: it is the default. HDBSCAN lumps most of the demo into one cluster and leaves
6-13 % outliers. The silhouette choice of k over-splits the demo (30 topics for 10 subjects):
set ``n_topics`` when the number is known.

All methods fit on at most ``fit_max_posts`` posts (a seeded sample; agglomerative and HDBSCAN
are quadratic) and every post, sampled or not, joins the nearest centroid of the fit, so the
three are comparable. With HDBSCAN a post whose best cosine stays below
``outlier_min_cosine`` is an outlier (topic -1, counted); its own -1 labels on the sample shape
the centroids only. Since session 23 the sampled posts follow the rule too (before, they kept
the clusterer's labels: k-means assigns by Euclidean distance to unnormalised centres, which
gave 0.1-0.3 % of the demo's sample another topic than the same vector outside it), so a
post's topic is a function of its vector and the fit, and a frozen fit assigns new posts.

Where each part lives: the clustering, soft membership and stability refits in
``analysis.topics_clustering``; keywords, the topic table and diversity in
``analysis.topics_keywords``. This module holds the stage's params (:class:`TopicsParams`), the
agreement with truth labels, the embedded posts in a key-independent order
(:func:`post_vectors`) and the topics of an earlier date (:func:`post_topics_before`).
"""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path
from typing import Literal

import numpy as np
import polars as pl
from pydantic import Field

from analysis import ordering, vectors
from analysis.config import Frozen
from analysis.contracts import TopicFit
from analysis.schema import post_numbers
from analysis.topics_clustering import Assigner, Clustering, cluster_posts, soft_membership
from analysis.topics_keywords import diversity
from analysis.vectors import Vectors


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
    #: Evidence-based attribution needs at least this many posts in the topic that drew a reply
    #: or reaction from another participant (posts nobody else responded to do not count) ...
    min_posts: int = Field(3, ge=1)
    #: ... and this many distinct other participants who replied to or reacted to them.
    min_engagers: int = Field(2, ge=0)
    #: Width of the credible interval of relative engagement.
    interval: float = Field(0.9, gt=0, lt=1)
    #: Optional: also require the interval's lower end to reach this (1 = topic baseline).
    min_ci_low: float | None = None


def agreement(labels: np.ndarray, truth: pl.Series | list[str | None]) -> dict[str, float | None]:
    """NMI and ARI of topic labels against truth labels (rows with a null truth left out).

    Outliers count as one more cluster: leaving them out would reward throwing posts away.
    The labels are coded by their texts' order (an ``Enum`` of the sorted distinct labels: the
    classes scikit-learn's contingency table makes of the strings, in its order, as UTF-8's
    byte order is the code points'), and each (label, topic) pair counted as one integer: at 10M
    posts 0.75 s and +0.28 GiB where dense ranks of the strings and three ``np.unique`` over
    10M integers took 4.7 s and +0.53 GiB (session 57).

    Both are scikit-learn's (``normalized_mutual_info_score`` with the arithmetic mean,
    ``adjusted_rand_score``), computed from the same contingency table with the same
    arithmetic (a test compares them bit for bit): importing ``sklearn.metrics`` took ~2 s
    of every ``topics`` run (it loads scipy.stats and pandas) for two formulas.
    """
    truth = pl.Series("truth", truth, dtype=pl.String)
    n = truth.len() - truth.null_count()
    if n < 2:
        return {"nmi": None, "ari": None, "n_labelled": n}
    classes = pl.Enum(truth.drop_nulls().unique().sort())
    table = _contingency(truth.cast(classes).to_physical(), np.asarray(labels))
    return {"nmi": _nmi(table), "ari": _ari(table), "n_labelled": n}


def _contingency(codes: pl.Series, pred: np.ndarray) -> tuple[np.ndarray, ...]:
    """The non-zero cells of the (class, cluster) count table in row-major order (scikit-learn's
    sparse table's order): their rows, columns and counts (int64), and the class and cluster
    totals (float64). ``codes``: each row's class, 0, 1, ... in the classes' order (null:
    unlabelled, left out), every class present. Sparse: 500k classes x 100 clusters held
    ~0.9 GB as a dense table."""
    small = np.issubdtype(pred.dtype, np.signedinteger) and (
        pred.size == 0 or int(pred.max()) - int(pred.min()) < 2**31
    )
    if not small:  # topics are small integers; other labels (floats, a wide range) as ranks
        pred = np.unique(pred, return_inverse=True)[1].reshape(-1)
    low = int(pred.min()) if pred.size else 0
    cells = (
        pl.DataFrame({"code": codes, "pred": pred})
        .select(key=pl.col("code").cast(pl.Int64) * 2**32 + (pl.col("pred").cast(pl.Int64) - low))
        .drop_nulls()
        .group_by("key")
        .agg(count=pl.len().cast(pl.Int64))
        .sort("key")
        .select(
            "count",
            row=pl.col("key") // 2**32,
            col=(pl.col("key") % 2**32).rank("dense").cast(pl.Int64) - 1,
        )
    )
    row, col = cells["row"].to_numpy(), cells["col"].to_numpy()
    counts = cells["count"].to_numpy()
    return (
        row,
        col,
        counts,
        np.bincount(row, weights=counts).astype(np.float64),
        np.bincount(col, weights=counts).astype(np.float64),
    )


def _ari(table: tuple[np.ndarray, ...]) -> float:
    """Adjusted Rand index from the pair confusion matrix, in exact integers."""
    row, col, c, n_c, n_k = table
    n = int(c.sum())
    squares = int((c**2).sum())
    fp = int((c * n_k.astype(np.int64)[col]).sum()) - squares
    fn = int((c * n_c.astype(np.int64)[row]).sum()) - squares
    tp = squares - n
    tn = n * n - fp - fn - squares
    if fn == 0 and fp == 0:
        return 1.0
    return 2.0 * (tp * tn - fn * fp) / ((tp + fn) * (fn + tn) + (tp + fp) * (fp + tn))


def _nmi(table: tuple[np.ndarray, ...]) -> float:
    """Normalised mutual information (arithmetic mean of the entropies)."""
    nzx, nzy, c, pi, pj = table
    if pi.size == pj.size == 1:
        return 1.0
    nz = c.astype(np.float64)
    total = nz.sum()
    mi = 0.0
    if pi.size > 1 and pj.size > 1:
        share = nz / total
        outer = pi.take(nzx).astype(np.int64) * pj.take(nzy).astype(np.int64)
        log_outer = -np.log(outer) + math.log(pi.sum()) + math.log(pj.sum())
        terms = share * (np.log(nz) - math.log(total)) + share * log_outer
        terms = np.where(np.abs(terms) < np.finfo(terms.dtype).eps, 0.0, terms)
        mi = float(np.clip(terms.sum(), 0.0, None))
    if mi == 0:
        return 0.0
    return float(mi / np.mean([_entropy(pi), _entropy(pj)]))


def _entropy(counts: np.ndarray) -> float:
    """Entropy (nats) of a labelling given its labels' counts (float64, all > 0)."""
    if counts.size == 1:
        return 0.0
    total = np.sum(counts)
    return float(-np.sum((counts / total) * (np.log(counts) - math.log(total))))


def _file_post_numbers(ids: pl.Series) -> pl.Series:
    """:func:`post_numbers` of a batch of the embeddings' post ids (the posts' are numbers)."""
    got = post_numbers(ids)
    if got is None:
        raise ValueError(
            "the embeddings hold post ids that are not post pseudonyms where the posts' are "
            "(they were written for another posts table: dvc repro embed)"
        )
    return got


def post_vectors(
    posts: pl.DataFrame, embeddings: pl.DataFrame | Path
) -> tuple[pl.DataFrame, Vectors]:
    """The embedded posts of ``posts`` (``post_id``, ``created_at``) in a key-independent
    order, and their vectors in it.

    ``embeddings`` is the ``embed`` table in memory, or the path of its Parquet file: then only
    ``post_id`` and the null mask are read whole, and the vectors batch by batch when used.

    The order is time, then the text's hash (``ordering.sort_posts``): the seeded fitting
    sample and k-means' initialisation must not depend on the pseudonyms, which change with
    the secret key. ``embed`` writes its file in that very order (``stages.embed.file_order``),
    so from a path the file's order is kept and ``posts`` needs ``post_id`` and
    ``created_at`` only (the texts are not read: at 1M posts hashing them cost ~10 s); an
    in-memory table is sorted, and ``posts`` then holds ``text`` or its hash
    (``ordering.TEXT_HASH``).
    """
    # the file's ids in the posts' type (categorical as the stages hold them, string, or the
    # numbers of post_numbers)
    numbers = posts.schema["post_id"] == pl.UInt64
    ids = pl.col("post_id").cast(posts.schema["post_id"])
    if isinstance(embeddings, pl.DataFrame):
        kept = embeddings.filter(~pl.col("is_empty_text") & pl.col("embedding").is_not_null())
        rows = (
            kept.select(_file_post_numbers(kept["post_id"])) if numbers else kept.select(ids)
        ).with_row_index("_file_row")
        content = ordering.TEXT_HASH if ordering.TEXT_HASH in posts.columns else "text"
        emb = ordering.sort_posts(
            rows.join(posts.select("post_id", "created_at", content), on="post_id")
        ).drop(content)
    else:
        if numbers:
            rows = vectors.embedded_posts(embeddings, _file_post_numbers)
        else:
            rows = vectors.embedded_posts(embeddings).with_columns(ids)
        emb = rows.join(posts.select("post_id", "created_at"), on="post_id", maintain_order="left")
        if not emb["created_at"].is_sorted():
            raise ValueError(
                f"{embeddings}: rows are not in time order; it was not written by this "
                "version's embed stage (dvc repro embed)"
            )
    order = emb["_file_row"].cast(pl.Int64).to_numpy()
    if isinstance(embeddings, pl.DataFrame):
        x = kept["embedding"].to_numpy().astype(np.float32) if kept.height else None
        src: Vectors = vectors.ArrayVectors(
            x[order] if x is not None else np.zeros((0, vectors.DEFAULT_DIM), np.float32)
        )
    else:
        src = vectors.ParquetVectors(embeddings, order, vectors.vector_dim(embeddings))
    return emb.drop("_file_row"), src


def topic_fit(
    res: Clustering,
    keywords: dict[int, list[str]],
    ari: float | None,
    fitted: pl.DataFrame,
    p: TopicsParams,
    space: str,
) -> TopicFit:
    """The fit as stage ``topic_fit`` writes it (``res``: the clustering of the posts of
    ``fitted``, with ``created_at``; ``keywords`` by topic id; ``space``: the vectors'
    identity, ``embed.vector_space``)."""
    rule = res.assigner
    last = fitted["created_at"].max() if fitted.height else None
    return TopicFit(
        method=p.method,
        vectors=space,
        n_topics=len(res.topic_ids),
        dim=int(res.centroids.shape[1]),
        assign_centroids=rule.centroids.astype(np.float32).tolist(),
        assign_topic_ids=[int(t) for t in rule.topic_ids],
        outlier_min_cosine=rule.min_cosine,
        centroids=res.centroids.astype(np.float32).tolist(),
        keywords=[keywords.get(int(t), []) for t in res.topic_ids],
        n_posts=fitted.height,
        fitted_through=last.isoformat() if last is not None else None,  # type: ignore[union-attr]
        n_sample_outliers=res.n_fit_outliers,
        n_sample_outliers_assigned=res.n_reassigned,
        stability_mean_pairwise_ari=ari,
        topic_diversity=diversity(keywords, 10),
    )


def assigner(fit: TopicFit) -> Assigner:
    """The rule of ``fit`` that gives any post its topic."""
    return Assigner(
        np.asarray(fit.assign_centroids, dtype=np.float32).reshape(-1, fit.dim),
        np.asarray(fit.assign_topic_ids, dtype=np.int64),
        fit.outlier_min_cosine,
    )


def centroid_matrix(fit: TopicFit) -> np.ndarray:
    """The topics' unit-norm centroids of ``fit``, row ``t`` for topic ``t``."""
    return np.asarray(fit.centroids, dtype=np.float32).reshape(-1, fit.dim)


def post_topics_before(
    embeddings: pl.DataFrame | Path,
    posts: pl.DataFrame,
    before: datetime,
    p: TopicsParams,
    k: int | None,
) -> pl.DataFrame:
    """Topics fitted only on posts written before ``before`` (for scores at that date).

    Stage ``topic_fit`` fits on the whole dump; a score at an earlier date that read those topics
    would know subjects that emerged later. Here the clustering is refitted on the embeddings
    of earlier posts (in a key-independent order, so the seeded sample does not depend on
    pseudonyms) and their soft membership returned. ``k``: the number of topics; None chooses
    it on the earlier posts by ``p``'s rule (``topics.n_topics: 0``), as ``topic_fit`` chose the
    run's on every post: a number chosen with the later posts would carry them in.

    ``embeddings`` is the ``embed`` table in memory, or the path of its Parquet file: then the
    vectors are read batch by batch (:func:`post_vectors`), never all at once. In one batch (up
    to :data:`analysis.vectors.BATCH_ROWS` earlier posts) both give the same bits; in several,
    the batches are cut at other rows (float rounding only).

    Returns:
        ``post_id, topic_id, probability, is_primary`` for posts before ``before``, the ids
        of ``posts``' type.
    """
    early, x = post_vectors(posts.filter(pl.col("created_at") < before), embeddings)
    if len(x) < 2:
        return pl.DataFrame(
            schema={
                "post_id": posts.schema["post_id"],
                "topic_id": pl.Int64,
                "probability": pl.Float64,
                "is_primary": pl.Boolean,
            }
        )
    fixed = None if k is None else max(1, min(k, len(x)))
    res = cluster_posts(x, p.model_copy(update={"n_topics": fixed or 0}))
    soft = soft_membership(x, res.labels, res.centroids, p)
    return soft.with_columns(post_id=early["post_id"].gather(soft["row"])).select(
        "post_id", "topic_id", "probability", "is_primary"
    )
