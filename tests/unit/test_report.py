"""Report stage: the frames behind each chart, publication suppression, the methodology's numbers,
and a report built from partial inputs (missing sections are omitted with a note, never a crash)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from analysis import contracts, divergence, publish, report
from analysis.models import validity
from analysis.report import fmt, public
from analysis.stages import report as stage

K = 10
MODELS_JSON = {
    "as_of": "2026-07-01T00:00:00+00:00",
    "n_participants": 40,
    "comparators": ["volume"],
    "missing_inputs": {"volume": [], "conversation": []},
    "within_thread": {},
    "incremental": {},
    "ranking": {},
    "out_of_time": {
        "delta_days": 30.0,
        "n_accounts": 40,
        "scored_at": "2026-06-01T00:00:00+00:00",
        "outcome_until": "2026-07-01T00:00:00+00:00",
        "models": {
            "volume": {
                "n_repliers_next": {
                    "spearman": 0.4123456,
                    "ci_low": 0.1107,
                    "ci_high": 0.6461,
                    "nb_glm": {"coef_per_sd": 0.61, "p_value": 1e-5},
                }
            },
            "conversation": {
                "n_repliers_next": {
                    "spearman": 0.7654321,
                    "ci_low": 0.5882,
                    "ci_high": 0.8707,
                    "nb_glm": {"coef_per_sd": 0.9, "p_value": 2e-9},
                }
            },
        },
    },
    "planted_roles": {
        "positive": ["expert"],
        "negative": ["gamer"],
        "models": {
            "volume": {
                "auc": 0.4444444,
                "ci_low": 0.2061,
                "ci_high": 0.6828,
                "auc_experts": 0.3,
                "n_positive": 12,
                "n_negative": 11,
            },
            "conversation": {
                "auc": 0.9876543,
                "ci_low": 0.9512,
                "ci_high": 1.0,
                "auc_experts": 1.0,
                "n_positive": 12,
                "n_negative": 11,
            },
        },
    },
}
INGEST_JSON = {
    "first_post_at": "2026-03-02 06:03:12+00:00",
    "last_post_at": "2026-07-01 10:19:35+00:00",
    "n_opt_out_entries": 1,
    "n_participants": 40,
    "platforms": ["demo"],
    "reject_reasons": [],
    "sources": {
        "demo": {
            "accounts": {
                "read": 47,
                "accepted": 40,
                "rejected": 0,
                "removed_minor": 3,
                "removed_opt_out": 1,
                "removed_privacy": 4,
                "merged_nonparticipant": 3,
            },
            "posts": {
                "read": 900,
                "accepted": 880,
                "rejected": 0,
                "removed_privacy": 20,
                "merged_nonparticipant": 0,
            },
        }
    },
    "totals": {
        "accounts": {
            "read": 47,
            "accepted": 40,
            "rejected": 0,
            "removed_privacy": 4,
            "merged_nonparticipant": 3,
        },
        "posts": {
            "read": 900,
            "accepted": 880,
            "rejected": 0,
            "removed_privacy": 20,
            "merged_nonparticipant": 0,
        },
    },
}
COMPARE_JSON = {
    "as_of": "2026-07-01T00:00:00+00:00",
    "n_participants": 40,
    "models": ["volume", "conversation"],
    "agreement": [
        {
            "model_a": "volume",
            "model_b": "conversation",
            "n_accounts": 40,
            "statistics": {"spearman": {"value": 0.55, "ci_low": 0.3, "ci_high": 0.7}},
        }
    ],
    "counterfactual": {
        "n_sample": 30,
        "n_targets": 30,
        "batch_size": 3,
        "ring_size": 5,
        "ring_sizes": {"5": 5},
        "stability": {},
        "adversaries": {},
        "volume": {},
        "weekend_off": {
            "volume": {"median": -0.25, "n_accounts": 30, "share_falling": 0.9},
            "conversation": {"median": -0.01, "n_accounts": 30, "share_falling": 0.4},
        },
        "time_off": {"volume": {"median": -0.3, "n_accounts": 30}},
        "gaming": {"volume": {"median_rel_change": {"+50%": 0.2, "+100%": 0.4}, "n_accounts": 30}},
        "ring": {"volume": {"n_members": 5, "ring_gain": 0.1}},
    },
    "robustness": {},
    "robustness_gates": {},
    "recommendation": {
        # the k it ran with (the params fixture's): a frozen compare of another k is named
        "min_cell_k": K,
        "recommended_model": "conversation",
        "primary_question": "who gets answered",
        "comparators": ["volume"],
        "candidates": ["conversation"],
        "by_question": {
            "who gets answered": {
                "question": "who gets answered",
                "model": "conversation",
                "outcome": "conversation",
                "coef": 0.4321,
                "ci_low": 0.2,
                "ci_high": 0.6,
                "account_coef": 0.3,
                "account_ci_low": 0.1,
                "account_ci_high": 0.5,
                "comparators": ["volume"],
                "qualifying": ["conversation"],
            },
            "who wins approval": {
                "question": "who wins approval",
                "model": None,
                "outcome": "approval",
                "comparators": ["volume"],
                "excluded": {
                    "conversation": [
                        {
                            "reason": "does_not_beat",
                            "comparator": "volume",
                            "value": -0.1,
                            "ci_low": -0.3,
                            "ci_high": 0.1,
                        },
                        {"reason": "fails_gates", "gates": ["ring", "puppets"]},
                    ]
                },
            },
        },
        "gates": {
            "volume": {"ring": True, "weekend_off": False},
            "conversation": {"ring": True, "weekend_off": True},
        },
    },
}
VALIDITY = contracts.ValidityResult.model_validate(MODELS_JSON)
COMPARE = contracts.CompareResult.model_validate(COMPARE_JSON)

DIVERGENCE_JSON = {
    "as_of": "2026-07-01T00:00:00+00:00",
    "models": {"reach": "reach", "conversation": "conversation"},
    "quadrants": {
        "loud and heard": {"n": 12, "share": 0.3},
        "quiet connectors": {"n": 6, "share": 0.15},
        "loud but unheard": {"n": 8, "share": 0.2},
        "quiet and unheard": {"n": 14, "share": 0.35},
    },
    "thresholds_pct": {"reach": 50.0, "conversation": 50.0},
    "reach_missing": False,
    "ols": {"n": 40, "slope": 0.0123, "r2": 0.0004},
    "planted_roles": {
        "gamer_in_loud_but_unheard": {"n_role": 12, "rate": 0.5, "suppressed": False},
        "broadcaster_in_loud_but_unheard": {"n_role": None, "rate": None, "suppressed": True},
        "expert_in_quiet_connectors": {"n_role": 20, "rate": 0.4, "suppressed": False},
    },
}


# ---------------------------------------------------------------- frames


def test_weekly_activity_counts_posts_reactions_and_distinct_accounts() -> None:
    t = datetime(2026, 3, 3, 12, tzinfo=UTC)  # a Tuesday: week of Monday 2 March
    later = datetime(2026, 3, 10, 12, tzinfo=UTC)
    posts = pl.DataFrame(
        {"account_id": ["a", "a", "b", "acct_nonparticipant"], "created_at": [t, t, later, t]}
    )
    reactions = pl.DataFrame({"created_at": [t, later], "actor_account_id": ["c", None]})
    w = report.weekly_activity(posts, reactions)
    assert w["n_posts"].to_list() == [3, 1]
    assert w["n_reactions"].to_list() == [1, 1]
    assert w["n_accounts"].to_list() == [
        2,
        1,
    ]  # a and c; the placeholder and anonymous votes don't count
    assert str(w["week"][0]) == "2026-03-02"


def test_auc_interval_matches_hanley_mcneil_and_stays_in_bounds() -> None:
    lo, hi = validity.auc_interval(0.5, 50, 50)
    assert (lo + hi) / 2 == pytest.approx(0.5)
    assert hi - lo == pytest.approx(2 * 1.96 * 0.0578, abs=0.01)  # SE ~0.058 at n = 50 + 50
    assert validity.auc_interval(0.99, 5, 5)[1] <= 1.0
    assert validity.auc_interval(1.0, 5, 5) == (1.0, 1.0)


def test_spearman_interval_contains_rho_and_narrows_with_n() -> None:
    lo, hi = validity.spearman_interval(0.5, 30)
    lo2, hi2 = validity.spearman_interval(0.5, 300)
    assert lo < lo2 < 0.5 < hi2 < hi
    assert validity.spearman_interval(0.5, 3) == (0.5, 0.5)


def test_validity_frames_read_the_intervals_validate_wrote() -> None:
    """No recomputation: the report prints the validate stage's intervals as they are."""
    auc = report.auc_frame(VALIDITY)
    assert auc.filter(pl.col("model") == "volume").row(0, named=True)["ci_low"] == 0.2061
    oot = report.oot_frame(VALIDITY)
    assert oot.filter(pl.col("model") == "conversation")["ci_high"].to_list() == [0.8707]


