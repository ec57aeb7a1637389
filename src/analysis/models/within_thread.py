"""The within-thread competition test: the headline validity check (stage ``validate``; pure).

An account-level correlation between a score and next month's replies mostly rewards
persistence: whoever keeps posting keeps being answered. Here, everything about the place and
the moment is held fixed: after a scoring date ``T``, take every *competition* where at least
two scored authors respond to the same parent (Stack Exchange answers to one question, sibling
comments on Reddit and Hacker News, replies in one PHEME thread). Within each, ask whose
response draws more, given the authors' scores at ``T``:

* **conversation**: distinct other accounts replying to the response within ``follow_days``;
* **approval**: positive reactions on it within ``follow_days`` (timed votes, likes, retweets);
  on platforms with no timed reactions, the score or points the export reports (eventual
  approval; ``approval_source`` says which).

A conditional Poisson model with one fixed effect per competition (the multinomial form of the
Poisson likelihood within each group; statsmodels' ``ConditionalPoisson`` gives the same point
estimate, checked by a test) regresses each outcome on the author's standardised score,
controlling for arrival order, text length and the author's prior posting volume. The
coefficient is a log rate ratio per standard deviation of the score.

Intervals: a pigeonhole bootstrap (Owen 2007) resamples competitions *and* authors at once, so
that neither many answers by one prolific author nor one big thread carries the result; every
model is refitted on the same draws, which gives paired intervals for differences between
models. Placebo: scores are shuffled among authors of similar prior activity (quantile bins)
and refitted; a coefficient that survives shuffling is activity, not the score.

Several rolling origins ``T`` (``validate.origins``) split the later part of the dump's
activity into windows of equal numbers of posts.
"""

from __future__ import annotations

import itertools
import logging
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
from pydantic import Field
from threadpoolctl import threadpool_limits

from analysis import ordering, semantics
from analysis.config import Frozen
from analysis.models import common
from analysis.models.base import Tables
from analysis.models.bootstrap import interval, paired_differences

log = logging.getLogger(__name__)

OUTCOMES = ("conversation", "approval")
CONTROLS = ("log_arrival", "log_text_len", "log_prior_posts")


class ValidateParams(Frozen):
    """``validate``: origins, windows, bootstrap and the comparators of the validity tests."""

    #: Scoring origins T, at quantiles of post times after ``history_share`` of the posts.
    origins: int = Field(4, ge=1)
    #: Share of the dump's posts kept as history before the first origin.
    history_share: float = Field(0.5, gt=0, lt=1)
    #: A response's outcomes count what happens within this many days after it.
    follow_days: float = Field(7.0, gt=0)
    #: A competition needs at least this many distinct scored authors.
    min_authors: int = Field(2, ge=2)
    n_boot: int = Field(200, ge=10)
    n_placebo: int = Field(20, ge=1)
    #: Quantile bins of prior posting volume within which the placebo shuffles scores.
    placebo_bins: int = Field(5, ge=1)
    seed: int = 11
    #: Two-sided coverage of every interval.
    interval: float = Field(0.95, gt=0.5, lt=1)
    #: Models that are baselines: reported and compared against, never recommended.
    comparators: tuple[str, ...] = ("volume", "reach", "klout_like")
    #: Minimum responses (and competitions) for a fit to be reported.
    min_responses: int = Field(30, ge=5)
    #: The single split of the account ranking check: this quantile of root-post times.
    ranking_split: float = Field(0.7, gt=0, lt=1)


@dataclass(frozen=True)
class Origin:
    """One scoring date and the window of activity tested after it."""

    scored_at: datetime
    window_end: datetime


