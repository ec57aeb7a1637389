"""Stage ``compare``: where the influence models agree, where reach and conversation diverge,
and which score Resonance recommends for which question (pure functions, no I/O).

Reads (through ``analysis.stages.compare``) every ``data/processed/scores/<model>.parquet``,
the validity results ``data/processed/validity.json`` and, on the demo, the planted roles; the
counterfactual re-scoring (weekend off, two weeks off, extra posts, reaction ring) lives in
``analysis.counterfactual``. Outputs: ``data/processed/divergence.parquet`` and
``data/processed/compare.json`` (:class:`analysis.contracts.CompareResult`, written by the
stage). Numbers and structure only: the report's templates say them in words.

* **Agreement** (like Cha et al., ICWSM 2010, Table 2): for every pair of models, on the
  accounts both scored: Spearman's rho, Kendall's tau-b, Jaccard overlap of the top-k lists
  (k capped at n) and rank-biased overlap (RBO; Webber, Moffat & Zobel 2010, extrapolated form,
  eq. 32). Neither scipy nor scikit-learn implements RBO, so :func:`rbo` does. Percentile
  bootstrap intervals resample accounts with replacement (``n_boot``, ``seed``).
* **Divergence**: every participant in a reach-by-conversation quadrant from percentile
  thresholds, and the OLS residual of conversation percentile on reach percentile as a
  continuous divergence score (positive: more conversation than its reach predicts).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import polars as pl
from pydantic import Field
from scipy import stats

try:  # the merge-sort count of discordant pairs behind scipy.stats.kendalltau
    from scipy.stats._stats import _kendall_dis
except ImportError:  # pragma: no cover - another scipy layout: kendall_tau_b calls kendalltau
    _kendall_dis = None

from analysis.config import Frozen

# The robustness tests own their params and gates; re-exported here for the rule below.
from analysis.counterfactual import (
    CounterfactualParams,
    GateParams,
    gate_results,
)

QUADRANTS = {
    (True, False): "loud but unheard",
    (False, True): "quiet connectors",
    (True, True): "loud and heard",
    (False, False): "quiet and unheard",
}
#: The planted-role rates reported on the demo: (role, quadrant).
ROLE_QUADRANTS = (
    ("gamer", "loud but unheard"),
    ("broadcaster", "loud but unheard"),
    ("expert", "quiet connectors"),
)


class Question(Frozen):
    """A question a score answers, tested on one outcome of the within-thread test."""

    #: ``conversation`` or ``approval`` (``models.within_thread``).
    outcome: Literal["conversation", "approval"]
    question: str


class CompareParams(Frozen):
    """``compare``: agreement, divergence, counterfactual tests and the recommendation."""

    #: Models compared; None: ``models.names``.
    models: tuple[str, ...] | None = None
    top_k: tuple[int, ...] = (10, 100)
    rbo_p: float = Field(0.9, gt=0, lt=1)
    n_boot: int = Field(200, ge=0)
    seed: int = 2010
    #: The two models of the divergence quadrants (x: how loud, y: how heard).
    reach_model: str = "reach"
    conversation_model: str = "conversation"
    #: Percentile at or above which an account counts as high on each axis.
    reach_high_pct: float = Field(50.0, ge=0, le=100)
    conversation_high_pct: float = Field(50.0, ge=0, le=100)
    counterfactual: CounterfactualParams = CounterfactualParams()
    gates: GateParams = GateParams()
    #: Questions, each validated by an outcome of the within-thread test (``validity.json``).
    questions: tuple[Question, ...] = (
        Question(outcome="conversation", question="whose contributions draw conversation"),
        Question(outcome="approval", question="whose contributions win approval"),
    )
    #: The question whose answer is ``recommended_model``.
    primary_outcome: Literal["conversation", "approval"] = "conversation"


# ---------------------------------------------------------------------------------------------
# Agreement


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


def _rbo_ext(shared_depth: np.ndarray, n_l: int, n_s: int, p: float) -> float:
    """RBO_ext from the depth at which each shared item is first in both lists."""
    x = np.cumsum(np.bincount(shared_depth, minlength=n_l + 1)[1 : n_l + 1]).astype(float)
    d = np.arange(1, n_l + 1, dtype=float)
    pd_ = p**d
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
    o: PairOrders, idx: np.ndarray, top_k: tuple[int, ...], p: float
) -> dict[str, float]:
    """``pair_statistics(o.a[idx], o.b[idx], np.arange(idx.size), top_k, p)`` bit for bit, for
    a resample ``idx`` sorted ascending, with the sorts read from ``o`` in O(n)."""
    a, b = o.a[idx], o.b[idx]
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
    return _overlaps(out, ex(o.best_a), ex(o.best_b), top_k, p)


def agreement(
    scores: dict[str, pl.DataFrame], params: CompareParams, order: pl.DataFrame | None = None
) -> pl.DataFrame:
    """Agreement of every pair of models, with bootstrap intervals (long form).

    Args:
        scores: model name -> score frame (``account_id``, ``score``).
        params: ``top_k``, ``rbo_p``, ``n_boot`` and ``seed``.
        order: ``account_id, order`` (``ordering.account_order``): the key-independent order in
            which accounts are bootstrapped and ties broken. None: by account id (tests only:
            pseudonyms change with the key, and so would the intervals).

    Returns:
        One row per (pair, statistic): ``model_a, model_b, pair, statistic, value, ci_low,
        ci_high, n_accounts`` (2.5 and 97.5 percentiles of the bootstrap; null without one).
    """
    rng = np.random.default_rng(params.seed)
    rows = []
    for name_a, name_b in itertools.combinations(scores, 2):
        joined = (
            scores[name_a]
            .select("account_id", pl.col("score").alias("a"))
            .join(scores[name_b].select("account_id", pl.col("score").alias("b")), on="account_id")
            .drop_nulls()
        )
        joined = (
            joined.sort("account_id")
            if order is None
            else joined.join(order, on="account_id", how="left").sort(
                "order", "account_id", nulls_last=True
            )
        )
        a, b = joined["a"].to_numpy(), joined["b"].to_numpy()
        ids = np.arange(joined.height)  # tie-break by the (key-independent) order above
        point = pair_statistics(a, b, ids, params.top_k, params.rbo_p)
        boots: dict[str, list[float]] = {k: [] for k in point}
        orders = PairOrders.of(a, b)  # sorted once; each draw reads its orders in O(n)
        for _ in range(params.n_boot if joined.height > 1 else 0):
            idx = np.sort(rng.integers(0, joined.height, joined.height))
            # copies of one account tie in both models; ordering them by position keeps the two
            # lists consistent, so a duplicated account never counts as a disagreement.
            for k, v in resampled_statistics(orders, idx, params.top_k, params.rbo_p).items():
                boots[k].append(v)
        for stat, value in point.items():
            sample = np.asarray(boots[stat], dtype=float)
            sample = sample[np.isfinite(sample)]
            lo, hi = np.percentile(sample, [2.5, 97.5]) if sample.size else (None, None)
            rows.append(
                dict(
                    model_a=name_a,
                    model_b=name_b,
                    pair=f"{name_a} vs {name_b}",
                    statistic=stat,
                    value=value,
                    ci_low=None if lo is None else float(lo),
                    ci_high=None if hi is None else float(hi),
                    n_accounts=joined.height,
                )
            )
    return pl.DataFrame(
        rows,
        schema={
            "model_a": pl.String,
            "model_b": pl.String,
            "pair": pl.String,
            "statistic": pl.String,
            "value": pl.Float64,
            "ci_low": pl.Float64,
            "ci_high": pl.Float64,
            "n_accounts": pl.Int64,
        },
    )


# ---------------------------------------------------------------------------------------------
# Divergence


def quadrant_expr(x: str, y: str, x_high: float, y_high: float) -> pl.Expr:
    """The quadrant name of each row: high means at or above the threshold percentile."""
    hx, hy = pl.col(x) >= x_high, pl.col(y) >= y_high
    expr = pl.when(hx & ~hy).then(pl.lit(QUADRANTS[(True, False)]))
    expr = expr.when(~hx & hy).then(pl.lit(QUADRANTS[(False, True)]))
    expr = expr.when(hx & hy).then(pl.lit(QUADRANTS[(True, True)]))
    return expr.otherwise(pl.lit(QUADRANTS[(False, False)]))


def divergence(
    reach: pl.DataFrame, conversation: pl.DataFrame, params: CompareParams
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Quadrants and the continuous divergence score of every account scored by both models.

    When the dump has no reach data (no follower counts and no views, as on Usenet) every
    reach score is equal and every percentile the same (50): nobody is placed in a quadrant
    (``quadrant`` and ``divergence`` null) and the fit says ``reach_missing``, rather than
    calling everyone "loud".

    Returns:
        The per-account frame (``account_id, reach_pct, conversation_pct, quadrant,
        divergence``) and the OLS fit (intercept, slope, R², n, reach_missing).
    """
    import statsmodels.api as sm

    # equal raw scores give equal percentiles: one distinct percentile = no reach spread at all
    shared = reach.join(conversation.select("account_id"), on="account_id")["score_pct"]
    reach_missing = shared.drop_nulls().n_unique() <= 1
    if reach_missing:
        df = (
            reach.select("account_id", pl.col("score_pct").alias("reach_pct"))
            .join(
                conversation.select("account_id", pl.col("score_pct").alias("conversation_pct")),
                on="account_id",
            )
            .sort("account_id")
            .with_columns(quadrant=pl.lit(None, pl.String), divergence=pl.lit(None, pl.Float64))
        )
        fit = {"n": df.height, "intercept": None, "slope": None, "r2": None}
        return df, {**fit, "reach_missing": True}
    df = (
        reach.select("account_id", pl.col("score_pct").alias("reach_pct"))
        .join(
            conversation.select("account_id", pl.col("score_pct").alias("conversation_pct")),
            on="account_id",
        )
        .drop_nulls()
        .sort("account_id")
        .with_columns(
            quadrant=quadrant_expr(
                "reach_pct", "conversation_pct", params.reach_high_pct, params.conversation_high_pct
            )
        )
    )
    fit: dict[str, Any] = {
        "n": df.height,
        "intercept": None,
        "slope": None,
        "r2": None,
        "reach_missing": False,
    }
    x = df["reach_pct"].to_numpy()
    if df.height >= 3 and np.ptp(x) > 1e-9:
        # has_constant="add": statsmodels would otherwise skip the constant when reach is
        # nearly constant (one-platform dumps without any audience field)
        res = sm.OLS(
            df["conversation_pct"].to_numpy(), sm.add_constant(x, has_constant="add")
        ).fit()
        resid = res.resid
        fit.update(
            intercept=float(res.params[0]), slope=float(res.params[1]), r2=float(res.rsquared)
        )
    else:  # no spread in reach: the residual is the deviation from the mean
        resid = (df["conversation_pct"] - df["conversation_pct"].mean()).to_numpy()
    df = df.with_columns(divergence=pl.Series(resid, dtype=pl.Float64))
    return df.select("account_id", "reach_pct", "conversation_pct", "quadrant", "divergence"), fit