def test_agreement_frame_reads_the_compare_result() -> None:
    df = report.agreement_frame(COMPARE)
    assert df.row(0, named=True) == {
        "model_a": "volume",
        "model_b": "conversation",
        "value": 0.55,
        "ci_low": 0.3,
        "ci_high": 0.7,
        "n_accounts": 40,
    }
    scores = {
        "a": pl.DataFrame({"account_id": ["x", "y", "z"], "score": [1.0, 2.0, 3.0]}),
        "b": pl.DataFrame({"account_id": ["x", "y", "z"], "score": [3.0, 2.0, 1.0]}),
    }
    # notebooks run before compare: the score files' own rank correlation
    assert report.score_agreement(scores)["value"].to_list() == pytest.approx([-1.0])


def test_effect_frames_read_the_counterfactual_tests() -> None:
    w = report.effect_frame(COMPARE.counterfactual, "weekend_off")
    assert w.filter(pl.col("series") == "weekends off")["value"].to_list() == pytest.approx(
        [-0.25, -0.01]
    )
    assert w.filter(pl.col("series") == "two weeks off")["model"].to_list() == ["volume"]
    g = report.effect_frame(COMPARE.counterfactual, "gaming")
    ring = g.filter(pl.col("series").str.starts_with("reaction ring"))
    assert ring["n_accounts"].to_list() == [5] and ring["value"].to_list() == pytest.approx([0.1])
    with pytest.raises(ValueError, match="unknown test"):
        report.effect_frame(COMPARE.counterfactual, "nope")


def test_quadrants_are_the_ones_the_divergence_stage_placed() -> None:
    div = pl.DataFrame(
        {
            "account_id": ["a", "b", "c"],
            "reach_pct": [90.0, 10.0, 50.0],
            "conversation_pct": [10.0, 90.0, 50.0],
            "quadrant": ["loud but unheard", "quiet connectors", None],
        }
    )
    pts = report.divergence_points(div)
    assert pts["quadrant"].to_list() == ["loud but unheard", "quiet connectors", "unassigned"]
    q = report.quadrant_table(contracts.DivergenceResult.model_validate(DIVERGENCE_JSON))
    assert dict(q.select("quadrant", "n_accounts").iter_rows())["quiet connectors"] == 6


def test_a_compare_result_of_another_shape_fails_with_the_file_name(tmp_path: Path) -> None:
    path = tmp_path / "compare.json"
    path.write_text(json.dumps({**COMPARE_JSON, "agreemnet": []}))
    with pytest.raises(ValueError, match=r"compare\.json does not match CompareResult"):
        contracts.load(contracts.CompareResult, path)
    with pytest.raises(FileNotFoundError, match="missing"):
        contracts.load(contracts.CompareResult, tmp_path / "absent.json")


def test_topic_experts_keeps_attributed_evidence_rows_best_first() -> None:
    at = pl.DataFrame(
        {
            "method": ["evidence", "evidence", "evidence", "naive"],
            "account_id": ["acct_a", "acct_b", "acct_c", "acct_d"],
            "topic_id": [0, 0, 0, 0],
            "n_posts": [10, 20, 30, 99],
            "n_engagers": [5, 6, 7, 1],
            "estimate": [2.0, 1.5, 9.0, 1.0],
            "ci_low": [1.0, 1.0, 1.0, None],
            "ci_high": [3.0, 2.0, 20.0, None],
            "is_attributed": [True, True, False, True],
        }
    )
    topics = pl.DataFrame(
        {"topic_id": [0], "label": ["0_bike"], "keywords": [["bike", "gear"]], "n_posts": [60]}
    )
    e = report.topic_experts(at, topics, per_topic=5)
    assert e["label"].to_list() == [
        "acct_b",
        "acct_a",
    ]  # 20 x 1.5 = 30 > 10 x 2 = 20; c not attributed
    assert e["keywords"].to_list() == ["bike, gear"] * 2


def test_topic_experts_do_not_depend_on_the_row_order_at_a_tie() -> None:
    """Beer, topic 11: two accounts of 3 posts with the same estimate and interval shared the
    last place; head(3) kept whichever came first, and rows come in pseudonym order (another
    key, another list). Now both are listed, whatever the order of the rows."""
    at = pl.DataFrame(
        {
            "method": ["evidence"] * 5,
            "account_id": ["acct_e", "acct_d", "acct_c", "acct_b", "acct_a"],
            "topic_id": [0] * 5,
            "n_posts": [19, 16, 3, 3, 3],
            "n_engagers": [9, 8, 3, 3, 3],
            "estimate": [1.8, 0.73, 2.31, 2.31, 2.31],
            "ci_low": [0.94, 0.21, 0.45, 0.45, 0.40],  # acct_a: a lower bound, below the cut
            "ci_high": [2.9, 1.5, 5.4, 5.4, 5.4],
            "is_attributed": [True] * 5,
        }
    )
    topics = pl.DataFrame(
        {"topic_id": [0], "label": ["0_ale"], "keywords": [["ale", "hops"]], "n_posts": [60]}
    )
    first = report.topic_experts(at, topics, per_topic=3)
    assert first["label"].to_list() == ["acct_e", "acct_d", "acct_b", "acct_c"]
    for order in (at.reverse(), at.sample(fraction=1.0, shuffle=True, seed=3)):
        assert_frame_equal(report.topic_experts(order, topics, per_topic=3), first)
    # no tie at the cut: exactly per_topic
    assert report.topic_experts(at, topics, per_topic=2)["label"].to_list() == ["acct_e", "acct_d"]


