"""The report says when its evaluation (validate, compare) is of another date than its scores:
stages frozen to re-run on a schedule (``dvc freeze validate compare``) or left out of a run."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from analysis.report.freshness import evaluation_lags, stale_accounts
from analysis.stages import report as stage
from analysis.vectors import MEAN_EMBEDDING
from tests.unit.test_report import COMPARE_JSON, INGEST_JSON, MODELS_JSON, K, _write, params

__all__ = ["params"]  # the fixture

T0 = datetime(2026, 6, 1, tzinfo=UTC)


def _posts(n: int, days: float) -> pl.DataFrame:
    """``n`` posts spread evenly over ``days`` days from T0."""
    step = timedelta(days=days) / max(n - 1, 1)
    return pl.DataFrame(
        {
            "post_id": [f"post_{i:016x}" for i in range(n)],
            "account_id": [f"acct_{i % 7:016x}" for i in range(n)],
            "created_at": [T0 + i * step for i in range(n)],
            "text": [f"a post about brewing number {i}" for i in range(n)],
        }
    )


def test_an_evaluation_of_the_scores_date_is_not_flagged() -> None:
    posts = _posts(50, 10)
    as_of = posts["created_at"].max() + timedelta(seconds=1)
    iso = as_of.isoformat()
    assert evaluation_lags(as_of, posts, {"validate": iso, "compare": iso}) == []
    assert evaluation_lags(as_of, posts, {"validate": None, "compare": None}) == []


def test_a_frozen_evaluation_is_dated_and_counts_the_posts_it_did_not_see() -> None:
    posts = _posts(101, 10)  # one post every 2.4 hours
    as_of = posts["created_at"].max() + timedelta(seconds=1)
    then = T0 + timedelta(days=5)  # the evaluation saw the first half
    lags = evaluation_lags(
        as_of, posts, {"validate": then.isoformat(), "compare": then.isoformat()}
    )
    assert len(lags) == 1  # one date: one notice for both stages
    (g,) = lags
    assert g.stages == ("validate", "compare") and g.behind
    assert g.results == ("data/processed/validity.json", "data/processed/compare.json")
    assert g.n_posts_between == 51  # posts 50..100 were written at or after day 5
    assert g.days == pytest.approx(5.0, abs=1e-4)


def test_stages_of_different_dates_get_a_notice_each_in_either_direction() -> None:
    posts = _posts(101, 10)
    as_of = T0 + timedelta(days=4)  # models.as_of set before the evaluated dates
    lags = evaluation_lags(
        as_of,
        posts,
        {
            "validate": (T0 + timedelta(days=6)).isoformat(),
            "compare": (T0 + timedelta(days=4)).isoformat(),  # this run's date: fine
        },
    )
    assert [g.stages for g in lags] == [("validate",)]
    assert not lags[0].behind and lags[0].days == pytest.approx(-2.0)
    assert lags[0].n_posts_between == 20  # posts 40..59 fall in [day 4, day 6)


def _project(root: Path, posts: pl.DataFrame, evaluated: datetime) -> None:
    _write(root, "ingest.json", INGEST_JSON)
    _write(root, "models.json", {**MODELS_JSON, "as_of": evaluated.isoformat()})
    _write(root, "compare.json", {**COMPARE_JSON, "as_of": evaluated.isoformat()})
    (root / "data/interim").mkdir(parents=True, exist_ok=True)
    posts.write_parquet(root / "data/interim/posts.parquet")


def test_the_report_and_the_writeup_say_the_evaluation_is_older_than_the_scores(
    tmp_path: Path, params: dict
) -> None:
    posts = _posts(101, 10)
    as_of = posts["created_at"].max() + timedelta(seconds=1)
    _project(tmp_path, posts, as_of)  # this run's evaluation: no notice
    summary = stage.write_report(tmp_path, params)
    md = (tmp_path / "reports/methodology.md").read_text()
    page = (tmp_path / "reports/index.html").read_text()
    assert summary["evaluation_days_behind"] == 0
    assert "Evaluation of another date" not in md and "note stale" not in page
    assert "read from the results of the same run" in md
    public_readme = (tmp_path / "reports/public/README.md").read_text()
    assert "from the same run." in public_readme and "another date" not in public_readme

    _project(tmp_path, posts, T0 + timedelta(days=5))  # validate and compare frozen on day 5
    summary = stage.write_report(tmp_path, params)
    md = (tmp_path / "reports/methodology.md").read_text()
    page = (tmp_path / "reports/index.html").read_text()
    assert summary["evaluation_days_behind"] == pytest.approx(5.0, abs=0.01)
    notice = md.split("> **Evaluation of another date.**")[1].split("\n")[0]
    assert "stages `validate` and `compare`" in notice and "2026-06-06 00:00:00" in notice
    assert "51 posts newer than what was evaluated" in notice
    assert "dvc unfreeze validate compare && dvc repro" in notice
    assert "read from the results of the same run" not in md
    assert page.count('class="note stale"') == 1 and "51 posts" in page
    # reports/public alone (a reader of the tables without the writeup) says so too
    public_readme = (tmp_path / "reports/public/README.md").read_text()
    assert "from the same run, except what is said below" in public_readme
    assert "**Evaluation of another date.**" in public_readme
    assert "dvc unfreeze validate compare && dvc repro" in public_readme


def test_the_writeup_suppresses_a_count_of_new_posts_under_k(tmp_path: Path, params: dict) -> None:
    posts = _posts(101, 10)
    _project(tmp_path, posts, posts["created_at"][-3])  # the last 3 posts not evaluated
    stage.write_report(tmp_path, params)
    notice = (tmp_path / "reports/methodology.md").read_text().split("another date.**")[1]
    assert "<k posts newer" in notice.split("\n")[0]


def test_stale_accounts_counts_distinct_accounts_of_no_current_account() -> None:
    current = pl.Series([f"acct_{i:016x}" for i in range(5)])
    named = pl.Series(["acct_" + "0" * 16, "acct_" + "0" * 16, "acct_" + "f" * 16, None])
    assert stale_accounts(named, current) == 1
    assert stale_accounts(current.head(3), current) == 0


def _changes(root: Path, accounts: list[str]) -> None:
    (root / "data/processed").mkdir(parents=True, exist_ok=True)
    pl.DataFrame(
        {"scenario": ["weekend_off"] * len(accounts), "account_id": accounts}
    ).write_parquet(root / "data/processed/counterfactual_changes.parquet")


def test_a_frozen_compare_naming_accounts_of_another_key_stops_the_report(
    tmp_path: Path, params: dict
) -> None:
    posts = _posts(101, 10)
    _project(tmp_path, posts, posts["created_at"].max() + timedelta(seconds=1))
    accounts = posts.select(pl.col("account_id").unique().sort())
    accounts.write_parquet(tmp_path / "data/interim/accounts.parquet")
    _changes(tmp_path, accounts["account_id"].head(3).to_list())  # the current key's
    stage.write_report(tmp_path, params)
    assert (tmp_path / "reports/methodology.md").exists()

    # the key rotated (or two accounts were erased) while compare stayed frozen
    for f in (tmp_path / "reports").rglob("*.md"):
        f.unlink()
    _changes(tmp_path, [*accounts["account_id"].head(2), "acct_" + "e" * 16, "acct_" + "d" * 16])
    with pytest.raises(stage.StaleOutputError) as err:
        stage.write_report(tmp_path, params)
    message = str(err.value)
    assert "counterfactual_changes.parquet (stage compare) names 2 account(s)" in message
    assert "dvc unfreeze compare && dvc repro" in message
    assert "acct_" not in message  # the count, never the pseudonyms
    assert not list((tmp_path / "reports").rglob("*.md"))  # nothing written


def test_a_frozen_compare_computed_before_a_minor_was_removed_stops_the_report(
    tmp_path: Path, params: dict
) -> None:
    """An account removed by ingest after compare ran (a minor flag in the new dump, an
    opt-out): compare's outputs need not name it (counterfactual_changes lists re-scored
    accounts only), so only the removed accounts' digest it recorded shows its data is in the
    numbers. Measured on the demo: a minor of 225 posts, absent from the changes, published."""
    posts = _posts(101, 10)
    as_of = posts["created_at"].max() + timedelta(seconds=1)
    _project(tmp_path, posts, as_of)
    accounts = posts.select(pl.col("account_id").unique().sort())
    accounts.write_parquet(tmp_path / "data/interim/accounts.parquet")
    _changes(tmp_path, accounts["account_id"].head(3).to_list())
    ran = {**COMPARE_JSON, "as_of": as_of.isoformat(), "removed_accounts_sha256": "a" * 64}
    _write(tmp_path, "compare.json", ran)
    _write(tmp_path, "ingest.json", {**INGEST_JSON, "removed_accounts_sha256": "a" * 64})
    stage.write_report(tmp_path, params)  # the same removals: rendered
    assert (tmp_path / "reports/methodology.md").exists()

    for f in (tmp_path / "reports").rglob("*.md"):
        f.unlink()
    # ingest re-ran on a dump that flags one more account a minor; compare stayed frozen
    _write(tmp_path, "ingest.json", {**INGEST_JSON, "removed_accounts_sha256": "b" * 64})
    with pytest.raises(stage.StaleOutputError) as err:
        stage.write_report(tmp_path, params)
    assert "compare.json (stage compare)" in str(err.value)
    assert "dvc unfreeze validate compare topic_eval && dvc repro" in str(err.value)
    assert not list((tmp_path / "reports").rglob("*.md"))  # nothing written


def _topics_metrics(root: Path, after: int) -> None:
    fit = {
        "n_posts_fitted": 900,
        "n_posts_assigned": 900 + after,
        "n_posts_after_fit": after,
        "fitted_through": "2026-06-05 13:00:00+00:00",
    }
    tm = {
        "method": "kmeans",
        "n_topics": 6,
        "n_posts_embedded": 900 + after,
        "stability_mean_pairwise_ari": 0.8,
        "topic_diversity": 0.9,
        "outlier_share": 0.0,
        "vs_labels": {"nmi": None, "ari": None},
        "fit": fit,
    }
    path = root / "reports/metrics/topics.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(tm))


@pytest.mark.parametrize(("after", "said"), [(0, None), (3, "<k posts"), (40, "40 posts")])
def test_the_writeup_says_the_topics_are_of_an_earlier_fit(
    tmp_path: Path, params: dict, after: int, said: str | None
) -> None:
    """``dvc freeze topic_fit``: the posts written since took the fitted topics; the writeup
    says how many (suppressed under k) and how to refit."""
    _topics_metrics(tmp_path, after)
    stage.write_report(tmp_path, params)
    md = (tmp_path / "reports/methodology.md").read_text()
    if said is None:
        assert "earlier fit" not in md
        return
    notice = md.split("**Topics of an earlier fit.**")[1].split("\n")[0]
    assert "the posts up to 2026-06-05 13:00" in notice and f"The {said} written after" in notice
    assert "900" not in notice  # the fitted count would give back a suppressed difference
    assert "dvc unfreeze topic_fit && dvc repro" in notice


def test_the_analyst_page_says_the_topics_are_of_an_earlier_fit(
    tmp_path: Path, params: dict
) -> None:
    posts = _posts(60, 10)
    (tmp_path / "data/interim").mkdir(parents=True)
    posts.write_parquet(tmp_path / "data/interim/posts.parquet")
    processed = tmp_path / "data/processed"
    processed.mkdir(parents=True)
    ids = [0, 1, 2]
    rng = np.random.default_rng(0)
    pl.DataFrame(
        {
            "topic_id": ids,
            "label": ["0_brew_hops", "1_yeast_malt", "2_keg_tap"],
            "keywords": [["brew", "hops"], ["yeast", "malt"], ["keg", "tap"]],
            "n_posts": [20, 20, 20],
            MEAN_EMBEDDING: rng.normal(size=(3, 8)),
        },
        schema_overrides={MEAN_EMBEDDING: pl.Array(pl.Float64, 8)},
    ).write_parquet(processed / "topics.parquet")
    pl.DataFrame(
        {
            "post_id": posts["post_id"],
            "topic_id": [i % 3 for i in range(60)],
            "probability": [1.0] * 60,
            "is_primary": [True] * 60,
        }
    ).write_parquet(processed / "post_topics.parquet")
    for after, shown in ((0, False), (40, True)):
        _topics_metrics(tmp_path, after)
        stage.write_report(tmp_path, params)
        page = (tmp_path / "reports/index.html").read_text()
        assert 'id="topics"' in page and "Not available" not in page.split('id="topics"')[1][:300]
        assert ("Topics of an earlier fit" in page) == shown
    assert "the 40 posts written after its latest post" in page
    assert "dvc unfreeze topic_fit &amp;&amp; dvc repro" in page


def test_a_frozen_topic_fit_computed_before_a_minor_was_removed_stops_the_report(
    tmp_path: Path, params: dict, monkeypatch
) -> None:
    """``dvc freeze topic_fit``, then a new dump flags an author a minor (or an erasure, an
    opt-out): the fit's keywords (published, each used by ``privacy.min_cell_k`` authors) may
    rest on that author's posts, and the topics stage assigns by the fit without reading a
    text. The fit records ingest's digest of the removed accounts, ``topics`` carries it to
    ``topics.json`` and the report refuses a digest that is not the current one."""
    from analysis import contracts, paths
    from analysis.contracts import TopicFit
    from analysis.io import write_json
    from analysis.stages import topic_fit as fit_stage
    from analysis.stages.topics import compute
    from analysis.topics import TopicsParams
    from tests.unit.test_vectors import _small_world

    posts, emb, accounts, reactions = _small_world(tmp_path)
    posts.write_parquet(tmp_path / "posts.parquet")
    monkeypatch.setattr(paths, "POSTS", tmp_path / "posts.parquet")
    monkeypatch.setattr(paths, "EMBEDDINGS", emb)
    monkeypatch.setattr(paths, "TOPIC_MODEL", tmp_path / "topic_model.json")
    monkeypatch.setattr(paths, "INGEST_METRICS", tmp_path / "reports/metrics/ingest.json")
    _write(tmp_path, "ingest.json", {**INGEST_JSON, "removed_accounts_sha256": "a" * 64})
    topics = {"n_topics": 3, "fit_max_posts": 100, "n_stability_seeds": 2}
    fit_stage.run({"topics": topics, "privacy": {"min_cell_k": 3}}, None)  # type: ignore[arg-type]
    fit = contracts.load(TopicFit, paths.TOPIC_MODEL)
    assert fit.removed_accounts_sha256 == "a" * 64 and any(fit.keywords)
    assert fit.min_cell_k == 3  # the k its keywords were chosen at

    def topics_stage() -> None:  # the metrics the topics stage writes with the frozen fit
        out = compute(posts, emb, accounts, reactions, TopicsParams(**topics), fit)
        write_json(out["metrics"], tmp_path / "reports/metrics/topics.json")

    topics_stage()
    published = json.loads((tmp_path / "reports/metrics/topics.json").read_text())["fit"]
    assert published["min_cell_k"] == 3  # carried on for the report's check of k
    stage.write_report(tmp_path, params | {"privacy": {**params["privacy"], "min_cell_k": 3}})
    assert (tmp_path / "reports/methodology.md").exists()

    for f in (tmp_path / "reports").rglob("*.md"):
        f.unlink()
    # ingest re-ran on a dump that flags one more author a minor; topic_fit stayed frozen
    _write(tmp_path, "ingest.json", {**INGEST_JSON, "removed_accounts_sha256": "b" * 64})
    topics_stage()
    with pytest.raises(stage.StaleOutputError) as err:
        stage.write_report(tmp_path, params | {"privacy": {**params["privacy"], "min_cell_k": 3}})
    assert "stage topic_fit" in str(err.value)
    assert "dvc unfreeze topic_fit && dvc repro" in str(err.value)
    assert not list((tmp_path / "reports").rglob("*.md"))  # nothing written


def _topic_eval(
    root: Path, evaluated: datetime, removed: str | None = None, k: int | None = K
) -> None:
    """The ``topic_eval`` stage's result, of the posts up to ``evaluated``."""
    from analysis import contracts
    from analysis.contracts import TopicEval

    tags = {"n_answerers_with_truth": 40, "naive": {"precision_at_3": 0.4}}
    contracts.write(
        TopicEval(
            as_of=evaluated.isoformat(),
            n_posts=90,
            removed_accounts_sha256=removed,
            answer_tags=tags,
            min_cell_k=k,
        ),
        root / "data/processed/topic_eval.json",
    )


