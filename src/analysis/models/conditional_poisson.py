"""Conditional (fixed-effects) Poisson regression by Newton's method, with bootstrap weights.

The estimator of the within-thread test (``analysis.models.within_thread_fit``): one fixed
effect per competition, conditioned out of the likelihood; without weights it equals
statsmodels' ``ConditionalPoisson``. Pure numpy.
"""

from __future__ import annotations

import numpy as np


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
