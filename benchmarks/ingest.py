"""Ingest throughput: the Stack Exchange adapter against pandas, and the canonical-Parquet route.

Run ``python benchmarks/ingest.py`` (``--canonical-rows N`` to size the Parquet route,
``--site PATH`` for another Stack Exchange folder). Every measurement runs in a fresh child
process so its peak memory is its own. Prints figures; never asserts on time.

* ``bench_stackexchange``: the whole adapter (``analysis.sources.stackexchange.read``) on the
  largest shared site (stackexchange-beer), rows/s over every row of every file it reads.
* ``bench_streaming_posts`` vs ``bench_pandas_posts``: parsing Posts.xml only, the adapter's
  streaming reader against ``pandas.read_xml`` (the etree parser; lxml is not installed).
* ``bench_canonical``: synthetic canonical posts written as Parquet chunks, then
  ``scan_parquet -> pseudonymise ids -> sink_parquet``, the path of a user's own Parquet dump.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]  # also run as a script: benchmarks/ingest.py

from benchmarks.common import PeakRSS  # noqa: E402

DEFAULT_SITE = ROOT.parent / "shared" / "data" / "real" / "stackexchange-beer"
BENCH_KEY = b"benchmark-key-not-secret-0123456789"
MIB = 1024 * 1024


def _measure(fn: Callable[[], int], repeat: int = 1) -> dict[str, float]:
    """Run ``fn`` (returns rows processed) ``repeat`` times; best time, peak memory of all runs."""
    seconds = float("inf")
    with PeakRSS() as mem:
        for _ in range(repeat):
            t0 = time.perf_counter()
            rows = fn()
            seconds = min(seconds, time.perf_counter() - t0)
    return {
        "rows": rows,
        "seconds": seconds,
        "rows_per_s": rows / seconds,
        "peak_rss_mib": mem.peak / MIB,
        "rss_growth_mib": (mem.peak - mem.start) / MIB,
        "ru_maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _child(name: str, args: tuple[Any, ...], queue: mp.Queue) -> None:
    queue.put(globals()[name](*args))


def isolated(name: str, *args: Any) -> dict[str, float]:
    """Run the benchmark function ``name`` in a fresh (spawned) process and return its figures."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(name, args, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def bench_stackexchange(site: Path) -> dict[str, float]:
    """The whole Stack Exchange adapter on one site folder; rows = rows read over all tables."""
    from analysis.sources.stackexchange import read

    def run() -> int:
        t = read(site)
        return sum(t.n_read.values())

    return _measure(run, repeat=3)


def bench_streaming_posts(site: Path) -> dict[str, float]:
    """The adapter's streaming reader on Posts.xml alone (every attribute pandas would read)."""
    from analysis.sources.stackexchange_xml import read_rows

    fields = (
        "Id",
        "PostTypeId",
        "ParentId",
        "AcceptedAnswerId",
        "CreationDate",
        "Score",
        "ViewCount",
        "Body",
        "OwnerUserId",
        "OwnerDisplayName",
        "LastEditorUserId",
        "LastEditDate",
        "LastActivityDate",
        "Title",
        "Tags",
        "AnswerCount",
        "CommentCount",
        "FavoriteCount",
        "ClosedDate",
        "ContentLicense",
    )
    return _measure(lambda: read_rows(site / "Posts.xml", "posts", fields).height, repeat=3)


def bench_pandas_posts(site: Path) -> dict[str, float]:
    """The peer: ``pandas.read_xml`` on Posts.xml (etree parser, every attribute)."""
    import pandas as pd

    return _measure(lambda: len(pd.read_xml(site / "Posts.xml", parser="etree")), repeat=3)


