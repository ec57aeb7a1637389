"""The words ``explain`` prints beside a component say what the column holds: a reader who
checks a component against its description (and the counts printed beside it) gets the same
number."""

from __future__ import annotations

import math

from analysis.models import conversation, klout_like
from analysis.models.params import ModelParams
from tests.unit.test_models import AS_OF, make_tables


def test_conversation_components_are_described_as_decay_weighted() -> None:
    """b replied to a 60 days before ``as_of`` (half-life 30: weight 1/4). ``c_repliers`` is
    log(1 + 1/4), not log(1 + the 1 distinct replier printed beside it as ``n repliers``): the
    words said "log(1 + distinct people who replied to it)" (demo: 191 of 191 accounts with a
    replier had c_repliers != log(1 + n_repliers), by up to 1.47)."""
    posts = [
        ("r", "a", 40, None, None),
        ("b1", "b", 40, "r", None),
        ("a1", "a", 40.1, "b1", None),
    ]
    row = next(
        r
        for r in conversation.score(make_tables(posts), ModelParams(), AS_OF).iter_rows(named=True)
        if r["account_id"] == "a"
    )
    assert row["n_repliers"] == 1 and row["n_reciprocal"] == 1
    assert math.isclose(row["c_repliers"], math.log1p(0.25), rel_tol=1e-6)
    assert not math.isclose(row["c_repliers"], math.log1p(row["n_repliers"]))
    for c in ("c_repliers", "c_reciprocal", "c_threads"):
        assert "weighted" in conversation.COMPONENTS[c], c


def test_klout_network_is_described_as_the_engagers_engaged_audience() -> None:
    """e, with 5,000 followers and no engager of its own, replied to a: a's c_network is 0
    (the engagers' engagers), while the words said "how large the reach of those who engaged
    with it is", and the docstring "the sum of the True Reach" (followers included)."""
    posts = [
        ("p", "a", 95, None, None),
        ("e1", "e", 96, "p", None),
    ]
    t = make_tables(posts, followers={"a": 10, "e": 5000})
    out = klout_like.score(t, ModelParams(), AS_OF)
    a = next(r for r in out.iter_rows(named=True) if r["account_id"] == "a")
    assert a["c_network"] == 0.0 and a["c_reach"] > 0
    words = klout_like.COMPONENTS["c_network"].lower()
    assert "reach" not in words and "engaged with those who engaged" in words
    assert "followers are not counted" in (klout_like.__doc__ or "")


def test_explain_prints_the_percentile_of_the_score_file() -> None:
    """``explain`` printed the rank it counted itself and never the ``score_pct`` the score
    file and every published table carry (two accounts tied at 0 ranked "k of N" without the
    percentile that says they tie)."""
    from datetime import UTC, datetime

    from analysis.explain import explain_model

    row = {
        "score": 0.0,
        "score_pct": 24.75,
        "score_se": None,
        "n_obs": 0,
        "c_posts": 0.0,
        "c_replies": 0.0,
        "as_of": datetime(2024, 6, 1, tzinfo=UTC),
        "window_start_at": None,
        "half_life_days": 30.0,
        "missing_inputs": "",
    }
    text = explain_model("volume", row, 1352, 1017)
    assert "ranked 1018 of the 1352 scored participants (1017 score higher; percentile 24.8)" in (
        text
    )
    top = explain_model("volume", {**row, "score": 9.0, "score_pct": 100.0}, 1352, 0)
    assert "the highest of the 1352 scored participants (percentile 100.0)" in top
