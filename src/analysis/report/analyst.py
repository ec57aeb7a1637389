"""The analyst page of the report stage: ``reports/index.html``.

One self-contained page: plotly.js is inlined once in ``<head>``, each figure adds a ``<div>``
and a small script, so the file opens offline from disk. Analyst mode: accounts appear as
pseudonyms; never raw ids, never anyone's post text. This module decides which sections have
their inputs and draws their figures and tables; titles, captions and the notes of sections
whose inputs are missing are in ``templates/index.html.j2``.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio
import polars as pl

from analysis import plots
from analysis.config import section
from analysis.models.within_thread import ValidateParams
from analysis.report import fmt
from analysis.report.frames import Inputs, experts_by_topic
from analysis.report.freshness import Lag, ParamsChange
from analysis.report.methodology import NEVER_INFERRED
from analysis.report.params import ReportParams


@dataclass
class Section:
    """One section of the page: its figures, tables and key numbers, or missing inputs."""

    id: str
    figures: list[go.Figure] = field(default_factory=list)
    #: HTML tables shown below the figures
    tables: str = ""
    #: key numbers shown above the figures: label -> value
    kpis: dict[str, str] = field(default_factory=dict)
    #: the section's inputs are missing: the template shows its note instead
    missing: bool = False
    #: values its caption prints
    data: dict[str, Any] = field(default_factory=dict)


def html_table(
    df: pl.DataFrame, digits: int = 3, max_rows: int = 200, headers: Mapping[str, str] | None = None
) -> str:
    """A small HTML table (escaped), cells formatted with :func:`analysis.report.fmt.show`."""
    headers = headers or {}
    cols = [c for c in df.columns if c != "is_suppressed"]
    flags = (
        df["is_suppressed"].fill_null(False).to_list()
        if "is_suppressed" in df.columns
        else [False] * df.height
    )
    head = "".join(f"<th>{html.escape(headers.get(c, c))}</th>" for c in cols)
    body = []
    for row, hidden in zip(df.head(max_rows).select(cols).iter_rows(), flags, strict=False):
        tds = "".join(
            f'<td class="{"num" if isinstance(v, int | float) and not isinstance(v, bool) else ""}">'
            f"{html.escape(fmt.show(c, v, hidden, digits))}</td>"
            for c, v in zip(cols, row, strict=True)
        )
        body.append(f"<tr>{tds}</tr>")
    more = (
        f'<p class="note">{df.height - max_rows} more rows not shown.</p>'
        if df.height > max_rows
        else ""
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{more}"


def figure_div(fig: go.Figure, div_id: str) -> str:
    """A figure as a ``<div>`` plus its script; plotly.js itself is included once by the page."""
    return pio.to_html(
        fig,
        full_html=False,
        include_plotlyjs=False,
        div_id=div_id,
        config={"displaylogo": False, "responsive": True},
    )


def _data(inp: Inputs, b: Mapping[str, Any]) -> Section:
    ing = inp.ingest
    if ing is None:
        return Section("data", missing=True)
    t = ing["totals"]
    return Section(
        "data",
        figures=[plots.activity_timeline(b["activity"])] if "activity" in b else [],
        kpis={
            "participants": fmt.num(ing["n_participants"]),
            "posts": fmt.count(t["posts"]["accepted"]),
            "reactions": fmt.count(t["reactions"]["accepted"]) if "reactions" in t else "n/a",
            "platforms": ", ".join(ing["platforms"]),
            "first post": str(ing["first_post_at"])[:10],
            "last post": str(ing["last_post_at"])[:10],
        },
        # a null count of ingest is one it suppressed (``publish.suppress_ingest_counts``): it
        # prints <k, as in the methodology, never n/a (a number not computed)
        data={
            "counts": html_table(
                b["counts"]
                .pivot(on="outcome", index="table", values="n")
                .with_columns(is_suppressed=pl.lit(True))
            ),
            "removals": html_table(
                b["removals"]
                .filter((pl.col("n") > 0) | pl.col("n").is_null())
                .drop("n_accounts")
                .with_columns(is_suppressed=pl.col("n").is_null())
            ),
            "n_opt_out_entries": ing.get("n_opt_out_entries"),
            "n_reject_reasons": len(ing.get("reject_reasons") or []),
        },
    )


def _effects(inp: Inputs, b: Mapping[str, Any], test: str, extra: str) -> Section:
    sid = test.replace("_", "-")
    if test not in b:
        return Section(sid, missing=True)
    rec = inp.compare.recommendation.recommended_model if inp.compare else None
    title = {"weekend_off": "Taking weekends off", "gaming": "Can the score be gamed?"}[test]
    axis = {
        "weekend_off": "median change of the account's percentile score (%)",
        "gaming": "median change of the percentile score (%)",
    }[test]
    table = b.get(extra)
    return Section(
        sid,
        figures=[
            plots.model_bars(plots.as_percent(b[test]), title, axis, highlight=[rec] if rec else [])
        ],
        tables=html_table(table) if table is not None and table.height else "",
    )


def sections(inp: Inputs, b: Mapping[str, Any], p: ReportParams) -> list[Section]:
    """The page's sections, in reading order (a section without its inputs is ``missing``)."""
    cm, dv = inp.compare, inp.divergence_result
    out = [_data(inp, b)]
    if "points" in b and dv is not None:
        split = dv.thresholds_pct["reach"]
        out.append(
            Section(
                "reach",
                figures=[plots.reach_vs_conversation(b["points"], split)],
                data={
                    "floor": b.get("reach_floor"),
                    "reach_missing_platforms": dv.reach_missing_platforms,
                },
            )
        )
    else:
        reach_missing = dv is not None and dv.reach_missing
        out.append(Section("reach", missing=True, data={"reach_missing": reach_missing}))
    if "agreement" in b:
        fig = plots.agreement_heatmap(b["agreement"])  # models in compare's (params) order
        out.append(Section("agreement", figures=[fig]))
    else:
        out.append(Section("agreement", missing=True))
    out.append(_effects(inp, b, "weekend_off", "stability"))
    out.append(_effects(inp, b, "gaming", "adversaries"))
    if "topic_map" in b:
        out.append(
            Section(
                "topics",
                figures=[plots.topic_map(b["topic_map"])],
                tables=html_table(
                    b["topics"].select("label", "keywords", "n_posts", "n_accounts"),
                    headers={"n_accounts": "authors"},
                ),
                data={
                    "n_topics": b["topic_map"].height,
                    "fit": (inp.topics_metrics or {}).get("fit"),
                },
            )
        )
    else:
        out.append(Section("topics", missing=True))
    if "experts" in b and b["experts"].height:
        e = b["experts"]
        out.append(
            Section(
                "experts",
                figures=[plots.topic_experts(e)],
                tables=html_table(experts_by_topic(e), max_rows=500),
                data={
                    "per_topic": p.experts_per_topic,
                    # the rule the topics stage applied (its params, recorded in topics.json)
                    "rule": (inp.topics_metrics or {}).get("attribution_rule"),
                },
            )
        )
    else:
        out.append(Section("experts", missing=True))
    if "validity_oot" in b and (b["validity_oot"].height or b["validity_auc"].height):
        auc, oot = b["validity_auc"], b["validity_oot"]
        out.append(
            Section(
                "validity",
                figures=[plots.validity_chart(auc, oot)],
                tables=html_table(oot.drop("n_accounts")) + (html_table(auc) if auc.height else ""),
                data={
                    "recommended": cm.recommendation.recommended_model if cm else None,
                    "has_auc": auc.height > 0,
                    # the out-of-time window validate used (``models.validate_delta_days``)
                    "delta_days": inp.validity.out_of_time.delta_days if inp.validity else None,
                },
            )
        )
    else:
        out.append(Section("validity", missing=True))
    if "within_thread" in b and b["within_thread"].height:
        # the width validate's intervals were computed at (its params, as the writeup says)
        vp = section(inp.params, "validate", ValidateParams)
        out.append(
            Section(
                "within-thread",
                tables=html_table(b["within_thread"]),
                data={"interval": vp.interval},
            )
        )
    if cm is None:
        out.append(Section("recommendation", missing=True))
    else:
        rec = cm.recommendation
        primary = rec.by_question.get(rec.primary_question or "")
        out.append(
            Section(
                "recommendation",
                tables=html_table(b["recommendation"]),
                data={
                    "model": rec.recommended_model,
                    "answer": primary,
                    "exclusions": html_table(b["exclusions"]) if "exclusions" in b else "",
                    "gates": html_table(b["gates"]) if "gates" in b else "",
                },
            )
        )
    return out


def render_index(
    p: ReportParams,
    inp: Inputs,
    secs: Sequence[Section],
    plotlyjs: str,
    lags: Sequence[Lag] = (),
    params_changed: Sequence[ParamsChange] = (),
) -> str:
    """The whole analyst page as one HTML string (works offline from disk); ``lags``: the
    evaluations of another date than the scores' (``report.freshness``), ``params_changed``:
    those computed with other params, each said at the top."""
    figures = {
        s.id: [figure_div(f, f"fig-{s.id}-{i}") for i, f in enumerate(s.figures)] for s in secs
    }
    return fmt.render(
        "index.html.j2",
        title=p.title,
        ingest=inp.ingest,
        sections=secs,
        figures=figures,
        read=list(inp.read),
        never_inferred=NEVER_INFERRED,
        plotlyjs=plotlyjs,
        lags=lags,
        params_changed=params_changed,
    )
