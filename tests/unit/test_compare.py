"""Stage ``compare``: agreement statistics, divergence quadrants, counterfactual transforms and
the recommendation rule, on tiny inline frames and a small demo."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from analysis import (
    cf_rescore,
    compare,
    compare_ranks,
    compare_rule,
    counterfactual,
    divergence,
    schema,
)
from analysis.compare import CompareParams, CounterfactualParams
from analysis.models import conversation, volume
from analysis.models.base import Tables
from analysis.models.params import ModelParams

MONDAY = datetime(2026, 3, 2, 12, tzinfo=UTC)  # 2026-03-02 is a Monday


# ------------------------------------------------------------------------------ RBO and Jaccard


def test_rbo_identical_lists_is_one_and_disjoint_is_zero() -> None:
    items = list("abcdefghij")
    assert compare_ranks.rbo(items, items, 0.9) == pytest.approx(1.0)
    assert compare_ranks.rbo(items[:5], items[5:], 0.9) == pytest.approx(0.0)
    assert compare_ranks.rbo(["a"], ["a"], 0.5) == pytest.approx(1.0)


def test_rbo_matches_a_hand_computed_value() -> None:
    # p = 0.5, A = abc, B = acb: X_1 = 1, X_2 = 1, X_3 = 3.
    # (1-p)/p * (1/1*.5 + 1/2*.25 + 3/3*.125) + 3/3 * .5**3 = 0.75 + 0.125
    assert compare_ranks.rbo(list("abc"), list("acb"), 0.5) == pytest.approx(0.875)
    # Uneven lists (eq. 32): L = abcd, S = ab, p = 0.5:
    # X = 1, 2, 2, 2; sum X_d/d p^d = .5 + .25 + .0833 + .03125; tail d=3,4: X_s (d-s)/(s d) p^d
    # = 2*1/6*.125 + 2*2/8*.0625; times (1-p)/p = 1; + ((2-2)/4 + 2/2) * .5**4
    expected = (
        (0.5 + 0.25 + 2 / 3 * 0.125 + 2 / 4 * 0.0625) + (2 / 6 * 0.125 + 4 / 8 * 0.0625) + 0.0625
    )
    assert compare_ranks.rbo(list("abcd"), list("ab"), 0.5) == pytest.approx(expected)
    assert compare_ranks.rbo(list("abcd"), list("ab"), 0.5) == pytest.approx(
        1.0
    )  # S is a prefix of L


def test_rbo_depth_weights_are_those_of_each_length_and_persistence() -> None:
    """The powers ``p**d`` are cached per (length, p): alternating lengths and persistences
    give, bit for bit, what powers computed afresh give."""

    def fresh(depth: np.ndarray, n: int, p: float) -> float:
        x = np.cumsum(np.bincount(depth, minlength=n + 1)[1 : n + 1]).astype(float)
        d = np.arange(1, n + 1, dtype=float)
        pd_ = p**d
        return float((1 - p) / p * np.sum(x / d * pd_) + (x[n - 1] / n) * p**n)

    rng = np.random.default_rng(0)
    for n, p in [(50, 0.9), (80, 0.9), (50, 0.5), (50, 0.9), (80, 0.5)] * 2:
        depth = np.maximum(rng.permutation(n), rng.permutation(n)) + 1
        assert compare_ranks._rbo_ext(depth, n, n, p) == fresh(depth, n, p)


def test_rbo_is_top_weighted_and_rejects_bad_input() -> None:
    base = list("abcdefgh")
    swap_top = list("bacdefgh")
    swap_bottom = list("abcdefhg")
    assert compare_ranks.rbo(base, swap_bottom, 0.9) > compare_ranks.rbo(base, swap_top, 0.9)
    with pytest.raises(ValueError, match="p must be"):
        compare_ranks.rbo(base, base, 1.0)
    with pytest.raises(ValueError, match="twice"):
        compare_ranks.rbo(["a", "a"], ["a"], 0.9)


def test_pair_statistics_rbo_equals_the_list_rbo() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=30), rng.normal(size=30)
    ids = np.arange(30)
    got = compare_ranks.pair_statistics(a, b, ids, (5,), 0.8)
    la, lb = list(np.lexsort((ids, -a))), list(np.lexsort((ids, -b)))
    assert got["rbo"] == pytest.approx(compare_ranks.rbo(la, lb, 0.8))
    assert got["jaccard_top5"] == pytest.approx(compare_ranks.jaccard_top_k(la, lb, 5))


def test_jaccard_top_k() -> None:
    assert compare_ranks.jaccard_top_k(list("abcd"), list("abxy"), 2) == 1.0
    assert compare_ranks.jaccard_top_k(list("abcd"), list("abxy"), 4) == pytest.approx(2 / 6)
    assert compare_ranks.jaccard_top_k(list("ab"), list("cd"), 2) == 0.0
    assert compare_ranks.jaccard_top_k(list("abc"), list("cba"), 10) == 1.0  # k capped at n
    with pytest.raises(ValueError):
        compare_ranks.jaccard_top_k(list("ab"), list("ab"), 0)


def _scores(values: dict[str, list[float]]) -> dict[str, pl.DataFrame]:
    n = len(next(iter(values.values())))
    ids = [f"acct_{i:03d}" for i in range(n)]
    return {m: pl.DataFrame({"account_id": ids, "score": v}) for m, v in values.items()}


def test_agreement_intervals_contain_the_point_estimate() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=80)
    scores = _scores(
        {
            "m1": list(x),
            "m2": list(x + rng.normal(scale=0.5, size=80)),
            "m3": list(rng.normal(size=80)),
        }
    )
    agree = compare.agreement(scores, CompareParams(n_boot=100, top_k=(10, 1000)))
    assert agree.height == 3 * 5  # 3 pairs x (spearman, tau-b, 2 jaccards, rbo)
    for row in agree.filter(pl.col("statistic").is_in(["spearman", "kendall_tau_b"])).iter_rows(
        named=True
    ):
        assert row["ci_low"] <= row["value"] <= row["ci_high"], row
    # k is capped at n: the top-1000 lists are the whole population
    assert agree.filter(pl.col("statistic") == "jaccard_top1000")["value"].to_list() == [1.0] * 3
    rho12 = agree.filter((pl.col("pair") == "m1 vs m2") & (pl.col("statistic") == "spearman")).item(
        0, "value"
    )
    rho13 = agree.filter((pl.col("pair") == "m1 vs m3") & (pl.col("statistic") == "spearman")).item(
        0, "value"
    )
    assert rho12 > 0.7 > abs(rho13)


def test_agreement_uses_only_accounts_both_models_scored() -> None:
    scores = {
        "a": pl.DataFrame({"account_id": ["x", "y", "z"], "score": [1.0, 2.0, 3.0]}),
        "b": pl.DataFrame({"account_id": ["y", "z", "w"], "score": [5.0, 6.0, 0.0]}),
    }
    agree = compare.agreement(scores, CompareParams(n_boot=0))
    assert agree["n_accounts"].unique().to_list() == [2]
    assert agree.filter(pl.col("statistic") == "spearman").item(0, "value") == pytest.approx(1.0)


def _agreement_in_turn(scores: dict[str, pl.DataFrame], p: CompareParams) -> dict:
    """The reference: pairs one after the other from one generator, each draw's statistics
    computed afresh on the resampled scores (``pair_statistics``)."""
    rng = np.random.default_rng(p.seed)
    out = {}
    names = list(scores)
    for i, name_a in enumerate(names):
        for name_b in names[i + 1 :]:
            j = (
                scores[name_a]
                .join(scores[name_b], on="account_id", suffix="_b")
                .drop_nulls()
                .sort("account_id")
            )
            a, b, n = j["score"].to_numpy(), j["score_b"].to_numpy(), j.height
            draws = []
            for _ in range(p.n_boot):
                idx = np.sort(rng.integers(0, n, n))
                draws.append(
                    compare_ranks.pair_statistics(a[idx], b[idx], np.arange(n), p.top_k, p.rbo_p)
                )
            for stat in draws[0]:
                sample = np.array([d[stat] for d in draws])
                sample = sample[np.isfinite(sample)]
                out[name_a, name_b, stat] = tuple(np.percentile(sample, [2.5, 97.5]))
    return out


def test_agreement_pairs_draw_what_one_generator_in_turn_draws() -> None:
    """Each pair's bootstrap starts where the previous pairs' draws left the generator (the
    pairs may run apart, on a ``compute`` engine): the intervals of the pairs run in turn."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=60)
    scores = _scores({"m1": list(x), "m2": list(x + rng.normal(size=60)), "m3": list(-x)})
    scores["m2"] = scores["m2"].with_columns(  # fewer accounts in m2's pairs: shorter draws
        score=pl.when(pl.int_range(60) % 7 == 0).then(None).otherwise("score")
    )
    p = CompareParams(n_boot=40, top_k=(5,))
    agree = compare.agreement(scores, p)
    want = _agreement_in_turn(scores, p)
    assert sorted(agree["n_accounts"].unique().to_list()) == [51, 60]
    for row in agree.iter_rows(named=True):
        assert (row["ci_low"], row["ci_high"]) == want[
            row["model_a"], row["model_b"], row["statistic"]
        ]


