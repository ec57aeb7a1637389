"""The words ``explain`` prints beside a component say what the column holds: a reader who
checks a component against its description (and the counts printed beside it) gets the same
number."""

from __future__ import annotations

import math

import polars as pl

from analysis.models import conversation, klout_like
from analysis.models.base import Tables
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


def test_klout_components_are_described_as_points_of_logs() -> None:
    """a (10 followers) drew one reply from e (5,000 followers, nothing drawn): a's ``c_reach``
    is 99 * (log(1 + 10) + log(1 + 1)) / log(1 + 5000) = 35.9 points, while the words said
    "True Reach: followers plus distinct people who acted on its posts" (demo, top account:
    30.74 printed beside them) and the unit "1-100, logarithmic" named no points."""
    posts = [("p", "a", 95, None, None), ("e1", "e", 96, "p", None)]
    out = klout_like.score(make_tables(posts, followers={"a": 10, "e": 5000}), ModelParams(), AS_OF)
    a = next(r for r in out.iter_rows(named=True) if r["account_id"] == "a")
    scale = 99 / math.log1p(5000)
    assert math.isclose(a["c_reach"], scale * (math.log1p(10) + math.log1p(1)), rel_tol=1e-9)
    assert math.isclose(a["c_amplification"], scale * math.log1p(1), rel_tol=1e-9)
    for c in ("c_reach", "c_amplification", "c_network"):
        words = klout_like.COMPONENTS[c]
        assert "in points" in words and "log(1 + " in words, c
    assert "log(1 + followers)" in klout_like.COMPONENTS["c_reach"]
    assert "points" in klout_like.UNIT


def test_network_counts_quotes_and_says_so() -> None:
    """b quoted a's post: the edge b -> a carries rank and is one of a's observations
    (``semantics.ATTENTION``), while OBS said "edges into it: replies" and the component
    "the people who replied to it"."""
    from analysis.models import network, network_topic

    t = make_tables([("p", "a", 90, None, None), ("q", "b", 91, "p", None)])
    quoted = t.posts.with_columns(
        kind=pl.when(pl.col("post_id") == "q").then(pl.lit("quote")).otherwise("kind")
    )
    out = network.score(t.with_posts(quoted), ModelParams(), AS_OF)
    a = next(r for r in out.iter_rows(named=True) if r["account_id"] == "a")
    assert a["n_obs"] == 1 and a["c_replies_received"] > 0
    assert "quotes" in network.OBS and "quotes" in network_topic.OBS
    assert "quoted" in network.COMPONENTS["c_replies_received"]


def test_a_topic_weighs_its_share_of_the_replies_not_of_the_posts() -> None:
    """Topic 1 holds 5 of the 8 posts and no reply: its component is 0 for everyone (the
    weight is the topic's share of the reply attention), while ``explain`` said "weighted by
    how common the topic is" (demo: topics 15 and 20, 3 % of the posts each, weigh 0). The
    plain-PageRank fallback's components read as ``network``'s, not as their column names."""
    from analysis.explain import explain_model
    from analysis.models import network, network_topic

    posts = [
        ("q", "a", 90, None, None),
        ("r1", "b", 91, "q", None),
        ("r2", "c", 91, "q", None),
        *[(f"s{i}", "d", 92 + i, None, None) for i in range(5)],
    ]
    t = make_tables(posts)
    topics = pl.DataFrame(
        {
            "post_id": t.posts["post_id"],
            "topic_id": [0 if p[0] in ("q", "r1", "r2") else 1 for p in posts],
            "probability": [1.0] * len(posts),
            "is_primary": [True] * len(posts),
        }
    )
    with_topics = Tables(t.accounts, t.posts, t.reactions, post_topics=topics)
    out = network_topic.score(with_topics, ModelParams(), AS_OF)
    assert "c_topic_1" not in out.columns or out["c_topic_1"].abs().max() == 0
    row = next(r for r in out.iter_rows(named=True) if r["account_id"] == "a")
    text = explain_model("network_topic", row, out.height, 0)
    assert "share of all replies" in text and "how common" not in text
    assert "share of the replies" in network_topic.UNIT

    plain = network_topic.score(t, ModelParams(), AS_OF)
    row = next(r for r in plain.iter_rows(named=True) if r["account_id"] == "a")
    text = explain_model("network_topic", row, plain.height, 0)
    for words in network.COMPONENTS.values():
        assert words in text
