"""Vectors read batch by batch (analysis.vectors) give the all-at-once results of topics and report.

One batch must be the old computation bit for bit; many tiny batches may differ only by float
rounding (the order sums are added in, BLAS blocking), never in a label or a row.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from analysis import contracts, topics_keywords, vectors
from analysis.contracts import TopicFit
from analysis.embed import EmbedParams, vector_space
from analysis.report.frames import topic_coordinates
from analysis.stages import topic_fit as fit_stage
from analysis.stages.embed import file_order
from analysis.stages.topics import compute, post_vectors
from analysis.topics import TopicsParams, assigner, centroid_matrix, post_topics_before
from analysis.topics_clustering import (
    OUTLIER,
    assign_with_membership,
    centroids,
    cluster_posts,
    cluster_seeds,
    cluster_with_stability,
    soft_membership,
    stability,
)
from analysis.topics_keywords import ctfidf_keywords, ctfidf_keywords_batches
from analysis.vectors import MEAN_EMBEDDING

DIM = 16


def _blobs(n_per: int = 30, k: int = 3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = np.eye(DIM)[:k] * 5
    x = np.concatenate([c + rng.normal(0, 0.6, (n_per, DIM)) for c in centres])
    return x.astype(np.float32)


def _embeddings_file(tmp_path: Path, x: np.ndarray, holes: tuple[int, ...] = ()) -> Path:
    """An ``embeddings.parquet`` with rows of ``x`` shuffled, plus empty-text rows at ``holes``."""
    n = len(x)
    ids = [f"post_{i:04d}" for i in range(n)]
    emb: list[list[float] | None] = [list(map(float, v)) for v in x]
    empty = [False] * n
    for h in holes:
        ids.insert(h, f"empty_{h}")
        emb.insert(h, None)
        empty.insert(h, True)
    df = pl.DataFrame(
        {"post_id": ids, "is_empty_text": empty, "embedding": emb},
        schema={
            "post_id": pl.String,
            "is_empty_text": pl.Boolean,
            "embedding": pl.Array(pl.Float32, DIM),
        },
    )
    path = tmp_path / "embeddings.parquet"
    df.sample(fraction=1.0, shuffle=True, seed=1).write_parquet(path)
    return path


def _in_file_order(path: Path, posts: pl.DataFrame) -> pl.DataFrame:
    """Rewrite the embeddings at ``path`` in the order the embed stage writes them
    (``file_order``: time, then the text's hash); returns the table."""
    stored = (
        file_order(posts)
        .select("post_id")
        .join(pl.read_parquet(path), on="post_id", maintain_order="left")
    )
    stored.write_parquet(path)
    return stored


def _stage(
    posts: pl.DataFrame, emb: pl.DataFrame | Path, accounts, reactions, p, texts=None
) -> dict:
    """Both topic stages: the fit, then the assignment by it (keywords of 2+ authors: the small
    worlds have 9 accounts in all)."""
    fit = fit_stage.fit(posts, emb, p, texts, min_authors=2)
    return compute(posts, emb, accounts, reactions, p, fit)


def _as_parts(path: Path, cuts: tuple[int, ...] = (7, 19)) -> Path:
    """The table at ``path`` cut into monthly parts in a folder (the embed stage's layout),
    with a manifest the readers must ignore; returns the folder."""
    table = pl.read_parquet(path)
    folder = path.parent / "embeddings"
    folder.mkdir()
    bounds = [0, *cuts, table.height]
    for month, (lo, hi) in enumerate(itertools.pairwise(bounds), start=1):
        table.slice(lo, hi - lo).write_parquet(folder / f"2024-{month:02d}.parquet")
    (folder / "manifest.json").write_text("{}")
    path.unlink()
    return folder


@pytest.mark.parametrize("layout", ["file", "parts"])
@pytest.mark.parametrize("holes", [(), (0, 7, 20)])
@pytest.mark.parametrize("read_rows", [3, 8192])
def test_parquet_vectors_serve_every_row_once_in_the_given_order(
    tmp_path: Path, holes: tuple[int, ...], read_rows: int, layout: str, monkeypatch
) -> None:
    monkeypatch.setattr(vectors, "READ_ROWS", read_rows)  # batches assembled from small reads
    x = _blobs(n_per=10)
    path = _embeddings_file(tmp_path, x, holes=holes)
    if layout == "parts":  # rows numbered across the parts, in the parts' name order
        path = _as_parts(path)
    assert vectors.vector_dim(path) == DIM
    rows = vectors.embedded_posts(path)
    assert rows.height == len(x)  # the empty-text rows (null vectors) are not served
    stored = vectors.read_table(path).with_row_index("_file_row")
    want_rows = stored.filter(pl.col("embedding").is_not_null())
    assert rows["post_id"].equals(want_rows["post_id"])
    assert np.array_equal(rows["_file_row"].to_numpy(), want_rows["_file_row"].to_numpy())
    order = np.random.default_rng(2).permutation(rows["_file_row"].to_numpy())
    want = stored["embedding"].to_numpy()[order]
    for batch_rows in (1, 4, 1000):
        src = vectors.ParquetVectors(path, order, DIM, batch_rows=batch_rows)
        seen = np.zeros(len(order), dtype=int)
        for pos, xb in src.batches():
            assert (np.diff(pos) > 0).all()
            assert np.array_equal(xb, want[pos])
            seen[pos] += 1
        assert (seen == 1).all()
        pick = np.array([5, 0, 29, 5, 17])
        assert np.array_equal(src.take(pick), want[pick])


def test_a_folder_of_no_part_is_an_empty_table(tmp_path: Path) -> None:
    """Zero posts: the embed stage leaves a folder with its manifest only."""
    folder = tmp_path / "embeddings"
    folder.mkdir()
    (folder / "manifest.json").write_text("{}")
    assert vectors.parts(folder) == []
    assert vectors.embedded_posts(folder).height == 0
    assert vectors.vector_dim(folder) == vectors.DEFAULT_DIM
    assert vectors.read_table(folder).columns == ["post_id", "is_empty_text", "embedding"]
    src = vectors.ParquetVectors(folder, np.zeros(0, dtype=np.int64), DIM)
    assert len(src) == 0 and list(src.batches()) == []


def _count_passes(monkeypatch) -> list[int]:
    """A list that gets one item per pass :class:`vectors.ParquetVectors` starts over its file."""
    passes: list[int] = []
    reads = vectors.ParquetVectors._reads
    monkeypatch.setattr(
        vectors.ParquetVectors,
        "_reads",
        lambda self, stop=None: passes.append(1) or reads(self, stop),
    )
    return passes


def test_rows_before_the_last_one_served_are_all_that_is_read(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(vectors, "READ_ROWS", 10)
    x = _blobs(n_per=40)  # 120 rows
    path = _embeddings_file(tmp_path, x)
    want = pl.read_parquet(path)["embedding"].to_numpy()
    read = []
    reads = vectors.ParquetVectors._reads

    def counted(self, stop=None):
        for start, col in reads(self, stop):
            read.append(len(col))
            yield start, col

    monkeypatch.setattr(vectors.ParquetVectors, "_reads", counted)
    early = np.array([31, 2, 17, 0])  # a prefix of the file, as the posts before a date are
    src = vectors.ParquetVectors(path, early, DIM, batch_rows=20)
    got = np.zeros((len(early), DIM), dtype=np.float32)
    for pos, xb in src.batches():
        got[pos] = xb
    assert np.array_equal(got, want[early])
    assert sum(read) == 40  # four reads of 10 rows, to file row 31; not the 120
    read.clear()
    assert np.array_equal(src.take(np.array([1, 3])), want[[2, 0]])
    assert sum(read) == 10
    read.clear()
    assert list(vectors.ParquetVectors(path, early[:0], DIM).batches()) == []
    assert sum(read) == 0


@pytest.mark.parametrize("method", ["kmeans", "hdbscan"])
def test_refits_at_several_seeds_read_the_file_twice_and_equal_one_refit_each(
    tmp_path: Path, method: str, monkeypatch
) -> None:
    x = _blobs(n_per=60)
    path = _embeddings_file(tmp_path, x, holes=(3, 50))
    order = vectors.embedded_posts(path)["_file_row"].to_numpy()
    src = vectors.ParquetVectors(path, order, DIM, batch_rows=40)  # several batches
    p = TopicsParams(
        method=method,
        n_topics=3,
        fit_max_posts=100,  # a different sample per seed, overlapping
        hdbscan_min_cluster_size=10,
        outlier_min_cosine=0.2,
        n_stability_seeds=4,
    )
    seeds = [p.seed + i for i in range(p.n_stability_seeds)]
    alone = [cluster_posts(src, p, seed=s) for s in seeds]
    passes = _count_passes(monkeypatch)
    together = cluster_seeds(src, p, seeds)
    assert len(passes) == 2  # one take of every sample, one assignment pass
    assert len({tuple(c.labels) for c in alone}) > 1  # the seeds fit differently
    for a, b in zip(alone, together, strict=True):
        assert np.array_equal(a.labels, b.labels)
        assert np.array_equal(a.centroids, b.centroids)
        assert np.array_equal(a.assigner.centroids, b.assigner.centroids)
        assert (a.n_fit_outliers, a.n_reassigned) == (b.n_fit_outliers, b.n_reassigned)
    from sklearn.metrics import adjusted_rand_score

    aris = [
        adjusted_rand_score(alone[i].labels, alone[j].labels)
        for i in range(len(seeds))
        for j in range(i + 1, len(seeds))
    ]
    assert stability(src, p) == float(np.mean(aris))
    with pytest.raises(ValueError, match="n_topics"):
        cluster_seeds(src, p.model_copy(update={"n_topics": 0}), seeds)


@pytest.mark.filterwarnings(
    "ignore:Number of distinct clusters:sklearn.exceptions.ConvergenceWarning"
)
@pytest.mark.parametrize(
    ("method", "n_topics", "duplicates"),
    [("kmeans", 0, False), ("kmeans", 3, False), ("hdbscan", 0, False), ("kmeans", 5, True)],
)
def test_the_clustering_and_its_stability_from_shared_passes_equal_them_apart(
    tmp_path: Path, method: str, n_topics: int, duplicates: bool, monkeypatch
) -> None:
    x = _blobs(n_per=60)
    if duplicates:  # 4 distinct rows for k=5: k-means leaves a topic empty
        x = np.repeat(x[[0, 1, 60, 120]], 30, axis=0)
    path = _embeddings_file(tmp_path, x)
    order = vectors.embedded_posts(path)["_file_row"].to_numpy()
    src = vectors.ParquetVectors(path, order, DIM, batch_rows=40)
    p = TopicsParams(
        method=method,
        n_topics=n_topics,
        k_grid=(2, 3, 4),
        fit_max_posts=100,
        hdbscan_min_cluster_size=10,
        n_stability_seeds=3,
    )
    res = cluster_posts(src, p)
    k_fitted = n_topics or len(res.topic_ids)  # the k search's k: every topic is kept here
    ari = stability(src, p.model_copy(update={"n_topics": k_fitted}))
    passes = _count_passes(monkeypatch)
    shared, shared_ari = cluster_with_stability(src, p)
    assert np.array_equal(shared.labels, res.labels)
    assert np.array_equal(shared.assigner.topic_ids, res.assigner.topic_ids)
    assert np.array_equal(shared.centroids, res.centroids)
    assert shared_ari == ari
    if duplicates:
        assert len(res.topic_ids) < n_topics  # the refits still ran at the k fitted
    if method == "kmeans":  # the k search's sample, every seed's sample, one assignment
        assert len(passes) == (1 if n_topics == 0 else 0) + 2


@pytest.mark.parametrize("method", ["kmeans", "hdbscan"])
def test_tiny_batches_give_the_labels_of_one_batch(tmp_path: Path, method: str) -> None:
    x = _blobs()
    far = -np.eye(DIM)[[0, 1]] * 5 - 1  # HDBSCAN outliers, one reassigned, one not
    x = np.concatenate([x, far, np.eye(DIM)[[9]] * 5]).astype(np.float32)
    p = TopicsParams(
        method=method,
        n_topics=3 if method == "kmeans" else 0,
        fit_max_posts=100,  # fewer than the rows: the rest is assigned batch by batch
        hdbscan_min_cluster_size=10,
        outlier_min_cosine=-0.05,
        seed=4,
    )
    one = cluster_posts(x, p)
    many = cluster_posts(vectors.ArrayVectors(x, batch_rows=7), p)
    assert np.array_equal(one.labels, many.labels)
    assert (one.n_fit_outliers, one.n_reassigned) == (many.n_fit_outliers, many.n_reassigned)
    np.testing.assert_allclose(many.centroids, one.centroids, rtol=0, atol=1e-6)
    # one batch is the all-at-once computation: unit-norm mean of every topic over all rows
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    ids, cents = centroids(xn.astype(np.float32), one.labels)
    assert np.array_equal(one.centroids, cents[np.searchsorted(ids, one.topic_ids)])
    soft_one = soft_membership(x, one.labels, one.centroids, p)
    soft_many = soft_membership(vectors.ArrayVectors(x, batch_rows=5), one.labels, one.centroids, p)
    assert soft_one.select("row", "topic_id", "is_primary").equals(
        soft_many.select("row", "topic_id", "is_primary")
    )
    np.testing.assert_allclose(
        soft_many["probability"].fill_null(-1).to_numpy(),
        soft_one["probability"].fill_null(-1).to_numpy(),
        rtol=1e-5,
    )
    if method == "hdbscan":
        assert (one.labels == OUTLIER).any() and one.n_reassigned > 0


@pytest.mark.parametrize("method", ["kmeans", "hdbscan"])
@pytest.mark.parametrize("batch_rows", [7, None])
def test_one_pass_gives_the_fits_own_labels_and_the_memberships(
    method: str, batch_rows: int | None
) -> None:
    """Stage ``topics`` assigns and takes memberships in one pass over the vectors: the
    labels the fit's own pass gave (bit for bit, several batches too), and the memberships of
    :func:`soft_membership` over them."""
    x = _blobs(n_per=60)
    x = np.concatenate([x, -np.eye(DIM)[[0, 1]] * 5 - 1]).astype(np.float32)
    p = TopicsParams(
        method=method,
        n_topics=3,
        fit_max_posts=100,  # fewer than the rows
        hdbscan_min_cluster_size=5,
        outlier_min_cosine=0.3,
        seed=4,
    )
    src = vectors.ArrayVectors(x, batch_rows=batch_rows)
    res = cluster_posts(src, p)
    done = assign_with_membership(src, res.assigner, res.centroids, p)
    labels = done.labels
    assert np.array_equal(labels, res.labels)
    assert done.soft.equals(soft_membership(src, res.labels, res.centroids, p))
    assert np.array_equal(done.topic_ids, np.unique(res.labels))
    if method == "hdbscan":
        assert (labels == OUTLIER).sum() >= 2  # the two far rows, outside every topic


def test_stage_from_the_file_equals_the_stage_from_memory(tmp_path: Path, monkeypatch) -> None:
    x = _blobs(n_per=25)
    path = _embeddings_file(tmp_path, x, holes=(3,))
    stored = pl.read_parquet(path)
    n = stored.height
    posts = pl.DataFrame(
        {
            "post_id": stored["post_id"],
            "account_id": [f"acct_{i % 9}" for i in range(n)],
            "parent_post_id": pl.Series([None] * n, dtype=pl.String),
            # pairs of posts share a second: the order falls back on the text hash
            "created_at": [datetime(2024, 1, 1) + timedelta(seconds=i // 2) for i in range(n)],
            "text": [f"word{i % 3} topic text" for i in range(n)],
            "labels": [[f"tag{i % 3}"] for i in range(n)],
            "kind": ["post"] * n,
        }
    )
    stored = _in_file_order(path, posts)
    accounts = pl.DataFrame({"account_id": [f"acct_{i}" for i in range(9)], "is_participant": True})
    reactions = pl.DataFrame(
        {"post_id": [], "actor_account_id": []},
        schema={"post_id": pl.String, "actor_account_id": pl.String},
    )
    p = TopicsParams(n_topics=3, fit_max_posts=100, n_stability_seeds=2)
    emb_mem, x_mem = post_vectors(posts, stored)
    emb_file, x_file = post_vectors(posts, path)
    assert emb_mem.equals(emb_file)
    assert np.array_equal(
        np.concatenate([b for _, b in x_mem.batches()]), x_file.take(np.arange(len(x_file)))
    )
    mem = _stage(posts, stored, accounts, reactions, p)
    file = _stage(posts, path, accounts, reactions, p)
    for name in ("topics", "post_topics", "account_topics"):
        assert mem[name].equals(file[name]), name  # one batch: bit for bit
    assert mem["metrics"] == file["metrics"]
    monkeypatch.setattr(vectors, "BATCH_ROWS", 4)
    tiny = _stage(posts, path, accounts, reactions, p)
    for name in ("topics", "account_topics"):
        assert mem[name].equals(tiny[name]), name
    cols = ["post_id", "topic_id", "is_primary"]
    assert mem["post_topics"].select(cols).equals(tiny["post_topics"].select(cols))
    np.testing.assert_allclose(
        tiny["post_topics"]["probability"].to_numpy(),
        mem["post_topics"]["probability"].to_numpy(),
        rtol=1e-5,
    )
    assert mem["metrics"] == tiny["metrics"]


def test_the_stage_reading_the_texts_from_the_file_equals_it_holding_them(
    tmp_path: Path, monkeypatch
) -> None:
    """Stage ``topic_fit`` keeps the texts in the posts file, counted for the keywords batch
    by batch. The same outputs as with the texts in memory, with the posts file in another row
    order than the vectors and batches that cut through it."""
    posts, path, accounts, reactions = _small_world(tmp_path, null_text=5)
    n = posts.height
    posts = posts.sample(fraction=1.0, shuffle=True, seed=3)
    posts_path = tmp_path / "posts.parquet"
    posts.write_parquet(posts_path)
    p = TopicsParams(n_topics=3, fit_max_posts=100, n_stability_seeds=2)
    monkeypatch.setattr(vectors, "BATCH_ROWS", 7)
    held = _stage(posts, path, accounts, reactions, p)
    read = _stage(
        posts.drop("text"), path, accounts, reactions, p, fit_stage.file_texts(posts_path)
    )
    for name in ("topics", "post_topics", "account_topics"):
        assert held[name].equals(read[name]), name
    assert held["metrics"] == read["metrics"]
    assert any(held["topics"]["keywords"].list.len() > 0)
    # a file whose texts do not match the posts is an error, not a silent shift
    with pytest.raises(RuntimeError, match="texts read for"):
        fit_stage.fit(posts.drop("text").head(n - 1), path, p, fit_stage.file_texts(posts_path))
    # the authors come from the file too: a keyword needs privacy.min_cell_k (10 unless set)
    # distinct authors in its topic, and this world has 9 accounts
    texts = fit_stage.file_texts(posts_path)
    assert fit_stage.fit(posts.drop("text"), path, p, texts).keywords == [[], [], []]
    assert all(fit_stage.fit(posts.drop("text"), path, p, texts, min_authors=3).keywords)
    assert fit_stage.fit(posts, path, p).keywords == [[], [], []]


def _small_world(
    tmp_path: Path, null_text: int | None = None
) -> tuple[pl.DataFrame, Path, pl.DataFrame, pl.DataFrame]:
    """75 posts of three subjects in time order (pairs share a second; post ``null_text`` has
    no text), their vectors in the embed stage's file order, 9 accounts, no reactions."""
    x = _blobs(n_per=25)
    path = _embeddings_file(tmp_path, x, holes=(3,))
    stored = pl.read_parquet(path)
    n = stored.height
    words = ["espresso grinder", "bike derailleur", "mulch compost"]
    posts = pl.DataFrame(
        {
            "post_id": stored["post_id"],
            "account_id": [f"acct_{i % 9}" for i in range(n)],
            "parent_post_id": pl.Series([None] * n, dtype=pl.String),
            "created_at": [
                datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=i // 2) for i in range(n)
            ],
            "text": [None if i == null_text else f"{words[i % 3]} note{i % 4}" for i in range(n)],
            "labels": [[f"tag{i % 3}"] for i in range(n)],
            "kind": ["post"] * n,
        }
    )
    _in_file_order(path, posts)
    accounts = pl.DataFrame({"account_id": [f"acct_{i}" for i in range(9)], "is_participant": True})
    reactions = pl.DataFrame(
        {"post_id": [], "actor_account_id": []},
        schema={"post_id": pl.String, "actor_account_id": pl.String},
    )
    return posts, path, accounts, reactions


def test_a_frozen_fit_gives_the_posts_written_since_its_topics(tmp_path: Path) -> None:
    """``dvc freeze topic_fit``: the topics stage assigns every post by the fit it reads. Posts
    the fit saw keep their topics, later ones join the fitted topics (ids and keywords
    unchanged), and the metrics count the posts the fit has not seen."""
    posts, path, accounts, reactions = _small_world(tmp_path)
    p = TopicsParams(n_topics=3, fit_max_posts=100, n_stability_seeds=2)
    cut = posts["created_at"][50]
    early = posts.filter(pl.col("created_at") < cut)
    frozen = fit_stage.fit(early, path, p)
    assert frozen.n_posts == early.height - 1  # the empty text has no vector
    # the fit goes through its JSON file unchanged (float32 values round-trip exactly)
    contracts.write(frozen, tmp_path / "topic_model.json")
    loaded = contracts.load(TopicFit, tmp_path / "topic_model.json")
    for a, b in ((assigner(loaded), assigner(frozen)),):
        assert np.array_equal(a.centroids, b.centroids) and a.centroids.dtype == np.float32
        assert np.array_equal(a.topic_ids, b.topic_ids)
    assert np.array_equal(centroid_matrix(loaded), centroid_matrix(frozen))
    then = compute(early, path, accounts, reactions, p, loaded)
    held = compute(early, path, accounts, reactions, p, frozen)
    for name in ("topics", "post_topics", "account_topics"):
        assert held[name].equals(then[name]), name
    now = compute(posts, path, accounts, reactions, p, loaded)
    assert then["metrics"]["fit"]["n_posts_after_fit"] == 0
    n_late = posts.filter(pl.col("created_at") > pl.lit(cut).dt.offset_by("-1s")).height
    assert now["metrics"]["fit"] == {
        "vectors": "unspecified",
        "n_posts_fitted": frozen.n_posts,
        "n_posts_assigned": posts.height - 1,
        "n_posts_after_fit": n_late,
        "fitted_through": frozen.fitted_through,
        "n_sample_outliers": 0,
        "n_sample_outliers_assigned": 0,
        "removed_accounts_sha256": None,
        "min_cell_k": frozen.min_cell_k,
    }
    assert now["metrics"]["n_topics"] == 3
    kept = now["post_topics"].join(then["post_topics"], on="post_id", how="semi")
    assert kept.equals(then["post_topics"])  # the fit's posts: the same topics, bit for bit
    by_id = now["topics"].select("topic_id", "keywords")
    assert by_id.equals(then["topics"].select("topic_id", "keywords"))
    # the late posts join the fitted topics (three blobs, every one of them found again)
    late = (
        now["post_topics"]
        .filter("is_primary")
        .join(posts.filter(pl.col("created_at") >= cut).select("post_id"), on="post_id")
    )
    assert late.height == n_late and set(late["topic_id"]) == {0, 1, 2}
    # refitted on every post: nothing unseen
    full = compute(posts, path, accounts, reactions, p, fit_stage.fit(posts, path, p))
    assert full["metrics"]["fit"]["n_posts_after_fit"] == 0


def test_a_fit_of_other_vectors_or_a_file_out_of_order_is_refused(tmp_path: Path) -> None:
    posts, path, accounts, reactions = _small_world(tmp_path)
    p = TopicsParams(n_topics=3, fit_max_posts=100, n_stability_seeds=2)
    fit = fit_stage.fit(posts, path, p)
    other = fit.model_copy(
        update={
            "dim": 8,
            "assign_centroids": [c[:8] for c in fit.assign_centroids],
            "centroids": [c[:8] for c in fit.centroids],
        }
    )
    with pytest.raises(ValueError, match="8 dimensions, the embeddings 16"):
        compute(posts, path, accounts, reactions, p, other)
    # the same dimension, other vectors (a dump past embed.static_above_posts goes static)
    torch = fit_stage.fit(posts, path, p, space=vector_space(EmbedParams(), posts.height))
    static = vector_space(EmbedParams(static_above_posts=10), posts.height)
    assert torch.vectors == "all-MiniLM-L6-v2@0.1.0" and static.endswith("+static-m2v-v1")
    compute(posts, path, accounts, reactions, p, torch, torch.vectors)  # the same: fine
    with pytest.raises(ValueError, match="static-m2v-v1: another model, route"):
        compute(posts, path, accounts, reactions, p, torch, static)
    pl.read_parquet(path).reverse().write_parquet(path)
    with pytest.raises(ValueError, match="not in time order"):
        post_vectors(posts, path)


def _tied_posts(pseudonym: str) -> tuple[pl.DataFrame, np.ndarray]:
    """60 posts in 20 instants of 3 posts each (ties in time), ids drawn from ``pseudonym``,
    and a vector per post that depends on its text only."""
    n = 60
    texts = [f"text {i}" for i in range(n)]
    rng = np.random.default_rng(5)
    x = rng.normal(size=(n, DIM)).astype(np.float32)
    ids = [hashlib.sha256(f"{pseudonym}{i}".encode()).hexdigest()[:12] for i in range(n)]
    posts = pl.DataFrame(
        {
            "post_id": ids,
            "created_at": [datetime(2024, 1, 1) + timedelta(minutes=i // 3) for i in range(n)],
            "text": texts,
        }
    )
    return posts, x


def _batches_for(posts: pl.DataFrame, x: np.ndarray, order: pl.DataFrame, path: Path) -> list:
    """Write ``x`` in the rows of ``order`` (post_id), serve it as the topics stage does."""
    by_id = dict(zip(posts["post_id"], x, strict=True))
    pl.DataFrame(
        {
            "post_id": order["post_id"],
            "is_empty_text": [False] * order.height,
            "embedding": [list(map(float, by_id[i])) for i in order["post_id"]],
        },
        schema={
            "post_id": pl.String,
            "is_empty_text": pl.Boolean,
            "embedding": pl.Array(pl.Float32, DIM),
        },
    ).write_parquet(path)
    _, src = post_vectors(posts, path)
    return [(pos.tolist(), xb.tobytes()) for pos, xb in src.batches()]


def test_the_vectors_batches_do_not_depend_on_the_pseudonyms(tmp_path: Path, monkeypatch) -> None:
    """topics, validate's refits and report's topic means add the vectors up batch by batch in
    file order: embeddings.parquet is written in a key-independent order (``file_order``), so
    the same posts under other pseudonyms give the same batches, bit for bit. Written in the
    interim table's order (time, then pseudonym), they do not: ties in time straddle a batch."""
    monkeypatch.setattr(vectors, "BATCH_ROWS", 7)
    monkeypatch.setattr(vectors, "READ_ROWS", 4)
    served, naive = [], []
    for key in ("alpha", "zulu"):
        posts, x = _tied_posts(key)
        served.append(_batches_for(posts, x, file_order(posts), tmp_path / f"{key}.parquet"))
        interim = posts.sort("created_at", "post_id")
        naive.append(_batches_for(posts, x, interim, tmp_path / f"{key}-interim.parquet"))
    assert served[0] == served[1]
    assert naive[0] != naive[1]  # the check above can fail: the interim order is key-dependent


@pytest.mark.parametrize("batch_rows", [4, vectors.BATCH_ROWS])
def test_refits_before_an_origin_read_from_the_file_give_the_topics_from_memory(
    tmp_path: Path, batch_rows: int, monkeypatch
) -> None:
    """validate refits topics before each origin from the file, batch by batch: in one batch
    the bits of the table in memory; in many, the same topics (float rounding only)."""
    monkeypatch.setattr(vectors, "BATCH_ROWS", batch_rows)
    x = _blobs(n_per=25)
    path = _embeddings_file(tmp_path, x, holes=(3, 40))
    stored = pl.read_parquet(path)
    n = stored.height
    posts = pl.DataFrame(
        {
            "post_id": stored["post_id"],
            "created_at": [datetime(2024, 1, 1) + timedelta(seconds=i // 2) for i in range(n)],
            "text": [f"word{i % 3} topic text" for i in range(n)],
        }
    )
    stored = _in_file_order(path, posts)
    p = TopicsParams(n_topics=3, fit_max_posts=100, n_stability_seeds=2)
    origin = datetime(2024, 1, 1) + timedelta(seconds=n // 3)
    mem = post_topics_before(stored, posts, origin, p, 3)
    file = post_topics_before(path, posts, origin, p, 3)
    assert mem.height > 0
    cols = ["post_id", "topic_id", "is_primary"]
    assert mem.select(cols).equals(file.select(cols))
    if batch_rows == vectors.BATCH_ROWS:
        assert mem.equals(file)  # one batch: bit for bit
    np.testing.assert_allclose(
        file["probability"].to_numpy(), mem["probability"].to_numpy(), rtol=1e-5
    )
    early = posts.filter(pl.col("created_at") < origin)["post_id"]
    assert set(file["post_id"]) <= set(early)  # nothing written at or after the origin
    assert post_topics_before(path, posts, datetime(2023, 1, 1), p, 3).is_empty()
    # the stages hold the ids as categoricals (schema.ID_COLUMNS): the same topics,
    # the ids of the posts' type, from the file and from memory, and when none is early enough
    cat = posts.with_columns(pl.col("post_id").cast(pl.Categorical))
    for source in (path, stored):
        got = post_topics_before(source, cat, origin, p, 3)
        assert got.schema["post_id"] == pl.Categorical
        assert got.with_columns(pl.col("post_id").cast(pl.String)).equals(
            file if source is path else mem
        )
    none = post_topics_before(path, cat, datetime(2023, 1, 1), p, 3)
    assert none.is_empty() and none.schema["post_id"] == pl.Categorical


def test_a_refit_with_an_automatic_k_chooses_it_on_the_earlier_posts_alone(tmp_path: Path) -> None:
    """With ``topics.n_topics: 0`` the number of topics is chosen on the posts before the
    origin: two subjects then, six by the end; the whole dump's six would carry the later
    subjects into the scores at the origin."""
    x = _blobs(n_per=30, k=6)  # rows in blob order: the first two subjects come first
    path = _embeddings_file(tmp_path, x)
    n = len(x)
    posts = pl.DataFrame(
        {
            "post_id": [f"post_{i:04d}" for i in range(n)],
            "created_at": [datetime(2024, 1, 1) + timedelta(seconds=i) for i in range(n)],
            "text": [f"text {i}" for i in range(n)],
        }
    )
    _in_file_order(path, posts)
    p = TopicsParams(n_topics=0, k_grid=[2, 6], fit_max_posts=1000)
    origin = datetime(2024, 1, 1) + timedelta(seconds=60)

    def n_topics(t: datetime, k: int | None) -> int:
        got = post_topics_before(path, posts, t, p, k).filter("is_primary")
        return got["topic_id"].n_unique()

    assert n_topics(origin, None) == 2
    assert n_topics(datetime(2024, 1, 2), None) == 6  # the whole dump's choice
    assert n_topics(origin, 6) == 6  # a number given is kept


@pytest.mark.parametrize("batch_rows", [4, None])
def test_the_topics_mean_vectors_are_the_means_of_their_primary_posts(
    tmp_path: Path, batch_rows: int | None, monkeypatch
) -> None:
    """Stage ``topics`` sums each topic's vectors in its pass (the report's topic map reads
    them from ``topics.parquet``, no vector): the mean of the vectors of the posts whose
    primary topic it is, bit for bit in one batch."""
    posts, path, accounts, reactions = _small_world(tmp_path)
    if batch_rows:
        monkeypatch.setattr(vectors, "BATCH_ROWS", batch_rows)
    p = TopicsParams(n_topics=3, fit_max_posts=100, n_stability_seeds=2)
    out = _stage(posts, path, accounts, reactions, p)
    topics = out["topics"]
    # the all-at-once computation the report did before
    joined = pl.read_parquet(path).join(out["primary"], on="post_id", how="inner")
    xa = joined["embedding"].to_numpy().astype(np.float64)
    lab = joined["topic_id"].to_numpy()
    want = np.stack([xa[lab == t].mean(axis=0) for t in topics["topic_id"]])
    got = topics[MEAN_EMBEDDING].to_numpy()
    if batch_rows:
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    else:
        np.testing.assert_array_equal(got, want)
    xy = topic_coordinates(topics.drop(MEAN_EMBEDDING), got, seed=1)
    assert xy["x"].null_count() == 0 and xy.height == 3


def _ctfidf_all_at_once(
    texts: list[str],
    labels: np.ndarray,
    n: int,
    authors: list[str] | None = None,
    min_authors: int = 1,
) -> dict[int, list[str]]:
    """The keywords as computed before batching: one CountVectorizer document per topic; with
    ``authors``, only words of ``min_authors`` distinct authors in the topic (counted here
    text by text with the same analyser)."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer

    from analysis.topics_keywords import PLACEHOLDER_WORDS

    ids = [int(t) for t in np.unique(labels) if t != OUTLIER]
    docs = [
        " ".join(t for t, lab in zip(texts, labels, strict=True) if lab == c and t) for c in ids
    ]
    vec = CountVectorizer(
        stop_words=sorted(ENGLISH_STOP_WORDS | set(PLACEHOLDER_WORDS)),
        token_pattern=r"(?u)\b[^\W\d_][\w'-]*[^\W_]\b",
    )
    counts = vec.fit_transform(docs).toarray().astype(np.float64)
    words = vec.get_feature_names_out()
    allowed = np.ones(counts.shape, dtype=bool)
    if authors is not None:
        analyse = vec.build_analyzer()
        who: dict[tuple[int, str], set[str]] = {}
        for t, lab, a in zip(texts, labels, authors, strict=True):
            for w in analyse(t):
                who.setdefault((int(lab), w), set()).add(a)
        allowed = np.array(
            [[len(who.get((c, w), ())) >= min_authors for w in words] for c in ids]
        ).reshape(counts.shape)
    per_class = counts.sum(axis=1, keepdims=True)
    tf = counts / np.where(per_class == 0, 1, per_class)
    idf = np.log(1 + per_class.mean() / np.maximum(counts.sum(axis=0), 1))
    score = np.where(allowed, tf * idf, 0.0)
    return {
        c: [str(words[j]) for j in np.lexsort((words, -score[r]))[:n] if score[r, j] > 0]
        for r, c in enumerate(ids)
    }


def test_keywords_counted_in_batches_are_the_keywords_of_one_document_per_topic(
    monkeypatch,
) -> None:
    rng = np.random.default_rng(5)
    vocab = ["espresso", "grinder", "bike", "derailleur", "ΣΟΦΙΑΣ", "café", "don't", "re-use",
             "tyre-", "the", "[handle]", "x2", "naïve", "ÉCOLE", "mulch"]  # fmt: skip
    texts = [" ".join(rng.choice(vocab, size=rng.integers(0, 6))) for _ in range(120)]
    texts[3] = ""
    labels = rng.integers(-1, 4, size=len(texts))
    alone = pl.Series([f"acct_{i}" for i in range(len(texts))])  # every text its own author
    want = _ctfidf_all_at_once(texts, labels, 50)
    for batch_rows in (1, 7, None):
        got = ctfidf_keywords(pl.Series(texts), labels, alone, 50, 1, batch_rows=batch_rows)
        assert got == want, batch_rows
    # 12 authors: only the words of 4+ authors in the topic, whatever the batches and however
    # often the authors are counted again (after every batch)
    few = [f"acct_{a}" for a in rng.integers(0, 12, size=len(texts))]
    want4 = _ctfidf_all_at_once(texts, labels, 50, few, 4)
    assert want4 != want and all(set(want4[c]) <= set(want[c]) for c in want)
    for reduce_rows in (1, 10**6):
        monkeypatch.setattr(topics_keywords, "REDUCE_ROWS", reduce_rows)
        for batch_rows in (1, 7, None):
            got = ctfidf_keywords(texts, labels, few, 50, 4, batch_rows=batch_rows)
            assert got == want4, (reduce_rows, batch_rows)
    # in any order and uneven batches (the stage reads the texts in the file's order)
    order = rng.permutation(len(texts))
    cuts = [0, 1, 30, 31, 77, len(texts)]
    batches = [
        (pl.Series([texts[i] for i in order[a:b]]), alone.gather(order[a:b]), labels[order[a:b]])
        for a, b in itertools.pairwise(cuts)
    ]
    ids = [int(t) for t in np.unique(labels) if t != OUTLIER]
    assert ctfidf_keywords_batches(iter(batches), ids, 50, 1) == want
    # labels that are not among the topics (here topic 2 left out) are left out
    without = {c: w for c, w in want.items() if c != 2}
    kept = labels.copy()
    kept[labels == 2] = OUTLIER
    assert ctfidf_keywords_batches(
        iter([(pl.Series(texts), alone, labels)]), [c for c in ids if c != 2], 50, 1
    ) == _ctfidf_all_at_once(texts, kept, 50)
    assert set(without) == {c for c in ids if c != 2}


def test_a_fit_frozen_by_another_version_says_how_to_refit(tmp_path: Path, monkeypatch) -> None:
    from analysis.stages import topics as topics_stage

    old = {"method": "kmeans", "n_topics": 2, "n_outliers_reassigned": 0}  # an earlier shape
    (tmp_path / "topic_model.json").write_text(json.dumps(old))
    for name in ("POSTS", "EMBEDDINGS"):
        (tmp_path / name).write_bytes(b"")
        monkeypatch.setattr(topics_stage.paths, name, tmp_path / name)
    monkeypatch.setattr(topics_stage.paths, "TOPIC_MODEL", tmp_path / "topic_model.json")
    with pytest.raises(ValueError, match="dvc unfreeze topic_fit && dvc repro") as err:
        topics_stage.run({}, None)  # type: ignore[arg-type]
    assert "topic_model.json does not match TopicFit" in str(err.value)


def test_a_batch_never_spans_two_parts_and_a_part_is_batched_as_alone(tmp_path: Path) -> None:
    """Batches end at every part's end: a month's rows are batched alike in a pass over the
    folder (``topic_fit``) and over the month alone (``topics``, month by month), so both
    compute bit for bit the same rows."""
    x = _blobs(n_per=25)
    folder = _as_parts(_embeddings_file(tmp_path, x, holes=(3,)), cuts=(7, 19))
    files = vectors.parts(folder)
    sizes = [pl.read_parquet(f).height for f in files]
    starts = np.cumsum([0, *sizes])
    rows = vectors.embedded_posts(folder)["_file_row"].to_numpy()
    whole = list(vectors.ParquetVectors(folder, rows, DIM, batch_rows=10).batches())
    alone = []
    for f, lo, hi in zip(files, starts[:-1], starts[1:], strict=True):
        mine = rows[(rows >= lo) & (rows < hi)]
        before = int(np.searchsorted(rows, lo))
        alone += [
            (pos + before, xb)
            for pos, xb in vectors.ParquetVectors(f, mine - lo, DIM, batch_rows=10).batches()
        ]
    assert len(whole) == len(alone) > len(files)
    for (p1, x1), (p2, x2) in zip(whole, alone, strict=True):
        assert np.array_equal(p1, p2) and np.array_equal(x1, x2)
        part = np.searchsorted(starts, rows[p1], side="right")
        assert (part == part[0]).all()  # one part per batch
