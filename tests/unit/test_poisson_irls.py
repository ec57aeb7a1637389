"""The lean Poisson IRLS of the incremental-validity check against statsmodels' GLM, to the bit
(``analysis.models.poisson_irls``): random designs with an offset, origin dummies and bootstrap
frequency weights (zeros included), as ``models.incremental`` fits them."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import statsmodels.api as sm

from analysis.models.poisson_irls import poisson_irls, poisson_null_llf


def _design(rng: np.random.Generator, n: int, effect: float):
    z = rng.normal(size=n)
    prior = np.log1p(rng.integers(0, 50, n).astype(float))
    since = np.log1p(rng.exponential(20, n))
    origin = rng.integers(0, 4, n)
    dummies = (origin[:, None] == np.arange(1, 4)[None, :]).astype(float)
    x = np.column_stack([z, np.ones(n), prior, since, dummies])
    offset = np.log(rng.integers(1, 6, n).astype(float))
    y = rng.poisson(np.exp(effect * z + 0.3 * prior - 1.0 + offset)).astype(float)
    return y, x, offset


def _statsmodels(y, x, offset, w, null=False):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = sm.GLM(y, x, family=sm.families.Poisson(), offset=offset, freq_weights=w).fit()
        if null:
            return res.params, res.llf, res.llnull
    return res.params, res.llf


@pytest.mark.parametrize("seed", range(12))
def test_poisson_irls_equals_statsmodels_glm_to_the_bit(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(40, 900))
    y, x, offset = _design(rng, n, effect=float(rng.normal(0, 0.4)))
    for w in (np.ones(n), np.bincount(rng.integers(0, n, n), minlength=n)):
        params, llf = poisson_irls(y, x, offset, w)
        ref_params, ref_llf = _statsmodels(y, x, offset, w)
        assert params.tobytes() == np.asarray(ref_params).tobytes()
        assert llf == ref_llf


def test_poisson_irls_on_sparse_counts_and_a_column_without_weight() -> None:
    """Mostly-zero outcomes and a dummy whose rows all drew weight 0 (rank-deficient in the
    weighted fit): statsmodels' pseudo-inverse answer, not an error."""
    rng = np.random.default_rng(5)
    n = 300
    y, x, offset = _design(rng, n, effect=0.2)
    y = np.where(rng.random(n) < 0.9, 0.0, y)
    w = np.bincount(rng.integers(0, n, n), minlength=n)
    w[x[:, -1] == 1] = 0
    params, llf = poisson_irls(y, x, offset, w)
    ref_params, ref_llf = _statsmodels(y, x, offset, w)
    assert params.tobytes() == np.asarray(ref_params).tobytes()
    assert llf == ref_llf


@pytest.mark.parametrize("seed", range(8))
def test_null_log_likelihood_equals_statsmodels_llnull_to_the_bit(seed: int) -> None:
    """The baseline's pseudo-R² denominator: statsmodels fits the constant-only model from
    log(mean y) (the unweighted mean), with the offset and the bootstrap weights."""
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(40, 900))
    y, x, offset = _design(rng, n, effect=float(rng.normal(0, 0.4)))
    if seed % 2:
        y = np.where(rng.random(n) < 0.8, 0.0, y)  # sparse counts
    for w in (np.ones(n), np.bincount(rng.integers(0, n, n), minlength=n)):
        _, _, ref = _statsmodels(y, x, offset, w, null=True)
        assert poisson_null_llf(y, offset, w) == ref
