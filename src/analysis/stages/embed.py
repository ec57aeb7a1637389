"""Stage ``embed``: read data/interim/posts.parquet, write data/processed/embeddings.parquet.

The texts missing from the cache are encoded where ``compute.engine`` says (this process, or
the workers of a Dask cluster, each loading the model once); the vectors are the same.

The content-addressed cache (``embed.cache_dir``, default ``data/cache/embeddings``) lives
outside DVC on purpose: it is a memo, not a product. Outputs are the same with or without it,
so deleting it must not invalidate the stage, and DVC must not delete it before a run (which
it does to every non-persistent output). It is gitignored and safe to remove at any time.

Erasure reaches it too: when the opt-out list differs from the one the cache last saw, the cache
is pruned to the texts of the current posts, so no vector of a forgotten account's text remains
(the cost: vectors cached for other dumps are re-encoded when next needed).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

from analysis import ordering, paths
from analysis.compute import ComputeParams, open_engine
from analysis.config import PrivacyParams, section
from analysis.embed import EmbedParams, EmbedStats, embed_posts, for_size
from analysis.embed_cache import EmbeddingCache, text_keys, vector_key
from analysis.embed_models import ModelEncoder, installed_revision, resolve_device
from analysis.io import write_parquet

log = logging.getLogger(__name__)


def run(params: dict[str, Any], args: argparse.Namespace) -> int:
    """Embed every post's scrubbed text (cached by content)."""
    p = section(params, "embed", EmbedParams)
    if not paths.POSTS.exists():
        raise FileNotFoundError(f"{paths.POSTS} is missing; run `python -m analysis ingest` first")
    have = installed_revision(p.model)
    if have is not None and have != p.revision:
        raise RuntimeError(
            f"embed.revision is {p.revision!r} in params.yaml but the installed package of "
            f"{p.model} is {have!r}; set embed.revision to the installed version (this re-embeds)"
        )
    compute = section(params, "compute", ComputeParams)
    posts = file_order(pl.read_parquet(paths.POSTS, columns=["post_id", "text", "created_at"]))
    p = for_size(p, posts.height)  # the static route above embed.static_above_posts
    encoder = ModelEncoder.of(p)
    log.info(
        "model %s@%s, route %s, max %d tokens, on %s, batch %d, %d threads per process, engine %s",
        p.model,
        p.revision,
        p.route,
        p.max_seq_length,
        resolve_device(p.device) if compute.engine == "local" else f"the workers' {p.device}",
        p.batch_size,
        p.threads,
        compute.engine,
    )
    cache = EmbeddingCache(p.cache_dir, p.model, vector_key(p))
    with open_engine(compute) as engine:
        stats = embed_in_chunks(
            posts,
            lambda part: embed_posts(
                part,
                encoder,
                cache,
                batch_size=p.batch_size,
                progress_min_texts=p.progress_min_texts,
                engine=None if engine.name == "local" else engine,
            ),
            paths.EMBEDDINGS,
        )
    removed = (
        json.loads(paths.INGEST_METRICS.read_text()).get("removed_accounts_sha256", "")
        if paths.INGEST_METRICS.exists()
        else ""
    )
    opt_out = Path(section(params, "privacy", PrivacyParams).opt_out_path)
    prune_after_erasure(cache, posts, opt_out, removed)
    rate = stats.n_encoded / stats.seconds if stats.seconds else 0.0
    log.info(
        "embed: %d posts, %d empty texts (kept, flagged, no vector), %d unique texts: %d from "
        "cache, %d encoded in %.1f s (%.0f texts/s)",
        stats.n_posts,
        stats.n_empty,
        stats.n_unique_texts,
        stats.n_cached,
        stats.n_encoded,
        stats.seconds,
        rate,
    )
    return 0


