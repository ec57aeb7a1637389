"""What keeps stage ``validate``'s memory from growing with the data (docs/scaling-log.md): fitted
statsmodels objects freed after each fit, bootstrap draws drawn on demand, and only the two
score columns the tests read kept between origins. Structure, not bytes of RSS."""

from __future__ import annotations

import gc
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from analysis.models import incremental, validity, within_thread_fit
from analysis.stages import validate

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _statsmodels_objects() -> int:
    """Objects tracked by the collector whose class comes from statsmodels."""
    return sum(
        1
        for o in gc.get_objects()
        if str(getattr(type(o), "__module__", "")).startswith("statsmodels")
    )


def _poisson_fit(y: np.ndarray, x: np.ndarray) -> None:
    """The incremental check's baseline: statsmodels' numbers without statsmodels' objects."""
    coef, llf, llnull = incremental._poisson(y, x, np.zeros(len(y)), np.ones(len(y)))
    assert coef is not None and llf is not None and llnull is not None


def _nb_fit(y: np.ndarray, x: np.ndarray) -> None:
    assert validity.nb_fit(y, x[:, 0])["coef_per_sd"] is not None


@pytest.mark.parametrize("fit", [_poisson_fit, _nb_fit])
def test_a_statsmodels_fit_leaves_nothing_for_the_oldest_generation(fit) -> None:
    """A fitted model and its results refer to each other: without a collection right after the
    fit they wait for the oldest generation's rare collection, each holding copies of the
    design (the incremental bootstrap piled up ~270 MiB of them at 100k posts). With the
    automatic collector off, only the code's own collection can free them."""
    rng = np.random.default_rng(0)
    n = 400
    x = np.column_stack([rng.normal(size=n), np.ones(n)])
    y = rng.poisson(np.exp(0.3 * x[:, 0])).astype(float)
    fit(y, x)  # imports and one-off caches
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        before = _statsmodels_objects()
        for _ in range(3):
            fit(y, x)
        assert _statsmodels_objects() == before
    finally:
        if was_enabled:
            gc.enable()


def test_without_the_collection_the_fits_would_pile_up(monkeypatch) -> None:
    """The check above can fail: with the collection switched off, fits leave objects."""
    monkeypatch.setattr(validity, "collect_fit_garbage", lambda: None)
    rng = np.random.default_rng(0)
    n = 400
    x = np.column_stack([rng.normal(size=n), np.ones(n)])
    y = rng.poisson(np.exp(0.3 * x[:, 0])).astype(float)
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        before = _statsmodels_objects()
        _nb_fit(y, x)
        assert _statsmodels_objects() > before
    finally:
        if was_enabled:
            gc.enable()
        gc.collect()


def test_bootstrap_draws_are_the_same_at_every_pass_and_never_all_held() -> None:
    """Each model's refits iterate the draws again: the same draws as one eager list, from a
    generator (one draw alive at a time, not n_boot x rows)."""
    counts = incremental.bootstrap_counts(7, 5, seed=3)
    assert not isinstance(counts, list | tuple)
    rng = np.random.default_rng(3)
    eager = [np.bincount(rng.integers(0, 7, 7), minlength=7) for _ in range(5)]
    for _ in range(2):
        got = list(incremental.bootstrap_counts(7, 5, seed=3))
        assert len(got) == 5
        for a, b in zip(got, eager, strict=True):
            np.testing.assert_array_equal(a, b)

    d = within_thread_fit.Design(
        y={},
        controls=np.zeros((0, 3)),
        z={},
        groups=np.zeros(0, dtype=np.int64),
        authors=np.zeros(0, dtype=np.int64),
        prior=np.zeros(0),
        row_origin=np.zeros(0, dtype=object),
        n_groups=6,
        n_authors=4,
    )
    rng = np.random.default_rng(11)
    eager_pairs = []
    for _ in range(4):
        mg = np.bincount(rng.integers(0, 6, 6), minlength=6)
        ma = np.bincount(rng.integers(0, 4, 4), minlength=4)
        eager_pairs.append((ma, mg))
    draws = within_thread_fit.pigeonhole_draws(d, 4, seed=11)
    assert not isinstance(draws, list | tuple)
    for _ in range(2):
        got_pairs = list(within_thread_fit.pigeonhole_draws(d, 4, seed=11))
        for (ma, mg), (ea, eg) in zip(got_pairs, eager_pairs, strict=True):
            np.testing.assert_array_equal(ma, ea)
            np.testing.assert_array_equal(mg, eg)


