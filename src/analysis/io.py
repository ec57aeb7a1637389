"""File I/O shared by the stages: validated Parquet writes, metrics JSON, a column in batches.

Every canonical table goes through :func:`write_table`, which validates it against
``analysis.schema`` first, so no stage can write a table that breaks the schema.
"""

from __future__ import annotations

import json
import logging
import math
import os
import secrets
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from analysis import schema

log = logging.getLogger(__name__)


def write_table(df: pl.DataFrame, path: Path | str, table: str, layer: schema.Layer) -> None:
    """Validate ``df`` as ``table`` of ``layer`` and write it as Parquet."""
    schema.validate(df, table, layer)
    write_parquet(df, path)


def write_parquet(df: pl.DataFrame, path: Path | str) -> None:
    """Write Parquet (zstd), creating the folder; logs the row count.

    Categorical columns are written as strings: the ids are categoricals in memory only
    (:func:`read_contiguous`'s ``categorical``), the files hold their texts, so a file's bytes
    and schema do not depend on how a stage held its ids."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    df = schema.ids_as_strings(df)
    df.write_parquet(path, compression="zstd", statistics=True)
    log.info("wrote %s rows to %s", f"{df.height:,}", path)


def private_temporary(path: Path) -> Path:
    """A temporary name beside ``path`` that no other writer takes (process, thread and a
    random part; hidden, ending ``.tmp``): write it, then ``replace`` it onto ``path``.

    The rename is atomic, so a killed run never leaves a half-written ``path``; the name being
    this writer's own, two writers of the same file at once (two test workers filling one
    embedding cache, a notebook beside ``dvc repro``) each rename a whole file of their own
    and the last one wins. A fixed name (``path.tmp``) let one writer rename the other's file
    away under it (``FileNotFoundError``: the project's CI, session 55)."""
    tag = f"{os.getpid()}-{threading.get_ident()}-{secrets.token_hex(4)}"
    return path.with_name(f".{path.name}.{tag}.tmp")


def private_temporaries(folder: Path, pattern: str) -> list[Path]:
    """The :func:`private_temporary` files in ``folder`` of the files named like ``pattern``
    (a glob): what killed writers left, or writers at work now."""
    return sorted(folder.glob(f".{pattern}.*.tmp"))


#: Significant digits kept in metrics JSON: far beyond any reported precision, short of the
#: last-bit noise of BLAS and optimisers (GLM coefficients differ at 1e-16 between runs), so
#: that the same data and params write the same file and `dvc metrics diff` shows no noise.
METRIC_DIGITS = 10


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, float) and value != 0.0:
        return float(f"{value:.{METRIC_DIGITS}g}")
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        return _clean(value.item())
    return value


def write_json(data: dict[str, Any], path: Path | str) -> None:
    """Write a metrics JSON file (NaN/inf become null; keys sorted for stable diffs)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_clean(data), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    log.info("wrote %s", path)


def read_json(path: Path | str) -> dict[str, Any]:
    """Read a JSON file."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def parquet_columns(path: Path | str) -> list[str]:
    """The column names of a Parquet file (its path a path, never a glob pattern)."""
    return pl.scan_parquet(path, glob=False).collect_schema().names()


def read_contiguous(
    path: Path | str,
    columns: Sequence[str] | None = None,
    categorical: Sequence[str] = (),
    numbers: Sequence[str] = (),
) -> pl.DataFrame:
    """A Parquet file's ``columns`` (None: all) with each column in one chunk, read one column
    at a time: the peak is the table plus one column, not twice the table.

    As read, a column holds one chunk per row group, and an eager group-by or join over such a
    table makes every column of it contiguous first, the unread ones included (eager polars
    runs without projection pushdown): at 1M posts a model's group-by on account_id held +245
    MiB over the posts as read, +32 MiB over them in one chunk. ``DataFrame.rechunk`` of the
    whole table would hold two copies of it at once.

    The ``categorical`` columns (those read) are cast to polars' ``Categorical`` as each is
    read, before the next one: see :data:`analysis.schema.ID_COLUMNS`. The ``numbers`` columns
    (post ids) become the 64-bit numbers of their pseudonyms where every id is one
    (:func:`analysis.schema.post_numbers`), else categoricals where they are also
    ``categorical``.
    """
    names = list(columns) if columns is not None else parquet_columns(path)
    cats = set(categorical)
    nums = set(numbers)

    def one(c: str) -> pl.Series:
        s = pl.read_parquet(path, columns=[c], glob=False).to_series().rechunk()
        if c in nums:
            got = schema.post_numbers(s)
            if got is not None:
                return unwritten_nulls(got)
        return unwritten_nulls(s.cast(pl.Categorical) if c in cats else s)

    return pl.DataFrame([one(c) for c in names])


def unwritten_nulls(s: pl.Series) -> pl.Series:
    """``s``, or where every value of it is null, the same nulls built by polars (its dtype and
    name): their values' buffer is allocated zeroed and never written, so its pages are never
    mapped, and polars' filters and slices of it build nulls the same way.

    The Parquet reader writes the values of a column it reads, null or not: at 10M posts the
    five measures a Stack Exchange or canonical dump never fills (likes, reposts, reported
    comments, when the totals were taken, followers) held 388 MB of zeros in every stage
    that reads the posts."""
    if s.len() == 0 or s.null_count() < s.len():
        return s
    return pl.repeat(None, s.len(), dtype=s.dtype, eager=True).alias(s.name)


def column_batches(path: Path | str, column: str, batch_rows: int) -> Iterator[pl.Series]:
    """One column of a Parquet file, ``batch_rows`` rows at a time, in the file's row order
    (the whole column is never held: the posts' texts are ~1 GiB at 10M posts)."""
    for batch in table_batches(path, [column], batch_rows):
        yield batch.to_series()


def table_batches(path: Path | str, columns: list[str], batch_rows: int) -> Iterator[pl.DataFrame]:
    """:func:`column_batches` of several columns: ``batch_rows`` rows of ``columns`` at a time.

    Each batch is a slice of a lazy scan: polars reads the row groups it overlaps, no more (at
    1M posts the texts in 200k-row batches in 0.06 s, where pyarrow's ``iter_batches`` took
    0.26 s with its import; batches much smaller than a row group re-read it, so small batches
    are slower than pyarrow's: 1,000 rows at a time 0.9 s against 0.6 s for 100k texts). The
    path is a path, never a glob pattern (a folder named ``[x]`` is read as such)."""
    scan = pl.scan_parquet(path, glob=False).select(columns)
    n_rows = scan.select(pl.len()).collect().item()
    for start in range(0, n_rows, batch_rows):
        yield scan.slice(start, batch_rows).collect()
