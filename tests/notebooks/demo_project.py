"""The small demo project with every pipeline output, built once per test session.

Shared by the notebook, report-output and browser tests and by the integration tests: the one
build of ``tests/project.py`` (``dvc repro`` on the small demo params, file-locked for xdist).
"""

from __future__ import annotations

from pathlib import Path

from tests.project import GROUPS, TIMINGS, built_project

__all__ = ["GROUPS", "TIMINGS", "demo_project"]


def demo_project(tmp_path_factory) -> Path:
    """The built project (see ``tests.project.built_project``); read it, never change it."""
    return built_project(tmp_path_factory)
