"""conversation_eb's circle counts updated from an earlier graph's (``models.circle_delta``): the
full listing's numbers bit for bit after every kind of alteration compare makes, on other codes,
and the fall-back to the full listing where an update would read too much."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from analysis.models import circle_delta, replier_weights


def _graph(rng: np.random.Generator, n_acc: int, n_edges: int) -> pl.DataFrame:
    """``src, dst, n0, n1``: hub-heavy reply counts, ``n1`` an earlier cut (a subgraph)."""
    w = 1.0 / np.arange(1, n_acc + 1) ** 1.1
    src = rng.choice(n_acc, n_edges, p=w / w.sum())
    dst = rng.choice(n_acc, n_edges, p=w / w.sum())
    edges = (
        pl.DataFrame({"src": [f"a{i}" for i in src], "dst": [f"a{i}" for i in dst]})
        .filter(pl.col("src") != pl.col("dst"))
        .group_by("src", "dst")
        .agg(n0=pl.len().cast(pl.Float64))
        .sort("src", "dst")
    )
    early = rng.integers(0, 3, edges.height).astype(np.float64)
    return edges.with_columns(n1=pl.min_horizontal("n0", pl.Series(early)))


def _alter(edges: pl.DataFrame, kind: str, x: str, rng: np.random.Generator) -> pl.DataFrame:
    """One alteration of account ``x``'s edges, one kind at a time (each touches one route)."""
    mine_out, mine_in = pl.col("src") == x, pl.col("dst") == x
    coin = pl.Series(rng.random(edges.height) < 0.5)
    if kind == "drop_out":  # weekend off: some of x's replies gone
        return edges.filter(~(mine_out & coin))
    if kind == "drop_in":  # x's posts gone with the replies below them
        return edges.filter(~mine_in)
    if kind == "vanish":  # every post of x gone (all on weekends): x is no account now
        return edges.filter(~mine_out & ~mine_in)
    if kind == "more_in":  # more replies on edges that exist
        return edges.with_columns(n0=pl.when(mine_in).then(pl.col("n0") + 1).otherwise("n0"))
    if kind == "earlier":  # only the earlier cut moves (a reply re-dated)
        return edges.with_columns(
            n1=pl.when(mine_out & (pl.col("n1") == 0)).then(1.0).otherwise("n1")
        )
    if kind == "new_repliers":  # a sockpuppet farm: new accounts reply to x
        new = pl.DataFrame(
            {"src": [f"puppet{i}" for i in range(4)], "dst": [x] * 4, "n0": 3.0, "n1": 1.0}
        )
        ring = pl.DataFrame({"src": ["puppet0"], "dst": ["puppet1"], "n0": 1.0, "n1": 0.0})
        return pl.concat([edges, new, ring])
    if kind == "reply_to_all":  # x replies to accounts it never replied to
        targets = edges.filter(pl.col("src") != x)["dst"].unique().sort().head(12)
        new = pl.DataFrame({"src": x, "dst": targets, "n0": 1.0, "n1": 0.0}).filter(
            pl.col("dst") != x
        )
        return pl.concat([edges.join(new, on=["src", "dst"], how="anti"), new])
    raise AssertionError(kind)


def _run(edges: pl.DataFrame, rng: np.random.Generator) -> tuple[list, list, pl.DataFrame]:
    """The full listing and the reusing route on ``edges`` under fresh, shuffled codes."""
    edges = edges.sample(fraction=1.0, shuffle=True, seed=int(rng.integers(1 << 30)))
    ids = pl.concat([edges["src"], edges["dst"]]).unique().sort()
    perm = rng.permutation(ids.len())
    accounts = pl.DataFrame({"account_id": ids.gather(perm), "a": np.arange(ids.len())})
    coded = replier_weights.code_edges(edges, accounts)
    pairs, degrees = coded.select("s", "d"), replier_weights.partner_degrees(coded)
    counts = [coded[c].to_numpy() for c in edges.columns if c.startswith("n")]
    full = replier_weights.circle_counts(pairs, degrees, accounts.height, counts)
    with circle_delta.reusing():
        got = circle_delta.circle_counts(
            pairs, degrees, accounts, counts, replier_weights.circle_counts
        )
    return full, got, coded


def _fresh(monkeypatch) -> None:
    """No graph kept and a zero tally, restored after the test (the module's state)."""
    monkeypatch.setattr(circle_delta, "_kept", None)
    monkeypatch.setattr(circle_delta, "_tally", {"updated": 0, "listed": 0})


#: How the update reads each changed and each recounted edge: the cheaper route (as it runs),
#: or every edge by one route (the source's out-edges, or the target's partners then and now)
ROUTES = ["cheaper", "source", "partners"]


def _route(monkeypatch, route: str) -> None:
    """Make the update take ``route`` for every edge (its cost is what picks it)."""
    if route == "cheaper":
        return
    cost = 2**40 if route == "source" else -1  # -1: below every out-degree, 0 included
    monkeypatch.setattr(
        circle_delta._Near, "count", lambda self, t, kt: np.full(t.size, cost, dtype=np.int64)
    )


