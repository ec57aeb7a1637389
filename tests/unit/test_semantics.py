"""Per-platform interaction semantics (``analysis.semantics``) and what the models read from it;
export-time totals before the export (``common.timed_view``); PageRank decay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from analysis import schema, semantics
from analysis.models import common, conversation, network, reach
from analysis.models.base import Tables
from analysis.models.params import ModelParams

T0 = datetime(2024, 1, 1, tzinfo=UTC)
AS_OF = T0 + timedelta(days=10)


def _posts(rows: list[tuple], platform: str) -> pl.DataFrame:
    """rows: (post_id, account_id, kind, parent_post_id, day)."""
    df = pl.DataFrame(
        {
            "post_id": [r[0] for r in rows],
            "platform": platform,
            "account_id": [r[1] for r in rows],
            "kind": [r[2] for r in rows],
            "parent_post_id": [r[3] for r in rows],
            "created_at": [T0 + timedelta(days=r[4]) for r in rows],
            "text": "t",
        }
    )
    return schema.conform(df, "posts")


def _tables(posts: pl.DataFrame, reactions: pl.DataFrame | None = None) -> Tables:
    ids = sorted(set(posts["account_id"]))
    accounts = schema.conform(
        pl.DataFrame({"account_id": ids, "platform": posts["platform"][0]}), "accounts"
    ).with_columns(is_participant=pl.lit(True))
    return Tables(
        accounts, posts, reactions if reactions is not None else schema.empty("reactions")
    )


def _edges(posts: pl.DataFrame, channels=(*semantics.ATTENTION, semantics.AMPLIFICATION)):
    scoped = common.scoped_posts(posts, AS_OF, 30.0, None)
    return common.reply_edges(scoped, channels).sort("post_id")


def test_stackexchange_answer_credits_the_answerer_and_comment_the_commented():
    posts = _posts(
        [
            ("q", "asker", "question", None, 0),
            ("a", "answerer", "answer", "q", 1),
            ("c", "commenter", "comment", "a", 2),
        ],
        "stackexchange",
    )
    e = _edges(posts)
    assert e.select("post_id", "src", "dst", "channel", "target_post_id").rows() == [
        ("a", "asker", "answerer", "answer", "a"),
        ("c", "commenter", "answerer", "conversation", "a"),
    ]


@pytest.mark.parametrize(
    ("platform", "kind"),
    [("reddit", "comment"), ("hackernews", "comment"), ("usenet", "reply"), ("demo", "reply")],
)
def test_replies_credit_the_parents_author(platform, kind):
    posts = _posts([("p", "op", "post", None, 0), ("r", "rep", kind, "p", 1)], platform)
    e = _edges(posts)
    assert e.select("src", "dst", "channel").rows() == [("rep", "op", "conversation")]


@pytest.mark.parametrize("platform", ["twitter", "mastodon"])
def test_reply_quote_and_repost_mean_different_things(platform):
    posts = _posts(
        [
            ("p", "op", "post", None, 0),
            ("r", "a", "reply", "p", 1),
            ("q", "b", "quote", "p", 1),
            ("s", "c", "repost", "p", 1),
        ],
        platform,
    )
    e = _edges(posts)
    assert dict(zip(e["post_id"], e["channel"], strict=True)) == {
        "r": "conversation",
        "q": "quote",
        "s": "amplification",
    }
    assert set(e["dst"]) == {"op"}
    # conversation models see only the reply; the network also sees the quote; nobody the repost
    scoped = common.scoped_posts(posts, AS_OF, 30.0, None)
    assert common.reply_edges(scoped)["post_id"].to_list() == ["r"]
    assert sorted(common.reply_edges(scoped, semantics.ATTENTION)["post_id"]) == ["q", "r"]


def test_answer_credit_counts_only_votes_before_the_scoring_date():
    posts = _posts(
        [("q", "asker", "question", None, 0), ("a", "answerer", "answer", "q", 1)], "stackexchange"
    )
    reactions = schema.conform(
        pl.DataFrame(
            {
                "reaction_id": ["v1", "v2", "v3"],
                "platform": "stackexchange",
                "post_id": ["a", "a", "a"],
                "kind": ["upvote", "accept", "upvote"],
                "created_at": [T0 + timedelta(days=d) for d in (2, 3, 20)],
            }
        ),
        "reactions",
    )
    credit = semantics.answer_credit(posts.filter(pl.col("post_id") == "a"), reactions, AS_OF)
    assert credit["credit"][0] == pytest.approx(1 + np.log1p(1))  # the day-20 vote is future


def test_answers_nobody_took_up_buy_no_conversation_on_stack_exchange():
    """Volume is not influence: an answer nobody accepted or voted up credits no one, so more
    unanswered answers do not raise a score (before: 0, 3, 9 of them took conversation 0.28 ->
    0.85 -> 1.52 and network 1.03 -> 3.11); a received answer still credits its answerer."""
    from analysis.models import conversation_rate

    def tables(n_extra: int) -> tuple:
        rows = [("q", "asker", "question", None, 0), ("a", "answerer", "answer", "q", 1)]
        rows += [(f"q{k}", f"asker{k}", "question", None, 2) for k in range(9)]  # the same people
        rows += [(f"x{k}", "answerer", "answer", f"q{k}", 3) for k in range(n_extra)]
        posts = _posts(rows, "stackexchange")
        votes = schema.conform(
            pl.DataFrame(
                {
                    "reaction_id": ["v1"],
                    "platform": "stackexchange",
                    "post_id": ["a"],
                    "kind": ["upvote"],
                    "created_at": [T0 + timedelta(days=2)],
                }
            ),
            "reactions",
        )
        return _tables(posts, votes)

    for model in (conversation, conversation_rate, network):
        scores = [
            model.score(tables(n), ModelParams(), AS_OF).filter(pl.col("account_id") == "answerer")[
                "score"
            ][0]
            for n in (0, 3, 9)
        ]
        assert scores[1] <= scores[0] + 1e-12 and scores[2] <= scores[0] + 1e-12, (model, scores)
    got = conversation.score(tables(0), ModelParams(), AS_OF)
    assert dict(zip(got["account_id"], got["n_repliers"], strict=True))["answerer"] == 1


def test_answering_draws_no_replier_in_the_out_of_time_outcome():
    """``validity.outcomes``' distinct repliers after the split are responses to the account's
    posts: on Stack Exchange an answer's own credit from its asker is none (the asker wrote
    first), as the within-thread outcomes read it; counted, three answers nobody responded to
    made three "repliers"."""
    from analysis.models import validity

    rows = [(f"q{k}", f"asker{k}", "question", None, 1) for k in range(3)]
    rows += [(f"a{k}", "answerer", "answer", f"q{k}", 3) for k in range(3)]
    rows += [("c0", "commenter", "comment", "a0", 4)]
    out = validity.outcomes(_tables(_posts(rows, "stackexchange")), T0, AS_OF)
    got = dict(zip(out["account_id"], out["n_repliers_next"], strict=True))
    assert got["answerer"] == 1  # the commenter
    assert all(got.get(f"asker{k}", 0) == 0 for k in range(3))
    # a reply whose parent is outside the dump still responds to its addressee (no target
    # post: a comparison that gives null must not drop it)
    usenet = _posts(
        [("p", "op", "post", None, 1), ("r", "replier", "reply", None, 3)], "usenet"
    ).with_columns(
        reply_to_account_id=pl.when(pl.col("post_id") == "r").then(pl.lit("op")).otherwise(None)
    )
    out = validity.outcomes(_tables(usenet), T0, AS_OF)
    assert dict(zip(out["account_id"], out["n_repliers_next"], strict=True))["op"] == 1
    # the time-split ranking's outcome reads both the same way
    both = pl.concat([_posts(rows, "stackexchange"), usenet], how="diagonal_relaxed")
    conv = validity.conversation_after(both, T0 + timedelta(days=2))
    got = dict(zip(conv["account_id"], conv["conversation"], strict=True))
    assert got == {"answerer": 1, "op": 1}


def test_asking_questions_earns_no_conversation_on_stack_exchange():
    # "asker" asks three questions, each answered by someone else; "answerer" answers them.
    rows = [("q0", "asker", "question", None, 0)]
    for k in range(3):
        rows += [
            (f"q{k}", "asker", "question", None, k),
            (f"a{k}", f"ans{k}", "answer", f"q{k}", k + 1),
        ]
    posts = _posts(list({r[0]: r for r in rows}.values()), "stackexchange")
    s = conversation.score(_tables(posts), ModelParams(), AS_OF)
    by = dict(zip(s["account_id"], s["n_repliers"], strict=True))
    assert by["asker"] == 0
    assert all(by[f"ans{k}"] == 1 for k in range(3))
    # the per-item models read the same meaning: answering draws credit, asking does not
    from analysis import models as registry

    for name in ("conversation_rate", "conversation_eb"):
        sc = dict(
            registry.get(name)
            .score(_tables(posts), ModelParams(), AS_OF)
            .select("account_id", "score")
            .iter_rows()
        )
        assert all(sc[f"ans{k}"] > sc["asker"] for k in range(3)), (name, sc)
    # on Reddit the same shape is three people talking with the poster
    s2 = conversation.score(
        _tables(
            posts.with_columns(
                platform=pl.lit("reddit"),
                kind=pl.when(pl.col("kind") == "answer")
                .then(pl.lit("comment"))
                .otherwise(pl.lit("post")),
            )
        ),
        ModelParams(),
        AS_OF,
    )
    assert dict(zip(s2["account_id"], s2["n_repliers"], strict=True))["asker"] == 3


def test_scores_before_the_export_ignore_export_time_totals():
    # Views are a snapshot taken at export (day 30): scoring at day 10 must not see them.
    posts = _posts(
        [
            ("p1", "a", "post", None, 0),
            ("p2", "b", "post", None, 1),
            ("late", "a", "post", None, 29),
        ],
        "stackexchange",
    ).with_columns(n_views=pl.Series([10, 100_000, 5]))
    t = _tables(posts)
    early = reach.score(t, ModelParams(), AS_OF)
    assert early["score"].to_list() == [0.0, 0.0]
    assert "export-time totals excluded" in early["missing_inputs"][0]
    at_export = reach.score(t, ModelParams(), common.totals_taken_at(t))
    assert at_export.filter(pl.col("account_id") == "b")["c_views"][0] == pytest.approx(
        5.0, abs=0.01
    )
    assert "export-time" not in at_export["missing_inputs"][0]


def test_a_like_without_a_date_counts_only_at_the_export():
    """An archive's like with no date (Twitter archives, Mastodon likes.json) may have been
    given after T: before the export it is excluded, like the export-time totals."""
    from analysis.models import engagement, klout_like

    posts = _posts(
        [
            ("p1", "a", "post", None, 0),
            ("p2", "b", "post", None, 1),
            ("late", "a", "post", None, 29),
        ],
        "mastodon",
    )
    likes = schema.conform(
        pl.DataFrame(
            {
                "platform": ["mastodon"] * 3,
                "post_id": ["p1", "p1", "p2"],
                "actor_account_id": ["b", "c", "a"],
                "kind": ["like"] * 3,
                "created_at": [None, None, T0 + timedelta(days=2)],
            },
            schema_overrides={"created_at": pl.Datetime("us", "UTC")},
        ),
        "reactions",
    )
    t = _tables(posts, likes)
    view, note = common.timed_view(t, AS_OF)
    assert view.reactions["post_id"].to_list() == ["p2"]
    assert "reactions without a date (2)" in note[0]
    got = common.post_reactions(
        common.scoped_posts(view.posts, AS_OF, 30.0, None), view.reactions, AS_OF
    )
    assert dict(zip(got["post_id"], got["n_reactions"], strict=True)) == {"p1": 0.0, "p2": 1.0}
    without = _tables(posts, likes.filter(pl.col("created_at").is_not_null()))
    for model in (engagement, klout_like):
        scored, want = (
            model.score(x, ModelParams(), AS_OF).drop("missing_inputs") for x in (t, without)
        )
        assert scored.equals(want), model.__name__
    at_export = common.timed_view(t, common.totals_taken_at(t))[0]
    assert at_export.reactions.height == 3
    # at the export the undated likers are engagers too, as their likes are reactions
    end = common.totals_taken_at(t)
    reach_of = {
        x: dict(klout_like.score(tt, ModelParams(), end).select("account_id", "c_reach").rows())
        for x, tt in (("with", t), ("without", without))
    }
    assert reach_of["with"]["a"] > reach_of["without"]["a"]


def test_a_posts_totals_count_only_from_when_they_were_taken():
    """Pushshift fetched Reddit items long after they were written (RC_2006-01 in 2016): a score
    taken after T includes votes after T. Each post's totals count from their own capture time
    (``totals_taken_at``), whatever the dump's last activity."""
    from analysis.models import engagement, klout_like

    posts = _posts(
        [("p1", "a", "post", None, 0), ("p2", "b", "post", None, 1), ("p3", "b", "post", None, 2)],
        "reddit",
    ).with_columns(
        score=pl.Series([40, 7, 9]),
        totals_taken_at=pl.Series([T0 + timedelta(days=3), T0 + timedelta(days=400), None]),
    )
    t = _tables(posts)
    view, note = common.timed_view(t, AS_OF)  # day 10: after p1's capture, before p2's
    assert view.posts["score"].to_list() == [40, None, 9]  # p3: taken at the export (day 2 + 1 s)
    assert "posts.score" in note[0] and "on 1 of 3 posts" in note[0]
    assert common.timed_view(t, T0 + timedelta(days=400))[0].posts["score"].to_list() == [40, 7, 9]
    # the models read the view: p2's late score changes nothing at day 10
    other = _tables(posts.with_columns(score=pl.Series([40, 5000, 9])))
    for model in (engagement, klout_like):
        a, b = (model.score(x, ModelParams(), AS_OF).drop("missing_inputs") for x in (t, other))
        assert a.equals(b), model.__name__


