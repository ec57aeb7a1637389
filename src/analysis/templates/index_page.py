"""The analyst report page (``reports/index.html``): its sections, captions and HTML.

One self-contained page: plotly.js is inlined once in ``<head>``, each figure adds a ``<div>``
and a small script, so the file opens offline from disk. Analyst mode: accounts appear as
pseudonyms; never raw ids, never anyone's post text. Called by stage ``report`` with the frames
of ``analysis.report``; every section whose inputs are missing shows a note instead.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio
import polars as pl

from analysis import plots, report
from analysis.models import MODELS
from analysis.writeup import num, show

# ---------------------------------------------------------------- analyst HTML report


@dataclass
class Section:
    """One section of the HTML report: a title, a caption, figures and/or HTML tables."""

    id: str
    title: str
    caption: str = ""
    figures: list[go.Figure] = field(default_factory=list)
    html: str = ""
    #: HTML shown above the figures (key numbers)
    lead_html: str = ""
    #: shown instead of the content when the section's inputs are missing
    missing: str = ""


def html_table(
    df: pl.DataFrame, digits: int = 3, max_rows: int = 200, headers: Mapping[str, str] | None = None
) -> str:
    """A small HTML table (escaped), numbers formatted with :func:`num`."""
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
            f"{html.escape(show(c, v, hidden, digits))}</td>"
            for c, v in zip(cols, row, strict=True)
        )
        body.append(f"<tr>{tds}</tr>")
    more = (
        f'<p class="note">{df.height - max_rows} more rows not shown.</p>'
        if df.height > max_rows
        else ""
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{more}"


def key_figures(items: Sequence[tuple[str, str]]) -> str:
    """A row of big numbers with their labels."""
    cards = "".join(
        f'<div class="kpi"><div class="kpi-value">{html.escape(v)}</div>'
        f'<div class="kpi-label">{html.escape(k)}</div></div>'
        for k, v in items
    )
    return f'<div class="kpis">{cards}</div>'


CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;color:#1d2329;background:#f6f7f9;line-height:1.5}
header{background:#17324d;color:#fff;padding:24px 40px}
header h1{margin:0 0 6px 0;font-size:26px}header p{margin:0;opacity:.85}
nav{background:#fff;border-bottom:1px solid #dde1e6;padding:8px 40px;position:sticky;top:0;z-index:10}
nav a{margin-right:16px;color:#17324d;text-decoration:none;font-size:14px}
main{max-width:1100px;margin:0 auto;padding:12px 24px 60px}
section{background:#fff;border:1px solid #dde1e6;border-radius:8px;padding:18px 24px;margin:18px 0}
h2{margin-top:0;font-size:20px}
.caption{color:#3b4652;font-size:14.5px;max-width:900px}
.note{color:#8a5a00;background:#fff8e6;border-left:4px solid #f0b400;padding:8px 12px;font-size:14px}
table{border-collapse:collapse;font-size:13px;margin:10px 0}
th,td{border-bottom:1px solid #e4e7eb;padding:4px 10px;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.kpis{display:flex;flex-wrap:wrap;gap:12px;margin:10px 0}
.kpi{background:#f0f4f8;border-radius:6px;padding:10px 16px;min-width:120px}
.kpi-value{font-size:22px;font-weight:600}.kpi-label{font-size:12px;color:#52606d}
footer{max-width:1100px;margin:0 auto;padding:0 24px 40px;font-size:13px;color:#52606d}
"""


def figure_div(fig: go.Figure, div_id: str) -> str:
    """A figure as a ``<div>`` plus its script; plotly.js itself is included once by the page."""
    return pio.to_html(
        fig,
        full_html=False,
        include_plotlyjs=False,
        div_id=div_id,
        config={"displaylogo": False, "responsive": True},
    )


def prose(text: str) -> str:
    """Escaped caption text with Markdown-style `code` spans as ``<code>`` (no literal backticks)."""
    import re

    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text)).replace("`", "")


