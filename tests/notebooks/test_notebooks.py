"""The notebooks of notebooks/ run top to bottom on a small demo project (papermill, injected
``root``) and record the values checked below. They are committed as text (jupytext py:percent,
``jupytext.toml``), so they carry no outputs and a diff reads as code."""

from __future__ import annotations

import json
import time
from pathlib import Path

import jupytext
import nbformat
import pytest
from jupytext.config import load_jupytext_configuration_file

from analysis.config import load_params
from analysis.models.params import model_params
from tests.conftest import ROOT
from tests.notebooks.demo_project import GROUPS, demo_project

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.py"))
CONFIG = load_jupytext_configuration_file(str(ROOT / "jupytext.toml"))


def results(nb: nbformat.NotebookNode) -> dict:
    """The ``RESULTS {...}`` line the notebook printed last."""
    lines = [
        line
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == "stream"
        for line in out.get("text", "").splitlines()
        if line.startswith("RESULTS ")
    ]
    assert lines, "the notebook printed no RESULTS line"
    return json.loads(lines[-1].removeprefix("RESULTS "))


def test_the_four_notebooks_exist_as_text_with_one_parameters_cell() -> None:
    names = [p.name for p in NOTEBOOKS]
    assert names == [
        "01-explore-activity.py",
        "11-topics.py",
        "12-influence-models.py",
        "13-reach-vs-conversation.py",
    ]
    for path in NOTEBOOKS:
        nb = jupytext.read(path)
        tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, path.name
        assert any("from analysis import" in c.source for c in nb.cells), path.name
        assert nb.metadata["kernelspec"]["name"] == "python3", path.name


def test_each_text_notebook_is_what_jupyter_writes_back() -> None:
    # Opened in Jupyter and saved unchanged, a notebook gives the same bytes: no churn in git
    # from the editor (metadata, cell markers, the jupytext version).
    for path in NOTEBOOKS:
        text = path.read_text(encoding="utf-8")
        again = jupytext.writes(jupytext.reads(text, fmt="py:percent"), "py:percent", config=CONFIG)
        assert again == text, path.name
        # and through the paired .ipynb as Jupyter keeps it
        ipynb = jupytext.writes(jupytext.reads(text, fmt="py:percent"), "ipynb")
        back = jupytext.writes(jupytext.reads(ipynb, fmt="ipynb"), "py:percent", config=CONFIG)
        assert back == text, path.name


def test_git_holds_the_text_notebooks_only() -> None:
    import subprocess

    tracked = subprocess.run(
        ["git", "ls-files", "notebooks"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert sorted(tracked) == sorted(f"notebooks/{p.name}" for p in NOTEBOOKS)


EXPECT = {
    "01-explore-activity": lambda r, p: (
        r["n_participants"]
        == json.loads((p / "reports/metrics/ingest.json").read_text())["n_participants"]
        and r["n_posts"]
        == json.loads((p / "reports/metrics/ingest.json").read_text())["totals"]["posts"][
            "accepted"
        ]
        and r["n_weeks"] >= 8
    ),
    "11-topics": lambda r, p: (
        r["n_topics"] == json.loads((p / "reports/metrics/topics.json").read_text())["n_topics"]
        and 0 < r["n_experts"] <= 3 * r["n_topics"]
        and r["n_attributed_evidence"]
        == json.loads((p / "reports/metrics/topics.json").read_text())["attribution"]["evidence"][
            "n_attributed"
        ]
    ),
    "12-influence-models": lambda r, p: (
        r["n_models"] == len(model_params(load_params(p / "params.yaml")).names)
        and r["explained_models"] == r["n_models"]
        and r["n_oot_rows"] >= r["n_models"]
    ),
    "13-reach-vs-conversation": lambda r, p: (
        r["quadrant_total"] == r["n_accounts"] > 0 and r["n_quadrants"] >= 2
    ),
}


@pytest.mark.slow
@pytest.mark.xdist_group(GROUPS["reads"])
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_on_the_demo_and_records_its_values(
    path: Path, tmp_path_factory, tmp_path
) -> None:
    import papermill as pm

    project = demo_project(tmp_path_factory)
    source = tmp_path / f"{path.stem}.ipynb"  # the .ipynb Jupyter would pair with it
    jupytext.write(jupytext.read(path), source, fmt="ipynb")
    out = tmp_path / f"{path.stem}.out.ipynb"
    started = time.perf_counter()
    pm.execute_notebook(
        str(source),
        str(out),
        parameters={"root": str(project)},
        kernel_name="python3",
        cwd=str(path.parent),
        progress_bar=False,
    )
    print(f"{path.name}: {time.perf_counter() - started:.1f} s")
    r = results(nbformat.read(out, as_version=4))
    assert EXPECT[path.stem](r, project), r
