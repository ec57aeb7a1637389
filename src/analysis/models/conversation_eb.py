"""Model ``conversation_eb``: how many independent people does a typical contribution draw in?

Built to survive the robustness tests of the ``compare`` stage honestly, by construction rather
than by tuning a threshold:

* **Per-contribution outcome.** An account's *item* is its contribution to one thread (all its
  posts in that thread, the thread keyed by its root); the outcome of an item is the weighted
  number of distinct other accounts who replied to the account's posts in that thread. Posting
  more items that nobody answers lowers the rate; a long exchange or a self-reply chain stays
  one item with the same repliers.
* **Read against the day's audience.** With ``eb_weekday_adjust``, an item's outcome is scaled
  by the community's mean outcome over the mean for items started on the same weekday, so a
  weekend item that draws less because fewer people are around counts as an average item.
* **Memory in the person's own items, not in calendar days.** Item ``j`` (0 = the latest, by
  the time of the account's first post in the thread) weighs ``0.5 ** (j / eb_half_life_items)``,
  so silent days (weekends, holidays) change nothing: only items count.
* **Shrinkage toward the person's own history.** The long-run rate (every item, equal weight)
  is shrunk toward the community with a gamma-Poisson prior fitted by the method of moments
  (prior variance = variance of the rates minus ``m · mean(1/E)``); the recent, item-weighted
  rate is then shrunk toward that long-run rate with ``eb_own_prior_items`` items of weight.
* **Replies from dense cliques discounted.** A replier ``r`` of account ``a`` weighs
  ``d_r · (1 - x_ra) ** eb_clique_power``: with ``o_ra`` the share of ``r``'s replies that go
  to ``a`` or to ``a``'s circle (everyone ``a`` replied to or heard from) and ``c_a`` the share
  a replier choosing at random would send there (``a``'s partners over all accounts),
  ``x_ra = o_ra - c_a`` (clipped to 0..1) is how much more ``r`` stays inside ``a``'s circle
  than chance: members of a ring who mostly answer each other weigh little,
  while a central account's many repliers are not punished for its centrality; ``d_r = q / (q + 1)`` with ``q`` the number of
  accounts other than ``a`` that ``r`` talks with, so an account that only ever answers ``a``
  (a sockpuppet) weighs nothing.
* **A published band.** ``band`` (1 = lowest quintile .. ``eb_n_bands``) uses the band edges
  of the scores ``eb_band_refresh_days`` earlier; it stays the earlier ``band_previous`` while
  the score's 95 % interval still overlaps that band, and moves only when the interval leaves
  it (one step of hysteresis: the earlier band is itself read without hysteresis).

``score`` = posterior mean of weighted distinct repliers per item = ``c_own`` (the account's own
evidence, ``B · recent rate``) + ``c_prior`` (what is borrowed from its long-run rate, itself
shrunk to the community). ``score_se`` is the gamma posterior standard deviation. Only posts
before ``as_of`` are read; reactions and export-time totals are not read at all.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np
import polars as pl
from pydantic import Field

from analysis import schema
from analysis.config import Frozen
from analysis.models import common
from analysis.models.base import Model, Tables
from analysis.models.params import ModelParams, model_params, own_params

NAME = "conversation_eb"
TITLE = "Independent conversation per contribution (clique-discounted, shrunk to own history)"
UNIT = "weighted distinct repliers per thread contributed to"
OBS = "threads it contributed to"
COMPONENTS = {
    "c_own": "the account's own recent evidence (its shrinkage weight times its recent rate)",
    "c_prior": "what is borrowed from its long-run rate (itself shrunk to the community)",
}


class Params(Frozen):
    """``models.scored.conversation_eb``."""

    #: Memory in the account's own items: an item ``half_life_items`` items old counts half.
    half_life_items: float = Field(30.0, gt=0)
    #: Prior weight of the account's long-run rate, in items.
    own_prior_items: float = Field(10.0, gt=0)
    #: Exponent of the clique discount.
    clique_power: float = Field(2.0, ge=0)
    #: A replier found in n of the account's threads counts n ** -power in each (0: every
    #: thread fully; 0.5: n threads count sqrt(n) in all).
    repeat_power: float = Field(0.5, ge=0)
    #: Read each item's outcome against the community's mean for its weekday.
    weekday_adjust: bool = True
    #: Published bands (quintiles), edges from the scores this many days earlier.
    n_bands: int = Field(5, ge=1)
    band_refresh_days: float = Field(7.0, gt=0)


EXTRA = ("recent_rate", "long_run_rate", "n_items", "band", "band_previous")


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
    accounts = _account_codes(credit["src"], credit["dst"])
    weights = _coded_weights(_code_edges(credit, accounts), accounts, clique_power)
    return (
        weights.join(accounts.rename({"a": "s", "account_id": "src"}), on="s")
        .join(accounts.rename({"a": "d", "account_id": "dst"}), on="d")
        .select("src", "dst", "weight")
    )


def _account_codes(*columns: pl.Series) -> pl.DataFrame:
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


def _placeholder_code(accounts: pl.DataFrame) -> int:
    """The code of the non-participant placeholder in ``accounts``; -1 (no code) without it."""
    found = accounts.filter(pl.col("account_id") == schema.NONPARTICIPANT_ID)["a"]
    return int(found[0]) if found.len() else -1


def _code_edges(edges: pl.DataFrame, accounts: pl.DataFrame) -> pl.DataFrame:
    """``edges`` with the codes of ``src`` (``s``) and ``dst`` (``d``) from ``accounts``."""
    return edges.join(accounts.rename({"account_id": "src", "a": "s"}), on="src").join(
        accounts.rename({"account_id": "dst", "a": "d"}), on="dst"
    )


def _coded_weights(
    credit: pl.DataFrame, accounts: pl.DataFrame, clique_power: float
) -> pl.DataFrame:
    """:func:`replier_weights` on coded credit edges (``s``, ``d``): ``s, d, weight``.

    ``accounts``: the codes (:func:`_account_codes`); the non-participant placeholder, when it
    has one, is no partner of anyone."""
    return _coded_weights_at(credit, accounts, clique_power, [None])[0]


def _coded_weights_at(
    credit: pl.DataFrame,
    accounts: pl.DataFrame,
    clique_power: float,
    cuts: Sequence[datetime | None],
) -> list[pl.DataFrame]:
    """:func:`_coded_weights` of the credit edges dated before each of ``cuts`` (``None``:
    all of them), from one listing of the partner graph's triangles.

    The score reads the weights now and at the band's earlier date; the earlier graph's
    triangles are those of the whole graph whose three pairs already existed, so one listing
    serves both (each date's sums are over whole reply counts: exactly what a listing of the
    earlier graph alone gives). ``credit`` needs ``created_at`` when a cut is a date.
    """
    nobody = _placeholder_code(accounts)
    counts = {
        f"n{i}": (pl.len() if cut is None else (pl.col("created_at") < cut).sum()).cast(pl.Float64)
        for i, cut in enumerate(cuts)
    }
    edges = (
        credit.filter((pl.col("s") != nobody) & (pl.col("d") != nobody))
        .group_by("s", "d")
        .agg(**counts)
    )
    if edges.height == 0:
        return [edges.select("s", "d", weight=pl.lit(0.0)) for _ in cuts]
    degrees = _degrees(edges)
    circles = _circle_counts(
        edges.select("s", "d"),
        degrees,
        accounts.height,
        [edges[name].to_numpy() for name in counts],
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
    :func:`_degrees`, when the caller has them."""
    if edges.height == 0:
        return edges.select("s", "d", weight=pl.lit(0.0))
    n_accounts = pl.concat([edges["s"], edges["d"]]).n_unique()
    n_partners = _degrees(edges) if degrees is None else degrees
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


