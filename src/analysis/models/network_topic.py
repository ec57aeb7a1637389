"""Model ``network_topic``: topic-sensitive (TwitterRank-style) PageRank; see ``network``."""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from analysis.models import common, graph, network
from analysis.models.base import Model, Tables
from analysis.models.params import ModelParams, model_params, own_params

log = logging.getLogger(__name__)

NAME = "network_topic"
TITLE = "Network by topic (PageRank personalised per topic, TwitterRank-style)"
UNIT = (
    "PageRank x number of accounts (1 = average), summed over topics by their share of the replies"
)
OBS = network.OBS
COMPONENTS: dict[str, str] = {}  # one c_topic_<id> per topic: :func:`describe`
#: The components of its fallback, plain PageRank (no ``post_topics``): ``network``'s.
PLAIN_COMPONENTS = network.COMPONENTS

#: The score stage loads the post topics for this model (``base.READS_TOPICS_FLAG``).
READS_TOPICS = True

#: Damping, tolerance and iteration cap of each topic's power iteration.
Params = graph.PageRankParams

#: Most (topics x nodes) cells iterated at once. Iterated together, the topics cost what the
#: slowest to converge costs and hold a few arrays of this size: faster than one at a time up
#: to ~10k accounts, slower beyond (measured: benchmarks/pagerank_topics.py). 2^16 cells
#: (512 KiB per array) takes every topic at once at the demo's size and one at a time at 100k.
TOPIC_CELLS = 1 << 16


def _col(topic: object) -> str:
    return "c_topic_" + re.sub(r"[^0-9A-Za-z_]", "_", str(topic).replace("-", "m"))


def topic_of(column: str) -> str:
    """The topic id a component column names (:func:`_col` undone: ``c_topic_m1`` is topic -1,
    the outliers)."""
    tid = column.removeprefix("c_topic_")
    return "-" + tid[1:] if tid.startswith("m") else tid


def describe(name: str) -> str:
    """What a component ``c_topic_<id>`` holds, for the topic called ``name``.

    The topic's weight is its share of the reply attention (the decay-weighted edges about it),
    not of the posting: a topic many post on and nobody replies about weighs 0.
    """
    return f"rank in the replies about {name}, weighted by that topic's share of all replies"