def test_a_frozen_topic_check_is_dated_apart_from_the_scores(tmp_path: Path, params: dict) -> None:
    """``dvc freeze topic_eval`` (the tag check is most of a topics run on a large site): the
    writeup and the analyst page say the topics' check is of the posts up to its date and how
    many came since; the public tables, which hold no topic check, say nothing of it. Its date
    is the posts' own: a scoring date set in ``models.as_of`` is no lag of the check."""
    posts = _posts(101, 10)
    as_of = posts["created_at"].max() + timedelta(seconds=1)
    _project(tmp_path, posts, as_of)
    _topic_eval(tmp_path, as_of)  # the check of this data: no notice
    stage.write_report(tmp_path, params)
    assert "Evaluation of another date" not in (tmp_path / "reports/methodology.md").read_text()
    moved = params | {"models": {**params["models"], "as_of": (T0 + timedelta(days=7)).isoformat()}}
    _write(
        tmp_path, "compare.json", {**COMPARE_JSON, "as_of": (T0 + timedelta(days=7)).isoformat()}
    )
    _write(tmp_path, "models.json", {**MODELS_JSON, "as_of": (T0 + timedelta(days=7)).isoformat()})
    stage.write_report(tmp_path, moved)  # scores of an earlier date; the check is the posts'
    assert "Evaluation of another date" not in (tmp_path / "reports/methodology.md").read_text()

    _project(tmp_path, posts, as_of)
    _topic_eval(tmp_path, T0 + timedelta(days=5))  # the check frozen on day 5
    summary = stage.write_report(tmp_path, params)
    md = (tmp_path / "reports/methodology.md").read_text()
    notice = md.split("> **Evaluation of another date.**")[1].split("\n")[0]
    assert "`data/processed/topic_eval.json` (stage `topic_eval`)" in notice
    assert "evaluated the topics of" in notice and "51 posts newer" in notice
    assert "dvc unfreeze topic_eval && dvc repro" in notice
    assert summary["evaluation_days_behind"] == pytest.approx(5.0, abs=0.01)
    page = (tmp_path / "reports/index.html").read_text()
    assert page.count('class="note stale"') == 1 and "topic_eval" in page
    assert "another date" not in (tmp_path / "reports/public/README.md").read_text()


