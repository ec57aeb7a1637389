"""The baselines (volume, reach, klout_like) are comparators, never candidates, whatever
``validate.comparators`` lists.

With ``validate.comparators: [volume]`` (a user dropping the other two), the validate stage
wrote ``comparators: [volume]`` to validity.json, and the rule took ``reach`` for a candidate:
ahead of volume with a paired interval above zero and passing every gate (on the demo reach
passes all nine), it was the recommended model.
"""

from __future__ import annotations

from analysis import compare_rule
from analysis.compare import CompareParams
from analysis.config import section
from analysis.models.within_thread import ValidateParams
from tests.unit.test_compare import _robust, _validity

BASELINES = ("volume", "reach", "klout_like")


def test_a_params_list_without_reach_still_keeps_it_a_comparator() -> None:
    vp = section({"validate": {"comparators": ["volume"]}}, "validate", ValidateParams)
    assert set(BASELINES) <= set(vp.comparators)
    assert vp.comparators[: len(BASELINES)] == BASELINES
    assert ValidateParams(comparators=("volume", "noise")).comparators == (*BASELINES, "noise")


def test_reach_is_never_recommended_when_params_leave_it_out_of_the_comparators() -> None:
    vp = section({"validate": {"comparators": ["volume"]}}, "validate", ValidateParams)
    robust = {m: _robust(0.0, 0.0, 0.0, 0.0) for m in ("volume", "reach", "talk")}
    # reach draws the most conversation and passes every gate
    val = _validity({"volume": 0.1, "reach": 0.9, "talk": 0.4}, comparators=vp.comparators)
    rec = compare_rule.recommend(robust, val, CompareParams())
    assert "reach" not in rec["candidates"]
    assert rec["recommended_model"] != "reach"
    q = rec["by_question"]["whose contributions draw conversation"]
    assert "reach" not in q["qualifying"] and "reach" in q["comparators"]
