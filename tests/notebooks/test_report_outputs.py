"""The report stage's outputs on the small demo project: the writeup's numbers are the ones
`dvc metrics show` prints (and the typed results hold), `dvc metrics show` stays readable,
publication outputs are publishable, and `dvc plots show` renders with the offline template."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from analysis import contracts, publish
from analysis.report.fmt import num
from tests.notebooks.demo_project import GROUPS, demo_project

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group(GROUPS["reads"])]


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    return demo_project(tmp_path_factory)


def dvc(project: Path, *args: str) -> str:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    proc = subprocess.run(
        ["dvc", *args], cwd=project, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_writeup_numbers_equal_dvc_metrics_show(project: Path) -> None:
    metrics = json.loads(dvc(project, "metrics", "show", "--json"))
    files = next(iter(metrics.values()))["data"]
    headline = files["reports/metrics/models.json"]["data"]
    ingest = files["reports/metrics/ingest.json"]["data"]
    validity = contracts.load(contracts.ValidityResult, project / "data/processed/validity.json")
    md = (project / "reports/methodology.md").read_text()
    assert f"Participants (accounts studied): {num(ingest['n_participants'])}" in md
    assert f"{num(ingest['totals']['posts']['accepted'])} posts" in md
    rows = [line for line in md.splitlines() if line.startswith("| ")]
    for model, outcomes in validity.out_of_time.models.items():
        for outcome, r in outcomes.items():
            row = next(x for x in rows if x.startswith(f"| {model} | {outcome} |"))
            assert row.split("|")[3].strip() == num(r.spearman), row
    planted = md.split("**Planted roles**")[-1].split("## 6.")[0].splitlines()
    for model, r in headline["models"].items():
        if "planted_auc" in r:
            row = next(x for x in planted if x.startswith(f"| {model} | "))
            assert num(r["planted_auc"]) in row or publish.SUPPRESSED in row, row
    # the headline within-thread coefficients, model by model and outcome by outcome
    for model, per in (validity.within_thread.get("models") or {}).items():
        for outcome, r in per.items():
            if r is None:
                continue
            row = next(x for x in rows if x.startswith(f"| {model} |") and f"| {outcome} |" in x)
            assert num(r["coef"]) in row, row
            if outcome == "conversation":
                assert r["coef"] == headline["models"][model]["conversation_coef"]
    compare = files["reports/metrics/compare.json"]["data"]
    if compare["recommended_model"] != "none":
        assert f"recommends **`{compare['recommended_model']}`**" in md
    else:
        assert "**No recommendation**" in md and "Why candidates were not recommended" in md


def test_dvc_metrics_show_prints_headline_numbers_only(project: Path) -> None:
    """Issue 15: compare.json held about 700 numbers and 35 prose strings, and `dvc metrics
    show` printed lines of 52,000 characters. Full results are data files now."""
    metrics = json.loads(dvc(project, "metrics", "show", "--json"))
    files = next(iter(metrics.values()))["data"]

    def leaves(o: object) -> list[object]:
        if isinstance(o, dict):
            return [x for v in o.values() for x in leaves(v)]
        return [o]

    for name in ("models", "compare"):
        values = leaves(files[f"reports/metrics/{name}.json"]["data"])
        assert len(values) <= 40, (name, len(values))
        assert not [v for v in values if isinstance(v, str) and len(v) > 40], name


def test_publication_outputs_are_publishable(project: Path) -> None:
    texts = (
        pl.read_parquet(project / "data/interim/posts.parquet", columns=["text"])["text"]
        .drop_nulls()
        .to_list()
    )
    outputs = [
        project / "reports/methodology.md",
        project / "reports/methodology.html",
        *sorted((project / "reports/public").glob("*.csv")),
    ]
    assert len(outputs) >= 8
    for path in outputs:
        assert publish.publishable_problems(path.read_text(), texts) == [], path
    # PNG through kaleido when Chromium is installed (`make browser`), else the SVG fallback
    figures = sorted((project / "reports/figures").glob("*.png")) or sorted(
        (project / "reports/figures").glob("*.svg")
    )
    assert figures, "no static figures, neither PNG (kaleido) nor the SVG fallback"
    md = (project / "reports/methodology.md").read_text()
    assert all(f"figures/{f.name}" in md for f in figures)


def test_dvc_plots_show_renders_offline_with_the_template(project: Path) -> None:
    out = project / "dvc_plots_out"
    dvc(
        project,
        "plots",
        "show",
        "--html-template",
        "reports/templates/dvc_plots.html",
        "-o",
        str(out),
    )
    page = (out / "index.html").read_text()
    assert "cdn.jsdelivr" not in page and "vegaEmbed" in page
    for title in ("Planted-role AUC per model", "Posts per topic", "Activity per week"):
        assert title in page


def test_analyst_report_quotes_no_post_text_and_no_raw_id(project: Path) -> None:
    posts = pl.read_parquet(project / "data/interim/posts.parquet", columns=["text"])
    page = (project / "reports/index.html").read_text()
    body = page.split("</head>", 1)[1]  # plotly.js itself is not ours to check
    problems = publish.publishable_problems(body, posts["text"].drop_nulls().to_list())
    assert [p for p in problems if p.startswith("quotes post text")] == []
    raw = pl.read_parquet(next((project / "data/raw/demo").glob("accounts.*")))
    for raw_id in raw["account_id"].cast(str).to_list():
        assert f">{raw_id}<" not in body and f'"{raw_id}"' not in body, raw_id
    for handle in raw["handle"].drop_nulls().to_list():
        assert handle not in body, handle