@pytest.mark.parametrize(("interval", "said"), [(0.9, "90 %"), (0.95, "95 %"), (0.8, "80 %")])
def test_the_within_thread_caption_says_validate_s_interval(interval: float, said: str) -> None:
    """index.html said "95 % bootstrap interval" whatever validate.interval was."""
    from analysis.report import analyst
    from analysis.report.params import ReportParams

    inp = report.Inputs(params={"validate": {"interval": interval}})
    b = {
        "within_thread": pl.DataFrame(
            {"model": ["conversation"], "coef": [0.4], "ci_low": [0.2], "ci_high": [0.6]}
        )
    }
    secs = [s for s in analyst.sections(inp, b, ReportParams()) if s.id == "within-thread"]
    page = analyst.render_index(ReportParams(), inp, secs, plotlyjs="")
    caption = page[page.index("The headline validity test") :].split("</p>")[0]
    assert f"ci_low/ci_high: {said} bootstrap interval" in caption
    assert "<code>validate.interval</code>" in caption
    if interval != 0.95:
        assert "95 %" not in caption


def test_analyst_page_says_what_the_run_measured() -> None:
    """index.html printed ingest's suppressed counts as "n/a" (a number not computed), said
    "a score computed a month ago" whatever ``models.validate_delta_days`` was, described a
    planted-role AUC chart on data without one, and credited the quadrants to ``compare``."""
    from analysis.report import analyst
    from analysis.report.params import ReportParams

    ingest = json.loads(json.dumps(INGEST_JSON))
    ingest["totals"]["accounts"]["removed_privacy"] = None  # suppressed by ingest (< k)
    ingest["sources"]["demo"]["accounts"]["removed_minor"] = None
    mj = json.loads(json.dumps(MODELS_JSON))
    mj["out_of_time"]["delta_days"] = 14.0
    mj["planted_roles"] = None
    inp = report.Inputs(ingest=ingest, validity=contracts.ValidityResult.model_validate(mj))
    b = report.build(inp, ReportParams())
    secs = [
        s for s in analyst.sections(inp, b, ReportParams()) if s.id in ("data", "validity", "reach")
    ]
    page = analyst.render_index(ReportParams(), inp, secs, plotlyjs="")
    data = page[page.index("What ingest read") : page.index("Opt-out entries")]
    assert "n/a" not in data
    assert data.count("&lt;k") == 2  # removed_privacy of the accounts, the minors
    caption = page[page.index('<section id="validity">') :].split("</p>")[0]
    assert "computed 14 days before the scoring date" in caption and "a month" not in caption
    assert "planted" not in caption
    assert "the compare stage placed" not in page


# ---------------------------------------------------------------- publication


def test_public_tables_suppress_cells_under_k_but_show_zeros() -> None:
    removals = pl.DataFrame(
        {
            "source": ["d", "d", "d"],
            "table": ["accounts", "accounts", "posts"],
            "rule": ["removed_minor", "removed_opt_out", "removed_privacy"],
            "n": [3, 0, 20],
            "n_accounts": [3, 0, 4],
        }
    )
    topics = pl.DataFrame(
        {
            "topic_id": [0, 1],
            "label": ["0_big", "1_tiny"],
            "keywords": ["a, b", "c, d"],
            "n_posts": [100, 12],
            "n_accounts": [40, 3],
        }
    )
    t = public.public_tables(
        {"removals": removals, "topics": topics, "validity_auc": report.auc_frame(VALIDITY)}, K
    )
    r = t["privacy_removals"].sort("rule")
    assert r["n"].to_list() == [None, None, None]
    # complementary suppression (issue 13 item 8): the zero beside the lone hidden minor count
    # of the same group would give it away by subtraction, so it is hidden too
    assert r.filter(pl.col("rule") == "removed_opt_out")["is_suppressed"].to_list() == [True]
    assert r.filter(pl.col("rule") == "removed_minor")["n"].to_list() == [None]
    assert r.filter(pl.col("table") == "posts")["n"].to_list() == [None]  # 20 rows of 4 accounts
    assert "topic_id" not in t["topics"].columns  # numbered by size: it would rank a hidden row
    tiny = t["topics"].filter(pl.col("label").is_null()).row(0, named=True)
    assert tiny["label"] is None and tiny["keywords"] is None and tiny["n_posts"] is None
    # the only other topic is its complement: its posts would give the tiny one's away from
    # the total; its label and authors stay (it covers 40 accounts)
    big = t["topics"].filter(pl.col("label") == "0_big").row(0, named=True)
    assert big["label"] == "0_big" and big["n_accounts"] == 40 and big["n_posts"] is None
    assert t["validity_planted_roles"]["auc"].null_count() == 0  # 12 + 11 accounts >= k


def test_public_counterfactual_curves_hide_medians_over_fewer_than_k_accounts() -> None:
    """The gaming table hides a 5-member ring's median gain; the adversaries' ring at strength
    5 is the same 5 accounts and printed the same number (demo: engagement 0.8625 both)."""
    adversaries = pl.DataFrame(
        {
            "adversary": ["ring", "ring"],
            "model": ["engagement", "engagement"],
            "strength": [5.0, 20.0],
            "gain": [0.8625, 0.47],
            "gain_low": [0.0, 0.29],
            "gain_high": [45.1, 1.14],
            "n_targets": [5, 20],
        }
    )
    stability = pl.DataFrame(
        {
            "scenario": ["weekend_off", "time_off"],
            "model": ["volume", "volume"],
            "n_accounts": [4, 100],
            **{c: [0.1, 0.2] for c in ("bias", "bias_low", "bias_high", "noise")},
            **{c: [0.3, 0.4] for c in ("noise_low", "noise_high", "share_outside")},
        }
    )
    t = public.public_tables({"adversaries": adversaries, "stability": stability}, K)
    a = t["adversaries"]
    assert a["is_suppressed"].to_list() == [True, False]
    assert a.row(0, named=True)["gain"] is None and a.row(0, named=True)["n_targets"] is None
    assert a.row(1, named=True)["gain"] == 0.47
    s = t["stability"]
    assert s["is_suppressed"].to_list() == [True, False]
    assert s.row(0, named=True)["bias"] is None and s.row(0, named=True)["noise_high"] is None
    assert s.row(1, named=True)["bias"] == 0.2
    assert "0.863" not in public.md_table(a) and "<k" in public.md_table(a)