# ------------------------------------------------------------------------------ divergence


def test_quadrants_at_the_thresholds() -> None:
    df = pl.DataFrame({"r": [50.0, 49.9, 50.0, 49.9, 100.0], "c": [50.0, 50.0, 49.9, 49.9, 0.0]})
    got = df.select(divergence.quadrant_expr("r", "c", 50.0, 50.0).alias("q"))["q"].to_list()
    assert got == [
        "loud and heard",
        "quiet connectors",
        "loud but unheard",
        "quiet and unheard",
        "loud but unheard",
    ]


def test_divergence_is_the_same_bits_whatever_the_accounts_ids() -> None:
    # the frame is sorted by pseudonym: another key is another row order for the fit
    rng = np.random.default_rng(3)
    n = 500
    x, y = rng.uniform(0, 100, n), rng.uniform(0, 100, n)
    ids = [f"a{i:03d}" for i in range(n)]
    renamed = [f"b{i:03d}" for i in rng.permutation(n)]  # the same accounts under other ids
    params = divergence.DivergenceParams()
    got = {}
    for name, acc in (("a", ids), ("b", renamed)):
        reach = pl.DataFrame({"account_id": acc, "score_pct": x})
        conv = pl.DataFrame({"account_id": acc, "score_pct": y})
        div, fit = divergence.divergence(reach, conv, params)
        got[name] = (div.sort("reach_pct", "conversation_pct")["divergence"], fit)
    assert got["a"][0].equals(got["b"][0])
    assert got["a"][1] == got["b"][1]


