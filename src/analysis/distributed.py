"""Beyond one machine: the embedding and aggregation stages on a Dask cluster.

Serves stages ``embed`` and the per-account aggregates (``analysis.scale``) when a Dask
scheduler is given (argument, or the ``RESONANCE_DASK_SCHEDULER`` environment variable, e.g.
``tcp://10.0.0.5:8786``); without one, :func:`get_client` starts a ``LocalCluster``. Nothing is
rewritten for the cluster: workers call the same pure functions as the single-machine path.

* embedding: :func:`distributed_encoder` is an ``embed.Encoder`` that cuts a batch of texts into
  chunks and maps them to workers; each worker loads the model **once** (module-level cache)
  and runs ``embed.encode_texts``. :func:`embed_posts_distributed` hands that encoder to
  ``embed.embed_posts``, so deduplication, the content cache and empty-text flags are the
  single-machine code. :func:`embed_parquet_distributed` is the out-of-core variant: each
  worker reads one Parquet partition of posts and writes its vectors beside it (no text passes
  through the client).
* aggregates: :func:`aggregate_distributed` maps ``scale.aggregate_partials`` over Parquet files
  (any layout) and combines the additive partials with ``scale.finish_aggregates``.

Reads and writes only what it is handed. Scripts that start a ``LocalCluster`` with processes
must do it under ``if __name__ == "__main__":`` (Dask spawns workers by re-importing the script).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from analysis import embed, scale

log = logging.getLogger(__name__)

ENV_SCHEDULER = "RESONANCE_DASK_SCHEDULER"

_MODELS: dict[tuple[str, str, int], Any] = {}
_MODELS_LOCK = threading.Lock()


def scheduler_address(address: str | None = None) -> str | None:
    """The scheduler to use: the argument, else ``$RESONANCE_DASK_SCHEDULER``, else None (local)."""
    return address or os.environ.get(ENV_SCHEDULER) or None


def get_client(
    address: str | None = None,
    n_workers: int = 2,
    threads_per_worker: int = 1,
    processes: bool = True,
) -> Any:
    """A ``dask.distributed.Client`` on the given scheduler, or on a new ``LocalCluster``.

    Args:
        address: scheduler address (``tcp://host:8786``); None: ``$RESONANCE_DASK_SCHEDULER``,
            else a local cluster.
        n_workers, threads_per_worker, processes: the local cluster's shape (ignored with an
            address).

    Returns:
        The client; close it (and its local cluster) with ``client.close()``.
    """
    from dask.distributed import Client, LocalCluster

    address = scheduler_address(address)
    if address:
        log.info("connecting to the Dask scheduler at %s", address)
        return Client(address)
    cluster = LocalCluster(
        n_workers=n_workers,
        threads_per_worker=threads_per_worker,
        processes=processes,
        dashboard_address=None,
    )
    client = Client(cluster)
    client._resonance_cluster = cluster  # closed with the client (see close_client)
    return client


def close_client(client: Any) -> None:
    """Close a client and the local cluster :func:`get_client` may have started for it."""
    cluster = getattr(client, "_resonance_cluster", None)
    client.close()
    if cluster is not None:
        cluster.close()


# --------------------------------------------------------------------------- embedding

EncoderFactory = Callable[[], embed.Encoder]


def worker_encoder(
    model: str, device: str = "auto", threads: int = 1, batch_size: int = 64
) -> embed.Encoder:
    """The encoder of this worker process; the model is loaded on first use only."""
    key = (model, device, threads)
    with _MODELS_LOCK:
        if key not in _MODELS:
            log.info("worker loads %s on %s", model, embed.resolve_device(device))
            _MODELS[key] = embed.load_model(model, device, threads=threads)
    return embed.model_encoder(_MODELS[key], batch_size)


def _encode_chunk(
    texts: list[str],
    model: str,
    device: str,
    threads: int,
    batch_size: int,
    encoder_factory: EncoderFactory | None,
) -> np.ndarray:
    enc = (
        encoder_factory()
        if encoder_factory is not None
        else worker_encoder(model, device, threads, batch_size)
    )
    return embed.encode_texts(texts, enc, batch_size=batch_size)


def distributed_encoder(
    client: Any,
    params: embed.EmbedParams | None = None,
    chunk_texts: int = 1024,
    encoder_factory: EncoderFactory | None = None,
) -> embed.Encoder:
    """An :data:`embed.Encoder` whose work runs on the cluster's workers.

    Args:
        client: a Dask client.
        params: model, device, batch size and threads per worker (``EmbedParams`` defaults).
        chunk_texts: texts per task (larger: less scheduling overhead; smaller: better balance).
        encoder_factory: picklable zero-argument callable returning an encoder, used on the
            workers instead of loading ``params.model`` (tests inject a fake here).

    Returns:
        A function texts -> (n, dim) float32 vectors, in input order.
    """
    p = params or embed.EmbedParams()
    threads = p.threads or 1

    def encode(texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, embed.DIM), dtype=np.float32)
        chunks = [texts[i : i + chunk_texts] for i in range(0, len(texts), chunk_texts)]
        # functools.partial: ``client.map`` has its own ``batch_size`` keyword
        task = partial(
            _encode_chunk,
            model=p.model,
            device=p.device,
            threads=threads,
            batch_size=p.batch_size,
            encoder_factory=encoder_factory,
        )
        futures = client.map(task, chunks, pure=False)
        return np.concatenate(client.gather(futures)).astype(np.float32, copy=False)

    return encode


def embed_posts_distributed(
    posts: pl.DataFrame,
    client: Any,
    params: embed.EmbedParams | None = None,
    cache: embed.EmbeddingCache | None = None,
    chunk_texts: int = 1024,
    encoder_factory: EncoderFactory | None = None,
) -> tuple[pl.DataFrame, embed.EmbedStats]:
    """``embed.embed_posts`` with the encoding spread over the cluster (same output, same cache).

    The client deduplicates texts and consults the cache; only texts missing from it travel to
    the workers, in chunks of ``chunk_texts``.
    """
    p = params or embed.EmbedParams()
    enc = distributed_encoder(client, p, chunk_texts, encoder_factory)
    # One encoder call gets every missing text (already sorted longest first by encode_texts);
    # the distributed encoder then cuts it into chunks for the workers.
    return embed.embed_posts(posts, enc, cache, batch_size=2**31 - 1, progress_min_texts=2**31 - 1)


def _embed_file(
    path: str,
    out_dir: str,
    model: str,
    device: str,
    threads: int,
    batch_size: int,
    cache_dir: str | None,
    revision: str,
    encoder_factory: EncoderFactory | None,
) -> dict[str, Any]:
    enc = (
        encoder_factory()
        if encoder_factory is not None
        else worker_encoder(model, device, threads, batch_size)
    )
    posts = pl.read_parquet(path, columns=["post_id", "text"], hive_partitioning=False)
    cache = embed.EmbeddingCache(cache_dir, model, revision) if cache_dir else None
    frame, stats = embed.embed_posts(posts, enc, cache, batch_size, progress_min_texts=2**31 - 1)
    target = Path(out_dir) / (
        Path(path).parent.name + "-" + Path(path).name
        if Path(path).parent.name.startswith("month=")
        else Path(path).name
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(target)
    return {
        "path": str(target),
        "n_posts": stats.n_posts,
        "n_encoded": stats.n_encoded,
        "n_cached": stats.n_cached,
        "seconds": stats.seconds,
    }


def embed_parquet_distributed(
    files: Sequence[str | Path],
    out_dir: str | Path,
    client: Any,
    params: embed.EmbedParams | None = None,
    encoder_factory: EncoderFactory | None = None,
) -> list[dict[str, Any]]:
    """Out-of-core embedding: one task per Parquet file of posts, vectors written by the worker.

    Workers must see ``files``, ``out_dir`` and the cache folder (a shared filesystem or object
    store); the cache's shards are written atomically, so workers can share it.

    Returns:
        One dict per file: output path and the ``EmbedStats`` numbers.
    """
    p = params or embed.EmbedParams()
    task = partial(
        _embed_file,
        out_dir=str(out_dir),
        model=p.model,
        device=p.device,
        threads=p.threads or 1,
        batch_size=p.batch_size,
        cache_dir=p.cache_dir or None,
        revision=p.revision,
        encoder_factory=encoder_factory,
    )
    futures = client.map(task, [str(f) for f in files], pure=False)
    return client.gather(futures)


# --------------------------------------------------------------------------- aggregates


def _partials_of(paths: list[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    authored, pairs = scale.aggregate_partials(pl.scan_parquet(paths, hive_partitioning=False))
    return authored.collect(engine="streaming"), pairs.collect(engine="streaming")


def aggregate_distributed(
    files: Sequence[str | Path], client: Any, files_per_task: int = 1
) -> pl.DataFrame:
    """Per-account monthly aggregates of the posts in ``files``, computed on the cluster.

    Each task streams its files into additive partials (``scale.aggregate_partials``); the
    client combines them (``scale.finish_aggregates``). Exact for any file layout; with the
    platform/month layout of ``scale.ingest_parquet`` the partials are already small.

    Returns:
        The same frame as ``scale.account_month_aggregates`` on all files together.
    """
    paths = [str(f) for f in files]
    if not paths:
        return pl.DataFrame(schema=scale.AGGREGATES)
    groups = [paths[i : i + files_per_task] for i in range(0, len(paths), files_per_task)]
    parts = client.gather(client.map(_partials_of, groups, pure=False))
    authored = pl.concat([a for a, _ in parts]).lazy()
    pairs = pl.concat([b for _, b in parts]).lazy()
    return scale.finish_aggregates(authored, pairs).collect()