def quadrant_counts(div: pl.DataFrame) -> dict[str, dict[str, float]]:
    """Count and share of placed accounts per quadrant (every quadrant listed, empty ones as 0).

    Accounts without a quadrant (no reach data) are not counted: with nobody placed, every
    count is 0 and every share null.
    """
    placed = div.filter(pl.col("quadrant").is_not_null())
    n = placed.height
    counts = dict(placed.group_by("quadrant").len().iter_rows())
    return {
        q: {"n": int(counts.get(q, 0)), "share": (counts.get(q, 0) / n) if n else None}
        for q in QUADRANTS.values()
    }


def role_rates(div: pl.DataFrame, truth: pl.DataFrame, min_cell_k: int) -> dict[str, Any]:
    """Rates at which planted roles land in their expected quadrant (aggregates only).

    A role with fewer than ``min_cell_k`` scored accounts gets a null rate (suppressed cell).
    """
    joined = div.join(truth.select("account_id", "role"), on="account_id")
    out: dict[str, Any] = {}
    for role, quadrant in ROLE_QUADRANTS:
        group = joined.filter(pl.col("role") == role)
        n = group.height
        hits = group.filter(pl.col("quadrant") == quadrant).height
        out[f"{role}_in_{quadrant.replace(' ', '_')}"] = {
            "n_role": n if n >= min_cell_k else None,
            "rate": hits / n if n >= min_cell_k else None,
            "suppressed": n < min_cell_k,
        }
    return out