def test_a_frozen_topic_check_computed_before_a_minor_was_removed_stops_the_report(
    tmp_path: Path, params: dict
) -> None:
    posts = _posts(101, 10)
    as_of = posts["created_at"].max() + timedelta(seconds=1)
    _project(tmp_path, posts, as_of)
    _write(tmp_path, "ingest.json", {**INGEST_JSON, "removed_accounts_sha256": "a" * 64})
    _topic_eval(tmp_path, as_of, removed="a" * 64)
    stage.write_report(tmp_path, params)  # the same removals: rendered
    for f in (tmp_path / "reports").rglob("*.md"):
        f.unlink()
    _write(tmp_path, "ingest.json", {**INGEST_JSON, "removed_accounts_sha256": "b" * 64})
    with pytest.raises(stage.StaleOutputError) as err:
        stage.write_report(tmp_path, params)
    assert "topic_eval.json (stage topic_eval)" in str(err.value)
    assert "dvc unfreeze validate compare topic_eval && dvc repro" in str(err.value)
    # the digest is keyed: a key rotation alone stops the report too, and the message says so
    # (the check holds no pseudonym; "an account was removed" alone sends the user looking
    # for an erasure nobody made)
    assert "or a rotated key" in str(err.value)
    assert not list((tmp_path / "reports").rglob("*.md"))