def test_divergence_residuals_and_counts() -> None:
    ids = [f"a{i}" for i in range(6)]
    reach = pl.DataFrame({"account_id": ids, "score_pct": [0.0, 20.0, 40.0, 60.0, 80.0, 100.0]})
    conv = pl.DataFrame({"account_id": ids, "score_pct": [100.0, 80.0, 60.0, 40.0, 20.0, 0.0]})
    div, fit = divergence.divergence(reach, conv, divergence.DivergenceParams())
    assert div.columns == ["account_id", "reach_pct", "conversation_pct", "quadrant", "divergence"]
    assert fit["slope"] == pytest.approx(-1.0)
    assert div["divergence"].abs().max() == pytest.approx(0.0, abs=1e-9)  # a perfect line
    counts = divergence.quadrant_counts(div)
    assert counts["quiet connectors"]["n"] == 3 and counts["loud but unheard"]["n"] == 3
    assert counts["loud and heard"] == {"n": 0, "share": 0.0}
    truth = pl.DataFrame({"account_id": ids, "role": ["expert"] * 3 + ["gamer"] * 3})
    rates = divergence.role_rates(div, truth, min_cell_k=3)
    assert rates["expert_in_quiet_connectors"]["rate"] == 1.0
    assert rates["gamer_in_loud_but_unheard"]["rate"] == 1.0
    # 3 of 3 is a rate of at least 0.29 (Clopper-Pearson: 0.025 ** (1 / 3)), not a finding of 1
    assert rates["gamer_in_loud_but_unheard"]["ci_low"] == pytest.approx(0.025 ** (1 / 3))
    assert rates["gamer_in_loud_but_unheard"]["ci_high"] == 1.0
    assert rates["broadcaster_in_loud_but_unheard"]["rate"] is None  # no such role: suppressed
    assert (
        divergence.role_rates(div, truth, min_cell_k=4)["expert_in_quiet_connectors"]["rate"]
        is None
    )


@pytest.mark.parametrize("n", [3, 5, 200, 5000])
def test_the_divergence_line_is_statsmodels_ols_to_the_bit(n) -> None:
    """``divergence.ols_line`` is ``sm.OLS(y, add_constant(x, has_constant="add")).fit()``
    without its import: the same intercept, slope, R² and residuals, bit for bit (percentiles
    with ties, a nearly constant reach, a perfect line)."""
    import statsmodels.api as sm

    rng = np.random.default_rng(n)
    cases = [
        (np.round(rng.random(n) * 100, 1), np.round(rng.random(n) * 100, 1)),
        (np.full(n, 50.0) + np.arange(n) * 1e-7, rng.random(n) * 100),
        (np.linspace(0, 100, n), 100 - np.linspace(0, 100, n)),
    ]
    for x, y in cases:
        res = sm.OLS(y, sm.add_constant(x, has_constant="add")).fit()
        intercept, slope, r2, resid = divergence.ols_line(x, y)
        assert (intercept, slope) == (res.params[0], res.params[1])
        assert r2 == res.rsquared or (np.isnan(r2) and np.isnan(res.rsquared))
        assert np.array_equal(resid, res.resid)


def test_the_divergence_stage_does_not_import_statsmodels() -> None:
    import subprocess
    import sys

    code = "import sys, analysis.stages.divergence; print('statsmodels' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ------------------------------------------------------------------------------ counterfactuals


