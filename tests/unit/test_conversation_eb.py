"""Models ``conversation_eb`` and ``conversation_rate``'s prior, on tiny inline frames."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from analysis import adversaries, schema
from analysis.models import common, conversation, conversation_eb, replier_weights
from analysis.models.base import Tables
from analysis.models.params import ModelParams

MONDAY = datetime(2026, 3, 2, tzinfo=UTC)


def _tables(posts: list[dict]) -> Tables:
    ids = sorted({p["account_id"] for p in posts})
    accounts = schema.conform(
        pl.DataFrame({"account_id": ids, "platform": "demo", "is_participant": True}),
        "accounts",
        schema.INTERIM,
    )
    p = schema.conform(
        pl.DataFrame(posts).with_columns(platform=pl.lit("demo")), "posts", schema.INTERIM
    )
    return Tables(accounts=accounts, posts=p, reactions=schema.empty("reactions", schema.INTERIM))


def _town(n: int = 30, days: int = 20) -> Tables:
    """Account i posts a root every day; i % 4 + 1 others drawn at random reply to it."""
    rng = np.random.default_rng(1)
    posts = []
    for i in range(n):
        aid = f"a{i:02d}"
        for d in range(days):
            pid = f"{aid}_{d}"
            when = MONDAY + timedelta(days=d, hours=9, minutes=i)
            posts.append(dict(post_id=pid, account_id=aid, kind="post", created_at=when, text=pid))
            drawn = rng.choice([j for j in range(n) if j != i], size=i % 4 + 1, replace=False)
            for k, j in enumerate(drawn):
                other = f"a{j:02d}"
                posts.append(
                    dict(
                        post_id=f"r_{pid}_{k}",
                        account_id=other,
                        kind="reply",
                        parent_post_id=pid,
                        root_post_id=pid,
                        reply_to_account_id=aid,
                        created_at=when + timedelta(hours=1 + k),
                        text=f"r {pid} {k}",
                    )
                )
    return _tables(posts)


AS_OF = MONDAY + timedelta(days=20)


def test_follows_the_protocol_and_components_add_up() -> None:
    t = _town()
    out = conversation_eb.score(t, ModelParams(), AS_OF)
    common.check_output(out)
    assert out.height == 30 and out["score_se"].null_count() == 0
    total = out["c_own"] + out["c_prior"]
    assert np.allclose(total.to_numpy(), out["score"].to_numpy())
    assert out["band"].is_between(1, 5).all()
    # more repliers per post, higher score (i % 4 == 3 draw four, i % 4 == 0 one)
    s = out.with_columns(tier=pl.col("account_id").str.slice(1).cast(pl.Int64) % 4)
    by_tier = s.group_by("tier").agg(pl.col("score").mean()).sort("tier")["score"].to_list()
    assert by_tier == sorted(by_tier) and by_tier[3] > 2 * by_tier[0]


def test_silent_days_and_the_future_change_nothing() -> None:
    t = _town()
    now = conversation_eb.score(t, ModelParams(), AS_OF)
    # thirty silent days later: memory is counted in items, not days
    later = conversation_eb.score(t, ModelParams(), AS_OF + timedelta(days=30))
    assert now["score"].to_list() == later["score"].to_list()
    # posts after the scoring date are never read
    future = t.with_posts(
        pl.concat(
            [
                t.posts,
                t.posts.filter(pl.col("account_id") == "a00").with_columns(
                    post_id=pl.col("post_id") + "_future",
                    created_at=pl.col("created_at") + timedelta(days=60),
                ),
            ]
        )
    )
    assert conversation_eb.score(future, ModelParams(), AS_OF)["score"].to_list() == (
        now["score"].to_list()
    )


def test_self_chains_add_nothing_and_a_long_exchange_counts_one_replier_once() -> None:
    t = _town()

    def scores(model, tables):
        return dict(model.score(tables, ModelParams(), AS_OF).select("account_id", "score").rows())

    chains = adversaries.self_reply_chains(t, ["a02"], 20, AS_OF)
    assert scores(conversation_eb, chains)["a02"] <= scores(conversation_eb, t)["a02"] + 1e-9
    pair = adversaries.two_person_exchange(t, ["a02"], 30, AS_OF)
    gain = {
        m.NAME: scores(m, pair)["a02"] / scores(m, t)["a02"] - 1
        for m in (conversation_eb, conversation)
    }
    # 15 replies by one partner: one more replier in one thread, not a deeper thread
    assert gain["conversation_eb"] < 0.05 < gain["conversation"]


def test_ring_members_weigh_less_than_independent_repliers() -> None:
    t = _town()
    ring = adversaries.reaction_ring(t, ["a00", "a01", "a02", "a03", "a04", "a05"], AS_OF, 3, 0)
    w = replier_weights.replier_weights(common.scoped_posts(ring.posts, AS_OF, 30.0, None), 1.0)
    before = replier_weights.replier_weights(common.scoped_posts(t.posts, AS_OF, 30.0, None), 1.0)
    pair = (pl.col("src") == "a01") & (pl.col("dst") == "a00")
    assert w.filter(pair)["weight"].item() < before.filter(pair)["weight"].item()
    assert w["weight"].is_between(0, 1).all()


def test_gamma_poisson_prior_recovers_the_true_strength() -> None:
    rng = np.random.default_rng(0)
    m_true, k_true = 2.0, 4.0  # prior mean 2 per item, prior variance m/k = 0.5
    n = 4000
    e = rng.choice([1.0, 2.0, 3.0, 50.0], size=n)  # many small accounts, a few large
    rate = rng.gamma(shape=k_true * m_true, scale=1 / k_true, size=n)
    y = rng.poisson(rate * e)
    frame = pl.DataFrame({"y": y.astype(float), "e": e})
    m, k = common.gamma_poisson(pl.col("y"), pl.col("e"), frame)
    assert m == pytest.approx(m_true, rel=0.05)
    assert k == pytest.approx(k_true, rel=0.35)
    # the old noise term m / mean(e) understates small accounts' noise: k far too small
    var_rate = float((frame["y"] / frame["e"]).var())
    k_old = m / (var_rate - m / float(frame["e"].mean()))
    assert k_old < 0.5 * k_true


def test_bands_are_mid_rank_quintiles_and_tied_scores_share_the_middle_of_their_tie() -> None:
    ref = np.arange(10.0)  # one score per tenth
    assert conversation_eb.bands(ref, ref, 5).tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    # between and beyond the reference scores
    assert conversation_eb.bands(np.array([-1.0, 4.5, 99.0]), ref, 5).tolist() == [1, 3, 5]
    # eight accounts tie (one item each, nobody replied: the community prior), one below, one
    # above: the tie's mid-rank share is (1 + 9) / 20 = 0.5, the middle band. With quantile
    # edges every edge equalled the tied score and the tie went to the top band (Reddit: 5,752
    # of 8,595 accounts published in the top quintile)
    tied = np.sort(np.array([0.05] + [0.1] * 8 + [0.3]))
    assert conversation_eb.bands(tied, tied, 5).tolist() == [1] + [3] * 8 + [5]


def test_accounts_tied_at_the_prior_are_published_in_the_band_their_tie_is_in_the_middle_of() -> (
    None
):
    """Forty accounts posted once and drew nobody: their scores are the community prior, tied,
    more than half the community (seventy). They share the band their tie's middle falls in
    (the share of accounts below them plus half their own: the third); the quantile edges put
    them in the fourth (an edge equal to the tie sends it to the band above)."""
    t = _town()
    lone = [
        dict(
            post_id=f"lone{i}",
            account_id=f"z{i:02d}",
            kind="post",
            created_at=MONDAY + timedelta(days=5, minutes=i),
            text=f"lone {i}",
        )
        for i in range(40)
    ]
    town = _tables(t.posts.to_dicts() + lone)
    out = conversation_eb.score(town, ModelParams(), AS_OF)
    tied = out.filter(pl.col("account_id").str.starts_with("z"))
    assert tied["score"].n_unique() == 1
    # the bands are read among the scores a week earlier, where the forty tie too
    earlier = conversation_eb.rates(town, ModelParams(), AS_OF - timedelta(days=7))
    was = earlier.filter(pl.col("account_id").str.starts_with("z"))["score"]
    assert earlier.height == 70 and was.n_unique() == 1
    below = earlier.filter(pl.col("score") < was[0]).height
    assert int(5 * (below + 40 / 2) / 70) + 1 == 3
    assert tied["band"].unique().to_list() == [3]


def test_bands_keep_the_old_band_while_the_interval_overlaps_it() -> None:
    t = _town()
    out = conversation_eb.score(t, ModelParams(), AS_OF)
    kept = out.filter(pl.col("band") != pl.col("band_previous"))
    # a band changes only when the 95 % interval has left the previous band: here nobody's
    # activity changed in the last week, so every band holds
    assert kept.height == 0


def test_a_band_moves_once_the_interval_has_left_it_and_holds_while_it_reaches_it() -> None:
    """In its last six days every other account replies to a00's posts: its score leaves its
    band, interval and all, and the band moves to the top. The others' scores shift a little
    (their replies went to a00): where a score alone now falls in another band but its 95 %
    interval still reaches the earlier one, the earlier band holds."""
    t = _town()
    extra = [
        dict(
            post_id=f"x_a00_{d}_{j}",
            account_id=f"a{j:02d}",
            kind="reply",
            parent_post_id=f"a00_{d}",
            root_post_id=f"a00_{d}",
            reply_to_account_id="a00",
            created_at=MONDAY + timedelta(days=d, hours=11, minutes=j),
            text=f"x a00 {d} {j}",
        )
        for d in range(14, 20)
        for j in range(1, 30)
    ]
    town = _tables(t.posts.to_dicts() + extra)
    p = ModelParams()
    out = conversation_eb.score(town, p, AS_OF)
    earlier = conversation_eb.rates(town, p, AS_OF - timedelta(days=7))
    ref = np.sort(earlier["score"].to_numpy())
    out = out.with_columns(band_now=pl.Series(conversation_eb.bands(out["score"], ref, 5)))
    a00 = out.filter(pl.col("account_id") == "a00").row(0, named=True)
    assert a00["band_previous"] == 2 and a00["band"] == a00["band_now"] == 5
    low = conversation_eb.bands(pl.Series([a00["score"] - 1.96 * a00["score_se"]]), ref, 5)
    assert low[0] > 2  # the whole interval has left band 2
    held = out.filter(
        (pl.col("account_id") != "a00") & (pl.col("band_now") != pl.col("band_previous"))
    )
    assert held.height >= 5 and (held["band"] == held["band_previous"]).all()


def test_weekend_items_are_read_against_the_weekend_audience() -> None:
    """Weekend posts draw one replier, weekday posts three: a weekend off raises a plain
    per-item rate (it drops the low-yield items) but not the weekday-adjusted one."""
    from analysis import counterfactual

    rng = np.random.default_rng(2)
    posts = []
    n, days = 30, 28
    for i in range(n):
        aid = f"a{i:02d}"
        for d in range(days):
            pid = f"{aid}_{d}"
            when = MONDAY + timedelta(days=d, hours=9, minutes=i)
            posts.append(dict(post_id=pid, account_id=aid, kind="post", created_at=when, text=pid))
            k = 1 if when.weekday() >= 5 else 3
            for j, other in enumerate(rng.choice([x for x in range(n) if x != i], k, False)):
                posts.append(
                    dict(
                        post_id=f"r_{pid}_{j}",
                        account_id=f"a{other:02d}",
                        kind="reply",
                        parent_post_id=pid,
                        root_post_id=pid,
                        reply_to_account_id=aid,
                        created_at=when + timedelta(hours=1),
                        text=f"r {pid} {j}",
                    )
                )
    t = _tables(posts)
    as_of = MONDAY + timedelta(days=days)
    off = counterfactual.weekend_off(t, ["a05"])
    change = {}
    for adjust in (True, False):
        p = ModelParams(scored={"conversation_eb": {"weekday_adjust": adjust}})
        before = conversation_eb.score(t, p, as_of).filter(pl.col("account_id") == "a05")
        after = conversation_eb.score(off, p, as_of).filter(pl.col("account_id") == "a05")
        change[adjust] = after["score"].item() / before["score"].item() - 1
    assert change[False] > 0.05 and abs(change[True]) < 0.5 * change[False]


def test_the_earlier_rates_read_off_the_later_coding_equal_a_fresh_scoping() -> None:
    """The band's earlier scores come from the later date's coded posts cut at the earlier date
    (``Coded.before``): at every cut, the same rates, row for row, as scoping and coding the
    posts before that date afresh."""
    town = _town(24, 15)
    # and tables that ingest did not check (the counterfactual tests' injected posts): a
    # reply dated two days before the post it answers counts only once both exist
    moved = pl.col("post_id").str.starts_with("r_a03_") | pl.col("post_id").str.starts_with(
        "r_a10_"
    )
    dated = town.posts.with_columns(
        created_at=pl.when(moved)
        .then(pl.col("created_at") - timedelta(days=2))
        .otherwise(pl.col("created_at"))
    )
    p = ModelParams()
    for t in (town, replace(town, posts=dated)):
        coded = conversation_eb.Coded.of(common.scoped_posts(t.posts, AS_OF, 30.0, None))
        for days in (0.5, 3, 7, 11.2, 14.9, 30):
            at = AS_OF - timedelta(days=days)
            fresh = conversation_eb.rates(t, p, at).sort("account_id")
            cut = conversation_eb.rates(t, p, at, coded.before(at)).sort("account_id")
            assert fresh.height == cut.height
            assert cut.equals(fresh.select(cut.columns)), days
    # the same codes: a cut only drops rows, never recodes
    early = coded.before(AS_OF - timedelta(days=7))
    assert early.accounts is coded.accounts
    assert early.own.height < coded.own.height and early.credit.height < coded.credit.height


def _site(n: int = 16, days: int = 14) -> Tables:
    """A Stack Exchange site: account i asks a question every day, two or three others answer
    it, the asker comments on one answer; half the answers are voted up and some accepted,
    each a random 0-6 days after it was written (so some only after a cut, some never)."""
    rng = np.random.default_rng(5)
    posts, votes = [], []
    for i in range(n):
        asker = f"s{i:02d}"
        for d in range(days):
            q = f"q_{asker}_{d}"
            when = MONDAY + timedelta(days=d, hours=8, minutes=i)
            posts.append(dict(post_id=q, account_id=asker, kind="question", created_at=when))
            drawn = rng.choice([j for j in range(n) if j != i], size=2 + i % 2, replace=False)
            for k, j in enumerate(drawn):
                a, at = f"a_{q}_{k}", when + timedelta(hours=1 + k)
                posts.append(
                    dict(
                        post_id=a,
                        account_id=f"s{j:02d}",
                        kind="answer",
                        parent_post_id=q,
                        root_post_id=q,
                        reply_to_account_id=asker,
                        created_at=at,
                    )
                )
                for kind, chance in (("upvote", 0.5), ("accept", 0.2)):
                    if rng.random() < chance:
                        votes.append((a, kind, at + timedelta(days=float(rng.uniform(0, 6)))))
            first = f"a_{q}_0"
            posts.append(
                dict(
                    post_id=f"c_{q}",
                    account_id=asker,
                    kind="comment",
                    parent_post_id=first,
                    root_post_id=q,
                    reply_to_account_id=f"s{drawn[0]:02d}",
                    created_at=when + timedelta(hours=5),
                )
            )
    ids = sorted({p["account_id"] for p in posts})
    accounts = schema.conform(
        pl.DataFrame({"account_id": ids, "platform": "stackexchange", "is_participant": True}),
        "accounts",
        schema.INTERIM,
    )
    frame = pl.DataFrame(posts).with_columns(platform=pl.lit("stackexchange"), text=pl.lit("t"))
    reactions = pl.DataFrame(
        {
            "reaction_id": [f"v{k}" for k in range(len(votes))],
            "platform": "stackexchange",
            "post_id": [v[0] for v in votes],
            "kind": [v[1] for v in votes],
            "created_at": [v[2] for v in votes],
        }
    )
    return Tables(
        accounts=accounts,
        posts=schema.conform(frame, "posts", schema.INTERIM),
        reactions=schema.conform(reactions, "reactions", schema.INTERIM),
    )


def test_an_answer_draws_its_asker_in_only_from_when_it_was_received() -> None:
    """On Stack Exchange an answer credits its answerer once accepted or voted up
    (``semantics.answer_credit``): at every cut of one coding (the band's earlier date), the
    rates equal a fresh scoping whose votes stop at the cut, and an answer voted up only after
    the cut, or never, draws nobody in at it."""
    site = _site()
    p = ModelParams()
    coded = conversation_eb.Coded.of(
        common.scoped_posts(site.posts, AS_OF, 30.0, None), site.reactions, AS_OF
    )
    for days in (0.5, 3, 7, 9.4, 12):
        at = AS_OF - timedelta(days=days)
        fresh = conversation_eb.rates(site, p, at).sort("account_id")
        cut = conversation_eb.rates(site, p, at, coded.before(at)).sort("account_id")
        assert cut.equals(fresh.select(cut.columns)), days
    # the votes decide: without them every answer would count its asker from the start
    unvoted = replace(site, reactions=site.reactions.clear())
    assert not conversation_eb.rates(site, p, AS_OF).equals(
        conversation_eb.rates(unvoted, p, AS_OF)
    )
    # a vote after the date counts nothing at it
    late = site.reactions.with_columns(created_at=pl.col("created_at") + timedelta(days=60))
    nobody = conversation_eb.Coded.of(
        common.scoped_posts(site.posts, AS_OF, 30.0, None), late, AS_OF
    )
    answered = coded.credit.height - nobody.credit.height
    n_answers = site.posts.filter(pl.col("kind") == "answer").height
    assert nobody.credit.height == site.posts.filter(pl.col("kind") == "comment").height
    assert 0 < answered < n_answers


def test_answers_nobody_took_up_raise_no_score() -> None:
    """Volume is not influence: extra answers to others' questions that nobody accepts or votes
    up (``adversaries.inject_posts``, as ``compare``'s volume test adds them) never raise an
    account's score. Before, each counted its asker as a replier: on quantumcomputing +50 %
    volume raised half the sampled accounts' scores."""
    site = _site()
    p = ModelParams()
    base = conversation_eb.score(site, p, AS_OF)
    rose = 0
    for aid in base["account_id"].to_list():
        before = base.filter(pl.col("account_id") == aid)["score"].item()
        for m in (0.5, 1.0, 4.0):
            more = adversaries.inject_posts(site, [aid], m, AS_OF, 11)
            assert more.posts.height > site.posts.height
            after = conversation_eb.score(more, p, AS_OF).filter(pl.col("account_id") == aid)
            rose += after["score"].item() > before + 1e-12
    assert rose == 0


def test_the_weights_of_two_dates_come_from_one_listing_of_the_triangles(monkeypatch) -> None:
    """The score needs the replier weights now and a week earlier: one listing of the whole
    graph's triangles serves every date (a date's triangles are those whose three pairs it
    holds), and each date's weights equal, row for row, those of its credit edges alone,
    with the triangles in one slice or in many."""
    t = _town(24, 15)
    coded = conversation_eb.Coded.of(common.scoped_posts(t.posts, AS_OF, 30.0, None))
    cuts = [*(AS_OF - timedelta(days=d) for d in (0.5, 3, 7, 11.2, 14.9, 30)), None]
    for rows in (replier_weights.WEDGE_ROWS, 3):
        monkeypatch.setattr(replier_weights, "WEDGE_ROWS", rows)
        got = replier_weights.coded_weights_at(coded.credit, coded.accounts, 2.0, cuts)
        for cut, w in zip(cuts, got, strict=True):
            credit = (
                coded.credit if cut is None else coded.credit.filter(pl.col("created_at") < cut)
            )
            want = replier_weights.coded_weights(credit, coded.accounts, 2.0)
            assert want.height == w.height, cut
            assert w.sort("s", "d").equals(want.sort("s", "d")), cut
    # the dates' graphs differ, triangles included: an early weight is not the later one
    early, late = replier_weights.coded_weights_at(
        coded.credit, coded.accounts, 2.0, [AS_OF - timedelta(days=7), None]
    )
    both = early.join(late, on=["s", "d"])
    assert both.height and (both["weight"] != both["weight_right"]).any()


def test_the_published_band_reads_the_scores_a_week_earlier() -> None:
    """``band_previous`` is each account's band among the scores ``band_refresh_days`` earlier,
    computed afresh from the posts before that date (their mid-rank quintiles): the score
    stage's cut of the later coding gives exactly that, and not the later date's scores."""
    t = _town()
    p = ModelParams()
    out = conversation_eb.score(t, p, AS_OF)
    earlier = conversation_eb.rates(t, p, AS_OF - timedelta(days=7))
    ref = np.sort(earlier["score"].to_numpy())
    want = earlier.select(
        "account_id", band_previous=pl.Series(conversation_eb.bands(earlier["score"], ref, 5))
    )
    got = out.select("account_id", "band_previous").join(want, on="account_id", how="left")
    assert got.height == out.height and got["band_previous_right"].null_count() == 0
    assert got["band_previous"].to_list() == got["band_previous_right"].to_list()


@pytest.mark.parametrize("descending", [False, True])
def test_the_scores_do_not_depend_on_the_order_of_the_account_codes(
    descending: bool, monkeypatch
) -> None:
    """The accounts' integer codes come in a hash order that varies between runs; the scores,
    their parts and the bands are the same bit for bit whichever order the codes follow (here
    by account id, then reversed, against the codes as they come)."""
    t = _town(24, 15)
    p = ModelParams()
    want = conversation_eb.score(t, p, AS_OF)
    coded = replier_weights.account_codes

    def in_order(*columns: pl.Series) -> pl.DataFrame:
        found = coded(*columns).sort("account_id", descending=descending)
        return found.select("account_id", a=pl.int_range(pl.len(), dtype=pl.Int64))

    monkeypatch.setattr(replier_weights, "account_codes", in_order)
    got = conversation_eb.score(t, p, AS_OF)
    assert got.equals(want)
    assert got["score"].n_unique() > 10


def _item_outcomes_on_two_columns(
    coded: conversation_eb.Coded, weights: pl.DataFrame, repeat_power: float
) -> pl.DataFrame:
    """``item_outcomes`` as it was before its keys were packed: every group-by, distinct row
    and join on the two code columns themselves."""
    items = coded.own.group_by("a", "t").agg(first_at=pl.col("created_at").min())
    direct = (
        coded.direct.select("s", "d", "t")
        .unique()
        .join(weights, on=["s", "d"], how="left")
        .with_columns(n_threads=pl.len().over("s", "d").cast(pl.Float64))
    )
    y = pl.col("weight").fill_null(0.0) * pl.col("n_threads").pow(-repeat_power)
    direct = direct.group_by("d", "t").agg(y=common.ordered_sum(y).round(12)).rename({"d": "a"})
    return items.join(direct, on=["a", "t"], how="left").with_columns(pl.col("y").fill_null(0.0))


@pytest.mark.parametrize("stretch", [1, 7919])
def test_item_outcomes_on_packed_keys_equal_the_two_column_route(stretch: int) -> None:
    """The items and their outcomes, keyed on one packed integer per (account, thread) and per
    (replier, account), are the very rows the two-column group-bys and joins give, bit for
    bit, with the codes as they come and stretched far apart (a wide key span)."""
    t = _town(24, 15)
    coded = conversation_eb.Coded.of(common.scoped_posts(t.posts, AS_OF, 30.0, None))
    # (the weights' triangle listing wants codes below the account count: weighed first)
    weights = replier_weights.coded_weights(coded.credit, coded.accounts, 2.0)
    if stretch > 1:
        wide = {c: pl.col(c) * stretch + 3 for c in ("a", "s", "d", "t")}
        coded = conversation_eb.Coded(
            own=coded.own.with_columns(wide["a"], wide["t"]),
            credit=coded.credit.with_columns(wide["s"], wide["d"]),
            direct=coded.direct.with_columns(wide["s"], wide["d"], wide["t"]),
            accounts=coded.accounts.with_columns(wide["a"]),
        )
        weights = weights.with_columns(wide["s"], wide["d"])
    got, _ = conversation_eb.item_outcomes(coded, 2.0, 0.5, weights)
    want = _item_outcomes_on_two_columns(coded, weights, 0.5)
    key = ["a", "t"]
    assert got.height == want.height > 300
    assert got.sort(key).equals(want.select(got.columns).sort(key))
    assert (got["y"] > 0).sum() > 100 and got["y"].n_unique() > 5


def test_the_coded_frames_hold_32_bit_codes_and_score_as_64_bit_ones(monkeypatch) -> None:
    """:class:`Coded`'s frames hold their account and thread codes in ``CODE`` (32 bits: a
    fifth less memory at 10M posts); the scores, their parts and the bands are those of 64-bit
    codes bit for bit, and the accounts' table keeps Int64 codes."""
    t = _town(24, 15)
    p = ModelParams()
    coded = conversation_eb.Coded.of(common.scoped_posts(t.posts, AS_OF, 30.0, None))
    assert {coded.own.schema[c] for c in ("a", "t")} == {pl.Int32}
    assert {coded.credit.schema[c] for c in ("s", "d")} == {pl.Int32}
    assert {coded.direct.schema[c] for c in ("s", "d", "t")} == {pl.Int32}
    assert coded.accounts.schema["a"] == pl.Int64
    got = conversation_eb.score(t, p, AS_OF)
    monkeypatch.setattr(conversation_eb, "CODE", pl.Int64)
    assert (
        conversation_eb.Coded.of(common.scoped_posts(t.posts, AS_OF, 30.0, None)).own.schema["a"]
        == pl.Int64
    )
    want = conversation_eb.score(t, p, AS_OF)
    assert got.schema == want.schema and got.equals(want)
    assert got["score"].n_unique() > 10
