"""Post vectors read in batches (stages ``topic_fit``, ``topics``, ``validate``), never all at once.

A 384-dim float32 vector is ~1.5 KiB a post, eight times the post itself; holding every vector
(and the copies a stage makes of them) is what made topics and report grow with the dump
(docs/scaling-log.md, "The whole pipeline at size"). :class:`ParquetVectors` reads the
``embeddings`` table (a folder of one Parquet file per month, :func:`parts`, or one file)
``batch_rows`` rows at a time with pyarrow's ``iter_batches``; the rows it serves are the
posts of ``order`` (row numbers of the parts read one after another) and it names them by
their position in that order. :class:`ArrayVectors` serves an array already in memory the same way
(tests, and topics refitted on a sample in ``topics.post_topics_before``).

Within a batch, rows come in ascending position, so when one batch holds every row a consumer
sees exactly the array the all-at-once code saw and computes bit for bit the same result. With
several batches, sums over posts are added in another order (float rounding only), and BLAS may
block a matrix product differently (float rounding only). A batch never spans two parts: a
month's rows are batched alike whether a pass reads the folder or that month alone, so
``topic_fit``'s pass and ``topics``' month-by-month passes compute each row bit for bit alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

#: Rows per batch (and a batch ends at each part's end). At the default a one-file table of the
#: demo's 15k posts is one batch (the results are bit for bit those of the all-at-once code);
#: the embed stage's folder is one batch per month there. Above it memory is ~1.5 KiB x
#: this per copy of a batch (~75 MiB) whatever the number of posts. Not a param: a different batch size can
#: move a float in its last bit (summation order), so it is part of the code, like the method.
BATCH_ROWS: int = 50_000
#: Rows per read of the Parquet file: pyarrow's reader holds several copies of what it reads
#: (measured: +240 MiB reading 10k rows at a time, +620 MiB 50k at a time, over 100k rows),
#: so the batches are assembled from smaller reads.
READ_ROWS: int = 8_192
#: Bytes read from the file at a time (pyarrow otherwise reads a whole column chunk).
READ_BUFFER: int = 1 << 22
#: The column of ``topics.parquet`` holding each topic's mean vector (float64) over the posts
#: whose primary topic it is (stage ``topics`` sums them in its pass; the report's topic map).
MEAN_EMBEDDING = "mean_embedding"
#: Vector length when there is no vector to read it from (all-MiniLM-L6-v2).
DEFAULT_DIM: int = 384


def parts(path: Path) -> list[Path]:
    """The Parquet files of a table in row order: ``path`` itself when it is a file, else the
    ``*.parquet`` files in the folder by name (the ``embed`` stage's ``YYYY-MM.parquet``, one per
    month of the posts: by name is by time)."""
    path = Path(path)
    return sorted(path.glob("*.parquet")) if path.is_dir() else [path]


def read_table(path: Path, columns: list[str] | None = None) -> pl.DataFrame:
    """A table of :func:`parts` read whole, parts in order (tests and small dumps only: at 1M
    posts the vectors are ~1.5 GB)."""
    files = parts(path)
    if not files:
        return pl.DataFrame(
            schema={
                "post_id": pl.String,
                "is_empty_text": pl.Boolean,
                "embedding": pl.Array(pl.Float32, DEFAULT_DIM),
            }
        ).select(columns or pl.all())
    return pl.concat([pl.read_parquet(f, columns=columns) for f in files])


class Vectors(Protocol):
    """Rows ``0 .. len-1`` of a matrix, served in batches or by position."""

    dim: int

    def __len__(self) -> int: ...

    def batches(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(positions, x)``: every row once, positions ascending within a batch."""
        ...

    def take(self, positions: np.ndarray) -> np.ndarray:
        """The rows at ``positions``, in that order (for samples: a few thousand rows)."""
        ...


