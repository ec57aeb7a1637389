"""The compute engines of ``dvc repro`` (``compute.engine``): the Dask path in local mode (a
LocalCluster of worker processes) gives what the local engine gives, for the embedding stage's
encoding, for the validity refits of the validate stage and for the agreement bootstrap and the
counterfactual re-scoring of the compare stage."""

from __future__ import annotations

import hashlib
import logging
import shutil
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from analysis import compare, compute, counterfactual, embed, embed_cache, embed_models
from analysis.compute import ComputeParams, LocalEngine, open_engine
from analysis.models import incremental, within_thread
from analysis.vectors import read_table
from tests.unit.test_within_thread import _community, _scores

# One cluster per module (worker processes start in a few seconds); every test on the same group
# so pytest-xdist keeps them on one worker.
pytestmark = pytest.mark.xdist_group("dask-local-cluster")


@dataclass(frozen=True)
class FakeEncoder:
    """Picklable deterministic encoder: a unit vector seeded by the text's hash."""

    dim: int = embed.DIM

    def __call__(self, texts):
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            seed = int.from_bytes(hashlib.sha256(t.encode()).digest()[:8], "little")
            v = np.random.default_rng(seed).standard_normal(self.dim)
            out[i] = v / np.linalg.norm(v)
        return out


def _pid(_: object) -> int:
    import os

    return os.getpid()


@pytest.fixture(scope="module")
def engine():
    pytest.importorskip("dask.distributed")
    with open_engine(ComputeParams(engine="dask", n_workers=2, processes=True)) as eng:
        yield eng


def _posts(n: int = 300) -> pl.DataFrame:
    texts = [f"post {i} about {'coffee ' * (i % 7)}{'bikes' if i % 3 else 'tea'}" for i in range(n)]
    texts[5] = texts[7]  # a duplicate text
    texts[11] = "   "  # an empty one: flagged, null vector
    return pl.DataFrame({"post_id": [f"p{i}" for i in range(n)], "text": texts})


def test_params_refuse_an_unknown_engine() -> None:
    with pytest.raises(ValueError, match="engine"):
        ComputeParams(engine="spark")  # type: ignore[arg-type]
    assert ComputeParams().engine == "local"


def test_engines_map_in_item_order_with_shared_inputs(engine) -> None:
    items = list(range(23))
    local = LocalEngine().map(_shift, items, offset=np.arange(5))
    assert local == [i + 10 for i in items]
    assert engine.map(_shift, items, offset=np.arange(5)) == local
    assert engine.map(_shift, [], offset=0) == []
    # the tasks really ran in other processes
    import os

    assert os.getpid() not in set(engine.map(_pid, range(8)))


def _barrier_task(item: int, barrier, offset: int) -> tuple[int, str]:
    import threading

    if item < 2:  # the first two items wait for each other: they must run at once
        barrier.wait(timeout=30)
    return item + offset, threading.current_thread().name


def test_map_threads_runs_the_local_items_on_threads_in_item_order(monkeypatch) -> None:
    import threading

    monkeypatch.setattr(compute, "available_cores", lambda: 3)
    out = compute.map_threads(
        None, _barrier_task, range(40), barrier=threading.Barrier(2), offset=1
    )
    assert [v for v, _ in out] == [i + 1 for i in range(40)]
    assert len({name for _, name in out[:2]}) == 2  # a lone thread would break the barrier
    # one core: the plain loop of the local engine, in this thread
    monkeypatch.setattr(compute, "available_cores", lambda: 1)
    alone = compute.map_threads(LocalEngine(), _barrier_task, range(2, 9), barrier=None, offset=0)
    assert alone == [(i, threading.current_thread().name) for i in range(2, 9)]


def test_the_agreement_bootstrap_does_not_depend_on_the_number_of_threads(monkeypatch) -> None:
    rng = np.random.default_rng(8)
    x = rng.normal(size=150)
    ids = [f"acct_{i:03d}" for i in range(150)]
    scores = {
        m: pl.DataFrame({"account_id": ids, "score": np.round(v, 1)})
        for m, v in {
            "a": x,
            "b": x + rng.normal(size=150),
            "c": rng.normal(size=150),
            "d": -x,
        }.items()
    }
    p = compare.CompareParams(n_boot=40)
    monkeypatch.setattr(compute, "available_cores", lambda: 1)
    one = compare.agreement(scores, p)
    monkeypatch.setattr(compute, "available_cores", lambda: 4)
    assert_frame_equal(compare.agreement(scores, p), one, check_exact=True)
    assert one["ci_low"].null_count() == 0 and one.height == 6 * 5


def _malloc_env(_: object) -> str | None:
    import os

    return os.environ.get("MALLOC_TRIM_THRESHOLD_")