def _tables(posts: list[dict], reactions: list[dict] | None = None) -> Tables:
    ids = sorted({p["account_id"] for p in posts})
    accounts = schema.conform(
        pl.DataFrame({"account_id": ids, "platform": "demo", "is_participant": True}),
        "accounts",
        schema.INTERIM,
    )
    p = schema.conform(
        pl.DataFrame(posts).with_columns(platform=pl.lit("demo")), "posts", schema.INTERIM
    )
    r = schema.conform(
        pl.DataFrame(reactions).with_columns(platform=pl.lit("demo"))
        if reactions
        else schema.empty("reactions", schema.INTERIM),
        "reactions",
        schema.INTERIM,
    )
    return Tables(accounts=accounts, posts=p, reactions=r)


def _week() -> Tables:
    """Accounts a and b post one root a day for two weeks; c replies to every post of a."""
    posts = []
    for d in range(14):
        when = MONDAY + timedelta(days=d)
        for aid in ("a", "b"):
            posts.append(
                dict(post_id=f"{aid}{d}", account_id=aid, kind="post", created_at=when, n_likes=0)
            )
        posts.append(
            dict(
                post_id=f"c{d}",
                account_id="c",
                kind="reply",
                parent_post_id=f"a{d}",
                root_post_id=f"a{d}",
                created_at=when + timedelta(hours=1),
                n_likes=0,
            )
        )
    reactions = [
        dict(
            reaction_id=f"r{d}",
            post_id=f"a{d}",
            kind="like",
            actor_account_id="b",
            created_at=MONDAY + timedelta(days=d, hours=2),
        )
        for d in range(14)
    ]
    return _tables(posts, reactions)


def test_weekend_off_removes_exactly_the_weekend_posts_of_the_chosen_accounts() -> None:
    t = _week()
    keep_responses = counterfactual.weekend_off(t, ["a"], drop_responses=False)
    removed = set(t.posts["post_id"]) - set(keep_responses.posts["post_id"])
    assert removed == {"a5", "a6", "a12", "a13"}  # Sat/Sun of both weeks, a's only
    assert keep_responses.reactions.height == t.reactions.height
    cascade = counterfactual.weekend_off(t, ["a"])
    removed = set(t.posts["post_id"]) - set(cascade.posts["post_id"])
    # ... plus the replies to them, and the likes on them
    assert removed == {"a5", "a6", "a12", "a13", "c5", "c6", "c12", "c13"}
    assert set(cascade.reactions["post_id"]) == set(t.reactions["post_id"]) - {
        "a5",
        "a6",
        "a12",
        "a13",
    }
    assert_frame_equal(
        cascade.posts.filter(pl.col("account_id") == "b"),
        t.posts.filter(pl.col("account_id") == "b"),
    )
    assert_frame_equal(t.posts, _week().posts)  # the input is untouched


def test_time_off_removes_the_last_two_weeks_of_the_chosen_accounts() -> None:
    t = _week()
    as_of = MONDAY + timedelta(days=14)
    out = counterfactual.time_off(t, ["b"], as_of - timedelta(days=3), as_of)
    removed = set(t.posts["post_id"]) - set(out.posts["post_id"])
    assert removed == {"b11", "b12", "b13"}


def test_descendants_walk_the_whole_subtree() -> None:
    posts = pl.DataFrame(
        {"post_id": ["r", "x", "y", "z", "o"], "parent_post_id": [None, "r", "x", "y", None]}
    )
    assert sorted(counterfactual.descendants(posts, ["r"]).to_list()) == ["x", "y", "z"]
    assert counterfactual.descendants(posts, ["o"]).to_list() == []


@pytest.mark.parametrize("multiplier, expected", [(0.5, 7), (1.0, 14), (4.0, 56)])
def test_gaming_adds_the_right_number_of_posts_that_draw_nothing(multiplier, expected) -> None:
    t = _week()
    as_of = MONDAY + timedelta(days=14)
    out = counterfactual.inject_posts(t, ["a"], multiplier, as_of, seed=3)
    extra = out.posts.join(t.posts, on="post_id", how="anti")
    assert extra.height == expected
    assert extra["account_id"].unique().to_list() == ["a"]
    assert extra["parent_post_id"].null_count() == expected and (extra["n_likes"] == 0).all()
    assert (extra["created_at"] < as_of).all()
    # nobody replies to them and nobody reacts to them
    assert out.posts.filter(pl.col("parent_post_id").is_in(extra["post_id"].implode())).height == 0
    assert out.reactions.filter(pl.col("post_id").is_in(extra["post_id"].implode())).height == 0
    assert out.reactions.height == t.reactions.height


