"""The replier weights of ``conversation_eb``: the clique discount on the partner graph (pure).

A replier ``r`` of account ``a`` weighs ``d_r · (1 - x_ra) ** clique_power``
(:func:`replier_weights`; the formula and its reasons are in ``conversation_eb``'s docstring).
``x_ra`` needs, for every reply edge, what ``r`` sent into ``a``'s circle; that is a sum over
the triangles of the partner graph (:func:`circle_counts`, :func:`triangles`), listed once by
degree order and in slices of bounded size. Everything runs on integer codes of the accounts
(:func:`account_codes`), whose order nothing computed here depends on.

Split from ``conversation_eb`` (its largest part, and a graph algorithm rather than the model):
the model reads :func:`coded_weights_at` and the coding helpers. Inside compare's re-scorings
the circle counts are updated from the baseline's rather than listed again (``circle_delta``:
the same numbers).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime

import numpy as np
import polars as pl

from analysis import schema
from analysis.models import circle_delta, common


def replier_weights(
    posts: pl.DataFrame, clique_power: float, credit: pl.DataFrame | None = None
) -> pl.DataFrame:
    """Weight of each (replier ``src``, replied-to ``dst``) pair: ``d_src · (1 - x) ** power``.

    ``posts``: scoped posts (before ``as_of``) with ``reply_to_account_id`` filled. ``x`` is the
    share of ``src``'s replies that go to ``dst`` or to ``dst``'s circle, in excess of chance
    (``dst``'s partners over all accounts), ``d_src = q/(q+1)`` with ``q`` the accounts other
    than ``dst`` that ``src`` replied to or heard from. ``credit``: the credit edges of
    ``posts`` (``common.reply_edges``, ``src`` and ``dst`` at least) when the caller has them.
    """
    credit = common.reply_edges(posts) if credit is None else credit
    accounts = account_codes(credit["src"], credit["dst"])
    weights = coded_weights(code_edges(credit, accounts), accounts, clique_power)
    return (
        weights.join(accounts.rename({"a": "s", "account_id": "src"}), on="s")
        .join(accounts.rename({"a": "d", "account_id": "dst"}), on="d")
        .select("src", "dst", "weight")
    )


def account_codes(*columns: pl.Series) -> pl.DataFrame:
    """``account_id, a``: every account found in ``columns`` once, with an integer code ``a``
    (0 ..). The partner graph, its counts, its triangles and the items are built on the codes:
    hashing and sorting the pseudonyms' text cost more than the triangles at 1M posts. The
    codes' order is arbitrary: nothing computed from them depends on it."""
    # each column's distinct ids first: the columns hold every post's and edge's account
    # (~24M strings at 10M posts), their distinct ids a few hundred thousand
    return (
        pl.concat([c.unique().alias("account_id") for c in columns])
        .unique()
        .to_frame()
        .with_row_index("a")
        .with_columns(pl.col("a").cast(pl.Int64))
    )


def placeholder_code(accounts: pl.DataFrame) -> int:
    """The code of the non-participant placeholder in ``accounts``; -1 (no code) without it."""
    found = accounts.filter(pl.col("account_id") == schema.NONPARTICIPANT_ID)["a"]
    return int(found[0]) if found.len() else -1


def code_edges(edges: pl.DataFrame, accounts: pl.DataFrame) -> pl.DataFrame:
    """``edges`` with the codes of ``src`` (``s``) and ``dst`` (``d``) from ``accounts``."""
    return edges.join(accounts.rename({"account_id": "src", "a": "s"}), on="src").join(
        accounts.rename({"account_id": "dst", "a": "d"}), on="dst"
    )


def coded_weights(
    credit: pl.DataFrame, accounts: pl.DataFrame, clique_power: float
) -> pl.DataFrame:
    """:func:`replier_weights` on coded credit edges (``s``, ``d``): ``s, d, weight``.

    ``accounts``: the codes (:func:`account_codes`); the non-participant placeholder, when it
    has one, is no partner of anyone."""
    return coded_weights_at(credit, accounts, clique_power, [None])[0]


def coded_weights_at(
    credit: pl.DataFrame,
    accounts: pl.DataFrame,
    clique_power: float,
    cuts: Sequence[datetime | None],
) -> list[pl.DataFrame]:
    """:func:`coded_weights` of the credit edges dated before each of ``cuts`` (``None``:
    all of them), from one listing of the partner graph's triangles.

    The score reads the weights now and at the band's earlier date; the earlier graph's
    triangles are those of the whole graph whose three pairs already existed, so one listing
    serves both (each date's sums are over whole reply counts: exactly what a listing of the
    earlier graph alone gives). ``credit`` needs ``created_at`` when a cut is a date.
    """
    nobody = placeholder_code(accounts)
    counts = {
        f"n{i}": (pl.len() if cut is None else (pl.col("created_at") < cut).sum()).cast(pl.Float64)
        for i, cut in enumerate(cuts)
    }
    # lazy: the same whole-number counts, in half the memory of the eager group-by (47
    # against 100 MiB at 1M posts; so for the partner pairs below)
    span = common.key_span(accounts["a"])
    # on one integer key per pair (``common.pair_key``; at 1M posts 0.09 -> 0.07 s)
    edges = (
        credit.lazy()
        .filter((pl.col("s") != nobody) & (pl.col("d") != nobody))
        .group_by(sd=common.pair_key("s", "d", span))
        .agg(**counts)
        .with_columns(s=pl.col("sd") // span, d=pl.col("sd") % span)
        .select("s", "d", *counts)
        .collect()
    )
    if edges.height == 0:
        return [edges.select("s", "d", weight=pl.lit(0.0)) for _ in cuts]
    degrees = partner_degrees(edges)
    # inside compare's re-scorings, updated from the graph kept (the baseline's; the same bits)
    circles = circle_delta.circle_counts(
        edges.select("s", "d"),
        degrees,
        accounts,
        [edges[name].to_numpy() for name in counts],
        circle_counts,
    )
    out = []
    for name, n_circle in zip(counts, circles, strict=True):
        at = edges.select("s", "d", n=pl.col(name), n_circle=n_circle).filter(pl.col("n") > 0)
        # a cut that keeps every edge has the whole graph's degrees (0.1 s at 1M posts)
        out.append(_weights(at, clique_power, degrees if at.height == edges.height else None))
    return out


def _weights(
    edges: pl.DataFrame, clique_power: float, degrees: pl.DataFrame | None = None
) -> pl.DataFrame:
    """``s, d, weight`` of coded edges ``s, d, n`` (replies), ``n_circle`` (what ``s`` sent
    into ``d``'s circle): the formula of :func:`replier_weights`. ``degrees``: their
    :func:`partner_degrees`, when the caller has them."""
    if edges.height == 0:
        return edges.select("s", "d", weight=pl.lit(0.0))
    n_accounts = pl.concat([edges["s"], edges["d"]]).n_unique()
    n_partners = partner_degrees(edges) if degrees is None else degrees
    sent = edges.group_by("s").agg(n_sent=pl.col("n").sum())
    return (
        edges.select("s", "d", "n_circle")
        .join(sent, on="s")
        .join(n_partners.rename({"x": "s"}), on="s")
        .join(n_partners.rename({"x": "d", "n_partners": "n_dst_partners"}), on="d")
        .with_columns(
            share_circle=(pl.col("n_circle") / pl.col("n_sent")).clip(0, 1),
            # the share a replier picking targets at random would send into dst's circle
            chance=(pl.col("n_dst_partners") / max(n_accounts - 1, 1)).clip(0, 1),
            q=(pl.col("n_partners") - 1).cast(pl.Float64),  # partners other than dst
        )
        # The plain difference, not (o - c) / (1 - c): when dst talks with nearly everyone,
        # staying inside its circle says nothing, and the ratio would blow up.
        .with_columns(excess=(pl.col("share_circle") - pl.col("chance")).clip(0, 1))
        .with_columns(
            weight=(pl.col("q") / (pl.col("q") + 1)) * (1 - pl.col("excess")) ** clique_power
        )
        .select("s", "d", "weight")
    )


def partner_degrees(coded: pl.DataFrame) -> pl.DataFrame:
    """``x, n_partners``: each account's partners (accounts with a reply either way)."""
    if coded.height == 0:
        return pl.DataFrame(schema={"x": pl.Int64, "n_partners": pl.UInt32})
    span = max(common.key_span(coded["s"]), common.key_span(coded["d"]))
    lazy = coded.lazy()
    # each pair both ways as one integer key (``common.pair_key``; at 1M posts 0.23 -> 0.10 s)
    pairs = pl.concat(
        [
            lazy.select(k=common.pair_key("s", "d", span)),
            lazy.select(k=common.pair_key("d", "s", span)),
        ]
    ).unique()
    # one lazy query: at 1M posts 67 MiB and 0.10 s, the eager concat, unique and group-by
    # 211 MiB and 0.25 s (the counts are the same; the groups' order is never read)
    return pairs.group_by(x=pl.col("k") // span).agg(n_partners=pl.len()).collect()


def circle_counts(
    pairs: pl.DataFrame, degrees: pl.DataFrame, n_ids: int, counts: Sequence[np.ndarray]
) -> list[np.ndarray]:
    """``n_circle`` for each count vector of ``counts``: what ``s`` sent into ``d``'s circle
    (``d`` and its partners), per edge of ``pairs`` (``s, d``, in its order).

    ``degrees``: :func:`partner_degrees` of ``pairs``. A count vector gives each edge's replies in
    one graph: those with a count above 0 (a subgraph of ``pairs``, the whole when every count
    is positive). ``n(s, d)`` plus ``n(s, t)`` for every other target ``t`` of ``s`` that is a
    partner of ``d``: each such ``t`` closes a triangle {s, d, t} of the partner graph. Joining
    every edge to the whole circle of its ``d`` costs the sum over accounts of in-degree x
    degree, quadratic in a hub's partners (slope 2.7 at 100k posts); the triangles are listed
    once each instead, by orienting every partner pair from the lower to the higher degree (the
    classic O(m^1.5) bound), then read in all six role assignments; a subgraph's triangles are
    those whose three pairs it holds. Each partner pair carries the ids of its directed edges
    through the listing's joins, so no edge is looked up afterwards. Self-edges never occur
    (``semantics.interactions`` drops them).

    The weights are reply counts (whole numbers held as floats), so the sums are exact in any
    order: the same numbers as a group-by, and slices of the triangles add up to the whole.
    """
    rank = (
        degrees.sort("n_partners", "x").with_row_index("r").select("x", pl.col("r").cast(pl.Int64))
    )
    r_of = np.empty(n_ids, dtype=np.int64)
    r_of[rank["x"].to_numpy()] = rank["r"].to_numpy()
    s, d = r_of[pairs["s"].to_numpy()], r_of[pairs["d"].to_numpy()]
    eid = np.arange(s.size, dtype=np.int64)
    fwd = s < d
    # each undirected pair once, from the lower rank u to the higher v, with the ids of its
    # directed edges u -> v (f) and v -> u (b); -1 where that direction has no reply
    up = (
        pl.LazyFrame(
            {
                "u": np.where(fwd, s, d),
                "v": np.where(fwd, d, s),
                "f": np.where(fwd, eid, -1),
                "b": np.where(fwd, -1, eid),
            }
        )
        .group_by(uv=common.pair_key("u", "v", n_ids))
        .agg(pl.col("f").max(), pl.col("b").max())
        # sorted as :func:`triangles` reads them, inside the query (no second copy of them)
        .sort("uv")
        .select(u=pl.col("uv") // n_ids, v=pl.col("uv") % n_ids, f="f", b="b")
        .collect()
    )
    del s, d, eid, fwd  # four edge-long arrays, not needed through the listing
    outs = [n.copy() for n in counts]
    # per graph: whether a directed edge id (-1: none) is one of its edges; None for a graph
    # that holds every edge (the whole graph): there an id is an edge unless it is -1, and
    # the three pairs of every listed triangle are partner pairs
    present = [None if bool((n > 0).all()) else np.append(n > 0, False) for n in counts]
    # per graph, the (edge, replies) terms not yet added: one bincount for many slices and all
    # six roles (a bincount per role and slice zeroed a whole edge-sized array each time)
    pending: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in counts]
    held = [0 for _ in counts]
    for tri in triangles(up):
        e = {c: ids for c, ids in tri.items() if c.startswith("e_")}
        for g, (n, has, out) in enumerate(zip(counts, present, outs, strict=True)):
            h = {c: ids >= 0 if has is None else has[ids] for c, ids in e.items()}
            for sd, st, dt, td in _CORNERS:
                # s -> d and s -> t replied, d and t partners: the roles (s, d, t) and (s, t, d)
                both = h[sd] & h[st] if has is None else h[sd] & h[st] & (h[dt] | h[td])
                to_d, to_t = e[sd][both], e[st][both]
                pending[g] += [(to_d, n[to_t]), (to_t, n[to_d])]
                held[g] += 2 * to_d.size
            if held[g] >= n.size:
                _add_terms(out, pending[g])
                held[g] = 0
    for out, terms in zip(outs, pending, strict=True):
        _add_terms(out, terms)
    return outs


def _add_terms(out: np.ndarray, terms: list[tuple[np.ndarray, np.ndarray]]) -> None:
    """Add each ``(edge ids, values)`` of ``terms`` into ``out`` at those ids, then empty
    ``terms``. The values are whole numbers held as floats: exact sums in any order."""
    if terms:
        ids = np.concatenate([i for i, _ in terms])
        values = np.concatenate([v for _, v in terms])
        out += np.bincount(ids, weights=values, minlength=out.size)
        terms.clear()


def _int64(codes: pl.Series) -> np.ndarray:
    """``codes`` as int64 numpy, without a copy where they are Int64 already."""
    return codes.to_numpy().astype(np.int64, copy=False)


#: Each corner s of a triangle u < v < w with its other two corners d < t, as the columns of
#: the directed edges s -> d, s -> t, d -> t and t -> d that :func:`triangles` carries
#: (``e_uv`` is u -> v): the six role assignments (s, d, t), two per corner.
_CORNERS = [
    tuple(f"e_{'uvw'[x]}{'uvw'[y]}" for x, y in ((i, j), (i, k), (j, k), (k, j)))
    for i, j, k in ((0, 1, 2), (1, 0, 2), (2, 0, 1))
]


#: Most wedges held at once when listing triangles (a lower corner's pairs of higher partners,
#: counted as its partners squared): the wedges grow with the sum of squared degrees; in slices
#: the working set stays this size whatever the graph (the index arrays and the slice's
#: triangles), and the triangles are the same. At 1M posts (4.1M triangles) the listing's peak
#: was +269 MiB at 2^22 and +115 at 2^20, in 0.72-0.90 s against 0.94 (session 47; 2^19: +76
#: MiB, 0.78-0.85 s, the circle counts around it slower).
WEDGE_ROWS = 1 << 20


def triangles(up: pl.DataFrame) -> Iterator[dict[str, np.ndarray]]:
    """``u, v, w`` (``u < v < w``) and the ids of the six directed edges between them
    (``e_uv, e_vu, e_uw, e_wu, e_vw, e_wv``; -1: none): every triangle of the partner graph
    once, in slices (a dict of numpy arrays each: its reader works on arrays).

    ``up`` holds each partner pair once, from the lower rank ``u`` to the higher ``v``, with its
    edge ids ``f`` (u -> v) and ``b`` (v -> u); a triangle is a wedge ``v < w`` of higher
    partners of ``u`` whose ``v, w`` is a pair too. The pairs are sorted by ``(u, v)`` once; a
    corner's wedges are index pairs inside its run of rows, and each closing pair is found by
    binary search of its key ``v * n + w`` among the sorted pairs' keys (numpy, no join: a hash
    join rebuilt its table of every pair for each slice, 4.7 s of 5.2 at 1M posts). The lower
    corners are taken in slices of at most :data:`WEDGE_ROWS` squared partner counts (a corner
    with more than that is a slice of its own).
    """
    if up.height == 0:
        return
    u, v = _int64(up["u"]), _int64(up["v"])
    n = int(v.max()) + 1
    key = u * n + v
    if key.size > 1 and not bool((key[1:] > key[:-1]).all()):
        # not sorted by (u, v) yet (:func:`circle_counts` hands them sorted: no copy there)
        up = up.sort("u", "v")
        u, v = _int64(up["u"]), _int64(up["v"])
        key = u * n + v
    # key ascends, since sorted by (u, v) and v < n
    f, b = up["f"].to_numpy(), up["b"].to_numpy()
    # each lower corner's run of rows (u sorted: its runs, not np.unique's sort of a copy)
    first = np.flatnonzero(np.concatenate(([True], u[1:] != u[:-1])))
    k = np.diff(np.append(first, u.size))
    # a slice starts where the running count of squared partners passes another WEDGE_ROWS
    n_join = k.astype(np.int64) ** 2
    slice_of = (np.cumsum(n_join) - n_join) // WEDGE_ROWS
    cuts = np.flatnonzero(np.diff(slice_of)) + 1
    for corners in np.split(np.arange(k.size), cuts):
        ks, starts = k[corners], first[corners]
        # every row of these corners, and how many later rows of the same corner follow it
        rows = np.repeat(starts - np.cumsum(ks) + ks, ks) + np.arange(int(ks.sum()))
        later = np.repeat(starts + ks, ks) - 1 - rows
        i = np.repeat(rows, later)
        j = i + 1 + np.arange(i.size) - np.repeat(np.cumsum(later) - later, later)
        closing = v[i] * n + v[j]
        at = np.minimum(np.searchsorted(key, closing), key.size - 1)
        hit = key[at] == closing
        i, j, at = i[hit], j[hit], at[hit]
        yield {
            "u": u[i],
            "v": v[i],
            "w": v[j],
            "e_uv": f[i],
            "e_vu": b[i],
            "e_uw": f[j],
            "e_wu": b[j],
            "e_vw": f[at],
            "e_wv": b[at],
        }