def render_index(
    title: str, subtitle: str, sections: Sequence[Section], footer: str, plotlyjs: str
) -> str:
    """The whole analyst report as one HTML string (works offline from disk)."""
    nav = "".join(f'<a href="#{s.id}">{html.escape(s.title)}</a>' for s in sections)
    parts = []
    for s in sections:
        body = [f"<h2>{html.escape(s.title)}</h2>"]
        if s.missing:
            body.append(f'<p class="note">{prose(s.missing)}</p>')
        else:
            if s.caption:
                body.append(f'<p class="caption">{prose(s.caption)}</p>')
            body.append(s.lead_html)
            body.extend(figure_div(f, f"fig-{s.id}-{i}") for i, f in enumerate(s.figures))
            body.append(s.html)
        parts.append(f'<section id="{s.id}">{"".join(body)}</section>')
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{html.escape(title)}</title>'
        f'<style>{CSS}</style><script type="text/javascript">{plotlyjs}</script></head><body>'
        f"<header><h1>{html.escape(title)}</h1><p>{html.escape(subtitle)}</p></header>"
        f"<nav>{nav}</nav><main>{''.join(parts)}</main><footer>{footer}</footer></body></html>\n"
    )


MISSING = "Not available in this run: {what} is missing ({how})."
REACH_MISSING = (
    "Reach is missing in this dump: it has no follower counts and no views (Usenet has neither), "
    "so every account would sit at the same reach percentile. Nobody is placed in a quadrant; "
    "conversation alone is in the models below."
)


