"""``reports/metrics/topics.json`` is published (tracked by git): its attribution counts give
no group of fewer than ``privacy.min_cell_k`` accounts away.

Demo run: the writeup hid evidence's 195 accounts credited beside naive's 196 (196 - 195 = the
1 account evidence credits with no topic), while ``reports/metrics/topics.json`` printed both.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import SimpleNamespace

import polars as pl

from analysis import publish
from analysis.stages import topics as stage

K = 10
DEMO = {
    "evidence": {"n_pairs": 2146, "n_attributed": 1012, "n_accounts_attributed": 195},
    "naive": {"n_pairs": 2146, "n_attributed": 2146, "n_accounts_attributed": 196},
}


def _run_stage(tmp_path, monkeypatch, attribution: dict, n_participants: int) -> dict:
    """The topics stage's ``run`` with ``compute`` replaced by its result (the attribution
    counts given), on ``n_participants`` participant accounts; the metrics it writes."""
    for name in ("POSTS", "ACCOUNTS", "REACTIONS", "EMBEDDINGS", "TOPIC_MODEL", "TOPICS_METRICS"):
        monkeypatch.setattr(stage.paths, name, tmp_path / name)
    monkeypatch.setattr(
        stage.paths,
        "TOPIC_TABLES",
        {n: tmp_path / f"{n}.parquet" for n in stage.paths.TOPIC_TABLES},
    )
    posts = pl.DataFrame(
        {c: pl.Series([], dtype=pl.String) for c in stage.COLUMNS if c != "labels"}
    ).with_columns(pl.lit(None, pl.List(pl.String)).alias("labels"))
    posts.write_parquet(tmp_path / "POSTS")
    pl.DataFrame(
        {
            "account_id": [f"acct_{i:016x}" for i in range(n_participants + 3)],
            "is_participant": [True] * n_participants + [False] * 3,
        }
    ).write_parquet(tmp_path / "ACCOUNTS")
    pl.DataFrame({"post_id": pl.Series([], dtype=pl.String)}).write_parquet(tmp_path / "REACTIONS")
    (tmp_path / "EMBEDDINGS").mkdir()
    monkeypatch.setattr(stage.contracts, "load", lambda *a, **k: SimpleNamespace(method="kmeans"))
    metrics = {
        "n_posts_embedded": 0,
        "n_topics": 2,
        "outlier_share": 0.0,
        "n_outliers": 0,
        "vs_labels": {"nmi": None},
        "stability_mean_pairwise_ari": None,
        "fit": {"fitted_through": None, "n_posts_after_fit": 0, "n_posts_assigned": 0},
        "attribution": json.loads(json.dumps(attribution)),
    }
    out = {n: pl.DataFrame({"x": [1]}) for n in stage.paths.TOPIC_TABLES} | {
        "metrics": metrics,
        "primary": None,
    }
    monkeypatch.setattr(stage, "compute", lambda *a, **k: out)
    assert stage.run({"privacy": {"min_cell_k": K}}, None) == 0  # type: ignore[arg-type]
    return json.loads((tmp_path / "TOPICS_METRICS").read_text())


def test_the_published_topic_metrics_hide_the_one_account_no_topic_credits(
    tmp_path, monkeypatch
) -> None:
    written = _run_stage(tmp_path, monkeypatch, DEMO, n_participants=196)["attribution"]
    assert written["naive"]["n_accounts_attributed"] == 196
    assert written["evidence"]["n_accounts_attributed"] is None  # 196 - 195 = 1 account
    assert written["evidence"]["n_attributed"] == 1012  # 1,134 pairs uncredited: not few
    # what the writeup prints of it is what it printed of the unsuppressed counts
    assert publish.attribution_counts(written, K, 196) == publish.attribution_counts(DEMO, K, 196)


def test_naive_close_to_the_participants_is_hidden_in_the_metrics_too(
    tmp_path, monkeypatch
) -> None:
    """200 participants, 196 credited by naive: 4 accounts with no post in any topic."""
    written = _run_stage(tmp_path, monkeypatch, DEMO, n_participants=200)["attribution"]
    assert written["naive"]["n_accounts_attributed"] is None
    assert written["evidence"]["n_accounts_attributed"] is None
    assert written["naive"]["n_pairs"] == 2146


def test_attribution_counts_are_idempotent() -> None:
    small = {
        "evidence": {"n_pairs": 400, "n_attributed": 4, "n_accounts_attributed": 3},
        "naive": {"n_pairs": 400, "n_attributed": 400, "n_accounts_attributed": 120},
    }
    for counts in (DEMO, small):
        for n_part in (None, 196, 200):
            once = publish.attribution_counts(counts, K, n_part)
            assert publish.attribution_counts(once, K, n_part) == once


#: ``attribution.evaluate_demo`` on the 60-account demo of the integration tests: 3 one-off
#: posters (2 credited by naive: 0.667) and 9 planted experts
SMALL_DEMO_TRUTH = {
    "evidence": {
        "expert_subject_recall": 0.7777777778,
        "n_attributions": 165,
        "one_off_attributed_rate": 0.0,
        "precision": 0.6606060606,
        "single_post_share": 0.0,
    },
    "n_experts": 9,
    "n_one_off_accounts": 3,
    "naive": {
        "expert_subject_recall": 0.8333333333,
        "n_attributions": 309,
        "one_off_attributed_rate": 0.6666666667,
        "precision": 0.4563106796,
        "single_post_share": 0.2815533981,
    },
}


def _run_topic_eval(tmp_path, monkeypatch) -> dict:
    """The ``topic_eval`` stage's ``run`` on a demo whose truth check gives
    :data:`SMALL_DEMO_TRUTH`; the metrics it publishes."""
    from analysis.stages import topic_eval

    for name in ("POSTS", "ACCOUNTS", "ACCOUNT_TOPICS", "POST_TOPICS", "INGEST_METRICS"):
        monkeypatch.setattr(topic_eval.paths, name, tmp_path / name)
    for name in ("TOPIC_EVAL", "TOPIC_EVAL_METRICS"):
        monkeypatch.setattr(topic_eval.paths, name, tmp_path / f"{name}.json")
    pl.DataFrame(
        {
            "post_id": ["p1"],
            "account_id": ["acct_1"],
            "kind": ["post"],
            "root_post_id": [None],
            "created_at": [datetime(2024, 3, 1, tzinfo=UTC)],
            "score": [None],
            "labels": [None],
        },
        schema_overrides={"root_post_id": pl.String, "score": pl.Int64},
    ).write_parquet(tmp_path / "POSTS")
    pl.DataFrame({"account_id": ["acct_1"], "is_participant": [True]}).write_parquet(
        tmp_path / "ACCOUNTS"
    )
    pl.DataFrame({"account_id": ["acct_1"], "topic_id": [0]}).write_parquet(
        tmp_path / "ACCOUNT_TOPICS"
    )
    pl.DataFrame({"post_id": ["p1"], "topic_id": [0], "is_primary": [True]}).write_parquet(
        tmp_path / "POST_TOPICS"
    )
    monkeypatch.setattr(topic_eval.groundtruth, "has_truth", lambda params: True)
    monkeypatch.setattr(topic_eval.groundtruth, "load_truth", lambda params, accounts: (None, None))
    monkeypatch.setattr(topic_eval.attribution_eval, "evaluate_demo", lambda *a: SMALL_DEMO_TRUTH)
    assert topic_eval.run({"privacy": {"min_cell_k": K}}, None) == 0  # type: ignore[arg-type]
    full = json.loads((tmp_path / "TOPIC_EVAL.json").read_text())
    # the full check stays in data/processed (not published), with the date it evaluated
    assert full["demo"] == SMALL_DEMO_TRUTH and full["answer_tags"] is None
    assert full["as_of"] == "2024-03-01T00:00:01+00:00" and full["n_posts"] == 1
    # the sections as given (absent): its own, and the topics' whose attribution it checks (a
    # frozen check after an edit of topics.min_posts is of the old attribution)
    assert full["params"] == {"topic_eval": None, "topics": None}
    # and the k its headline hides smaller groups at (the report refuses a frozen result of a
    # smaller k than the current one)
    assert full["min_cell_k"] == K
    return json.loads((tmp_path / "TOPIC_EVAL_METRICS.json").read_text())


def test_the_demo_truth_check_hides_rates_over_fewer_than_k_planted_accounts(
    tmp_path, monkeypatch
) -> None:
    gt = _run_topic_eval(tmp_path, monkeypatch)["ground_truth_demo"]
    assert gt["n_one_off_accounts"] is None and gt["n_experts"] is None
    for m in ("naive", "evidence"):
        assert gt[m]["one_off_attributed_rate"] is None
        assert gt[m]["expert_subject_recall"] is None
        assert gt[m]["precision"] == SMALL_DEMO_TRUTH[m]["precision"]
    # the writeup prints <k there, from these metrics and from unsuppressed ones alike
    from tests.unit.test_report import _topics_metrics, _writeup

    for truth in (gt, SMALL_DEMO_TRUTH):
        md = _writeup({"privacy": {"min_cell_k": K}}, _topics_metrics(None), demo=truth)
        row = next(ln for ln in md.splitlines() if ln.startswith("| naive | 0.456"))
        assert row == "| naive | 0.456 | <k | <k |", row
    # the full demo (17 one-off posters, 28 experts): everything shown
    big = SMALL_DEMO_TRUTH | {"n_experts": 28, "n_one_off_accounts": 17}
    assert publish.demo_truth_counts(big, K) == big


#: ``attribution_eval.evaluate_tags`` on a small Stack Exchange site: the evidence method
#: credits 4 answerers (k = 10), naive 598
SMALL_SITE_TAGS = {
    "n_answerers_with_truth": 612,
    "n_answerers_evaluated": 612,
    "naive": {
        "precision_at_3": 0.335,
        "precision_at_3_interval": [0.31, 0.36],
        "map": 0.178,
        "map_interval": [0.16, 0.19],
        "precision_at_3_common": 0.5,
        "map_common": 0.2,
        "n_answerers_credited": 598,
        "single_post_attribution_rate": 0.4,
    },
    "evidence": {
        "precision_at_3": 0.583,
        "precision_at_3_interval": [0.33, 0.83],
        "map": 0.25,
        "map_interval": [0.1, 0.4],
        "precision_at_3_common": 0.583,
        "map_common": 0.25,
        "n_answerers_credited": 4,
        "single_post_attribution_rate": 0.0,
    },
    "paired_at_evidence_length": {
        "n_answerers": 4,
        "evidence": 0.58,
        "naive": 0.5,
        "difference": 0.08,
        "ci_low": -0.2,
        "ci_high": 0.3,
        "interval": 0.95,
    },
    "popular_tags": {
        "n_answerers": 612,
        "precision_at_3": 0.147,
        "precision_at_3_interval": [0.129, 0.166],
    },
    "vs_popular": {
        "naive": {
            "n_answerers": 598,
            "naive": 0.335,
            "popular": 0.305,
            "difference": 0.03,
            "ci_low": 0.006,
            "ci_high": 0.055,
            "interval": 0.95,
        },
        "evidence": {
            "n_answerers": 4,
            "evidence": 0.58,
            "popular": 0.48,
            "difference": 0.1,
            "ci_low": -0.1,
            "ci_high": 0.3,
            "interval": 0.95,
        },
    },
}


def test_the_published_tag_check_hides_statistics_over_fewer_than_k_answerers(
    tmp_path,
) -> None:
    """On a small site the evidence method credits a handful of answerers: its precision,
    MAP and comparisons are statistics over them, hidden with their count in
    ``reports/metrics/topic_eval.json`` (git-tracked) as in the writeup; the audit finds no
    small group there. The raw result, published as it was, fails the audit."""
    from analysis.audit import small_groups
    from analysis.contracts import TopicEval
    from analysis.stages.topic_eval import headline

    result = TopicEval(as_of=None, n_posts=2000, answer_tags=SMALL_SITE_TAGS)
    gt = headline(result, K)["ground_truth_answer_tags"]
    assert set(gt["evidence"].values()) == {None}
    assert gt["naive"]["precision_at_3"] == 0.335 and gt["naive"]["n_answerers_credited"] == 598
    assert gt["naive"]["precision_at_3_common"] is None and gt["naive"]["map_common"] is None
    assert gt["paired_at_evidence_length"] == {"n_answerers": None}
    assert gt["vs_popular"]["evidence"] == {"n_answerers": None}
    assert gt["vs_popular"]["naive"]["difference"] == 0.03
    assert gt["popular_tags"]["precision_at_3"] == 0.147
    assert publish.answer_tag_counts(gt, K) == gt  # idempotent
    assert SMALL_SITE_TAGS["evidence"]["n_answerers_credited"] == 4  # the input is not changed

    metrics = tmp_path / "reports/metrics/topic_eval.json"
    metrics.parent.mkdir(parents=True)
    metrics.write_text(json.dumps(headline(result, K)))
    assert small_groups(tmp_path, K) == []
    metrics.write_text(json.dumps({"ground_truth_answer_tags": SMALL_SITE_TAGS}))
    assert small_groups(tmp_path, K)  # what the stage published before
    # the writeup prints the same cells from the published metrics as from the full result
    from tests.unit.test_report import _topics_metrics, _writeup

    params = {"privacy": {"min_cell_k": K}}
    assert _writeup(params, _topics_metrics(None), tags=gt) == _writeup(
        params, _topics_metrics(None), tags=SMALL_SITE_TAGS
    )