def test_a_count_ingest_suppressed_prints_k_in_the_removals_table() -> None:
    """Beer: ingest hid 1-9 posts cut from quotes (``removed_text_cut``: null) of a source
    that removed 44 accounts; the writeup printed "n/a" (a number not computed), not <k."""
    removals = pl.DataFrame(
        {
            "source": ["beer"] * 3,
            "table": ["posts"] * 3,
            "rule": ["removed_privacy", "detached_replies", "removed_text_cut"],
            "n": [75, 37, None],
            "n_accounts": [44, 44, 44],
        },
        schema_overrides={"n": pl.Int64},
    )
    t = public.public_tables({"removals": removals}, K)["privacy_removals"]
    assert "| beer | posts | removed_text_cut | <k |" in public.md_table(t, drop=["n_accounts"])
    assert t.filter(pl.col("rule") == "removed_privacy")["n"].to_list() == [75]


def test_the_reach_split_says_where_no_audience_was_measured(params: dict) -> None:
    """Beer: 807 of 1,352 accounts never asked a question (the only posts with views; no
    follower counts), all at reach 0, so all "quiet" by construction; the writeup called the
    quiet quadrants people "talked with far beyond their audience" and said nothing of it."""
    from analysis.report.methodology import WriteupContext, methodology_markdown
    from analysis.report.params import Params
    from analysis.report.results import reach_floor

    n_floor, n_rest = 30, 20
    div_df = pl.DataFrame(
        {
            "account_id": [f"acct_{i:016x}" for i in range(n_floor + n_rest)],
            "reach_pct": [29.6] * n_floor + [60.0 + i for i in range(n_rest)],
            "conversation_pct": [float(i * 7 % 100) for i in range(n_floor + n_rest)],
        }
    ).with_columns(
        quadrant=pl.when(pl.col("reach_pct") >= 50)
        .then(pl.lit("loud and heard"))
        .when(pl.col("conversation_pct") >= 50)
        .then(pl.lit("quiet connectors"))
        .otherwise(pl.lit("quiet and unheard"))
    )
    counts = dict(div_df.group_by("quadrant").len().iter_rows())
    dv = contracts.DivergenceResult.model_validate(
        {
            "as_of": "2026-07-01T00:00:00+00:00",
            "models": {"reach": "reach", "conversation": "conversation"},
            "thresholds_pct": {"reach": 50.0, "conversation": 50.0},
            "quadrants": {
                q: {"n": counts.get(q, 0), "share": counts.get(q, 0) / 50}
                for q in (
                    "loud but unheard",
                    "quiet connectors",
                    "loud and heard",
                    "quiet and unheard",
                )
            },
            "reach_missing": False,
            "ols": {"n": 50, "intercept": 40.0, "slope": 0.1, "r2": 0.01},
        }
    )
    floor = reach_floor(div_df, dv, K)
    assert floor == {
        "n": 30,
        "share": 0.6,
        "side": "quiet",
        "quadrants": ["quiet and unheard", "quiet connectors"],
    }
    ctx = WriteupContext(
        params=Params.of(params),
        ingest=None,
        topics_metrics=None,
        validity=None,
        compare=None,
        divergence=dv,
        tables={},
        figures={},
        reach_floor=floor,
    )
    md = methodology_markdown(ctx)
    assert "30 of the 50 accounts placed (60 %) share the lowest reach" in md
    assert "quiet side by construction" in md
    # 5 accounts above the floor: 50 - 45 would show them, so the count is not published
    few_above = div_df.with_columns(
        reach_pct=pl.when(pl.int_range(pl.len()) < 45).then(29.6).otherwise(pl.col("reach_pct"))
    )
    assert reach_floor(few_above, dv, K)["n"] is None
    assert reach_floor(div_df.head(n_floor - 25), dv, K) is None  # 5 at the floor: nothing


def test_md_table_prints_suppressed_cells_as_k() -> None:
    df = pl.DataFrame({"q": ["a", "b"], "n_accounts": [None, 12], "is_suppressed": [True, False]})
    assert public.md_table(df).splitlines()[2:] == [f"| a | {publish.SUPPRESSED} |", "| b | 12 |"]


def _topics_metrics(rule: dict | None) -> dict:
    tm = {
        "method": "kmeans",
        "n_topics": 6,
        "n_posts_embedded": 900,
        "stability_mean_pairwise_ari": 0.6,
        "topic_diversity": 0.7,
        "outlier_share": 0.0,
        "vs_labels": {"nmi": 0.2, "ari": 0.1},
        "fit": {},
        "attribution": {
            "evidence": {"n_pairs": 400, "n_attributed": 4, "n_accounts_attributed": 3},
            "naive": {"n_pairs": 400, "n_attributed": 400, "n_accounts_attributed": 120},
        },
    }
    return tm | ({"attribution_rule": rule} if rule is not None else {})


def _writeup(params: dict, tm: dict, *, demo: dict | None = None, tags: dict | None = None) -> str:
    """The writeup's topics section from these topics metrics and ground-truth checks (the
    ``topic_eval`` stage's ``demo`` and ``answer_tags``)."""
    from analysis.contracts import TopicEval
    from analysis.report.methodology import WriteupContext, methodology_markdown
    from analysis.report.params import Params

    ctx = WriteupContext(
        params=Params.of(params),
        ingest=None,
        topics_metrics=tm,
        validity=None,
        compare=None,
        divergence=None,
        tables={},
        figures={},
        topic_eval=TopicEval(as_of="", n_posts=0, demo=demo, answer_tags=tags),
    )
    md = methodology_markdown(ctx)
    return md[md.index("Topic attribution") : md.index("## 4.")]


def test_the_attribution_table_hides_counts_under_k_and_prints_the_run_s_rule(
    params: dict,
) -> None:
    """The evidence method attributed 4 pairs to 3 accounts (k = 10): both printed as they
    were; and the rule was fixed prose ("several posts and several distinct people") whatever
    topics.min_posts, min_engagers, min_ci_low and interval said."""
    rule = {"min_posts": 5, "min_engagers": 4, "min_ci_low": 1.2, "interval": 0.8}
    text = _writeup(params, _topics_metrics(rule))
    assert "| evidence | 400 | <k | <k |" in text
    assert "| naive | 400 | 400 | 120 |" in text
    assert "several" not in text
    assert "at least 5 posts" in text and "at least 4 distinct other participants" in text
    assert "80 % credible interval" in text and "1.2 or above" in text
    plain = _writeup(params, _topics_metrics(rule | {"min_ci_low": None, "interval": 0.95}))
    assert "topics.min_ci_low" not in plain and "95 % credible interval" in plain
    # a topics.json written before the rule was recorded names the params, no numbers
    old = _writeup(params, _topics_metrics(None))
    assert "`topics.min_posts`" in old and "several" not in old and "<k" in old


