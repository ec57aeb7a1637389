"""Stage ``compare``: how alike two rankings are (pure functions, no I/O).

The statistics of one pair of score vectors over the same accounts, for
:func:`analysis.compare.agreement`: Spearman's rho (:func:`spearman`), Kendall's tau-b
(:func:`kendall_tau_b`), Jaccard overlap of the top-k lists (:func:`jaccard_top_k`) and
rank-biased overlap (:func:`rbo`; Webber, Moffat & Zobel 2010, extrapolated form, eq. 32, which
neither scipy nor scikit-learn implements). :class:`PairOrders` sorts a pair once, so that every
bootstrap draw reads its orders in O(n) (:func:`resampled_statistics`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

try:  # the merge-sort count of discordant pairs behind scipy.stats.kendalltau
    from scipy.stats._stats import _kendall_dis
except ImportError:  # pragma: no cover - another scipy layout: kendall_tau_b calls kendalltau
    _kendall_dis = None


def rbo(list_a: list[Any] | np.ndarray, list_b: list[Any] | np.ndarray, p: float = 0.9) -> float:
    """Extrapolated rank-biased overlap of two rankings (Webber et al. 2010, eq. 32).

    Lists are best first and without duplicates; they may differ in length and in elements.
    Identical lists give 1, disjoint lists 0; ``p`` is the persistence (top-weightedness: the
    top ``1/(1-p)`` ranks carry most of the weight).

    Raises:
        ValueError: when ``p`` is outside (0, 1) or a list holds duplicates.
    """
    if not 0 < p < 1:
        raise ValueError(f"rbo: p must be in (0, 1), got {p}")
    a, b = list(list_a), list(list_b)
    if len(set(a)) != len(a) or len(set(b)) != len(b):
        raise ValueError("rbo: a ranking holds the same item twice")
    if not a or not b:
        return 0.0 if (a or b) else 1.0
    long, short = (a, b) if len(a) >= len(b) else (b, a)
    rank_l = {x: i + 1 for i, x in enumerate(long)}
    rank_s = {x: i + 1 for i, x in enumerate(short)}
    return _rbo_from_ranks(rank_l, rank_s, len(long), len(short), p)


def _rbo_from_ranks(rank_l: dict, rank_s: dict, n_l: int, n_s: int, p: float) -> float:
    # X_d (overlap at depth d) = number of shared items whose deeper rank is <= d; for d > s
    # the short list is exhausted and its whole content counts (eq. 32's "seen" items).
    depths = [max(rank_l[x], rank_s[x]) for x in rank_s if x in rank_l]
    return _rbo_ext(np.asarray(depths, dtype=np.int64), n_l, n_s, p)


@functools.lru_cache(maxsize=8)
def _depth_weights(n: int, p: float) -> tuple[np.ndarray, np.ndarray]:
    """Depths ``1..n`` and ``p**depth`` (read-only): the same for every bootstrap draw of a
    pair, where computing the powers was four fifths of each RBO (49k accounts: 2.4 of 3 ms)."""
    d = np.arange(1, n + 1, dtype=float)
    pd_ = p**d
    d.flags.writeable = pd_.flags.writeable = False
    return d, pd_


def _rbo_ext(shared_depth: np.ndarray, n_l: int, n_s: int, p: float) -> float:
    """RBO_ext from the depth at which each shared item is first in both lists."""
    return _rbo_ext_counts(np.bincount(shared_depth, minlength=n_l + 1), n_l, n_s, p)


def _rbo_ext_counts(per_depth: np.ndarray, n_l: int, n_s: int, p: float) -> float:
    """RBO_ext from the number of shared items first in both lists at each depth
    (``per_depth[d]``, depths ``1..n_l``; index 0 unused)."""
    x = np.cumsum(per_depth[1 : n_l + 1]).astype(float)
    d, pd_ = _depth_weights(n_l, p)
    x_s, x_l = x[n_s - 1], x[n_l - 1]
    total = np.sum(x / d * pd_)
    tail = d[n_s:]
    total += np.sum(x_s * (tail - n_s) / (n_s * tail) * pd_[n_s:])
    return float((1 - p) / p * total + ((x_l - x_s) / n_l + x_s / n_s) * p**n_l)


def jaccard_top_k(list_a: list[Any] | np.ndarray, list_b: list[Any] | np.ndarray, k: int) -> float:
    """Jaccard overlap |A ∩ B| / |A ∪ B| of the first ``k`` items of two rankings."""
    if k < 1:
        raise ValueError(f"jaccard_top_k: k must be >= 1, got {k}")
    a, b = set(list(list_a)[:k]), set(list(list_b)[:k])
    union = a | b
    return len(a & b) / len(union) if union else 1.0


def _order(score: np.ndarray, tiebreak: np.ndarray) -> np.ndarray:
    """Indices best first: higher score first, ties broken by ``tiebreak`` (same in both lists)."""
    return np.lexsort((tiebreak, -score))


def _changes(xs: np.ndarray) -> np.ndarray:
    """``True`` where a sorted array starts a new value (the first element always); what
    ``np.r_[True, xs[1:] != xs[:-1]]`` gives, without its indexing overhead."""
    return np.concatenate(([True], xs[1:] != xs[:-1]))


def average_ranks(x: np.ndarray, order: np.ndarray | None = None) -> np.ndarray:
    """1-based ranks of ``x``, ties sharing their average rank (``scipy.stats.rankdata``'s
    default, equal bit for bit: every rank is a whole or half number). ``order``: the stable
    ascending order of ``x`` when already known (:class:`PairOrders`)."""
    if order is None:
        order = np.argsort(x, kind="mergesort")
    xs = x[order]
    starts = np.flatnonzero(_changes(xs))
    counts = np.diff(np.append(starts, x.size))
    ranks = np.empty(x.size, dtype=np.float64)
    ranks[order] = np.repeat(starts + (counts + 1) / 2.0, counts)
    return ranks


def spearman(
    a: np.ndarray,
    b: np.ndarray,
    order_a: np.ndarray | None = None,
    order_b: np.ndarray | None = None,
) -> float:
    """Spearman's rho as ``scipy.stats.spearmanr(a, b).statistic`` computes it (the Pearson
    correlation of the average ranks, through ``np.corrcoef`` of the same stacked columns), bit
    for bit, without its per-call overhead (a quarter of the compare stage at 30k posts: it
    runs for every pair of models and bootstrap draw). NaN when an input holds a NaN or is
    constant. ``order_a``/``order_b``: the stable ascending orders, when already known."""
    if a.size < 2 or np.isnan(a).any() or np.isnan(b).any() or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    ranked = np.column_stack((average_ranks(a, order_a), average_ranks(b, order_b)))
    return float(np.corrcoef(ranked, rowvar=False)[1, 0])


def kendall_tau_b(
    x: np.ndarray,
    y: np.ndarray,
    order_xy: np.ndarray | None = None,
    order_y: np.ndarray | None = None,
) -> float:
    """Kendall's tau-b as ``scipy.stats.kendalltau(x, y, variant="b").statistic`` computes it
    (its own steps: dense ranks, discordant pairs by scipy's merge sort, tie counts), bit for
    bit, without the p-value and the per-call overhead. NaN when an input holds a NaN or every
    pair is tied.

    ``order_xy`` (ascending ``x``, ties by ascending ``y``) and ``order_y`` (ascending ``y``),
    when already known, replace scipy's two sorts: after them scipy holds the pairs
    ``(x, dense rank of y)`` sorted by ``x`` then ``y`` (its second sort is stable over the
    first), a sequence that any such order gives, whatever it does within ties.
    """
    if _kendall_dis is None:  # scipy moved its helper: the public function, slower
        return float(stats.kendalltau(x, y, variant="b").statistic)
    if x.size < 2 or np.isnan(x).any() or np.isnan(y).any():
        return float("nan")
    size = x.size
    if order_xy is None or order_y is None:
        perm = np.argsort(y)
        x, y = x[perm], y[perm]
        y = _changes(y).cumsum(dtype=np.intp)
        perm = np.argsort(x, kind="mergesort")
        x, y = x[perm], y[perm]
    else:
        ys = y[order_y]
        dense = np.empty(size, dtype=np.intp)
        dense[order_y] = _changes(ys).cumsum(dtype=np.intp)
        x, y = x[order_xy], dense[order_xy]
    x = _changes(x).cumsum(dtype=np.intp)
    dis = _kendall_dis(x, y)
    obs = np.concatenate(([True], (x[1:] != x[:-1]) | (y[1:] != y[:-1]), [True]))
    cnt = np.diff(np.nonzero(obs)[0]).astype("int64", copy=False)
    ntie = int((cnt * (cnt - 1) // 2).sum())

    def ties(ranks: np.ndarray) -> int:
        c = np.bincount(ranks).astype("int64", copy=False)
        c = c[c > 1]
        return int((c * (c - 1) // 2).sum())

    xtie, ytie = ties(x), ties(y)
    tot = (size * (size - 1)) // 2
    if xtie == tot or ytie == tot:
        return float("nan")
    con_minus_dis = tot - xtie - ytie + ntie - 2 * dis
    tau = con_minus_dis / np.sqrt(tot - xtie) / np.sqrt(tot - ytie)
    return float(np.minimum(1.0, max(-1.0, tau)))


def pair_statistics(
    a: np.ndarray, b: np.ndarray, tiebreak: np.ndarray, top_k: tuple[int, ...], p: float
) -> dict[str, float]:
    """Spearman, Kendall tau-b, Jaccard top-k and RBO of two score vectors over the same items."""
    n = a.size
    out: dict[str, float] = {}
    if n < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        out["spearman"] = out["kendall_tau_b"] = float("nan")
    else:
        out["spearman"] = spearman(a, b)
        out["kendall_tau_b"] = kendall_tau_b(a, b)
    return _overlaps(out, _order(a, tiebreak), _order(b, tiebreak), top_k, p)


def _overlaps(
    out: dict[str, float], oa: np.ndarray, ob: np.ndarray, top_k: tuple[int, ...], p: float
) -> dict[str, float]:
    """Jaccard top-k and RBO of the two best-first orders, added to ``out``."""
    n = oa.size
    for k in top_k:
        kk = min(k, n)
        inter = np.intersect1d(oa[:kk], ob[:kk]).size
        out[f"jaccard_top{k}"] = inter / (2 * kk - inter) if kk else float("nan")
    # Same items in both lists: shared depth = the deeper of the two ranks.
    rank_a, rank_b = np.empty(n, np.int64), np.empty(n, np.int64)
    rank_a[oa], rank_b[ob] = np.arange(1, n + 1), np.arange(1, n + 1)
    out["rbo"] = _rbo_ext(np.maximum(rank_a, rank_b), n, n, p) if n else float("nan")
    return out


@dataclass(frozen=True)
class PairOrders:
    """The sort orders of two score vectors that :func:`pair_statistics` needs, computed once
    per pair of models: a bootstrap draw reads its own from them (:func:`resampled_statistics`)
    instead of sorting again (four sorts per draw, 200 draws x 36 pairs)."""

    a: np.ndarray
    b: np.ndarray
    #: stable ascending orders of ``a`` and ``b`` (average ranks)
    up_a: np.ndarray
    up_b: np.ndarray
    #: ascending ``a``, ties by ascending ``b`` (Kendall's tau-b)
    up_ab: np.ndarray
    #: best first (descending score), ties by position (:func:`_order`)
    best_a: np.ndarray
    best_b: np.ndarray

    @classmethod
    def of(cls, a: np.ndarray, b: np.ndarray) -> PairOrders:
        """The orders of ``a`` and ``b`` (same length)."""
        pos = np.arange(a.size)
        return cls(
            a,
            b,
            np.argsort(a, kind="mergesort"),
            np.argsort(b, kind="mergesort"),
            np.lexsort((b, a)),
            _order(a, pos),
            _order(b, pos),
        )


def _expand(order: np.ndarray, counts: np.ndarray, first: np.ndarray) -> np.ndarray:
    """The same order over a sorted resample: each original index in ``order`` is replaced by
    the positions of its ``counts`` copies (consecutive, from ``first``).

    Over a resample ``idx`` sorted ascending, a position ``j`` follows ``j'`` exactly when
    ``(idx[j], j)`` follows ``(idx[j'], j')``; so an order of the originals with ties by index
    (stable sorts, ``lexsort``) becomes the resample's order with ties by position, which is
    what the same sort of ``x[idx]`` returns.
    """
    c = counts[order]
    ends = np.cumsum(c)
    return np.repeat(first[order] - (ends - c), c) + np.arange(ends[-1] if ends.size else 0)


def resampled_statistics(
    o: PairOrders,
    idx: np.ndarray,
    top_k: tuple[int, ...],
    p: float,
    counts: np.ndarray | None = None,
) -> dict[str, float]:
    """``pair_statistics(o.a[idx], o.b[idx], np.arange(idx.size), top_k, p)`` bit for bit, for
    a resample ``idx`` sorted ascending, with the sorts read from ``o`` in O(n). ``counts``:
    the copies of each index in ``idx`` (``np.bincount(idx, minlength=o.a.size)``), when known."""
    a, b = o.a[idx], o.b[idx]
    if counts is None:
        counts = np.bincount(idx, minlength=o.a.size)
    first = np.cumsum(counts) - counts

    def ex(order: np.ndarray) -> np.ndarray:
        return _expand(order, counts, first)

    out: dict[str, float] = {}
    if idx.size < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        out["spearman"] = out["kendall_tau_b"] = float("nan")
    else:
        up_b = ex(o.up_b)
        out["spearman"] = spearman(a, b, ex(o.up_a), up_b)
        out["kendall_tau_b"] = kendall_tau_b(a, b, ex(o.up_ab), up_b)
    return _resampled_overlaps(out, o, counts, top_k, p)


def _start(order: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Per original index: the 0-based rank of its first copy in ``order`` expanded over the
    resample (:func:`_expand`), i.e. the copies of the indices ahead of it."""
    c = counts[order]
    start = np.empty(order.size, dtype=np.int64)
    start[order] = np.cumsum(c) - c
    return start


def _resampled_overlaps(
    out: dict[str, float], o: PairOrders, counts: np.ndarray, top_k: tuple[int, ...], p: float
) -> dict[str, float]:
    """:func:`_overlaps` of the best-first orders expanded over the resample, counted on the
    original indices, in integers (the same numbers, without building the two orders).

    The ``c`` copies of an index stand at ranks ``s_a .. s_a + c - 1`` in one order and
    ``s_b .. s_b + c - 1`` in the other, in the same (position) order in both; copy ``r``'s
    shared depth (1-based) is ``max(s_a, s_b) + 1 + r``, and it is in both top-k lists when
    ``max(s_a, s_b) + r < k``.
    """
    n = int(counts.sum())
    drawn = counts > 0
    c = counts[drawn]
    deeper = np.maximum(_start(o.best_a, counts), _start(o.best_b, counts))[drawn]
    for k in top_k:
        kk = min(k, n)
        inter = int(np.clip(kk - deeper, 0, c).sum())
        out[f"jaccard_top{k}"] = inter / (2 * kk - inter) if kk else float("nan")
    if not n:
        out["rbo"] = float("nan")
        return out
    # copies at depths deeper + 1 .. deeper + c: +1 where each run starts, -1 after it ends
    edges = np.bincount(deeper + 1, minlength=n + 2) - np.bincount(deeper + c + 1, minlength=n + 2)
    out["rbo"] = _rbo_ext_counts(np.cumsum(edges), n, n, p)
    return out