def write_synthetic_posts(folder: Path, n_rows: int, chunk_rows: int = 1_000_000) -> int:
    """Write ``n_rows`` synthetic canonical post rows as Parquet chunks; return files written."""
    import polars as pl

    from analysis import schema

    n_files = 0
    for start in range(0, n_rows, chunk_rows):
        n = min(chunk_rows, n_rows - start)
        i = pl.int_range(start, start + n, eager=True).alias("i")
        df = pl.DataFrame(i).select(
            ("p" + pl.col("i").cast(pl.String)).alias("post_id"),
            pl.lit("canonical").alias("platform"),
            ("a" + (pl.col("i").hash(1) % 200_000).cast(pl.String)).alias("account_id"),
            pl.when(pl.col("i") % 3 == 0)
            .then(pl.lit("question"))
            .otherwise(pl.lit("answer"))
            .alias("kind"),
            pl.when(pl.col("i") % 3 == 0)
            .then(None)
            .otherwise("p" + (pl.col("i") - pl.col("i") % 3).cast(pl.String))
            .alias("parent_post_id"),
            pl.when(pl.col("i") % 3 == 0)
            .then(None)
            .otherwise("p" + (pl.col("i") - pl.col("i") % 3).cast(pl.String))
            .alias("root_post_id"),
            (pl.lit(1_600_000_000_000_000, dtype=pl.Int64) + pl.col("i") * 1_000_000)
            .cast(pl.Datetime("us", "UTC"))
            .alias("created_at"),
            pl.format(
                "synthetic post {} about topic {} with a few more words",
                pl.col("i"),
                pl.col("i") % 50,
            ).alias("text"),
            (pl.col("i").hash(2) % 40).cast(pl.Int64).alias("score"),
            pl.concat_list(pl.format("tag{}", pl.col("i") % 50)).alias("labels"),
        )
        schema.conform(df, "posts").write_parquet(folder / f"posts-{n_files:04d}.parquet")
        n_files += 1
    return n_files


def bench_canonical(n_rows: int) -> dict[str, float]:
    """The canonical-Parquet route at ``n_rows`` rows.

    Generates synthetic canonical posts with polars (Parquet chunks of 1M rows in a temporary
    folder; not timed), then times ``scan_parquet -> pseudonymise post, account, parent and
    root ids (analysis.privacy.pseudonymise_expr) -> sink_parquet`` and samples peak RSS.
    """
    import polars as pl

    from analysis.privacy import ACCOUNT_PREFIX, POST_PREFIX, pseudonymise_expr

    with tempfile.TemporaryDirectory(prefix="bench-canonical-") as tmp:
        src, out = Path(tmp) / "in", Path(tmp) / "out.parquet"
        src.mkdir()
        t0 = time.perf_counter()
        write_synthetic_posts(src, n_rows)
        generate_s = time.perf_counter() - t0
        input_mib = sum(p.stat().st_size for p in src.iterdir()) / MIB

        def run() -> int:
            lf = pl.scan_parquet(src / "*.parquet").with_columns(
                pseudonymise_expr("post_id", BENCH_KEY, "bench", "post", POST_PREFIX),
                pseudonymise_expr("account_id", BENCH_KEY, "bench", "account", ACCOUNT_PREFIX),
                pseudonymise_expr("parent_post_id", BENCH_KEY, "bench", "post", POST_PREFIX),
                pseudonymise_expr("root_post_id", BENCH_KEY, "bench", "post", POST_PREFIX),
            )
            lf.sink_parquet(out)
            return pl.scan_parquet(out).select(pl.len()).collect().item()

        figures = _measure(run)
        figures.update(generate_s=generate_s, input_mib=input_mib)
        return figures


def _show(label: str, f: dict[str, float]) -> None:
    print(
        f"{label:<44} {f['rows']:>11,} rows {f['seconds']:>8.2f} s {f['rows_per_s']:>12,.0f} rows/s "
        f"peak RSS {f['peak_rss_mib']:>7.0f} MiB (+{f['rss_growth_mib']:.0f} MiB)"
    )


def main() -> None:
    """Run the benchmarks and print their figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--site", type=Path, default=DEFAULT_SITE)
    ap.add_argument("--canonical-rows", type=int, default=10_000_000)
    ap.add_argument("--skip-canonical", action="store_true")
    args = ap.parse_args()
    import platform

    print(
        f"python {platform.python_version()}, {psutil.cpu_count()} CPUs, "
        f"{psutil.virtual_memory().total / MIB / 1024:.0f} GiB RAM"
    )
    if args.site.exists():
        se = isolated("bench_stackexchange", args.site)
        ours = isolated("bench_streaming_posts", args.site)
        peer = isolated("bench_pandas_posts", args.site)
        _show(f"stackexchange adapter ({args.site.name})", se)
        _show("  Posts.xml, streaming reader", ours)
        _show("  Posts.xml, pandas.read_xml (etree)", peer)
        print(
            f"  ratio streaming / pandas: {ours['rows_per_s'] / peer['rows_per_s']:.2f}x rows/s, "
            f"{ours['rss_growth_mib'] / max(peer['rss_growth_mib'], 1e-9):.2f}x RSS growth"
        )
    else:
        print(f"skipped Stack Exchange: {args.site} is absent")
    if not args.skip_canonical:
        can = isolated("bench_canonical", args.canonical_rows)
        _show("canonical Parquet -> pseudonymise -> sink", can)
        print(f"  (generation {can['generate_s']:.1f} s, input {can['input_mib']:.0f} MiB Parquet)")


if __name__ == "__main__":
    main()
