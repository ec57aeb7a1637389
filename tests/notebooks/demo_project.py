"""A small demo project with every pipeline output, built once per test process.

Shared by the notebook tests and the browser test (both in xdist group ``report``, so one worker
builds it once). Stages run directly (``python -m analysis STAGE``) in a temporary copy of the
project, on a 60-account demo; a stage whose module does not exist yet is skipped, so the
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
    """The built project (cached per process)."""
    if "project" in _BUILT:
        return _BUILT["project"]
    import sys

    project = copy_project(tmp_path_factory.mktemp("report_project"))
    set_params(project, SMALL)
    for cmd in stages(project):
        started = time.perf_counter()
        run([sys.executable, "-m", "analysis", *cmd], project)
        TIMINGS[" ".join(cmd)] = round(time.perf_counter() - started, 1)
    _BUILT["project"] = project
    return project
