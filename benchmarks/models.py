"""Benchmark of the influence models: time and peak memory, never asserted.

    .venv/bin/python benchmarks/models.py [--posts 1000000] [--edges 10000000] [--nx-edges 100000]
                                          [--network-end-to-end]

1. Every model on ``--posts`` synthetic posts (30 % root posts, 70 % replies to earlier posts;
   100 k accounts, heavy-tailed activity; likes, views, followers; one reaction row per 4 posts).
2. The PageRank core (``analysis.models.network.pagerank``) on ``--edges`` reply edges among
   ``edges / 10`` nodes; with ``--network-end-to-end`` also the whole ``network`` model on a
   posts table of that many replies (several GB).
3. networkx PageRank as the peer on ``--nx-edges`` edges, with the ratio to ours on the same graph.

Peak memory is the step's growth of the resident set size (``benchmarks.common.PeakRSS``: the
kernel's high-water mark, reset at the start of the step).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from analysis import schema
from analysis.models import MODELS, network
from analysis.models.base import Tables
from analysis.models.params import ModelParams
from benchmarks.common import PeakRSS

START = datetime(2026, 1, 1, tzinfo=UTC)


def measure(label: str, rows: int, fn: Callable[[], Any]) -> Any:
    """Run ``fn`` once, print seconds, rows/s and peak extra memory."""
    with PeakRSS() as mem:
        t = time.perf_counter()
        out = fn()
        dt = time.perf_counter() - t
    print(
        f"{label:<38} {rows:>12,} rows {dt:>8.2f} s {rows / dt:>14,.0f} rows/s "
        f"peak +{mem.growth_mib:>8,.0f} MiB",
        flush=True,
    )
    return out, dt


def synthetic_tables(n_posts: int, n_accounts: int, seed: int = 0) -> Tables:
    """Vectorised synthetic interim tables: posts, accounts, reactions."""
    rng = np.random.default_rng(seed)
    # Heavy-tailed activity: Zipf-like author choice.
    weights = 1.0 / np.arange(1, n_accounts + 1) ** 0.8
    authors = rng.choice(n_accounts, size=n_posts, p=weights / weights.sum())
    seconds = np.sort(rng.integers(0, 180 * 86_400, n_posts))
    is_root = rng.random(n_posts) < 0.3
    is_root[0] = True
    # Parent: a uniformly chosen earlier post (recent-biased by taking the max of two draws).
    idx = np.arange(n_posts)
    parent = np.maximum(rng.integers(0, np.maximum(idx, 1)), rng.integers(0, np.maximum(idx, 1)))
    parent = np.where(is_root, -1, parent)
    # Roots in vectorised passes: follow parent pointers until every reply points at a root.
    root = np.where(is_root, idx, parent)
    for _ in range(64):
        nxt = np.where(is_root[root], root, parent[root])
        if np.array_equal(nxt, root):
            break
        root = nxt
    created = np.datetime64("2026-01-01T00:00:00", "us") + seconds.astype("timedelta64[s]").astype(
        "timedelta64[us]"
    )
    pid = lambda c: pl.format("p{}", c)  # noqa: E731 - vectorised string ids in polars
    aid = lambda c: pl.format("a{}", c)  # noqa: E731
    base = pl.DataFrame(
        {
            "i": idx,
            "author": authors,
            "parent": parent,
            "root": root,
            "is_root": is_root,
            "created_at": created,
            "views": rng.integers(0, 10_000, n_posts),
            "n_likes": rng.poisson(1.5, n_posts),
            "n_reposts": rng.poisson(0.1, n_posts),
        }
    )
    posts = base.with_columns(
        parent_author=pl.col("author").gather(pl.col("parent").clip(0))
    ).select(
        post_id=pid(pl.col("i")),
        platform=pl.lit("bench"),
        account_id=aid(pl.col("author")),
        kind=pl.when(pl.col("is_root")).then(pl.lit("post")).otherwise(pl.lit("reply")),
        parent_post_id=pl.when(~pl.col("is_root")).then(pid(pl.col("parent"))),
        root_post_id=pl.when(~pl.col("is_root")).then(pid(pl.col("root"))),
        reply_to_account_id=pl.when(~pl.col("is_root")).then(aid(pl.col("parent_author"))),
        created_at=pl.col("created_at"),
        n_views=pl.when(pl.col("is_root")).then(pl.col("views")),
        n_likes="n_likes",
        n_reposts="n_reposts",
    )
    posts = schema.conform(posts, "posts", schema.INTERIM)
    accounts = schema.conform(
        pl.DataFrame({"k": np.arange(n_accounts)}).select(
            account_id=aid(pl.col("k")),
            platform=pl.lit("bench"),
            follower_count=pl.Series((10 ** rng.normal(2.5, 0.8, n_accounts)).astype(np.int64)),
            is_participant=pl.lit(True),
        ),
        "accounts",
        schema.INTERIM,
    )
    n_r = n_posts // 4
    reactions = schema.conform(
        pl.DataFrame(
            {
                "k": np.arange(n_r),
                "post": rng.integers(0, n_posts, n_r),
                "actor": authors[rng.integers(0, n_posts, n_r)],
                "created_at": created[rng.integers(0, n_posts, n_r)],
            }
        ).select(
            reaction_id=pl.format("r{}", pl.col("k")),
            platform=pl.lit("bench"),
            post_id=pid(pl.col("post")),
            kind=pl.lit("like"),
            created_at="created_at",
            actor_account_id=aid(pl.col("actor")),
        ),
        "reactions",
        schema.INTERIM,
    )
    return Tables(accounts=accounts, posts=posts, reactions=reactions)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--posts", type=int, default=1_000_000)
    ap.add_argument("--accounts", type=int, default=100_000)
    ap.add_argument("--edges", type=int, default=10_000_000)
    ap.add_argument("--nx-edges", type=int, default=100_000)
    ap.add_argument("--network-end-to-end", action="store_true")
    args = ap.parse_args()
    p = ModelParams()

    tables, _ = measure(
        "generate posts", args.posts, lambda: synthetic_tables(args.posts, args.accounts)
    )
    as_of = START + timedelta(days=181)
    for name, module in MODELS.items():
        measure(f"model {name}", args.posts, lambda m=module: m.score(tables, p, as_of))
    tables = None  # free before the graph benchmarks

    rng = np.random.default_rng(1)
    n_nodes = max(args.edges // 10, 10)

    def edges(n: int, nodes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        w = 1.0 / np.arange(1, nodes + 1) ** 0.9  # popular accounts are replied to more
        return (
            rng.integers(0, nodes, n),
            rng.choice(nodes, size=n, p=w / w.sum()),
            rng.uniform(0.05, 1.0, n),
        )

    (src, dst, w), _ = measure(
        "generate reply edges", args.edges, lambda: edges(args.edges, n_nodes)
    )
    measure(
        "pagerank core (scipy.sparse)",
        args.edges,
        lambda: network.pagerank(src, dst, w, n_nodes, tol=1e-8),
    )
    src = dst = w = None
    if args.network_end_to_end:
        big, _ = measure(
            "generate reply posts",
            args.edges,
            lambda: synthetic_tables(args.edges, n_nodes, seed=2),
        )
        measure(
            "model network end to end",
            args.edges,
            lambda: network.score(big, p, START + timedelta(days=181)),
        )
        big = None

    import networkx as nx

    n_small = max(args.nx_edges // 10, 10)
    s, d, ww = edges(args.nx_edges, n_small)
    _, ours = measure(
        "pagerank core, networkx-sized",
        args.nx_edges,
        lambda: network.pagerank(s, d, ww, n_small, tol=1e-8),
    )

    def nx_run() -> dict:
        g = nx.DiGraph()
        g.add_nodes_from(range(n_small))
        agg = pl.DataFrame({"s": s, "d": d, "w": ww}).group_by("s", "d").agg(pl.col("w").sum())
        g.add_weighted_edges_from(agg.iter_rows())
        return nx.pagerank(g, alpha=0.85, weight="weight", tol=1e-8)

    ref, peer = measure("networkx pagerank (build + run)", args.nx_edges, nx_run)
    x, _ = network.pagerank(s, d, ww, n_small, tol=1e-10)
    l1 = float(np.abs(x - np.array([ref[i] for i in range(n_small)])).sum())
    print(
        f"networkx / ours on {args.nx_edges:,} edges: {peer / ours:,.1f}x slower; L1 difference {l1:.1e}"
    )


if __name__ == "__main__":
    main()
