"""Validity of the influence models (stage ``validate``): pure functions, no I/O.

* Out-of-time predictive validity: score at ``T = as_of - delta`` from activity before T, then
  count what each account receives in ``(T, T + delta]``: distinct repliers and reactions.
  Per model: Spearman correlation, and a negative-binomial GLM of the outcome on the score
  (standardised), with its coefficient (log rate ratio per standard deviation) and McFadden
  pseudo-R².
* Planted roles (demo): AUC of each model's score for telling positives (experts,
  conversationalists) from negatives (gamers, broadcasters), and experts alone from negatives.
* Platform reputation (Stack Exchange): Spearman with ``accounts.platform_score``.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
from scipy import stats

from analysis import compare_ranks, ordering, schema
from analysis.models import common
from analysis.models.base import READS_TOPICS_FLAG, Tables
from analysis.models.fit_garbage import collect_fit_garbage
from analysis.models.params import ModelParams

log = logging.getLogger(__name__)

REPUTATION_NOTE = (
    "Partly circular: Stack Exchange Reputation is itself a function of votes received "
    "(+10 per answer upvote, +15 per accept, +5 per question upvote), so models that count "
    "reactions (engagement, klout_like) agree with it by construction; conversation and network "
    "agree with it only as far as being answered goes together with being voted up."
)


#: The posts' columns :func:`common.scoped_posts` and :func:`common.reply_edges` read: where
#: only the credit edges are wanted, the posts are cut to these before the scoping copies them
#: (texts and export totals are half the table's bytes).
EDGE_COLUMNS = common.EDGE_COLUMNS


def order_columns(posts: pl.DataFrame) -> list[str]:
    """The posts' columns :func:`ordering.account_order` reads (the texts or their digest)."""
    return ["account_id", "created_at", *ordering.content_columns(posts)]


def active_before(posts: pl.DataFrame, t: datetime) -> pl.DataFrame:
    """``account_id`` of every account with a post before ``t`` (two columns filtered, not all)."""
    return (
        posts.select("account_id", "created_at")
        .filter(pl.col("created_at") < t)
        .select("account_id")
        .unique()
    )


#: A credit edge (``common.reply_edges``) that is a response to the credited account's post:
#: not an answer's own credit from its asker (the asker wrote first; counted, answering more
#: raised "repliers" by volume alone), and a reply to a parent outside the dump (PHEME's deep
#: replies, Usenet's broken threads) still is one, to its addressee (``ne_missing``: ``!=``
#: gives null against the missing target, and the filter dropped it).
IS_RESPONSE = pl.col("post_id").ne_missing(pl.col("target_post_id"))


def outcomes(tables: Tables, start: datetime, end: datetime) -> pl.DataFrame:
    """Per account, what happens in ``(start, end]``: distinct repliers and reactions received.

    Reactions are timed reaction rows on the account's posts (any age), by someone else; where
    the platform has no reaction rows, the reported totals of posts created in the period.
    """
    posts = tables.posts
    in_period = (pl.col("created_at") > start) & (pl.col("created_at") <= end)
    scoped = common.scoped_posts(
        posts.filter(pl.col("created_at") <= end), end + timedelta(seconds=1), 1.0, None
    )
    # responses to the account's posts (IS_RESPONSE), as in the within-thread outcomes
    repl = (
        common.reply_edges(scoped.filter(in_period))
        .filter((pl.col("dst") != schema.NONPARTICIPANT_ID) & IS_RESPONSE)
        .group_by("dst")
        .agg(n_repliers_next=pl.col("src").n_unique())
        .rename({"dst": "account_id"})
    )
    if tables.reactions.height:
        reac = (
            tables.reactions.filter(
                in_period & pl.col("kind").is_in(list(common.POSITIVE_REACTIONS))
            )
            .join(posts.select("post_id", pl.col("account_id").alias("author")), on="post_id")
            .filter(
                pl.col("actor_account_id").is_null()
                | (pl.col("actor_account_id") != pl.col("author"))
            )
            .group_by("author")
            .agg(n_reactions_next=pl.len())
            .rename({"author": "account_id"})
        )
        source = "reaction rows"
    else:
        reac = (
            common.post_reactions(scoped.filter(in_period), tables.reactions, end)
            .group_by("account_id")
            .agg(n_reactions_next=pl.col("n_reactions").sum().round().cast(pl.Int64))
        )
        source = "reported totals of posts in the period"
    out = (
        tables.participants()
        .select("account_id")
        .join(repl, on="account_id", how="left")
        .join(reac, on="account_id", how="left")
        .with_columns(pl.col("n_repliers_next", "n_reactions_next").fill_null(0).cast(pl.Int64))
    )
    return out.with_columns(pl.lit(source).alias("reactions_source"))


