"""``graph.pagerank_many``: many graphs on one node set iterated together (``network_topic``'s
topics), each graph's ranks bit for bit what its own power iteration gives."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from analysis.models import graph


def _single(src, dst, weight, n, damping, v, tol, max_iter, full):
    """The one-graph power iteration as ``graph.pagerank`` ran it before the blocks."""
    v = np.full(n, 1.0 / n) if v is None else v / v.sum()
    weight = np.asarray(weight, dtype=np.float64)
    full = weight if full is None else np.asarray(full, dtype=np.float64)
    out_w = np.bincount(src, weights=full, minlength=n)
    keep = weight > 0
    src, dst, weight = src[keep], dst[keep], weight[keep]
    mt = sp.csr_matrix((weight / out_w[src], (dst, src)), shape=(n, n))
    passed = np.bincount(src, weights=weight / out_w[src], minlength=n)
    leak = np.clip(1.0 - passed, 0.0, 1.0)
    x = v.copy()
    iters = 0
    for _ in range(max_iter):
        iters += 1
        inflow = damping * (mt @ x)
        x_new = inflow + (damping * (leak * x).sum() + (1 - damping)) * v
        err = np.abs(x_new - x).sum()
        x = x_new
        if err < tol:
            break
    return x, damping * (mt @ x), iters


def _graphs(seed: int, n: int, n_blocks: int):
    """Random multigraphs of very different sizes on ``n`` nodes: parallel edges, zero and
    decayed weights, a graph without edges, teleports on a few nodes."""
    rng = np.random.default_rng(seed)
    out = []
    for b in range(n_blocks):
        m = 0 if b == 1 else int(rng.integers(1, 6 * n))
        src = rng.integers(0, n, m)
        dst = rng.integers(0, n, m)
        dst = np.where(dst == src, (dst + 1) % n, dst)
        full = rng.exponential(1.0, m)
        weight = full * rng.choice([0.0, 0.3, 1.0], m, p=[0.1, 0.3, 0.6])
        v = np.zeros(n)
        v[rng.choice(n, size=max(1, n // 4), replace=False)] = rng.random(max(1, n // 4)) + 0.1
        out.append((src, dst, weight, full, v))
    return out


@pytest.mark.parametrize("seed", range(6))
def test_each_graph_gets_exactly_its_own_pagerank(seed: int) -> None:
    n, n_blocks = [3, 17, 58, 200, 5, 40][seed], [1, 2, 5, 24, 3, 9][seed]
    graphs = _graphs(seed, n, n_blocks)
    # the graphs' edges interleaved at random, each graph's own edges in their order: the
    # ranks may depend on the order within a graph (parallel edges add up), never across
    block = np.concatenate([np.full(len(g[0]), k) for k, g in enumerate(graphs)])
    slots = block[np.random.default_rng(seed + 100).permutation(block.size)]
    index = np.empty(block.size, dtype=np.int64)
    for k in range(n_blocks):
        index[slots == k] = np.flatnonzero(block == k)
    cat = [np.concatenate([g[c] for g in graphs])[index] for c in range(4)]
    v = np.stack([g[4] for g in graphs])
    x, inflow = graph.pagerank_many(
        block[index], *cat[:3], n, n_blocks, 0.85, v, 1e-10, 200, full_weight=cat[3]
    )
    iterations = set()
    for k, (src, dst, weight, full, vk) in enumerate(graphs):
        want, want_in, iters = _single(src, dst, weight, n, 0.85, vk, 1e-10, 200, full)
        iterations.add(iters)
        assert np.array_equal(x[k], want), k  # bit for bit, not close
        assert np.array_equal(inflow[k], want_in), k
        assert x[k].sum() == pytest.approx(1.0)
    if n_blocks > 2:
        assert len(iterations) > 1, "graphs converging at different iterations"


def test_one_graph_is_pagerank_and_uniform_teleport_by_default() -> None:
    rng = np.random.default_rng(3)
    src, dst = rng.integers(0, 30, 90), rng.integers(0, 30, 90)
    w = rng.random(90)
    x, inflow = graph.pagerank(src, dst, w, 30)
    want, want_in, _ = _single(src, dst, w, 30, 0.85, None, 1e-10, 200, None)
    assert np.array_equal(x, want) and np.array_equal(inflow, want_in)
    many, _ = graph.pagerank_many(np.zeros(90, dtype=int), src, dst, w, 30, 1)
    assert np.array_equal(many[0], want)


def test_no_nodes_or_no_graphs() -> None:
    empty = np.zeros(0, dtype=np.int64)
    x, inflow = graph.pagerank(empty, empty, np.zeros(0), 0)
    assert x.shape == (0,) and inflow.shape == (0,)
    x, inflow = graph.pagerank_many(empty, empty, empty, np.zeros(0), 5, 0)
    assert x.shape == (0, 5) and inflow.shape == (0, 5)


@pytest.mark.parametrize("per_chunk", [1, 2, 5])
def test_network_topic_is_the_same_whatever_the_chunk_of_topics(
    small_demo, monkeypatch, per_chunk: int
) -> None:
    """``network_topic`` iterates its topics in chunks that bound memory (``TOPIC_CELLS``):
    one, two or five topics at a time give the frame all at once gives, bit for bit."""
    from dataclasses import replace
    from datetime import timedelta

    import polars as pl

    from analysis.demo_check import tables_from_demo
    from analysis.models import network_topic
    from analysis.models.params import ModelParams

    t = tables_from_demo(small_demo)
    topics = t.posts.select(
        "post_id",
        topic_id=(pl.col("text").str.len_chars() % 7).cast(pl.Int64),
        probability=0.4 + (pl.col("created_at").dt.minute() % 7) / 10,
    )
    t = replace(t, post_topics=topics)
    as_of = t.posts["created_at"].max() + timedelta(seconds=1)
    whole = network_topic.score(t, ModelParams(), as_of)
    assert sum(c.startswith("c_topic_") for c in whole.columns) == 7
    n_nodes = graph.build(t, ModelParams(), as_of)[2].height
    monkeypatch.setattr(network_topic, "TOPIC_CELLS", per_chunk * n_nodes)
    calls = []
    real = graph.pagerank_many
    monkeypatch.setattr(graph, "pagerank_many", lambda *a, **k: calls.append(a[5]) or real(*a, **k))
    assert network_topic.score(t, ModelParams(), as_of).equals(whole)
    assert calls == [min(per_chunk, 7 - k) for k in range(0, 7, per_chunk)]


def test_sorted_graphs_with_many_parallel_edges_are_exact() -> None:
    """What the models pass: each graph's edges sorted by source then destination, so every
    row of the matrix is sorted and scipy re-sorts nothing; rows with more than 16 parallel
    entries (where scipy's sort is not stable) still add up in the graph's own order."""
    rng = np.random.default_rng(5)
    n, graphs = 12, []
    for k in range(6):
        m = 400
        src = rng.integers(0, 4 if k % 2 else n, m)  # few sources: many parallel edges
        dst = rng.integers(0, 3 if k % 2 else n, m)
        order = np.lexsort((dst, src))
        w = rng.exponential(1.0, m)
        graphs.append((src[order], dst[order], w[order], w[order] * 1.5, rng.random(n) + 0.01))
    block = np.concatenate([np.full(len(g[0]), k) for k, g in enumerate(graphs)])
    cat = [np.concatenate([g[c] for g in graphs]) for c in range(4)]
    x, inflow = graph.pagerank_many(
        block,
        *cat[:3],
        n,
        len(graphs),
        0.85,
        np.stack([g[4] for g in graphs]),
        1e-10,
        200,
        full_weight=cat[3],
    )
    for k, (src, dst, w, full, v) in enumerate(graphs):
        want, want_in, _ = _single(src, dst, w, n, 0.85, v, 1e-10, 200, full)
        assert np.array_equal(x[k], want) and np.array_equal(inflow[k], want_in), k


def test_indices_outside_the_graphs_are_refused() -> None:
    one = np.array([0, 1])
    with pytest.raises(ValueError, match="src"):
        graph.pagerank_many(np.zeros(2, dtype=int), np.array([0, 5]), one, np.ones(2), 5, 1)
    with pytest.raises(ValueError, match="block"):
        graph.pagerank_many(np.array([0, 1]), one, one, np.ones(2), 5, 1)


@pytest.mark.parametrize("cells", [1, 64, 1 << 16])
def test_topic_ranks_are_each_topics_own_pagerank_grouped_or_interleaved(cells: int) -> None:
    """``network_topic.topic_ranks`` takes each topic's edges grouped (as ``score`` hands
    them, not copied) or interleaved (grouped there by a stable sort): either way each topic's
    ranks are its own PageRank, bit for bit, in chunks of any size."""
    from analysis.models.network_topic import topic_ranks

    n, n_topics = 40, 7
    graphs = _graphs(3, n, n_topics)
    pr = graph.PageRankParams()
    block = np.concatenate([np.full(len(g[0]), t) for t, g in enumerate(graphs)])
    src, dst, weight, full = (np.concatenate([g[k] for g in graphs]) for k in range(4))
    t_topic = np.repeat(np.arange(n_topics), [int((g[4] > 0).sum()) for g in graphs])
    t_node = np.concatenate([np.flatnonzero(g[4]) for g in graphs])
    t_mass = np.concatenate([g[4][g[4] > 0] for g in graphs])
    grouped = topic_ranks(
        block, src, dst, weight, full, (t_topic, t_node, t_mass), n, n_topics, pr, cells
    )
    # the topics interleaved at random, each topic's edges in their order
    slots = np.random.default_rng(7).permutation(block.size)
    position = np.empty(block.size, dtype=np.int64)
    for t in range(n_topics):
        mine = np.flatnonzero(block == t)
        position[mine] = np.sort(slots[mine])
    perm = np.argsort(position)
    assert np.any(np.diff(block[perm]) < 0)  # really interleaved
    interleaved = topic_ranks(
        block[perm],
        src[perm],
        dst[perm],
        weight[perm],
        full[perm],
        (t_topic[::-1], t_node[::-1], t_mass[::-1]),
        n,
        n_topics,
        pr,
        cells,
    )
    for t, (src_t, dst_t, w_t, full_t, v_t) in enumerate(graphs):
        want, _ = graph.pagerank(src_t, dst_t, w_t, n, pr.damping, v_t, pr.tol, pr.max_iter, full_t)
        assert np.array_equal(grouped[t], want), t
        assert np.array_equal(interleaved[t], want), t