def test_one_notice_when_the_evaluation_and_the_topic_check_were_frozen_together(
    tmp_path: Path, params: dict
) -> None:
    """``dvc freeze validate compare topic_eval``, then new posts: the scores are of the posts'
    date, so one date and one notice for the three stages (two notices of the same date read
    as two problems); the public tables' notice names only the results they hold."""
    posts = _posts(101, 10)
    day5 = T0 + timedelta(days=5)
    _project(tmp_path, posts, day5)
    _topic_eval(tmp_path, day5)
    stage.write_report(tmp_path, params)
    md = (tmp_path / "reports/methodology.md").read_text()
    assert md.count("> **Evaluation of another date.**") == 1
    notice = md.split("> **Evaluation of another date.**")[1].split("\n")[0]
    assert "stages `validate`, `compare` and `topic_eval`" in notice
    assert "evaluated the scores and the topics of" in notice
    assert "dvc unfreeze validate compare topic_eval && dvc repro" in notice
    public_readme = (tmp_path / "reports/public/README.md").read_text()
    assert public_readme.count("**Evaluation of another date.**") == 1
    assert "topic_eval" not in public_readme
    assert "dvc unfreeze validate compare && dvc repro" in public_readme


def test_a_frozen_topic_check_beside_a_scoring_date_is_set_against_the_posts_date(
    tmp_path: Path, params: dict
) -> None:
    """The topics' check is dated against the posts (it reads no score), so its notice must
    not give the posts' date as the scores': with ``models.as_of`` on day 7 and the check
    frozen on day 5, the analyst page said "The scores here are of" day 10. And a check of a
    later date than the posts (posts gone since) is no ``models.as_of`` of the scores."""
    import re

    posts = _posts(101, 10)
    day7 = T0 + timedelta(days=7)
    _project(tmp_path, posts, day7)  # validate and compare of the scores' date (day 7)
    _topic_eval(tmp_path, T0 + timedelta(days=5))
    moved = params | {"models": {**params["models"], "as_of": day7.isoformat()}}
    stage.write_report(tmp_path, moved)
    page = (tmp_path / "reports/index.html").read_text()
    (note,) = re.findall(r'<p class="note stale">.*?</p>', page)
    assert "evaluated the topics of 2026-06-06" in note
    assert "The scores here are of 2026-06-11" not in note  # they are of day 7
    assert "The posts here run to 2026-06-11: 51 posts" in note
    md = (tmp_path / "reports/methodology.md").read_text()
    notice = md.split("> **Evaluation of another date.**")[1].split("\n")[0]
    assert "The data, activity and topics in this document run to" in notice

    # the check of the posts up to day 10, the posts now up to day 8 (the last ones gone)
    fewer = posts.filter(pl.col("created_at") < T0 + timedelta(days=8))
    as_of = posts["created_at"].max() + timedelta(seconds=1)
    _project(tmp_path, fewer, fewer["created_at"].max() + timedelta(seconds=1))
    _topic_eval(tmp_path, as_of)
    stage.write_report(tmp_path, params)
    page = (tmp_path / "reports/index.html").read_text()
    (note,) = re.findall(r'<p class="note stale">.*?</p>', page)
    assert "models.as_of" not in note and "The scores here are of" not in note
    md = (tmp_path / "reports/methodology.md").read_text()
    notice = md.split("> **Evaluation of another date.**")[1].split("\n")[0]
    assert "models.as_of" not in notice and "The scores in this document" not in notice
    assert "posts in this document end" in notice


