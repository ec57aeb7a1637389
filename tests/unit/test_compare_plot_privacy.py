"""The compare stage's DVC plot data (``reports/plots/compare/``) hides what the public tables
hide: every number computed over fewer than ``privacy.min_cell_k`` accounts.

Demo run (k = 10): the writeup and ``reports/public/adversaries.csv`` printed ``<k`` for the
reaction ring of 5 members, while ``reports/plots/compare/adversaries.csv`` and
``robustness.csv`` printed its gains (volume 1.019, ``ring_n_at_5`` = 5, and the old figure
``ring_gain`` = 0.513 over the same 5 accounts).
"""

from __future__ import annotations

import polars as pl
import pytest

from analysis import cf_report, paths
from analysis.counterfactual import CounterfactualParams
from analysis.stages import compare as stage

K = 10


def _point(strength: float, gain: float, n: int) -> dict:
    ci = (None, None) if n < 6 else (gain / 2, gain * 2)
    return {"strength": strength, "gain": gain, "gain_ci": ci, "gain_pts": 20.0, "n_targets": n}


def _stab(n: int, rel: float) -> dict:
    return {
        "n_accounts": n,
        "rel": rel,
        "rel_ci": (rel - 0.1, rel + 0.1),
        "beyond_placebo_rel": rel,
        "beyond_placebo_rel_ci": (rel - 0.1, rel + 0.1),
        "rel_abs": abs(rel),
        "rel_abs_ci": (0.0, abs(rel) + 0.1),
        "pts": 1.0,
        "pts_abs": 1.0,
    }


def _result(n_weekend: int, n_gaming: int) -> dict:
    """A counterfactual result (``counterfactual.run_all``'s shape) of one model: a ring of 5
    members and of 20, a weekend-off sample of ``n_weekend`` accounts, a gaming sample of
    ``n_gaming``."""
    stab = {
        "weekend_off": {"volume": _stab(n_weekend, 0.2)},
        "weekend_placebo": {"volume": _stab(n_weekend, 0.0)},
        "weekend_moved": {"volume": _stab(n_weekend, 0.1)},
        "time_off": {"volume": _stab(40, -0.2)},
        "time_off_placebo": {"volume": _stab(40, 0.0)},
    }
    volume = {
        "volume": {
            "volume_elasticity": 0.3,
            "volume_elasticity_ci": (0.1, 0.6),
            "median_rel_change": {"+100%": 0.56},
            "n_accounts": n_gaming,
        }
    }
    legacy = {
        "weekend_off": {"volume": {"median_abs": 0.1, "median": -0.1, "p90_abs": 0.5}},
        "time_off": {"volume": {"median_abs": 0.2, "median": -0.2, "p90_abs": 0.8}},
        "ring": {"volume": {"ring_gain": 0.5128}},
    }
    return {
        "baseline": {"volume": None},
        "stability": stab,
        "volume": volume,
        "adversaries": {"ring": {"volume": [_point(5, 1.0189, 5), _point(20, 2.3319, 20)]}},
        "legacy": legacy,
    }


def _write(tmp_path, monkeypatch, result: dict) -> dict[str, pl.DataFrame]:
    monkeypatch.setattr(paths, "COMPARE_PLOTS", tmp_path / "plots")
    agree = pl.DataFrame({"pair": ["a vs b"], "statistic": ["spearman"], "value": [0.5]})
    robust = cf_report.robustness_table(result)
    cfp = CounterfactualParams(gaming_multipliers=(1.0,), ring_size=5)
    stage._write_plots(agree, robust, result, cfp, K)
    return {p.name: pl.read_csv(p) for p in (tmp_path / "plots").glob("*.csv")}


def test_the_plot_data_hides_the_gain_of_a_ring_of_fewer_than_k_members(
    tmp_path, monkeypatch
) -> None:
    out = _write(tmp_path, monkeypatch, _result(n_weekend=85, n_gaming=20))
    adv = out["adversaries.csv"]
    small = adv.filter(pl.col("strength") == 5)
    assert small["gain"].is_null().all() and small["gain_pts"].is_null().all()
    assert small["n_targets"].is_null().all() and small["is_suppressed"].all()
    big = adv.filter(pl.col("strength") == 20)
    assert big["gain"].to_list() == pytest.approx([2.3319]) and big["n_targets"].to_list() == [20]
    rob = out["robustness.csv"].row(0, named=True)
    # the ring of 5, at its strength and in the old figure (the same 5 members)
    assert rob["ring_gain_at_5"] is None and rob["ring_n_at_5"] is None
    assert rob["ring_gain"] is None
    assert rob["ring_gain_at_20"] == pytest.approx(2.3319) and rob["ring_n_at_20"] == 20
    assert rob["weekend_off_bias"] == pytest.approx(0.2) and rob["volume_elasticity"] > 0


def test_the_plot_data_hides_stability_and_gaming_over_fewer_than_k_accounts(
    tmp_path, monkeypatch
) -> None:
    """A small dump: 6 accounts post at weekends, 7 are in the gaming sample."""
    out = _write(tmp_path, monkeypatch, _result(n_weekend=6, n_gaming=7))
    stab = out["stability.csv"]
    weekend = stab.filter(pl.col("scenario").str.starts_with("weekend"))
    assert weekend["bias"].is_null().all() and weekend["noise"].is_null().all()
    assert stab.filter(pl.col("scenario") == "time_off")["bias"].to_list() == [-0.2]
    rob = out["robustness.csv"].row(0, named=True)
    for col in ("weekend_off_bias", "weekend_off_median_abs", "weekend_moved_bias"):
        assert rob[col] is None, col
    assert rob["volume_elasticity"] is None and rob["volume_elasticity_ci_high"] is None
    assert rob["time_off_bias"] == pytest.approx(-0.2)
    gaming = out["gaming.csv"].filter(pl.col("volume_increase_pct") > 0)
    assert gaming["median_rel_change"].is_null().all()


def test_a_robustness_column_of_unknown_accounts_is_refused() -> None:
    """A new column must say over how many accounts it is computed before it is plotted."""
    with pytest.raises(ValueError, match="new_stat"):
        cf_report.robustness_plot_table({"volume": {"new_stat": 1.0}}, K, 5)
