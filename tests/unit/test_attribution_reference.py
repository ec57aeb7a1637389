"""``attribution.attribute`` against a plain reference: its former implementation.

The stage's version takes the engaged posts' authors and topics in one join, computes each
topic's prior from its pairs in account order and the posteriors elementwise, and builds its
rows in the output's order (no whole-table sort, no join of the ranks back). The reference
below is the former code: engagements joined to the authors, then to the topics; a Python
loop over the topics for the posteriors; the ranks of the attributed rows joined back; a final
sort. Both must give the same frame, to the bit, on random communities with every case the
stage meets: replies to missing and to outlier posts, self-replies, votes by the placeholder,
by non-participants, anonymous and own votes, posts without a topic, and ties of scores.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from analysis.attribution import _gamma_ppf, _gamma_prior, attribute
from analysis.schema import NONPARTICIPANT_ID
from analysis.topics import TopicsParams
from analysis.topics_clustering import OUTLIER


def _reference(
    posts: pl.DataFrame,
    reactions: pl.DataFrame,
    accounts: pl.DataFrame,
    post_topic: pl.DataFrame,
    p: TopicsParams,
) -> pl.DataFrame:
    participants = accounts.filter(
        pl.col("is_participant") & (pl.col("account_id") != NONPARTICIPANT_ID)
    )["account_id"]
    topical = (
        posts.select("post_id", "account_id")
        .join(post_topic, on="post_id", how="inner")
        .filter(pl.col("topic_id") != OUTLIER)
    )
    authors = posts.select("post_id", pl.col("account_id").alias("author"))
    replies = posts.filter(pl.col("parent_post_id").is_not_null()).select(
        pl.col("parent_post_id").alias("post_id"),
        pl.col("account_id").alias("engager_account_id"),
        is_reply=pl.lit(True),
    )
    reacts = reactions.filter(pl.col("actor_account_id").is_not_null()).select(
        "post_id", pl.col("actor_account_id").alias("engager_account_id"), is_reply=pl.lit(False)
    )
    eng = (
        pl.concat([replies, reacts])
        .join(authors, on="post_id", how="inner")
        .filter(
            (pl.col("engager_account_id") != pl.col("author"))
            & pl.col("engager_account_id").is_in(participants.implode())
            & (pl.col("engager_account_id") != NONPARTICIPANT_ID)
        )
        .drop("author")
        .join(topical, on="post_id", how="inner")
        .unique(["post_id", "engager_account_id", "is_reply"])
    )
    per_pair = (
        topical.group_by("account_id", "topic_id")
        .agg(n_posts=pl.len().cast(pl.Int64))
        .join(
            eng.group_by("account_id", "topic_id").agg(
                n_engaged_posts=pl.col("post_id").n_unique().cast(pl.Int64),
                n_engagers=pl.col("engager_account_id").n_unique(),
                n_replies=pl.col("is_reply").sum().cast(pl.Int64),
            ),
            on=["account_id", "topic_id"],
            how="left",
        )
        .with_columns(
            pl.col("n_engaged_posts", "n_engagers", "n_replies").fill_null(0).cast(pl.Int64)
        )
        .filter(pl.col("account_id").is_in(participants.implode()))
        .sort("topic_id", "account_id")
    )
    est, lo, hi = [], [], []
    q = (1 - p.interval) / 2
    for _, grp in per_pair.group_by("topic_id", maintain_order=True):
        y = grp["n_replies"].to_numpy().astype(float)
        n = grp["n_posts"].to_numpy().astype(float)
        shape, rate = _gamma_prior(y, n)
        mean = shape / rate
        a, b = shape + y, rate + n
        est.append(a / b / mean)
        lo.append(_gamma_ppf(q, a, b) / mean)
        hi.append(_gamma_ppf(1 - q, a, b) / mean)
    evidence = per_pair.with_columns(
        method=pl.lit("evidence"),
        estimate=pl.Series(np.concatenate(est) if est else [], dtype=pl.Float64),
        ci_low=pl.Series(np.concatenate(lo) if lo else [], dtype=pl.Float64),
        ci_high=pl.Series(np.concatenate(hi) if hi else [], dtype=pl.Float64),
    )
    # only posts that drew a response from another participant count toward min_posts
    attributed = (pl.col("n_engaged_posts") >= p.min_posts) & (
        pl.col("n_engagers") >= p.min_engagers
    )
    if p.min_ci_low is not None:
        attributed = attributed & (pl.col("ci_low") >= p.min_ci_low)
    evidence = evidence.with_columns(
        is_attributed=attributed, _score=pl.col("n_posts") * pl.col("estimate")
    )
    topic_mean = per_pair.group_by("topic_id").agg(
        _mean=pl.col("n_replies").sum() / pl.col("n_posts").sum()
    )
    naive = (
        per_pair.join(topic_mean, on="topic_id", how="left")
        .with_columns(
            method=pl.lit("naive"),
            estimate=(pl.col("n_replies") / pl.col("n_posts") / pl.col("_mean")).fill_nan(None),
            ci_low=pl.lit(None, pl.Float64),
            ci_high=pl.lit(None, pl.Float64),
            is_attributed=pl.lit(True),
            _score=pl.col("n_posts").cast(pl.Float64),
        )
        .drop("_mean")
    )
    cols = ["method", "account_id", "topic_id", "n_posts", "n_engaged_posts", "n_engagers"]
    cols += ["n_replies"]
    cols += ["estimate", "ci_low", "ci_high", "is_attributed", "_score"]
    both = pl.concat([naive.select(cols), evidence.select(cols)])
    rank = (
        both.filter("is_attributed")
        .with_columns(
            rank=pl.struct(-pl.col("_score"), "topic_id")
            .rank("ordinal")
            .over("method", "account_id")
            .cast(pl.Int64)
        )
        .select("method", "account_id", "topic_id", "rank")
    )
    return (
        both.join(rank, on=["method", "account_id", "topic_id"], how="left")
        .drop("_score")
        .sort("method", "account_id", "topic_id")
    )


def _community(rng: np.random.Generator) -> tuple[pl.DataFrame, ...]:
    """A random community: a few busy accounts, replies, votes and topics with every edge case."""
    n_acc = int(rng.integers(3, 40))
    accounts = [f"acct_{i:03d}" for i in range(n_acc)]
    n = int(rng.integers(1, 400))
    # a few heavy posters, so that many pairs reach min_posts and scores tie often
    author = rng.choice(n_acc, n, p=np.arange(n_acc, 0, -1) / np.arange(n_acc, 0, -1).sum())
    authors = [accounts[a] for a in author]
    parents: list[str | None] = []
    for i in range(n):
        r = rng.random()
        if i and r < 0.55:
            parents.append(f"p{int(rng.integers(0, i))}")  # a reply, sometimes one's own post
        elif r < 0.6:
            parents.append(f"gone{i}")  # its parent is not in the table
        else:
            parents.append(None)
    posts = pl.DataFrame(
        {
            "post_id": [f"p{i}" for i in range(n)],
            "account_id": authors,
            "parent_post_id": parents,
        },
        schema={"post_id": pl.String, "account_id": pl.String, "parent_post_id": pl.String},
    )
    # non-participants: listed but never posting; the placeholder; one participant who only votes
    extra = [NONPARTICIPANT_ID, "acct_lurker", "acct_voter"]
    acc = pl.DataFrame(
        {
            "account_id": accounts + extra,
            "is_participant": [True] * n_acc + [False, False, True],
        }
    )
    m = int(rng.integers(0, 300))
    actors = rng.choice([*accounts, *extra, None], m).tolist() if m else []
    reactions = pl.DataFrame(
        {
            "post_id": [f"p{int(x)}" if x < n else "nowhere" for x in rng.integers(0, n + 3, m)],
            "actor_account_id": actors,
        },
        schema={"post_id": pl.String, "actor_account_id": pl.String},
    )
    keep = rng.random(n) < 0.9  # some posts have no topic (empty text: not embedded)
    k = int(rng.integers(1, 6))
    topic = pl.DataFrame(
        {
            "post_id": posts["post_id"].filter(pl.Series(keep)),
            "topic_id": rng.integers(OUTLIER, k, int(keep.sum())),
        },
        schema={"post_id": pl.String, "topic_id": pl.Int64},
    )
    return posts, reactions, acc, topic


@pytest.mark.parametrize("seed", range(40))
def test_attribute_equals_the_former_implementation(seed: int) -> None:
    rng = np.random.default_rng(seed)
    posts, reactions, accounts, topic = _community(rng)
    params = TopicsParams(
        min_posts=int(rng.integers(1, 4)),
        min_engagers=int(rng.integers(0, 3)),
        min_ci_low=None if seed % 3 else 0.5,
    )
    got = attribute(posts, reactions, accounts, topic, params)
    want = _reference(posts, reactions, accounts, topic, params)
    assert_frame_equal(got, want, check_exact=True)
    if seed == 0:  # the cases the comparison is meant to cover are there
        assert got.height and got["rank"].null_count() < got.height


def test_attribute_ties_go_to_the_lower_topic() -> None:
    # one account, two topics with the same posts and replies: the same score, rank 1 to topic 0
    posts = pl.DataFrame(
        {
            "post_id": ["a", "b", "ra", "rb"],
            "account_id": ["acct_x", "acct_x", "acct_y", "acct_y"],
            "parent_post_id": [None, None, "a", "b"],
        }
    )
    accounts = pl.DataFrame({"account_id": ["acct_x", "acct_y"], "is_participant": [True, True]})
    reactions = pl.DataFrame(schema={"post_id": pl.String, "actor_account_id": pl.String})
    topic = pl.DataFrame({"post_id": ["a", "b", "ra", "rb"], "topic_id": [1, 0, OUTLIER, OUTLIER]})
    got = attribute(posts, reactions, accounts, topic, TopicsParams(min_posts=1, min_engagers=1))
    x = got.filter(pl.col("account_id") == "acct_x").sort("method", "topic_id")
    assert x["rank"].to_list() == [1, 2, 1, 2]
    assert_frame_equal(
        got,
        _reference(posts, reactions, accounts, topic, TopicsParams(min_posts=1, min_engagers=1)),
    )
