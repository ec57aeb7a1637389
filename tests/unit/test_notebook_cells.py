"""Cells of the notebooks (notebooks/*.py) run on small inputs, without a demo project: what a
cell shows must be what its words say (the whole notebooks run in tests/notebooks)."""

from __future__ import annotations

import jupytext
import polars as pl

from analysis import report
from tests.conftest import ROOT


def _cell(notebook: str, needle: str) -> str:
    cells = [
        c.source
        for c in jupytext.read(ROOT / "notebooks" / notebook).cells
        if c.cell_type == "code" and needle in c.source
    ]
    assert len(cells) == 1, (notebook, needle)
    return cells[0]


def test_the_activity_notebook_shows_suppressed_privacy_removals() -> None:
    # "What the privacy rules removed (minors, opt-outs)": on the demo the 4 minors, their 83
    # posts and 271 reactions are counts under min_cell_k, null in the published ingest.json.
    # The cell filtered `n > 0`, which drops nulls: the notebook showed only the 13 merged
    # non-participants, as if no minor had been removed (the report prints them as <k).
    ingest = {
        "sources": {
            "demo": {
                "accounts": {
                    "removed_minor": None,
                    "removed_opt_out": 0,
                    "removed_privacy": None,
                    "merged_nonparticipant": 13,
                    "rejected": 0,
                },
                "posts": {"removed_privacy": None, "merged_nonparticipant": 0, "rejected": 0},
            }
        }
    }
    code = _cell("01-explore-activity.py", "privacy_removals")
    shown = eval(code.strip(), {"report": report, "pl": pl, "ingest": ingest})
    rules = set(zip(shown["table"], shown["rule"], strict=True))
    assert ("accounts", "removed_minor") in rules
    assert ("posts", "removed_privacy") in rules
    assert ("accounts", "merged_nonparticipant") in rules
    assert ("accounts", "removed_opt_out") not in rules  # a true zero stays out
