"""``io.column_batches`` / ``io.table_batches``: a Parquet file's columns a batch at a time."""

from __future__ import annotations

import polars as pl
import pytest

from analysis.io import column_batches, read_contiguous, table_batches


@pytest.mark.parametrize("batch_rows", [1, 3, 4, 7, 100])
def test_batches_are_the_file_in_order_whatever_the_row_groups(tmp_path, batch_rows) -> None:
    df = pl.DataFrame(
        {"text": [f"t{i}" if i % 5 else None for i in range(23)], "n": list(range(23))}
    )
    path = tmp_path / "posts.parquet"
    df.write_parquet(path, row_group_size=4)
    batches = list(table_batches(path, ["n", "text"], batch_rows))
    assert [b.height for b in batches[:-1]] == [batch_rows] * (len(batches) - 1)
    assert pl.concat(batches).equals(df.select("n", "text"))
    texts = list(column_batches(str(path), "text", batch_rows))
    assert pl.concat(texts).equals(df["text"])


def test_a_folder_named_like_a_glob_pattern_is_read_as_a_path(tmp_path) -> None:
    folder = tmp_path / "dump[2024]"
    folder.mkdir()
    pl.DataFrame({"text": ["a", "b", "c"]}).write_parquet(folder / "posts.parquet")
    assert [b.to_list() for b in column_batches(folder / "posts.parquet", "text", 2)] == [
        ["a", "b"],
        ["c"],
    ]
    assert read_contiguous(folder / "posts.parquet")["text"].to_list() == ["a", "b", "c"]


def test_an_empty_file_gives_no_batch(tmp_path) -> None:
    path = tmp_path / "empty.parquet"
    pl.DataFrame(schema={"text": pl.String}).write_parquet(path)
    assert list(column_batches(path, "text", 10)) == []


def test_read_contiguous_gives_the_file_with_each_column_in_one_chunk(tmp_path) -> None:
    df = pl.DataFrame({"a": list(range(50)), "b": [str(i) for i in range(50)]})
    path = tmp_path / "t.parquet"
    df.write_parquet(path, row_group_size=7)
    assert set(pl.read_parquet(path).n_chunks("all")) != {1}  # as read: a chunk a row group
    whole = read_contiguous(path)
    assert whole.equals(df) and set(whole.n_chunks("all")) == {1}
    assert read_contiguous(path, ["b"]).equals(df.select("b"))


def test_read_contiguous_gives_every_null_column_its_nulls_and_dtype(tmp_path) -> None:
    df = pl.DataFrame(
        {
            "n": [1, 2, 3],
            "likes": pl.Series([None] * 3, dtype=pl.Int64),
            "taken": pl.Series([None] * 3, dtype=pl.Datetime("us", "UTC")),
            "who": pl.Series([None] * 3, dtype=pl.String),
            "some": [None, 2.0, None],
        }
    )
    path = tmp_path / "t.parquet"
    df.write_parquet(path, row_group_size=2)
    got = read_contiguous(path, categorical=["who"])
    assert got.equals(df.with_columns(pl.col("who").cast(pl.Categorical)))
    assert got.schema == df.with_columns(pl.col("who").cast(pl.Categorical)).schema


#: A child process that reads one column of a file and prints how much of its memory is live
#: after: polars' allocator told to return freed pages at once (what it keeps is not counted).
_LIVE_AFTER_READ = """
import sys
import polars as pl
from analysis.io import read_contiguous

def resident():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096

before = resident()
got = read_contiguous(sys.argv[1], ["likes"])
print(resident() - before, got["likes"].null_count())
"""


def test_a_column_the_file_never_fills_holds_no_memory_for_its_values(tmp_path) -> None:
    """A measure a dump never fills (likes on Stack Exchange) is read, then held as nulls
    whose values' pages are never written: ~3 MB of validity for 20M rows, not 160 MB."""
    import os
    import subprocess
    import sys

    n = 20_000_000
    path = tmp_path / "posts.parquet"
    pl.DataFrame({"likes": pl.repeat(None, n, dtype=pl.Int64, eager=True)}).write_parquet(path)
    env = {**os.environ, "_RJEM_MALLOC_CONF": "dirty_decay_ms:0,muzzy_decay_ms:0"}
    out = subprocess.run(
        [sys.executable, "-c", _LIVE_AFTER_READ, str(path)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    grew, nulls = int(out[0]), int(out[1])
    assert nulls == n
    assert grew < 40 * 2**20, f"{grew / 2**20:.0f} MiB live after reading a column of nulls"