def nb_fit(y: np.ndarray, x: np.ndarray) -> dict[str, float | None]:
    """Negative binomial GLM ``y ~ 1 + z(x)``: coefficient per SD, p-value, McFadden pseudo-R².

    The same numbers for the same (x, y) pairs in any row order; the best of the
    :data:`NB_METHODS` fits that reached a maximum (Nelder-Mead only as the fallback,
    :data:`NB_FALLBACK`), all None where none did.
    """
    try:
        return _nb_fit(y, x)
    finally:
        collect_fit_garbage()


#: The optimisers :func:`nb_fit` tries. BFGS alone (statsmodels' default) stopped, "converged",
#: at points below the intercept-only model or with the dispersion run off to 0 or infinity, and
#: which of those it reached changed with the order of the rows (the accounts' pseudonyms).
NB_METHODS = ("bfgs", "newton", "nm")
#: Nelder-Mead, the slow one (up to 5,000 iterations: a minute on 50,000 rows), is the fallback:
#: tried only where neither gradient method reached a maximum and one of them stopped at finite
#: estimates (where both ended at estimates that are not finite or with the dispersion run off
#: to infinity, it ended there too, after its 5,000 iterations: at 1M synthetic posts 18 such
#: fits took 8 minutes of validate, 150 s -> 840 s).
NB_FALLBACK = "nm"


def _nb_fit(y: np.ndarray, x: np.ndarray) -> dict[str, float | None]:
    none: dict[str, float | None] = {"coef_per_sd": None, "p_value": None, "pseudo_r2": None}
    sd = x.std()
    if y.size < 10 or sd == 0 or y.sum() == 0:
        return none
    # The rows in the order of their values: the fit is a function of the (x, y) pairs, not of
    # the order the caller joined them in (accounts sorted by pseudonym: another key gave
    # conversation_eb's coefficient -1.146, p 4e-6 instead of -0.849, p 0.004 on beer).
    order = np.lexsort((y, x))
    y, x = y[order], x[order]
    z = (x - x.mean()) / x.std()
    best, finite = None, False
    null: list[float] = []  # the intercept-only model's log-likelihood, once per (x, y)
    for method in NB_METHODS:
        if method == NB_FALLBACK and (best is not None or not finite):
            continue
        try:
            res, ok = _nb_attempt(y, z, method, null)
        except Exception as exc:  # flat or separated data
            log.info("NB fit (%s) failed: %s", method, exc)
            continue
        finite = finite or _nb_finite(res)
        if ok and (best is None or res.llf > best.llf):
            best = res
    if best is None:
        log.info("NB fit: no optimiser reached a maximum (n=%d, %d nonzero)", y.size, (y > 0).sum())
        return none
    return {
        "coef_per_sd": float(best.params[1]),
        "p_value": float(best.pvalues[1]),
        "pseudo_r2": float(best.prsquared),
        "alpha": float(best.params[-1]),
    }


def _nb_attempt(
    y: np.ndarray, z: np.ndarray, method: str, null: list[float] | None = None
) -> tuple[Any, bool]:
    """One NB2 fit of ``y`` on ``1 + z`` by ``method``, and whether it reached a maximum.

    ``null`` carries the intercept-only model's log-likelihood between the attempts on the
    same ``y``: statsmodels fits that model again for each result (Nelder-Mead, up to 10,000
    iterations, then BFGS), the same fit of the same counts, most of an attempt's time.
    """
    import statsmodels.api as sm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = sm.NegativeBinomial(y, sm.add_constant(z), loglike_method="nb2").fit(
            method=method, disp=0, maxiter=5000 if method == NB_FALLBACK else 300
        )
        if null:
            res.set_null_options(llnull=null[0])
        elif null is not None:
            null.append(res.llnull)
        return res, _nb_usable(res)


#: A dispersion past this has run off to infinity (Newton stops at 1e31, BFGS at inf).
NB_ALPHA_RUNAWAY = 1e8


def _nb_finite(res: Any) -> bool:
    """Whether a fit stopped at finite estimates, its dispersion not run off."""
    return bool(np.all(np.isfinite(res.params)) and res.params[-1] < NB_ALPHA_RUNAWAY)