def test_params_changes_names_every_key_that_differs_but_the_scoring_date() -> None:
    from analysis.config import params_record
    from analysis.report.freshness import params_changes

    used = {
        "models": {
            "as_of": "2026-06-05",
            "half_life_days": 30,
            "scored": {"volume": {}, "reach": {}},
        },
        "compare": {"n_boot": 100, "counterfactual": {"n_sample": 100}},
        "topics": None,
    }
    now = {
        "models": {"as_of": None, "half_life_days": 14, "scored": {"volume": {}}},
        "compare": {"n_boot": 100, "counterfactual": {"n_sample": 50, "seed": 7}},
        "topics": {"min_posts": 3},
        "validate": {"n_boot": 1},  # a section the result did not record: not compared
    }
    assert params_changes(used, now) == (
        ("compare.counterfactual.n_sample", 100, 50),
        ("compare.counterfactual.seed", None, 7),
        ("models.half_life_days", 30, 14),
        ("models.scored.reach", {}, None),  # a model dropped from models.scored
        ("topics.min_posts", None, 3),  # a section absent then is an empty one
    )
    # a model dropped with its params is one change (its name), not one per param
    dropped = params_changes(
        {"models": {"scored": {"volume": {}, "conversation_eb": {"prior": 2, "window_days": 90}}}},
        {"models": {"scored": {"volume": {}}}},
    )
    assert dropped == (("models.scored.conversation_eb", {"prior": 2, "window_days": 90}, None),)
    # the scoring date is the date notice's, even in a section given on one side only
    assert params_changes({"models": None}, {"models": {"as_of": "2026-06-05"}}) == ()
    assert params_changes(used, used) == ()
    # a date from YAML is recorded as its ISO text, on both sides alike
    from datetime import date

    rec = params_record({"models": {"as_of": date(2026, 6, 5)}}, ("models", "compare"))
    assert rec == {"models": {"as_of": "2026-06-05"}, "compare": None}