def test_future_activity_never_changes_a_score_at_t():
    """Add a future that would change every score (replies, votes, views): scores at T stay."""
    posts = _posts(
        [
            ("p", "a", "post", None, 0),
            ("r", "b", "reply", "p", 1),
            ("p2", "b", "post", None, 2),
            ("r2", "a", "reply", "p2", 3),
        ],
        "reddit",
    ).with_columns(score=pl.lit(1))
    future = _posts(
        [
            ("f1", "c", "reply", "p", 20),
            ("f2", "d", "reply", "p2", 21),
            ("f3", "c", "post", None, 22),
        ],
        "reddit",
    ).with_columns(score=pl.lit(50))
    from dataclasses import replace

    # both dumps were exported on day 30, after T; one simply has nothing after T
    base = replace(_tables(posts), totals_at=T0 + timedelta(days=30))
    # the future also rewrites the export-time totals of the old posts (votes arrived later)
    more = replace(
        _tables(pl.concat([posts.with_columns(score=pl.lit(999)), future])),
        totals_at=T0 + timedelta(days=30),
    )
    from analysis import models as registry

    for name in ("volume", "reach", "klout_like", "engagement", "conversation", "network"):
        m = registry.get(name)
        a = m.score(base, ModelParams(), AS_OF).filter(pl.col("account_id").is_in(["a", "b"]))
        b = m.score(more, ModelParams(), AS_OF).filter(pl.col("account_id").is_in(["a", "b"]))
        np.testing.assert_allclose(a["score"].to_numpy(), b["score"].to_numpy(), err_msg=name)


