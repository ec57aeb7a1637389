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