# ---------------------------------------------------------------------------------------------
# Recommendation


def _above_zero(r: dict[str, Any] | None) -> bool:
    return bool(r) and r.get("ci_low") is not None and r["ci_low"] > 0


def _reason(code: str, r: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """One reason a candidate fails the rule: a code (the report's templates say it in words)
    and its numbers (an estimate with its interval, where there is one)."""
    out: dict[str, Any] = {"reason": code, **extra}
    if r is not None:
        out.update(
            value=r.get("coef", r.get("diff")), ci_low=r.get("ci_low"), ci_high=r.get("ci_high")
        )
    return out


def candidate_reasons(
    name: str,
    outcome: str,
    models_json: dict[str, Any],
    comparators: list[str],
    gates: dict[str, Any],
) -> list[dict[str, Any]]:
    """Why ``name`` cannot be recommended for ``outcome`` (empty: it qualifies).

    Each reason is ``{"reason": code, ...}`` (:class:`analysis.contracts.Reason`): codes
    ``no_within_thread_test``, ``no_within_thread_fit``, ``within_thread_not_above_zero``,
    ``does_not_beat`` (with ``comparator``), ``no_account_level_test``,
    ``no_gain_over_activity``, ``gains_from_volume``, ``fails_gates`` (with ``gates``).
    """
    wt = models_json.get("within_thread") or {}
    inc = models_json.get("incremental") or {}
    why = []
    if "models" not in wt:
        why.append(_reason("no_within_thread_test", detail=wt.get("skipped")))
    else:
        r = (wt["models"].get(name) or {}).get(outcome)
        if r is None:
            why.append(_reason("no_within_thread_fit"))
        elif not _above_zero(r):
            why.append(_reason("within_thread_not_above_zero", r))
        pairs = (wt.get("paired") or {}).get(outcome) or {}
        for k in comparators:
            pr = pairs.get(f"{name}-{k}")
            if pr is not None and not _above_zero(pr):
                why.append(_reason("does_not_beat", pr, comparator=k))
    ri = ((inc.get("models") or {}).get(name) or {}).get(outcome)
    if "models" not in inc:
        why.append(_reason("no_account_level_test", detail=inc.get("skipped")))
    elif not _above_zero(ri):
        why.append(_reason("no_gain_over_activity", ri or {}))
    g = gates.get(name) or {}
    if g.get("volume") is False:
        why.append(_reason("gains_from_volume"))
    failed = [k for k, ok in g.items() if ok is False and k != "volume"]
    if failed:
        why.append(_reason("fails_gates", gates=failed))
    return why


def recommend(
    robustness: dict[str, dict[str, Any]], models_json: dict[str, Any] | None, params: CompareParams
) -> dict[str, Any]:
    """Pick a model per question by the rule, from the validity and robustness metrics.

    The rule (stated for readers in ``analysis/report/templates/rule.md.j2``): baselines
    (``validate.comparators``) and peers are comparators, never candidates. A candidate is
    recommended for a question only if, on its outcome, (1) its within-thread coefficient has
    an interval above zero, (2) it beats every comparator defined on the data with a paired
    interval above zero, (3) it adds to the activity baseline at account level with an
    interval above zero, (4) it gains nothing from extra volume and (5) it passes every
    robustness gate. Among candidates that qualify, the largest within-thread coefficient wins.
    """
    gates = gate_results(robustness, params.gates)
    mj = models_json or {}
    comparators = list(mj.get("comparators") or [])
    wt = mj.get("within_thread") or {}
    tested = set(wt.get("models") or {}) | set(robustness)
    candidates = [m for m in robustness if m not in comparators]
    answers: dict[str, Any] = {}
    for q in params.questions:
        defined = [k for k in comparators if k in tested]
        table = {m: candidate_reasons(m, q.outcome, mj, defined, gates) for m in candidates}
        ok = [m for m, why in table.items() if not why]
        coef = lambda m, o=q.outcome: ((wt.get("models") or {}).get(m) or {}).get(o) or {}  # noqa: E731
        if not ok:
            answers[q.question] = {
                "question": q.question,
                "model": None,
                "outcome": q.outcome,
                "comparators": defined,
                "excluded": table,
                "qualifying": [],
            }
            continue
        pick = max(ok, key=lambda m: coef(m).get("coef") or -np.inf)
        r = coef(pick)
        inc = (((mj.get("incremental") or {}).get("models") or {}).get(pick) or {}).get(q.outcome)
        answers[q.question] = {
            "question": q.question,
            "model": pick,
            "outcome": q.outcome,
            "coef": r.get("coef"),
            "ci_low": r.get("ci_low"),
            "ci_high": r.get("ci_high"),
            "account_coef": (inc or {}).get("coef"),
            "account_ci_low": (inc or {}).get("ci_low"),
            "account_ci_high": (inc or {}).get("ci_high"),
            "comparators": defined,
            "excluded": {m: why for m, why in table.items() if why},
            "qualifying": ok,
        }
    primary = next(
        (q.question for q in params.questions if q.outcome == params.primary_outcome), None
    )
    return {
        "recommended_model": (answers.get(primary) or {}).get("model"),
        "primary_question": primary,
        "comparators": comparators,
        "candidates": candidates,
        "by_question": answers,
        "gates": gates,
    }
