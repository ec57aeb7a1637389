"""Poisson GLM with an offset and frequency weights, fitted step for step as statsmodels'
``GLM(y, x, family=Poisson(), offset=offset, freq_weights=w).fit()`` fits it (pure).

The incremental-validity check (``models.incremental``) refits every model on every bootstrap
draw: 2 outcomes x (1 + n_boot) x models fits. statsmodels spends most of each fit outside
the fit itself: the rank of the design (an SVD) when the model is built, the results object,
and, where ``llnull`` is read, a second GLM for the null model. Here only what the coefficient
and the log-likelihood need is computed, with statsmodels' own family, least-squares and
pseudo-inverse routines in statsmodels' order, so the numbers are the same to the bit
(``tests/unit/test_poisson_irls.py`` compares them on random designs and bootstrap weights).
"""

from __future__ import annotations

import numpy as np
from statsmodels.genmod.families import Poisson
from statsmodels.regression._tools import _MinimalWLS
from statsmodels.tools.tools import pinv_extended

_FAMILY = Poisson()


def poisson_irls(
    y: np.ndarray,
    x: np.ndarray,
    offset: np.ndarray,
    freq_weights: np.ndarray,
    maxiter: int = 100,
    tol: float = 1e-8,
) -> tuple[np.ndarray, float]:
    """``(params, llf)`` of the Poisson GLM, as statsmodels' IRLS returns them.

    statsmodels' ``_fit_irls``: start at ``mu = (y + mean y) / 2``, iterate weighted least
    squares (``lstsq``) until the deviance changes by at most ``tol``, then one last weighted
    least squares by pseudo-inverse gives the coefficients; the log-likelihood is evaluated at
    them (scale 1). Raises where statsmodels raises (a NaN first deviance, non-finite working
    weights or responses).
    """
    params, mu = _irls(y, x, offset, freq_weights, maxiter, tol, None)
    llf = _FAMILY.loglike(
        y, mu, var_weights=np.ones(y.shape[0]), freq_weights=freq_weights, scale=1.0
    )
    return params, float(llf)


def poisson_null_llf(y: np.ndarray, offset: np.ndarray, freq_weights: np.ndarray) -> float:
    """statsmodels' ``llnull`` of the same GLM: the log-likelihood of the model with a
    constant only, fitted as ``GLMResults.null`` fits it (``GLM(y, ones, offset,
    freq_weights).fit(start_params=[log mean y])``, the unweighted mean)."""
    start = np.atleast_1d(_FAMILY.link(y.mean()))
    _, mu_null = _irls(y, np.ones((y.shape[0], 1)), offset, freq_weights, 100, 1e-8, start)
    return float(
        _FAMILY.loglike(
            y, mu_null, var_weights=np.ones(y.shape[0]), freq_weights=freq_weights, scale=1.0
        )
    )


def _irls(
    y: np.ndarray,
    x: np.ndarray,
    offset: np.ndarray,
    freq_weights: np.ndarray,
    maxiter: int,
    tol: float,
    start_params: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """(params, fitted mean) of :func:`poisson_irls`, started at ``start_params`` when given
    (statsmodels' ``fit(start_params=...)``: the null model's start)."""
    fam = _FAMILY
    var_weights = np.ones(y.shape[0])
    iweights = np.asarray(freq_weights * var_weights)
    scale = 1.0
    if start_params is None:
        mu = fam.starting_mu(y)
        lin_pred = fam.predict(mu)
    else:
        lin_pred = np.dot(x, start_params) + offset
        mu = fam.fitted(lin_pred)
    dev = fam.deviance(y, mu, var_weights, freq_weights, scale)
    if np.isnan(dev):
        raise ValueError("the first guess on the deviance is NaN")
    history = [np.inf, dev]
    weights = wlsendog = None
    for iteration in range(maxiter):
        weights = iweights * 1 * fam.weights(mu)
        wlsendog = lin_pred + fam.link.deriv(mu) * (y - mu) - offset
        wls = _MinimalWLS(wlsendog, x, weights, check_endog=True, check_weights=True)
        params = np.linalg.lstsq(wls.wexog, wls.wendog, rcond=-1)[0]
        lin_pred = np.dot(x, params)
        lin_pred += offset
        mu = fam.fitted(lin_pred)
        history.append(fam.deviance(y, mu, var_weights, freq_weights, scale))
        if np.allclose(history[iteration + 1], history[iteration + 2], atol=tol, rtol=0.0):
            break
    # statsmodels' closing WLS(wlsendog, x, weights).fit(method="pinv")
    w_half = np.sqrt(np.array(weights).squeeze())
    pinv_wexog, _ = pinv_extended(w_half[:, None] * x)
    beta = np.dot(pinv_wexog, wlsendog * w_half)
    return beta, fam.fitted(np.dot(x, beta) + offset + 0.0)