def test_pagerank_decay_sends_a_silent_repliers_rank_to_the_teleport():
    # node 0 replied to node 1 two years ago (weight 2**-24); node 2 replied to node 3 today.
    src, dst = np.array([0, 2]), np.array([1, 3])
    w = np.array([0.5 ** (730 / 30), 1.0])
    x, _ = network.pagerank(src, dst, w, 4, full_weight=np.ones(2))
    assert x[3] > x[1] * 1.5
    assert x[1] == pytest.approx(x[0], rel=1e-3)  # the old reply passes (almost) nothing
    classic, _ = network.pagerank(src, dst, w, 4)  # the decay cancels in row-normalisation
    assert classic[1] == pytest.approx(classic[3])
    assert x.sum() == pytest.approx(1.0)


def test_semantics_table_covers_every_platform_with_replies():
    t = semantics.table()
    assert {"stackexchange", "reddit", "hackernews", "usenet", "twitter", "mastodon"} <= set(
        t["platform"]
    )
    assert set(t["channel"]) <= set(semantics.CHANNELS)


def test_every_post_gets_its_platforms_meaning_else_the_kinds_generic_one():
    """``with_channel`` (literal branches, no join) against ``semantics.meaning`` for every
    platform and kind there is, unknown and null ones, with and without a link; and the
    generic meanings for a hand-built frame without platforms."""
    platforms = [*schema.PLATFORMS, "myspace", None]
    kinds = [*sorted({k for _, k in semantics.MEANINGS} | set(semantics.DEFAULT)), "post", None]
    links = [("p0", None), (None, "acct_x"), (None, None)]
    rows = [(p, k, par, to) for p in platforms for k in kinds for par, to in links]
    posts = pl.DataFrame(
        rows, schema=["platform", "kind", "parent_post_id", "reply_to_account_id"], orient="row"
    )
    got = semantics.with_channel(posts)
    assert got.columns == [*posts.columns, "channel", "credits_responder"]
    for (p, k, par, to), ch, cr in zip(rows, got["channel"], got["credits_responder"], strict=True):
        m = semantics.meaning(p, k) if (par or to) else None  # type: ignore[arg-type]
        assert (ch, cr) == ((m.channel, m.credits_responder) if m else (None, None)), (p, k, par)
    generic = semantics.with_channel(posts.drop("platform"))
    for (_, k, par, to), ch in zip(rows, generic["channel"], strict=True):
        m = semantics.DEFAULT.get(k) if (par or to) and k else None  # type: ignore[arg-type]
        assert ch == (m.channel if m else None)
    # one byte a post; the same meanings where the stages hold platforms and kinds as
    # categoricals (schema.LABEL_COLUMNS)
    assert got.schema["channel"] == generic.schema["channel"] == semantics.CHANNEL
    coded = semantics.with_channel(
        posts.with_columns(pl.col("platform", "kind").cast(pl.Categorical))
    )
    assert coded.select("channel", "credits_responder").equals(
        got.select("channel", "credits_responder")
    )