def test_local_cluster_workers_keep_glibcs_adaptive_mmap_threshold(engine) -> None:
    """Dask's default worker environment sets MALLOC_TRIM_THRESHOLD_, which makes every large
    numpy array a fresh mmap (a validate fit 3x slower): our LocalCluster's workers go without
    it, and keep Dask's one-thread BLAS settings."""
    assert engine.map(_malloc_env, [0, 1, 2, 3]) == [None] * 4
    assert compute.worker_environ().get("OMP_NUM_THREADS") == 1
    assert "MALLOC_TRIM_THRESHOLD_" not in compute.worker_environ()


def _shift(item: int, offset) -> int:
    return item + int(np.sum(offset))


def test_chunks_cut_in_order_and_refuse_zero() -> None:
    assert compute.chunks([1, 2, 3, 4, 5], 2) == [[1, 2], [3, 4], [5]]
    with pytest.raises(ValueError):
        compute.chunks([1], 0)


def test_embedding_on_the_cluster_equals_the_local_run(engine, tmp_path) -> None:
    posts = _posts()
    local, s1 = embed.embed_posts(posts, FakeEncoder(), None, batch_size=16)
    cache = embed_cache.EmbeddingCache(tmp_path, "fake", "1")
    dist, s2 = embed.embed_posts(posts, FakeEncoder(), cache, batch_size=16, engine=engine)
    assert_frame_equal(dist, local, check_exact=True)  # the same batches, the same encoder
    assert s2.n_encoded == s1.n_encoded == 298 and s2.n_empty == 1
    # the cache is the single-machine one: a re-run encodes nothing and gives the same frame
    again, s3 = embed.embed_posts(posts, FakeEncoder(), cache, batch_size=16, engine=engine)
    assert s3.n_encoded == 0
    assert_frame_equal(again, local, check_exact=True)


def test_the_batches_do_not_depend_on_the_engine(engine) -> None:
    texts = _posts(100)["text"].to_list()
    seen: list[list[str]] = []

    def recording(batch):
        seen.append(list(batch))
        return FakeEncoder()(batch)

    embed.encode_texts(texts, recording, batch_size=8, chunk_batches=3)
    chunked: list[list[str]] = []
    for task in [
        [[texts[i] for i in idx] for idx in embed.text_batches(texts, recording, 8)[s : s + 3]]
        for s in range(0, 13, 3)
    ]:
        chunked.append([t for batch in task for t in batch])  # one call a task
    assert chunked == seen  # the cluster's tasks hold exactly the local run's calls
    a = embed.encode_texts(texts, FakeEncoder(), batch_size=8, engine=engine, chunk_batches=3)
    b = embed.encode_texts(texts, FakeEncoder(), batch_size=8)
    assert np.array_equal(a, b)


def test_real_model_on_the_cluster_equals_the_local_run(engine, embedding_model) -> None:
    """The packaged MiniLM, one replica per worker process, on a small sample."""
    texts = [
        "How long should I age a barleywine before opening it?",
        "Is a cold crash needed for a clear lager?",
        "Which hops give a citrus aroma?",
        "The bottle conditioned ale tastes of cardboard after a year.",
        "short",
    ] * 3
    spec = embed_models.ModelEncoder("all-MiniLM-L6-v2", "cpu", threads=1, batch_size=4)
    dist = embed.encode_texts(texts, spec, batch_size=4, engine=engine, chunk_batches=1)
    local = embed.encode_texts(texts, spec, batch_size=4)
    # a vector depends on its text alone (embed_models.TorchEncoder): the same bits anywhere
    assert dist.shape == (15, embed.DIM)
    assert np.array_equal(dist, local)
    assert np.allclose(np.linalg.norm(dist, axis=1), 1.0, atol=1e-5)
    assert dist[0] @ dist[1] < 0.99  # different texts, different vectors


@pytest.fixture(scope="module")
def demo_tables(small_demo):
    from analysis.demo_check import tables_from_demo

    return tables_from_demo(small_demo)


