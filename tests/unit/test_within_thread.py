"""The within-thread competition test and the account-level incremental check, on synthetic
communities where the truth is planted (``analysis.models.within_thread``, ``incremental``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from analysis import schema
from analysis.models import (
    bootstrap,
    conditional_poisson,
    incremental,
    within_thread,
    within_thread_fit,
    within_thread_responses,
)
from analysis.models.base import Tables
from analysis.models.within_thread import ValidateParams

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def test_cpoisson_matches_statsmodels_conditional_poisson() -> None:
    from statsmodels.discrete.conditional_models import ConditionalPoisson

    rng = np.random.default_rng(0)
    n_groups, size = 120, 4
    groups = np.repeat(np.arange(n_groups), size)
    x = rng.normal(size=(groups.size, 2))
    fe = rng.normal(size=n_groups)[groups]
    y = rng.poisson(np.exp(0.5 * x[:, 0] - 0.3 * x[:, 1] + fe))
    # statsmodels drops groups whose counts are all equal (they still carry information in the
    # multinomial form, which cpoisson keeps): compare on groups with variation only
    varied = pl.DataFrame({"g": groups, "y": y}).group_by("g").agg(pl.col("y").n_unique() > 1)
    keep = np.isin(groups, varied.filter(pl.col("y"))["g"].to_numpy())
    x, y = x[keep], y[keep]
    groups = np.unique(groups[keep], return_inverse=True)[1]
    n_groups = int(groups.max()) + 1
    beta, se = conditional_poisson.cpoisson(y.astype(float), x, groups)
    ref = ConditionalPoisson(y, x, groups=groups).fit(disp=0)
    np.testing.assert_allclose(beta, ref.params, rtol=1e-5)
    np.testing.assert_allclose(se, ref.bse, rtol=1e-3)
    # bootstrap multiplicities: a group counted twice equals the data with that group duplicated
    wg = np.ones(n_groups)
    wg[:10] = 2
    b_w, _ = conditional_poisson.cpoisson(y.astype(float), x, groups, w_group=wg)
    dup = np.concatenate([np.arange(groups.size), np.flatnonzero(groups < 10)])
    g_dup = np.concatenate([groups, groups[groups < 10] + n_groups])
    b_d, _ = conditional_poisson.cpoisson(y[dup].astype(float), x[dup], g_dup)
    np.testing.assert_allclose(b_w, b_d, rtol=1e-6)


def _community(trait_effect: float, n_authors: int = 60, n_q: int = 400, seed: int = 1) -> Tables:
    """Askers post questions; authors with a hidden trait answer; good answers draw comments.

    History (before day 100): each author posts a number of answers unrelated to the trait, and
    the trait draws comments on them (what a conversation model can see). After day 100:
    competitions of 3 answers per question; comments on each answer ~ Poisson(exp(effect*trait)).
    """
    rng = np.random.default_rng(seed)
    trait = rng.normal(size=n_authors)
    rows, q = [], 0

    def add(pid, acct, kind, parent, day):
        rows.append((pid, acct, kind, parent, T0 + timedelta(days=float(day)), f"text {pid}"))

    for period, (lo, hi) in enumerate(((0, 100), (100, 200))):
        for _ in range(n_q // 2):
            day = rng.uniform(lo, hi - 10)
            qid = f"q{q}"
            add(qid, f"asker{q % 30}", "question", None, day)
            for a in rng.choice(n_authors, size=3, replace=False):
                aid = f"{qid}a{a}"
                add(aid, f"u{a}", "answer", qid, day + rng.uniform(0.01, 1))
                rate = np.exp(trait_effect * trait[a]) * (0.8 if period else 1.0)
                for c in range(rng.poisson(rate)):
                    add(f"{aid}c{c}", f"asker{(q + c + 7) % 30}", "comment", aid, day + 1.5)
            q += 1
    posts = schema.conform(
        pl.DataFrame(
            rows,
            schema=["post_id", "account_id", "kind", "parent_post_id", "created_at", "text"],
            orient="row",
        ).with_columns(platform=pl.lit("stackexchange")),
        "posts",
    )
    ids = sorted(set(posts["account_id"]))
    accounts = schema.conform(
        pl.DataFrame({"account_id": ids, "platform": "stackexchange"}), "accounts"
    ).with_columns(is_participant=pl.lit(True))
    t = Tables(accounts, posts, schema.empty("reactions"))
    return t, trait


def _scores(t: Tables, trait: np.ndarray):
    """Three scores: the hidden trait, plain prior activity, and noise."""
    rng = np.random.default_rng(5)
    noise = {f"u{i}": rng.normal() for i in range(trait.size)}

    def at(when):
        before = t.posts.filter(pl.col("created_at") < when)
        n = before.group_by("account_id").len()
        ids = n["account_id"].to_list()
        tr = {f"u{i}": v for i, v in enumerate(trait)}
        return {
            "true": pl.DataFrame({"account_id": ids, "score": [tr.get(i, 0.0) for i in ids]}),
            "volume": n.select("account_id", score=pl.col("len").cast(pl.Float64)),
            "noise": pl.DataFrame({"account_id": ids, "score": [noise.get(i, 0.0) for i in ids]}),
        }

    return at


P = ValidateParams(
    origins=2,
    history_share=0.5,
    follow_days=7,
    n_boot=60,
    n_placebo=5,
    comparators=("volume", "noise"),
)


def test_a_score_that_drives_conversation_wins_within_threads_and_noise_does_not() -> None:
    t, trait = _community(trait_effect=0.8)
    res = within_thread.within_thread(t, _scores(t, trait), P)
    assert res["n_competitions"] > 50
    true = res["models"]["true"]["conversation"]
    noise = res["models"]["noise"]["conversation"]
    assert true["ci_low"] > 0.15  # planted: 0.8 per SD of the trait (rank-z attenuates it)
    assert noise["ci_low"] < 0 < noise["ci_high"]
    assert abs(true["placebo_coef"]) < 0.2  # shuffling among equally active authors kills it
    diff = res["paired"]["conversation"]["true-noise"]
    assert diff["ci_low"] > 0
    # approval has no events here (no reaction rows): not fitted, said as such
    assert res["models"]["true"]["approval"] is None


def test_without_a_planted_effect_nothing_is_found() -> None:
    t, trait = _community(trait_effect=0.0, seed=3)
    res = within_thread.within_thread(t, _scores(t, trait), P)
    r = res["models"]["true"]["conversation"]
    assert r["ci_low"] < 0 < r["ci_high"]


def test_a_score_that_does_not_vary_is_named_and_has_no_fit() -> None:
    """The rule skips a comparator that does not vary (nothing to beat) but not one whose fit
    failed otherwise: the test names the constant ones."""
    t, trait = _community(trait_effect=0.8)
    at = _scores(t, trait)

    def with_flat(when):
        s = at(when)
        return {**s, "flat": s["volume"].with_columns(score=pl.lit(3.0))}

    res = within_thread.within_thread(t, with_flat, P)
    assert res["constant_scores"] == ["flat"]
    assert res["models"]["flat"]["conversation"] is None
    assert not any("flat" in k for k in res["paired"]["conversation"])


def test_responses_are_competitions_of_scored_authors_with_outcomes_in_the_follow_window() -> None:
    t, _trait = _community(trait_effect=0.5)
    origin = within_thread_responses.origins(t.posts, P)[0]
    resp = within_thread_responses.responses(t, origin, P, t.posts["created_at"].max())
    assert resp.height
    assert (resp.group_by("group").agg(pl.col("account_id").n_unique())["account_id"] >= 2).all()
    answers = resp.filter(pl.col("group").str.ends_with("|answer"))
    assert answers.height and answers["account_id"].str.starts_with("u").all()  # askers ask
    # sibling comments under one answer compete too
    assert resp.filter(pl.col("group").str.ends_with("|comment")).height
    assert (resp["created_at"] > origin.scored_at).all()
    assert (resp["created_at"] <= origin.window_end).all()
    # outcome = comments on the answer (by others), as planted
    one = resp.row(0, named=True)
    kids = t.posts.filter(pl.col("parent_post_id") == one["post_id"])
    assert one["conversation"] == kids["account_id"].n_unique()


def test_incremental_validity_separates_a_trait_from_activity() -> None:
    t, trait = _community(trait_effect=0.8, seed=2)
    res = incremental.incremental(t, _scores(t, trait), P)
    assert res["models"]["true"]["conversation"]["ci_low"] > 0
    noise = res["models"]["noise"]["conversation"]
    assert noise["ci_low"] < 0 < noise["ci_high"]


@pytest.mark.parametrize(
    ("lo", "hi", "verdict"),
    [(0.1, 0.3, "holds"), (-0.3, -0.1, "reversed"), (-0.1, 0.2, "inconclusive")],
)
def test_dissociation_verdicts(lo, hi, verdict) -> None:
    pair = {"diff": (lo + hi) / 2, "ci_low": lo, "ci_high": hi}
    res = {
        "paired": {
            "conversation": {f"conversation-{k}": pair for k in ("reach", "volume", "klout_like")},
            "approval": {"reach-conversation": pair},
        }
    }
    d = within_thread.dissociation(res)
    assert d["conversation_models_win_conversation"]["verdict"] == verdict
    assert d["reach_wins_approval"]["verdict"] == verdict
    assert within_thread.dissociation({})["reach_wins_approval"]["verdict"] == "untestable"


def _statsmodels_poisson(y, x, offset, w) -> tuple[float | None, float | None, float | None]:
    import warnings

    import statsmodels.api as sm

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = sm.GLM(y, x, family=sm.families.Poisson(), offset=offset, freq_weights=w).fit()
        return float(res.params[0]), float(res.llf), float(res.llnull)
    except Exception:
        return None, None, None


def test_incremental_with_the_lean_fits_equals_statsmodels_for_every_fit(monkeypatch) -> None:
    """The fast path (``poisson_irls`` for the baseline, its null model and the model fits,
    multiplicities spread per fit) gives the same result, to the bit, as the reference that
    fits everything with statsmodels."""
    t, trait = _community(trait_effect=0.8, seed=2)
    fast = incremental.incremental(t, _scores(t, trait), P)
    monkeypatch.setattr(incremental, "_poisson", _statsmodels_poisson)
    monkeypatch.setattr(
        incremental, "_poisson_coef", lambda y, x, o, w: _statsmodels_poisson(y, x, o, w)[:2]
    )
    reference = incremental.incremental(t, _scores(t, trait), P)
    assert fast["models"]["true"]["conversation"]["ci_low"] is not None
    assert fast == reference


def test_placebo_shuffles_each_authors_score_within_its_origin_and_activity_bin() -> None:
    """One value per (origin, author), permuted only among units of the same origin and prior
    activity bin; the cells are built once and the same seed gives the same shuffle."""
    rng = np.random.default_rng(0)
    n = 400
    origin = rng.choice(np.array(["2024-01", "2024-02", "2024-03"], dtype=object), n)
    authors = rng.integers(0, 40, n)
    unit_prior = rng.gamma(2.0, 3.0, (3, 40))
    unit_z = rng.normal(size=(3, 40))
    o_idx = np.searchsorted(["2024-01", "2024-02", "2024-03"], origin.astype(str))
    d = within_thread_fit.Design(
        y={},
        controls=np.zeros((n, 3)),
        z={},
        groups=np.zeros(n, dtype=np.int64),
        authors=authors,
        prior=unit_prior[o_idx, authors],
        row_origin=origin,
        n_groups=1,
        n_authors=40,
    )
    z = unit_z[o_idx, authors]
    cells = within_thread_fit.placebo_cells(d, bins=4)
    a = within_thread_fit.placebo_z(cells, z, np.random.default_rng(3))
    b = within_thread_fit.placebo_z(cells, z, np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, z)  # something moved
    units = {}
    for i in range(n):
        units.setdefault((origin[i], authors[i]), set()).add(a[i])
    assert all(len(v) == 1 for v in units.values())  # one value per (origin, author)
    # each cell's values are a permutation of its own: origins never mix, nor activity bins
    for members in cells.cells:
        rows = cells.first[members]
        assert len(set(origin[rows])) == 1
        np.testing.assert_array_equal(np.sort(a[rows]), np.sort(z[rows]))
    covered = np.concatenate(cells.cells)
    assert sorted(covered) == list(range(len(cells.first)))
    for o in ("2024-01", "2024-02", "2024-03"):
        rows = cells.first[[c[0] for c in cells.cells if origin[cells.first[c[0]]] == o]]
        assert len(rows) == 4  # four bins per origin


def test_sample_units_draws_cap_distinct_units_only_above_the_cap() -> None:
    assert bootstrap.sample_units(50, None, 11, 1) is None
    assert bootstrap.sample_units(50, 50, 11, 1) is None
    a = bootstrap.sample_units(1_000, 100, 11, 1)
    assert a is not None and a.size == 100
    assert np.all(np.diff(a) > 0) and a[0] >= 0 and a[-1] < 1_000  # distinct, ascending
    np.testing.assert_array_equal(a, bootstrap.sample_units(1_000, 100, 11, 1))
    # another test's stream, or another seed, draws other units
    assert not np.array_equal(a, bootstrap.sample_units(1_000, 100, 11, 2))
    assert not np.array_equal(a, bootstrap.sample_units(1_000, 100, 12, 1))


def _rekeyed(t: Tables, at):
    """The same community under another key: every account and post id replaced by another
    name whose sort order is scrambled (texts, times and kinds unchanged)."""
    rng = np.random.default_rng(99)

    def renamer(values: list[str], prefix: str) -> dict[str, str]:
        perm = rng.permutation(len(values))
        return {v: f"{prefix}{perm[i]:06d}" for i, v in enumerate(values)}

    acct = renamer(t.accounts["account_id"].to_list(), "acct_")
    post = renamer(t.posts["post_id"].to_list(), "post_")
    posts = t.posts.with_columns(
        pl.col("post_id").replace_strict(post),
        pl.col("parent_post_id").replace_strict(post, default=None),
        pl.col("root_post_id").replace_strict(post, default=None),
        pl.col("account_id").replace_strict(acct),
    )
    accounts = t.accounts.with_columns(pl.col("account_id").replace_strict(acct))

    def at2(when):
        return {
            name: s.with_columns(pl.col("account_id").replace_strict(acct))
            for name, s in at(when).items()
        }

    return Tables(accounts, posts, t.reactions), at2


def _results(res: dict) -> dict:
    return {k: res[k] for k in ("models", "paired")}


def test_above_max_competitions_a_key_independent_sample_of_them_is_fitted() -> None:
    """The within-thread test on a sample of validate.max_competitions competitions: the whole
    counts are reported beside the sample's, the planted effect is still found, and the sample
    (hence every number) is the same under another key."""
    t, trait = _community(trait_effect=0.8)
    at = _scores(t, trait)
    whole = within_thread.within_thread(t, at, P)
    capped = P.model_copy(update={"max_competitions": 100})
    res = within_thread.within_thread(t, at, capped)
    assert whole["n_competitions"] > 150
    assert whole["n_competitions_total"] == whole["n_competitions"]
    assert whole["n_responses_total"] == whole["n_responses"]
    assert res["n_competitions"] == 100
    assert res["n_competitions_total"] == whole["n_competitions"]
    assert res["n_responses_total"] == whole["n_responses"]
    assert res["n_responses"] < whole["n_responses"]
    assert res["models"]["true"]["conversation"]["ci_low"] > 0
    assert res["models"] != whole["models"]
    t2, at2 = _rekeyed(t, at)
    assert _results(within_thread.within_thread(t2, at2, capped)) == _results(res)


def test_above_max_accounts_the_incremental_check_fits_a_key_independent_sample() -> None:
    t, trait = _community(trait_effect=0.8, seed=2)
    at = _scores(t, trait)
    whole = incremental.incremental(t, at, P)
    capped = P.model_copy(update={"max_accounts": 40})
    res = incremental.incremental(t, at, capped)
    assert whole["n_accounts"] > 40 and whole["n_accounts_total"] == whole["n_accounts"]
    assert res["n_accounts"] == 40 and res["n_accounts_total"] == whole["n_accounts"]
    assert res["n_account_origins_total"] == whole["n_account_origins"]
    assert res["n_account_origins"] < whole["n_account_origins"]
    assert res["models"] != whole["models"]
    t2, at2 = _rekeyed(t, at)
    assert _results(incremental.incremental(t2, at2, capped)) == _results(res)


def test_the_design_gets_the_responders_scores_alone_and_the_same_arrays(monkeypatch) -> None:
    """Each origin's standardised scores are ranked among every active account but kept only
    for the authors who respond there (memory: 9 scores x every origin were held for every
    active account); the design built from them is the one built from all of them."""
    t, trait = _community(trait_effect=0.5)
    # an account active before every origin that never responds: ranked, not kept
    lurker = schema.conform(
        pl.DataFrame(
            {
                "post_id": ["lurk"],
                "account_id": ["lurker"],
                "kind": ["question"],
                "created_at": [T0 + timedelta(days=1)],
                "text": ["a question nobody answers"],
                "platform": ["stackexchange"],
            }
        ),
        "posts",
    )
    t = Tables(
        pl.concat([t.accounts, t.accounts.head(1).with_columns(account_id=pl.lit("lurker"))]),
        pl.concat([lurker, t.posts]),
        t.reactions,
    )
    at = _scores(t, trait)
    seen: dict = {}
    real = within_thread.design

    def spy(resp, z, posts, *args, **kwargs):
        seen.update(resp=resp, z=z)
        return real(resp, z, posts, *args, **kwargs)

    monkeypatch.setattr(within_thread, "design", spy)
    within_thread.within_thread(t, at, P)
    resp, kept = seen["resp"], seen["z"]
    responders = resp.select(
        origin=pl.col("group").str.split("|").list.first(), account_id="account_id"
    ).unique()
    full: dict[str, list[pl.DataFrame]] = {}
    end = t.posts["created_at"].max()
    for o in within_thread_responses.origins(t.posts, P):
        if not within_thread_responses.responses(t, o, P, end).height:
            continue
        active = t.posts.filter(pl.col("created_at") < o.scored_at).select("account_id").unique()
        for name, s in at(o.scored_at).items():
            full.setdefault(name, []).append(
                within_thread_responses.rank_z(s, active).with_columns(
                    origin=pl.lit(o.scored_at.isoformat())
                )
            )
    assert set(kept) == set(full)
    for name, z in kept.items():
        every = pl.concat(full[name])
        assert z.join(responders, on=["origin", "account_id"], how="anti").height == 0
        assert "lurker" in every["account_id"] and "lurker" not in z["account_id"]
    a = real(resp, kept, t.posts, P.max_competitions, P.seed)
    b = real(resp, {k: pl.concat(v) for k, v in full.items()}, t.posts, P.max_competitions, P.seed)
    for name in kept:
        np.testing.assert_array_equal(a.z[name], b.z[name])
    np.testing.assert_array_equal(a.groups, b.groups)
