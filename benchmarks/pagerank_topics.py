"""``network_topic``'s PageRank per topic: one power iteration per topic against all topics (in
chunks) iterated together by ``graph.pagerank_many``. Figures only; nothing gates on a time.

    .venv/bin/python -m benchmarks.pagerank_topics [--sizes 58,2000,10000,100000] [--topics 30]

For each number of nodes: a random topic graph (``10 x nodes`` reply edges spread over the
topics, a teleport on a tenth of the nodes per topic), ranked both ways; prints CPU seconds,
the numpy peak (tracemalloc), and whether every topic's ranks are bit for bit the same. The
chunk is ``network_topic.TOPIC_CELLS`` (``--cells`` to try another).
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from collections.abc import Callable

import numpy as np

from analysis.models import graph, network_topic


def topic_graphs(n: int, topics: int, edges: int, seed: int = 1):
    """(block, src, dst, w, full_weight, teleport) of ``topics`` graphs on ``n`` nodes."""
    rng = np.random.default_rng(seed)
    block = np.sort(rng.integers(0, topics, edges))
    src, dst = rng.integers(0, n, edges), rng.integers(0, n, edges)
    w = rng.uniform(0.05, 1, edges)
    teleport = np.zeros((topics, n))
    k = max(1, n // 10)
    for t in range(topics):
        teleport[t, rng.choice(n, size=k, replace=False)] = rng.random(k) + 0.1
    return block, src, dst, w, w * 1.2, teleport


def one_at_a_time(n, topics, block, src, dst, w, full, teleport) -> list[np.ndarray]:
    out = []
    for t in range(topics):
        s = block == t
        x, _ = graph.pagerank(
            src[s], dst[s], w[s], n, personalization=teleport[t], full_weight=full[s]
        )
        out.append(x)
    return out


def in_chunks(n, topics, block, src, dst, w, full, teleport, cells: int) -> list[np.ndarray]:
    """What ``network_topic`` runs (``network_topic.topic_ranks``)."""
    t_topic, t_node = np.nonzero(teleport)
    entries = (t_topic, t_node, teleport[t_topic, t_node])
    pr = graph.PageRankParams()
    return network_topic.topic_ranks(block, src, dst, w, full, entries, n, topics, pr, cells)


def timed(fn: Callable[[], list[np.ndarray]]) -> tuple[list[np.ndarray], float, float]:
    tracemalloc.start()
    started = time.process_time()
    result = fn()
    cpu = time.process_time() - started
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return result, cpu, peak


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="58,2000,10000,100000")
    ap.add_argument("--topics", type=int, default=30)
    ap.add_argument("--cells", type=int, default=network_topic.TOPIC_CELLS)
    a = ap.parse_args(argv)
    print(f"topics {a.topics}, chunk {a.cells} topic x node cells")
    print(f"{'nodes':>8} {'edges':>9} {'one at a time':>22} {'in chunks':>22}  same")
    for n in (int(x) for x in a.sizes.split(",")):
        data = topic_graphs(n, a.topics, 10 * n)
        one_at_a_time(min(n, 50), 2, *topic_graphs(min(n, 50), 2, 100))  # warm imports
        ref, cpu_a, mem_a = timed(lambda: one_at_a_time(n, a.topics, *data))  # noqa: B023
        got, cpu_b, mem_b = timed(lambda: in_chunks(n, a.topics, *data, a.cells))  # noqa: B023
        same = all(np.array_equal(x, y) for x, y in zip(ref, got, strict=True))
        print(
            f"{n:>8} {10 * n:>9} {cpu_a:>8.2f} CPU-s {mem_a:>5.0f} MiB "
            f"{cpu_b:>8.2f} CPU-s {mem_b:>5.0f} MiB  {same}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