KINDS = ["drop_out", "drop_in", "vanish", "more_in", "earlier", "new_repliers", "reply_to_all"]


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("seed", range(4))
def test_an_update_gives_the_full_listing_bits(
    kind: str, seed: int, route: str, monkeypatch
) -> None:
    """After each kind of alteration, of a hub or of a quiet account, the counts taken from the
    kept graph and recomputed where they can differ are the full listing's, exactly, whichever
    route reads each edge; the update ran (not the full listing) and the alteration moved some
    count (so an update that kept the earlier values everywhere would fail)."""
    _fresh(monkeypatch)
    _route(monkeypatch, route)
    monkeypatch.setattr(circle_delta, "MAX_SHARE_READ", float("inf"))
    rng = np.random.default_rng(seed)
    base = _graph(rng, 40, 700)
    full0, got0, coded0 = _run(base, rng)  # nothing kept yet: the full listing, kept
    assert all(np.array_equal(a, b) for a, b in zip(full0, got0, strict=True))
    assert circle_delta.tally() == {"updated": 0, "listed": 1}
    key = ["src", "dst"]
    then = coded0.select(*key, c0=pl.Series(full0[0]), c1=pl.Series(full0[1]))
    moved = False
    for x in ("a0", "a1", "a17", "a33"):  # hubs and quiet accounts
        full, got, coded = _run(_alter(base, kind, x, rng), rng)
        for a, b in zip(full, got, strict=True):
            assert a.dtype == b.dtype
            np.testing.assert_array_equal(a, b)
        # did the alteration move the circle count of an edge both graphs hold, or give a
        # new edge triangles (the sockpuppets' ring)?
        now = coded.select(*key, "n0", c0=pl.Series(full[0]), c1=pl.Series(full[1]))
        both = now.join(then, on=key)
        new = now.join(then, on=key, how="anti")
        moved |= bool(
            ((both["c0"] != both["c0_right"]) | (both["c1"] != both["c1_right"])).any()
            or (new["c0"] > new["n0"]).any()
        )
    assert circle_delta.tally() == {"updated": 4, "listed": 1}  # every one an update
    assert moved