def _nb_usable(res: Any) -> bool:
    """A fit that reached a maximum: converged, finite estimates and p-value, a positive finite
    dispersion, and a likelihood no lower than the intercept-only model's (which the model
    nests, so a lower one is a point the optimiser stopped at, not the maximum)."""
    values = [res.llf, res.llnull, res.pvalues[1], *res.params]
    return bool(
        res.mle_retvals.get("converged", False)
        and np.all(np.isfinite(values))
        and res.params[-1] > 0
        and res.llf >= res.llnull
    )


def auc(scores: np.ndarray, positive: np.ndarray) -> float | None:
    """Area under the ROC curve (Mann-Whitney, ties counted half)."""
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = stats.rankdata(scores)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def spearman(a: np.ndarray, b: np.ndarray) -> float | None:
    """Spearman's rho, None where either side is constant.

    ``scipy.stats.spearmanr``'s value bit for bit (:func:`analysis.compare_ranks.spearman`)
    without its per-call overhead: the ranking check takes ~4,000 of them (0.7 ms each in scipy)
    on the 60-account demo. Bit for bit while the ranks' sums of squares are exact in float64,
    below ~300,000 accounts; past that the last bit may differ (scipy adds them in another
    order)."""
    if a.size < 3 or np.all(a == a[0]) or np.all(b == b[0]):
        return None
    return compare_ranks.spearman(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))


#: z of a two-sided 95 % interval.
Z95 = 1.959963984540054


def auc_interval(auc: float, n_pos: int, n_neg: int) -> tuple[float, float]:
    """95 % interval of an AUC (Hanley & McNeil 1982 standard error), clipped to [0, 1]."""
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    var = (auc * (1 - auc) + (n_pos - 1) * (q1 - auc**2) + (n_neg - 1) * (q2 - auc**2)) / max(
        n_pos * n_neg, 1
    )
    se = math.sqrt(max(var, 0.0))
    return max(0.0, auc - Z95 * se), min(1.0, auc + Z95 * se)


def spearman_interval(rho: float, n: int) -> tuple[float, float]:
    """95 % interval of a Spearman rho: Fisher z with the Fieller-Hartley-Pearson variance
    1.06/(n-3)."""
    if n <= 3 or abs(rho) >= 1:
        return rho, rho
    z, se = math.atanh(rho), math.sqrt(1.06 / (n - 3))
    return math.tanh(z - Z95 * se), math.tanh(z + Z95 * se)


def out_of_time(
    tables: Tables,
    models: dict[str, Any],
    p: ModelParams,
    as_of: datetime,
    post_topics_at: Callable[[datetime], pl.DataFrame] | None = None,
) -> dict[str, Any]:
    """Score every model at ``as_of - delta`` and test it against the next ``delta`` days.

    Topic-sensitive models get topics fitted on the posts before ``as_of - delta``
    (``post_topics_at``, as :func:`scores_at`), never topics fitted with the posts after it.
    """
    t0 = as_of - timedelta(days=p.validate_delta_days)
    out = outcomes(tables, t0, as_of)
    # Accounts that had posted before T: the others have nothing a model could have seen.
    seen = active_before(tables.posts, t0)
    out = out.join(seen, on="account_id", how="semi")
    result: dict[str, Any] = {
        "scored_at": t0.isoformat(),
        "outcome_until": as_of.isoformat(),
        "delta_days": p.validate_delta_days,
        "n_accounts": out.height,
        "reactions_source": out["reactions_source"][0] if out.height else None,
        "models": {},
    }
    for name, full in models_scored(tables, models, p, t0, post_topics_at):
        s = full.select("account_id", "score")
        del full
        j = out.join(s, on="account_id")
        x = j["score"].to_numpy()
        per = {}
        for outcome in ("n_repliers_next", "n_reactions_next"):
            y = j[outcome].to_numpy()
            rho = spearman(x, y)
            lo, hi = (None, None) if rho is None else spearman_interval(rho, out.height)
            per[outcome] = {"spearman": rho, "ci_low": lo, "ci_high": hi, "nb_glm": nb_fit(y, x)}
        result["models"][name] = per
    return result