def topic_ranks(
    block: np.ndarray,
    src: np.ndarray,
    dst: np.ndarray,
    weight: np.ndarray,
    full_weight: np.ndarray,
    teleport: tuple[np.ndarray, np.ndarray, np.ndarray],
    n_nodes: int,
    n_topics: int,
    pr: graph.PageRankParams,
    cells: int | None = None,
) -> list[np.ndarray]:
    """Each topic's PageRank (``graph.pagerank_many``: exactly what its own iteration gives).

    Edge ``e`` belongs to topic ``block[e]`` (each topic's edges in their order); ``teleport``
    is ``(topic, node, mass)`` of the nonzero teleport entries. Topics go in chunks of at most
    ``cells // n_nodes`` (``TOPIC_CELLS`` by default): time and memory stay those of one topic
    at a time for large graphs, several topics share one iteration for small ones.
    """
    cells = TOPIC_CELLS if cells is None else cells
    # edges and teleport grouped by topic (stable: each topic's order kept), cut by position;
    # edges already grouped (``score`` sorts them) are not copied: at 10M posts each of the
    # five arrays is ~15M entries
    if block.size > 1 and bool(np.any(block[1:] < block[:-1])):
        by_edge = np.argsort(block, kind="stable")
        block, src, dst = block[by_edge], src[by_edge], dst[by_edge]
        weight, full_weight = weight[by_edge], full_weight[by_edge]
    by_entry = np.argsort(teleport[0], kind="stable")
    t_topic, t_node, t_mass = (a[by_entry] for a in teleport)
    step = max(1, cells // max(n_nodes, 1))
    ranks: list[np.ndarray] = []
    for lo in range(0, n_topics, step):
        hi = min(lo + step, n_topics)
        e = slice(*np.searchsorted(block, [lo, hi]))
        t = slice(*np.searchsorted(t_topic, [lo, hi]))
        v = np.zeros((hi - lo, n_nodes))
        v[t_topic[t] - lo, t_node[t]] = t_mass[t]
        x, _ = graph.pagerank_many(
            block[e] - lo,
            src[e],
            dst[e],
            weight[e],
            n_nodes,
            hi - lo,
            pr.damping,
            personalization=v,
            tol=pr.tol,
            max_iter=pr.max_iter,
            full_weight=full_weight[e],
        )
        ranks.extend(x)
    return ranks


#: Post-topic rows joined to their posts at a time in :func:`topic_interest`: the join's
#: transients of a slice, not of every row (at 10M posts 22M rows).
INTEREST_ROWS = 1 << 21


def topic_interest(
    posts: pl.DataFrame, topics: pl.DataFrame, nodes: pl.DataFrame, rows: int = INTEREST_ROWS
) -> pl.DataFrame:
    """``topic_id, idx, mass``: each node's interest in each topic, the share of its own
    decay-weighted posts (``w``) on that topic (``topics``: ``post_id, topic_id, probability``;
    ``nodes``: ``node, idx``). Shares, not counts: otherwise posting more buys teleport mass.

    The posts meet their nodes before their topics (each post once, not once per topic), and
    the groups are (topic, node) as one packed integer (``common.pair_key``): at 1M posts
    1.15 -> 0.73 s, the same sums as the two-column group-by (which a topic id that is null
    takes: a null key would be one group for every node). The topics meet their posts
    ``rows`` at a time and only each row's group and weight (``w * probability``) are kept:
    the same sums (each added in its values' order, ``common.ordered_sum``) without every
    joined row's ids and the join's transients at once (at 10M posts this phase 4.49 -> 4.10
    GiB, session 61).
    """
    n = max(nodes.height, 1)
    weighted = (
        posts.select("post_id", "account_id", "w")
        .join(nodes.rename({"node": "account_id"}), on="account_id")
        .select("post_id", "w", "idx")
    )
    paired = topics["topic_id"].null_count() == 0
    low = int(topics["topic_id"].min() or 0) if paired else 0  # type: ignore[arg-type]
    group = (
        [common.pair_key("topic_id", "idx", n, first_from=low).alias("k")]
        if paired
        else [pl.col("topic_id"), pl.col("idx")]
    )
    parts = [
        topics.slice(start, rows)
        .join(weighted, on="post_id")
        .select(*group, v=pl.col("w") * pl.col("probability"))
        for start in range(0, max(topics.height, 1), rows)
    ]
    del weighted
    values = pl.concat(parts, rechunk=True)
    del parts
    mass = common.ordered_sum(pl.col("v"))
    if not paired:
        per = values.group_by("topic_id", "idx").agg(mass=mass)
    else:
        per = (
            values.group_by("k")
            .agg(mass=mass)
            .select(
                topic_id=(pl.col("k") // n + low).cast(topics.schema["topic_id"]),
                idx=(pl.col("k") % n).cast(nodes.schema["idx"]),
                mass="mass",
            )
        )
    return per.with_columns(mass=pl.col("mass") / common.ordered_sum(pl.col("mass")).over("idx"))


def score(tables: Tables, params: ModelParams, as_of: datetime) -> pl.DataFrame:
    """TwitterRank-style topic-sensitive PageRank (see module docstring)."""
    p = model_params(params)
    pr = own_params(p, NAME, Params)
    if tables.post_topics is None or tables.post_topics.height == 0:
        log.warning("network_topic: no post_topics; falling back to plain PageRank")
        plain = graph.plain(tables, p, pr, as_of, NAME)
        return plain.with_columns(
            missing_inputs=pl.lit("post_topics (plain PageRank instead)"),
        )
    posts, e, nodes, half_life, window = graph.build(tables, p, as_of)
    n = nodes.height
    topics = tables.post_topics.select(
        "post_id", "topic_id", pl.col("probability").cast(pl.Float64)
    )
    # Teleport per topic: the account's interest in it (:func:`topic_interest`).
    interest = topic_interest(posts, topics, nodes)
    del posts  # the scoped posts (before an earlier date, a copy): not held through the ranks
    # the edges with their topics (at 10M posts ~15M rows; their post ids not kept)
    edge_t = e.select("post_id", "i", "j", "w", "w_full").join(topics, on="post_id").drop("post_id")
    n_in = e.group_by("dst").agg(n_obs=pl.len()).rename({"dst": "account_id"})
    del e  # nor the edges without their topics
    # Topic weight: its share of the reply attention (edges), not of the posting.
    prevalence = (
        edge_t.group_by("topic_id")
        .agg(mass=common.ordered_sum(pl.col("w") * pl.col("probability")))
        .join(interest.select("topic_id").unique(), on="topic_id")
        .sort("topic_id")
    )
    total = prevalence["mass"].sum()
    # One graph per topic with attention: a topic's edges and its teleport (its interest).
    live = prevalence.filter(pl.col("mass") > 0).with_row_index("block")
    blocks = live.select("topic_id", pl.col("block").cast(pl.Int64))
    # each topic's edges together in a fixed order (PageRank adds parallel edges up in the
    # order it is given them): by (i, j) as one packed integer, then their weights; edges
    # tied on all of these give the same five columns, so any order of them is the same
    # input. One sort's order, then only the five columns the ranks read gathered in it.
    edge_t = edge_t.join(blocks, on="topic_id")
    order = edge_t.select(
        pl.arg_sort_by("block", common.pair_key("i", "j", max(n, 1)), "w", "w_full", "probability")
    ).to_series()
    et = edge_t.select(
        "block",
        "i",
        "j",
        weight=pl.col("w") * pl.col("probability"),
        full=pl.col("w_full") * pl.col("probability"),
    )
    del edge_t
    et = et[order]
    del order
    it = interest.join(blocks, on="topic_id")
    ranks = topic_ranks(
        et["block"].to_numpy(),
        et["i"].to_numpy(),
        et["j"].to_numpy(),
        et["weight"].to_numpy(),
        et["full"].to_numpy(),
        (it["block"].to_numpy(), it["idx"].to_numpy(), it["mass"].to_numpy()),
        n,
        live.height,
        pr,
    )
    del et
    comps: dict[str, np.ndarray] = {
        _col(topic_id): ranks[k] * n * (mass / total)
        for k, (topic_id, mass) in enumerate(live.select("topic_id", "mass").iter_rows())
    }
    # the components added one after another (polars' sum_horizontal adds them in an order
    # that varies with the thread count)
    total_score = np.zeros(n)
    for c in comps.values():
        total_score = total_score + c
    per = (
        pl.DataFrame({"account_id": nodes["node"], **comps})
        .with_columns(score=pl.Series(total_score))
        .join(n_in, on="account_id", how="left")
    )
    top = pl.DataFrame({"account_id": nodes["node"]})
    if comps:
        names = list(comps)
        mat = np.column_stack([comps[c] for c in names])
        # an account without topic credit has no top topic (argmax would name the first)
        top = top.with_columns(
            top_topic=pl.Series(
                [
                    topic_of(names[k]) if mat[i, k] > 0 else None
                    for i, k in enumerate(mat.argmax(1))
                ],
                dtype=pl.String,
            )
        )
    else:
        top = top.with_columns(top_topic=pl.lit(None, dtype=pl.String))
    per = per.join(top, on="account_id")
    out = common.finish(per, tables, NAME, as_of, half_life, window, [], extra=("top_topic",))
    return out


if TYPE_CHECKING:  # a type checker verifies this module against the model protocol
    from analysis.models import network_topic as _self

    _protocol_check: Model = _self