def test_reaction_ring_replies_and_likes_within_the_ring() -> None:
    t = _week()
    as_of = MONDAY + timedelta(days=14)
    out = counterfactual.reaction_ring(t, ["a", "b"], as_of, replies_per_pair=2, likes_per_pair=3)
    new = out.posts.join(t.posts, on="post_id", how="anti")
    assert new.height == 2 * 2  # two ordered pairs x two replies
    assert set(zip(new["account_id"], new["reply_to_account_id"], strict=True)) == {
        ("a", "b"),
        ("b", "a"),
    }
    likes = out.reactions.join(t.reactions, on="reaction_id", how="anti")
    assert likes.height == 2 * 3
    bumped = out.posts.join(
        t.posts.select("post_id", pl.col("n_likes").alias("old")), on="post_id"
    ).with_columns(gain=pl.col("n_likes").fill_null(0) - pl.col("old").fill_null(0))
    per_post = likes.group_by("post_id").len()
    got = bumped.join(per_post, on="post_id", how="left").with_columns(pl.col("len").fill_null(0))
    assert got["len"].sum() == 2 * 3
    assert (got["gain"] == got["len"]).all()  # the platform's like totals grow too


def test_batches_and_relative_change() -> None:
    groups = cf_rescore.batches(
        [f"x{i}" for i in range(23)], n_participants=200, share=0.05, seed=1
    )
    assert [len(g) for g in groups] == [10, 10, 3]
    assert sorted(x for g in groups for x in g) == sorted(f"x{i}" for i in range(23))
    df = pl.DataFrame({"pct_base": [50.0, 0.0], "pct_cf": [40.0, 2.0]})
    assert df.select(counterfactual.relative_change(1.0))["pct_cf"].to_list() == [-0.2, 2.0]


# ------------------------------------------------------------------------------ small demo


@pytest.fixture(scope="module")
def demo_tables(small_demo) -> Tables:
    from analysis.demo_check import tables_from_demo

    return tables_from_demo(small_demo)


def test_volume_elasticity_positive_conversation_not(demo_tables) -> None:
    p = ModelParams()
    as_of = demo_tables.posts["created_at"].max() + timedelta(seconds=1)
    cf = CounterfactualParams(n_sample=20, batch_share=0.05, gaming_multipliers=(1.0, 4.0))
    models = {"volume": volume, "conversation": conversation}
    baseline = {n: m.score(demo_tables, p, as_of) for n, m in models.items()}
    sample = cf_rescore.sample_accounts(demo_tables, cf.n_sample, cf.seed, as_of)
    groups = cf_rescore.batches(sample, demo_tables.participants().height, cf.batch_share, 1)
    by_m = {
        m: cf_rescore.rescore(
            demo_tables,
            models,
            p,
            as_of,
            groups,
            lambda t, g, m=m: counterfactual.inject_posts(t, g, m, as_of, 5),
            baseline,
            "gaming",
        )
        for m in cf.gaming_multipliers
    }
    summary = counterfactual.gaming_summary(by_m, cf.floor_pct)
    assert summary["volume"]["volume_elasticity"] > 0
    assert summary["volume"]["raw_log_elasticity"] == pytest.approx(1.0, abs=0.15)
    assert summary["conversation"]["volume_elasticity"] <= 0
    weekend = cf_rescore.rescore(
        demo_tables,
        models,
        p,
        as_of,
        groups,
        lambda t, g: counterfactual.weekend_off(t, g),
        baseline,
        "weekend",
    )
    shift = counterfactual.shift_summary(weekend, cf.floor_pct)
    assert shift["volume"]["median"] <= 0 and shift["volume"]["n_accounts"] == len(sample)


# ------------------------------------------------------------------------------ recommendation


def _robust(weekend: float, time_off: float, elasticity: float, ring: float) -> dict:
    return {
        "weekend_off_median_abs": weekend,
        "time_off_median_abs": time_off,
        "volume_elasticity": elasticity,
        "ring_gain": ring,
    }


def _ci(coef: float, half: float) -> dict:
    return {"coef": coef, "ci_low": coef - half, "ci_high": coef + half}


def _validity(coefs: dict[str, float], half: float = 0.05, comparators=("volume",)) -> dict:
    """models.json with within-thread and incremental results, paired by coefficient gaps."""
    paired = {
        f"{a}-{b}": {"diff": ca - cb, "ci_low": ca - cb - half, "ci_high": ca - cb + half}
        for a, ca in coefs.items()
        for b, cb in coefs.items()
        if a != b
    }
    per = {m: {"conversation": _ci(c, half), "approval": _ci(c, half)} for m, c in coefs.items()}
    return {
        "comparators": list(comparators),
        "within_thread": {
            "models": per,
            "paired": {"conversation": paired, "approval": paired},
        },
        "incremental": {"models": per},
    }