def test_a_reply_without_an_addressee_is_credited_to_its_parents_author():
    """Ingest fills every addressee; a hand-built table may not, and the scoping looks up only
    those parents. An addressee already there is kept; a parent outside the table gives none."""
    posts = _posts(
        [
            ("q", "asker", "question", None, 0),
            ("a1", "answerer", "answer", "q", 1),  # no addressee: the parent's author
            ("a2", "other", "answer", "gone", 1),  # parent absent: stays null
            ("c1", "third", "comment", "a1", 2),
        ],
        "stackexchange",
    ).with_columns(reply_to_account_id=pl.Series([None, None, None, "someone"], dtype=pl.String))
    scoped = common.scoped_posts(posts, AS_OF, 30.0, None).sort("post_id")
    assert dict(zip(scoped["post_id"], scoped["reply_to_account_id"], strict=True)) == {
        "a1": "asker",
        "a2": None,
        "c1": "someone",
        "q": None,
    }
    with pytest.raises(ValueError, match="not unique"):
        common.scoped_posts(pl.concat([posts, posts.slice(0, 1)]), AS_OF, 30.0, None)


def _answer_and_comment() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """B asks, A answers (accepted); then A comments on B's question (one-sided: only A wrote)
    or B comments on A's answer (two-sided): (accept vote, one-sided posts, two-sided posts)."""
    votes = schema.conform(
        pl.DataFrame(
            {
                "reaction_id": ["v1"],
                "platform": "stackexchange",
                "post_id": ["a"],
                "kind": ["accept"],
                "created_at": [T0 + timedelta(days=2)],
            }
        ),
        "reactions",
    )
    answer = [("q", "B", "question", None, 0), ("a", "A", "answer", "q", 1)]
    one_sided = _posts([*answer, ("c", "A", "comment", "q", 1)], "stackexchange")
    two_sided = _posts([*answer, ("c", "B", "comment", "a", 3)], "stackexchange")
    return votes, one_sided, two_sided