def test_an_evaluation_frozen_before_a_params_edit_is_named_with_what_changed(
    tmp_path: Path, params: dict
) -> None:
    """``dvc freeze compare``, then an edit of ``compare.n_boot`` and of the models' half-life:
    the dates agree (no new post), so only the params the result recorded tell that its
    intervals and tests were computed otherwise than the writeup's params section says."""
    from analysis.config import params_record

    posts = _posts(101, 10)
    as_of = posts["created_at"].max() + timedelta(seconds=1)
    _project(tmp_path, posts, as_of)
    ran = params | {"compare": {"n_boot": 100}}
    recorded = params_record(ran, ("compare", "demo", "models", "topics", "validate"))
    _write(
        tmp_path, "compare.json", {**COMPARE_JSON, "as_of": as_of.isoformat(), "params": recorded}
    )
    summary = stage.write_report(tmp_path, ran)  # the params it ran with: no notice
    md = (tmp_path / "reports/methodology.md").read_text()
    assert "other parameters" not in md and summary["evaluation_params_changed"] == []
    assert "read from the results of the same run" in md

    now = ran | {
        "compare": {"n_boot": 200},
        "models": {**ran["models"], "half_life_days": 14},
    }
    summary = stage.write_report(tmp_path, now)
    assert summary["evaluation_params_changed"] == ["compare"]
    md = (tmp_path / "reports/methodology.md").read_text()
    notice = md.split("> **Evaluation under other parameters.**")[1].split("\n")[0]
    assert "`data/processed/compare.json` (stage `compare`)" in notice
    assert "`compare.n_boot` 100 (now 200)" in notice
    assert "`models.half_life_days` 30 (now 14)" in notice
    assert "dvc unfreeze compare && dvc repro" in notice
    assert "read from the results of the same run" not in md
    page = (tmp_path / "reports/index.html").read_text()
    assert page.count('class="note stale"') == 1 and "Evaluated under other parameters" in page
    public_readme = (tmp_path / "reports/public/README.md").read_text()
    assert "**Evaluation under other parameters.**" in public_readme
    assert "except what is said below" in public_readme


def test_a_validate_edit_is_named_for_compare_only_where_compare_read_another_validity(
    tmp_path: Path, params: dict
) -> None:
    """compare records the validate section of the validity it read. With validate frozen
    and its section edited, compare read that very validity: validate's notice says it, and
    compare is not named (unfreezing compare would read the same validity and change nothing).
    With compare frozen beside a validate re-run on the edit, compare read the old validity:
    it is named, with the edit."""
    from analysis.config import params_record

    posts = _posts(101, 10)
    as_of = posts["created_at"].max() + timedelta(seconds=1)
    _project(tmp_path, posts, as_of)
    ran = params | {"validate": {"n_boot": 100}}
    now = params | {"validate": {"n_boot": 200}}

    def evaluated(validity_with: dict) -> None:
        validity = params_record(validity_with, ("models", "validate", "topics"))
        compare = params_record(ran, ("compare", "demo", "models", "topics"))
        compare["validate"] = params_record(ran, ("validate",))["validate"]
        _write(
            tmp_path, "models.json", {**MODELS_JSON, "as_of": as_of.isoformat(), "params": validity}
        )
        _write(
            tmp_path,
            "compare.json",
            {**COMPARE_JSON, "as_of": as_of.isoformat(), "params": compare},
        )

    evaluated(ran)  # validate frozen on the old section, compare read its validity
    assert stage.write_report(tmp_path, now)["evaluation_params_changed"] == ["validate"]
    evaluated(now)  # validate re-ran on the edit, compare frozen on the old validity
    assert stage.write_report(tmp_path, now)["evaluation_params_changed"] == ["compare"]
    md = (tmp_path / "reports/methodology.md").read_text()
    notice = md.split("> **Evaluation under other parameters.**")[1].split("\n")[0]
    assert "(stage `compare`)" in notice and "`validate.n_boot` 100 (now 200)" in notice


