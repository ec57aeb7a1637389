"""``ingest.engine``: memory and streaming write identical tables on a real Stack Exchange site.

The Stack Exchange adapter reads its XML whole; the streaming engine still takes every decision
on the skeleton and scrubs the texts a batch at a time, so this checks the engines' equivalence
on real texts, threads, deletions and rejects (unit tests check the canonical Parquet route).
"""

from __future__ import annotations

import polars as pl
import pytest

from analysis import paths
from tests.unit.test_ingest_engines import assert_same_outputs, run_stage

pytestmark = pytest.mark.realdata

SITE = "stackexchange-beer"


def test_engines_write_identical_tables_on_a_stack_exchange_site(
    real_data, tmp_path, monkeypatch
) -> None:
    site = real_data / SITE
    if not site.exists():
        pytest.skip(f"{site} is absent")
    kw = {"fmt": "stackexchange", "batch_rows": 1_000}
    memory = run_stage(tmp_path / "memory", site, "memory", monkeypatch, **kw)
    streaming = run_stage(tmp_path / "streaming", site, "streaming", monkeypatch, **kw)
    assert_same_outputs(memory, streaming)
    posts = pl.read_parquet(streaming / paths.POSTS)
    assert posts.height > 5 * 1_000  # several batches
    assert pl.read_parquet(streaming / paths.REJECTS).height > 0  # rejects compared too