def origins(posts: pl.DataFrame, p: ValidateParams) -> list[Origin]:
    """Rolling origins at quantiles of activity, not of the calendar.

    The first origin leaves ``history_share`` of the responses (posts with a parent) before it;
    the windows after it hold equal shares of the remaining responses (dumps with gaps or bursts, such as a month of 2006
    next to a month of 2019, get windows where there is activity). Windows end at the last
    post minus ``follow_days``, so every response's outcome is observed in full.
    """
    if posts.height < 2:
        return []
    # quantiles of the responses (the unit of the test), else of all posts
    responses_at = posts.filter(pl.col("parent_post_id").is_not_null())["created_at"]
    times = (responses_at if responses_at.len() >= 2 else posts["created_at"]).sort()
    last = posts["created_at"].max() - timedelta(days=p.follow_days)
    qs = [p.history_share + k * (1 - p.history_share) / p.origins for k in range(p.origins + 1)]
    # Cut at whole hours: an origin equal to one response's exact time would publish that time
    # in models.json (exact times link pseudonyms to a public copy of the dump).
    cuts = [
        times[min(int(q * (times.len() - 1)), times.len() - 1)].replace(
            minute=0, second=0, microsecond=0
        )
        for q in qs
    ]
    out = []
    for t0, t1 in itertools.pairwise(cuts):
        t1 = min(t1, last)
        if t1 > t0:
            out.append(Origin(t0, t1))
    return out


def rank_z(scores: pl.DataFrame, active: pl.DataFrame) -> pl.DataFrame:
    """``account_id, z``: the score's rank among accounts active before T, standardised.

    Ranks, not raw scores: raw units differ wildly between models (counts, log audiences,
    PageRank mass) and are heavy-tailed; a rank-based z is comparable across models.
    """
    j = scores.select("account_id", "score").join(active, on="account_id", how="semi")
    if j.height < 2:
        return j.select("account_id", z=pl.lit(0.0))
    r = pl.col("score").rank("average")
    return j.select("account_id", z=((r - r.mean()) / r.std()).fill_nan(0.0))


def responses(tables: Tables, origin: Origin, p: ValidateParams, end: datetime) -> pl.DataFrame:
    """Every response in a competition after ``origin``, with its outcomes and controls.

    Returns:
        ``group`` (origin, parent and kind), ``post_id``, ``account_id``, ``created_at``,
        ``log_arrival``, ``log_text_len``, ``log_prior_posts``, ``conversation``, ``approval``,
        ``approval_source``.
    """
    posts = tables.posts
    t0, t1 = origin.scored_at, origin.window_end
    follow = timedelta(days=p.follow_days)
    prior = (
        posts.filter(pl.col("created_at") < t0)
        .group_by("account_id")
        .agg(log_prior_posts=pl.len().cast(pl.Float64).log1p())
    )
    parents = posts.select(
        pl.col("post_id").alias("parent_post_id"), pl.col("account_id").alias("_owner")
    )
    cand = semantics.with_channel(
        posts.filter((pl.col("created_at") > t0) & (pl.col("created_at") <= t1))
    ).filter(
        pl.col("channel").is_in(list(semantics.CONVERSATIONAL))
        & pl.col("parent_post_id").is_not_null()
    )
    cand = (
        cand.join(parents, on="parent_post_id")
        .filter(pl.col("account_id") != pl.col("_owner"))
        .join(prior, on="account_id")  # scored authors only: they posted before T
        .with_columns(_h=ordering.text_hash())
        .sort("created_at", "_h")
        .with_columns(
            _unit=pl.when(pl.col("platform").is_in(list(semantics.THREAD_COMPETITION)))
            .then(pl.coalesce("root_post_id", "parent_post_id"))
            .otherwise(pl.col("parent_post_id"))
        )
        .unique(["_unit", "kind", "account_id"], keep="first", maintain_order=True)
        .with_columns(group=pl.lit(t0.isoformat()) + "|" + pl.col("_unit") + "|" + pl.col("kind"))
    )
    n_auth = cand.group_by("group").agg(_n=pl.col("account_id").n_unique())
    cand = cand.join(n_auth.filter(pl.col("_n") >= p.min_authors), on="group").with_columns(
        log_arrival=pl.int_range(1, pl.len() + 1).over("group").cast(pl.Float64).log(),
        log_text_len=pl.col("text").fill_null("").str.len_chars().cast(pl.Float64).log1p(),
    )
    # conversation: distinct other accounts replying to the response within follow_days
    kids = posts.filter(pl.col("parent_post_id").is_not_null()).select(
        pl.col("parent_post_id").alias("post_id"),
        pl.col("account_id").alias("_kid_author"),
        pl.col("created_at").alias("_kid_at"),
    )
    conv = (
        cand.select("post_id", "account_id", "created_at")
        .join(kids, on="post_id")
        .filter(
            (pl.col("_kid_author") != pl.col("account_id"))
            & (pl.col("_kid_at") <= pl.col("created_at") + follow)
        )
        .group_by("post_id")
        .agg(conversation=pl.col("_kid_author").n_unique())
    )
    positive = tables.reactions.filter(
        pl.col("kind").is_in(list(common.POSITIVE_REACTIONS)) & pl.col("created_at").is_not_null()
    )
    if positive.height:
        source = "positive reactions within follow_days (timed rows)"
        appr = (
            cand.select("post_id", "account_id", "created_at")
            .join(
                positive.select("post_id", "actor_account_id", pl.col("created_at").alias("_r_at")),
                on="post_id",
            )
            .filter(
                (
                    pl.col("actor_account_id").is_null()
                    | (pl.col("actor_account_id") != pl.col("account_id"))
                )
                & (pl.col("_r_at") <= pl.col("created_at") + follow)
            )
            .group_by("post_id")
            .agg(approval=pl.len())
        )
    else:
        source = "reported totals at export (likes + reposts, else score): eventual approval"
        has_likes = pl.col("n_likes").is_not_null() | pl.col("n_reposts").is_not_null()
        appr = cand.select(
            "post_id",
            approval=pl.when(has_likes)
            .then(pl.col("n_likes").fill_null(0) + pl.col("n_reposts").fill_null(0))
            .otherwise(pl.col("score").clip(lower_bound=0)),
        )
    out = (
        cand.join(conv, on="post_id", how="left")
        .join(appr, on="post_id", how="left")
        .with_columns(pl.col("conversation", "approval").fill_null(0).cast(pl.Float64))
    )
    # the follow-up window must lie inside the dump
    out = out.filter(pl.col("created_at") + follow <= end)
    return out.select(
        "group",
        "post_id",
        "account_id",
        "created_at",
        *CONTROLS,
        *OUTCOMES,
        approval_source=pl.lit(source),
    )