def planted_roles(
    scores: dict[str, pl.DataFrame], truth: pl.DataFrame, p: ModelParams
) -> dict[str, Any]:
    """AUC per model for positives vs negatives, and experts alone vs negatives."""
    roles = truth.select("account_id", "role")
    res: dict[str, Any] = {
        "positive": list(p.roles_positive),
        "negative": list(p.roles_negative),
        "models": {},
    }
    for name, df in scores.items():
        # the truth file's ids in the scores' type (categorical as the stages hold them)
        mine = roles.with_columns(pl.col("account_id").cast(df.schema["account_id"]))
        j = df.select("account_id", "score").join(mine, on="account_id")
        neg = j.filter(pl.col("role").is_in(list(p.roles_negative)))
        both = pl.concat([j.filter(pl.col("role").is_in(list(p.roles_positive))), neg])
        experts = pl.concat([j.filter(pl.col("role") == "expert"), neg])
        value = auc(both["score"].to_numpy(), both["role"].is_in(list(p.roles_positive)).to_numpy())
        n_pos = int(both.height - neg.height)
        lo, hi = (None, None) if value is None else auc_interval(value, n_pos, neg.height)
        res["models"][name] = {
            "auc": value,
            "ci_low": lo,
            "ci_high": hi,
            "auc_experts": auc(
                experts["score"].to_numpy(), (experts["role"] == "expert").to_numpy()
            ),
            "n_positive": n_pos,
            "n_negative": neg.height,
        }
    return res


def reputation(scores: dict[str, pl.DataFrame], accounts: pl.DataFrame) -> dict[str, Any] | None:
    """Spearman of each model with the platform's own reputation, where the platform has one."""
    rep = accounts.filter(pl.col("platform_score").is_not_null()).select(
        "account_id", "platform_score"
    )
    if rep.height == 0:
        return None
    res: dict[str, Any] = {"note": REPUTATION_NOTE, "models": {}}
    for name, df in scores.items():
        j = df.select("account_id", "score").join(rep, on="account_id")
        res["models"][name] = {
            "spearman": spearman(j["score"].to_numpy(), j["platform_score"].to_numpy()),
            "n_accounts": j.height,
        }
    return res


def missing_inputs(scores: dict[str, pl.DataFrame]) -> dict[str, list[str]]:
    """Inputs each model had to do without (from its ``missing_inputs`` column)."""
    out = {}
    for name, df in scores.items():
        val = df["missing_inputs"][0] if df.height and "missing_inputs" in df.columns else ""
        out[name] = [m for m in (val or "").split(", ") if m]
    return out


def scores_at(
    tables: Tables,
    names: list[str],
    p: ModelParams,
    as_of: datetime,
    post_topics_at: Callable[[datetime], pl.DataFrame] | None = None,
) -> dict[str, pl.DataFrame]:
    """Every model (and every peer the data allows) scored at ``as_of``, from before it only.

    Models see the tables as known at ``as_of`` (``common.timed_view`` inside each model);
    topic-sensitive models get topics fitted on posts before ``as_of`` (``post_topics_at``),
    never the run's topics, which were fitted on the whole dump.
    """
    from analysis import models as registry
    from analysis.models import peers

    models = {name: registry.get(name) for name in names}
    out = dict(models_scored(tables, models, p, as_of, post_topics_at))
    out.update(peers.peer_scores(tables, as_of))
    return out


def models_scored(
    tables: Tables,
    models: dict[str, Any],
    p: ModelParams,
    as_of: datetime,
    post_topics_at: Callable[[datetime], pl.DataFrame] | None = None,
) -> Iterator[tuple[str, pl.DataFrame]]:
    """(name, scores at ``as_of``) of each model of ``models``, in order.

    As the score stage hands them (``stages.score.score_all``): the topics fitted before
    ``as_of`` (``post_topics_at``; None: those of ``tables``) are made at the first model that
    reads them (``base.READS_TOPICS_FLAG``), handed to those models alone and let go after
    the last; the other models see none, and no topics are fitted where no model reads
    them. Handed to every model, they stood through the scoring of the models after
    ``network_topic``: about two rows a post, beside conversation_eb's working set,
    validate's peak. The models that read no topics share one copy of the tables (one
    ``common.present_at`` per date among them; the readers' copy computes its own)."""
    readers = [n for n, m in models.items() if getattr(m, READS_TOPICS_FLAG, False)]
    plain, topical = replace(tables, post_topics=None), None
    for name, module in models.items():
        if topical is None and name in readers:
            topical = (
                tables
                if post_topics_at is None
                else replace(tables, post_topics=post_topics_at(as_of))
            )
        yield name, module.score(topical if name in readers else plain, p, as_of)
        if readers and name == readers[-1]:
            topical = None


def _or_nan(r: float | None) -> float:
    """A rank correlation, NaN where it is undefined (not where it is 0)."""
    return np.nan if r is None else r


