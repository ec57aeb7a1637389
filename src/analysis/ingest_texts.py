"""Stage ``ingest`` (texts): the posts' texts scrubbed and joined to the skeleton ingest kept.

``ingest.plan`` takes every decision on the posts without their texts (validation, removals,
detaching, non-participants, pseudonyms, and which kept texts hold words of posts removed for
privacy: ``analysis.ingest_quotes``). What is left is per row: put those texts in place
(:func:`with_edits`), scrub each kept text, drop
the labels that name someone, and put the row in the skeleton's order. The two engines of
``ingest.engine`` do exactly that with the same functions (:func:`scrub_texts`,
:func:`assemble`):

* ``memory`` (:func:`posts_in_memory`): every text at once, one frame.
* ``streaming`` (:func:`sink_posts`): texts are read ``batch_rows`` at a time in their raw order,
  scrubbed and written into buckets of ``batch_rows`` final positions (an external bucket sort);
  then each bucket is joined to its slice of the skeleton, in order, and appended to the posts
  file as one row group. At no time are more than ``batch_rows`` texts in memory (plus one
  Parquet row group while a canonical file is decoded).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from analysis import ingest_pseudonyms, privacy, schema, scrub
from analysis.ingest import SRC
from analysis.sources.base import CARRIED_COLUMNS, ROW, PostTexts, SourceTables

log = logging.getLogger(__name__)

#: A post's position in the written posts table (the skeleton's order).
POS = "_pos"
_BUCKET = "_bucket"
_TEXTS = {SRC: pl.UInt32(), ROW: pl.UInt32(), **CARRIED_COLUMNS}


def scrub_texts(texts: pl.DataFrame, names: privacy.NameRedactor | None) -> pl.DataFrame:
    """Texts scrubbed and labels holding a known name dropped, row by row (any batch of rows)."""
    # scrub_series, not scrub_expr: called here, outside polars, it scrubs slices on every core
    out = texts.with_columns(scrub.scrub_series(texts["text"], names).alias("text"))
    if names is not None:
        # A label holding a known handle or name (a hashtag that is someone's handle, a group
        # named after someone) is a mention in disguise: privacy wins over ground truth, the
        # label is dropped.
        out = out.with_columns(scrub.drop_name_labels_expr("labels", names))
    return out


def with_edits(batch: pl.DataFrame, src: int, edits: pl.DataFrame | None) -> pl.DataFrame:
    """A batch of source ``src``'s raw texts with the texts ``ingest_quotes.edits`` changed
    (words of posts removed for privacy cut) in place of the raw ones."""
    if edits is None or edits.height == 0:
        return batch
    mine = edits.filter(pl.col(SRC) == src).select(ROW, pl.col("text").alias("_edited"))
    if mine.height == 0:
        return batch
    return (
        batch.join(mine, on=ROW, how="left", maintain_order="left")
        .with_columns(pl.coalesce("_edited", "text").alias("text"))
        .drop("_edited")
    )


def assemble(skeleton: pl.DataFrame, texts: pl.DataFrame) -> pl.DataFrame:
    """Interim posts: the skeleton's rows, in its order, with their scrubbed texts and other
    carried columns (``CARRIED_COLUMNS``: labels, measures), its post and account pseudonyms
    as text (``ingest_pseudonyms.NUMBERS``)."""
    # the join carries only the keys, the skeleton's other columns are set beside its result as
    # they are; the texts in one chunk each (scrubbed slices leave several, and a join that
    # gathers two chunked columns at once took ~0.5 s at 1M posts, ~0.1 s rechunked)
    found = skeleton.select(SRC, ROW).join(
        texts.select(*_TEXTS).rechunk(), on=[SRC, ROW], how="left", maintain_order="left"
    )
    joined = skeleton.with_columns(found.select(*CARRIED_COLUMNS))
    return schema.conform(ingest_pseudonyms.ids_as_text(joined), "posts", schema.INTERIM)


def posts_in_memory(
    skeleton: pl.DataFrame,
    tables: Sequence[SourceTables | PostTexts],
    names: privacy.NameRedactor | None,
    edits: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """``ingest.engine: memory``: every kept text scrubbed at once, then joined. ``edits``:
    the plan's ``text_edits`` (kept texts with removed people's words cut)."""
    parts = [pl.DataFrame(schema=_TEXTS)]
    for i, t in enumerate(tables):
        rows = skeleton.filter(pl.col(SRC) == i).select(ROW)
        for batch in t.text_batches(None, CARRIED_COLUMNS):
            kept = batch.join(rows, on=ROW, how="semi", maintain_order="left")
            kept = with_edits(kept, i, edits)
            parts.append(kept.select(pl.lit(i, dtype=pl.UInt32).alias(SRC), ROW, *CARRIED_COLUMNS))
    return assemble(skeleton, scrub_texts(pl.concat(parts), names))


def sink_posts(
    skeleton: pl.DataFrame,
    tables: Sequence[SourceTables | PostTexts],
    names: privacy.NameRedactor | None,
    path: Path | str,
    batch_rows: int,
    on_batch: Callable[[int], None] | None = None,
    edits: pl.DataFrame | None = None,
) -> int:
    """``ingest.engine: streaming``: write the interim posts to ``path``, ``batch_rows`` texts
    at a time; returns the rows written.

    ``on_batch`` is told how many texts each step holds (the tests check the bound with it).
    ``edits``: the plan's ``text_edits`` (kept texts with removed people's words cut).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    skeleton = skeleton.with_row_index(POS)
    seen = on_batch or (lambda n: None)
    with tempfile.TemporaryDirectory(prefix=".posts-", dir=path.parent) as tmp_name:
        tmp = Path(tmp_name)
        # pass 1: texts in their raw order, scrubbed, into buckets of final positions
        for i, t in enumerate(tables):
            rows = skeleton.filter(pl.col(SRC) == i).select(ROW, POS)
            for j, batch in enumerate(t.text_batches(batch_rows, CARRIED_COLUMNS)):
                seen(batch.height)
                kept = with_edits(batch.join(rows, on=ROW, how="inner"), i, edits)
                done = scrub_texts(kept, names).select(
                    pl.lit(i, dtype=pl.UInt32).alias(SRC),
                    ROW,
                    *CARRIED_COLUMNS,
                    (pl.col(POS) // batch_rows).alias(_BUCKET),
                )
                for (bucket,), part in done.partition_by(_BUCKET, as_dict=True).items():
                    folder = tmp / str(bucket)
                    folder.mkdir(exist_ok=True)
                    part.drop(_BUCKET).write_parquet(folder / f"{i}-{j}.parquet")
        # pass 2: one bucket at a time, joined to its slice of the skeleton, in order, appended
        # to the file as its own row group (a polars sink of the parts held far more than one)
        writer = None
        try:
            for bucket in range(-(-skeleton.height // batch_rows)):
                files = sorted((tmp / str(bucket)).glob("*.parquet"))
                texts = pl.read_parquet(files) if files else pl.DataFrame(schema=_TEXTS)
                seen(texts.height)
                part = assemble(skeleton.slice(bucket * batch_rows, batch_rows).drop(POS), texts)
                schema.validate(part, "posts", schema.INTERIM)
                table = part.to_arrow()
                writer = writer or pq.ParquetWriter(path, table.schema, compression="zstd")
                writer.write_table(table)
                del texts, part, table
                for f in files:
                    f.unlink()
        finally:
            if writer is not None:
                writer.close()
        if writer is None:
            schema.empty("posts", schema.INTERIM).write_parquet(
                path, compression="zstd", statistics=True
            )
    log.info(
        "wrote %s rows to %s (streaming, %s texts at a time)",
        f"{skeleton.height:,}",
        path,
        f"{batch_rows:,}",
    )
    return skeleton.height