def test_recommend_never_picks_a_comparator_and_needs_paired_wins() -> None:
    robust = {m: _robust(0.0, 0.0, 0.0, 0.0) for m in ("volume", "spam", "talk", "rank")}
    robust["spam"] = _robust(0.0, 0.0, 0.5, 0.0)  # gains from volume
    # the baseline has by far the largest coefficient: it is still never recommended
    val = _validity({"volume": 0.9, "spam": 0.5, "talk": 0.4, "rank": 0.3})
    rec = compare_rule.recommend(robust, val, CompareParams())
    assert rec["recommended_model"] is None
    q = rec["by_question"]["whose contributions draw conversation"]
    assert "volume" not in q["excluded"] and "volume" not in rec["candidates"]
    assert {"reason": "does_not_beat", "comparator": "volume"}.items() <= next(
        w for w in q["excluded"]["talk"] if w["reason"] == "does_not_beat"
    ).items()
    assert any(w["reason"] == "gains_from_volume" for w in q["excluded"]["spam"])
    # in words, by the report's template
    from analysis.contracts import Reason
    from analysis.report.fmt import reason

    words = [reason(Reason.model_validate(w)) for w in q["excluded"]["talk"]]
    assert any(w.startswith("does not beat volume (difference -") for w in words), words
    assert q["model"] is None and q["qualifying"] == [] and q["comparators"] == ["volume"]
    # a candidate ahead of the comparator with a paired interval above zero qualifies
    val = _validity({"volume": 0.1, "spam": 0.5, "talk": 0.4, "rank": 0.3})
    rec = compare_rule.recommend(robust, val, CompareParams())
    assert rec["recommended_model"] == "talk"
    assert rec["by_question"]["whose contributions draw conversation"]["qualifying"] == [
        "talk",
        "rank",
    ]
    # within the sampling error of the comparator: no recommendation
    val = _validity({"volume": 0.1, "talk": 0.12}, half=0.05)
    rec = compare_rule.recommend({m: robust[m] for m in ("volume", "talk")}, val, CompareParams())
    assert rec["recommended_model"] is None
    assert compare_rule.recommend(robust, None, CompareParams())["recommended_model"] is None


def test_a_comparator_without_a_paired_test_is_not_beaten_unless_its_score_is_constant() -> None:
    """Rule (2) asks for a paired interval above zero against every comparator defined on the
    data. A comparator whose fit had no finite estimate has no pair: the candidate has not
    beaten it. One whose score does not vary is not defined there: nothing to beat."""
    robust = {m: _robust(0.0, 0.0, 0.0, 0.0) for m in ("volume", "reach", "talk")}
    val = _validity({"volume": 0.1, "reach": 0.1, "talk": 0.5}, comparators=("volume", "reach"))
    wt = val["within_thread"]
    for outcome in ("conversation", "approval"):
        wt["models"]["reach"][outcome] = None
        wt["paired"][outcome] = {k: v for k, v in wt["paired"][outcome].items() if "reach" not in k}
    rec = compare_rule.recommend(robust, val, CompareParams())
    q = rec["by_question"]["whose contributions draw conversation"]
    assert rec["recommended_model"] is None and q["comparators"] == ["volume", "reach"]
    assert {"reason": "no_paired_test", "comparator": "reach"} in q["excluded"]["talk"]
    from analysis.contracts import Reason
    from analysis.report.fmt import reason

    words = [reason(Reason.model_validate(w)) for w in q["excluded"]["talk"]]
    assert "not shown to beat reach" in " ".join(words), words
    # reach's score is constant on this data: it is not a comparator here
    wt["constant_scores"] = ["reach"]
    rec = compare_rule.recommend(robust, val, CompareParams())
    assert rec["recommended_model"] == "talk"
    assert rec["by_question"]["whose contributions draw conversation"]["comparators"] == ["volume"]


def test_an_untested_volume_gain_is_not_passed() -> None:
    robust = {m: _robust(0.0, 0.0, 0.0, 0.0) for m in ("volume", "talk")}
    val = _validity({"volume": 0.1, "talk": 0.5})
    assert compare_rule.recommend(robust, val, CompareParams())["recommended_model"] == "talk"
    robust["talk"]["volume_elasticity"] = None
    rec = compare_rule.recommend(robust, val, CompareParams())
    assert rec["recommended_model"] is None
    why = rec["by_question"]["whose contributions draw conversation"]["excluded"]["talk"]
    assert [w["reason"] for w in why] == ["volume_untested"]


