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
    fam = _FAMILY
    var_weights = np.ones(y.shape[0])
    iweights = np.asarray(freq_weights * var_weights)
    scale = 1.0
    mu = fam.starting_mu(y)
    lin_pred = fam.predict(mu)
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
    mu = fam.fitted(np.dot(x, beta) + offset + 0.0)
    llf = fam.loglike(y, mu, var_weights=var_weights, freq_weights=freq_weights, scale=scale)
    return beta, float(llf)
