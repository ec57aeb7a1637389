"""The writeup's slope of conversation on reach comes with its interval.

Demo run: "Conversation percentile regressed on reach percentile (OLS, n = 196): slope -0.016,
R² 2.67e-04", a claim (reach says nothing about conversation) without an interval.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from analysis import contracts, divergence

K = 10


def _fit(n: int = 60, seed: int = 3) -> dict:
    rng = np.random.default_rng(seed)
    ids = [f"a{i:03d}" for i in range(n)]
    x = rng.uniform(0, 100, n)
    y = 0.3 * x + rng.normal(0, 20, n)
    reach = pl.DataFrame({"account_id": ids, "score_pct": x})
    conv = pl.DataFrame({"account_id": ids, "score_pct": y})
    _, fit = divergence.divergence(reach, conv, divergence.DivergenceParams())
    return fit


def test_the_slope_has_the_classical_ols_interval() -> None:
    fit = _fit()
    import statsmodels.api as sm

    # the scores' percentiles as given (every account placed), statsmodels' interval
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 100, 60)
    y = 0.3 * x + rng.normal(0, 20, 60)
    want = sm.OLS(y, sm.add_constant(x)).fit().conf_int(0.05)[1]
    assert fit["slope_ci_low"] == pytest.approx(want[0], rel=1e-9)
    assert fit["slope_ci_high"] == pytest.approx(want[1], rel=1e-9)
    assert fit["slope_ci_low"] < fit["slope"] < fit["slope_ci_high"]


def test_the_writeup_prints_the_slope_with_its_interval() -> None:
    from analysis.report.methodology import WriteupContext, methodology_markdown
    from analysis.report.params import Params

    fit = _fit()
    fit.pop("reach_missing"), fit.pop("reach_missing_platforms")
    dv = contracts.DivergenceResult.model_validate(
        {
            "as_of": "2026-07-01T00:00:00+00:00",
            "models": {"reach": "reach", "conversation": "conversation"},
            "quadrants": {q: {"n": 15, "share": 0.25} for q in divergence.QUADRANTS.values()},
            "thresholds_pct": {"reach": 50.0, "conversation": 50.0},
            "reach_missing": False,
            "ols": fit,
        }
    )
    params = {"privacy": {"min_cell_k": K}, "report": {"figure_format": "none"}}
    ctx = WriteupContext(
        params=Params.of(params),
        ingest=None,
        topics_metrics=None,
        validity=None,
        compare=None,
        divergence=dv,
        tables={},
        figures={},
    )
    md = methodology_markdown(ctx)
    line = next(ln for ln in md.splitlines() if "regressed on reach" in ln)
    assert "95 % interval" in line, line
    # a result written before the interval says the slope is not a finding
    old = dv.model_copy(update={"ols": dv.ols.model_copy(update={"slope_ci_low": None})})
    line = next(
        ln
        for ln in methodology_markdown(
            ctx.__class__(**{**ctx.__dict__, "divergence": old})
        ).splitlines()
        if "regressed on reach" in ln
    )
    assert "not a finding" in line, line