def _wide_scores(t: datetime) -> dict[str, pl.DataFrame]:
    n = 5
    frame = pl.DataFrame(
        {
            "account_id": [f"a{i}" for i in range(n)],
            "score": [float(i + t.day) for i in range(n)],
            "score_pct": [0.5] * n,
            "n_obs": list(range(n)),
            "missing_inputs": [""] * n,
        }
    )
    return {"volume": frame, "peer_pagerank": frame}


def test_scores_at_keeps_two_columns_scores_each_origin_once_and_clears() -> None:
    calls: list[datetime] = []

    def score(t: datetime) -> dict[str, pl.DataFrame]:
        calls.append(t)
        return _wide_scores(t)

    at = validate.ScoresAt(score)
    t1, t2 = T0, T0 + timedelta(days=3)
    first = at(t1)
    assert at(t1) is first and calls == [t1]  # scored once, kept for the next test
    assert {name: f.columns for name, f in first.items()} == {
        "volume": ["account_id", "score"],
        "peer_pagerank": ["account_id", "score"],
    }
    assert first["volume"]["score"].to_list() == _wide_scores(t1)["volume"]["score"].to_list()
    at(t2)
    assert at.origins == [t1, t2]
    at.clear()
    assert at.origins == []
    assert at.names == {"volume", "peer_pagerank"}  # the comparators seen are still reported
    at(t1)
    assert calls == [t1, t2, t1]


def test_the_stage_clears_the_origins_before_ranking_and_out_of_time(monkeypatch) -> None:
    """The rolling origins' scores are dropped once within-thread and incremental are done."""
    seen: dict[str, list] = {}
    made: list[validate.ScoresAt] = []
    real = validate.ScoresAt

    class Spy(real):
        def __init__(self, *a, **k) -> None:
            super().__init__(*a, **k)
            made.append(self)

    def fake_test(name):
        def run(tables, at, *rest, **kw):
            for t in (T0, T0 + timedelta(days=1)):
                at(t)
            seen[name] = made[0].origins
            return {}

        return run

    def fake_ranking(tables, at, *rest, **kw):
        seen["ranking"] = made[0].origins
        at(T0 + timedelta(days=9))
        return {}

    def fake_out_of_time(*a, **k):
        seen["out_of_time"] = made[0].origins
        return {}

    stop = RuntimeError("stop after the tests")

    def validate_result(*a, **k):
        raise stop

    monkeypatch.setattr(validate, "ScoresAt", Spy)
    monkeypatch.setattr(validate, "load_validate_tables", lambda names: _tiny_tables())
    monkeypatch.setattr(validate, "read_scores", lambda path: pl.DataFrame())
    monkeypatch.setattr(validate.paths, "score_file", lambda name: _Exists())
    monkeypatch.setattr(validate.within_thread, "within_thread", fake_test("within_thread"))
    monkeypatch.setattr(validate.incremental, "incremental", fake_test("incremental"))
    monkeypatch.setattr(validate.validity, "ranking", fake_ranking)
    monkeypatch.setattr(validate.validity, "out_of_time", fake_out_of_time)
    monkeypatch.setattr(validate.validity, "scores_at", lambda tables, names, p, t, f: {})
    monkeypatch.setattr(validate.validity, "missing_inputs", lambda s: {})
    monkeypatch.setattr(validate.contracts.ValidityResult, "model_validate", validate_result)
    with pytest.raises(RuntimeError, match="stop after the tests"):
        validate._run({}, None)
    assert len(seen["within_thread"]) == 2
    assert len(seen["incremental"]) == 2  # the same origins, kept between the two tests
    assert seen["ranking"] == []
    assert seen["out_of_time"] == []


class _Exists:
    def exists(self) -> bool:
        return True


def _tiny_tables():
    from analysis import schema
    from analysis.models.base import Tables

    posts = schema.conform(
        pl.DataFrame(
            {
                "post_id": ["p1", "p2"],
                "account_id": ["a1", "a2"],
                "platform": ["stackexchange"] * 2,
                "kind": ["question", "answer"],
                "parent_post_id": [None, "p1"],
                "root_post_id": ["p1", "p1"],
                "created_at": [T0, T0 + timedelta(hours=1)],
                "text": ["q", "a"],
            }
        ),
        "posts",
    )
    accounts = schema.conform(
        pl.DataFrame({"account_id": ["a1", "a2"], "platform": "stackexchange"}), "accounts"
    ).with_columns(is_participant=pl.lit(True))
    return Tables(accounts, posts, schema.empty("reactions"))