def test_a_key_added_under_an_empty_mapping_is_named_alone() -> None:
    """A model of ``models.scored`` given ``{}`` that gets a param (or loses its last one)
    changed that param only: the notice must not say the model itself is gone (null now)."""
    from analysis.report.freshness import params_changes

    then = {"models": {"scored": {"volume": {}, "reach": {}}}}
    now = {"models": {"scored": {"volume": {"window_days": 90}, "reach": {}}}}
    assert params_changes(then, now) == (("models.scored.volume.window_days", None, 90),)
    assert params_changes(now, then) == (("models.scored.volume.window_days", 90, None),)
    # a model dropped is still named, {} beside null
    gone = {"models": {"scored": {"reach": {}}}}
    assert params_changes(then, gone) == (("models.scored.volume", {}, None),)


def test_a_frozen_compare_or_topic_check_of_a_larger_min_cell_k_is_named(
    tmp_path: Path, params: dict
) -> None:
    """compare leaves a gate over fewer than ``privacy.min_cell_k`` accounts untested, which
    decides the recommendation and the published gates table, and topic_eval's headline hides
    smaller groups: a frozen one run with a larger k than params.yaml's now hid more than
    needed and is named (the recommendation and the check record the k they used)."""
    import copy

    posts = _posts(101, 10)
    as_of = posts["created_at"].max() + timedelta(seconds=1)
    _project(tmp_path, posts, as_of)
    k = params["privacy"]["min_cell_k"]
    cmp = copy.deepcopy(COMPARE_JSON)
    cmp["as_of"] = as_of.isoformat()
    cmp["recommendation"]["min_cell_k"] = k + 10
    _write(tmp_path, "compare.json", cmp)
    _topic_eval(tmp_path, as_of, k=k + 10)
    raised = params | {"privacy": {**params["privacy"], "min_cell_k": k + 10}}
    summary = stage.write_report(tmp_path, raised)  # the k they ran with: no notice
    assert summary["evaluation_params_changed"] == []

    summary = stage.write_report(tmp_path, params)  # k lowered since
    assert summary["evaluation_params_changed"] == ["compare", "topic_eval"]
    md = (tmp_path / "reports/methodology.md").read_text()
    notices = [n.split("\n")[0] for n in md.split("> **Evaluation under other parameters.**")[1:]]
    assert ["stage `compare`" in n for n in notices] == [True, False]
    assert "stage `topic_eval`" in notices[1]
    assert all(f"`privacy.min_cell_k` {k + 10} (now {k})" in n for n in notices)
    public_readme = (tmp_path / "reports/public/README.md").read_text()
    assert f"`privacy.min_cell_k` {k + 10}, now {k}" in public_readme


def _evaluated_at_k(root: Path, k: int) -> tuple[datetime, dict]:
    """A project whose compare and topic check ran at ``privacy.min_cell_k`` = ``k``: the
    scoring date and compare's result (to edit)."""
    import copy

    posts = _posts(101, 10)
    as_of = posts["created_at"].max() + timedelta(seconds=1)
    _project(root, posts, as_of)
    cmp = copy.deepcopy(COMPARE_JSON)
    cmp["as_of"] = as_of.isoformat()
    cmp["recommendation"]["min_cell_k"] = k
    _write(root, "compare.json", cmp)
    _topic_eval(root, as_of, k=k)
    return as_of, cmp


@pytest.mark.parametrize("frozen", ["compare", "topic_eval", "topic_fit"])
def test_a_frozen_stage_that_published_at_a_smaller_min_cell_k_stops_the_report(
    tmp_path: Path, params: dict, frozen: str
) -> None:
    """``dvc freeze compare topic_eval topic_fit``, then ``privacy.min_cell_k`` raised: the
    frozen stage does not re-run, so its published outputs (compare's gates and plot data,
    topic_eval's headline, the fit's keywords, each used by at least k authors) still hold
    groups the current rule calls small. Naming the edit is not enough: the report refuses,
    names the stage and the command, and writes nothing."""
    k = params["privacy"]["min_cell_k"]
    as_of, cmp = _evaluated_at_k(tmp_path, k)
    _topics_metrics(tmp_path, 0)
    path = tmp_path / "reports/metrics/topics.json"
    tm = json.loads(path.read_text())
    tm["fit"]["min_cell_k"] = k
    path.write_text(json.dumps(tm))
    stage.write_report(tmp_path, params)  # every stage at the current k: rendered
    for f in (tmp_path / "reports").rglob("*.md"):
        f.unlink()

    # every other stage re-ran at the raised k; the frozen one kept the old
    raised = params | {"privacy": {**params["privacy"], "min_cell_k": k + 5}}
    cmp["recommendation"]["min_cell_k"] = k if frozen == "compare" else k + 5
    _write(tmp_path, "compare.json", cmp)
    _topic_eval(tmp_path, as_of, k=k if frozen == "topic_eval" else k + 5)
    tm["fit"]["min_cell_k"] = k if frozen == "topic_fit" else k + 5
    path.write_text(json.dumps(tm))
    before = {f: f.read_bytes() for f in (tmp_path / "reports").rglob("*") if f.is_file()}
    with pytest.raises(stage.StaleOutputError) as err:
        stage.write_report(tmp_path, raised)
    message = str(err.value)
    assert f"stage {frozen} hid groups of fewer than {k} accounts" in message
    assert f"privacy.min_cell_k is now {k + 5}" in message
    assert f"dvc unfreeze {frozen} && dvc repro" in message
    assert message.count(" hid groups ") == 1  # the frozen stage alone
    # nothing written: no writeup, and every file of the earlier render untouched
    assert not list((tmp_path / "reports").rglob("*.md"))
    after = {f: f.read_bytes() for f in (tmp_path / "reports").rglob("*") if f.is_file()}
    assert after == {f: t for f, t in before.items() if f.suffix != ".md"}

    # the frozen stage re-run at the raised k: rendered
    cmp["recommendation"]["min_cell_k"] = k + 5
    _write(tmp_path, "compare.json", cmp)
    _topic_eval(tmp_path, as_of, k=k + 5)
    tm["fit"]["min_cell_k"] = k + 5
    path.write_text(json.dumps(tm))
    stage.write_report(tmp_path, raised)
    assert (tmp_path / "reports/methodology.md").exists()


