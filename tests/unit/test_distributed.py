"""The Dask path (analysis.distributed) in local mode on tiny inputs: it must give exactly what
the single-machine path gives, for embeddings and for the per-account aggregates."""

from __future__ import annotations

import hashlib

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from analysis import distributed, embed, scale

KEY = b"test-key-not-secret-0123456789abcdef"


def fake_encode(texts):
    """Deterministic fake encoder: a unit vector seeded by the text's hash."""
    out = np.empty((len(texts), embed.DIM), dtype=np.float32)
    for i, t in enumerate(texts):
        v = np.random.default_rng(
            int.from_bytes(hashlib.sha256(t.encode()).digest()[:8], "little")
        ).standard_normal(embed.DIM)
        out[i] = v / np.linalg.norm(v)
    return out


def fake_factory():
    """Picklable factory of the fake encoder (what a worker calls instead of loading a model)."""
    return fake_encode


@pytest.fixture(scope="module")
def client():
    dask = pytest.importorskip("dask.distributed")
    cluster = dask.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    )
    c = dask.Client(cluster)
    yield c
    c.close()
    cluster.close()


def _posts() -> pl.DataFrame:
    texts = [f"post {i} about {'coffee' if i % 3 else 'bikes'}" for i in range(300)]
    texts[5] = texts[7]  # a duplicate text
    texts[11] = "   "  # an empty one: flagged, null vector
    return pl.DataFrame({"post_id": [f"p{i}" for i in range(300)], "text": texts})


def test_distributed_embedding_equals_single_machine(client, tmp_path) -> None:
    posts = _posts()
    single, s1 = embed.embed_posts(posts, fake_encode, None)
    cache = embed.EmbeddingCache(tmp_path, "fake", "1")
    dist, s2 = distributed.embed_posts_distributed(
        posts, client, cache=cache, chunk_texts=64, encoder_factory=fake_factory
    )
    assert_frame_equal(dist, single)
    assert s2.n_encoded == s1.n_encoded == 298 and s2.n_empty == 1
    # the cache is shared with the single-machine path: a re-run encodes nothing
    again, s3 = distributed.embed_posts_distributed(
        posts, client, cache=cache, encoder_factory=fake_factory
    )
    assert s3.n_encoded == 0 and again.equals(single)


def test_distributed_embedding_of_parquet_partitions(client, tmp_path) -> None:
    posts = _posts()
    files = []
    for i in range(3):
        f = tmp_path / f"part-{i}.parquet"
        posts.slice(100 * i, 100).write_parquet(f)
        files.append(f)
    params = embed.EmbedParams(cache_dir="")
    stats = distributed.embed_parquet_distributed(
        files, tmp_path / "vectors", client, params, encoder_factory=fake_factory
    )
    assert sum(s["n_posts"] for s in stats) == 300
    got = pl.read_parquet([s["path"] for s in stats]).sort("post_id")
    single, _ = embed.embed_posts(posts, fake_encode, None)
    assert_frame_equal(got, single.sort("post_id"))


def test_distributed_aggregates_equal_single_machine(client, tmp_path) -> None:
    # files cut across months and accounts: the partials must combine exactly
    posts = scale.synthetic_posts(6000, seed=11)
    files = []
    for i in range(4):
        f = tmp_path / f"posts-{i}.parquet"
        posts.slice(1500 * i, 1500).write_parquet(f)
        files.append(f)
    single = scale.account_month_aggregates(pl.scan_parquet(files)).collect()
    dist = distributed.aggregate_distributed(files, client)
    assert_frame_equal(dist, single)
    assert dist["n_replies_received"].sum() > 0
    assert distributed.aggregate_distributed([], client).height == 0


def test_scheduler_address_comes_from_the_environment(monkeypatch) -> None:
    monkeypatch.delenv(distributed.ENV_SCHEDULER, raising=False)
    assert distributed.scheduler_address() is None
    monkeypatch.setenv(distributed.ENV_SCHEDULER, "tcp://10.0.0.5:8786")
    assert distributed.scheduler_address() == "tcp://10.0.0.5:8786"
    assert distributed.scheduler_address("tcp://other:1") == "tcp://other:1"


def test_get_client_starts_and_closes_a_local_cluster(monkeypatch) -> None:
    monkeypatch.delenv(distributed.ENV_SCHEDULER, raising=False)
    c = distributed.get_client(n_workers=1, processes=False)
    try:
        assert c.submit(sum, [1, 2, 3]).result() == 6
    finally:
        distributed.close_client(c)
    assert c.status == "closed"
