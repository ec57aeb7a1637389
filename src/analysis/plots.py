"""Figures of the report stage (``reports/index.html``, ``reports/figures/``) and the notebooks.

Every function takes a small tidy frame (built by ``analysis.report``) and returns a
``plotly.graph_objects.Figure``; none writes a file. Inputs are checked for the columns they
need, so a caller gets a clear error instead of an empty chart.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

#: One colour per quadrant name; unknown names fall back to the plotly palette.
QUADRANT_COLOURS = {
    "loud and heard": "#1b9e77",
    "quiet connectors": "#7570b3",
    "loud but unheard": "#d95f02",
    "quiet and unheard": "#9e9e9e",
}
FONT = dict(family="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif", size=13)
TEMPLATE = "plotly_white"


def _need(df: pl.DataFrame, cols: Iterable[str], what: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(f"{what}: missing column(s) {missing}; got {df.columns}")


def _layout(fig: go.Figure, title: str, height: int = 460) -> go.Figure:
    fig.update_layout(
        title=dict(text=title, x=0, xanchor="left"),
        template=TEMPLATE,
        font=FONT,
        height=height,
        margin=dict(l=60, r=30, t=60, b=60),
    )
    return fig


def activity_timeline(weekly: pl.DataFrame) -> go.Figure:
    """Posts and reactions per week (columns ``week``, ``n_posts``, ``n_reactions``, ``n_accounts``).

    Weeks whose counts are null (suppressed in publication mode) are drawn as gaps.
    """
    _need(weekly, ["week", "n_posts", "n_reactions", "n_accounts"], "activity_timeline")
    fig = go.Figure()
    for col, name in (("n_posts", "posts and replies"), ("n_reactions", "reactions")):
        fig.add_trace(
            go.Scatter(
                x=weekly["week"].to_list(),
                y=weekly[col].to_list(),
                mode="lines+markers",
                name=name,
                customdata=weekly["n_accounts"].to_list(),
                hovertemplate="week of %{x|%Y-%m-%d}<br>%{y:,} "
                + name
                + "<br>%{customdata} active accounts<extra></extra>",
            )
        )
    fig.update_xaxes(title="week (starting Monday, UTC)")
    fig.update_yaxes(title="count per week", rangemode="tozero")
    return _layout(fig, "Activity per week", 380)


def reach_vs_conversation(points: pl.DataFrame, split_pct: float = 50.0) -> go.Figure:
    """Scatter of each account's reach percentile against its conversation percentile.

    ``points``: ``label`` (a pseudonym in analyst mode), ``reach_pct``, ``conversation_pct``,
    ``quadrant``. Dashed lines at ``split_pct`` mark the quadrants.
    """
    _need(points, ["label", "reach_pct", "conversation_pct", "quadrant"], "reach_vs_conversation")
    fig = go.Figure()
    # Points in an order the data gives (where they sit, then the label for exact ties): the
    # rows arrive sorted by pseudonym, so another key drew (and stacked) them in another order.
    points = points.sort("reach_pct", "conversation_pct", "label", nulls_last=True)
    for quadrant in sorted(points["quadrant"].unique().to_list()):
        part = points.filter(pl.col("quadrant") == quadrant)
        fig.add_trace(
            go.Scatter(
                # arrays, not lists: plotly checks a list item by item (1.2 s at 50k accounts)
                x=part["reach_pct"].cast(pl.Float64).to_numpy(),
                y=part["conversation_pct"].cast(pl.Float64).to_numpy(),
                mode="markers",
                name=f"{quadrant} ({part.height})",
                text=part["label"].to_numpy(),
                marker=dict(size=8, opacity=0.75, color=QUADRANT_COLOURS.get(quadrant)),
                hovertemplate="%{text}<br>reach %{x:.0f}th percentile<br>conversation "
                "%{y:.0f}th percentile<extra>" + quadrant + "</extra>",
            )
        )
    for axis in ("x", "y"):
        line = dict(color="#555", dash="dash", width=1)
        if axis == "x":
            fig.add_vline(x=split_pct, line=line)
        else:
            fig.add_hline(y=split_pct, line=line)
    fig.update_xaxes(title="reach percentile (audience size)", range=[-2, 102])
    fig.update_yaxes(title="conversation percentile (people who talk back)", range=[-2, 102])
    return _layout(fig, "Reach versus conversation", 560)


def agreement_heatmap(
    agreement: pl.DataFrame, value_label: str = "Spearman ρ", order: Sequence[str] = ()
) -> go.Figure:
    """Heatmap of pairwise agreement between models (``model_a``, ``model_b``, ``value``); the
    matrix is symmetric and its diagonal 1. ``order``: models first in this order."""
    _need(agreement, ["model_a", "model_b", "value"], "agreement_heatmap")
    order = [m for m in order if m in set(agreement["model_a"]) | set(agreement["model_b"])]
    for m in agreement["model_a"].to_list() + agreement["model_b"].to_list():
        if m not in order:
            order.append(m)
    lookup = {(a, b): v for a, b, v in agreement.select("model_a", "model_b", "value").iter_rows()}
    z = [
        [lookup.get((a, b), lookup.get((b, a), 1.0 if a == b else None)) for b in order]
        for a in order
    ]
    text = [["" if v is None else f"{v:.2f}" for v in row] for row in z]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=order,
            y=order,
            text=text,
            texttemplate="%{text}",
            zmin=-1,
            zmax=1,
            colorscale="RdBu",
            colorbar=dict(title=value_label),
            hovertemplate="%{y} vs %{x}: %{z:.3f}<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, "How much the models agree", 520)


def as_percent(df: pl.DataFrame, col: str = "value") -> pl.DataFrame:
    """``df`` with ``col`` (a relative change, -0.1 = 10 % lower) in percent, for bar charts."""
    return df.with_columns(pl.col(col) * 100)


def series_order(names: Sequence[str]) -> list[str]:
    """Series names with a leading number in numeric order ("+50 %", "+100 %", "+400 %", not
    the text order "+100 %, +400 %, +50 %"); other names keep their order, after those."""
    import re

    def key(item: tuple[int, str]) -> tuple[int, float, int]:
        i, name = item
        m = re.match(r"\s*([+-]?\d+(?:\.\d+)?)", name)
        return (0, float(m.group(1)), i) if m else (1, 0.0, i)

    return [name for _, name in sorted(enumerate(names), key=key)]


def model_bars(
    df: pl.DataFrame,
    title: str,
    value_title: str,
    reference: float | None = 0.0,
    highlight: Sequence[str] = (),
) -> go.Figure:
    """Horizontal bars of one value per model and series (``model``, ``value``; optional
    ``series`` for grouped bars, ``ci_low``/``ci_high`` error bars, ``note`` shown on hover).

    Used for the weekend-off and gaming tests. ``highlight`` models get a bold tick label.
    """
    _need(df, ["model", "value"], "model_bars")
    if "series" not in df.columns:
        df = df.with_columns(series=pl.lit(value_title))
    palette = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#b279a2"]
    models = df["model"].unique(maintain_order=True).to_list()
    fig = go.Figure()
    for i, series in enumerate(series_order(df["series"].unique(maintain_order=True).to_list())):
        part = df.filter(pl.col("series") == series)
        values = part["value"].to_list()
        # a missing value (no data) is drawn as a "no data" label at the reference line, so
        # that it never looks like a zero; a zero bar carries its value ("0.0") as a label
        absent = [m for m in models if m not in set(part["model"].to_list())]
        absent += [m for m, v in zip(part["model"], values, strict=True) if v is None]
        error = None
        if (
            "ci_low" in part.columns
            and "ci_high" in part.columns
            and part["ci_low"].null_count() < part.height
        ):
            error = dict(
                type="data",
                visible=True,
                array=[
                    None if h is None or v is None else h - v
                    for h, v in zip(part["ci_high"], values, strict=True)
                ],
                arrayminus=[
                    None if lo is None or v is None else v - lo
                    for lo, v in zip(part["ci_low"], values, strict=True)
                ],
            )
        notes = (
            part["note"].fill_null("").to_list() if "note" in part.columns else [""] * part.height
        )
        fig.add_trace(
            go.Bar(
                x=values,
                y=part["model"].to_list(),
                orientation="h",
                name=series,
                error_x=error,
                marker_color=palette[i % len(palette)],
                customdata=notes,
                hovertemplate="%{y}: %{x:.1f}<br>%{customdata}<extra>" + series + "</extra>",
                text=[None if v is None else f"{v:.1f}" for v in values],
                textposition="outside",
                cliponaxis=False,
            )
        )
        if absent:
            fig.add_trace(
                go.Scatter(
                    x=[reference or 0.0] * len(absent),
                    y=absent,
                    mode="text",
                    text=["no data"] * len(absent),
                    textposition="middle right",
                    textfont=dict(color="#888", size=11),
                    name=f"{series}: no data",
                    showlegend=False,
                    hovertemplate="%{y}: no data<extra>" + series + "</extra>",
                )
            )
    if reference is not None:
        fig.add_vline(x=reference, line=dict(color="#333", width=1))
    ticks = [f"<b>{m}</b>" if m in highlight else m for m in models]
    fig.update_layout(barmode="group", legend=dict(orientation="h", y=-0.18))
    fig.update_xaxes(title=value_title)
    fig.update_yaxes(
        autorange="reversed",
        categoryorder="array",
        categoryarray=models,
        tickvals=models,
        ticktext=ticks,
    )
    n_series = df["series"].n_unique()
    return _layout(fig, title, 160 + len(models) * (18 * n_series + 16))


def topic_map(topics: pl.DataFrame) -> go.Figure:
    """Topics as bubbles on a 2-D map of their centroids (``topic_id``, ``label``, ``keywords``
    (text), ``n_posts``, ``x``, ``y``): near bubbles talk about similar things, area = posts."""
    _need(topics, ["topic_id", "label", "keywords", "n_posts", "x", "y"], "topic_map")
    sizes = topics["n_posts"].cast(pl.Float64)
    max_size = float(sizes.max() or 1.0)
    fig = go.Figure(
        go.Scatter(
            x=topics["x"].to_list(),
            y=topics["y"].to_list(),
            mode="markers+text",
            text=topics["label"].to_list(),
            textposition="top center",
            textfont=dict(size=10),
            customdata=list(
                zip(topics["keywords"].to_list(), topics["n_posts"].to_list(), strict=True)
            ),
            marker=dict(
                size=sizes.to_list(),
                sizemode="area",
                sizeref=2.0 * max_size / 60**2,
                sizemin=4,
                color=topics["topic_id"].to_list(),
                colorscale="Turbo",
                opacity=0.7,
                line=dict(width=1, color="#333"),
            ),
            hovertemplate="<b>%{text}</b><br>%{customdata[1]:,} posts<br>%{customdata[0]}<extra></extra>",
        )
    )
    fig.update_xaxes(title="", showticklabels=False, zeroline=False)
    fig.update_yaxes(title="", showticklabels=False, zeroline=False)
    return _layout(fig, "Topic map", 620)


def topic_sizes(topics: pl.DataFrame) -> go.Figure:
    """Bars of posts per topic (``label``, ``n_posts``; optional ``n_accounts``)."""
    _need(topics, ["label", "n_posts"], "topic_sizes")
    accounts = (
        topics["n_accounts"].to_list() if "n_accounts" in topics.columns else [None] * topics.height
    )
    fig = go.Figure(
        go.Bar(
            x=topics["n_posts"].to_list(),
            y=topics["label"].to_list(),
            orientation="h",
            customdata=accounts,
            marker_color="#4c78a8",
            hovertemplate="%{y}: %{x:,} posts, %{customdata} authors<extra></extra>",
        )
    )
    fig.update_xaxes(title="posts whose main topic it is")
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, "Topic sizes", 140 + 22 * max(topics.height, 3))


def topic_experts(experts: pl.DataFrame) -> go.Figure:
    """Evidence-based experts with their intervals (``topic``, ``label``, ``estimate``,
    ``ci_low``, ``ci_high``, ``n_engagers``): one row per (topic, account)."""
    _need(
        experts, ["topic", "label", "estimate", "ci_low", "ci_high", "n_engagers"], "topic_experts"
    )
    rows = [f"{t} · {a}" for t, a in zip(experts["topic"], experts["label"], strict=True)]
    est = experts["estimate"].to_list()
    fig = go.Figure(
        go.Scatter(
            x=est,
            y=rows,
            mode="markers",
            marker=dict(size=9, color="#1b9e77"),
            error_x=dict(
                type="data",
                visible=True,
                array=[h - e for h, e in zip(experts["ci_high"], est, strict=True)],
                arrayminus=[e - lo for lo, e in zip(experts["ci_low"], est, strict=True)],
            ),
            customdata=experts["n_engagers"].to_list(),
            hovertemplate="%{y}<br>estimate %{x:.2f}<br>%{customdata} distinct engagers<extra></extra>",
        )
    )
    fig.add_vline(x=1.0, line=dict(color="#555", dash="dot", width=1))
    # Intervals of thin evidence reach down to ~0: clip the axis at a tenth of typical.
    hi = max([h for h in experts["ci_high"].to_list() if h is not None] + [2.0])
    fig.update_xaxes(
        title="distinct repliers per post relative to the topic's typical account (1 = typical; log scale)",
        type="log",
        range=[-1, math.log10(hi * 1.1)],
    )
    fig.update_yaxes(autorange="reversed", tickfont=dict(size=10))
    return _layout(fig, "Evidence-based experts per topic", 140 + 20 * max(experts.height, 3))


def validity_chart(auc: pl.DataFrame, oot: pl.DataFrame) -> go.Figure:
    """Two panels: planted-role AUC per model and out-of-time Spearman per model and outcome.

    ``auc``: ``model``, ``auc``, ``ci_low``, ``ci_high`` (may be empty: no ground truth).
    ``oot``: ``model``, ``outcome``, ``spearman``, ``ci_low``, ``ci_high``.
    """
    _need(auc, ["model", "auc", "ci_low", "ci_high"], "validity_chart (auc)")
    _need(oot, ["model", "outcome", "spearman", "ci_low", "ci_high"], "validity_chart (oot)")
    panels = [p for p, df in (("auc", auc), ("oot", oot)) if df.height]
    titles = {
        "auc": "Finds the planted experts and conversationalists (AUC)",
        "oot": "Predicts next month's outcome (Spearman ρ)",
    }
    fig = make_subplots(
        rows=1,
        cols=max(len(panels), 1),
        horizontal_spacing=0.18,
        subplot_titles=[titles[p] for p in panels] or ["no validity results"],
    )

    def bars(df: pl.DataFrame, value: str, name: str, col: int, colour: str) -> None:
        v = df[value].to_list()
        fig.add_trace(
            go.Bar(
                x=v,
                y=df["model"].to_list(),
                orientation="h",
                name=name,
                marker_color=colour,
                error_x=dict(
                    type="data",
                    visible=True,
                    array=[h - x for h, x in zip(df["ci_high"], v, strict=True)],
                    arrayminus=[x - lo for lo, x in zip(df["ci_low"], v, strict=True)],
                ),
                hovertemplate="%{y}: %{x:.3f}<extra>" + name + "</extra>",
            ),
            row=1,
            col=col,
        )

    for col, panel in enumerate(panels, start=1):
        if panel == "auc":
            bars(auc, "auc", "planted-role AUC", col, "#1b9e77")
            fig.add_vline(x=0.5, line=dict(color="#333", dash="dot", width=1), row=1, col=col)
            fig.update_xaxes(range=[0, 1.05], title="AUC (0.5 = chance)", row=1, col=col)
        else:
            palette = ["#4c78a8", "#f58518", "#54a24b", "#b279a2"]
            for i, outcome in enumerate(oot["outcome"].unique(maintain_order=True).to_list()):
                bars(
                    oot.filter(pl.col("outcome") == outcome),
                    "spearman",
                    outcome,
                    col,
                    palette[i % len(palette)],
                )
            fig.add_vline(x=0, line=dict(color="#333", width=1), row=1, col=col)
            fig.update_xaxes(
                range=[-1, 1], title="Spearman ρ with the next 30 days", row=1, col=col
            )
        fig.update_yaxes(autorange="reversed", row=1, col=col)
    fig.update_layout(barmode="group", legend=dict(orientation="h", y=-0.2))
    n_models = max(
        auc["model"].n_unique() if auc.height else 0, oot["model"].n_unique() if oot.height else 0
    )
    return _layout(fig, "Model validity", 220 + 60 * max(n_models, 3))


def counts_bars(df: pl.DataFrame, title: str) -> go.Figure:
    """Grouped bars of the ingest reconciliation (``table``, ``outcome``, ``n``)."""
    _need(df, ["table", "outcome", "n"], "counts_bars")
    fig = go.Figure()
    for outcome in df["outcome"].unique(maintain_order=True).to_list():
        part = df.filter(pl.col("outcome") == outcome)
        fig.add_trace(
            go.Bar(
                x=part["table"].to_list(),
                y=part["n"].to_list(),
                name=outcome,
                text=part["n"].to_list(),
                textposition="outside",
                hovertemplate="%{x}: %{y:,} " + outcome + "<extra></extra>",
            )
        )
    fig.update_layout(barmode="group")
    fig.update_yaxes(title="rows", type="log")
    return _layout(fig, title, 400)
