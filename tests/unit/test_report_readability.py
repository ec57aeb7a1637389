"""What a reader meets in the report and the writeup (issue 15, items 8 and 9): reach that a dump
does not have, failed fits, gate verdicts, legends, p-values, captions, the opening lines."""

from __future__ import annotations

import copy
from pathlib import Path

import polars as pl

from analysis.stages import report as stage
from tests.unit.test_report import (
    COMPARE_JSON,
    DIVERGENCE_JSON,
    INGEST_JSON,
    MODELS_JSON,
    _write,
    params,
)

__all__ = ["params"]  # the fixture


def _no_reach_divergence() -> dict:
    dv = copy.deepcopy(DIVERGENCE_JSON)
    dv["quadrants"] = {q: {"n": 0, "share": None} for q in dv["quadrants"]}
    dv["reach_missing"] = True
    dv["ols"] = {"n": 40, "intercept": None, "slope": None, "r2": None}
    return dv


def test_a_dump_without_reach_says_so_and_places_nobody(tmp_path: Path, params: dict) -> None:
    _write(tmp_path, "ingest.json", INGEST_JSON)
    _write(tmp_path, "models.json", MODELS_JSON)
    _write(tmp_path, "compare.json", COMPARE_JSON)
    _write(tmp_path, "divergence.json", _no_reach_divergence())
    div = tmp_path / "data/processed/divergence.parquet"
    div.parent.mkdir(parents=True, exist_ok=True)
    pl.DataFrame(
        {
            "account_id": [f"acct_{i}" for i in range(40)],
            "reach_pct": [50.0] * 40,
            "conversation_pct": [float(i) for i in range(40)],
            "quadrant": pl.Series([None] * 40, dtype=pl.String),
            "divergence": pl.Series([None] * 40, dtype=pl.Float64),
        }
    ).write_parquet(div)
    stage.write_report(tmp_path, params)
    page = (tmp_path / "reports/index.html").read_text()
    assert "Reach is missing in this dump" in page
    assert 'id="fig-reach' not in page  # no scatter of everyone at percentile 50
    md = (tmp_path / "reports/methodology.md").read_text()
    assert "Reach is missing in this dump" in md
    section = md.split("Reach is missing in this dump")[1].split("\n\n")[0]
    assert "loud" not in section
    assert "| loud but unheard |" not in md


def test_a_failed_fit_is_not_shown_as_suppressed() -> None:
    from analysis import publish
    from analysis.report import public

    df = pl.DataFrame(
        {
            "model": ["a", "b", "c"],
            "p_value": [2.25e-83, None, None],
            "n_accounts": [40, 40, None],
            "is_suppressed": [False, False, True],
        }
    )
    lines = public.md_table(df).splitlines()[2:]
    assert lines == [
        "| a | < 0.001 | 40 |",
        "| b | n/a | 40 |",
        f"| c | {publish.SUPPRESSED} | <k |",
    ]


def test_p_values_percentiles_and_gate_verdicts_read_as_words() -> None:
    from analysis import contracts
    from analysis.report import fmt, frames, public
    from analysis.report.analyst import html_table

    assert fmt.pval(2.25e-83) == "< 0.001" and fmt.pval(0.0123) == "0.012"
    assert fmt.ordinal(50.0) == "50th" and fmt.ordinal(33) == "33rd"
    assert fmt.ordinal(97.5) == "97.5th" and fmt.ordinal(11) == "11th"
    cm = copy.deepcopy(COMPARE_JSON)
    cm["recommendation"]["gates"] = {"reach": {"weekend_off": True, "ring": False, "gaming": None}}
    gates = frames.gates_table(contracts.CompareResult.model_validate(cm))
    assert gates.row(0) == ("reach", "pass", "fail", "not tested")
    md = public.md_table(gates)
    assert "true" not in md and "false" not in md and "| reach | pass | fail |" in md
    page = html_table(gates)
    assert "true" not in page and '<td class="">pass</td>' in page


def test_methodology_quadrant_split_is_an_ordinal(tmp_path: Path, params: dict) -> None:
    _write(tmp_path, "compare.json", COMPARE_JSON)
    _write(tmp_path, "divergence.json", DIVERGENCE_JSON)
    stage.write_report(tmp_path, params)
    md = (tmp_path / "reports/methodology.md").read_text()
    assert "at the 50th percentile of reach and the 50th of conversation" in md
    assert "50.0th" not in md


def test_gaming_legend_sorts_numerically_and_zero_differs_from_no_data() -> None:
    from analysis import plots
    from analysis.report import figures

    df = pl.DataFrame(
        {
            "model": ["a", "a", "a", "b", "b", "c"],
            "series": ["+100 % posts", "+400 % posts", "+50 % posts"] * 2,
            "value": [0.0, 2.0, 1.0, 3.0, 0.0, None],
        }
    )
    fig = plots.model_bars(df, "Gaming", "change (%)")
    bars = [t for t in fig.data if t.type == "bar"]
    assert [t.name for t in bars] == ["+50 % posts", "+100 % posts", "+400 % posts"]
    assert plots.series_order(["ring gain", "+100 %", "+50 %"]) == ["+50 %", "+100 %", "ring gain"]
    zero = next(t for t in bars if t.name == "+100 % posts")
    assert list(zero.text) == ["0.0", "3.0"]  # a zero bar says 0.0
    missing = [t for t in fig.data if t.type == "scatter" and t.mode == "text"]
    assert {y for t in missing for y in t.y} == {"b", "c"}  # b has no +400 %; c's value is null
    assert all(set(t.text) == {"no data"} for t in missing)
    assert figures.figure_to_svg(fig) is not None  # the browserless fallback still draws bars


def test_no_literal_backticks_in_html_captions_or_notes(tmp_path: Path, params: dict) -> None:
    import re

    _write(tmp_path, "models.json", MODELS_JSON)
    stage.write_report(tmp_path, params)  # most sections missing: their notes name commands
    page = (tmp_path / "reports/index.html").read_text()
    texts = re.findall(r'<p class="(?:caption|note)">(.*?)</p>', page, re.S)
    assert texts and any("<code>" in t for t in texts)
    assert not [t for t in texts if "`" in t]


def test_writeup_opens_with_the_question_and_says_the_demo_is_simulated(
    tmp_path: Path, params: dict
) -> None:
    from analysis.report import methodology

    stage.write_report(tmp_path, {**params, "source": {"format": "canonical"}})
    md = (tmp_path / "reports/methodology.md").read_text()
    head = md.split("## 1.")[0]
    assert head.index("**Research question.**") < head.index("**Simulated data.**")
    assert md.index("**Research question.**") < md.index("Resonance measures")
    real = tmp_path / "real"
    stage.write_report(real, {**params, "source": {"format": "stackexchange", "path": "x/beer"}})
    head = (real / "reports/methodology.md").read_text().split("## 1.")[0]
    assert "**Research question.**" in head and "Simulated data" not in head
    docs = methodology.model_docs(["network", "network_topic"])
    a, b = docs["network"][1], docs["network_topic"][1]
    shared = set(a.split("\n\n")) & set(b.split("\n\n"))
    assert len(shared) <= 1, shared  # at most the paragraph that defines the topic variant
    assert "Power iteration" in a and "Power iteration" not in b