# ------------------------------------------------------------------------------------------
# Conditional Poisson with group fixed effects


def cpoisson(
    y: np.ndarray,
    x: np.ndarray,
    groups: np.ndarray,
    w_row: np.ndarray | None = None,
    w_group: np.ndarray | None = None,
    max_iter: int = 50,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Conditional (fixed-effects) Poisson by Newton's method; returns (coefficients, SEs).

    The log-likelihood is the Poisson one with the group effects conditioned out::

        sum_g W_g sum_{i in g} w_i y_i (x_i b - log sum_{j in g} w_j exp(x_j b))

    ``w_row`` and ``w_group`` are bootstrap multiplicities (an author drawn twice appears
    twice in each of its groups; a group drawn twice counts twice). Without weights this is
    exactly statsmodels' ``ConditionalPoisson``. SEs (model-based) only for unweighted fits.

    Args:
        y: counts; x: (n, k) covariates; groups: integer group index per row (0..G-1).
    """
    n, k = x.shape
    wr = np.ones(n) if w_row is None else w_row.astype(float)
    n_groups = int(groups.max()) + 1 if n else 0
    wg = np.ones(n_groups) if w_group is None else w_group.astype(float)
    wyr = wr * y * wg[groups]
    ysum = np.bincount(groups, weights=wr * y, minlength=n_groups) * wg

    def state(beta: np.ndarray):
        eta = x @ beta
        gmax = np.full(n_groups, -np.inf)
        np.maximum.at(gmax, groups, eta)
        e = wr * np.exp(eta - gmax[groups])
        denom = np.bincount(groups, weights=e, minlength=n_groups)
        safe = np.where(denom > 0, denom, 1.0)
        loglik = wyr @ eta - ysum @ (np.log(safe) + np.where(np.isfinite(gmax), gmax, 0.0))
        return loglik, e / safe[groups]

    beta = np.zeros(k)
    hess = np.zeros((k, k))
    loglik, pi = state(beta)
    converged = False
    for _ in range(max_iter):
        xbar = np.column_stack(
            [np.bincount(groups, weights=pi * x[:, c], minlength=n_groups) for c in range(k)]
        )
        grad = wyr @ x - ysum @ xbar
        hess = np.zeros((k, k))
        for a in range(k):
            for b in range(a, k):
                sab = np.bincount(groups, weights=pi * x[:, a] * x[:, b], minlength=n_groups)
                hess[a, b] = hess[b, a] = -(ysum @ (sab - xbar[:, a] * xbar[:, b]))
        try:
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            return np.full(k, np.nan), None
        # Newton step with halving: the log-likelihood is concave, so a step that lowers it
        # overshot.
        t = 1.0
        for _ in range(30):
            cand = beta - t * step
            ll_c, pi_c = state(cand)
            if ll_c >= loglik - 1e-12:
                break
            t /= 2
        beta, loglik, pi = cand, ll_c, pi_c
        if np.max(np.abs(t * step)) < 1e-8:
            converged = True
            break
    # No finite maximum (separation: e.g. every event in each group went to the top scorer).
    if not converged or np.max(np.abs(beta)) > 20:
        return np.full(k, np.nan), None
    if w_row is not None or w_group is not None:
        return beta, None
    try:
        cov = np.linalg.inv(-hess)
        se = np.sqrt(np.clip(np.diag(cov), 0, None))
    except np.linalg.LinAlgError:
        se = None
    return beta, se


@dataclass
class Design:
    """The response table turned into arrays (one per model for the score column)."""

    y: dict[str, np.ndarray]
    controls: np.ndarray
    z: dict[str, np.ndarray]
    groups: np.ndarray
    authors: np.ndarray
    prior: np.ndarray
    row_origin: np.ndarray
    n_groups: int
    n_authors: int


def design(resp: pl.DataFrame, z: dict[str, pl.DataFrame], posts: pl.DataFrame) -> Design:
    """Arrays for fitting; groups and authors numbered in a key-independent order.

    Args:
        resp: :func:`responses` of every origin.
        z: model -> ``origin``, ``account_id``, ``z`` (standardised score at that origin).
    """
    resp = ordering.sort_posts(resp.join(posts.select("post_id", "text"), on="post_id"))
    group_order = resp.group_by("group", maintain_order=True).agg().with_row_index("gi")
    author_order = (
        ordering.account_order(posts)
        .join(resp.select("account_id").unique(), on="account_id", how="semi")
        .sort("order")
        .with_row_index("ai")
    )
    resp = resp.join(group_order, on="group").join(
        author_order.select("account_id", "ai"), on="account_id"
    )
    resp = resp.with_columns(origin=pl.col("group").str.split("|").list.first())
    zs = {}
    for name, frame in z.items():
        j = resp.join(frame, on=["origin", "account_id"], how="left")
        zs[name] = j["z"].fill_null(0.0).to_numpy()
    return Design(
        y={o: resp[o].to_numpy().astype(float) for o in OUTCOMES},
        controls=resp.select(CONTROLS).to_numpy().astype(float),
        z=zs,
        groups=resp["gi"].to_numpy().astype(np.int64),
        authors=resp["ai"].to_numpy().astype(np.int64),
        prior=resp["log_prior_posts"].to_numpy(),
        row_origin=resp["origin"].to_numpy(),
        n_groups=group_order.height,
        n_authors=author_order.height,
    )


def _fit(
    d: Design, outcome: str, z: np.ndarray, w_row=None, w_group=None
) -> tuple[float, float | None]:
    x = np.column_stack([z, d.controls])
    x = x - x.mean(axis=0)  # centring changes nothing in a fixed-effects fit but conditioning
    beta, se = cpoisson(d.y[outcome], x, d.groups, w_row, w_group)
    return float(beta[0]), (None if se is None else float(se[0]))


def placebo_z(d: Design, z: np.ndarray, rng: np.random.Generator, bins: int) -> np.ndarray:
    """Each author's score shuffled among authors of similar prior activity (per origin).

    One value per (origin, author) is permuted within quantile bins of prior posting volume,
    then written back to every response of that author at that origin.
    """
    keys = np.char.add(np.char.add(d.row_origin.astype(str), "|"), d.authors.astype(str))
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    a_origin, a_prior, a_z = d.row_origin[first], d.prior[first], z[first]
    new_z = a_z.copy()
    for o in np.unique(a_origin):
        idx = np.flatnonzero(a_origin == o)
        qs = np.quantile(a_prior[idx], np.linspace(0, 1, bins + 1)[1:-1]) if bins > 1 else []
        b = np.searchsorted(qs, a_prior[idx], side="right")
        for v in np.unique(b):
            members = idx[b == v]
            new_z[members] = a_z[rng.permutation(members)]
    return new_z[inverse.ravel()]


def pigeonhole_draws(d: Design, n_boot: int, seed: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(author multiplicities, competition multiplicities)`` of each bootstrap draw, drawn on
    demand: the same seed gives the same draws at every iteration."""
    rng = np.random.default_rng(seed)
    for _ in range(n_boot):
        mg = np.bincount(rng.integers(0, d.n_groups, d.n_groups), minlength=d.n_groups)
        ma = np.bincount(rng.integers(0, d.n_authors, d.n_authors), minlength=d.n_authors)
        yield ma, mg


def run_test(d: Design, p: ValidateParams) -> dict[str, Any]:
    """Coefficients, bootstrap and placebo intervals, and paired differences for every model.

    Thousands of fits, each a few passes of matrix-vector products over the responses:
    :func:`within_thread` runs them on one BLAS thread. Above OpenBLAS's threading threshold
    every product otherwise hands half its rows to a second thread and waits for it; on a
    shared, loaded machine each wait costs a scheduler slice, which made a fit at 100k
    synthetic posts 170 times slower than at 30k (0.42 s against 2.4 ms for 3.4 times the
    rows; docs/scaling.md). One thread also makes the numbers independent of the core count: a
    reduction over rows split between two threads sums in another order, and Newton's stopping
    rule turns that last bit into ~1e-9 in a coefficient.
    """
    alpha = (1 - p.interval) / 2
    models = list(d.z)
    res: dict[str, Any] = {"models": {}, "paired": {}}
    # per draw one multiplicity per author and per competition, drawn again for each model (one
    # draw held at a time, not n_boot x (authors + competitions)) and spread over the rows only
    # when fitted
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for outcome in OUTCOMES:
            if d.y[outcome].sum() == 0:
                for m in models:
                    res["models"].setdefault(m, {})[outcome] = None
                continue
            boot = {m: np.empty(p.n_boot) for m in models}
            for m in models:
                if np.std(d.z[m]) == 0:
                    res["models"].setdefault(m, {})[outcome] = None
                    boot[m] = np.full(p.n_boot, np.nan)
                    continue
                coef, se = _fit(d, outcome, d.z[m])
                if not np.isfinite(coef):
                    res["models"].setdefault(m, {})[outcome] = None
                    boot[m] = np.full(p.n_boot, np.nan)
                    continue
                for b, (ma, mg) in enumerate(pigeonhole_draws(d, p.n_boot, p.seed)):
                    boot[m][b] = _fit(d, outcome, d.z[m], ma[d.authors], mg)[0]
                prng = np.random.default_rng(p.seed + 1)
                plac = np.array(
                    [
                        _fit(d, outcome, placebo_z(d, d.z[m], prng, p.placebo_bins))[0]
                        for _ in range(p.n_placebo)
                    ]
                )
                low, high = interval(boot[m], alpha)
                res["models"].setdefault(m, {})[outcome] = {
                    "coef": coef,
                    "se": se,
                    "ci_low": low,
                    "ci_high": high,
                    "placebo_coef": float(np.mean(plac)),
                    "placebo_low": float(np.quantile(plac, alpha)),
                    "placebo_high": float(np.quantile(plac, 1 - alpha)),
                }
            estimates = {m: (res["models"][m][outcome] or {}).get("coef") for m in models}
            res["paired"][outcome] = paired_differences(
                estimates, {m: boot[m] for m in models}, p.comparators, alpha
            )
    return res


def within_thread(
    tables: Tables,
    scores_at: Callable[[datetime], dict[str, pl.DataFrame]],
    p: ValidateParams,
) -> dict[str, Any]:
    """The whole test: origins, responses, standardised scores, fits, intervals, placebo.

    Args:
        tables: the interim tables.
        scores_at: T -> model (or peer) name -> score frame (``account_id``, ``score``) at T.
        p: the ``validate`` params.
    """
    posts = tables.posts
    end = posts["created_at"].max()
    origs = origins(posts, p)
    frames, zs = [], {}
    for o in origs:
        resp = responses(tables, o, p, end)
        if not resp.height:
            continue
        active = posts.filter(pl.col("created_at") < o.scored_at).select("account_id").unique()
        for name, s in scores_at(o.scored_at).items():
            zs.setdefault(name, []).append(
                rank_z(s, active).with_columns(origin=pl.lit(o.scored_at.isoformat()))
            )
        frames.append(resp)
    base = {
        "origins": [o.scored_at.isoformat() for o in origs],
        "window_days": [
            round((o.window_end - o.scored_at).total_seconds() / 86400, 2) for o in origs
        ],
        "follow_days": p.follow_days,
        "outcomes": {
            "conversation": "distinct other accounts replying to the response within follow_days",
            "approval": None,
        },
    }
    resp = pl.concat(frames) if frames else None
    if resp is None or resp.height < p.min_responses:
        n = 0 if resp is None else resp.height
        return {
            **base,
            "n_responses": n,
            "skipped": f"{n} responses in competitions (< {p.min_responses})",
        }
    base["outcomes"]["approval"] = resp["approval_source"][0]
    d = design(resp, {k: pl.concat(v) for k, v in zs.items()}, posts)
    with threadpool_limits(limits=1, user_api="blas"):
        out = run_test(d, p)
    out["dissociation"] = dissociation(out)
    return {
        **base,
        "n_responses": resp.height,
        "n_competitions": d.n_groups,
        "n_authors": d.n_authors,
        "mean_outcome": {o: float(d.y[o].mean()) for o in OUTCOMES},
        **out,
    }


#: The models the double-dissociation claim calls "conversation models".
CONVERSATION_FAMILY = ("conversation", "conversation_rate", "network", "network_topic")
#: ... and the audience/activity scores it sets them against.
AUDIENCE_FAMILY = ("reach", "volume", "klout_like")


def _verdict(ci: dict[str, Any] | None) -> str:
    if ci is None or ci.get("ci_low") is None:
        return "untestable"
    if ci["ci_low"] > 0:
        return "holds"
    if ci["ci_high"] < 0:
        return "reversed"
    return "inconclusive"


def dissociation(result: dict[str, Any]) -> dict[str, Any]:
    """The double-dissociation claim, part by part, from the paired intervals.

    (a) on *conversation*, some conversation model beats every audience/activity score;
    (b) on *approval*, reach beats conversation. Each part: holds / reversed / inconclusive /
    untestable (a score without variation or an outcome without events).
    """
    paired = result.get("paired") or {}
    conv = paired.get("conversation") or {}
    best: dict[str, Any] = {"verdict": "untestable"}
    rank = {"holds": 3, "inconclusive": 2, "reversed": 1, "untestable": 0}
    for m in CONVERSATION_FAMILY:
        vs = {k: conv.get(f"{m}-{k}") for k in AUDIENCE_FAMILY if conv.get(f"{m}-{k}")}
        if not vs:
            continue
        verdicts = [_verdict(v) for v in vs.values()]
        v = (
            "holds"
            if all(x == "holds" for x in verdicts)
            else "reversed"
            if any(x == "reversed" for x in verdicts)
            else "inconclusive"
        )
        if rank[v] > rank[best["verdict"]]:
            best = {"verdict": v, "model": m, "versus": vs}
    appr = (paired.get("approval") or {}).get("reach-conversation")
    return {
        "conversation_models_win_conversation": best,
        "reach_wins_approval": {"verdict": _verdict(appr), "reach_minus_conversation": appr},
    }