def _gated(n: int, share_outside: float | None) -> dict:
    """A robustness row that passes every gate on its interval, altered accounts ``n``; a
    model without a standard error has no share outside its own interval (None)."""
    row: dict = {"volume_elasticity": -0.01, "volume_elasticity_ci_low": -0.02}
    row["volume_elasticity_ci_high"] = 0.0
    for sc in ("weekend_off", "time_off"):
        row |= {f"{sc}_bias": 0.0, f"{sc}_bias_ci_low": -0.01, f"{sc}_bias_ci_high": 0.01}
        row |= {f"{sc}_n": n, f"{sc}_share_outside": share_outside}
        if share_outside is not None:
            row |= {f"{sc}_outside_excess": 0.0, f"{sc}_outside_excess_ci_low": 0.0}
            row[f"{sc}_outside_excess_ci_high"] = 0.0
    return row


def test_an_untested_robustness_gate_is_not_passed() -> None:
    """Rule (5): every gate passed. Too few altered accounts leave the stability gates without
    a finding; the candidate "passes every robustness gate" only where they were tested. A
    model that states no interval of its own has no "outside its interval" gate at all."""
    val = _validity({"volume": 0.1, "talk": 0.5})
    robust = {"volume": _gated(100, None), "talk": _gated(100, 0.1)}
    assert compare_rule.recommend(robust, val, CompareParams())["recommended_model"] == "talk"
    robust["talk"] = _gated(100, None)  # no standard error: not applicable, not untested
    assert compare_rule.recommend(robust, val, CompareParams())["recommended_model"] == "talk"
    robust["talk"] = _gated(3, 0.1)  # beer: a handful of accounts active before T
    rec = compare_rule.recommend(robust, val, CompareParams())
    assert rec["recommended_model"] is None
    why = rec["by_question"]["whose contributions draw conversation"]["excluded"]["talk"]
    assert [w["reason"] for w in why] == ["gates_untested"]
    assert set(why[0]["gates"]) >= {"weekend_off", "time_off"}
    from analysis.contracts import Reason
    from analysis.report.fmt import reason

    assert "not tested on the robustness gates" in reason(Reason.model_validate(why[0]))


def test_a_gate_over_fewer_than_k_accounts_is_untested_not_a_published_pass() -> None:
    """A gate decided on fewer than privacy.min_cell_k accounts is untested (None), with its
    own reason. It used to pass at compare.gates.min_targets = 5 targets (k = 10): the 95 %
    bootstrap interval of the median of 5 ends at the largest of the 5 gains, so that "pass"
    said of each of the 5 accounts that it gained at most the limit, beside an adversary table
    that hides their gain as a cell under k."""
    from analysis.cf_stats import boot_interval
    from analysis.contracts import Reason
    from analysis.report.fmt import reason

    gains = np.array([0.01, 0.02, 0.05, 0.11, 0.2])
    hi = boot_interval(gains, np.median, 500, np.random.default_rng(0))[1]
    assert hi == gains.max()  # the interval's upper end is one target's own gain

    def row(n_targets: int, n_volume: int = 100) -> dict:
        """Passes every gate on its interval; the spam gate's interval is the one above."""
        r = _gated(100, 0.1) | {"volume_n": n_volume, "spam_replies_n_at_0.1": n_targets}
        return r | {
            "spam_replies_gain_at_0.1": float(np.median(gains)),
            "spam_replies_gain_at_0.1_ci_low": float(gains.min()),
            "spam_replies_gain_at_0.1_ci_high": hi,
        }

    val = _validity({"volume": 0.1, "talk": 0.5})
    robust = {"volume": _gated(100, None), "talk": row(5)}
    params = CompareParams()
    assert params.gates.min_targets <= 5  # enough targets for the gate itself
    k = 10
    gates = counterfactual.gate_results(robust, params.gates, k)
    assert gates["talk"]["spam_replies"] is None  # was True: a pass over 5 accounts
    assert counterfactual.gate_results(robust, params.gates, 5)["talk"]["spam_replies"] is True
    rec = compare_rule.recommend(robust, val, params, k)
    assert rec["recommended_model"] is None  # was "talk"
    assert rec["gates_below_k"] == {"talk": ["spam_replies"]} and rec["min_cell_k"] == k
    why = rec["by_question"]["whose contributions draw conversation"]["excluded"]["talk"]
    assert why == [{"reason": "gates_untested", "gates": ["spam_replies"], "k": k}]
    words = reason(Reason.model_validate(why[0]))
    assert "not tested on the robustness gates spam_replies" in words
    assert f"fewer than k = {k} accounts" in words and "small group" in words
    # the same k passed on: 10 targets decide the gate; volume over 8 sampled accounts does not
    robust["talk"] = row(10, n_volume=8)
    rec = compare_rule.recommend(robust, val, params, k)
    assert rec["gates"]["talk"]["spam_replies"] is True and rec["gates"]["talk"]["volume"] is None
    why = rec["by_question"]["whose contributions draw conversation"]["excluded"]["talk"]
    assert why == [{"reason": "volume_untested", "k": k}]
    assert f"fewer than k = {k} accounts" in reason(Reason.model_validate(why[0]))
    # the default is privacy.min_cell_k's default, never no floor at all
    assert compare_rule.recommend(robust, val, params)["gates_below_k"] == {"talk": ["volume"]}


