"""The embedding cache's lookup: one chunk of the ``embed`` stage served from the cache.

Run ``python benchmarks/embed_cache.py`` (``--chunk 200000 --shards 5`` by default: the
stage's chunk of 200,000 posts against a cache of five such shards, as in an incremental run
of a 1M-post dump). It writes random unit vectors as cache shards in a temporary folder and
times, for one chunk whose texts all sit in one shard (the stage's file order keeps them
together):

* ``vectors``: :meth:`EmbeddingCache.vectors`, the route the stage takes (keys from every
  shard, vectors of the shards with a hit read by pyarrow in batches, placed in the matrix);
* ``former``: the lookup before session 22, re-stated here as the peer (the same keys, the
  vectors read by polars into a dict, then a Python loop filling the matrix).

It prints seconds, vectors/s, the ratio and the peak RSS; both give the same matrix (checked).
Figures only; nothing here asserts on a time.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]  # also run as a script

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from analysis.embed_cache import EmbeddingCache, _key_index  # noqa: E402

DIM = 384


def former(cache: EmbeddingCache, keys: list[str]) -> np.ndarray:
    """The pre-session-22 lookup and fill: polars reads the vectors, a dict, a Python loop."""
    shards = sorted(cache.folder.glob("shard-*.parquet"))
    wanted = pl.DataFrame({"text_sha256": keys}).unique()
    hits = (
        _key_index(shards)
        .join(wanted.lazy(), on="text_sha256", how="semi")
        .unique("text_sha256", keep="first")
        .collect()
    )
    found = (
        pl.scan_parquet(sorted(set(hits["_shard"].to_list())))
        .join(hits.lazy().select("text_sha256"), on="text_sha256", how="semi")
        .unique("text_sha256", keep="first")
        .collect()
    )
    vecs = found["embedding"].to_numpy().astype(np.float32, copy=False)
    cached = dict(zip(found["text_sha256"].to_list(), vecs, strict=True))
    matrix = np.zeros((len(keys), DIM), dtype=np.float32)
    for i, k in enumerate(keys):
        if k in cached:
            matrix[i] = cached[k]
    return matrix


def current(cache: EmbeddingCache, keys: list[str]) -> np.ndarray:
    """The stage's route: the matrix of the keys' vectors (zero rows where not cached)."""
    return cache.vectors(pl.Series(keys, dtype=pl.String), DIM)[1]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--chunk", type=int, default=200_000, help="keys looked up (one chunk)")
    ap.add_argument("--shards", type=int, default=5, help="cache shards of --chunk vectors")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each route (best shown)")
    a = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        cache = EmbeddingCache(tmp, "bench", "1")
        for s in range(a.shards):
            keys = [f"{s:08x}{i:056x}" for i in range(a.chunk)]
            x = rng.standard_normal((a.chunk, DIM)).astype(np.float32)
            cache.store(keys, x / np.linalg.norm(x, axis=1, keepdims=True))
        # one chunk's keys: all in shard 1, shuffled, plus 1 % not cached
        keys = [f"{1:08x}{i:056x}" for i in rng.permutation(a.chunk)]
        keys += [f"{'f' * 8}{i:056x}" for i in range(a.chunk // 100)]
        print(
            f"cache: {a.shards} shards of {a.chunk:,} vectors ({DIM} float32); "
            f"one chunk of {len(keys):,} keys, 1 % uncached"
        )
        best: dict[str, float] = {}
        out: dict[str, np.ndarray] = {}
        for _ in range(a.repeat):
            for name, fn in (("former", former), ("vectors", current)):
                t = time.perf_counter()
                out[name] = fn(cache, keys)
                best[name] = min(best.get(name, float("inf")), time.perf_counter() - t)
        same = np.array_equal(out["former"], out["vectors"])
        for name in ("former", "vectors"):
            print(f"  {name:8s} {best[name]:6.2f} s  {len(keys) / best[name]:>10,.0f} vectors/s")
        print(f"  ratio    {best['former'] / best['vectors']:.1f}x; same matrix: {same}")
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"  peak RSS {rss:,.0f} MiB (both routes in one process)")


if __name__ == "__main__":
    main()
