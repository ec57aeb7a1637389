"""Plot functions: each returns a figure whose traces carry exactly the input data (not pixels)."""

from __future__ import annotations

from datetime import date

import plotly.graph_objects as go
import polars as pl
import pytest

from analysis import plots


def test_activity_timeline_has_one_trace_per_count() -> None:
    weekly = pl.DataFrame(
        {
            "week": [date(2026, 3, 2), date(2026, 3, 9)],
            "n_posts": [5, 7],
            "n_reactions": [1, None],
            "n_accounts": [12, 15],
        }
    )
    fig = plots.activity_timeline(weekly)
    assert isinstance(fig, go.Figure)
    assert [t.name for t in fig.data] == ["posts and replies", "reactions"]
    assert list(fig.data[0].y) == [5, 7]
    assert list(fig.data[1].y) == [1, None]  # a suppressed week is a gap, not a zero


def test_reach_vs_conversation_groups_by_quadrant_and_marks_the_split() -> None:
    pts = pl.DataFrame(
        {
            "label": ["acct_a", "acct_b", "acct_c"],
            "reach_pct": [90.0, 10.0, 80.0],
            "conversation_pct": [5.0, 95.0, 20.0],
            "quadrant": ["loud but unheard", "quiet connectors", "loud but unheard"],
        }
    )
    fig = plots.reach_vs_conversation(pts, split_pct=40)
    names = {t.name: t for t in fig.data}
    assert set(names) == {"loud but unheard (2)", "quiet connectors (1)"}
    assert list(names["loud but unheard (2)"].x) == [80.0, 90.0]  # in the order of where they sit
    assert list(names["quiet connectors (1)"].text) == ["acct_b"]
    lines = [s for s in fig.layout.shapes if s.type == "line"]
    assert {s.x0 for s in lines if s.x0 == s.x1} == {40}


def test_reach_vs_conversation_draws_points_in_an_order_no_key_changes() -> None:
    """The analyst page's scatter got its points sorted by pseudonym (beer: another key, the
    same 1,352 points in another order): the points' order is the data's, whatever the labels."""
    pts = pl.DataFrame(
        {
            "label": ["acct_a", "acct_b", "acct_c", "acct_d"],
            "reach_pct": [90.0, 10.0, 80.0, 80.0],
            "conversation_pct": [5.0, 95.0, 20.0, 10.0],
            "quadrant": ["loud but unheard", "quiet connectors", *["loud but unheard"] * 2],
        }
    )
    # another key: other labels, in another order (rows sorted by the new pseudonyms)
    other = pts.with_columns(label=pl.Series(["acct_z", "acct_y", "acct_x", "acct_w"])).sort(
        "label"
    )

    def drawn(df: pl.DataFrame) -> list[list[float]]:
        fig = plots.reach_vs_conversation(df)
        return [[*t.x, *t.y] for t in fig.data]

    assert drawn(other) == drawn(pts)
    assert drawn(pts.reverse()) == drawn(pts)


def test_agreement_heatmap_is_symmetric_with_unit_diagonal_and_ordered() -> None:
    df = pl.DataFrame(
        {
            "model_a": ["reach", "reach", "volume"],
            "model_b": ["volume", "network", "network"],
            "value": [0.5, -0.2, 0.1],
        }
    )
    fig = plots.agreement_heatmap(df, order=["volume", "reach", "network"])
    hm = fig.data[0]
    assert list(hm.x) == ["volume", "reach", "network"]
    z = [list(r) for r in hm.z]
    assert [z[i][i] for i in range(3)] == [1.0, 1.0, 1.0]
    assert z[0][1] == z[1][0] == 0.5
    assert z[1][2] == z[2][1] == -0.2


def test_model_bars_groups_series_and_highlights() -> None:
    df = pl.DataFrame(
        {
            "model": ["a", "b", "a", "b"],
            "series": ["s1", "s1", "s2", "s2"],
            "value": [1.0, -2.0, 3.0, 4.0],
            "note": ["x", "y", "z", "w"],
        }
    )
    fig = plots.model_bars(df, "t", "v", highlight=["b"])
    assert [t.name for t in fig.data] == ["s1", "s2"]
    assert list(fig.data[1].x) == [3.0, 4.0]
    assert "<b>b</b>" in fig.layout.yaxis.ticktext


def test_topic_map_sizes_are_posts_and_labels_are_shown() -> None:
    t = pl.DataFrame(
        {
            "topic_id": [0, 1],
            "label": ["0_bike", "1_garden"],
            "keywords": ["bike, gear", "soil"],
            "n_posts": [100, 25],
            "x": [0.0, 1.0],
            "y": [1.0, 0.0],
        }
    )
    fig = plots.topic_map(t)
    assert list(fig.data[0].marker.size) == [100.0, 25.0]
    assert list(fig.data[0].text) == ["0_bike", "1_garden"]


def test_topic_experts_error_bars_span_the_interval() -> None:
    e = pl.DataFrame(
        {
            "topic": ["0_bike"],
            "label": ["acct_a"],
            "estimate": [1.5],
            "ci_low": [1.2],
            "ci_high": [2.0],
            "n_engagers": [9],
        }
    )
    trace = plots.topic_experts(e).data[0]
    assert list(trace.error_x.array) == pytest.approx([0.5])
    assert list(trace.error_x.arrayminus) == pytest.approx([0.3])


def test_validity_chart_has_auc_and_one_trace_per_outcome() -> None:
    auc = pl.DataFrame(
        {"model": ["a", "b"], "auc": [0.9, 0.4], "ci_low": [0.8, 0.3], "ci_high": [1.0, 0.5]}
    )
    oot = pl.DataFrame(
        {
            "model": ["a", "a"],
            "outcome": ["n_repliers_next", "n_reactions_next"],
            "spearman": [0.7, 0.2],
            "ci_low": [0.6, 0.1],
            "ci_high": [0.8, 0.3],
        }
    )
    fig = plots.validity_chart(auc, oot)
    assert [t.name for t in fig.data] == ["planted-role AUC", "n_repliers_next", "n_reactions_next"]
    only_oot = plots.validity_chart(auc.clear(), oot)
    assert [t.name for t in only_oot.data] == ["n_repliers_next", "n_reactions_next"]


def test_missing_columns_fail_with_a_clear_message() -> None:
    with pytest.raises(
        ValueError, match=r"reach_vs_conversation: missing column\(s\) \['quadrant'\]"
    ):
        plots.reach_vs_conversation(
            pl.DataFrame({"label": ["a"], "reach_pct": [1.0], "conversation_pct": [2.0]})
        )