def file_order(posts: pl.DataFrame) -> pl.DataFrame:
    """``post_id, text`` in the order ``embeddings.parquet`` is written: key-independent (time,
    then the text's hash: ``ordering.sort_posts``), not the interim table's (time, then the
    pseudonym). The stages that read the vectors batch by batch (topic_fit, topics, validate's
    refits) keep this order (``topics.post_vectors``: the seeded samples are drawn in it) and
    add them up in it; with pseudonyms breaking ties, a batch's rows and the order of a sum
    would change with the key."""
    return ordering.sort_posts(posts).select("post_id", "text")


#: The vectors are written uncompressed: zstd saved ~7 % of a float32 table (1.40 vs 1.47 GB
#: at 1M posts) for 2.7x the time to write it (200k rows: 1.95 vs 0.71 s,
#: ``benchmarks/embed_cache.py``) and 1.6x the time of each pass that reads it back
#: (``vectors.ParquetVectors``: 2.2 vs 1.4 s; topic_fit, topics, validate's refits).
COMPRESSION = "uncompressed"

#: Posts embedded and written per chunk: the stage holds one chunk's vectors (1.5 KiB a post,
#: in a few copies), never the whole dump's (10 M posts: ~15 GiB per copy). Every dump this
#: project ships or tests on is one chunk, written exactly as before.
CHUNK_POSTS = 200_000


def embed_in_chunks(
    posts: pl.DataFrame,
    embed: Callable[[pl.DataFrame], tuple[pl.DataFrame, EmbedStats]],
    path: Path,
    chunk_posts: int = CHUNK_POSTS,
) -> EmbedStats:
    """``embed`` the posts ``chunk_posts`` at a time, appending each chunk's rows to the Parquet
    file ``path`` (same rows, same order as one call); returns the summed stats (unique texts
    and cache hits are counted per chunk: a text repeated in a later chunk is a cache hit)."""
    if posts.height <= chunk_posts:
        out, stats = embed(posts)
        write_parquet(out, path, COMPRESSION)
        return stats
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    totals = [0] * 5
    seconds = 0.0
    writer = None
    try:
        for start in range(0, posts.height, chunk_posts):
            out, st = embed(posts.slice(start, chunk_posts))
            table = out.to_arrow()
            writer = writer or pq.ParquetWriter(tmp, table.schema, compression="none")
            writer.write_table(table)
            for i, v in enumerate(
                (st.n_posts, st.n_empty, st.n_unique_texts, st.n_cached, st.n_encoded)
            ):
                totals[i] += v
            seconds += st.seconds
            log.info("embed: %d of %d posts written", start + out.height, posts.height)
    finally:
        if writer is not None:
            writer.close()
    tmp.replace(path)  # atomic: a killed run never leaves half a table
    return EmbedStats(*totals, seconds=seconds)


def prune_after_erasure(
    cache: EmbeddingCache, posts: pl.DataFrame, opt_out: Path, removed_digest: str = ""
) -> int:
    """Prune ``cache`` to the texts of ``posts`` when the opt-out list or the set of removed
    accounts (``removed_digest``, from ingest.json) changed since last time.

    The cache folder records the sha256 of the opt-out list it was last pruned for
    (``opt_out.sha256``; a digest of digests, nothing raw). Returns the keys removed.
    """
    listed = opt_out.read_bytes() if opt_out.exists() else b""
    # Ingest's digest of the removed accounts: a later is_minor flag (or a rejected account row)
    # removes someone without touching the opt-out list, and must prune the cache all the same.
    if removed_digest:
        listed += b"\x1f" + removed_digest.encode()
    digest = hashlib.sha256(listed).hexdigest()
    marker = cache.folder / "opt_out.sha256"
    seen = marker.read_text().strip() if marker.exists() else hashlib.sha256(b"").hexdigest()
    removed = 0
    if digest != seen:
        removed = cache.prune(text_keys(posts["text"].drop_nulls().unique()))
        log.info("opt-out list changed: pruned %d cached vectors not in the current posts", removed)
    cache.folder.mkdir(parents=True, exist_ok=True)
    marker.write_text(digest + "\n")
    return removed
