"""What a reader meets in the report and the writeup (issue 15, items 8 and 9): reach that a dump
does not have, failed fits, gate verdicts, legends, p-values, captions, the opening lines."""

from __future__ import annotations

import copy
from pathlib import Path

import polars as pl

from analysis.stages import report as stage
from tests.unit.test_report import COMPARE_JSON, INGEST_JSON, MODELS_JSON, _write, params

__all__ = ["params"]  # the fixture


def _no_reach_compare() -> dict:
    cm = copy.deepcopy(COMPARE_JSON)
    cm["divergence"]["quadrants"] = {
        q: {"n": 0, "share": None} for q in cm["divergence"]["quadrants"]
    }
    cm["divergence"]["reach_missing"] = True
    cm["divergence"]["ols"] = {"n": 40, "intercept": None, "slope": None, "r2": None}
    return cm


def test_a_dump_without_reach_says_so_and_places_nobody(tmp_path: Path, params: dict) -> None:
    _write(tmp_path, "ingest.json", INGEST_JSON)
    _write(tmp_path, "models.json", MODELS_JSON)
    _write(tmp_path, "compare.json", _no_reach_compare())
    div = tmp_path / "data/processed/divergence.parquet"
    div.parent.mkdir(parents=True)
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
