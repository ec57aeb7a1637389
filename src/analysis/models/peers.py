"""Comparators that are not Resonance models (stage ``validate``; pure functions).

A claim that a model measures influence must beat the obvious and the published:

* ``follower_count``: the audience an account had at ``T`` (the latest ``posts.follower_count``
  written before ``T``, which platforms record at posting time; the export-time
  ``accounts.follower_count`` would include the future and is never read).
* ``cascade_influence``: the user influence of Rizoiu et al., "#DebateNight: the role and
  influence of socialbots on Twitter during the 1st 2016 U.S. presidential debate" (ICWSM
  2018), as in their ``birdspotter`` package. In each repost cascade (an original and its
  reposts, in time order) event ``j`` is attributed to an earlier event ``i`` with probability
  ``p_ij`` proportional to ``m_i ** beta * exp(-r (t_j - t_i))``, where ``m_i`` is the
  author's follower count (0 taken as 1); an event's influence is its expected number of
  descendants, ``phi_i = sum_j p_ij (1 + phi_j)`` (birdspotter reports ``1 + phi_i``: the same
  ranking); a user's influence is the mean over their events. Retweeters' follower counts come
  from their own posts before ``T`` where they have any, else the median of known counts.
  Defined only where the data has timed reposts (PHEME's retweets). The package's own estimator
  (``birdspotter/user_influence.py``, which ``make setup`` installs) gives the same numbers to
  1e-9 on random cascades and on every PHEME user before T (``tests/unit/test_peers.py``,
  ``tests/realdata/test_peers_real.py``).

Both return ``account_id, score`` frames like a model, so the validity tests treat them alike;
they are comparators, never candidates for recommendation.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import polars as pl

from analysis import ordering
from analysis.models import common
from analysis.models.base import Tables

#: birdspotter's defaults: the time decay per second and the exponent on follower counts.
CASCADE_DECAY_PER_S = 6.8e-5
CASCADE_BETA = 1.0
REPOST_KINDS = ("boost",)


def follower_count(tables: Tables, as_of: datetime) -> pl.DataFrame | None:
    """Latest follower count recorded on an account's posts before ``as_of`` (None: no data)."""
    known = tables.posts.filter(
        (pl.col("created_at") < as_of) & pl.col("follower_count").is_not_null()
    )
    if not known.height:
        return None
    return known.group_by("account_id").agg(score=common.latest_follower_count().cast(pl.Float64))


def cascade_phi(
    times_s: np.ndarray,
    magnitude: np.ndarray,
    r: float,
    beta: float,
    original: np.ndarray | None = None,
) -> np.ndarray:
    """Influence (expected descendants) of each event of one cascade, events in time order.

    An event can trigger only a later one: two reposts in the same second (PHEME's resolution)
    do not trigger each other, whatever order their rows come in. The original post (``original``:
    a boolean mask, the first event when None) triggers the reposts of its own second too."""
    n = times_s.size
    if n < 2:
        return np.zeros(n)
    dt = times_s[None, :] - times_s[:, None]  # dt[i, j] = t_j - t_i
    first = np.zeros(n, dtype=bool)
    if original is None:
        first[0] = True
    else:
        first[:] = original
    can = (dt > 0) | (first[:, None] & (dt == 0))
    kern = np.where(can, (magnitude[:, None] ** beta) * np.exp(-r * np.clip(dt, 0, None)), 0.0)
    kern = np.triu(kern, k=1)  # rows in time order: only earlier events can trigger later ones
    col = kern.sum(axis=0)
    p = np.divide(kern, col[None, :], out=np.zeros_like(kern), where=col[None, :] > 0)
    phi = np.zeros(n)
    for i in range(n - 2, -1, -1):  # descendants come later: solve backwards
        phi[i] = p[i, i + 1 :] @ (1.0 + phi[i + 1 :])
    return phi


def cascade_events(tables: Tables, as_of: datetime) -> pl.DataFrame | None:
    """The repost cascades before ``as_of``: one row per event, cascades and events in time order.

    Columns ``post_id`` (the cascade), ``account_id``, ``t`` (seconds since the epoch) and ``m``
    (the author's follower count at ``as_of``, 0 taken as 1), ``original`` (the post itself, not a
    repost). None: no reposts before ``as_of``.
    """
    reposts = tables.reactions.filter(
        pl.col("kind").is_in(list(REPOST_KINDS))
        & pl.col("created_at").is_not_null()
        & (pl.col("created_at") < as_of)
        & pl.col("actor_account_id").is_not_null()
    )
    if not reposts.height:
        return None
    content = ordering.content_columns(tables.posts)
    originals = tables.posts.filter(pl.col("created_at") < as_of).select(
        "post_id", "account_id", "created_at", *content
    )
    followers = follower_count(tables, as_of)
    events = pl.concat(
        [
            originals.join(reposts.select("post_id").unique(), on="post_id").select(
                "post_id", "account_id", "created_at", original=pl.lit(True)
            ),
            reposts.join(originals.select("post_id"), on="post_id").select(
                "post_id",
                pl.col("actor_account_id").alias("account_id"),
                "created_at",
                original=pl.lit(False),
            ),
        ]
    )
    if followers is not None:
        events = events.join(followers.rename({"score": "m"}), on="account_id", how="left")
        fill = float(followers["score"].median() or 0.0)
    else:
        events = events.with_columns(m=pl.lit(None, dtype=pl.Float64))
        fill = 0.0
    events = events.join(originals.select("post_id", *content), on="post_id")
    return (
        # time order, the original first in its second (ordering.sort_posts, plus that tie)
        events.with_columns(_h=ordering.hash_of(events))
        .sort("created_at", "_h", "post_id", pl.col("original").not_())
        .with_columns(
            # birdspotter: magnitude = follower count, 0 taken as 1
            m=pl.col("m").fill_null(fill).clip(lower_bound=1.0),
            t=pl.col("created_at").dt.epoch("ms").cast(pl.Float64) / 1000.0,
        )
        .select("post_id", "account_id", "t", "m", "original")
    )


def cascade_influence(
    tables: Tables, as_of: datetime, r: float = CASCADE_DECAY_PER_S, beta: float = CASCADE_BETA
) -> pl.DataFrame | None:
    """Rizoiu et al. (2018) user influence from repost cascades before ``as_of`` (None: no reposts)."""
    events = cascade_events(tables, as_of)
    if events is None:
        return None
    phis = []
    for (_,), g in events.group_by("post_id", maintain_order=True):
        phis.append(
            g.select("account_id").with_columns(
                phi=pl.Series(
                    cascade_phi(
                        g["t"].to_numpy(), g["m"].to_numpy(), r, beta, g["original"].to_numpy()
                    )
                )
            )
        )
    return pl.concat(phis).group_by("account_id").agg(score=common.ordered_mean(pl.col("phi")))


#: name -> function(tables, as_of) -> score frame or None (not available on this data).
PEERS = {"follower_count": follower_count, "cascade_influence": cascade_influence}


def peer_scores(tables: Tables, as_of: datetime) -> dict[str, pl.DataFrame]:
    """Every peer defined on this data, scored at ``as_of``."""
    out = {}
    for name, fn in PEERS.items():
        s = fn(tables, as_of)
        if s is not None and s.height:
            out[name] = s
    return out
