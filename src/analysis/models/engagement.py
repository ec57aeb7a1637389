"""Model ``engagement``: positive reactions per post, as a rate shrunk toward the community's.

A raw rate rewards luck: one post with five likes beats a hundred posts with four each. So the
rate is estimated with empirical-Bayes (gamma-Poisson) shrinkage:

1. Per account ``i`` (aggregates, not per post: a per-post GLM costs minutes and gigabytes):
   ``y_i`` = decay-weighted reactions received, ``E_i`` = decay-weighted number of posts.
2. A statsmodels negative-binomial model with an intercept only and exposure ``E_i`` gives the
   community rate ``mu`` and the overdispersion ``alpha`` (Poisson if alpha collapses to ~0,
   then the prior is taken as very wide: no shrinkage to speak of).
3. The prior on an account's rate is Gamma(shape = 1/alpha, rate = 1/(alpha mu)), and its
   posterior mean is ``(y_i + 1/alpha) / (E_i + 1/(alpha mu))``, with standard error
   ``sqrt(y_i + 1/alpha) / (E_i + 1/(alpha mu))``.

The posterior mean is ``B_i * y_i/E_i + (1 - B_i) * mu`` with ``B_i = E_i / (E_i + 1/(alpha mu))``,
which gives the two components that add up to the score: ``c_own_rate`` (the account's own
evidence) and ``c_community_prior`` (what is borrowed from everyone). The plain median of
reactions per post is written beside it (``median_reactions_per_post``), unshrunk.
"""

from __future__ import annotations

import logging
import warnings
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from analysis.models import common, fits
from analysis.models.base import Model, Tables
from analysis.models.params import ModelParams, NoParams, model_params

log = logging.getLogger(__name__)

NAME = "engagement"
TITLE = "Engagement (reactions per post, shrunk toward the community rate)"
UNIT = "reactions per post"
OBS = "posts it wrote"
COMPONENTS = {
    "c_own_rate": "its own reactions-per-post rate, weighted by how much evidence it has",
    "c_community_prior": "the community's rate, borrowed where its own evidence is thin",
}

#: Modules its fit imports when it runs (1.1-1.7 s: pandas and scipy.stats come with them); the
#: ``score`` stage imports them on a thread while the models ahead of this one run.
SLOW_IMPORTS = ("statsmodels.discrete.discrete_model",)

#: No params of its own (its ``models.scored`` line is ``{}``).
Params = NoParams
EXTRA = ("median_reactions_per_post", "shrinkage_weight")


def fit_prior(y: np.ndarray, exposure: np.ndarray) -> tuple[float, float, str]:
    """Community rate ``mu`` and overdispersion ``alpha`` from per-account totals.

    Fits ``y ~ 1`` with ``log(exposure)`` offset by statsmodels' negative binomial (NB2); falls
    back to the pooled Poisson rate (alpha = 0) when the fit fails or there is too little data.
    """
    keep = exposure > 0
    # The accounts in the order of their values, not of their pseudonyms: the sums and the
    # fit's iterations (BFGS stops within a tolerance) then give the same bits under any key
    # (sorted by pseudonym, another key moved engagement's incremental coefficient on beer by
    # 2e-5, its interval's bound by 4e-6).
    order = np.lexsort((exposure[keep], y[keep]))
    y, exposure = y[keep][order], exposure[keep][order]
    if y.size == 0:
        return 0.0, 0.0, "none (no posts)"
    pooled = float(y.sum() / np.sort(exposure).sum())
    if y.size < 5 or y.sum() == 0:
        return pooled, 0.0, "pooled Poisson rate (too few accounts for a dispersion fit)"
    # the module, not statsmodels.api (the same class; the api also imports its datasets,
    # graphics and formula modules: ~1 s more of the score stage)
    from statsmodels.discrete.discrete_model import NegativeBinomial

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = NegativeBinomial(
                y, np.ones((y.size, 1)), exposure=exposure, loglike_method="nb2"
            ).fit(disp=0, maxiter=200)
        mu, alpha = float(np.exp(res.params[0])), float(res.params[-1])
        if not (np.isfinite(mu) and np.isfinite(alpha)) or alpha <= 1e-8:
            raise ValueError(f"degenerate fit mu={mu} alpha={alpha}")
        return mu, alpha, "negative binomial (NB2) GLM, intercept + log(posts) exposure"
    except Exception as exc:  # statsmodels raises several kinds on flat or tiny data
        log.info("engagement: NB fit failed (%s); using the pooled Poisson rate", exc)
        return pooled, 0.0, "pooled Poisson rate (NB fit failed)"


