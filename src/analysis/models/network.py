"""Models ``network`` and ``network_topic``: weighted PageRank on the reply graph.

Graph: an edge from whoever gives credit to whoever receives it, for every interaction before
``as_of`` that ``analysis.semantics`` counts as attention (a reply credits the replied-to author,
a Stack Exchange answer the answerer, a quote the quoted author; reposts are not attention),
weighted by the decay-weighted credit. Each node's out-edges are normalised by their
*undecayed* total, so the decayed share of its rank returns through the teleport vector: an
account that stopped replying long ago passes on little, and the half-life means what params
say. Every account active before ``as_of`` is a node, the non-participant placeholder included: replies to it keep their share of the flow (a reply to
someone outside the study is still attention given away), but it is never scored. Dangling
nodes (no reply given) hand their rank back through the teleport vector.

Power iteration with scipy.sparse (MEASURED.md: 1.9 s for 10 M edges):
``x = d (M^T x + leak(x) v) + (1 - d) v``, with ``M`` the decayed weights over each node's
undecayed out-weight and ``leak`` the rank a node does not pass on (all of it when dangling).
The rank is reported times the number of nodes (1 = an average node). At the fixed point it
splits into two components that add up to the score:

* ``c_replies_received``: rank flowing in along reply edges, ``d M^T x``;
* ``c_baseline``: the share everyone gets by being in the graph (teleport and dangling mass).

``network_topic`` is the TwitterRank-style variant: one PageRank per topic on the replies about
that topic (edge weight times the reply's topic probability), teleporting to accounts in
proportion to their interest in it (the share of their own posts on it); the score is the sum
weighted by each topic's share of the reply attention (edges), one
component ``c_topic_<id>`` per topic. Without ``post_topics`` it degrades to plain PageRank,
says so in the log and in ``missing_inputs``.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime

import numpy as np
import polars as pl
import scipy.sparse as sp

from analysis import semantics
from analysis.models import common
from analysis.models.base import Tables
from analysis.models.params import ModelParams, model_params

log = logging.getLogger(__name__)

NAME = "network"
TITLE = "Network (PageRank on who replies to whom)"
UNIT = "PageRank x number of accounts (1 = average)"
OBS = "replies it received from others (edges into it)"
COMPONENTS = {
    "c_replies_received": "rank passed on by the people who replied to it (more if they are replied to themselves)",
    "c_baseline": "the share every account gets just by being in the graph",
}


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
    if n_nodes == 0:
        return np.zeros(0), np.zeros(0)
    v = (
        np.full(n_nodes, 1.0 / n_nodes)
        if personalization is None
        else personalization / personalization.sum()
    )
    weight = np.asarray(weight, dtype=np.float64)
    full = weight if full_weight is None else np.asarray(full_weight, dtype=np.float64)
    out_w = np.bincount(src, weights=full, minlength=n_nodes)
    keep = weight > 0
    src, dst, weight = src[keep], dst[keep], weight[keep]
    # M^T in CSR: row = destination, so M^T @ x is one sparse mat-vec.
    mt = sp.csr_matrix((weight / out_w[src], (dst, src)), shape=(n_nodes, n_nodes))
    # Share of each node's rank that is not passed on along edges (all of it for dangling
    # nodes, the decayed remainder for others): it returns through the teleport vector.
    passed = np.bincount(src, weights=weight / out_w[src], minlength=n_nodes)
    leak = np.clip(1.0 - passed, 0.0, 1.0)
    x = v.copy()
    inflow = np.zeros(n_nodes)
    for it in range(max_iter):  # noqa: B007 - reported after the loop
        inflow = damping * (mt @ x)
        x_new = inflow + (damping * (leak * x).sum() + (1 - damping)) * v
        err = np.abs(x_new - x).sum()
        x = x_new
        if err < tol:
            break
    else:
        log.warning("pagerank: no convergence after %d iterations (L1 change %.2e)", max_iter, err)
    log.debug("pagerank: %d nodes, %d edges, %d iterations", n_nodes, src.size, it + 1)
    inflow = damping * (mt @ x)
    return x, inflow


def _graph(tables: Tables, p: ModelParams, as_of: datetime):
    half_life, window = common.timing(p)
    posts = common.scoped_posts(tables.posts, as_of, half_life, window)
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
    e = edges.join(nodes.rename({"node": "src", "idx": "i"}), on="src").join(
        nodes.rename({"node": "dst", "idx": "j"}), on="dst"
    )
    return posts, e, nodes, half_life, window


def score(tables: Tables, params: object, as_of: datetime) -> pl.DataFrame:
    """Score every participant by weighted PageRank on the reply graph before ``as_of``."""
    p = model_params(params)
    _, e, nodes, half_life, window = _graph(tables, p, as_of)
    n = nodes.height
    x, inflow = pagerank(
        e["i"].to_numpy(),
        e["j"].to_numpy(),
        e["w"].to_numpy(),
        n,
        p.damping,
        tol=p.pagerank_tol,
        max_iter=p.pagerank_max_iter,
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
    return common.finish(per, tables, NAME, as_of, half_life, window, [])


def _col(topic: object) -> str:
    return "c_topic_" + re.sub(r"[^0-9A-Za-z_]", "_", str(topic).replace("-", "m"))


def score_topic(tables: Tables, params: object, as_of: datetime) -> pl.DataFrame:
    """TwitterRank-style topic-sensitive PageRank (see module docstring)."""
    p = model_params(params)
    if tables.post_topics is None or tables.post_topics.height == 0:
        log.warning("network_topic: no post_topics; falling back to plain PageRank")
        plain = score(tables, p, as_of)
        return plain.with_columns(
            model=pl.lit("network_topic"),
            missing_inputs=pl.lit("post_topics (plain PageRank instead)"),
        )
    posts, e, nodes, half_life, window = _graph(tables, p, as_of)
    n = nodes.height
    topics = tables.post_topics.select(
        "post_id", "topic_id", pl.col("probability").cast(pl.Float64)
    )
    # Teleport per topic: the account's interest in it, i.e. the share of its own (decay-weighted)
    # posts on that topic. Shares, not counts: otherwise posting more buys teleport mass.
    interest = (
        posts.select("post_id", "account_id", "w")
        .join(topics, on="post_id")
        .join(nodes.rename({"node": "account_id"}), on="account_id")
        .group_by("topic_id", "idx")
        .agg(mass=(pl.col("w") * pl.col("probability")).sum())
        .with_columns(mass=pl.col("mass") / pl.col("mass").sum().over("idx"))
    )
    edge_t = e.select("post_id", "i", "j", "w", "w_full").join(topics, on="post_id")
    # Topic weight: its share of the reply attention (edges), not of the posting.
    prevalence = (
        edge_t.group_by("topic_id")
        .agg(mass=(pl.col("w") * pl.col("probability")).sum())
        .join(interest.select("topic_id").unique(), on="topic_id")
        .sort("topic_id")
    )
    total = prevalence["mass"].sum()
    comps: dict[str, np.ndarray] = {}
    for topic_id, mass in prevalence.iter_rows():
        if mass <= 0:
            continue
        it = interest.filter(pl.col("topic_id") == topic_id)
        v = np.zeros(n)
        v[it["idx"].to_numpy()] = it["mass"].to_numpy()
        et = edge_t.filter(pl.col("topic_id") == topic_id)
        x, _ = pagerank(
            et["i"].to_numpy(),
            et["j"].to_numpy(),
            (et["w"] * et["probability"]).to_numpy(),
            n,
            p.damping,
            personalization=v,
            tol=p.pagerank_tol,
            max_iter=p.pagerank_max_iter,
            full_weight=(et["w_full"] * et["probability"]).to_numpy(),
        )
        comps[_col(topic_id)] = x * n * (mass / total)
    n_in = e.group_by("dst").agg(n_obs=pl.len()).rename({"dst": "account_id"})
    per = (
        pl.DataFrame({"account_id": nodes["node"], **comps})
        .with_columns(score=pl.sum_horizontal(*comps) if comps else pl.lit(0.0))
        .join(n_in, on="account_id", how="left")
    )
    top = pl.DataFrame({"account_id": nodes["node"]})
    if comps:
        names = list(comps)
        mat = np.column_stack([comps[c] for c in names])
        top = top.with_columns(
            top_topic=pl.Series([names[k][len("c_topic_") :] for k in mat.argmax(1)])
        )
    else:
        top = top.with_columns(top_topic=pl.lit(None, dtype=pl.String))
    per = per.join(top, on="account_id")
    out = common.finish(
        per, tables, "network_topic", as_of, half_life, window, [], extra=("top_topic",)
    )
    return out