def test_the_run_topics_are_set_aside_while_the_origins_refit_their_own(
    monkeypatch, tmp_path
) -> None:
    """The whole dump's post topics (fitted with the posts after every origin) reach no test:
    the origins and the out-of-time check refit their own. The refit gets two columns."""
    from dataclasses import replace

    run_topics = pl.DataFrame(
        {"post_id": ["p1", "p2"], "topic_id": [0, 1], "probability": [1.0, 0.5]}
    ).with_columns(is_primary=pl.lit(True))
    topics_file = tmp_path / "post_topics.parquet"
    run_topics.write_parquet(topics_file)
    (tmp_path / "embeddings.parquet").write_bytes(b"")
    (tmp_path / "topics.json").write_text('{"n_topics": 2}')
    monkeypatch.setattr(validate.paths, "POST_TOPICS", topics_file)
    monkeypatch.setattr(validate.paths, "EMBEDDINGS", tmp_path / "embeddings.parquet")
    monkeypatch.setattr(validate.paths, "TOPICS_METRICS", tmp_path / "topics.json")
    seen: dict[str, object] = {}

    def refit(embeddings, posts, t, tp, k):
        seen["refit_columns"] = posts.columns
        return run_topics.head(1)

    def scores_at(tables, names, p, t, topics_at):
        seen["rolling"] = tables.post_topics
        topics_at(t)
        return {}

    def fake_test(tables, at, *rest, **kw):
        at(T0)
        return {}

    def fake_out_of_time(tables, models, p, as_of, topics_at):
        seen["out_of_time"] = tables.post_topics
        seen["out_of_time_refit"] = topics_at(as_of)
        raise RuntimeError("stop")

    monkeypatch.setattr(
        validate,
        "load_validate_tables",
        lambda names: replace(_tiny_tables(), post_topics=run_topics),
    )
    monkeypatch.setattr(validate, "post_topics_before", refit)
    monkeypatch.setattr(validate, "read_scores", lambda path: pl.DataFrame())
    monkeypatch.setattr(validate.paths, "score_file", lambda name: _Exists())
    monkeypatch.setattr(validate.within_thread, "within_thread", fake_test)
    monkeypatch.setattr(validate.incremental, "incremental", fake_test)
    monkeypatch.setattr(validate.validity, "ranking", lambda *a, **k: {})
    monkeypatch.setattr(validate.validity, "out_of_time", fake_out_of_time)
    monkeypatch.setattr(validate.validity, "scores_at", scores_at)
    monkeypatch.setattr(validate.validity, "missing_inputs", lambda s: {})
    with pytest.raises(RuntimeError, match="stop"):
        validate._run({"models": {"scored": {"volume": {}, "network_topic": {}}}}, None)
    assert seen["rolling"] is None
    # the refits read the embeddings file in its order: no text, no hash copied
    assert seen["refit_columns"] == ["post_id", "created_at"]
    assert seen["out_of_time"] is None
    assert seen["out_of_time_refit"].equals(run_topics.head(1))  # the refit's, not the run's


def test_the_posts_cut_to_the_edge_and_order_columns_give_the_same_edges_and_order(
    monkeypatch,
) -> None:
    """Incremental and the ranking scope and order posts cut to ``EDGE_COLUMNS`` and
    ``order_columns`` (half the table's bytes): the same credit edges and account order as the
    whole table, on Stack Exchange answers (credit to the answerer), replies whose addressee
    comes from the parent, reposts, same-second posts, and a meaning that only the platform
    tells (Reddit comments read as quotes here, as no platform's are today)."""
    from analysis import ordering, schema, semantics
    from analysis.models import common

    meanings = {**semantics.MEANINGS, ("reddit", "comment"): semantics.DEFAULT["quote"]}
    monkeypatch.setattr(semantics, "MEANINGS", meanings)

    h = timedelta(hours=1)
    rows = [
        ("q1", "a1", "stackexchange", "question", None, None, T0, "how?"),
        ("x1", "a2", "stackexchange", "answer", "q1", None, T0 + h, "so"),
        ("x2", "a3", "stackexchange", "answer", "q1", None, T0 + h, "or so"),
        ("c1", "a1", "stackexchange", "comment", "x1", "a2", T0 + 2 * h, "thanks"),
        ("r1", "a4", "reddit", "post", None, None, T0, "news"),
        ("r2", "a5", "reddit", "comment", "r1", None, T0 + h, "wow"),
        ("r3", "a4", "reddit", "reply", "r2", None, T0 + 3 * h, "yes"),
        ("b1", "a2", "mastodon", "repost", "r1", "a4", T0 + h, None),
    ]
    names = ("post_id", "account_id", "platform", "kind", "parent_post_id")
    names += ("reply_to_account_id", "created_at", "text")
    posts = schema.conform(
        pl.DataFrame([dict(zip(names, r, strict=True)) for r in rows]), "posts"
    ).with_columns(root_post_id=pl.col("parent_post_id"), score=pl.lit(3))
    as_of = T0 + timedelta(days=1)

    def edges(frame: pl.DataFrame) -> pl.DataFrame:
        return common.reply_edges(common.scoped_posts(frame, as_of, 1.0, None)).sort("post_id")

    full = edges(posts)
    assert full["post_id"].to_list() == ["c1", "r3", "x1", "x2"]  # r2 is a quote here
    assert set(full["channel"]) == {semantics.ANSWER, semantics.CONVERSATION}
    assert edges(posts.select(validity.EDGE_COLUMNS)).equals(full)
    order = ordering.account_order(posts)
    assert ordering.account_order(posts.select(validity.order_columns(posts))).equals(order)
    # and with the texts' digest in their place (stage validate leaves the texts in the file)
    digest = posts.drop("text").with_columns(ordering.text_digest(posts["text"]))
    assert validity.order_columns(digest) == ["account_id", "created_at", *digest.columns[-2:]]
    assert ordering.account_order(digest.select(validity.order_columns(digest))).equals(order)


