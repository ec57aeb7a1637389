"""``benchmarks.models_memory``: each model scored on a project's tables read both ways, the
ids held both ways."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from analysis import models as registry
from analysis import paths
from benchmarks.models import synthetic_tables
from benchmarks.models_memory import score_one


def test_each_read_is_what_it_says_and_the_model_is_measured(tmp_path) -> None:
    tables = synthetic_tables(3_000, 200)
    interim = tmp_path / paths.INTERIM
    interim.mkdir(parents=True)
    for name in ("posts", "accounts", "reactions"):
        # small row groups: read as it comes, a column holds one chunk per row group
        getattr(tables, name).write_parquet(
            interim / paths.INTERIM_TABLES[name].name, row_group_size=500
        )
    as_read = score_one(str(tmp_path), "volume", "as-read")
    contiguous = score_one(str(tmp_path), "volume", "contiguous")
    assert as_read["posts_chunks"] == 6 and contiguous["posts_chunks"] == 1
    for r in (as_read, contiguous):
        assert r["model"] == "volume" and r["seconds"] > 0 and r["growth_mib"] >= 0
    # the read the score stage uses is restored after an as-read measurement
    assert score_one(str(tmp_path), "volume", "contiguous")["posts_chunks"] == 1


@pytest.mark.parametrize("name", sorted(registry.MODELS))
def test_ids_as_categoricals_give_every_model_the_same_scores(tmp_path, name) -> None:
    """The score stage holds the ids as categoricals (``schema.ID_COLUMNS``): every
    model scores exactly as on the strings the files hold, rows in the same order."""
    tables = synthetic_tables(3_000, 200)
    interim = tmp_path / paths.INTERIM
    interim.mkdir(parents=True)
    for table in ("posts", "accounts", "reactions"):
        getattr(tables, table).write_parquet(interim / paths.INTERIM_TABLES[table].name)
    files = {ids: tmp_path / f"{ids}.parquet" for ids in ("categorical", "string")}
    for ids, out in files.items():
        score_one(str(tmp_path), name, "contiguous", ids, str(out))
    cat, plain = (pl.read_parquet(f) for f in files.values())
    assert cat.height > 0 and cat.schema["account_id"] == pl.String
    assert_frame_equal(cat, plain, check_exact=True)