def test_a_reciprocal_exchange_on_stack_exchange_needs_both_people_to_write():
    """An answer credits its answerer (asker -> answerer), but it is the answerer who wrote it:
    "A answered B and commented on B's question" is A alone (was: one reciprocal partner each),
    "A answered B and B commented on the answer" is an exchange (was: none)."""
    votes, one_sided, two_sided = _answer_and_comment()
    for posts, want in ((one_sided, 0), (two_sided, 1)):
        s = conversation.score(_tables(posts, votes), ModelParams(), AS_OF)
        got = dict(zip(s["account_id"], s["n_reciprocal"], strict=True))
        assert got == {"A": want, "B": want}, (posts["post_id"].to_list(), got)


def test_conversation_rate_s_two_way_exchanges_are_by_who_wrote():
    """conversation_rate read "the author also answered the replier" by credit too: a Stack
    Exchange answer (credit asker -> answerer) made the asker "answer back" the answerer. When
    only A wrote (an answer to B and a comment on B's question), B's question had a two-way
    exchange (one in one item: B above A's one in two); when B commented back on A's answer,
    A's answer had none (every rate 0)."""
    from analysis.models import conversation_rate

    votes, one_sided, two_sided = _answer_and_comment()

    def two_way(posts):
        s = conversation_rate.score(_tables(posts, votes), ModelParams(), AS_OF)
        return dict(zip(s["account_id"], s["two_way_per_item"], strict=True))

    one, two = two_way(one_sided), two_way(two_sided)
    assert one["B"] < one["A"]  # B wrote nothing to A
    assert two["A"] > two["B"]  # A's answer, and B's comment back on it
