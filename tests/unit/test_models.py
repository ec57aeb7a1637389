"""Unit tests of the influence models on tiny inline frames (and one small demo check)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from analysis import schema
from analysis.models import MODELS, common, conversation, engagement, network
from analysis.models.base import Tables
from analysis.models.params import ModelParams
from analysis.stages.tables import ID_COLUMNS

T0 = datetime(2026, 1, 1, tzinfo=UTC)
AS_OF = T0 + timedelta(days=100)
NP = schema.NONPARTICIPANT_ID


def make_tables(
    posts: list[tuple],
    reactions: list[tuple] = (),
    followers: dict | None = None,
    post_topics: pl.DataFrame | None = None,
) -> Tables:
    """posts: (post_id, account_id, day, parent_post_id, reply_to_account_id[, n_likes])."""
    rows = []
    by_id = {}
    for p in posts:
        pid, acc, day, parent, reply_to = p[:5]
        root = None
        if parent is not None:
            root = by_id[parent]["root_post_id"] or parent
        row = dict(
            post_id=pid,
            platform="demo",
            account_id=acc,
            kind="reply" if (parent or reply_to) else "post",
            parent_post_id=parent,
            root_post_id=root,
            reply_to_account_id=reply_to,
            created_at=T0 + timedelta(days=day),
            n_likes=p[5] if len(p) > 5 else None,
            n_views=100 if parent is None else None,
        )
        by_id[pid] = row
        rows.append(row)
    for r in rows:  # ingest fills reply_to from the parent's author
        if r["parent_post_id"] and r["reply_to_account_id"] is None:
            r["reply_to_account_id"] = by_id[r["parent_post_id"]]["account_id"]
    posts_df = schema.conform(pl.DataFrame(rows), "posts", schema.INTERIM)
    authors = sorted({r["account_id"] for r in rows})
    followers = followers or {}
    accounts = schema.conform(
        pl.DataFrame(
            {
                "account_id": [*authors, NP],
                "platform": "demo",
                "is_participant": [True] * len(authors) + [False],
                "follower_count": [followers.get(a) for a in authors] + [None],
            }
        ),
        "accounts",
        schema.INTERIM,
    )
    reac = schema.conform(
        pl.DataFrame(
            [
                dict(
                    reaction_id=f"r{i}",
                    platform="demo",
                    post_id=pid,
                    kind="like",
                    actor_account_id=a,
                    created_at=T0 + timedelta(days=d),
                )
                for i, (pid, a, d) in enumerate(reactions)
            ],
            schema={
                "reaction_id": pl.String,
                "platform": pl.String,
                "post_id": pl.String,
                "kind": pl.String,
                "actor_account_id": pl.String,
                "created_at": schema.UTC_TIME,
            },
        ),
        "reactions",
        schema.INTERIM,
    )
    return Tables(accounts=accounts, posts=posts_df, reactions=reac, post_topics=post_topics)


@pytest.fixture
def chat() -> Tables:
    """a posts; b and c reply; a answers b (reciprocal a-b); b replies twice more; a replies to NP."""
    return make_tables(
        [
            ("p1", "a", 90, None, None, 3),
            ("p2", "b", 91, "p1", None, 1),
            ("p3", "c", 91, "p1", None, 0),
            ("p4", "a", 92, "p2", None, 0),
            ("p5", "b", 93, "p4", None, 0),
            ("p6", "b", 94, "p1", None, 0),
            ("p7", "a", 95, None, NP),
            ("p8", "d", 96, None, None, 0),
        ],
        reactions=[("p1", "b", 91), ("p1", "c", 92)],
        followers={"a": 999, "b": 9},
    )


def score(name: str, tables: Tables, p: ModelParams | None = None, as_of: datetime = AS_OF):
    df = MODELS[name].score(tables, p or ModelParams(), as_of)
    common.check_output(df)
    return df


def val(df: pl.DataFrame, acc: str, col: str = "score"):
    return df.filter(pl.col("account_id") == acc)[col].item()


@pytest.mark.parametrize("name", list(MODELS))
def test_components_add_up_and_placeholder_never_scored(chat, name):
    df = score(name, chat)
    assert sorted(df["account_id"]) == ["a", "b", "c", "d"]
    comps = [c for c in df.columns if c.startswith("c_")]
    assert comps
    total = df.select(pl.sum_horizontal(comps)).to_series()
    np.testing.assert_allclose(total.to_numpy(), df["score"].to_numpy(), rtol=1e-9, atol=1e-12)
    # and for accounts silent in scope, whose rows some models write apart (klout_like's floor
    # of 1, engagement's community rate): e posted before klout's 90-day window, f after as_of
    quiet = chat.with_posts(
        pl.concat(
            [
                chat.posts,
                make_tables([("q1", "e", 5, None, None), ("q2", "f", 150, None, None)]).posts,
            ]
        )
    )
    quiet = replace(
        quiet,
        accounts=pl.concat(
            [
                quiet.accounts,
                quiet.accounts.filter(pl.col("account_id") == "d").with_columns(
                    account_id=pl.Series(["e"])
                ),
                quiet.accounts.filter(pl.col("account_id") == "d").with_columns(
                    account_id=pl.Series(["f"])
                ),
            ]
        ),
    )
    df = score(name, quiet)
    assert sorted(df["account_id"]) == ["a", "b", "c", "d", "e", "f"]
    total = df.select(pl.sum_horizontal(comps)).to_series()
    np.testing.assert_allclose(total.to_numpy(), df["score"].to_numpy(), rtol=1e-9, atol=1e-12)
    assert df["score_pct"].min() >= 0 and df["score_pct"].max() <= 100
    assert (df["model"] == name).all()


def _categorical(tables: Tables) -> Tables:
    """``tables`` with their ids as the stages hold them (``schema.ID_COLUMNS``)."""

    def cast(df: pl.DataFrame | None, table: str) -> pl.DataFrame | None:
        if df is None:
            return None
        cols = [c for c in ID_COLUMNS[table] if c in df.columns]
        return df.with_columns(pl.col(cols).cast(pl.Categorical))

    return replace(
        tables,
        accounts=cast(tables.accounts, "accounts"),
        posts=cast(tables.posts, "posts"),
        reactions=cast(tables.reactions, "reactions"),
        post_topics=cast(tables.post_topics, "post_topics"),
    )


@pytest.mark.parametrize("days", [-1, 1, 3, None])
@pytest.mark.parametrize("name", list(MODELS))
def test_categorical_ids_score_as_strings_at_every_date(chat, name, days):
    """The stages hold the ids as categoricals: every model scores exactly as on strings, also
    where nothing (or little) came before the date, as in a short dump or an early origin
    (conversation_eb's empty earlier rates were once typed String and failed to join)."""
    first = chat.posts["created_at"].min()
    as_of = AS_OF if days is None else first + timedelta(days=days)
    plain = score(name, chat, as_of=as_of)
    cat = MODELS[name].score(_categorical(chat), ModelParams(), as_of)
    assert_frame_equal(schema.ids_as_strings(cat), plain, check_exact=True)


@pytest.mark.parametrize("name", list(MODELS))
def test_replies_to_posts_outside_the_dump_score_as_on_strings(name):
    """Replies addressed to an account whose post is not in the dump (Twitter, ActivityPub,
    Usenet's attribution lines) have no target post: every model scores them on categorical ids
    exactly as on strings. A null id packed into one integer key once made one group of
    (b, none) and (a, none), and gave b's h-index to a (``common.ids_span``)."""
    t = make_tables(
        [
            ("p1", "a", 90, None, None),
            ("p2", "b", 91, None, "a"),
            ("p3", "c", 91, None, "a"),
            ("p4", "c", 92, None, "b"),
            ("p5", "d", 92, None, "b"),
            ("p6", "b", 93, "p1", None),
            ("p7", "d", 94, None, "e"),
        ]
    )
    plain = score(name, t)
    cat = MODELS[name].score(_categorical(t), ModelParams(), AS_OF)
    assert_frame_equal(schema.ids_as_strings(cat), plain, check_exact=True)
    if name == "conversation":
        h = dict(plain.select("account_id", "h_index").iter_rows())
        assert h["a"] >= 1 and h["b"] >= 1  # each drew replies of its own


@pytest.mark.parametrize("name", list(MODELS))
def test_scoring_before_the_first_post_gives_everyone_zero(chat, name):
    """A dump shorter than the validity horizon: scored at a date with no activity before it."""
    first = chat.posts["created_at"].min()
    df = score(name, chat, as_of=first - timedelta(days=1))
    assert sorted(df["account_id"]) == ["a", "b", "c", "d"]
    # nobody is distinguished (0 for sums; the floor or the uniform rank for klout_like, network)
    assert df["score"].n_unique() == 1 and (df["n_obs"] == 0).all()
    assert df["score"].item(0) in (0.0, 1.0)
    same = score(name, chat)  # same columns as a normal run
    assert df.columns == same.columns


def test_non_participant_accounts_not_scored(chat):
    extra = pl.concat(
        [
            chat.accounts,
            schema.conform(
                pl.DataFrame(
                    {"account_id": ["lurker"], "platform": ["demo"], "is_participant": [False]}
                ),
                "accounts",
                schema.INTERIM,
            ),
        ]
    )
    t = Tables(extra, chat.posts, chat.reactions)
    for name in MODELS:
        assert "lurker" not in score(name, t)["account_id"].to_list()


def test_volume_rises_with_posts_conversation_does_not(chat):
    more = make_tables(
        [
            ("p1", "a", 90, None, None, 3),
            ("p2", "b", 91, "p1", None, 1),
            ("p3", "c", 91, "p1", None, 0),
            ("p4", "a", 92, "p2", None, 0),
            ("p5", "b", 93, "p4", None, 0),
            ("p6", "b", 94, "p1", None, 0),
            ("p7", "a", 95, None, NP),
            ("p8", "d", 96, None, None, 0),
            *[(f"x{i}", "a", 97, None, None, 0) for i in range(10)],  # ten unanswered posts
        ]
    )
    assert val(score("volume", more), "a") > val(score("volume", chat), "a")
    before, after = score("conversation", chat), score("conversation", more)
    for col in ["score", *conversation.COMPONENTS]:
        assert val(after, "a", col) == pytest.approx(val(before, "a", col))


def test_conversation_components(chat):
    df = score("conversation", chat)
    # a: repliers b and c; reciprocal with b only (counted once although b answered twice)
    assert val(df, "a", "n_repliers") == 2
    assert val(df, "a", "n_reciprocal") == 1
    assert val(df, "b", "n_reciprocal") == 1
    assert val(df, "c", "n_reciprocal") == 0
    # thread p1 has depth 3 (p1 <- p2 <- p4 <- p5)
    w = 0.5 ** ((AS_OF - (T0 + timedelta(days=90))).days / 30)
    assert val(df, "a", "thread_depth") == pytest.approx(3 * w)
    assert val(df, "d", "score") == 0.0


def test_thread_depth_walks_parents():
    posts = pl.DataFrame(
        {"post_id": ["r", "a", "b", "c", "o"], "parent_post_id": [None, "r", "a", "b", "missing"]}
    )
    d = dict(conversation.thread_depths(posts).iter_rows())
    assert d == {"r": 0, "a": 1, "b": 2, "c": 3, "o": 1}


def test_h_index_hand_example():
    assert common.h_index(np.array([10, 8, 5, 4, 3])) == 4
    assert common.h_index(np.array([25, 8, 5, 3, 3])) == 3
    assert common.h_index(np.array([0, 0])) == 0
    assert common.h_index(np.array([])) == 0


def test_h_index_in_model():
    # a's posts get 3, 2 and 1 replies from others: h = 2
    t = make_tables(
        [
            ("a1", "a", 99, None, None),
            ("a2", "a", 99, None, None),
            ("a3", "a", 99, None, None),
            ("r1", "b", 99, "a1", None),
            ("r2", "c", 99, "a1", None),
            ("r3", "d", 99, "a1", None),
            ("r4", "b", 99, "a2", None),
            ("r5", "c", 99, "a2", None),
            ("r6", "b", 99, "a3", None),
            ("s1", "a", 99, "a3", None),  # a self-reply counts for nothing
        ]
    )
    df = score("conversation", t, ModelParams(window_days=10))
    assert val(df, "a", "h_index") == 2


def test_decay_and_hard_window():
    t = make_tables(
        [("old", "a", 10, None, None), ("new", "a", 99, None, None), ("b1", "b", 99, None, None)]
    )
    decay = score("volume", t, ModelParams(half_life_days=30))
    w_old = 0.5 ** (90 / 30)
    w_new = 0.5 ** (1 / 30)
    assert val(decay, "a") == pytest.approx(w_old + w_new)
    window = score("volume", t, ModelParams(window_days=30))
    assert val(window, "a") == pytest.approx(1.0)  # the old post falls out; the new counts fully
    assert (
        window["half_life_days"].is_null().all() and window["window_start_at"].is_not_null().all()
    )
    # nothing at or after as_of counts
    early = score("volume", t, ModelParams(), as_of=T0 + timedelta(days=10))
    assert val(early, "a") == 0.0 and val(early, "a", "n_obs") == 0


def test_klout_hard_90_day_window():
    t = make_tables([("p1", "a", 5, None, None, 50), ("q", "b", 99, None, None, 1)])
    df = score("klout_like", t)  # as_of = day 100: the day-5 post is 95 days old
    assert val(df, "a") == 1.0 and val(df, "a", "n_obs") == 0
    assert val(df, "b") == pytest.approx(100.0)


def test_engagement_shrinks_one_post_account_toward_mean():
    rng = np.random.default_rng(0)
    posts = []
    for k in range(30):  # thirty accounts with 20 posts each, about 2 likes per post
        posts += [
            (f"p{k}_{i}", f"u{k:02d}", 99, None, None, int(rng.poisson(2.0 * rng.gamma(2, 0.5))))
            for i in range(20)
        ]
    posts.append(("lucky", "one", 99, None, None, 20))  # one post, twenty likes
    df = score("engagement", make_tables(posts), ModelParams(window_days=10))
    lucky = df.filter(pl.col("account_id") == "one").row(0, named=True)
    assert lucky["median_reactions_per_post"] == 20
    mean = df.filter(pl.col("account_id") != "one")["score"].mean()
    assert mean < lucky["score"] < 20  # pulled toward the community, not all the way
    assert lucky["c_community_prior"] > 0 and lucky["shrinkage_weight"] < 0.5
    many = df.filter(pl.col("account_id") == "u00").row(0, named=True)
    assert many["shrinkage_weight"] > lucky["shrinkage_weight"]
    assert lucky["score_se"] > 0


def test_engagement_prior_fallback_on_tiny_data():
    mu, alpha, method = engagement.fit_prior(np.array([1.0, 2.0]), np.array([1.0, 2.0]))
    assert mu == pytest.approx(1.0) and alpha == 0.0 and "Poisson" in method


def test_engagement_prior_is_the_same_bits_in_any_account_order():
    # the accounts reach the fit sorted by pseudonym: another key is another row order, and
    # BFGS stopped at other bits of mu and alpha in 4 to 5 of 6 orders
    rng = np.random.default_rng(0)
    exposure = rng.gamma(0.5, 4, 400) + 0.01
    y = rng.negative_binomial(1.0, 1.0 / (1.0 + 0.8 * exposure)).astype(float)
    ref = engagement.fit_prior(y, exposure)
    assert ref[1] > 0 and "negative binomial" in ref[2]
    for seed in range(6):
        order = np.random.default_rng(seed).permutation(y.size)
        assert engagement.fit_prior(y[order], exposure[order]) == ref


def test_pagerank_sums_to_one_and_follows_edges():
    src = np.array([0, 1, 2, 3, 3])
    dst = np.array([1, 2, 1, 1, 4])
    x, inflow = network.pagerank(src, dst, np.ones(5), 5)
    assert x.sum() == pytest.approx(1.0)
    assert x.argmax() == 1
    assert (inflow <= x + 1e-15).all()
    # parallel edges add up: weight 2 equals two edges
    x2, _ = network.pagerank(np.array([0, 0]), np.array([1, 1]), np.ones(2), 2)
    x3, _ = network.pagerank(np.array([0]), np.array([1]), np.array([2.0]), 2)
    np.testing.assert_allclose(x2, x3)


def test_pagerank_matches_networkx():
    nx = pytest.importorskip("networkx")
    rng = np.random.default_rng(1)
    src, dst = rng.integers(0, 50, 300), rng.integers(0, 50, 300)
    keep = src != dst
    src, dst = src[keep], dst[keep]
    w = rng.uniform(0.1, 2, src.size)
    x, _ = network.pagerank(src, dst, w, 50)
    g = nx.DiGraph()
    g.add_nodes_from(range(50))
    for s, d, ww in zip(src, dst, w, strict=True):
        g.add_edge(
            int(s), int(d), weight=g.get_edge_data(int(s), int(d), {"weight": 0})["weight"] + ww
        )
    ref = nx.pagerank(g, alpha=0.85, weight="weight", tol=1e-12)
    np.testing.assert_allclose(x, [ref[i] for i in range(50)], atol=1e-8)


def test_network_placeholder_keeps_flow_but_is_not_scored(chat):
    df = score("network", chat)
    assert NP not in df["account_id"].to_list()
    assert val(df, "a") > val(df, "d")
    # all nodes (participants + placeholder) average 1: participants alone sum to less than 5
    assert df["score"].sum() < 5


def test_network_topic_falls_back_and_uses_topics(chat):
    plain = score("network_topic", chat)
    assert "post_topics" in plain["missing_inputs"][0]
    topics = pl.DataFrame(
        {
            "post_id": chat.posts["post_id"],
            "topic_id": [0, 0, 0, 0, 0, 0, 1, 1],
            "probability": [1.0] * 8,
            "is_primary": [True] * 8,
        }
    )
    t = Tables(chat.accounts, chat.posts, chat.reactions, post_topics=topics)
    df = score("network_topic", t)
    assert df["missing_inputs"][0] == ""
    assert "c_topic_0" in df.columns and val(df, "a", "top_topic") == "0"


def test_reach_missing_inputs_named():
    t = make_tables([("p1", "a", 99, None, None)])
    t = Tables(t.accounts, t.posts.with_columns(n_views=pl.lit(None, dtype=pl.Int64)), t.reactions)
    df = score("reach", t)
    assert "follower_count" in df["missing_inputs"][0] and "n_views" in df["missing_inputs"][0]
    assert val(df, "a") == 0.0


def test_demo_conversation_and_network_beat_volume_and_reach():
    from analysis.config import DemoParams
    from analysis.demo import generate
    from analysis.demo_check import tables_from_demo
    from analysis.models import validity

    dump = generate(DemoParams(seed=3, n_accounts=80, n_days=60))
    t = tables_from_demo(dump)
    p = ModelParams()
    as_of = common.resolve_as_of(p, t.posts)
    scores = {
        n: MODELS[n].score(t, p, as_of) for n in ("volume", "reach", "conversation", "network")
    }
    res = validity.planted_roles(scores, dump.truth_accounts, p)["models"]
    for ours in ("conversation", "network"):
        for naive in ("volume", "reach"):
            assert res[ours]["auc_experts"] > res[naive]["auc_experts"], (ours, naive, res)
            assert res[ours]["auc"] > res[naive]["auc"], (ours, naive, res)


def test_reposts_are_not_replies_in_the_reply_graph() -> None:
    from datetime import UTC, datetime

    import polars as pl

    from analysis.models.common import reply_edges

    t = datetime(2026, 1, 1, tzinfo=UTC)
    posts = pl.DataFrame(
        {
            "post_id": ["p1", "p2"],
            "account_id": ["a", "a"],
            "kind": ["repost", "reply"],
            "reply_to_account_id": ["b", "b"],
            "parent_post_id": [None, None],
            "root_post_id": [None, None],
            "w": [1.0, 1.0],
            "created_at": [t, t],
        }
    )
    assert reply_edges(posts)["post_id"].to_list() == ["p2"]


def test_model_params_refuses_a_dict_it_does_not_recognise():
    from analysis.models.params import model_params

    # the models section itself, and the whole params dict (with or without a models section)
    assert model_params({"half_life_days": 7}).half_life_days == 7
    assert model_params({"models": {"half_life_days": 7}}).half_life_days == 7
    assert model_params({"report": {}, "source": {}}).half_life_days == 30
    # a typo is an error naming the key, never a silent default
    with pytest.raises(ValueError, match="unknown key\\(s\\) 'half_life_day'"):
        model_params({"half_life_day": 7})
    with pytest.raises(ValueError, match="unknown key\\(s\\) 'modles'"):
        model_params({"modles": {"half_life_days": 7}, "source": {}})


def test_the_score_stage_leaves_the_texts_on_disk_and_every_model_scores_the_same(
    small_demo, tmp_path
) -> None:
    """The score stage reads the posts without ``text`` and ``labels``
    (``base.UNREAD_POST_COLUMNS``) and the post topics only for a model that sets
    ``READS_TOPICS``: every built-in model gives the same frame without what it is not handed,
    none declares that it reads the texts (``READS_TEXT``), and the one that reads the topics
    (network_topic) gets them and uses them."""
    from analysis import paths
    from analysis.demo_check import tables_from_demo
    from analysis.io import write_parquet
    from analysis.models.base import READS_TOPICS_FLAG, UNREAD_POST_COLUMNS
    from analysis.stages.score import load_tables

    full = tables_from_demo(small_demo)
    topics = full.posts.select(
        "post_id",
        topic_id=(pl.col("text").str.len_chars() % 3).cast(pl.Int64),
        probability=0.4 + (pl.col("created_at").dt.minute() % 7) / 10,
        is_primary=pl.lit(True),
    )
    full = replace(full, post_topics=topics)
    for name, path in paths.INTERIM_TABLES.items():
        write_parquet(getattr(full, name), tmp_path / path.name)
    write_parquet(topics, tmp_path / "post_topics.parquet")
    lean = load_tables(tmp_path, None, UNREAD_POST_COLUMNS)
    with_topics = load_tables(tmp_path, tmp_path / "post_topics.parquet", UNREAD_POST_COLUMNS)
    assert set(UNREAD_POST_COLUMNS) <= set(full.posts.columns)
    assert not set(UNREAD_POST_COLUMNS) & set(lean.posts.columns)
    assert lean.posts.height == full.posts.height
    assert lean.post_topics is None and with_topics.post_topics is not None
    # the platforms and kinds held as categoricals (schema.LABEL_COLUMNS), scored the same
    for table, labels in schema.LABEL_COLUMNS.items():
        frame = getattr(lean, table)
        if frame is not None:
            assert {frame.schema[c] for c in labels} <= {pl.Categorical()}, table
    assert lean.posts.schema["kind"] == pl.Categorical()
    p = ModelParams()
    as_of = common.resolve_as_of(p, full.posts)
    readers = [name for name in MODELS if getattr(MODELS[name], READS_TOPICS_FLAG, False)]
    assert readers == ["network_topic"]
    for name in MODELS:
        assert not getattr(MODELS[name], "READS_TEXT", False), name
        want = MODELS[name].score(full, p, as_of)
        handed = with_topics if name in readers else lean
        assert MODELS[name].score(handed, p, as_of).equals(want), name
    # the flag matters: without the topics network_topic scores something else
    assert (
        not MODELS["network_topic"]
        .score(lean, p, as_of)
        .equals(MODELS["network_topic"].score(full, p, as_of))
    )


def test_the_score_stage_scores_every_model_in_one_run(monkeypatch, tmp_path, small_demo) -> None:
    """``score.run`` reads the tables once, reads the post topics just before network_topic and
    hands them to it alone, writes one file per model of ``models.scored`` and deletes the file
    of a model no longer scored; one model asked for alone writes the very same file and
    touches no other; a model that reads the texts gets them, the others do not."""
    import argparse

    from analysis import paths
    from analysis.demo_check import tables_from_demo
    from analysis.io import write_parquet
    from analysis.stages import score as stage

    monkeypatch.chdir(tmp_path)
    tables = tables_from_demo(small_demo)
    for name, path in paths.INTERIM_TABLES.items():
        write_parquet(getattr(tables, name), path)
    write_parquet(
        tables.posts.select(
            "post_id",
            topic_id=(pl.col("text").str.len_chars() % 3).cast(pl.Int64),
            probability=pl.lit(0.5),
            is_primary=pl.lit(True),
        ),
        paths.POST_TOPICS,
    )
    write_parquet(pl.DataFrame({"account_id": ["acct_old"]}), paths.score_file("dropped"))
    loads, handed, events = [], {}, []
    real_load, real_score, real_topics = stage.load_tables, stage.score_one, stage.post_topics_at

    def load(*args, **kwargs):
        loads.append(kwargs)
        return real_load(*args, **kwargs)

    def read_topics(*args, **kwargs):
        events.append("topics")
        return real_topics(*args, **kwargs)

    def score(t, name, p, as_of):
        events.append(name)
        handed[name] = (t.post_topics is not None, "text" in t.posts.columns)
        return real_score(t, name, p, as_of)

    monkeypatch.setattr(stage, "load_tables", load)
    monkeypatch.setattr(stage, "post_topics_at", read_topics)
    monkeypatch.setattr(stage, "score_one", score)
    assert stage.run({}, argparse.Namespace(models=[])) == 0
    assert len(loads) == 1 and loads[0]["topics"] is None
    assert handed == {name: (name == "network_topic", False) for name in MODELS}
    # the topics are read once, right before the model that reads them
    assert events.count("topics") == 1
    assert events[events.index("topics") + 1] == "network_topic"
    assert sorted(f.stem for f in paths.SCORES.glob("*.parquet")) == sorted(MODELS)
    written = {f.name: f.read_bytes() for f in paths.SCORES.glob("*.parquet")}
    p = ModelParams()
    as_of = common.resolve_as_of(p, tables.posts)
    topics = pl.read_parquet(paths.POST_TOPICS)
    for name in MODELS:
        want = MODELS[name].score(
            replace(tables, post_topics=topics if name == "network_topic" else None), p, as_of
        )
        got = pl.read_parquet(paths.score_file(name))
        assert got.columns == want.columns, name
        np.testing.assert_allclose(
            got["score"].to_numpy(), want["score"].to_numpy(), rtol=1e-9, err_msg=name
        )
    # one model alone: its own file, the same bytes; the others untouched
    paths.score_file("network_topic").unlink()
    assert stage.run({}, argparse.Namespace(models=["network_topic"])) == 0
    assert {f.name: f.read_bytes() for f in paths.SCORES.glob("*.parquet")} == written
    assert handed["network_topic"] == (True, False)
    # a model that reads the texts gets them; the others still do not
    monkeypatch.setattr(MODELS["conversation"], "READS_TEXT", True, raising=False)
    handed.clear()
    assert stage.run({}, argparse.Namespace(models=["volume", "conversation", "reach"])) == 0
    assert handed == {
        "volume": (False, False),
        "conversation": (False, True),
        "reach": (False, False),
    }
    assert len(loads) == 3 and "text" not in loads[2]["skip_post_columns"]


def test_the_score_stage_imports_the_models_slow_imports_ahead() -> None:
    """``SLOW_IMPORTS`` of the models are imported on a thread (engagement names statsmodels);
    nothing to import starts no thread; a module that fails to import raises nothing there
    (the model's own import reports it)."""
    import sys
    import types

    from analysis.stages.score import import_ahead

    assert "statsmodels.discrete.discrete_model" in engagement.SLOW_IMPORTS
    assert import_ahead([conversation, network]) is None
    sys.modules.pop("colorsys", None)
    model = types.SimpleNamespace(SLOW_IMPORTS=("analysis_no_such_module", "colorsys"))
    other = types.SimpleNamespace(SLOW_IMPORTS=("colorsys",))
    thread = import_ahead([model, other])
    assert thread is not None
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert "colorsys" in sys.modules  # after the failing one: each name is tried


def test_a_bootstrap_draw_with_rho_exactly_zero_is_kept() -> None:
    """A draw whose Spearman rho is exactly 0 (sparse outcomes, tied ranks) is a draw like any
    other; only an undefined rho (a constant side) is left out of the interval."""
    from analysis.models import validity

    rho = validity.spearman(np.array([1.0, 2, 3, 4]), np.array([1.0, 0, 0, 1]))
    assert rho == 0.0
    assert validity._or_nan(rho) == 0.0
    assert np.isnan(validity._or_nan(validity.spearman(np.ones(4), np.arange(4.0))))


def test_own_replies_under_a_thread_add_no_depth_and_the_placeholder_is_no_replier() -> None:
    """conversation: a chain of the root author's own replies under a thread one other person
    joined adds no depth (before: 30 self-replies took thread_depth 0.79 -> 23.8); and an
    answer from the non-participant placeholder (everyone outside the study) is no replier."""
    base = [("r", "a", 50, None, None), ("b1", "b", 50.1, "r", None), ("c0", "c", 50, None, None)]

    def scored(n_self: int, extra: tuple = ()) -> dict:
        chain, parent = [], "r"
        for k in range(n_self):  # a's own replies, each to the one before, under its root
            chain.append((f"s{k}", "a", 50.2 + k * 0.01, parent, None))
            parent = f"s{k}"
        out = conversation.score(make_tables([*base, *chain, *extra]), ModelParams(), AS_OF)
        return {r["account_id"]: r for r in out.iter_rows(named=True)}

    a0, a30 = scored(0)["a"], scored(30)["a"]
    assert a30["thread_depth"] == a0["thread_depth"] and a30["score"] == a0["score"]
    # b answering again below a's reply does deepen it: someone else went further
    deeper = scored(1, (("b2", "b", 50.5, "s0", None),))["a"]
    assert deeper["thread_depth"] > a0["thread_depth"]
    # a reply from the placeholder counts for no one
    lone = scored(0, (("x1", NP, 50.3, "c0", None),))["c"]
    assert lone["n_repliers"] == 0 and lone["c_repliers"] == 0.0


def test_klout_like_ranks_the_floor_of_silent_accounts_with_the_others() -> None:
    """Silent participants get Klout's floor of 1 after the ranking: an active account whose
    score is also 1 must share their percentile, not rank above them."""
    from analysis.models import klout_like

    posts = [("p", "a", 95, None, None), ("old", "s", 1, None, None), ("q", "b", 96, None, None)]
    posts += [("r", "c", 97, "q", None)]
    out = klout_like.score(make_tables(posts), ModelParams(), AS_OF)
    by = {r["account_id"]: r for r in out.iter_rows(named=True)}
    assert by["a"]["score"] == by["s"]["score"] == 1.0  # active, drew nothing; silent (floor)
    assert by["a"]["score_pct"] == by["s"]["score_pct"]
    assert by["b"]["score_pct"] > by["a"]["score_pct"]


def test_the_latest_follower_count_does_not_depend_on_row_order_at_one_instant() -> None:
    from dataclasses import replace

    from analysis.models import peers, reach

    t = make_tables([("p1", "a", 90, None, None), ("p2", "a", 90, None, None)])
    posts = t.posts.with_columns(follower_count=pl.Series([100, 5000], dtype=pl.Int64))
    got = []
    for order in (posts, posts.reverse()):
        tt = replace(t, posts=order)
        got.append(
            (
                reach.score(tt, ModelParams(), AS_OF).filter(pl.col("account_id") == "a")["score"][
                    0
                ],
                peers.follower_count(tt, AS_OF)["score"][0],
            )
        )
    assert got[0] == got[1] and got[0][1] == 5000.0


def test_an_account_without_topic_credit_has_no_top_topic() -> None:
    from analysis.models import network_topic

    posts = [("p", "a", 90, None, None), ("r", "b", 91, "p", None), ("q", "c", 92, None, None)]
    topics = pl.DataFrame(
        {
            "post_id": ["p", "r", "q"],
            "topic_id": [1, 1, 0],
            "probability": [1.0, 1.0, 1.0],
            "is_primary": [True, True, True],
        }
    )
    out = network_topic.score(make_tables(posts, post_topics=topics), ModelParams(), AS_OF)
    by = dict(zip(out["account_id"], out["top_topic"], strict=True))
    assert by["a"] == "1" and by["c"] is None  # c drew nothing: no topic to name


def test_out_of_time_nb_fit_reports_no_coefficient_from_a_fit_that_did_not_converge() -> None:
    """Beer: most accounts' scores tied at 0 and a rare outcome; the negative binomial's
    dispersion ran off to infinity (p-value NaN, not converged) and its slope, 7.65 per SD for
    network on distinct repliers, was printed in the writeup as a finding."""
    from analysis.models import validity

    rng = np.random.default_rng(0)
    x = np.zeros(1344)
    x[:60] = rng.exponential(1.0, 60)
    y = np.zeros(1344)
    y[:15] = rng.integers(1, 4, 15)
    assert validity._nb_fit(y, x) == {"coef_per_sd": None, "p_value": None, "pseudo_r2": None}
    # an ordinary fit still reports its numbers
    x = rng.normal(size=500)
    y = rng.poisson(np.exp(0.5 + 0.4 * x))
    ok = validity._nb_fit(y.astype(float), x)
    assert ok["coef_per_sd"] is not None and 0.2 < ok["coef_per_sd"] < 0.6
    assert ok["p_value"] is not None and ok["p_value"] < 0.001


def test_a_reply_in_a_known_thread_without_its_parent_starts_no_thread() -> None:
    """conversation: a reply whose parent is not in the dump but whose thread is (ingest keeps
    its ``root_post_id``) is no thread start: before, its author was credited with the depth of
    the replies below it, as if the root author's thread were theirs."""
    posts = [
        ("r", "a", 50, None, None),
        ("b1", "b", 50.1, "r", None),
        ("d1", "d", 50.2, None, "c"),  # answered a post of c that is not in the dump
        ("e1", "e", 50.3, "d1", None),
        ("e2", "e", 50.4, "e1", None),
    ]
    alone = make_tables(posts)

    def scored(tables: Tables) -> dict:
        out = conversation.score(tables, ModelParams(), AS_OF)
        return {r["account_id"]: r for r in out.iter_rows(named=True)}

    before = scored(alone)
    assert before["d"]["thread_depth"] > 0  # its own thread: nothing says otherwise
    in_thread = replace(
        alone,
        posts=alone.posts.with_columns(
            root_post_id=pl.when(pl.col("post_id") == "d1")
            .then(pl.lit("r"))
            .when(pl.col("post_id").is_in(["e1", "e2"]))
            .then(pl.lit("r"))
            .otherwise(pl.col("root_post_id"))
        ),
    )
    after = scored(in_thread)
    assert after["d"]["thread_depth"] == 0.0
    # the replies to d1 still count for d (repliers, h-index), and a's thread is unchanged
    assert after["d"]["n_repliers"] == before["d"]["n_repliers"] == 1
    assert after["a"]["thread_depth"] == before["a"]["thread_depth"]


def test_a_stack_exchange_answer_starts_the_thread_its_comments_join() -> None:
    """conversation: an answer starts a thread of its own (the docstring's rule), so comments
    by others under it are a thread others joined. The edges' ``root_post_id`` (ingest's: the
    question) took the place of the thread's root in the join, and no answerer ever had one."""
    posts = [
        ("q", "a", 50, None, None),
        ("x", "b", 50.1, "q", None),
        ("c1", "c", 50.2, "x", None),
        ("c2", "b", 50.3, "c1", None),
    ]
    t = make_tables(posts)
    kind = {"q": "question", "x": "answer"}
    t = replace(
        t,
        posts=t.posts.with_columns(
            platform=pl.lit("stackexchange"),
            kind=pl.col("post_id").replace_strict(kind, default="comment"),
        ),
    )
    out = {r["account_id"]: r for r in conversation.score(t, ModelParams(), AS_OF).to_dicts()}
    w = 0.5 ** ((AS_OF - (T0 + timedelta(days=50.1))).total_seconds() / 86400 / 30)
    assert out["b"]["thread_depth"] == pytest.approx(w)  # c joined at depth 1
    assert out["a"]["thread_depth"] == 0.0  # nobody commented on the question itself


@pytest.mark.parametrize("seed", range(3))
def test_topic_interest_on_packed_keys_equals_the_two_column_route(seed: int) -> None:
    """network_topic's teleport: each node's share of its decay-weighted posts per topic, the
    groups keyed on one packed (topic, node) integer, equal bit for bit to the group-by on the
    two columns (outlier topic -1 included), each node's shares adding up to 1, and a post
    whose account is no node left out."""
    from analysis.models import network_topic

    rng = np.random.default_rng(seed)
    n_posts, accounts = 3_000, [f"u{i}" for i in range(40)]
    posts = pl.DataFrame(
        {
            "post_id": [f"p{i}" for i in range(n_posts)],
            "account_id": rng.choice([*accounts, "stranger"], n_posts),
            "w": rng.uniform(0.01, 1.0, n_posts),
        }
    )
    # one to three topics a post, ids from -1
    per_post = rng.integers(1, 4, n_posts)
    topics = pl.DataFrame(
        {
            "post_id": np.repeat(posts["post_id"].to_numpy(), per_post),
            "topic_id": rng.integers(-1, 12, int(per_post.sum())),
            "probability": rng.uniform(0.05, 1.0, int(per_post.sum())),
        }
    ).unique(["post_id", "topic_id"])
    nodes = pl.DataFrame({"node": sorted(accounts)}).with_row_index("idx")
    got = network_topic.topic_interest(posts, topics, nodes)
    want = (
        posts.join(topics, on="post_id")
        .join(nodes.rename({"node": "account_id"}), on="account_id")
        .group_by("topic_id", "idx")
        .agg(mass=common.ordered_sum(pl.col("w") * pl.col("probability")))
        .with_columns(mass=pl.col("mass") / common.ordered_sum(pl.col("mass")).over("idx"))
    )
    key = ["topic_id", "idx"]
    assert got.schema == want.schema
    assert got.sort(key).equals(want.sort(key))
    # the topics joined to their posts a few rows at a time (the stage: INTEREST_ROWS): the same
    for rows in (1, 7, 1_000):
        sliced = network_topic.topic_interest(posts, topics, nodes, rows)
        assert sliced.sort(key).equals(want.sort(key)), rows
    # a null topic id takes the two-column route (a null key would be one group of every node)
    unknown = topics.with_columns(
        topic_id=pl.when(pl.col("topic_id") == 3).then(None).otherwise(pl.col("topic_id"))
    )
    with_null = network_topic.topic_interest(posts, unknown, nodes, 500)
    assert with_null.filter(pl.col("topic_id").is_null())["idx"].n_unique() > 1
    assert with_null.sort(key).equals(
        posts.join(unknown, on="post_id")
        .join(nodes.rename({"node": "account_id"}), on="account_id")
        .group_by("topic_id", "idx")
        .agg(mass=common.ordered_sum(pl.col("w") * pl.col("probability")))
        .with_columns(mass=pl.col("mass") / common.ordered_sum(pl.col("mass")).over("idx"))
        .sort(key)
    )
    assert got["topic_id"].min() == -1 and got["idx"].n_unique() == len(accounts)
    totals = got.group_by("idx").agg(pl.col("mass").sum())["mass"]
    assert ((totals - 1.0).abs() < 1e-12).all()


@pytest.mark.parametrize(
    ("name", "probe"),
    [
        ("conversation", "thread_structure"),  # the threads' walk, after the edges
        ("conversation_rate", "pair_join"),  # the reciprocity join, after the edges
        ("conversation_eb", "rates"),  # both dates' rates, after the coding
        ("network", "pagerank"),  # the ranks, after the graph is built
        ("network_topic", "topic_ranks"),  # the topics' ranks, after the interest
    ],
)
def test_the_reply_models_let_their_scoped_posts_go_once_read(
    monkeypatch, chat, name, probe
) -> None:
    """Scoped at a date before the last post, the posts are a copy of the earlier posts
    (validate's rolling origins: at 10M posts ~1 GB of every column at the latest): each
    model cuts them to the columns the scoping and the edges read first and lets the copy go
    before its heavy steps. conversation_eb also lets the date's coding go before the
    earlier date's rates."""
    import weakref

    from analysis.models import (
        conversation,
        conversation_eb,
        conversation_rate,
        graph,
        network_topic,
    )

    module = {
        "conversation": conversation,
        "conversation_rate": conversation_rate,
        "conversation_eb": conversation_eb,
        "network": graph,
        "network_topic": network_topic,
    }[name]
    if name == "network_topic":  # its ranks need topics
        topics = pl.DataFrame(
            {
                "post_id": chat.posts["post_id"],
                "topic_id": [0, 0, 0, 0, 0, 0, 1, 1],
                "probability": [1.0] * 8,
                "is_primary": [True] * 8,
            }
        )
        chat = replace(chat, post_topics=topics)
    scoped: list[weakref.ref[pl.DataFrame]] = []
    handed: set[str] = set()  # the columns the scoping was handed
    real_scoped = common.scoped_posts

    def scoping(posts, *args, **kwargs):
        handed.update(posts.columns)
        out = real_scoped(posts, *args, **kwargs)
        scoped.append(weakref.ref(out))
        return out

    coded: list[weakref.ref[object]] = []
    alive: list[tuple[int, int]] = []  # (scoped frames alive, codings alive) at each probe
    target = common if probe == "pair_join" else module
    real_probe = getattr(target, probe)

    def probing(*args, **kwargs):
        alive.append((sum(r() is not None for r in scoped), sum(r() is not None for r in coded)))
        if probe == "rates":
            coded.append(weakref.ref(args[3]))
        return real_probe(*args, **kwargs)

    monkeypatch.setattr(common, "scoped_posts", scoping)
    monkeypatch.setattr(target, probe, probing)
    as_of = AS_OF - timedelta(days=4)  # before the last posts: the scoping copies
    MODELS[name].score(chat, ModelParams(), as_of)
    assert scoped and alive
    assert all(n_scoped == 0 for n_scoped, _ in alive), alive
    # cut to the columns the scoping and the edges read before the scoping copies them
    assert handed <= {*common.EDGE_COLUMNS, *common.ANNOTATION}, handed
    if probe == "rates":  # the date's coding gone before the earlier date's rates
        assert [n_coded for _, n_coded in alive] == [0, 0]


def test_conversation_lets_each_components_frames_go_before_the_next(monkeypatch, chat) -> None:
    """conversation's components are functions of their own (repliers, reciprocal pairs,
    threads others joined, h-index): what one builds is let go before the next. At 10M posts
    the threads' posts and their structure (every post's depth and root) stood through the
    h-index's per-post sums, validate's peak at its latest origin (+1.70 -> +1.42 GiB live
    over the tables). The same scores either way (test_models' hand examples)."""
    import weakref

    from analysis.models import conversation

    built: list[weakref.ref[pl.DataFrame]] = []  # the threads' posts and their structure

    def keep(real):
        def wrapped(*args, **kwargs):
            out = real(*args, **kwargs)
            built.append(weakref.ref(out))
            return out

        return wrapped

    alive: list[int] = []  # the threads' frames alive when each later component starts
    real_h = conversation.h_index

    def h_index(edges):
        alive.append(sum(r() is not None for r in built))
        return real_h(edges)

    monkeypatch.setattr(conversation, "conversation_posts", keep(conversation.conversation_posts))
    monkeypatch.setattr(conversation, "thread_structure", keep(conversation.thread_structure))
    monkeypatch.setattr(conversation, "h_index", h_index)
    df = score("conversation", chat, as_of=AS_OF - timedelta(days=4))
    assert len(built) == 2 and alive == [0], (len(built), alive)
    assert (
        val(df, "a", "h_index")
        == conversation.h_index(
            common.reply_edges(
                common.scoped_posts(
                    chat.posts, AS_OF - timedelta(days=4), *common.timing(ModelParams())
                )
            ).filter(pl.col("dst") == "a")
        )["h_index"].item()
    )
