"""What the models fit from everyone's data reaches the writeup (``analysis.models.fits``).

engagement's negative binomial prior (rate and overdispersion, or the pooled Poisson rate it
falls back to) and the gamma-Poisson priors of conversation_eb and conversation_rate shape
every score, yet reached only the log: the methodology, generated "from the very parameters
and results of the run", never said what they came to.
"""

from __future__ import annotations

import argparse
import json
from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from analysis import paths
from analysis.io import write_parquet
from analysis.models import common, conversation_eb, engagement, fits
from analysis.models.params import model_params
from analysis.report import methodology

MODELS = {"volume": {}, "engagement": {}, "conversation_eb": {}, "conversation_rate": {}}


@pytest.fixture(scope="module")
def demo_tables(small_demo):
    from analysis.demo_check import tables_from_demo

    return tables_from_demo(small_demo)


def test_engagement_notes_the_prior_it_scored_with(demo_tables) -> None:
    p = model_params({"models": {"scored": MODELS}})
    as_of = common.resolve_as_of(p, demo_tables.posts)
    with fits.recording() as record:
        scored = engagement.score(demo_tables, p, as_of)
    fit = record.at("engagement", as_of)
    assert fit is not None and "negative binomial" in fit.method
    # what each score borrows from the community is (1 - its weight) times the recorded rate
    borrowed = scored.filter(pl.col("shrinkage_weight") < 1)
    assert borrowed.height > 0
    mu = borrowed["c_community_prior"] / (1 - borrowed["shrinkage_weight"])
    assert np.allclose(mu.to_numpy(), fit.values["community_rate"], rtol=1e-8)
    assert fit.values["overdispersion_alpha"] > 0
    assert fit.n_accounts == scored.filter(pl.col("n_obs").fill_null(0) > 0).height
    # recording reads, never changes: the same scores without a record open
    assert engagement.score(demo_tables, p, as_of).equals(scored)


def test_nothing_is_noted_outside_a_record(demo_tables) -> None:
    p = model_params({"models": {"scored": MODELS}})
    as_of = common.resolve_as_of(p, demo_tables.posts)
    with fits.recording() as record:
        pass
    engagement.score(demo_tables, p, as_of)  # validate's and compare's re-scorings
    assert record.fits == {}


def test_conversation_eb_notes_the_scoring_date_s_prior_not_the_bands(demo_tables) -> None:
    """conversation_eb fits a prior at the scoring date and another at the bands' earlier date:
    the published scores' prior is the first; the recorded mean and strength reproduce every
    account's long-run rate of that date."""
    p = model_params({"models": {"scored": MODELS}})
    as_of = common.resolve_as_of(p, demo_tables.posts)
    with fits.recording() as record:
        conversation_eb.score(demo_tables, p, as_of)
    own = conversation_eb.Params()
    earlier = as_of - timedelta(days=own.band_refresh_days)
    now, before = record.at("conversation_eb", as_of), record.at("conversation_eb", earlier)
    assert now is not None and before is not None and now != before
    rates = conversation_eb.rates(demo_tables, p, as_of)
    m, k = now.values["community_rate"], now.values["prior_items"]
    expect = (rates["y_all"] + k * m) / (rates["e_all"] + k)
    assert np.allclose(rates["long_run_rate"].to_numpy(), expect.to_numpy(), rtol=1e-12)
    assert now.n_accounts == rates.height
    assert common.GAMMA_POISSON in now.method


def test_gamma_poisson_state_says_when_the_prior_is_at_a_clip() -> None:
    assert "as strong as its clip" in common.gamma_poisson_state(0.3, common.PRIOR_ITEMS_MAX)
    assert "weakest clip" in common.gamma_poisson_state(0.3, common.PRIOR_ITEMS_MIN)
    assert "prior mean 0" in common.gamma_poisson_state(0.0, 1.0)
    assert common.gamma_poisson_state(0.3, 7.25) == "fitted, 7.25 items of weight"
    # a frame without excess variance lands on the top clip
    flat = pl.DataFrame({"y": [2.0, 2.0, 2.0], "e": [4.0, 4.0, 4.0]})
    assert common.gamma_poisson(pl.col("y"), pl.col("e"), flat)[1] == common.PRIOR_ITEMS_MAX


def test_score_stage_writes_the_fits_and_keeps_others_when_one_model_is_rescored(
    demo_tables, tmp_path: Path, monkeypatch
) -> None:
    from analysis.stages import score as score_stage

    monkeypatch.chdir(tmp_path)
    for name, path in paths.INTERIM_TABLES.items():
        write_parquet(getattr(demo_tables, name), path)
    params = {"models": {"scored": MODELS}}
    assert score_stage.run(params, argparse.Namespace(models=[])) == 0
    fitted = json.loads(paths.SCORES_METRICS.read_text())["models"]
    assert sorted(fitted) == ["conversation_eb", "conversation_rate", "engagement"]  # not volume
    assert set(fitted["engagement"]) == {
        "method",
        "n_accounts",
        "community_rate",
        "overdispersion_alpha",
    }  # no date: the last post's second is finer than privacy.time_resolution
    assert fitted["conversation_rate"]["answered_prior_items"] > 0
    # re-scoring one model outside DVC keeps the others' entries
    assert score_stage.run(params, argparse.Namespace(models=["engagement"])) == 0
    again = json.loads(paths.SCORES_METRICS.read_text())["models"]
    assert again == fitted
    # a model dropped from models.scored loses its entry
    fewer = {"models": {"scored": {"volume": {}, "engagement": {}}}}
    assert score_stage.run(fewer, argparse.Namespace(models=["engagement"])) == 0
    assert sorted(json.loads(paths.SCORES_METRICS.read_text())["models"]) == ["engagement"]


def test_the_writeup_prints_the_fits_and_hides_them_below_k() -> None:
    fit = {
        "method": "negative binomial (NB2) GLM",
        "n_accounts": 120,
        "community_rate": 0.41234,
        "overdispersion_alpha": 1.5,
    }
    docs = methodology.model_docs(["engagement"], None, {"engagement": fit}, 10)
    text = docs["engagement"][1]
    assert (
        "Fitted at `as_of` over 120 accounts (negative binomial (NB2) GLM): "
        "`community_rate` = 0.4123, `overdispersion_alpha` = 1.5." in text
    )
    small = methodology.model_docs(
        ["engagement"], None, {"engagement": {**fit, "n_accounts": 9}}, 10
    )
    assert "0.4123" not in small["engagement"][1]
    assert "fewer than 10 accounts" in small["engagement"][1]
    assert (
        "Fitted"
        not in methodology.model_docs(["volume"], None, {"engagement": fit}, 10)["volume"][1]
    )