def test_the_out_of_time_check_scores_on_topics_fitted_before_its_origin() -> None:
    """The out-of-time check scores at as_of - delta: a topic model there gets topics refitted
    on the posts before that date, not the run's (fitted with the posts after it)."""
    from dataclasses import replace
    from types import SimpleNamespace

    from analysis.models import validity
    from analysis.models.params import ModelParams

    run_topics = pl.DataFrame({"post_id": ["p1", "p2"], "topic_id": [0, 1]})
    refit = pl.DataFrame({"post_id": ["p1"], "topic_id": [0]})
    seen: dict[str, object] = {}

    def score(tables, p, at):
        seen["topics"], seen["at"] = tables.post_topics, at
        return pl.DataFrame({"account_id": ["a1", "a2"], "score": [1.0, 2.0]})

    def topics_at(t):
        seen["refit_at"] = t
        return refit

    def plain(tables, p, at):
        seen["plain_topics"] = tables.post_topics
        return score(tables, p, at)

    p = ModelParams()
    as_of = T0 + timedelta(days=60)
    tables = replace(_tiny_tables(), post_topics=run_topics)
    models = {"probe": SimpleNamespace(score=score, READS_TOPICS=True)}
    validity.out_of_time(tables, models, p, as_of, topics_at)
    t0 = as_of - timedelta(days=p.validate_delta_days)
    assert seen["at"] == seen["refit_at"] == t0
    assert seen["topics"] is refit
    # a model that reads no topics is handed none (as the score stage hands them)
    validity.out_of_time(tables, {"plain": SimpleNamespace(score=plain)}, p, as_of, topics_at)
    assert seen["plain_topics"] is None


def test_the_origins_topics_reach_their_readers_alone_and_go_after_the_last() -> None:
    """At each date the topics are fitted once, at the first model that reads them, handed to
    those models alone, and let go before the models after the last reader score (at 10M
    posts about two rows a post beside conversation_eb's working set); none are fitted where
    no model reads them."""
    import weakref
    from types import SimpleNamespace

    from analysis.models.params import ModelParams

    refits: list[datetime] = []
    fitted: list[weakref.ref[pl.DataFrame]] = []
    log: list[tuple[str, bool, bool]] = []

    def topics_at(t):
        refits.append(t)
        frame = pl.DataFrame({"post_id": ["p1"], "topic_id": [0]})
        fitted.append(weakref.ref(frame))
        return frame

    def model(name, reads):
        def score(tables, p, at):
            held = bool(fitted) and fitted[-1]() is not None
            log.append((name, tables.post_topics is not None, held))
            return pl.DataFrame({"account_id": ["a1"], "score": [1.0]})

        return SimpleNamespace(score=score, READS_TOPICS=reads)

    order = [("volume", False), ("topical", True), ("other", True), ("after", False)]
    models = {n: model(n, r) for n, r in order}
    tables = _tiny_tables()
    as_of = T0 + timedelta(days=30)
    got = dict(validity.models_scored(tables, models, ModelParams(), as_of, topics_at))
    assert list(got) == [n for n, _ in order]
    assert refits == [as_of]
    assert log == [
        ("volume", False, False),  # not yet fitted
        ("topical", True, True),
        ("other", True, True),
        ("after", False, False),  # let go after the last reader
    ]
    readers_none = {n: model(n, False) for n in ("volume", "after")}
    refits.clear()
    dict(validity.models_scored(tables, readers_none, ModelParams(), as_of, topics_at))
    assert refits == []
