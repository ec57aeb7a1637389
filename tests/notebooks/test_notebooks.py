"""The notebooks of notebooks/ run top to bottom on a small demo project (papermill, injected
``root``) and record the values checked below; committed notebooks carry no outputs."""

from __future__ import annotations

import json
import time
from pathlib import Path

import nbformat
import pytest
import yaml

from tests.conftest import ROOT
from tests.notebooks.demo_project import demo_project

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))


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


def test_the_four_notebooks_exist_committed_without_outputs_with_one_parameters_cell() -> None:
    names = [p.name for p in NOTEBOOKS]
    assert names == [
        "01-explore-activity.ipynb",
        "11-topics.ipynb",
        "12-influence-models.ipynb",
        "13-reach-vs-conversation.ipynb",
    ]
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        assert all(
            not c.get("outputs") and c.get("execution_count") is None
            for c in nb.cells
            if c.cell_type == "code"
        ), path.name
        tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, path.name
        assert any("from analysis import" in c.source for c in nb.cells), path.name


def test_generator_and_committed_notebooks_agree() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "make_notebooks", ROOT / "notebooks/make_notebooks.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    for name, cells in mod.NOTEBOOKS.items():
        committed = nbformat.read(ROOT / "notebooks" / name, as_version=4)
        assert [c.source for c in committed.cells] == [c.source for c in mod.build(cells).cells], (
            name
        )


EXPECT = {
    "01-explore-activity.ipynb": lambda r, p: (
        r["n_participants"]
        == json.loads((p / "reports/metrics/ingest.json").read_text())["n_participants"]
        and r["n_posts"]
        == json.loads((p / "reports/metrics/ingest.json").read_text())["totals"]["posts"][
            "accepted"
        ]
        and r["n_weeks"] >= 8
    ),
    "11-topics.ipynb": lambda r, p: (
        r["n_topics"] == json.loads((p / "reports/metrics/topics.json").read_text())["n_topics"]
        and 0 < r["n_experts"] <= 3 * r["n_topics"]
        and r["n_attributed_evidence"]
        == json.loads((p / "reports/metrics/topics.json").read_text())["attribution"]["evidence"][
            "n_attributed"
        ]
    ),
    "12-influence-models.ipynb": lambda r, p: (
        r["n_models"] == len(yaml.safe_load((p / "params.yaml").read_text())["models"]["names"])
        and r["explained_models"] == r["n_models"]
        and r["n_oot_rows"] >= r["n_models"]
    ),
    "13-reach-vs-conversation.ipynb": lambda r, p: (
        r["quadrant_total"] == r["n_accounts"] > 0 and r["n_quadrants"] >= 2
    ),
}


@pytest.mark.slow
@pytest.mark.xdist_group("report")
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_on_the_demo_and_records_its_values(
    path: Path, tmp_path_factory, tmp_path
) -> None:
    import papermill as pm

    project = demo_project(tmp_path_factory)
    out = tmp_path / path.name
    started = time.perf_counter()
    pm.execute_notebook(
        str(path),
        str(out),
        parameters={"root": str(project)},
        kernel_name="python3",
        cwd=str(path.parent),
        progress_bar=False,
    )
    print(f"{path.name}: {time.perf_counter() - started:.1f} s")
    r = results(nbformat.read(out, as_version=4))
    assert EXPECT[path.name](r, project), r
