"""The reply graph and weighted PageRank shared by the models ``network`` and ``network_topic``.

See ``analysis.models.network`` for the graph and the iteration; this module holds the pieces
both models run, and their own params (``PageRankParams``).
"""

from __future__ import annotations

import logging
from datetime import datetime

import numpy as np
import polars as pl
import scipy.sparse as sp
from pydantic import Field

from analysis import semantics
from analysis.config import Frozen
from analysis.models import common
from analysis.models.base import Tables
from analysis.models.params import ModelParams

log = logging.getLogger(__name__)


class PageRankParams(Frozen):
    """Own params of ``network`` and ``network_topic``: damping, tolerance (L1), iteration cap."""

    damping: float = Field(0.85, gt=0, lt=1)
    tol: float = Field(1e-10, gt=0)
    max_iter: int = Field(200, ge=1)


def pagerank(
    src: np.ndarray,
    dst: np.ndarray,
    weight: np.ndarray,
    n_nodes: int,
    damping: float = 0.85,
    personalization: np.ndarray | None = None,
    tol: float = 1e-10,
    max_iter: int = 200,
    full_weight: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted PageRank by power iteration; returns (rank summing to 1, inflow part of it).

    ``src``/``dst`` are node indices in ``[0, n_nodes)``; parallel edges add up. Dangling nodes
    redistribute by ``personalization`` (uniform when None).

    ``full_weight`` (per edge, at least ``weight``): what each edge would weigh undecayed. A
    node's out-edges are normalised by its *undecayed* total, so the decayed remainder of its
    rank goes to the teleport vector instead of being passed on: a replier silent for two years
    passes on ``0.5 ** (730 / half_life)`` of its rank, not all of it. None: normalise by
    ``weight`` itself (classic weighted PageRank).
    """
    v = None if personalization is None else np.asarray(personalization, dtype=np.float64)[None]
    x, inflow = pagerank_many(
        np.zeros(len(src), dtype=np.int64),
        src,
        dst,
        weight,
        n_nodes,
        1,
        damping,
        v,
        tol,
        max_iter,
        full_weight,
    )
    return x[0], inflow[0]


def pagerank_many(
    block: np.ndarray,
    src: np.ndarray,
    dst: np.ndarray,
    weight: np.ndarray,
    n_nodes: int,
    n_blocks: int,
    damping: float = 0.85,
    personalization: np.ndarray | None = None,
    tol: float = 1e-10,
    max_iter: int = 200,
    full_weight: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`pagerank` of ``n_blocks`` graphs on the same ``n_nodes`` nodes at once.

    Edge ``e`` belongs to graph ``block[e]``; ``personalization`` is ``(n_blocks, n_nodes)``
    (uniform when None). The graphs are one block-diagonal matrix, iterated together; each
    stops at its own convergence (its rows are no longer updated), so every graph's ranks are
    what :func:`pagerank` gives it alone: a row of the mat-vec holds only its own graph's
    entries, and every other sum runs over one graph's row. Bit for bit when each graph's
    edges into a node come in ascending source order (``network`` and ``network_topic`` sort
    them by source, then destination): scipy re-sorts every row of the matrix once any row is
    unsorted, with a sort that is not stable beyond 16 entries, so the parallel edges of an
    already sorted graph could then be added in another order (a last-bit difference).
    ``network_topic`` runs one graph per topic: one sparse matrix and one loop instead of a
    matrix and a loop per topic. Returns ``(ranks, inflow)``, each ``(n_blocks, n_nodes)``.

    Raises:
        ValueError: a node index outside ``[0, n_nodes)`` or a graph outside ``[0, n_blocks)``
            (it would land in another graph's block).
    """
    n, t = n_nodes, n_blocks
    if n == 0 or t == 0:
        return np.zeros((t, n)), np.zeros((t, n))
    for name, idx, bound in (("src", src, n), ("dst", dst, n), ("block", block, t)):
        idx = np.asarray(idx)
        if idx.size and (idx.min() < 0 or idx.max() >= bound):
            raise ValueError(f"pagerank_many: {name} outside [0, {bound})")
    if personalization is None:
        v = np.full((t, n), 1.0 / n)
    else:
        # C order: each graph's teleport is one contiguous row, summed as pagerank sums it
        p = np.ascontiguousarray(personalization, dtype=np.float64)
        v = p / p.sum(axis=1, keepdims=True)
    weight = np.asarray(weight, dtype=np.float64)
    full = weight if full_weight is None else np.asarray(full_weight, dtype=np.float64)
    offset = np.asarray(block, dtype=np.int64) * n
    s, d = offset + np.asarray(src, dtype=np.int64), offset + np.asarray(dst, dtype=np.int64)
    out_w = np.bincount(s, weights=full, minlength=n * t)
    keep = weight > 0
    s, d, weight = s[keep], d[keep], weight[keep]
    # M^T in CSR: row = destination, so M^T @ x is one sparse mat-vec.
    mt = sp.csr_matrix((weight / out_w[s], (d, s)), shape=(n * t, n * t))
    # Share of each node's rank that is not passed on along edges (all of it for dangling
    # nodes, the decayed remainder for others): it returns through the teleport vector.
    passed = np.bincount(s, weights=weight / out_w[s], minlength=n * t)
    leak = np.clip(1.0 - passed, 0.0, 1.0).reshape(t, n)
    x = v.copy()
    active = np.ones(t, dtype=bool)
    iters = np.zeros(t, dtype=np.int64)
    err = np.zeros(t)
    for _ in range(max_iter):
        inflow = damping * (mt @ x.reshape(-1)).reshape(t, n)
        x_new = inflow + (damping * (leak * x).sum(axis=1, keepdims=True) + (1 - damping)) * v
        step = np.abs(x_new - x).sum(axis=1)
        x[active] = x_new[active]
        err[active] = step[active]
        iters[active] += 1
        active &= ~(step < tol)
        if not active.any():
            break
    if active.any():
        log.warning(
            "pagerank: no convergence after %d iterations (L1 change %.2e)",
            max_iter,
            float(err[active].max()),
        )
    log.debug("pagerank: %d graphs, %d nodes, %d edges, %s iterations", t, n, s.size, iters)
    inflow = damping * (mt @ x.reshape(-1)).reshape(t, n)
    return x, inflow


def build(tables: Tables, p: ModelParams, as_of: datetime):
    """(scoped posts, edges, nodes, half_life, window) before ``as_of``; the edges are
    ``post_id, dst, i, j, w, w_full`` (``i``, ``j``: the node indices of the source and
    the destination) in the ranks' order."""
    half_life, window = common.timing(p)
    # the columns read here and by network_topic's interest: the scoping copies these alone
    posts = common.scoped_posts(common.edge_posts(tables.posts), as_of, half_life, window)
    edges = common.reply_edges(posts, semantics.ATTENTION, tables.reactions, as_of)
    # Undecayed weight of each edge (its credit), so that decay sends rank to the teleport.
    edges = edges.with_columns(w_full=pl.col("credit"))
    # Nodes: accounts that exist at as_of (wrote something before it) and the ends of edges.
    # Accounts that first appear later are not in the graph: they would change the teleport
    # vector and the node count, a leak from the future.
    nodes = (
        pl.concat(
            [
                posts.select(pl.col("account_id").alias("node")),
                edges.select(pl.col("src").alias("node")),
                edges.select(pl.col("dst").alias("node")),
            ]
        )
        .unique()
        .sort("node")
        .with_row_index("idx")
    )
    # In a fixed order (parallel edges add up in the order given, and float addition is not
    # associative): the ranks do not depend on the row order or thread count of the joins.
    # (i, j) sorted as one packed integer (``common.pair_key``: the same order, one column
    # fewer to compare)
    # Only the columns the ranks and network_topic read are joined and sorted (the sort
    # gathers every column it is handed: at 10M posts the edges' other six were ~0.3 GB
    # beside network_topic's interest, validate's peak); the order is the keys' alone.
    e = (
        edges.select("post_id", "src", "dst", "w", "w_full")
        .join(nodes.rename({"node": "src", "idx": "i"}), on="src")
        .join(nodes.rename({"node": "dst", "idx": "j"}), on="dst")
        .select("post_id", "dst", "i", "j", "w", "w_full")
        .sort(common.pair_key("i", "j", max(nodes.height, 1)), "w", "w_full")
    )
    del edges
    return posts, e, nodes, half_life, window


def plain(
    tables: Tables, p: ModelParams, pr: PageRankParams, as_of: datetime, name: str
) -> pl.DataFrame:
    """Weighted PageRank on the reply graph before ``as_of``, as model ``name``'s scores."""
    e, nodes, half_life, window = build(tables, p, as_of)[1:]  # the scoped posts not held
    n = nodes.height
    x, inflow = pagerank(
        e["i"].to_numpy(),
        e["j"].to_numpy(),
        e["w"].to_numpy(),
        n,
        pr.damping,
        tol=pr.tol,
        max_iter=pr.max_iter,
        full_weight=e["w_full"].to_numpy(),
    )
    n_in = e.group_by("dst").agg(n_obs=pl.len()).rename({"dst": "account_id"})
    per = (
        nodes.select(
            pl.col("node").alias("account_id"),
            score=pl.Series(x * n),
            c_replies_received=pl.Series(inflow * n),
        )
        .with_columns(c_baseline=pl.col("score") - pl.col("c_replies_received"))
        .join(n_in, on="account_id", how="left")
    )
    return common.finish(per, tables, name, as_of, half_life, window, [])