def test_the_update_reads_near_the_change(monkeypatch) -> None:
    """A change far from most of the graph is an update that reads under a tenth of the edges
    (the changed accounts' out-edges and the in-edges of the pairs' ends), not the graph."""
    _fresh(monkeypatch)
    monkeypatch.setattr(circle_delta, "MAX_SHARE_READ", 0.1)
    rng = np.random.default_rng(7)
    base = _graph(rng, 1500, 20000)
    out = base.group_by("src").len().filter(pl.col("len") >= 3).sort("len", "src")
    quiet = out["src"][out.height // 2]
    _run(base, rng)
    full, got, _ = _run(_alter(base, "drop_out", quiet, rng), rng)
    assert all(np.array_equal(a, b) for a, b in zip(full, got, strict=True))
    assert circle_delta.tally() == {"updated": 1, "listed": 1}


def test_too_wide_a_change_lists_in_full_and_keeps_the_graph_kept(monkeypatch) -> None:
    """An alteration whose update would read more than MAX_SHARE_READ of the edges is listed in
    full (the same numbers); the graph kept stays (compare's baseline: the next re-scoring is
    one alteration away from it again), and the next narrow change is an update."""
    _fresh(monkeypatch)
    rng = np.random.default_rng(3)
    base = _graph(rng, 40, 700)
    _run(base, rng)
    first = circle_delta._kept
    monkeypatch.setattr(circle_delta, "MAX_SHARE_READ", 0.0)
    full, got, _ = _run(_alter(base, "drop_in", "a0", rng), rng)
    assert all(np.array_equal(a, b) for a, b in zip(full, got, strict=True))
    assert circle_delta._kept is first
    monkeypatch.setattr(circle_delta, "MAX_SHARE_READ", float("inf"))
    full, got, _ = _run(_alter(base, "drop_out", "a17", rng), rng)
    assert all(np.array_equal(a, b) for a, b in zip(full, got, strict=True))
    assert circle_delta.tally() == {"updated": 1, "listed": 2}


def test_a_graph_of_other_accounts_replaces_the_graph_kept(monkeypatch) -> None:
    """Another dump scored in the same process (a notebook's second dataset) shares no
    accounts with the graph kept: it is listed and kept in its place."""
    _fresh(monkeypatch)
    monkeypatch.setattr(circle_delta, "MAX_SHARE_READ", 0.0)  # never an update
    rng = np.random.default_rng(4)
    _run(_graph(rng, 40, 700), rng)
    first = circle_delta._kept
    other = _graph(rng, 40, 700).with_columns(pl.col("src", "dst").str.replace("a", "b"))
    full, got, _ = _run(other, rng)
    assert all(np.array_equal(a, b) for a, b in zip(full, got, strict=True))
    assert circle_delta._kept is not first


@pytest.mark.parametrize("route", ROUTES)
def test_random_differences_give_the_full_listing_bits(route: str, monkeypatch) -> None:
    """A small fuzz: 60 random graphs (uniform or hub-heavy, one to three count vectors,
    zeros anywhere), each followed by three graphs with arbitrary differences (edges and
    accounts dropped or added, counts moved to and from zero, directions swapped): every bit
    of every update equals the listing's, whichever route reads each edge."""
    _fresh(monkeypatch)
    _route(monkeypatch, route)
    monkeypatch.setattr(circle_delta, "MAX_SHARE_READ", float("inf"))
    rng = np.random.default_rng(11)
    checked = updated = 0
    for _ in range(60):
        k = int(rng.integers(1, 4))
        ids = [f"a{i}" for i in range(int(rng.integers(4, 30)))]
        base = _random_edges(rng, ids, int(rng.integers(10, 150)), k)
        updated += circle_delta.tally()["updated"]
        circle_delta.forget()
        _run(base, rng)
        for _ in range(3):
            full, got, _ = _run(_random_change(rng, base, ids, k), rng)
            for a, b in zip(full, got, strict=True):
                assert a.dtype == b.dtype
                assert np.array_equal(a.view(np.int64), b.view(np.int64))
            checked += 1
    updated += circle_delta.tally()["updated"]
    assert checked == 180 and updated >= 170  # updates, not listings (a base may be empty)


def _random_edges(rng: np.random.Generator, ids: list[str], draws: int, k: int) -> pl.DataFrame:
    """``src, dst, n0 .. n{k-1}``: distinct edges among ``ids``, counts with zeros anywhere."""
    w = 1.0 / np.arange(1, len(ids) + 1) ** (1.2 * rng.integers(0, 2))
    s, d = rng.choice(len(ids), (2, draws), p=w / w.sum())
    key = np.unique((s * len(ids) + d)[s != d])
    s, d = key // len(ids), key % len(ids)
    cols: dict = {"src": np.asarray(ids)[s], "dst": np.asarray(ids)[d]}
    for g in range(k):
        zero = rng.random(s.size) < rng.choice([0.0, 0.3, 0.9])
        cols[f"n{g}"] = np.where(zero, 0, rng.integers(1, 5, s.size)).astype(np.float64)
    return pl.DataFrame(cols)


def _random_change(
    rng: np.random.Generator, edges: pl.DataFrame, ids: list[str], k: int
) -> pl.DataFrame:
    """``edges`` after one to four random moves."""
    for _ in range(int(rng.integers(1, 5))):
        move, x = int(rng.integers(0, 6)), str(rng.choice(ids))
        if move == 0:  # edges dropped
            edges = edges.filter(pl.Series(rng.random(edges.height) < rng.random()))
        elif move == 1:  # an account gone
            edges = edges.filter((pl.col("src") != x) & (pl.col("dst") != x))
        elif move == 2 and edges.height:  # counts moved, to and from zero
            g = f"n{int(rng.integers(0, k))}"
            moved = rng.random(edges.height) < 0.3
            new = np.where(moved, rng.integers(0, 4, edges.height), edges[g].to_numpy())
            edges = edges.with_columns(pl.Series(g, new.astype(np.float64)))
        elif move == 3:  # new edges, of new accounts too
            add = _random_edges(rng, [*ids, "new0", "new1"], int(rng.integers(1, 20)), k)
            edges = pl.concat([edges.join(add, on=["src", "dst"], how="anti"), add])
        elif move == 4:  # directions swapped
            flip = pl.Series(rng.random(edges.height) < 0.2)
            back = edges.filter(flip).with_columns(src="dst", dst="src")
            edges = pl.concat([edges.filter(~flip), back]).unique(["src", "dst"], keep="first")
        else:  # one cut emptied
            edges = edges.with_columns(pl.lit(0.0).alias(f"n{int(rng.integers(0, k))}"))
    return edges


def test_outside_reusing_nothing_is_kept(monkeypatch) -> None:
    """The score stage and validate list in full and keep no graph (its memory is compare's)."""
    _fresh(monkeypatch)
    rng = np.random.default_rng(0)
    edges = _graph(rng, 30, 300)
    accounts = replier_weights.account_codes(edges["src"], edges["dst"])
    coded = replier_weights.code_edges(edges, accounts)
    counts = [coded["n0"].to_numpy()]
    pairs, degrees = coded.select("s", "d"), replier_weights.partner_degrees(coded)
    out = circle_delta.circle_counts(
        pairs, degrees, accounts, counts, replier_weights.circle_counts
    )
    assert np.array_equal(
        out[0], replier_weights.circle_counts(pairs, degrees, accounts.height, counts)[0]
    )
    assert circle_delta._kept is None