def conversation_after(posts: pl.DataFrame, t: datetime) -> pl.DataFrame:
    """``account_id, conversation``: the distinct other accounts responding to each account
    from ``t`` on (:func:`ranking`'s outcome; :data:`IS_RESPONSE`)."""
    scoped = common.scoped_posts(
        posts.select(EDGE_COLUMNS), posts["created_at"].max() + timedelta(seconds=1), 1.0, None
    )
    late = common.reply_edges(scoped).filter((pl.col("created_at") >= t) & IS_RESPONSE)
    return (
        late.group_by("dst")
        .agg(conversation=pl.col("src").n_unique())
        .rename({"dst": "account_id"})
    )


def ranking(
    tables: Tables,
    scores_at: Callable[[datetime], dict[str, pl.DataFrame]],
    split_quantile: float,
    n_boot: int,
    seed: int,
    interval: float,
    comparators: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Who is engaged with later: one time split, every model and peer, paired intervals.

    ``T`` is the ``split_quantile`` of root-post times (PHEME: of source tweets). For accounts
    active before ``T``, the outcomes after ``T``: distinct other accounts replying to them
    (``conversation``) and positive reactions on their posts, retweets included
    (``approval``). Spearman's rho per score, with percentile intervals from a bootstrap over
    accounts that redraws every score on the same accounts (so differences are paired). This
    check rewards persistence (active accounts stay active) more than the within-thread test
    does; it is what the published comparisons on PHEME report, so it is kept for comparison.
    """
    posts = tables.posts
    roots = posts["created_at"].filter(posts["parent_post_id"].is_null())
    if roots.len() < 2:
        return {"skipped": "fewer than two root posts"}
    t = roots.sort()[int(split_quantile * (roots.len() - 1))].replace(
        minute=0, second=0, microsecond=0
    )  # a whole hour, not one post's exact time (it goes to models.json)
    active = active_before(posts, t)
    conv = conversation_after(posts, t)
    appr = (
        tables.reactions.filter(
            pl.col("kind").is_in(list(common.POSITIVE_REACTIONS))
            & pl.col("created_at").is_not_null()
            & (pl.col("created_at") >= t)
        )
        .join(posts.select("post_id", pl.col("account_id").alias("author")), on="post_id")
        .filter(
            pl.col("actor_account_id").is_null() | (pl.col("actor_account_id") != pl.col("author"))
        )
        .group_by("author")
        .agg(approval=pl.len())
        .rename({"author": "account_id"})
    )
    from analysis import ordering
    from analysis.models.bootstrap import paired_differences

    base = (
        ordering.sort_accounts(
            active.filter(pl.col("account_id") != schema.NONPARTICIPANT_ID),
            posts.select(order_columns(posts)),
        )
        .join(conv, on="account_id", how="left")
        .join(appr, on="account_id", how="left")
        .with_columns(pl.col("conversation", "approval").fill_null(0))
    )
    scores = scores_at(t)
    x = {
        name: base.join(s.select("account_id", "score"), on="account_id", how="left")["score"]
        .fill_null(0.0)
        .to_numpy()
        for name, s in scores.items()
    }

    def draws() -> Iterator[np.ndarray]:
        """The bootstrap's resampled rows, drawn again for each score (one draw held at a
        time, not n_boot x accounts); the same seed gives the same draws every time."""
        rng = np.random.default_rng(seed)
        for _ in range(n_boot):
            yield rng.integers(0, base.height, base.height)

    alpha = (1 - interval) / 2
    out: dict[str, Any] = {
        "scored_at": t.isoformat(),
        "split_quantile": split_quantile,
        "n_accounts": base.height,
        "n_with_outcome": {o: int((base[o] > 0).sum()) for o in ("conversation", "approval")},
        "models": {},
        "paired": {},
    }
    for outcome in ("conversation", "approval"):
        y = base[outcome].to_numpy()
        boots = {}
        for name, xs in x.items():
            rho = spearman(xs, y)
            b = (
                np.array([_or_nan(spearman(xs[i], y[i])) for i in draws()])
                if rho is not None
                else None
            )
            boots[name] = b
            ok = b is not None and np.isfinite(b).any()
            out["models"].setdefault(name, {})[outcome] = {
                "spearman": rho,
                "ci_low": float(np.nanquantile(b, alpha)) if ok else None,
                "ci_high": float(np.nanquantile(b, 1 - alpha)) if ok else None,
            }
        estimates = {n: out["models"][n][outcome]["spearman"] for n in x}
        out["paired"][outcome] = paired_differences(estimates, boots, comparators, alpha)
    return out