def test_counterfactual_rescoring_on_the_cluster_equals_the_local_run(engine, demo_tables) -> None:
    from analysis import models as registry
    from analysis.models.params import ModelParams

    as_of = demo_tables.posts["created_at"].max() + timedelta(seconds=1)
    models = {n: registry.MODELS[n] for n in ("volume", "conversation_eb")}
    cf = counterfactual.CounterfactualParams(
        n_sample=8,
        n_targets=3,
        n_boot=20,
        gaming_multipliers=(1.0,),
        spam_replier_shares=(0.1,),
        reply_all_sizes=(10,),
        self_chain_lengths=(5,),
        exchange_lengths=(10,),
        puppet_sizes=(5,),
        ring_sizes=(5,),
        ring_size=5,
    )
    local = counterfactual.run_all(demo_tables, models, ModelParams(), as_of, cf)
    dist = counterfactual.run_all(demo_tables, models, ModelParams(), as_of, cf, engine)
    a, b = counterfactual.changes_table(local), counterfactual.changes_table(dist)
    assert a.height > 0 and set(a["scenario"]) == set(counterfactual.SCENARIOS)
    # same rows in the same order, same bits (every float sum is added in a fixed order, so
    # other processes with other thread pools change nothing)
    assert_frame_equal(a, b, check_exact=True)
    ra, rb = counterfactual.robustness_table(local), counterfactual.robustness_table(dist)
    assert ra.keys() == rb.keys()
    for name in ra:
        assert ra[name].keys() == rb[name].keys()
        for k, v in ra[name].items():
            w = rb[name][k]
            assert v == w or (v != v and w != w), (name, k, v, w)


def test_embed_stage_writes_the_same_vectors_with_either_engine(
    engine, tmp_path, monkeypatch, caplog
) -> None:
    """The stage itself (what `dvc repro` runs), once per engine, on a tiny posts table.

    The Dask run connects to the module's cluster by its scheduler address (``compute.address``,
    how a stage reaches a real cluster) instead of starting a LocalCluster of its own.
    """
    import argparse

    from analysis import paths
    from analysis.stages import embed as stage

    monkeypatch.chdir(tmp_path)
    paths.POSTS.parent.mkdir(parents=True)
    _posts(24).with_columns(  # interim posts carry their time: the file is written in time order
        created_at=pl.datetime_range(
            pl.datetime(2024, 1, 1), pl.datetime(2024, 1, 24), "1d", time_zone="UTC"
        )
    ).write_parquet(paths.POSTS)
    outputs = {}
    address = engine.client.scheduler.address
    for name, settings in (("local", {}), ("dask", {"engine": "dask", "address": address})):
        params = {
            "embed": {"device": "cpu", "threads": 1, "batch_size": 8, "cache_dir": f"c-{name}"},
            "compute": settings,
            "privacy": {"opt_out_path": "none.csv"},
        }
        caplog.clear()
        # each engine builds the table from nothing (the stage keeps the months it finds fresh)
        shutil.rmtree(paths.EMBEDDINGS, ignore_errors=True)
        with caplog.at_level(logging.INFO, logger="analysis.compute"):
            assert stage.run(params, argparse.Namespace()) == 0
        records = caplog.messages
        outputs[name] = read_table(paths.EMBEDDINGS)
        assert list((tmp_path / f"c-{name}").glob("*/shard-*.parquet"))  # cache filled
        if name == "dask":  # the stage used the running cluster, it started none
            assert any(f"Dask scheduler at {address}" in r for r in records), records
            assert not any("LocalCluster" in r for r in records), records
    local, dist = outputs["local"], outputs["dask"]
    assert local.height == 24 and local["is_empty_text"].sum() == 1
    assert_frame_equal(local.drop("embedding"), dist.drop("embedding"), check_exact=True)
    np.testing.assert_allclose(
        embed.embedding_matrix(local), embed.embedding_matrix(dist), rtol=0, atol=1e-6
    )


def test_validity_refits_on_the_cluster_equal_the_local_run(engine) -> None:
    """The within-thread and incremental tests' fits (one task per outcome and model, each on
    one BLAS thread) give the same numbers, to the bit, on worker processes."""
    t, trait = _community(trait_effect=0.6, seed=4)
    p = within_thread.ValidateParams(
        origins=2, history_share=0.5, n_boot=30, n_placebo=4, comparators=("volume", "noise")
    )
    at = _scores(t, trait)
    local = within_thread.within_thread(t, at, p)
    dist = within_thread.within_thread(t, at, p, engine)
    assert local["models"]["true"]["conversation"]["ci_low"] is not None
    assert local == dist
    local_inc = incremental.incremental(t, at, p)
    dist_inc = incremental.incremental(t, at, p, engine=engine)
    assert local_inc["models"]["true"]["conversation"]["coef"] is not None
    assert local_inc == dist_inc


def test_agreement_bootstrap_on_the_cluster_equals_the_local_run(engine) -> None:
    """One task per pair of models, each with its generator's state: the same intervals."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=120)
    ids = [f"acct_{i:03d}" for i in range(120)]
    scores = {
        m: pl.DataFrame({"account_id": ids, "score": v})
        for m, v in {"a": x, "b": x + rng.normal(size=120), "c": rng.normal(size=120)}.items()
    }
    p = compare.CompareParams(n_boot=50)
    local = compare.agreement(scores, p)
    assert local["ci_low"].null_count() == 0
    assert_frame_equal(local, compare.agreement(scores, p, engine=engine), check_exact=True)