def score(tables: Tables, params: ModelParams, as_of: datetime) -> pl.DataFrame:
    """Score every participant by shrunk reactions per post before ``as_of``."""
    p = model_params(params)
    tables, excluded = common.timed_view(tables, as_of)
    half_life, window = common.timing(p)
    posts = common.scoped_posts(tables.posts, as_of, half_life, window)
    missing = common.missing_reaction_inputs(posts, tables.reactions)
    per_post = common.post_reactions(posts, tables.reactions, as_of)
    agg = (
        per_post.group_by("account_id")
        .agg(
            y=common.ordered_sum(pl.col("w") * pl.col("n_reactions")),
            exposure=common.ordered_sum(pl.col("w")),
            median_reactions_per_post=pl.col("n_reactions").median(),
            n_obs=pl.len(),
        )
        .sort("account_id")
    )
    y = agg["y"].to_numpy()
    e = agg["exposure"].to_numpy()
    mu, alpha, method = fit_prior(y, e)
    log.info("engagement: community rate %.3f per post, alpha %.3f (%s)", mu, alpha, method)
    fits.note(
        NAME, as_of, method, int((e > 0).sum()), community_rate=mu, overdispersion_alpha=alpha
    )
    # Prior rate parameter b = 1/(alpha mu); alpha = 0 means no overdispersion is detectable,
    # a flat prior (b -> 0): the own rate stands alone.
    b = 1.0 / (alpha * mu) if alpha > 0 and mu > 0 else 0.0
    a = mu * b
    per = (
        agg.with_columns(
            shrinkage_weight=pl.col("exposure") / (pl.col("exposure") + b),
        )
        .with_columns(
            c_own_rate=pl.col("shrinkage_weight") * pl.col("y") / pl.col("exposure"),
            c_community_prior=(1 - pl.col("shrinkage_weight")) * mu,
            score=(pl.col("y") + a) / (pl.col("exposure") + b),
            score_se=(pl.col("y") + a).sqrt() / (pl.col("exposure") + b),
        )
        .with_columns(pl.col("c_own_rate").fill_nan(0.0))
    )
    per = per.select(
        "account_id", "score", "score_se", "n_obs", "c_own_rate", "c_community_prior", *EXTRA
    )
    missing = missing + excluded
    out = common.finish(per, tables, NAME, as_of, half_life, window, missing, extra=EXTRA)
    # Participants with no post in scope carry no evidence: they get the prior, not zero.
    no_posts = pl.col("n_obs") == 0
    return out.with_columns(
        score=pl.when(no_posts).then(mu).otherwise(pl.col("score")),
        c_community_prior=pl.when(no_posts).then(mu).otherwise(pl.col("c_community_prior")),
        score_se=pl.when(no_posts & (b > 0))
        .then(np.sqrt(a) / b if b > 0 else None)
        .otherwise(pl.col("score_se")),
        median_reactions_per_post=pl.when(no_posts)
        .then(None)
        .otherwise(pl.col("median_reactions_per_post")),
    ).pipe(common.rank_again)


if TYPE_CHECKING:  # a type checker verifies this module against the model protocol
    from analysis.models import engagement as _self

    _protocol_check: Model = _self