def test_every_stage_below_the_current_min_cell_k_is_named_at_once(
    tmp_path: Path, params: dict
) -> None:
    """Two frozen stages published at a smaller k: one message names both (and the command
    that re-runs both), not one per render."""
    k = params["privacy"]["min_cell_k"]
    _evaluated_at_k(tmp_path, k)
    raised = params | {"privacy": {**params["privacy"], "min_cell_k": k + 5}}
    with pytest.raises(stage.StaleOutputError) as err:
        stage.write_report(tmp_path, raised)
    message = str(err.value)
    assert "stage topic_eval hid groups" in message and "stage compare hid groups" in message
    assert "dvc unfreeze topic_eval compare && dvc repro" in message


def test_a_frozen_topic_check_that_does_not_record_its_k_is_named(
    tmp_path: Path, params: dict, caplog
) -> None:
    """A topic check written before the k was recorded cannot be checked against the current
    k: the writeup names the unknown k (and the log says how to record it), rather than
    presenting the check as of this run's rule."""
    posts = _posts(101, 10)
    as_of = posts["created_at"].max() + timedelta(seconds=1)
    _project(tmp_path, posts, as_of)
    _topic_eval(tmp_path, as_of, k=params["privacy"]["min_cell_k"])
    assert "topic_eval" not in stage.write_report(tmp_path, params)["evaluation_params_changed"]
    _topic_eval(tmp_path, as_of, k=None)  # no k recorded
    with caplog.at_level("WARNING"):
        summary = stage.write_report(tmp_path, params)
    assert "topic_eval" in summary["evaluation_params_changed"]
    md = (tmp_path / "reports/methodology.md").read_text()
    notices = md.split("> **Evaluation under other parameters.**")[1:]
    mine = [n.split("\n")[0] for n in notices if "stage `topic_eval`" in n.split("\n")[0]]
    assert mine and "`privacy.min_cell_k` null" in mine[0]
    assert "stage topic_eval does not record the privacy.min_cell_k" in caplog.text


def test_a_frozen_topic_check_after_an_edit_of_the_attribution_rule_is_named(
    tmp_path: Path, params: dict
) -> None:
    """``dvc freeze topic_eval``, then ``topics.min_posts`` edited: the topics stage attributes
    again (same posts, same dates), the frozen check is of the old attribution; the writeup
    names it (not the public tables: they hold no topic check)."""
    import json as _json

    from analysis.config import params_record

    posts = _posts(101, 10)
    as_of = posts["created_at"].max() + timedelta(seconds=1)
    _project(tmp_path, posts, as_of)
    _topic_eval(tmp_path, as_of)
    ran = params | {"topics": {"min_posts": 3}}
    path = tmp_path / "data/processed/topic_eval.json"
    result = _json.loads(path.read_text())
    result["params"] = params_record(ran, ("topic_eval", "topics"))
    path.write_text(_json.dumps(result))
    assert stage.write_report(tmp_path, ran)["evaluation_params_changed"] == []

    now = ran | {"topics": {"min_posts": 5}}
    assert stage.write_report(tmp_path, now)["evaluation_params_changed"] == ["topic_eval"]
    md = (tmp_path / "reports/methodology.md").read_text()
    notice = md.split("> **Evaluation under other parameters.**")[1].split("\n")[0]
    assert "(stage `topic_eval`)" in notice and "`topics.min_posts` 3 (now 5)" in notice
    assert "other parameters" not in (tmp_path / "reports/public/README.md").read_text()
