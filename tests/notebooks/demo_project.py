"""A small demo project with every pipeline output, built once per test session.

Shared by the notebook, report-output and browser tests (xdist group ``report``; a file lock
keeps it to one build even when workers share them). Stages run directly
(``python -m analysis STAGE``) in a temporary copy of the project, on a 60-account demo; a stage whose module does not exist yet is skipped, so the
report shows what exists.
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import yaml

from tests.integration.test_pipeline import SMALL, copy_project, run, set_params

_BUILT: dict[str, Path] = {}
TIMINGS: dict[str, float] = {}


def stages(project: Path) -> list[list[str]]:
    """The stage commands, in pipeline order (score once per model of params.yaml)."""
    params = yaml.safe_load((project / "params.yaml").read_text())
    names = (params.get("models") or {}).get("names") or []
    cmds = [["demo"], ["inputs"], ["ingest"], ["embed"], ["topics"]]
    cmds += [["score", n] for n in names] + [["validate"], ["compare"], ["report"]]
    return [c for c in cmds if importlib.util.find_spec(f"analysis.stages.{c[0]}") is not None]


def demo_project(tmp_path_factory) -> Path:
    """The built project: built once per test session, shared by every xdist worker.

    The folder lives beside the workers' own temp folders and a file lock makes the other
    workers wait for the first build (the pattern pytest-xdist documents for session fixtures).
    """
    if "project" in _BUILT:
        return _BUILT["project"]
    import os
    import sys

    from filelock import FileLock

    # Under xdist each worker's basetemp is <session>/popen-gwN: the parent is this session's.
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    project, done = shared / "report_project", shared / "report_project.built"
    with FileLock(str(shared / "report_project.lock")):
        if not done.exists():
            if project.exists():  # a build that failed half-way: start again
                import shutil

                shutil.rmtree(project)
            project.mkdir()
            copy_project(project)
            set_params(project, SMALL)
            for cmd in stages(project):
                started = time.perf_counter()
                run([sys.executable, "-m", "analysis", *cmd], project)
                TIMINGS[" ".join(cmd)] = round(time.perf_counter() - started, 1)
            done.write_text("ok")
    _BUILT["project"] = project
    return project
