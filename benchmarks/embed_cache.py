"""The embedding cache's lookup: one chunk of the ``embed`` stage served from the cache.

Run ``python benchmarks/embed_cache.py`` (``--chunk 200000 --shards 5`` by default: the
stage's chunk of 200,000 posts against a cache of five such shards, as in an incremental run
of a 1M-post dump). It writes random unit vectors as cache shards in a temporary folder and
times, for one chunk whose texts all sit in one shard (the stage's file order keeps them
together):

* ``vectors``: :meth:`EmbeddingCache.vectors`, the route the stage takes (keys from every
  shard, vectors of the row groups with a hit read by pyarrow, placed in the matrix), and the
  same for one month's keys (the last sixth of a shard: its row groups only);
* ``former``: the lookup before session 22, re-stated here as the peer (the same keys, the
  vectors read by polars into a dict, then a Python loop filling the matrix).

It prints seconds, vectors/s, the ratio and the peak RSS; both give the same matrix (checked).
Then a prune with nothing to remove (``--prune-keys`` kept keys against ``--prune-cached``
cached ones, SHA-256 digests as the stage's are): the
lookups' key index held in hex (before session 60) and as 64-bit words, and the membership by a
hex anti-join against a sorted :class:`KeySet`, with seconds and the RSS rise of each.
Then the table the stage writes (``post_id``, ``is_empty_text``, ``embedding``) for one chunk,
written under zstd (before session 23) and uncompressed (the stage's ``COMPRESSION`` since),
read back whole by polars and in one pass of ``vectors.ParquetVectors`` (as topic_fit, topics
and validate read it), with the file sizes, and the same chunk written by pyarrow's
``ParquetWriter`` (the stage's chunked route before session 24) and by polars (its Parquet
sink since). Figures only; nothing here asserts on a time.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]  # also run as a script

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from analysis.embed_cache import WORDS, EmbeddingCache, KeySet, compact_keys, text_keys  # noqa: E402
from analysis.vectors import ParquetVectors  # noqa: E402

DIM = 384


def former(cache: EmbeddingCache, keys: list[str]) -> np.ndarray:
    """The pre-session-22 lookup and fill: polars reads the vectors, a dict, a Python loop."""
    shards = sorted(cache.folder.glob("shard-*.parquet"))
    wanted = pl.DataFrame({"text_sha256": keys}).unique()
    index = pl.concat(  # every shard's keys in hex, as the index held them before session 60
        [
            pl.scan_parquet([shard], include_file_paths="_shard")
            .select("text_sha256", "_shard")
            .with_row_index("_row")
            for shard in shards
        ]
    )
    hits = (
        index.join(wanted.lazy(), on="text_sha256", how="semi")
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


def table_io(n: int, folder: Path, repeat: int) -> None:
    """Write and read back ``n`` rows of an embeddings table under each compression."""
    import os

    rng = np.random.default_rng(1)
    x = rng.standard_normal((n, DIM)).astype(np.float32)
    table = pl.DataFrame(
        {
            "post_id": [f"post_{i:016x}" for i in range(n)],
            "is_empty_text": np.zeros(n, dtype=bool),
            "embedding": pl.Series(x / np.linalg.norm(x, axis=1, keepdims=True)),
        }
    )
    print(f"table: {n:,} rows of the embed stage's table, written and read back whole")
    for comp in ("zstd", "uncompressed"):
        path = folder / f"table-{comp}.parquet"
        w = r = v = float("inf")
        for _ in range(repeat):
            t = time.perf_counter()
            table.write_parquet(path, compression=comp, statistics=True)  # type: ignore[arg-type]
            w = min(w, time.perf_counter() - t)
            t = time.perf_counter()
            pl.read_parquet(path)
            r = min(r, time.perf_counter() - t)
            t = time.perf_counter()
            for _pos, _xb in ParquetVectors(path, np.arange(n), DIM).batches():
                pass
            v = min(v, time.perf_counter() - t)
        size = os.path.getsize(path) / 2**20
        print(
            f"  {comp:12s} write {w:5.2f} s  read {r:5.2f} s  one pass {v:5.2f} s  {size:7,.0f} MiB"
        )
    # the writer of a large month's chunks: pyarrow's ParquetWriter appending Arrow tables (the
    # stage before session 24) against polars' writer (what its Parquet sink runs now)
    import pyarrow.parquet as pq

    path = folder / "table-writer.parquet"
    arrow_w = polars_w = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        arrow = table.to_arrow()
        with pq.ParquetWriter(path, arrow.schema, compression="none") as writer:
            writer.write_table(arrow)
        arrow_w = min(arrow_w, time.perf_counter() - t)
        t = time.perf_counter()
        table.write_parquet(path, compression="uncompressed", statistics=True)
        polars_w = min(polars_w, time.perf_counter() - t)
    print(
        f"  uncompressed, pyarrow ParquetWriter {arrow_w:5.2f} s, polars {polars_w:5.2f} s "
        f"({arrow_w / polars_w:.1f}x)"
    )


def _rss_rise(fn) -> tuple[float, float, object]:
    """``fn()``'s seconds, the most the process's RSS rose above its start while it ran (MiB,
    sampled every 5 ms; polars' allocator may keep freed pages, so a later route can reuse an
    earlier one's) and its result."""
    import threading

    def rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize()

    start, top, done = rss(), [0], threading.Event()

    def watch() -> None:
        while not done.is_set():
            top[0] = max(top[0], rss())
            time.sleep(0.005)

    th = threading.Thread(target=watch, daemon=True)
    th.start()
    t = time.perf_counter()
    got = fn()
    seconds = time.perf_counter() - t
    done.set()
    th.join()
    return seconds, max(top[0], rss()) / 2**20 - start / 2**20, got


def prune_sets(folder: Path, n_cached: int, n_kept: int, route: str) -> None:
    """What a prune with nothing to remove holds and does: ``n_cached`` cached keys (SHA-256
    digests of made-up texts, in shards of 200,000 with one-float vectors: the vectors are not
    read) and ``n_kept`` kept keys (every cached one and others), compared by ``route``:
    ``former`` (the hex keys of both, a polars anti-join, before session 60) or ``KeySet``
    (the keys as 64-bit words, sorted, searched). Prints the lookups' index size
    (``estimated_size``) both ways, then the route's seconds and RSS rise (one route a process:
    polars' allocator keeps freed pages, so a second route would reuse the first's)."""
    cache = EmbeddingCache(folder, "prune", "1")
    texts = pl.Series([f"text {i}" for i in range(max(n_cached, n_kept))])
    for start in range(0, n_cached, 200_000):
        part = text_keys(texts.slice(start, min(200_000, n_cached - start))).to_list()
        cache.store(part, np.zeros((len(part), 1), dtype=np.float32))
    # the kept keys hashed from the texts in another order, as the stage hashes a month's
    # texts (a shuffled column of hex keys would point into one buffer at random: 7x slower
    # to read into words)
    kept_hex = text_keys(texts.head(n_kept).sample(fraction=1.0, shuffle=True, seed=2))
    del texts
    shards = sorted(cache.folder.glob("shard-*.parquet"))
    index_hex = (
        pl.scan_parquet(shards, include_file_paths="_shard")
        .select("text_sha256", pl.col("_shard").cast(pl.Categorical))
        .with_row_index("_row")
        .collect()
    )
    index_words = pl.concat([cache._shard_index(s) for s in shards])
    if route == "former":
        print(
            f"prune: {n_cached:,} cached keys (digests), {kept_hex.len():,} kept; the lookups' "
            f"index held {index_hex.estimated_size() / 2**20:,.0f} MiB in hex, "
            f"{index_words.estimated_size() / 2**20:,.0f} MiB as words"
        )

    def former() -> int:
        wanted = pl.DataFrame({"text_sha256": kept_hex})
        return index_hex.lazy().join(wanted.lazy(), on="text_sha256", how="anti").collect().height

    def words() -> int:
        kept = KeySet(compact_keys(kept_hex))
        return int((~kept.contains(index_words.select(WORDS))).sum())

    seconds, rise, gone = _rss_rise(former if route == "former" else words)
    print(f"  {route:8s} {seconds:6.2f} s  RSS +{rise:,.0f} MiB  keys to remove: {gone}")


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--chunk", type=int, default=200_000, help="keys looked up (one chunk)")
    ap.add_argument("--shards", type=int, default=5, help="cache shards of --chunk vectors")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each route (best shown)")
    ap.add_argument(
        "--prune-keys", type=int, default=2_000_000, help="keys a prune keeps (the posts' texts)"
    )
    ap.add_argument("--prune-cached", type=int, default=1_000_000, help="keys in the pruned cache")
    ap.add_argument("--prune-route", help=argparse.SUPPRESS)  # one prune route, then stop
    a = ap.parse_args(argv)
    if a.prune_route:
        with tempfile.TemporaryDirectory() as tmp:
            prune_sets(Path(tmp), a.prune_cached, a.prune_keys, a.prune_route)
        return
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
        # an incremental run's month: a contiguous sixth of one shard (the newest texts)
        month = pl.Series([f"{1:08x}{i:056x}" for i in range(5 * a.chunk // 6, a.chunk)])
        t = min(_timed(lambda: cache.vectors(month, DIM)) for _ in range(a.repeat))
        print(
            f"  a month: {month.len():,} keys, the last sixth of one shard: {t:.3f} s "
            f"(only the row groups holding them are read)"
        )
        for route in ("former", "KeySet"):  # each in a process of its own
            subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--prune-route",
                    route,
                    "--prune-cached",
                    str(a.prune_cached),
                    "--prune-keys",
                    str(a.prune_keys),
                ],
                check=True,
            )
        table_io(a.chunk, Path(tmp), a.repeat)


if __name__ == "__main__":
    main()
