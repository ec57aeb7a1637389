"""Benchmark: the ``compute`` engines of ``dvc repro`` in local mode, beside the local engine.

On the same data and through the same functions the stages call: ``embed.embed_posts`` (the
encoding of ``embed``) and ``counterfactual.run_all`` (the re-scoring of ``compare``), once with
``compute.engine: local`` and once on a Dask LocalCluster (worker processes x 1 thread). Prints
the cluster's start, the first call (each worker loads the model) and a warm call, and checks
that the outputs agree. On one machine a cluster can only add overhead: the figures say how
much, which is what a real cluster pays per task on top of the work.

    .venv/bin/python -m benchmarks --only dask        # inside make bench
"""

from __future__ import annotations

import time
from datetime import timedelta

import numpy as np

from benchmarks.common import Figure, measure


def _texts(n: int, seed: int) -> list[str]:
    """Short synthetic posts (~20 words) from the embedding benchmark's vocabulary, distinct."""
    from benchmarks.embed import texts

    return [f"{i} {t}" for i, t in enumerate(texts(n, 20, seed))]


def engines(n_embed: int, n_workers: int = 2) -> list[Figure]:
    """Local engine vs a Dask LocalCluster for embedding ``n_embed`` posts and for the
    counterfactual re-scoring of a 60-account demo."""
    import polars as pl

    from analysis import counterfactual, embed, embed_models
    from analysis import models as registry
    from analysis.compute import ComputeParams, open_engine
    from analysis.config import DemoParams
    from analysis.demo import generate
    from analysis.demo_check import tables_from_demo
    from analysis.models.params import ModelParams

    posts = pl.DataFrame(
        {"post_id": [f"p{i}" for i in range(n_embed)], "text": _texts(n_embed, seed=7)}
    )
    tables = tables_from_demo(generate(DemoParams(seed=7, n_accounts=60, n_days=60)))
    as_of = tables.posts["created_at"].max() + timedelta(seconds=1)
    models = {n: registry.MODELS[n] for n in ("volume", "conversation", "conversation_eb")}
    cf = counterfactual.CounterfactualParams(n_sample=24, n_targets=8, n_boot=50)
    n_tasks = "runs"

    # one process, the stage's default: 2 torch threads
    local_spec = embed_models.ModelEncoder("all-MiniLM-L6-v2", "cpu", threads=n_workers)
    figs: list[Figure] = []
    f, _ = measure(
        "engine: local",
        "embedding, 1st call (+load)",
        n_embed,
        lambda: embed.embed_posts(posts, local_spec, None, 64, 10**9),
        unit="posts",
    )
    figs.append(f)
    f, (single, _) = measure(
        "engine: local",
        "embedding, warm",
        n_embed,
        lambda: embed.embed_posts(posts, local_spec, None, 64, 10**9),
        unit="posts",
    )
    figs.append(f)
    f, local_cf = measure(
        "engine: local",
        "counterfactual re-scoring",
        1,
        lambda: counterfactual.run_all(tables, models, ModelParams(), as_of, cf),
        unit=n_tasks,
    )
    figs.append(f)

    t0 = time.perf_counter()
    with open_engine(ComputeParams(engine="dask", n_workers=n_workers)) as eng:
        start_s = time.perf_counter() - t0
        spec = embed_models.ModelEncoder("all-MiniLM-L6-v2", "cpu", threads=1)
        f, _ = measure(
            "engine: dask",
            f"embedding, {n_workers} workers, 1st (+load)",
            n_embed,
            lambda: embed.embed_posts(posts, spec, None, 64, 10**9, engine=eng),
            unit="posts",
            cluster_start_s=round(start_s, 2),
        )
        figs.append(f)
        f, (dist, _) = measure(
            "engine: dask",
            f"embedding, {n_workers} workers, warm",
            n_embed,
            lambda: embed.embed_posts(posts, spec, None, 64, 10**9, engine=eng),
            unit="posts",
        )
        a, b = embed.embedding_matrix(single), embed.embedding_matrix(dist)
        f.extra["min_cosine_to_local"] = round(float(np.min(np.sum(a * b, axis=1))), 7)
        figs.append(f)
        f, dist_cf = measure(
            "engine: dask",
            f"counterfactual, {n_workers} workers",
            1,
            lambda: counterfactual.run_all(tables, models, ModelParams(), as_of, cf, eng),
            unit=n_tasks,
        )
        x = counterfactual.changes_table(local_cf)
        y = counterfactual.changes_table(dist_cf)
        same_rows = x.select("scenario", "model", "account_id").equals(
            y.select("scenario", "model", "account_id")
        )
        gap = float((x["score_cf"] - y["score_cf"]).abs().max() or 0.0)
        f.extra.update(rows=x.height, same_rows=same_rows, max_abs_score_gap=gap)
        figs.append(f)
    return figs
