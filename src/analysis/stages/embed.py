"""Stage ``embed``: read data/interim/posts.parquet, write data/processed/embeddings.parquet.

The content-addressed cache (``embed.cache_dir``, default ``data/cache/embeddings``) lives
outside DVC on purpose: it is a memo, not a product. Outputs are the same with or without it,
so deleting it must not invalidate the stage, and DVC must not delete it before a run (which
it does to every non-persistent output). It is gitignored and safe to remove at any time.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

import polars as pl

from analysis.config import section
from analysis.embed import (
    EmbeddingCache,
    EmbedParams,
    embed_posts,
    installed_revision,
    load_model,
    model_encoder,
)
from analysis.io import write_parquet

log = logging.getLogger(__name__)

POSTS = Path("data/interim/posts.parquet")
OUT = Path("data/processed/embeddings.parquet")


def run(params: dict[str, Any], args: argparse.Namespace) -> int:
    """Embed every post's scrubbed text (cached by content)."""
    p = section(params, "embed", EmbedParams)
    if not POSTS.exists():
        raise FileNotFoundError(f"{POSTS} is missing; run `python -m analysis ingest` first")
    have = installed_revision(p.model)
    if have is not None and have != p.revision:
        raise RuntimeError(
            f"embed.revision is {p.revision!r} in params.yaml but the installed package of "
            f"{p.model} is {have!r}; set embed.revision to the installed version (this re-embeds)"
        )
    posts = pl.read_parquet(POSTS, columns=["post_id", "text"])
    model = load_model(p.model, p.device, threads=p.threads)
    log.info(
        "model %s@%s on %s, batch %d, %d threads",
        p.model,
        p.revision,
        model.device,
        p.batch_size,
        p.threads,
    )
    cache = EmbeddingCache(p.cache_dir, p.model, p.revision)
    out, stats = embed_posts(
        posts,
        model_encoder(model, p.batch_size),
        cache,
        batch_size=p.batch_size,
        progress_min_texts=p.progress_min_texts,
    )
    write_parquet(out, OUT)
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
