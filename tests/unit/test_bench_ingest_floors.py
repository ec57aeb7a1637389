"""``make bench``'s floors of the ingest measure the work stage ``ingest`` does, not another."""

from __future__ import annotations

import polars as pl

from benchmarks import scale
from benchmarks.synthetic import write_synthetic_dump


def test_the_scrubbing_floor_scrubs_the_texts_as_the_ingest_writes_them(tmp_path) -> None:
    write_synthetic_dump(tmp_path / "raw", 3_000)
    [ingest] = scale.ingest_ours(3_000, str(tmp_path))
    written = pl.read_parquet(tmp_path / "interim" / "posts.parquet", columns=["text"])["text"]
    floor = scale.scrubbed_texts(str(tmp_path))
    raw = pl.read_parquet(tmp_path / "raw" / "posts.parquet", columns=["text"])["text"]
    # the synthetic texts carry handles, display names, e-mails and phone numbers: the floor
    # must take them out as the ingest did (the ingest writes posts by time, not the dump's order)
    assert ingest.n == floor.len() == written.len() == raw.len()
    assert not floor.equals(raw)
    assert sorted(floor.to_list()) == sorted(written.to_list())


def test_the_read_write_floor_reads_and_writes_every_post(tmp_path) -> None:
    write_synthetic_dump(tmp_path / "raw", 2_000)
    [fig] = scale.read_write_polars(2_000, str(tmp_path))
    assert fig.n == 2_000 and fig.seconds > 0
    assert not (tmp_path / "read-write.parquet").exists()  # nothing left beside the dump