def test_the_attribution_table_gives_no_small_group_away_by_subtraction() -> None:
    """Demo: naive credited 196 accounts, evidence 195, beside 196 participants: 196 - 195 =
    the 1 account no topic credits by evidence, a group under k printed by subtraction."""
    from analysis.report.methodology import attribution_counts

    demo = {
        "evidence": {"n_pairs": 2146, "n_attributed": 1012, "n_accounts_attributed": 195},
        "naive": {"n_pairs": 2146, "n_attributed": 2146, "n_accounts_attributed": 196},
    }
    out = attribution_counts(demo, K)  # naive's 196 alone gives the 1 away
    assert out["evidence"]["n_accounts_attributed"] is None
    assert out["naive"]["n_accounts_attributed"] == 196
    assert out["evidence"]["n_attributed"] == 1012  # 1,134 pairs not credited: not few
    # naive 4 short of the participants: both counts would give a small group away
    out = attribution_counts(demo, K, 200)
    assert out["naive"]["n_accounts_attributed"] is None
    assert out["evidence"]["n_accounts_attributed"] is None
    # far apart: everything shown
    far = demo | {"evidence": demo["evidence"] | {"n_accounts_attributed": 150}}
    assert attribution_counts(far, K, 196)["evidence"]["n_accounts_attributed"] == 150
    # evidence leaves 3 pairs uncredited: they cover at most 3 accounts
    close = demo | {"evidence": demo["evidence"] | {"n_attributed": 2143}}
    assert attribution_counts(close, K, 196)["evidence"]["n_attributed"] is None


def test_the_writeup_reports_the_answer_tag_check_with_its_interval(params: dict) -> None:
    """topics.json held the Stack Exchange answer-tag check (beer: evidence MAP 0.096 against
    naive 0.178) and the writeup printed none of it: only the demo's planted truth."""
    gt = {
        "n_answerers_with_truth": 598,
        "naive": {
            "precision_at_3": 0.335,
            "map": 0.1779,
            "precision_at_3_common": 0.531,
            "map_common": 0.1813,
            "n_answerers_credited": 598,
        },
        "evidence": {
            "precision_at_3": 0.592,
            "map": 0.0959,
            "precision_at_3_common": 0.592,
            "map_common": 0.0959,
            "n_answerers_credited": 85,
        },
        "paired_at_evidence_length": {
            "n_answerers": 85,
            "evidence": 0.59,
            "naive": 0.64,
            "difference": -0.05,
            "ci_low": -0.09,
            "ci_high": -0.01,
            "interval": 0.95,
        },
    }
    text = _writeup(params, _topics_metrics(None), tags=gt)
    assert "| naive | 598 | 0.335 | 0.178 | 0.531 | 0.181 |" in text
    assert "| evidence | 85 | 0.592 | 0.096 | 0.592 | 0.096 |" in text
    assert "-0.050 [-0.090, -0.010]" in text and "less precise than naive" in text
    few = gt | {"evidence": gt["evidence"] | {"n_answerers_credited": 4}}
    few["paired_at_evidence_length"] = gt["paired_at_evidence_length"] | {"n_answerers": 4}
    text = _writeup(params, _topics_metrics(None), tags=few)
    assert "| evidence | <k | <k | <k | <k | <k |" in text and "0.592" not in text
    assert "| naive | 598 | 0.335 | 0.178 | <k | <k |" in text
    assert "fewer than k = 10 answerers" in text


def test_the_writeup_sets_the_tag_check_against_the_popular_tags_baseline(params: dict) -> None:
    """Beer, session 39: the evidence method's P@3 0.337 looked like a gain over naive's 0.145,
    but the site's three most common tags score 0.545 against its 0.539 at its own list length.
    The writeup printed no baseline and no interval on a method's precision."""
    gt = {
        "n_answerers_with_truth": 598,
        "topic_labels": "leave-threads-out",
        "naive": {
            "precision_at_3": 0.145,
            "precision_at_3_interval": [0.127, 0.164],
            "map": 0.093,
            "map_interval": [0.078, 0.109],
            "precision_at_3_common": 0.435,
            "map_common": 0.091,
            "n_answerers_credited": 598,
        },
        "evidence": {
            "precision_at_3": 0.337,
            "precision_at_3_interval": [0.276, 0.407],
            "map": 0.063,
            "map_interval": [0.048, 0.082],
            "precision_at_3_common": 0.337,
            "map_common": 0.063,
            "n_answerers_credited": 82,
        },
        "paired_at_evidence_length": {
            "n_answerers": 82,
            "evidence": 0.539,
            "naive": 0.557,
            "difference": -0.018,
            "ci_low": -0.049,
            "ci_high": 0.0,
            "interval": 0.95,
        },
        "popular_tags": {
            "precision_at_3": 0.147,
            "precision_at_3_interval": [0.129, 0.166],
            "n_answerers": 598,
        },
        "vs_popular": {
            "naive": {
                "n_answerers": 598,
                "naive": 0.226,
                "popular": 0.196,
                "difference": 0.030,
                "ci_low": 0.006,
                "ci_high": 0.055,
                "interval": 0.95,
            },
            "evidence": {
                "n_answerers": 82,
                "evidence": 0.539,
                "popular": 0.545,
                "difference": -0.006,
                "ci_low": -0.087,
                "ci_high": 0.079,
                "interval": 0.95,
            },
        },
    }
    text = _writeup(params, _topics_metrics(None), tags=gt)
    assert "| evidence | 82 | 0.337 [0.276, 0.407] | 0.063 [0.048, 0.082] |" in text
    assert "threads the scored answerer never wrote in" in text
    assert "precision@3 0.147 [0.129, 0.166] over 598 answerers" in text
    assert "+0.030 [0.006, 0.055]: its topics add something" in text
    assert "-0.006 [-0.087, 0.079]: **no gain over the site's most common tags is shown**" in text
    few = gt | {"vs_popular": gt["vs_popular"] | {"evidence": {"n_answerers": 4}}}
    text = _writeup(params, _topics_metrics(None), tags=few)
    assert "The evidence method against it: fewer than k = 10 answerers" in text


def test_the_analyst_page_prints_the_run_s_attribution_rule(params: dict) -> None:
    from analysis.report import analyst
    from analysis.report.params import ReportParams

    at = pl.DataFrame(
        {
            "method": ["evidence"],
            "account_id": ["acct_a"],
            "topic_id": [0],
            "n_posts": [10],
            "n_engagers": [5],
            "estimate": [2.0],
            "ci_low": [1.0],
            "ci_high": [3.0],
            "is_attributed": [True],
        }
    )
    topics = pl.DataFrame(
        {"topic_id": [0], "label": ["0_bike"], "keywords": [["bike", "gear"]], "n_posts": [60]}
    )
    rule = {"min_posts": 7, "min_engagers": 1, "min_ci_low": None, "interval": 0.8}
    inp = report.Inputs(topics_metrics=_topics_metrics(rule))
    b = {"experts": report.topic_experts(at, topics, per_topic=3)}
    secs = [s for s in analyst.sections(inp, b, ReportParams()) if s.id == "experts"]
    page = analyst.render_index(ReportParams(), inp, secs, plotlyjs="")
    caption = page.split('id="experts"')[1] if 'id="experts"' in page else page
    assert "several" not in caption
    assert "at least 7 posts" in caption and "at least 1 distinct other participant " in caption
    assert "80 % credible interval" in caption


# ---------------------------------------------------------------- the stage on partial inputs


@pytest.fixture
def params() -> dict:
    return {
        "report": {"figure_format": "none"},
        "privacy": {"min_cell_k": K},
        "models": {"scored": {"volume": {}, "conversation": {}}, "half_life_days": 30},
        "source": {"format": "canonical", "name": "demo"},
    }