def sections(inp: report.Inputs, b: dict[str, Any], p: report.ReportParams) -> list[Section]:
    """The analyst report's sections, in reading order."""
    S = Section
    out: list[Section] = []
    ing = inp.ingest
    if ing is None:
        out.append(
            S(
                "data",
                "The data",
                missing=MISSING.format(
                    what="reports/metrics/ingest.json", how="run `python -m analysis ingest`"
                ),
            )
        )
    else:
        t = ing.get("totals", {})
        kpis = key_figures(
            [
                ("participants", num(ing.get("n_participants"))),
                ("posts", num(t.get("posts", {}).get("accepted"))),
                ("reactions", num(t.get("reactions", {}).get("accepted"))),
                ("platforms", ", ".join(ing.get("platforms", [])) or "n/a"),
                ("first post", str(ing.get("first_post_at", "n/a"))[:10]),
                ("last post", str(ing.get("last_post_at", "n/a"))[:10]),
            ]
        )
        figs = [plots.activity_timeline(b["activity"])] if "activity" in b else []
        tables = (
            "<h3>What ingest read, kept and removed</h3>"
            + html_table(b["counts"].pivot(on="outcome", index="table", values="n"))
            + "<h3>What the privacy rules removed, per source</h3>"
            + html_table(b["removals"].filter(pl.col("n") > 0).drop("n_accounts"))
            + f"<p>Opt-out entries on file: {num(ing.get('n_opt_out_entries'))}. "
            f"Rejected-row reasons: {len(ing.get('reject_reasons') or [])}.</p>"
        )
        out.append(
            S(
                "data",
                "The data",
                figures=figs,
                lead_html=kpis,
                html=tables,
                caption=(
                    "What this run is about: how many participants, posts and reactions survived ingest, the "
                    "period they cover, and what the privacy rules removed (minors and opted-out accounts with "
                    "everything they wrote; people outside the study merged into one placeholder). The line "
                    "chart counts posts and reactions per week; the first and last weeks may be partial; hover a point for the number of active "
                    "accounts that week."
                ),
            )
        )
    if "points" in b:
        out.append(
            S(
                "reach",
                "Reach versus conversation",
                figures=[plots.reach_vs_conversation(b["points"], b["split_pct"])],
                caption=(
                    "Each dot is one participant (pseudonym on hover). Left to right: audience size "
                    "(followers, views) as a percentile; bottom to top: how many distinct people reply, answer "
                    "back and keep threads going, as a percentile. Dashed lines split the quadrants: bottom "
                    "right is loud but unheard (an audience that does not talk back); top left are quiet "
                    "connectors, talked with far beyond their audience. Source: "
                    + b["points_source"]
                    + "."
                ),
            )
        )
    else:
        out.append(
            S(
                "reach",
                "Reach versus conversation",
                missing=REACH_MISSING
                if b.get("reach_missing")
                else MISSING.format(
                    what="divergence.parquet or the reach/conversation scores",
                    how="run the score and compare stages",
                ),
            )
        )
    if "agreement" in b:
        out.append(
            S(
                "agreement",
                "Do the models agree?",
                figures=[plots.agreement_heatmap(b["agreement"], order=list(MODELS))],
                caption=(
                    "Rank correlation (Spearman ρ) between every pair of models' scores over the "
                    "same accounts: 1 = same order, 0 = unrelated, negative = opposite order. "
                    "Naive models (volume, reach, Klout-like) agreeing with each other but not with "
                    "conversation and network says they measure something else. Source: "
                    + b["agreement_source"]
                    + "."
                ),
            )
        )
    else:
        out.append(
            S(
                "agreement",
                "Do the models agree?",
                missing=MISSING.format(
                    what="compare.json and the score files", how="run the score stages"
                ),
            )
        )
    for test, title, axis, caption in (
        (
            "weekend_off",
            "Taking weekends off",
            "median change of the account's percentile score (%)",
            "What happens to an account's standing under each model when it stops posting at weekends, "
            "or takes two weeks off before the scoring date (the Klout complaint: a score that punishes "
            "rest). Each bar is the median relative change of the percentile score over a sample of "
            "accounts re-scored without that activity (replies to the removed posts removed too); near "
            "zero means the model does not punish a life offline. Hover a bar for the share of accounts "
            "that fell and the 90th percentile of the change.",
        ),
        (
            "gaming",
            "Can the score be gamed?",
            "median change of the percentile score (%)",
            "How much each model rewards gaming: extra low-value posts (+50 %, +100 %, +400 % of an "
            "account's own posts, drawing no replies) and a small reaction ring whose members reply to "
            "and like each other. A good model gains nothing from padding (bars at or below zero) and "
            "little from a ring.",
        ),
    ):
        if test in b:
            extra = b.get({"weekend_off": "stability", "gaming": "adversaries"}[test])
            out.append(
                S(
                    test.replace("_", "-"),
                    title,
                    caption=caption
                    + (
                        " The table below is the measure the gates use: bias beyond a placebo "
                        "(random weekday posts removed), ranked against everyone else's frozen "
                        "scores, with 95 % intervals; weekend_moved moves weekend posts instead."
                        if test == "weekend_off"
                        else " The table below is each adversary's curve: the targets' median "
                        "gain per strength (ring and puppet members, pool share, others "
                        "answered, chain length), with 95 % intervals."
                    ),
                    figures=[
                        plots.model_bars(
                            plots.as_percent(b[test]),
                            title,
                            axis,
                            highlight=[b["recommended"]] if b["recommended"] else [],
                        )
                    ],
                    html=html_table(extra) if extra is not None and extra.height else "",
                )
            )
        else:
            out.append(
                S(
                    test.replace("_", "-"),
                    title,
                    missing=MISSING.format(
                        what="the counterfactual tests in reports/metrics/compare.json",
                        how="run the compare stage",
                    ),
                )
            )
    if "topic_map" in b:
        tm = b["topic_map"]
        out.append(
            S(
                "topics",
                "Topic map",
                figures=[plots.topic_map(tm)],
                caption=(
                    f"The {tm.height} topics found in the posts. Each bubble is a topic, its area the number of "
                    "posts whose main topic it is; topics close together use similar language (a 2-D map of the "
                    "cosine distances between the topics' mean embeddings; the axes themselves mean nothing). "
                    "Labels are the topic's top keywords; hover for more. The table lists every topic with its "
                    "number of distinct authors."
                ),
                html=html_table(
                    b["topics"].select("label", "keywords", "n_posts", "n_accounts"),
                    headers={"n_accounts": "authors"},
                ),
            )
        )
    else:
        out.append(
            S(
                "topics",
                "Topic map",
                missing=MISSING.format(
                    what="data/processed/topics.parquet", how="run the embed and topics stages"
                ),
            )
        )
    if "experts" in b and b["experts"].height:
        e = b["experts"]
        out.append(
            S(
                "experts",
                "Evidence-based experts per topic",
                figures=[plots.topic_experts(e)],
                caption=(
                    f"Up to {p.experts_per_topic} accounts per topic (pseudonyms) credited by evidence, not by a "
                    "single post: several posts in the topic and several distinct people engaging with them. The "
                    "dot is replies per post relative to the topic's typical account (1 = typical, log scale), the "
                    "bar its interval; accounts are ordered by expected replies in the topic. `resonance explain "
                    "PSEUDONYM` explains any account's scores."
                ),
                html=html_table(report.experts_by_topic(e), max_rows=500),
            )
        )
    else:
        out.append(
            S(
                "experts",
                "Evidence-based experts per topic",
                missing=MISSING.format(
                    what="data/processed/account_topics.parquet (evidence method)",
                    how="run the topics stage",
                ),
            )
        )
    if "validity_oot" in b and (b["validity_oot"].height or b["validity_auc"].height):
        auc, oot = b["validity_auc"], b["validity_oot"]
        rec = b["recommended"]
        out.append(
            S(
                "validity",
                "Model validity",
                figures=[plots.validity_chart(auc, oot)],
                caption=(
                    "Left: how well each model tells the planted experts and conversationalists from planted "
                    "gamers and broadcasters in the simulated demo (AUC; 0.5 = a coin toss, 1 = perfect). Right: "
                    "how well a score computed a month ago ranks accounts by what happened next (Spearman ρ with "
                    "reactions received and with distinct people replying). Bars show 95 % intervals."
                    + (f" Recommended model: {rec}." if rec else "")
                ),
                html=html_table(oot.drop("n_accounts")) + (html_table(auc) if auc.height else ""),
            )
        )
    else:
        out.append(
            S(
                "validity",
                "Model validity",
                missing=MISSING.format(
                    what="reports/metrics/models.json", how="run the validate stage"
                ),
            )
        )
    wt = b.get("within_thread")
    if wt is not None and wt.height:
        out.append(
            S(
                "within-thread",
                "Whose contributions draw more, in the same thread?",
                caption=(
                    "The headline validity test. Wherever two or more scored authors respond to the "
                    "same parent after a scoring date (answers to one question, sibling comments, "
                    "replies in one thread), does the author's score, computed before that date, "
                    "predict which response draws more conversation (distinct repliers) and more "
                    "approval (votes, likes, retweets)? coef: log rate ratio per standard deviation of "
                    "the score, with a conditional Poisson model holding the thread fixed and "
                    "controlling for arrival order, length and prior activity; ci_low/ci_high: 95 % "
                    "bootstrap interval over threads and authors; placebo: the same fit with scores "
                    "shuffled among equally active authors; account_coef: the account-level check "
                    "over a baseline of plain activity. Comparators (volume, reach, klout_like) and "
                    "peers (follower count, cascade influence) are shown but are never recommended."
                ),
                html=html_table(wt),
            )
        )
    rec, why = b["recommended"], b["recommended_reason"]
    rec_html = ""
    if b["recommendation"] is not None:
        rec_html = (
            f"<p><b>{rec}</b>{': ' + why if why else ''}</p>"
            if rec
            else "<p><b>No recommendation.</b> No candidate beats every comparator and the "
            "activity baseline with an interval above zero and passes the robustness gates on this "
            "data; the reasons per candidate are listed below.</p>"
        )
        rec_html += "<h3>By question</h3>" + html_table(b["recommendation"])
        if b.get("exclusions") is not None:
            rec_html += "<h3>Why candidates were not recommended</h3>" + html_table(b["exclusions"])
        if b["gates"] is not None:
            rec_html += "<h3>Robustness gates passed</h3>" + html_table(b["gates"])
    out.append(
        S(
            "recommendation",
            "Recommended model",
            html=rec_html,
            caption=(
                "The rule's answer for each question, computed from the metrics of this run. "
                "Baselines are comparators, never candidates; a candidate must beat each of them "
                "with a paired interval above zero, add to plain activity, and pass the robustness "
                "gates. The full rule is in the methodology."
            )
            if rec_html
            else "",
            missing=""
            if rec_html
            else MISSING.format(
                what="the recommendation in reports/metrics/compare.json",
                how="run the compare stage",
            ),
        )
    )
    return out
