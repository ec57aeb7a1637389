"""The answer-tag check of topic attribution: out of sample, with intervals, against a baseline."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from analysis.attribution_eval import evaluate_tags, leave_out_top_labels


def _thread(
    qid: str, asker: str, tag: str, answerer: str, topic: int, score: int = 1
) -> tuple[list, list]:
    """A question and one answer of ``score``, both in ``topic``, the thread tagged ``tag``."""
    posts = [
        (qid, asker, "question", 1, [tag], None),
        (f"{qid}_a", answerer, "answer", score, [tag], qid),
    ]
    return posts, [(qid, topic), (f"{qid}_a", topic)]


def _tables(threads: list[tuple]) -> tuple[pl.DataFrame, pl.DataFrame]:
    posts, topic = [], []
    for t in threads:
        p, tp = _thread(*t)
        posts += p
        topic += tp
    return (
        pl.DataFrame(
            posts,
            schema=["post_id", "account_id", "kind", "score", "labels", "root_post_id"],
            orient="row",
        ),
        pl.DataFrame(topic, schema=["post_id", "topic_id"], orient="row"),
    )


def _credit(pairs: list[tuple[str, int]]) -> pl.DataFrame:
    rows = [(m, a, t, 3, True, 1) for m in ("naive", "evidence") for a, t in pairs]
    return pl.DataFrame(
        rows,
        schema=["method", "account_id", "topic_id", "n_posts", "is_attributed", "rank"],
        orient="row",
    )


def test_a_topics_tag_is_never_chosen_by_the_scored_answerers_own_threads() -> None:
    """Topic 0 holds three threads tagged stout, all answered by acct_u, and two tagged cider
    answered by acct_v. Labelled with every post, topic 0 "is" stout because acct_u answered
    there, and acct_u is scored a hit on it: an in-sample mapping. Without acct_u's own threads
    topic 0 is cider for acct_u (a miss), and stout for acct_v (a miss too)."""
    threads = [(f"s{i}", f"asker{i}", "stout", "acct_u", 0) for i in range(3)]
    threads += [(f"c{i}", f"other{i}", "cider", "acct_v", 0) for i in range(2)]
    posts, topic = _tables(threads)
    ev = evaluate_tags(_credit([("acct_u", 0), ("acct_v", 0)]), topic, posts)
    assert ev["n_answerers_with_truth"] == 2
    assert ev["topic_labels"] == "leave-threads-out"
    assert ev["naive"]["precision_at_3"] == 0.0
    assert ev["evidence"]["precision_at_3"] == 0.0


def test_precision_has_intervals_and_is_set_against_the_sites_popular_tags() -> None:
    """40 answerers each answering two threads tagged with the site's two most common tags;
    topics credited that stand for a rare tag: the methods miss where the trivial baseline (the
    site's most common tags, the answerer's own threads left out) hits."""
    threads = []
    for i in range(40):
        a = f"acct_{i:02d}"
        threads += [(f"x{i}", f"ask{i}", "ale", a, 0), (f"y{i}", f"ask{i}", "lager", a, 1)]
        threads += [(f"z{i}", f"ask{i}", "mead", f"nobody{i}", 2, 0)]  # no truth of theirs
    threads += [(f"w{i}", f"ask{i}", "ale", f"nobody{i}", 0, 0) for i in range(10)]
    posts, topic = _tables(threads)
    ev = evaluate_tags(_credit([(f"acct_{i:02d}", 2) for i in range(40)]), topic, posts, seed=1)
    pop = ev["popular_tags"]
    assert pop["n_answerers"] == 40
    assert pop["precision_at_3"] == pytest.approx(2 / 3)  # ale, lager hit; mead does not
    for method in ("naive", "evidence"):
        assert ev[method]["precision_at_3"] == 0.0
        assert ev[method]["precision_at_3_interval"] == [0.0, 0.0]
        vs = ev["vs_popular"][method]
        # at the method's length (one label): the site's top tag, ale, against mead
        assert (vs["n_answerers"], vs[method], vs["popular"]) == (40, 0.0, 1.0)
        assert vs["difference"] == -1.0 and vs["ci_high"] == -1.0


def test_leave_out_top_labels_equals_the_brute_force() -> None:
    """The candidate shortcut (the group's top labels the account touched + m) gives the same
    labels as recounting every label without the account's posts."""
    rng = np.random.default_rng(5)
    for _ in range(30):
        labels = [f"t{i}" for i in range(int(rng.integers(1, 9)))]
        counts = {
            (g, lab): int(rng.integers(1, 6))
            for g in range(3)
            for lab in labels
            if rng.random() < 0.8
        }
        own = {
            (a, g, lab): int(rng.integers(1, n + 1))
            for (g, lab), n in counts.items()
            for a in ("u", "v")
            if rng.random() < 0.4
        }
        m = int(rng.integers(1, 4))
        got = leave_out_top_labels(
            pl.DataFrame(
                [(g, lab, n) for (g, lab), n in counts.items()],
                schema={"g": pl.Int64, "label": pl.String, "n": pl.Int64},
                orient="row",
            ),
            pl.DataFrame(
                [(a, g, lab, n) for (a, g, lab), n in own.items()],
                schema={
                    "account_id": pl.String,
                    "g": pl.Int64,
                    "label": pl.String,
                    "n_own": pl.Int64,
                },
                orient="row",
            ),
            pl.DataFrame({"account_id": ["u", "v", "u", "v"], "g": [0, 0, 1, 2]}),
            ["g"],
            m,
        )
        for a, g in (("u", 0), ("v", 0), ("u", 1), ("v", 2)):
            left = {
                lab: n - own.get((a, g, lab), 0)
                for (gg, lab), n in counts.items()
                if gg == g and n - own.get((a, g, lab), 0) > 0
            }
            want = sorted(left, key=lambda lab: (-left[lab], lab))[:m]
            mine = got.filter((pl.col("account_id") == a) & (pl.col("g") == g)).sort("pos")
            assert mine["label"].to_list() == want


def test_above_the_cap_a_sample_of_answerers_is_evaluated_the_same_under_any_key() -> None:
    """300 answerers, a cap of 50: the sample is chosen by the answerers' post times (hashed),
    so renaming every account (another pseudonymisation key) or shuffling the rows picks the
    same people; the evaluation then reads only them and says so."""
    from datetime import UTC, datetime, timedelta

    from analysis.attribution_eval import sample_answerers

    threads = [(f"q{i}", f"ask{i}", "ale", f"acct_{i:03d}", 0) for i in range(300)]
    posts, topic = _tables(threads)
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    posts = posts.with_columns(
        created_at=pl.Series([t0 + timedelta(minutes=7 * i) for i in range(posts.height)])
    )
    answerers = posts.filter(pl.col("kind") == "answer").select("account_id").unique()
    picked = set(sample_answerers(answerers, posts, 50, 42)["account_id"])
    assert len(picked) == 50
    # another key: every pseudonym different, the same people (mapped back) are picked
    rename = pl.col("account_id").str.replace("acct_", "zz_")
    other = posts.with_columns(rename).sample(fraction=1.0, shuffle=True, seed=3)
    picked_other = sample_answerers(answerers.with_columns(rename), other, 50, 42)
    assert {a.replace("zz_", "acct_") for a in picked_other["account_id"]} == picked
    # not the first 50 in any listing order: a draw over all 300
    assert picked != {f"acct_{i:03d}" for i in range(50)}
    ev = evaluate_tags(
        _credit([(f"acct_{i:03d}", 0) for i in range(300)]), topic, posts, max_answerers=50
    )
    assert (ev["n_answerers_with_truth"], ev["n_answerers_evaluated"]) == (300, 50)
    assert ev["popular_tags"]["n_answerers"] == 50
    whole = evaluate_tags(_credit([(f"acct_{i:03d}", 0) for i in range(300)]), topic, posts)
    assert whole["n_answerers_evaluated"] == 300  # no cap: every answerer, as before
