"""The replier weights' graph machinery (``analysis.models.replier_weights``): the circle counts
by triangles against the whole-circle join they replaced, and the triangles listed in slices."""

from __future__ import annotations

import itertools

import numpy as np
import polars as pl
import pytest

from analysis.models import replier_weights


def _circle_reference(edges: pl.DataFrame, partners: pl.DataFrame) -> pl.DataFrame:
    """The former route: every edge joined to the whole circle of its dst (quadratic in hubs)."""
    circle = pl.concat(
        [partners, partners.select(pl.col("x"), pl.col("x").alias("y")).unique()]
    ).rename({"x": "dst", "y": "target"})
    return (
        edges.select("src", "dst")
        .join(circle, on="dst")
        .join(
            edges.select("src", pl.col("dst").alias("target"), pl.col("n").alias("n_to")),
            on=["src", "target"],
        )
        .group_by("src", "dst")
        .agg(n_circle=pl.col("n_to").sum())
    )


@pytest.mark.parametrize("wedge_rows", [replier_weights.WEDGE_ROWS, 1, 50])
@pytest.mark.parametrize("seed", range(6))
def test_circle_counts_by_triangles_equal_the_whole_circle_join(
    seed: int, wedge_rows: int, monkeypatch
) -> None:
    """Triangles listed once by degree order give exactly what joining each edge to its dst's
    whole circle gave, on graphs with hubs (Zipf-like repliers and targets) and cliques; the
    same when the wedges are listed in slices (one lower corner a slice, or a few)."""

    monkeypatch.setattr(replier_weights, "WEDGE_ROWS", wedge_rows)

    rng = np.random.default_rng(seed)
    n_acc, n_edges = 60, 900
    w = 1.0 / np.arange(1, n_acc + 1) ** 1.1
    src = rng.choice(n_acc, n_edges, p=w / w.sum())
    dst = rng.choice(n_acc, n_edges, p=w / w.sum())
    raw = pl.DataFrame({"src": [f"a{i}" for i in src], "dst": [f"a{i}" for i in dst]}).filter(
        pl.col("src") != pl.col("dst")
    )
    edges = raw.group_by("src", "dst").agg(n=pl.len().cast(pl.Float64))
    accounts = replier_weights.account_codes(edges["src"], edges["dst"])
    coded, n_ids = replier_weights.code_edges(edges, accounts), accounts.height
    degrees = replier_weights.partner_degrees(coded)
    got = coded.select(
        "src",
        "dst",
        n_circle=replier_weights.circle_counts(coded, degrees, n_ids, [coded["n"].to_numpy()])[0],
    ).sort("src", "dst")
    # the reference reads the partner pairs by name
    named = pl.concat([edges.select(x="src", y="dst"), edges.select(x="dst", y="src")]).unique()
    want = _circle_reference(edges, named).sort("src", "dst")
    assert got.height == edges.height
    assert got.equals(want.select(got.columns))
    assert (got["n_circle"] > edges.sort("src", "dst")["n"]).any()  # triangles were found


def test_triangles_in_slices_are_every_triangle_once(monkeypatch) -> None:
    """Two 4-cliques sharing corner 3, plus a pendant pair: 8 triangles, each once, whether the
    lower corners (0 to 6) form one slice or one slice each."""
    pairs = [(a, b) for a in range(4) for b in range(a + 1, 4)]
    pairs += [(a, b) for a in (3, 4, 5, 6) for b in (4, 5, 6) if a < b] + [(6, 7)]
    up = pl.DataFrame({"u": [a for a, _ in pairs], "v": [b for _, b in pairs], "f": -1, "b": -1})
    want = sorted(
        (a, b, c)
        for a, b, c in itertools.combinations(range(8), 3)
        if {(a, b), (a, c), (b, c)} <= set(pairs)
    )
    assert len(want) == 8
    for rows, n_slices in ((replier_weights.WEDGE_ROWS, 1), (1, 7)):
        monkeypatch.setattr(replier_weights, "WEDGE_ROWS", rows)
        slices = list(replier_weights.triangles(up))
        got = sorted(t for s in slices for t in zip(s["u"], s["v"], s["w"], strict=True))
        assert got == want
        assert len(slices) == n_slices


@pytest.mark.parametrize("seed", range(3))
def test_triangles_of_pairs_in_any_order_are_those_of_the_sorted_pairs(seed: int) -> None:
    """``circle_counts`` hands the pairs sorted by (u, v) and ``triangles`` reads them as they
    are; pairs in another order are sorted first: the same triangles, with the same edge ids."""
    rng = np.random.default_rng(seed)
    n = 40
    pairs = {(int(a), int(b)) for a, b in rng.integers(0, n, (300, 2)) if a < b}
    up = pl.DataFrame(
        {
            "u": [a for a, _ in sorted(pairs)],
            "v": [b for _, b in sorted(pairs)],
            "f": np.arange(len(pairs)),
            "b": np.arange(len(pairs)) + 1000,
        }
    )

    def listed(frame: pl.DataFrame) -> list[tuple[int, ...]]:
        cols = ("u", "v", "w", "e_uv", "e_vu", "e_uw", "e_wu", "e_vw", "e_wv")
        return sorted(
            t
            for part in replier_weights.triangles(frame)
            for t in zip(*(part[c].tolist() for c in cols), strict=True)
        )

    want = listed(up)
    assert len(want) > 20
    assert listed(up.sample(fraction=1.0, shuffle=True, seed=seed)) == want
    assert listed(up.reverse()) == want


@pytest.mark.parametrize("seed", range(4))
def test_partner_degrees_count_each_account_s_partners_either_way(seed: int) -> None:
    """Each account's partners (a reply either way, counted once) on graphs with repeated
    and two-way edges and codes with gaps: a plain set per account says the same."""
    rng = np.random.default_rng(seed)
    codes = np.sort(rng.choice(10_000, 40, replace=False))  # gaps and a wide span
    s, d = rng.choice(codes, 300), rng.choice(codes, 300)
    keep = s != d
    coded = pl.DataFrame({"s": s[keep], "d": d[keep]})
    got = dict(replier_weights.partner_degrees(coded).iter_rows())
    want: dict[int, set[int]] = {}
    for a, b in zip(coded["s"], coded["d"], strict=True):
        want.setdefault(a, set()).add(b)
        want.setdefault(b, set()).add(a)
    assert got == {a: len(p) for a, p in want.items()}
    empty = replier_weights.partner_degrees(coded.head(0))
    assert empty.height == 0 and empty.columns == ["x", "n_partners"]
