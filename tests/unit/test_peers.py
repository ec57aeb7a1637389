"""Comparators that are not Resonance models: follower count at T and the cascade influence of
Rizoiu et al. (2018) (``analysis.models.peers``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

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