#: where each result lives: metrics JSON (ingest) or a stage's typed result (validate, compare)
WHERE = {
    "ingest.json": "reports/metrics/ingest.json",
    "models.json": "data/processed/validity.json",
    "compare.json": "data/processed/compare.json",
    "divergence.json": "data/processed/divergence.json",
}


def _write(root: Path, name: str, data: dict) -> None:
    path = root / WHERE[name]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def _write_metrics(root: Path, models: dict = MODELS_JSON) -> None:
    """The metrics JSONs the methodology reads, ``models`` as models.json."""
    for name, data in (
        ("ingest.json", INGEST_JSON),
        ("models.json", models),
        ("compare.json", COMPARE_JSON),
        ("divergence.json", DIVERGENCE_JSON),
    ):
        _write(root, name, data)


def test_report_with_no_inputs_writes_every_section_as_a_note(tmp_path: Path, params: dict) -> None:
    summary = stage.write_report(tmp_path, params)
    page = (tmp_path / "reports/index.html").read_text()
    assert summary["n_charts"] == 0 and summary["n_sections_missing"] == summary["n_sections"] >= 8
    assert page.count('class="note"') == summary["n_sections"]
    assert "Not available in this run" in page
    md = (tmp_path / "reports/methodology.md").read_text()
    assert "## 9. What Resonance never infers" in md and "ingest metrics" in md
    assert (tmp_path / "reports/plots/report/validity_auc.csv").read_text().startswith("model,auc")


def test_a_gate_over_fewer_than_k_accounts_prints_untested_and_the_writeup_says_why(
    tmp_path: Path, params: dict
) -> None:
    """compare leaves a gate over fewer than privacy.min_cell_k accounts untested
    (``gates_below_k``): the published gates table prints it as untested for that reason,
    the exclusions say why, and so does the text under the table (k from the params)."""
    import copy

    k = params["privacy"]["min_cell_k"]
    cmp = copy.deepcopy(COMPARE_JSON)
    rec = cmp["recommendation"]
    rec["gates"]["conversation"]["spam_replies"] = None
    rec["gates"]["volume"]["spam_replies"] = False
    rec["gates_below_k"] = {"conversation": ["spam_replies"]}
    rec["min_cell_k"] = k
    rec["by_question"]["who wins approval"]["excluded"]["conversation"].append(
        {"reason": "gates_untested", "gates": ["spam_replies"], "k": k}
    )
    _write_metrics(tmp_path)
    _write(tmp_path, "compare.json", cmp)
    stage.write_report(tmp_path, params)
    md = (tmp_path / "reports/methodology.md").read_text()
    below = f"not tested ({publish.SUPPRESSED} accounts)"
    assert f"| conversation | pass | pass | {below} |" in md
    assert "| volume | pass | fail | fail |" in md
    assert f"not tested on the robustness gates spam_replies (each over fewer than k = {k}" in md
    assert f"A gate printed `{below}` is computed over fewer than k = {k} accounts" in md
    public_gates = (tmp_path / "reports/public/gates.csv").read_text()
    assert below in public_gates
    # without a gate under k, no such sentence
    _write(tmp_path, "compare.json", COMPARE_JSON)
    stage.write_report(tmp_path, params)
    assert "A gate printed" not in (tmp_path / "reports/methodology.md").read_text()


def test_methodology_numbers_come_from_the_metrics_json(tmp_path: Path, params: dict) -> None:
    _write_metrics(tmp_path)
    stage.write_report(tmp_path, params)
    md = (tmp_path / "reports/methodology.md").read_text()
    rows = {
        line.split("|")[1].strip() + "/" + line.split("|")[2].strip(): line
        for line in md.splitlines()
        if line.startswith("| ")
    }
    # validation tables: the printed number is num(the JSON value)
    for model, r in MODELS_JSON["planted_roles"]["models"].items():
        line = next(
            v for k, v in rows.items() if k.startswith(model + "/") and fmt.num(r["auc"]) in v
        )
        assert fmt.num(r["auc"]) == "0.988" if model == "conversation" else True
        assert line
    for model, outcomes in MODELS_JSON["out_of_time"]["models"].items():
        rho = outcomes["n_repliers_next"]["spearman"]
        assert rows[f"{model}/n_repliers_next"].split("|")[3].strip() == fmt.num(rho)
    # data, compare and recommendation numbers
    assert "880 posts" in md and "Participants (accounts studied): 40" in md
    assert f"slope {fmt.num(0.0123)}" in md
    assert (
        rows["loud and heard/12"]
        and "quiet connectors" in md
        and "| quiet connectors | <k | <k |" in md
    )
    assert "recommends **`conversation`**" in md
    assert "within-thread coefficient is +0.432 [0.200, 0.600] per SD" in md
    # the rule's reasons, said in words by the template from the compare result's codes
    assert (
        "| who wins approval | conversation | does not beat volume (difference -0.100 "
        "[-0.300, 0.100]); fails the robustness gates ring, puppets |"
    ) in md
    assert "| volume | weekends off | -0.250 | 30 |" in md  # the JSON's value, not a percent
    # planted roles: compare hid the broadcasters (< k); the gamers' count is its complement
    # (gamers + broadcasters = the planted negatives), their rate stays
    assert "| broadcaster in loud but unheard | <k | <k |" in md
    assert "| gamer in loud but unheard | <k | 0.500 |" in md
    assert "| expert in quiet connectors | 20 | 0.400 |" in md
    assert "| volume | reaction ring (5 accounts) | <k | <k |" in md  # 5 ring members < k
    # every decimal number of the validity tables is a JSON value or an interval of one
    leaves, pvalues = set(), set()

    def walk(o):
        if isinstance(o, dict):
            for v in o.values():
                walk(v)
        elif isinstance(o, float | int) and not isinstance(o, bool):
            leaves.add(fmt.num(float(o)))
            pvalues.add(fmt.pval(float(o)))  # p-values print as "< 0.001" below 0.001

    walk(MODELS_JSON)
    oot = md.split("**Out of time.**")[1].split("**Planted roles**")[0]
    for line in oot.splitlines():
        if line.startswith("| ") and not line.startswith("| model"):
            rho, coef, p = (line.split("|")[i].strip() for i in (3, 6, 7))
            assert {rho, coef} <= leaves and p in pvalues, line


def test_publication_outputs_are_publishable_and_the_index_is_not_needed(
    tmp_path: Path, params: dict
) -> None:
    _write(tmp_path, "ingest.json", INGEST_JSON)
    _write(tmp_path, "compare.json", COMPARE_JSON)
    interim = tmp_path / "data/interim"
    interim.mkdir(parents=True)
    secret = "my very private sentence about the garden shed roof and the neighbours"
    t = datetime(2026, 3, 3, tzinfo=UTC)
    pl.DataFrame(
        {
            "post_id": ["post_0000000000000001"],
            "account_id": ["acct_0123456789abcdef"],
            "created_at": [t],
            "text": [secret],
        }
    ).write_parquet(interim / "posts.parquet")
    stage.write_report(tmp_path, params)
    outputs = [
        tmp_path / "reports/methodology.md",
        *sorted((tmp_path / "reports/public").glob("*.csv")),
    ]
    assert len(outputs) > 5
    for path in outputs:
        assert publish.publishable_problems(path.read_text(), [secret]) == [], path
    # the analyst view is not a publication: it may name pseudonyms, never post text
    page = (tmp_path / "reports/index.html").read_text()
    assert secret not in page