def test_the_weekend_moved_gate_needs_min_accounts_as_the_other_stability_gates() -> None:
    """weekend_moved, when gated, was decided on any number of altered accounts: 15 (>= k,
    < min_accounts 20) passed it while weekend_off and time_off over 15 were untested."""
    gates = CompareParams().gates.model_copy(update={"weekend_moved_bias_max": 0.05})
    row = _gated(15, 0.1) | {"weekend_moved_n": 15, "weekend_moved_bias": 0.0}
    row |= {"weekend_moved_bias_ci_low": -0.01, "weekend_moved_bias_ci_high": 0.01}
    g = counterfactual.gate_results({"m": row}, gates, 10)["m"]
    assert g["weekend_off"] is None and g["time_off"] is None
    assert g["weekend_moved"] is None  # was True
    row |= {"weekend_off_n": 20, "time_off_n": 20, "weekend_moved_n": 20}
    g = counterfactual.gate_results({"m": row}, gates, 10)["m"]
    assert g["weekend_off"] is True and g["weekend_moved"] is True


def test_recommend_requires_the_robustness_gates_and_incremental_validity() -> None:
    robust = {"volume": _robust(0, 0, 0, 0), "talk": _robust(0.5, 0.0, 0.0, 0.0)}
    val = _validity({"volume": 0.1, "talk": 0.5})
    q = compare_rule.recommend(robust, val, CompareParams())["by_question"]
    why = q["whose contributions draw conversation"]["excluded"]["talk"]
    assert any(w["reason"] == "fails_gates" and "weekend_off" in w["gates"] for w in why)
    robust["talk"] = _robust(0.0, 0.0, 0.0, 0.0)
    val["incremental"]["models"]["talk"]["conversation"] = _ci(0.02, 0.05)
    q = compare_rule.recommend(robust, val, CompareParams())["by_question"]
    assert q["whose contributions draw conversation"]["model"] is None
    assert q["whose contributions win approval"]["model"] == "talk"
    assert any(
        w["reason"] == "no_gain_over_activity"
        for w in q["whose contributions draw conversation"]["excluded"]["talk"]
    )


def test_divergence_without_spread_in_reach_places_nobody() -> None:
    """A dump without any audience field (Hacker News CSV, Usenet): every reach percentile is
    equal (50). Reach is missing: no fit, no divergence, nobody in a quadrant (before: every
    account "loud", and residuals from the mean conversation)."""
    n = 6611
    reach = pl.DataFrame({"account_id": [f"a{i}" for i in range(n)], "score_pct": [50.0] * n})
    conv = pl.DataFrame(
        {"account_id": [f"a{i}" for i in range(n)], "score_pct": [float(i % 7) for i in range(n)]}
    )
    div, fit = divergence.divergence(reach, conv, divergence.DivergenceParams())
    assert fit["slope"] is None and fit["n"] == n
    assert fit["reach_missing"] is True
    assert div.columns == ["account_id", "reach_pct", "conversation_pct", "quadrant", "divergence"]
    assert div["quadrant"].null_count() == n and div["divergence"].null_count() == n
    counts = divergence.quadrant_counts(div)
    assert all(c == {"n": 0, "share": None} for c in counts.values()), counts
    _, fit = divergence.divergence(
        reach.with_columns(score_pct=pl.Series([float(i % 3) for i in range(n)])),
        conv,
        divergence.DivergenceParams(),
    )
    assert fit["reach_missing"] is False


def test_gaming_summary_lists_models_in_one_order_whatever_the_row_order() -> None:
    """The gaming plot's rows follow this dict's order; a group-by's order is not fixed."""
    rng = np.random.default_rng(3)
    models = [f"m{i}" for i in range(12)]
    frames = {}
    for mult in (0.5, 1.0):
        frames[mult] = pl.DataFrame(
            {
                "model": [m for m in models for _ in range(30)],
                "account_id": [f"a{j}" for _ in models for j in range(30)],
                "score_base": rng.uniform(1, 10, 360),
                "score_cf": rng.uniform(1, 10, 360),
                "pct_base": rng.uniform(0, 100, 360),
                "pct_cf": rng.uniform(0, 100, 360),
            }
        )
    orders = set()
    for seed in range(6):
        shuffled = {m: df.sample(fraction=1.0, shuffle=True, seed=seed) for m, df in frames.items()}
        orders.add(tuple(counterfactual.gaming_summary(shuffled, 1.0)))
    assert orders == {tuple(sorted(models))}
