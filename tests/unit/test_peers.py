"""Comparators that are not Resonance models: follower count at T and the cascade influence of
Rizoiu et al. (2018) (``analysis.models.peers``)."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

import numpy as np
import polars as pl
import pytest

from analysis import schema
from analysis.models import peers
from analysis.models.base import Tables

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def test_cascade_influence_by_hand_on_three_events() -> None:
    # events at 0, 10, 20 s with magnitudes 100, 1, 1 and no decay
    t = np.array([0.0, 10.0, 20.0])
    m = np.array([100.0, 1.0, 1.0])
    phi = peers.cascade_phi(t, m, r=0.0, beta=1.0)
    # event 1 comes from event 0 with p=1; event 2 from 0 with 100/101, from 1 with 1/101
    p02, p12 = 100 / 101, 1 / 101
    assert phi[2] == 0.0
    assert phi[1] == pytest.approx(p12)
    assert phi[0] == pytest.approx(1 * (1 + phi[1]) + p02)
    # decay moves attribution to recent events
    fast = peers.cascade_phi(t, m, r=1.0, beta=1.0)
    assert fast[1] > phi[1]


def _tables() -> Tables:
    posts = schema.conform(
        pl.DataFrame(
            {
                "post_id": ["p1", "p2", "p3"],
                "platform": "twitter",
                "account_id": ["a", "b", "a"],
                "kind": "post",
                "created_at": [T0, T0 + timedelta(hours=1), T0 + timedelta(days=5)],
                "text": ["x", "y", "z"],
                "follower_count": [10, 1000, 99_999],
            }
        ),
        "posts",
    )
    reactions = schema.conform(
        pl.DataFrame(
            {
                "reaction_id": ["r1", "r2", "r3"],
                "platform": "twitter",
                "post_id": ["p1", "p1", "p2"],
                "kind": "boost",
                "created_at": [T0 + timedelta(minutes=m) for m in (5, 70, 90)],
                "actor_account_id": ["b", "c", "a"],
            }
        ),
        "reactions",
    )
    accounts = schema.conform(
        pl.DataFrame({"account_id": ["a", "b"], "platform": "twitter", "follower_count": [1, 1]}),
        "accounts",
    ).with_columns(is_participant=pl.lit(True))
    return Tables(accounts, posts, reactions)


def test_peers_use_nothing_after_t() -> None:
    t = _tables()
    at = T0 + timedelta(days=1)
    f = dict(peers.follower_count(t, at).iter_rows())
    assert f == {"a": 10.0, "b": 1000.0}  # a's later 99,999 is the future
    c = dict(peers.cascade_influence(t, at).iter_rows())
    assert c["a"] > 0 and set(c) == {"a", "b", "c"}
    # before any repost there is no cascade at all
    assert peers.cascade_influence(t, T0 + timedelta(minutes=1)) is None
    assert set(peers.peer_scores(t, T0 + timedelta(minutes=1))) == {"follower_count"}


def birdspotter_influence() -> ModuleType:
    """The ``birdspotter`` package's own estimator (``birdspotter/user_influence.py``).

    ``make setup`` installs the package without its dependencies (it pins xgboost 0.81 and the
    withdrawn ``sklearn`` name for its bot classifier, which we do not use), so the package's
    ``__init__`` cannot be imported; the estimator module needs only numpy and pandas and is
    loaded from its file.
    """
    spec = importlib.util.find_spec("birdspotter")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("birdspotter is not installed (make setup installs it)")
    path = Path(next(iter(spec.submodule_search_locations))) / "user_influence.py"
    mod_spec = importlib.util.spec_from_file_location("birdspotter_user_influence", path)
    assert mod_spec is not None and mod_spec.loader is not None
    module = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(module)
    return module


def birdspotter_phi(bs: ModuleType, t: np.ndarray, m: np.ndarray, r: float, beta: float):
    """Influence per event as birdspotter computes it, minus the event itself (its ``1 +``)."""
    import pandas as pd

    cascade = pd.DataFrame({"time": t - t[0], "magnitude": m})
    p = bs.P(cascade, r=-r, beta=beta)  # birdspotter's r is negative: exp(r * dt)
    influence, _ = bs.influence(p, None)
    return influence - 1.0


def test_cascade_phi_equals_the_birdspotter_package_on_random_cascades() -> None:
    bs = birdspotter_influence()
    rng = np.random.default_rng(7)
    for n in (1, 2, 3, 8, 40):
        for r, beta in ((peers.CASCADE_DECAY_PER_S, 1.0), (1e-3, 1.0), (0.0, 1.0)):
            t = np.sort(rng.exponential(3600.0, n)).cumsum()
            t[1:2] = t[0]  # a repost in the original's second: the original triggers it
            m = np.floor(rng.lognormal(4.0, 2.5, n))
            m[rng.random(n) < 0.2] = 0.0  # zero followers: both take it as 1
            ours = peers.cascade_phi(t, np.clip(m, 1.0, None), r, beta)
            theirs = birdspotter_phi(bs, t, m, r, beta)
            np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12, err_msg=f"n={n}")
    # the comparison can fail: a different decay gives other numbers
    t, m = np.array([0.0, 10.0, 5000.0]), np.array([100.0, 1.0, 1.0])
    assert not np.allclose(peers.cascade_phi(t, m, 1e-3, 1.0), birdspotter_phi(bs, t, m, 1e-5, 1.0))


def test_reposts_in_the_same_second_do_not_trigger_each_other_whatever_their_order() -> None:
    """birdspotter lets the earlier of two simultaneous rows trigger the later, so its result
    depends on the rows' order (PHEME's retweets have one-second resolution). Ours: an event
    triggers only later ones; the original also those of its own second."""
    t = np.array([0.0, 5.0, 5.0, 5.0, 9.0])
    m = np.array([50.0, 10.0, 300.0, 1.0, 1.0])
    base = peers.cascade_phi(t, m, 1e-3, 1.0)
    for order in ([0, 2, 1, 3, 4], [0, 3, 2, 1, 4], [0, 1, 3, 2, 4]):
        again = peers.cascade_phi(t[order], m[order], 1e-3, 1.0)
        np.testing.assert_allclose(again, base[order], rtol=1e-12)
    # none of the simultaneous reposts is another's descendant: together they share only the
    # last event with the original, whose descendants are all four
    assert 0.0 < base[1:4].sum() < 1.0 and base[4] == 0.0
    assert base[0] == pytest.approx(4.0)
    # the original's own second: reposts at its time are its descendants
    same = peers.cascade_phi(np.array([0.0, 0.0, 0.0]), np.ones(3), 1e-3, 1.0)
    assert same.tolist() == [2.0, 0.0, 0.0]


def user_influence_by_birdspotter(bs: ModuleType, tables: Tables, as_of: datetime) -> dict:
    """Each user's mean event influence, birdspotter's estimator over our cascade events."""
    events = peers.cascade_events(tables, as_of)
    assert events is not None
    rows = []
    for (_,), g in events.group_by("post_id", maintain_order=True):
        phi = birdspotter_phi(
            bs, g["t"].to_numpy(), g["m"].to_numpy(), peers.CASCADE_DECAY_PER_S, 1.0
        )
        rows.append(g.select("account_id").with_columns(phi=pl.Series(phi)))
    users = pl.concat(rows).group_by("account_id").agg(pl.col("phi").mean())
    return dict(users.iter_rows())


def test_cascade_influence_equals_birdspotter_per_user() -> None:
    bs = birdspotter_influence()
    t = _tables()
    at = T0 + timedelta(days=1)
    ours = dict(peers.cascade_influence(t, at).iter_rows())
    theirs = user_influence_by_birdspotter(bs, t, at)
    assert ours.keys() == theirs.keys()
    for account, score in ours.items():
        assert score == pytest.approx(theirs[account], rel=1e-9, abs=1e-12)