def test_report_refuses_to_publish_a_quote(monkeypatch, tmp_path: Path, params: dict) -> None:
    _write(tmp_path, "ingest.json", INGEST_JSON)
    quote = "one two three four five six seven eight nine"
    interim = tmp_path / "data/interim"
    interim.mkdir(parents=True)
    pl.DataFrame(
        {
            "post_id": ["p"],
            "account_id": ["a"],
            "created_at": [datetime(2026, 3, 3, tzinfo=UTC)],
            "text": [quote],
        }
    ).write_parquet(interim / "posts.parquet")
    with pytest.raises(stage.PublicationError, match="quotes post text"):
        stage.write_report(
            tmp_path, {**params, "report": {"figure_format": "none", "title": quote}}
        )
    assert not (tmp_path / "reports/methodology.md").exists()


def test_dvc_plot_files_leave_out_suppressed_rows(tmp_path: Path) -> None:
    topics = pl.DataFrame(
        {
            "topic_id": [0, 1, 2],
            "label": ["0_big", "1_mid", "2_tiny"],
            "keywords": ["a", "b", "c"],
            "n_posts": [100, 50, 12],
            "n_accounts": [40, 20, 3],
        }
    )
    tables = public.public_tables({"topics": topics}, K)
    public.write_dvc_plot_data(tables, tmp_path)
    got = pl.read_csv(tmp_path / "topic_sizes.csv")
    # the tiny topic and its complement (the smaller of the others) are left out
    assert_frame_equal(
        got, pl.DataFrame({"label": ["0_big"], "n_posts": [100], "n_accounts": [40]})
    )
    assert sorted(p.name for p in tmp_path.glob("*.csv")) == sorted(public.DVC_PLOTS)


def test_num_formats_like_the_writeup() -> None:
    assert fmt.num(1234) == "1,234"
    assert fmt.num(0.98765) == "0.988"
    assert fmt.num(2.5e-9) == "2.50e-09"
    assert fmt.num(None) == "n/a"
    assert re.fullmatch(r"-?\d+\.\d{3}", fmt.num(-0.1))


def test_without_a_browser_figures_fall_back_to_svg(
    monkeypatch, tmp_path: Path, params: dict
) -> None:
    import plotly.io as pio

    def no_browser(*args, **kwargs):
        raise RuntimeError("no chromium here")

    monkeypatch.setattr(pio, "write_images", no_browser)
    _write(tmp_path, "models.json", MODELS_JSON)
    _write(tmp_path, "compare.json", COMPARE_JSON)
    params = {**params, "report": {"figure_format": "png"}}
    summary = stage.write_report(tmp_path, params)
    svgs = sorted(p.name for p in (tmp_path / "reports/figures").glob("*"))
    assert svgs == [
        "gaming.svg",
        "validity.svg",
        "weekend_off.svg",
    ]  # agreement heatmap: table only
    assert summary["n_static_figures"] == 3
    svg = (tmp_path / "reports/figures/validity.svg").read_text()
    assert svg.startswith("<svg") and "conversation" in svg and "<rect" in svg
    md = (tmp_path / "reports/methodology.md").read_text()
    assert "plain SVGs drawn without a browser" in md and "(figures/validity.svg)" in md


def _drawn(figs, paths, **kwargs) -> None:
    """kaleido's ``write_images`` as if a browser ran: a file at each path."""
    for path in paths:
        Path(path).write_bytes(b"\x89PNG drawn")


@pytest.mark.parametrize("browser", [True, False])
def test_the_writeup_is_checked_in_one_reading_of_the_posts_with_or_without_a_browser(
    monkeypatch, tmp_path: Path, params: dict, browser: bool
) -> None:
    """Both writeups the export can lead to (figures drawn, or plain SVGs) are checked
    against the posts in one reading of them while the figures are exported; what is written
    is one of the checked texts, and a quote blocks only the writeup that would publish it: a
    post quoting the no-browser sentence blocks the report without a browser, not with one."""
    import plotly.io as pio

    def no_browser(*args, **kwargs):
        raise RuntimeError("no chromium here")

    monkeypatch.setattr(pio, "write_images", _drawn if browser else no_browser)
    readings = []
    check = publish.publication_problems

    def counted(outputs, texts=(), *args, **kwargs):
        readings.append(sorted(outputs))
        return check(outputs, texts, *args, **kwargs)

    monkeypatch.setattr(publish, "publication_problems", counted)
    _write(tmp_path, "models.json", MODELS_JSON)
    _write(tmp_path, "compare.json", COMPARE_JSON)
    interim = tmp_path / "data/interim"
    interim.mkdir(parents=True)
    sentence = "static figures in this build are plain svgs drawn without a browser"
    pl.DataFrame(
        {
            "post_id": ["p1", "p2"],
            "account_id": ["a", "b"],
            "created_at": [datetime(2026, 3, 3, tzinfo=UTC)] * 2,
            "text": ["nothing to see here at all", f"I read that {sentence}, odd"],
        }
    ).write_parquet(interim / "posts.parquet")
    params = {**params, "report": {"figure_format": "png"}}
    if browser:
        stage.write_report(tmp_path, params)
        md = (tmp_path / "reports/methodology.md").read_text()
        assert "(figures/validity.png)" in md and "without a browser" not in md
    else:
        with pytest.raises(stage.PublicationError, match="quotes post text"):
            stage.write_report(tmp_path, params)
        assert not (tmp_path / "reports/methodology.md").exists()
    assert len(readings) == 1  # the posts read once, for both writeups and the tables
    assert sum(name.endswith("\x1f") for name in readings[0]) == 2


def test_a_table_of_numbers_is_not_a_quote_of_a_post_made_of_numbers() -> None:
    """Quantum computing posts hold matrices ("0 0 0 1 ..."); a stability table of zeros is
    our own figures, not a quote. A run of words still is."""
    from analysis import publish

    matrix_post = "the state 0 0 0 0 0 0 0 0 0 0 is what I get"
    table = "model,bias\na,0 0 0 0 0 0 0 0 0 0\n"
    assert publish.publishable_problems(table, [matrix_post]) == []
    quote = "the state 0 0 0 0 0 0 0 0 is what I get"
    assert publish.publishable_problems(f"x {quote} y", [matrix_post])