def _degrees(coded: pl.DataFrame) -> pl.DataFrame:
    """``x, n_partners``: each account's partners (accounts with a reply either way)."""
    pairs = pl.concat([coded.select(x="s", y="d"), coded.select(x="d", y="s")]).unique()
    return pairs.group_by("x").agg(n_partners=pl.len())


def _circle_counts(
    pairs: pl.DataFrame, degrees: pl.DataFrame, n_ids: int, counts: Sequence[np.ndarray]
) -> list[np.ndarray]:
    """``n_circle`` for each count vector of ``counts``: what ``s`` sent into ``d``'s circle
    (``d`` and its partners), per edge of ``pairs`` (``s, d``, in its order).

    ``degrees``: :func:`_degrees` of ``pairs``. A count vector gives each edge's replies in
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
        pl.DataFrame(
            {
                "u": np.where(fwd, s, d),
                "v": np.where(fwd, d, s),
                "f": np.where(fwd, eid, -1),
                "b": np.where(fwd, -1, eid),
            }
        )
        .group_by("u", "v")
        .agg(pl.col("f").max(), pl.col("b").max())
    )
    outs = [n.copy() for n in counts]
    # per graph: whether a directed edge id (-1: none) is one of its edges; None for a graph
    # that holds every edge (the whole graph): there an id is an edge unless it is -1, and
    # the three pairs of every listed triangle are partner pairs
    present = [None if bool((n > 0).all()) else np.append(n > 0, False) for n in counts]
    # per graph, the (edge, replies) terms not yet added: one bincount for many slices and all
    # six roles (a bincount per role and slice zeroed a whole edge-sized array each time)
    pending: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in counts]
    held = [0 for _ in counts]
    for tri in _triangles(up):
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


#: Each corner s of a triangle u < v < w with its other two corners d < t, as the columns of
#: the directed edges s -> d, s -> t, d -> t and t -> d that :func:`_triangles` carries
#: (``e_uv`` is u -> v): the six role assignments (s, d, t), two per corner.
_CORNERS = [
    tuple(f"e_{'uvw'[x]}{'uvw'[y]}" for x, y in ((i, j), (i, k), (j, k), (k, j)))
    for i, j, k in ((0, 1, 2), (1, 0, 2), (2, 0, 1))
]


#: Most wedges held at once when listing triangles (a lower corner's pairs of higher partners,
#: counted as its partners squared): the wedges grow with the sum of squared degrees; in slices
#: the working set stays this size whatever the graph (~100-200 MiB: the index arrays and the
#: slice's triangles), and the triangles are the same.
WEDGE_ROWS = 1 << 22


def _triangles(up: pl.DataFrame) -> Iterator[dict[str, np.ndarray]]:
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
    up = up.sort("u", "v")
    u, v = up["u"].to_numpy().astype(np.int64), up["v"].to_numpy().astype(np.int64)
    f, b = up["f"].to_numpy(), up["b"].to_numpy()
    n = int(v.max()) + 1
    key = u * n + v  # ascending, since sorted by (u, v) and v < n
    _, first, k = np.unique(u, return_index=True, return_counts=True)
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


@dataclass(frozen=True)
class Coded:
    """The scoped posts as :func:`item_outcomes` reads them, on integer codes.

    ``own``: ``post_id, a, t, created_at``, the accounts' own posts (no reposts, no
    placeholder) with the account ``a`` and the thread ``t`` as codes; ``credit``:
    ``target_post_id, s, d, created_at``, the credit edges (``common.reply_edges``: who credits
    whom, at the responding item's time) with ``s`` and ``d`` as codes; ``accounts``: the codes
    (:func:`_account_codes`). The groups and joins then hash integers, not the pseudonyms' and
    post ids' text.
    """

    own: pl.DataFrame
    credit: pl.DataFrame
    accounts: pl.DataFrame

    @classmethod
    def of(cls, posts: pl.DataFrame) -> Coded:
        """Code the scoped posts ``posts`` (``common.scoped_posts``)."""
        placeholder = schema.NONPARTICIPANT_ID
        # Only the columns read below (a filter copies every column, texts included), and the
        # credit edges built once for the weights and the items.
        own = posts.select("post_id", "account_id", "kind", "root_post_id", "created_at").filter(
            (pl.col("kind") != "repost") & (pl.col("account_id") != placeholder)
        )
        own = own.with_columns(thread_id=pl.coalesce("root_post_id", "post_id"))
        credit = common.reply_edges(posts).select("target_post_id", "src", "dst", "created_at")
        accounts = _account_codes(own["account_id"], credit["src"], credit["dst"])
        threads = (
            own["thread_id"]
            .unique()
            .to_frame()
            .with_row_index("t")
            .with_columns(pl.col("t").cast(pl.Int64))
        )
        own = (
            own.join(accounts, on="account_id")
            .join(threads, on="thread_id")
            .select("post_id", "a", "t", "created_at")
        )
        credit = _code_edges(credit, accounts).select("target_post_id", "s", "d", "created_at")
        return cls(own=own, credit=credit, accounts=accounts)

    def before(self, at: datetime) -> Coded:
        """What the posts strictly before ``at`` give: the same rows as coding those posts
        (every row is a function of its own post, and an edge is dated by the responding item),
        on the same codes, which nothing computed from them depends on. The band's earlier
        scores read this, not a second scoping and coding (0.5 s at 1M posts)."""
        early = pl.col("created_at") < at
        return Coded(self.own.filter(early), self.credit.filter(early), self.accounts)


def item_outcomes(
    posts: pl.DataFrame | Coded,
    clique_power: float,
    repeat_power: float = 0.0,
    weights: pl.DataFrame | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One row per (account, thread) item: ``a, t, first_at, y`` (weighted distinct repliers to
    the account's posts in that thread), and the accounts' codes (``account_id, a``).

    ``posts``: the scoped posts, or them already coded (:class:`Coded`). A replier found in
    ``n`` of the account's threads counts ``n ** -repeat_power`` in each (a few loyal repliers
    are not a community). ``weights``: the replier weights of these coded posts
    (:func:`_coded_weights_at`) when the caller has them."""
    coded = posts if isinstance(posts, Coded) else Coded.of(posts)
    own, credit, accounts = coded.own, coded.credit, coded.accounts
    items = own.group_by("a", "t").agg(first_at=pl.col("created_at").min())
    if weights is None:
        weights = _coded_weights(credit, accounts, clique_power)
    nobody = _placeholder_code(accounts)  # never counts as a replier
    # Credit each item drew, by the platform's meaning (``analysis.semantics``): replies to it;
    # for a Stack Exchange answer, the asker's credit and the comments on it.
    direct = (
        credit.select(pl.col("target_post_id").alias("post_id"), "s")
        .join(own.select("post_id", pl.col("a").alias("d"), "t"), on="post_id")
        .filter((pl.col("s") != pl.col("d")) & (pl.col("s") != nobody))
        .unique(["d", "t", "s"])
        .join(weights, on=["s", "d"], how="left")
        .with_columns(n_threads=pl.len().over("s", "d").cast(pl.Float64))
        .group_by("d", "t")
        .agg(
            y=common.ordered_sum(
                pl.col("weight").fill_null(0.0) * pl.col("n_threads").pow(-repeat_power)
            ).round(12)
        )
        .rename({"d": "a"})
    )
    items = items.join(direct, on=["a", "t"], how="left").with_columns(pl.col("y").fill_null(0.0))
    return items, accounts


def rates(
    tables: Tables,
    p: ModelParams,
    as_of: datetime,
    coded: Coded | None = None,
    weights: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Per account with an item before ``as_of``: ``score`` (posterior mean), ``score_se``,
    ``c_own``, ``c_prior``, ``recent_rate``, ``long_run_rate``, ``n_items``, ``n_obs``.

    ``coded``: the posts before ``as_of`` already coded (:meth:`Coded.before` of a later
    date's); else the posts of ``tables`` are scoped and coded here. ``weights``: their
    replier weights, when computed with another date's (:func:`_coded_weights_at`)."""
    own = own_params(p, NAME, Params)
    if coded is None:
        coded = Coded.of(common.scoped_posts(tables.posts, as_of, p.half_life_days, None))
    items, accounts = item_outcomes(coded, own.clique_power, own.repeat_power, weights)
    if items.height == 0:
        return pl.DataFrame(
            schema={
                "account_id": pl.String,
                **{c: pl.Float64 for c in ("score", "score_se", *COMPONENTS)},
                "recent_rate": pl.Float64,
                "long_run_rate": pl.Float64,
                "n_items": pl.Int64,
                "n_obs": pl.Int64,
            }
        )
    if own.weekday_adjust:
        # The audience is smaller on some days (weekends): an item's outcome is read against
        # the community's mean outcome for items started on the same weekday (UTC), so a
        # weekend item that draws less because fewer people are around is not a worse item.
        dow = pl.col("first_at").dt.weekday()
        mean_dow = common.ordered_mean(pl.col("y")).over(dow)
        items = items.with_columns(
            y=pl.when(mean_dow > 0)
            .then(pl.col("y") * common.ordered_mean(pl.col("y")) / mean_dow)
            .otherwise(pl.col("y"))
            .round(12)
        )
    # Items started at the same instant share their age in items (a tie broken by thread id
    # would depend on the pseudonyms, which change with the secret key), so the rows' order
    # is never read: the ranks are within each account and the sums are ordered.
    items = items.with_columns(
        j=(pl.col("first_at").rank("min", descending=True).over("a") - 1).cast(pl.Float64),
    ).with_columns(v=pl.lit(0.5).pow(pl.col("j") / own.half_life_items))
    # Sums in a fixed order (``common.ordered_sum``: a group-by hands rows over in an order
    # that varies with the thread count), rounded to 1e-12 as before.
    per = items.group_by("a").agg(
        e_all=pl.len().cast(pl.Float64),
        y_all=common.ordered_sum(pl.col("y")).round(12),
        e=common.ordered_sum(pl.col("v")).round(12),
        y=common.ordered_sum(pl.col("v") * pl.col("y")).round(12),
        n_items=pl.len().cast(pl.Int64),
    )
    per = per.join(accounts, on="a").drop("a")
    m, k = common.gamma_poisson(pl.col("y_all"), pl.col("e_all"), per)
    k_own = own.own_prior_items
    long_run = (pl.col("y_all") + k * m) / (pl.col("e_all") + k)
    return (
        per.with_columns(long_run_rate=long_run)
        .with_columns(
            recent_rate=pl.col("y") / pl.col("e"),
            b=pl.col("e") / (pl.col("e") + k_own),
            score=(pl.col("y") + k_own * pl.col("long_run_rate")) / (pl.col("e") + k_own),
            score_se=(pl.col("y") + k_own * pl.col("long_run_rate")).sqrt() / (pl.col("e") + k_own),
            n_obs=pl.col("n_items"),
        )
        .with_columns(
            c_own=pl.col("b") * pl.col("recent_rate"),
            c_prior=(1 - pl.col("b")) * pl.col("long_run_rate"),
        )
    )


def _quantile(scores: pl.Series, q: float) -> float:
    """Linear quantile of a non-empty score column."""
    value = scores.quantile(q, "linear")
    if value is None:
        raise ValueError("conversation_eb: band edges of an empty score column")
    return float(value)


def bands(score: pl.Series, edges: list[float]) -> pl.Series:
    """Band 1..len(edges)+1 of each score given the inner band edges (ascending; a score on an
    edge belongs to the band above)."""
    idx = np.searchsorted(np.asarray(edges, dtype=float), score.to_numpy(), side="right") + 1
    return pl.Series(score.name, idx, dtype=pl.Int64)


def score(tables: Tables, params: ModelParams, as_of: datetime) -> pl.DataFrame:
    """Score every participant by the independent conversation a typical item draws."""
    p = model_params(params)
    own = own_params(p, NAME, Params)
    coded = Coded.of(common.scoped_posts(tables.posts, as_of, p.half_life_days, None))
    earlier = as_of - timedelta(days=own.band_refresh_days)
    # the replier weights of both dates from one listing of the triangles
    w_now, w_before = _coded_weights_at(
        coded.credit, coded.accounts, own.clique_power, [None, earlier]
    )
    now = rates(tables, p, as_of, coded, w_now)
    before = rates(tables, p, earlier, coded.before(earlier), w_before)
    n_bands = own.n_bands
    if before.height >= n_bands:
        qs = [i / n_bands for i in range(1, n_bands)]
        edges = [_quantile(before["score"], q) for q in qs]
    elif now.height >= n_bands:
        edges = [_quantile(now["score"], i / n_bands) for i in range(1, n_bands)]
    else:
        edges = []
    lows = [float("-inf"), *edges]
    highs = [*edges, float("inf")]
    prev = before.select(
        "account_id", band_previous=bands(before["score"], edges) if edges else pl.lit(1)
    )
    now = now.with_columns(band_now=bands(now["score"], edges) if edges else pl.lit(1)).join(
        prev, on="account_id", how="left"
    )
    lo_of = pl.col("band_previous").replace_strict(
        list(range(1, len(lows) + 1)), lows, default=None, return_dtype=pl.Float64
    )
    hi_of = pl.col("band_previous").replace_strict(
        list(range(1, len(highs) + 1)), highs, default=None, return_dtype=pl.Float64
    )
    z = 1.96 * pl.col("score_se").fill_null(0.0)
    overlaps = (pl.col("score") + z >= lo_of) & (pl.col("score") - z <= hi_of)
    now = now.with_columns(
        band=pl.when(pl.col("band_previous").is_not_null() & overlaps)
        .then(pl.col("band_previous"))
        .otherwise(pl.col("band_now"))
        .cast(pl.Int64),
        band_previous=pl.col("band_previous").cast(pl.Int64),
    )
    per = now.select("account_id", "score", "score_se", "n_obs", *COMPONENTS, *EXTRA)
    return common.finish(per, tables, NAME, as_of, None, None, [], extra=EXTRA)


if TYPE_CHECKING:  # a type checker verifies this module against the model protocol
    from analysis.models import conversation_eb as _self

    _protocol_check: Model = _self