@dataclass(frozen=True)
class ArrayVectors:
    """An in-memory array served like :class:`ParquetVectors`."""

    x: np.ndarray
    #: rows per batch; None: :data:`BATCH_ROWS` when read
    batch_rows: int | None = None

    @property
    def dim(self) -> int:
        return int(self.x.shape[1])

    def __len__(self) -> int:
        return len(self.x)

    def batches(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        size = self.batch_rows or BATCH_ROWS
        for start in range(0, len(self.x), size):
            pos = np.arange(start, min(start + size, len(self.x)))
            yield pos, self.x[pos]

    def take(self, positions: np.ndarray) -> np.ndarray:
        return self.x[positions]


@dataclass(frozen=True)
class ParquetVectors:
    """Column ``column`` (fixed-size lists of float32) of a Parquet table, rows ``order``.

    Args:
        path: the table: a folder of parts or one file (:func:`parts`; ``embeddings``).
        order: file row numbers (counted across the parts in order); position ``i`` is file
            row ``order[i]``. Rows not listed (empty texts, null vectors) are never served.
        dim: vector length.
        batch_rows: rows read per batch.
    """

    path: Path
    order: np.ndarray
    dim: int
    #: rows per batch; None: :data:`BATCH_ROWS` when read
    batch_rows: int | None = None
    column: str = "embedding"

    def __len__(self) -> int:
        return len(self.order)

    def _reads(self, stop: int | None = None) -> Iterator[tuple[int, pa.FixedSizeListArray]]:
        """``(first file row, column)`` of every read of :data:`READ_ROWS` rows, up to the one
        holding file row ``stop - 1`` (the file is in time order: the posts before a date,
        validate's topic refits, are its first rows and the rest is not read)."""
        start = 0
        for part in parts(self.path):
            for batch in pq.ParquetFile(
                part, buffer_size=READ_BUFFER, pre_buffer=False
            ).iter_batches(
                batch_size=min(READ_ROWS, self.batch_rows or BATCH_ROWS), columns=[self.column]
            ):
                if stop is not None and start >= stop:
                    return
                yield start, batch.column(0)
                start += batch.num_rows

    def _stop(self) -> int:
        """One past the last file row served."""
        return int(self.order.max()) + 1 if len(self.order) else 0

    def _part_starts(self) -> np.ndarray:
        """The first file row of each part, and one past the last row."""
        sizes = [pq.ParquetFile(f).metadata.num_rows for f in parts(self.path)]
        return np.cumsum([0, *sizes])

    def batches(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Batches of :data:`BATCH_ROWS` file rows, cut at every part's end too (a batch never
        spans two months: each month's rows are batched alike in any pass, ``topic_fit``'s,
        ``topics``' month by month, validate's refits)."""
        starts = self._part_starts()
        pos_of = np.full(int(starts[-1]), -1, dtype=np.int64)
        pos_of[self.order] = np.arange(len(self.order))
        part_starts = set(starts[1:-1].tolist())
        size = self.batch_rows or BATCH_ROWS
        got_pos: list[np.ndarray] = []
        got_x: list[np.ndarray] = []
        n_read = 0

        def flush() -> tuple[np.ndarray, np.ndarray]:
            pos = np.concatenate(got_pos)
            x = got_x[0] if len(got_x) == 1 else np.concatenate(got_x)
            got_pos.clear(), got_x.clear()
            by_pos = np.argsort(pos, kind="stable")
            if (np.diff(pos) > 0).all():
                return pos, x
            return pos[by_pos], x[by_pos]

        for start, col in self._reads(self._stop()):
            if start in part_starts and got_pos:  # a new part: the batch ends with the last
                yield flush()
                n_read = 0
            pos = pos_of[start : start + len(col)]
            rows = np.flatnonzero(pos >= 0)
            if rows.size:
                every = rows.size == len(col)
                got_pos.append(pos[rows])
                got_x.append(_matrix(col if every else col.take(rows), self.dim))
            n_read += len(col)
            if n_read >= size and got_pos:
                yield flush()
                n_read = 0
        if got_pos:
            yield flush()

    def take(self, positions: np.ndarray) -> np.ndarray:
        positions = np.asarray(positions, dtype=np.int64)
        out = np.zeros((len(positions), self.dim), dtype=np.float32)
        file_rows = self.order[positions]
        by_row = np.argsort(file_rows, kind="stable")
        sorted_rows = file_rows[by_row]
        for start, col in self._reads(int(sorted_rows[-1]) + 1 if len(sorted_rows) else 0):
            lo, hi = np.searchsorted(sorted_rows, [start, start + len(col)])
            if hi > lo:
                out[by_row[lo:hi]] = _matrix(col.take(sorted_rows[lo:hi] - start), self.dim)
        return out


def _matrix(col: pa.FixedSizeListArray | pl.Series, dim: int) -> np.ndarray:
    """A column of fixed-size float lists (no nulls) as a float32 ``rows x dim`` matrix (a copy,
    as ``Series.to_numpy().astype(np.float32)`` gave before)."""
    if len(col) == 0:
        return np.zeros((0, dim), dtype=np.float32)
    if isinstance(col, pl.Series):
        return col.to_numpy().astype(np.float32)
    return col.flatten().to_numpy(zero_copy_only=False).reshape(-1, dim).astype(np.float32)


def embedded_posts(path: Path, ids: Callable[[pl.Series], pl.Series] | None = None) -> pl.DataFrame:
    """``post_id, _file_row`` of the rows of the ``embeddings`` table (:func:`parts`) with a
    vector; rows are numbered across the parts in order. ``ids``: applied to each batch's post
    ids as read (``schema.post_numbers``: never every id as text at once).

    A part's vectors are read only if its footer counts a null among them (the ``embed`` stage
    writes a null vector for an empty text only, so normally they are not).
    """
    found: list[pl.Series] = []
    rows = []
    start = 0
    for part in parts(path):
        f = pq.ParquetFile(part, buffer_size=READ_BUFFER, pre_buffer=False)
        leaf = next(
            i
            for i in range(f.metadata.num_columns)
            if f.schema.column(i).path.startswith("embedding")
        )
        stats = [f.metadata.row_group(g).column(leaf).statistics for g in range(f.num_row_groups)]
        no_null = all(s is not None and s.has_null_count and s.null_count == 0 for s in stats)
        columns = ["post_id", "is_empty_text"] + ([] if no_null else ["embedding"])
        for batch in f.iter_batches(columns=columns, batch_size=READ_ROWS):
            df = pl.from_arrow(batch)
            keep = ~df["is_empty_text"]
            if not no_null:
                keep = keep & df["embedding"].is_not_null()
            got = df["post_id"].filter(keep)
            found.append(got if ids is None else ids(got))
            rows.append(np.flatnonzero(keep.to_numpy()) + start)
            start += batch.num_rows
    return pl.DataFrame(
        {
            "post_id": pl.concat(found)
            if found
            else pl.Series([], dtype=pl.String if ids is None else pl.UInt64),
            "_file_row": np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64),
        }
    )


def vector_dim(path: Path, column: str = "embedding") -> int:
    """Length of the fixed-size vectors of ``column`` (from the first part's Parquet schema;
    :data:`DEFAULT_DIM` for a table of no part)."""
    files = parts(path)
    if not files:
        return DEFAULT_DIM
    t = pq.ParquetFile(files[0]).schema_arrow.field(column).type
    return int(t.list_size)


def group_sums(
    vectors: Vectors, labels: np.ndarray, ids: np.ndarray, dtype: type = np.float64
) -> tuple[np.ndarray, np.ndarray]:
    """Per id of ``ids``: the sum (in ``dtype``) of the rows labelled with it, and their count.

    Each batch's rows of one id are summed with numpy (the all-at-once sum when there is one
    batch); the batch sums are added in float64.
    """
    sums = np.zeros((len(ids), vectors.dim), dtype=np.float64)
    counts = np.zeros(len(ids), dtype=np.int64)
    for pos, x in vectors.batches():
        lab = labels[pos]
        for j, t in enumerate(ids):
            m = lab == t
            if m.any():
                sums[j] += x[m].astype(dtype, copy=False).sum(axis=0)
                counts[j] += int(m.sum())
    return sums, counts