def test_headline_metrics_are_the_results_own_numbers_and_few() -> None:
    """`dvc metrics show` prints the headline; the full result stays in data/processed/."""

    def leaves(o: object) -> list[object]:
        if isinstance(o, dict):
            return [x for v in o.values() for x in leaves(v)]
        if isinstance(o, list):
            return [x for v in o for x in leaves(v)]
        return [o]

    full = set(leaves(COMPARE.model_dump()))
    head = COMPARE.headline()
    assert head["recommended_model"] == "conversation" and head["gates_failed"] == {}
    assert {v for v in leaves(head) if isinstance(v, float)} <= full
    # a model with untested gates does not read as one that passes them (demo: reach "0
    # failed" had 2 of its 11 gates untested, the interval gates of a score without an error)
    gated = COMPARE.model_copy(
        update={"robustness_gates": {"reach": {"volume": True, "weekend_off_interval": None}}}
    ).headline()
    assert gated["gates_failed"] == {"reach": 0} and gated["gates_untested"] == {"reach": 1}
    div = contracts.DivergenceResult.model_validate(DIVERGENCE_JSON)
    head = divergence.headline(div, K)
    # published: the counts under k (6 and 8) are not, the others are (two hidden: none follows)
    assert head["quadrants"] == {
        "loud_and_heard": 12,
        "quiet_connectors": None,
        "loud_but_unheard": None,
        "quiet_and_unheard": 14,
    }
    assert head["reach_missing"] is False
    numbers = [v for v in leaves(head) if isinstance(v, float)]
    assert numbers and set(numbers) <= set(leaves(div.model_dump()))
    assert len(leaves(VALIDITY.headline())) <= 40
    assert VALIDITY.headline()["models"]["conversation"]["planted_auc"] == 0.9876543


@pytest.mark.parametrize(
    "bad",
    [{"report": {"figure_format": "none", "titel": "x"}}, {"validate": {"min_autors": 3}}],
)
def test_a_misspelt_param_fails_instead_of_printing_n_a(
    tmp_path: Path, params: dict, bad: dict
) -> None:
    from analysis.config import ParamsError

    with pytest.raises(ParamsError, match=r"titel|min_autors"):
        stage.write_report(tmp_path, {**params, **bad})
    assert not (tmp_path / "reports/methodology.md").exists()


def test_a_template_that_names_a_missing_value_fails() -> None:
    import jinja2

    with pytest.raises(jinja2.UndefinedError):
        fmt.environment().from_string("{{ nope }}").render()


def test_validate_writes_the_intervals_the_report_prints() -> None:
    """The intervals are the validate stage's (models.validity), typed by the contract."""
    from analysis.config import DemoParams
    from analysis.demo import generate
    from analysis.demo_check import tables_from_demo
    from analysis.models import MODELS, common
    from analysis.models.params import ModelParams

    dump = generate(DemoParams(seed=3, n_accounts=60, n_days=50))
    t = tables_from_demo(dump)
    p = ModelParams()
    as_of = common.resolve_as_of(p, t.posts)
    scores = {n: MODELS[n].score(t, p, as_of) for n in ("volume", "conversation")}
    pr = contracts.PlantedRoles.model_validate(
        validity.planted_roles(scores, dump.truth_accounts, p)
    )
    for r in pr.models.values():
        assert (r.ci_low, r.ci_high) == validity.auc_interval(r.auc, r.n_positive, r.n_negative)
        assert r.ci_low <= r.auc <= r.ci_high
    oot = contracts.OutOfTime.model_validate(
        validity.out_of_time(t, {n: MODELS[n] for n in scores}, p, as_of)
    )
    fits = [f for per in oot.models.values() for f in per.values() if f.spearman is not None]
    assert fits
    for f in fits:
        assert (f.ci_low, f.ci_high) == validity.spearman_interval(f.spearman, oot.n_accounts)


def test_methodology_says_when_the_validity_tests_fitted_a_sample(
    tmp_path: Path, params: dict
) -> None:
    """Above validate.max_competitions / max_accounts the writeup states the sample and the
    whole counts (from the metrics JSON); below them it says nothing of a sample."""
    wt = {
        "origins": ["2026-05-01T00:00:00+00:00"],
        "outcomes": {"conversation": "distinct repliers", "approval": "timed reactions"},
        "models": {},
        "paired": {},
        "dissociation": {},
        "n_responses": 2_345,
        "n_competitions": 1_000,
        "n_authors": 321,
        "n_responses_total": 23_456,
        "n_competitions_total": 10_987,
    }
    inc = {"models": {}, "paired": {}, "n_accounts": 500, "n_accounts_total": 4_321}
    for sampled in (True, False):
        models = {
            **MODELS_JSON,
            "within_thread": wt if sampled else {**wt, "n_competitions_total": 1_000},
            "incremental": inc if sampled else {**inc, "n_accounts_total": 500},
        }
        _write_metrics(tmp_path, models)
        stage.write_report(tmp_path, params)
        md = " ".join((tmp_path / "reports/methodology.md").read_text().split())
        assert "2,345 responses in 1,000 competitions by 321 authors" in md
        said = (
            "a random sample of the 10,987 competitions (23,456 responses)" in md,
            "fits a random 500 of the 4,321 accounts" in md,
            "`validate.max_competitions`" in md,
        )
        assert said == ((True,) * 3 if sampled else (False,) * 3)


@pytest.mark.parametrize("n", [3, 4, 8, 25, 60])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_the_topic_map_is_scikit_learns_metric_mds_to_the_bit(n, dtype) -> None:
    """``frames.metric_mds`` is ``sklearn.manifold.MDS`` (random starts, the report's settings)
    without its import: the same coordinates, bit for bit, on cosine distances of centroids
    (float32 as the embeddings, float64), with ties and a duplicate topic among them."""
    import numpy as np
    from sklearn.manifold import MDS

    from analysis.report import frames

    rng = np.random.default_rng(n)
    centroids = rng.normal(size=(n, 16)).astype(dtype)
    centroids[-1] = centroids[0]  # two topics at distance 0
    unit = centroids / np.linalg.norm(centroids, axis=1, keepdims=True)
    dist = np.clip(1.0 - unit @ unit.T, 0.0, None)
    np.fill_diagonal(dist, 0.0)
    dist = (dist + dist.T) / 2
    for seed in (0, 3):
        want = MDS(
            n_components=2,
            metric="precomputed",
            n_init=4,
            init="random",
            random_state=seed,
            normalized_stress="auto",
        ).fit_transform(dist)
        got = frames.metric_mds(dist, n_init=4, seed=seed)
        assert got.dtype == want.dtype and np.array_equal(got, want), (n, dtype, seed)


def test_the_report_stage_does_not_import_scikit_learn() -> None:
    """1.8 s of the stage's time went to importing ``sklearn.manifold`` for the topic map."""
    import subprocess
    import sys

    code = "import sys, analysis.stages.report; print(any(m.startswith('sklearn') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_topic_map_refuses_distances_that_are_not_finite() -> None:
    """As scikit-learn's input check did: a NaN centroid must not become a map of NaNs."""
    import numpy as np

    from analysis.report import frames

    dist = np.array([[0.0, 0.5, np.nan], [0.5, 0.0, 0.2], [np.nan, 0.2, 0.0]])
    with pytest.raises(ValueError, match="NaN or infinity"):
        frames.metric_mds(dist)
