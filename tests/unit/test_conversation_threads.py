"""``conversation.thread_structure`` (pointer jumping) gives what the two level-by-level walks
give: every post's depth and root, on random forests with absent parents, and on cycles."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from analysis.models import conversation


def _walks(posts: pl.DataFrame) -> pl.DataFrame:
    """The reference: thread_depths and thread_roots, as the model joined them before."""
    roots = conversation.thread_roots(posts)
    depth = conversation.thread_depths(posts)
    return roots.join(depth, on="post_id", how="left").select("post_id", "depth", "root_post_id")


def _forest(seed: int, n: int) -> pl.DataFrame:
    """Posts whose parent is an earlier post (deep chains included), absent, or none."""
    rng = np.random.default_rng(seed)
    parents: list[str | None] = []
    for i in range(n):
        kind = rng.random()
        if i == 0 or kind < 0.15:
            parents.append(None)
        elif kind < 0.25:
            parents.append(f"gone{i}")  # a parent outside the posts (deleted, out of scope)
        elif kind < 0.75:
            parents.append(f"p{i - 1}")  # long chains
        else:
            parents.append(f"p{int(rng.integers(0, i))}")
    order = rng.permutation(n)  # row order is not time order
    return pl.DataFrame(
        {"post_id": [f"p{i}" for i in order], "parent_post_id": [parents[i] for i in order]}
    )


def _same(a: pl.DataFrame, b: pl.DataFrame) -> None:
    key = ["post_id"]
    assert a.sort(key).equals(b.sort(key)), (a.sort(key), b.sort(key))


@pytest.mark.parametrize("seed", range(8))
def test_pointer_jumping_equals_the_walks(seed: int) -> None:
    posts = _forest(seed, 300)
    got = conversation.thread_structure(posts)
    assert got.schema == {"post_id": pl.String, "depth": pl.Int32, "root_post_id": pl.String}
    _same(got, _walks(posts))
    assert got["depth"].max() > 8  # deep enough for four jumping rounds or more


def test_roots_depths_and_absent_parents_by_hand() -> None:
    posts = pl.DataFrame(
        {
            "post_id": ["a", "b", "c", "d", "e"],
            "parent_post_id": [None, "a", "b", "gone", "d"],
        }
    )
    got = dict(
        (p, (d, r)) for p, d, r in conversation.thread_structure(posts).sort("post_id").iter_rows()
    )
    assert got == {"a": (0, "a"), "b": (1, "a"), "c": (2, "a"), "d": (1, "d"), "e": (2, "d")}


def test_a_cycle_takes_the_walks() -> None:
    posts = pl.DataFrame({"post_id": ["a", "b", "c", "x"], "parent_post_id": ["b", "a", "a", None]})
    got = conversation.thread_structure(posts)
    _same(got, _walks(posts))
    assert got.filter(pl.col("post_id") == "x")["depth"].item() == 0
    cycle = got.filter(pl.col("post_id").is_in(["a", "b", "c"]))
    assert cycle["depth"].null_count() == 3
    # no root either: the chains of a, b (the cycle) and c (below it) never reach a top
    assert cycle["root_post_id"].null_count() == 3
    assert got.filter(pl.col("post_id") == "x")["root_post_id"].item() == "x"


def test_a_cycle_below_a_long_chain_leaves_the_chain_its_root() -> None:
    """A cycle sends the whole table to the walks: the posts on and below it get no root and
    no depth, a deep chain beside it keeps its own (it stops within as many steps as posts)."""
    n = 50
    chain = {f"c{i}": (f"c{i - 1}" if i else None) for i in range(n)}
    loop = {"a": "b", "b": "a", "d": "a"}
    links = {**chain, **loop}
    posts = pl.DataFrame({"post_id": list(links), "parent_post_id": list(links.values())})
    got = dict((p, (d, r)) for p, d, r in conversation.thread_structure(posts).iter_rows())
    assert all(got[f"c{i}"] == (i, "c0") for i in range(n))
    assert got["a"] == got["b"] == got["d"] == (None, None)


def test_empty_posts() -> None:
    posts = pl.DataFrame(schema={"post_id": pl.String, "parent_post_id": pl.String})
    assert conversation.thread_structure(posts).height == 0


def test_untyped_parents_and_missing_ids() -> None:
    """A hand-built table whose parents are all null (dtype Null), and one with a null post id
    (the walks' answer stands)."""
    posts = pl.DataFrame({"post_id": ["a", "b"], "parent_post_id": [None, None]})
    got = conversation.thread_structure(posts).sort("post_id")
    assert got["depth"].to_list() == [0, 0] and got["root_post_id"].to_list() == ["a", "b"]
    posts = pl.DataFrame({"post_id": ["a", None, "c"], "parent_post_id": [None, "a", "a"]})
    _same(conversation.thread_structure(posts), _walks(posts))
