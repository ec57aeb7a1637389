"""The methodology writeup states the time weighting and each model's own params as this run
used them, not the defaults a docstring assumes."""

from __future__ import annotations

from pathlib import Path

from analysis.stages import report as stage
from tests.unit.test_report import params

__all__ = ["params"]  # the fixture


def _models_section(tmp_path: Path, params: dict, models: dict) -> str:
    stage.write_report(tmp_path, {**params, "models": models})
    md = (tmp_path / "reports/methodology.md").read_text()
    return md[md.index("## 4.") : md.index("## 5.")]


def test_writeup_states_each_model_s_own_params_of_the_run(tmp_path: Path, params: dict) -> None:
    """klout_like at a 45-day window and conversation_eb at 12 items: the writeup named the
    params (``models.scored.klout_like.window_days``) but printed no value of any of them."""
    text = _models_section(
        tmp_path,
        params,
        {
            "half_life_days": 21,
            "scored": {
                "volume": {},
                "klout_like": {"window_days": 45},
                "conversation_eb": {"half_life_items": 12, "own_prior_items": 4},
            },
        },
    )
    assert "Params of this run (`models.scored.klout_like`): `window_days` = 45." in text
    eb = text[text.index("(`conversation_eb`)") :]
    assert "`half_life_items` = 12" in eb and "`own_prior_items` = 4" in eb
    assert "`clique_power` = 2" in eb  # a default, filled in: what the run used
    assert "Params of this run (`models.scored.volume`)" not in text  # none of its own
    assert "eb_" not in eb  # the params' names as params.yaml spells them (no stale eb_ prefix)
    klout = text[text.index("(`klout_like`)") : text.index("(`conversation_eb`)")]
    assert "91 days" not in klout and "89" not in klout
    assert "half-life of 21 days" in text


def test_a_hard_window_is_not_described_as_decay(tmp_path: Path, params: dict) -> None:
    """With ``models.window_days`` a hard window switches decay off (``common.timing``); the
    writeup said "weighted by age with a half-life of 30 days, within a hard window of 60 days"."""
    text = _models_section(tmp_path, params, {"window_days": 60, "scored": {"volume": {}}})
    assert "half-life" not in text.split("###")[0]
    assert "hard window of the 60 days" in text and "no decay" in text


def test_explain_words_of_klout_components_follow_the_window() -> None:
    """``explain`` said "in the last 90 days" of c_reach and c_amplification whatever
    ``models.scored.klout_like.window_days`` was; its period line states the real window."""
    from datetime import UTC, datetime, timedelta

    from analysis.explain import explain_model

    as_of = datetime(2024, 6, 1, tzinfo=UTC)
    row = {
        "account_id": "acct_x",
        "score": 50.0,
        "score_pct": 50.0,
        "score_se": None,
        "n_obs": 3,
        "c_base": 1.0,
        "c_reach": 20.0,
        "c_amplification": 19.0,
        "c_network": 10.0,
        "as_of": as_of,
        "window_start_at": as_of - timedelta(days=45),
        "half_life_days": None,
        "missing_inputs": "",
    }
    text = explain_model("klout_like", row, 10, 4)
    assert "90 days" not in text
    assert "activity from 2024-04-17" in text
