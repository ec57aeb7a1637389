"""The one small interface every dump adapter implements, and the helpers they share.

An adapter is a function ``read(path: Path) -> SourceTables``. It maps one export, as the
platform ships it, into raw canonical tables (``analysis.schema``, raw layer). It never
pseudonymises (that is ``ingest``'s job) and never drops a record silently: every record it
reads is either in a table or in ``rejects`` with a reason, the file and the line, and
``n_read`` counts what it read per table so ingest can reconcile read = accepted + rejected.

Structurally broken input (a truncated XML file, a wrong encoding, a missing required file)
raises :class:`SourceError`, whose message names the file, the line and what was expected.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import polars as pl

from analysis import schema

#: Columns of :attr:`SourceTables.account_flags`.
FLAG_COLUMNS: dict[str, pl.DataType] = {
    "account_id": pl.String(),
    "handle": pl.String(),
    "display_name": pl.String(),
    "is_minor": pl.Boolean(),
    "has_consent": pl.Boolean(),
}


class SourceError(RuntimeError):
    """Structurally broken input: the message names the file, the line and what was expected."""

    def __init__(self, path: Path | str, line: int | None, problem: str, expected: str) -> None:
        where = f"{path}" + (f", line {line}" if line is not None else "")
        super().__init__(f"{where}: {problem}; expected {expected}")
        self.path = str(path)
        self.line = line


@dataclass
class Rejects:
    """Collects malformed records with their reason, file and line (1-based; None if unknown)."""

    rows: list[dict[str, Any]] = field(default_factory=list)

    def add(
        self, table: str, source_file: Path | str, line: int | None, key: Any, reason: str
    ) -> None:
        """Record one rejected record of ``table``."""
        self.rows.append(
            {
                "table": table,
                "source_file": Path(source_file).name,
                "source_line": line,
                "record_key": None if key is None else str(key),
                "reason": reason,
            }
        )

    def frame(self) -> pl.DataFrame:
        """The rejects as a frame in the canonical ``rejects`` schema."""
        if not self.rows:
            return schema.empty("rejects")
        return pl.DataFrame(self.rows, schema=schema.REJECTS)

    def count(self, table: str) -> int:
        """Number of rejected records of ``table``."""
        return sum(1 for r in self.rows if r["table"] == table)


#: Columns of ``posts`` that hold the bulk of a dump's bytes: the streaming engine of ingest
#: (``ingest.engine: streaming``) never holds all of them at once.
TEXT_COLUMNS: dict[str, pl.DataType] = {"text": pl.String(), "labels": pl.List(pl.String())}
#: Columns of ``posts`` that the platform reports about a post (counts and when they were
#: taken) and that ingest takes from the raw row to the written one without deciding on them,
#: but for one check row by row (a negative count is rejected: ``ingest_checks``).
MEASURE_COLUMNS: dict[str, pl.DataType] = {
    c: schema.columns("posts")[c]
    for c in (
        "n_views",
        "score",
        "n_likes",
        "n_reposts",
        "n_comments_reported",
        "totals_taken_at",
        "follower_count",
    )
}
#: Columns of ``posts`` carried beside the texts, not in the skeleton ingest decides on: read
#: from the file a batch at a time where the texts are (``LazyTexts``), attached to the kept
#: rows when the texts are (at 10M posts the measures were ~0.5 GiB held through the checks).
CARRIED_COLUMNS: dict[str, pl.DataType] = {**TEXT_COLUMNS, **MEASURE_COLUMNS}
#: Row number of a post in ``SourceTables.posts`` (0-based), carried beside its texts.
ROW = "_row"


@dataclass(frozen=True)
class LazyTexts:
    """The carried columns (:data:`CARRIED_COLUMNS`: texts, labels, measures) of a posts table
    left in its Parquet file, read a batch at a time.

    ``lines`` are the file rows (1-based) of the posts the adapter accepted, in the order of
    ``SourceTables.posts``; None when it accepted every row. ``columns``: the carried columns
    left in the file (the texts and labels always; the measures where the file holds them in
    their canonical types, else the adapter read them, checked row by row, into the posts).
    Memory is bounded by the batch and by one row group of the file (Parquet is decoded a row
    group at a time).
    """

    path: Path
    lines: pl.Series | None = None
    columns: tuple[str, ...] = tuple(CARRIED_COLUMNS)

    def batches(
        self, batch_rows: int, columns: Iterable[str] = tuple(TEXT_COLUMNS)
    ) -> Iterator[pl.DataFrame]:
        """``_row`` and ``columns`` (of :data:`CARRIED_COLUMNS`) of every accepted post,
        ``batch_rows`` at a time; a column the file lacks is null."""
        import pyarrow.parquet as pq

        wanted = {c: CARRIED_COLUMNS[c] for c in columns}
        file = pq.ParquetFile(self.path)
        present = [c for c in wanted if c in file.schema_arrow.names]
        rows = (
            None
            if self.lines is None
            else pl.DataFrame({"_line": self.lines.cast(pl.Int64)}).with_row_index(ROW)
        )
        first = 1
        for batch in file.iter_batches(batch_size=batch_rows, columns=present, use_threads=False):
            got = pl.DataFrame(pl.from_arrow(batch))
            df = pl.DataFrame(
                got[c].cast(t)
                if c in present
                else pl.repeat(None, batch.num_rows, dtype=t, eager=True).alias(c)
                for c, t in wanted.items()
            )
            df = df.with_row_index("_line", offset=first).with_columns(
                pl.col("_line").cast(pl.Int64)
            )
            first += df.height
            if rows is None:
                df = df.select((pl.col("_line") - 1).cast(pl.UInt32).alias(ROW), *wanted)
            else:
                df = df.join(rows, on="_line", how="inner", maintain_order="left")
            yield df.select(ROW, *wanted)


@dataclass(frozen=True)
class PostTexts:
    """A dump's posts' carried columns (:data:`CARRIED_COLUMNS`: texts, labels, measures)
    without its other tables (``SourceTables.post_texts``): what ingest reads once its plan is
    made, so that the raw tables (every raw id, the reactions) are let go before the texts are
    scrubbed (at 10M posts the raw skeleton alone is ~1.1 GiB). Row ``i`` is the raw posts'
    row ``i`` (``_row``)."""

    #: the carried columns read whole, in the posts' order (where ``lazy``: those it does not
    #: leave in the file)
    frame: pl.DataFrame | None
    #: left in their Parquet file (``ingest.engine: streaming``)
    lazy: LazyTexts | None = None

    def text_batches(
        self, batch_rows: int | None = None, columns: Iterable[str] = tuple(TEXT_COLUMNS)
    ) -> Iterator[pl.DataFrame]:
        """``_row`` and ``columns`` (of :data:`CARRIED_COLUMNS`; the texts and labels unless
        told) of every post, ``batch_rows`` at a time (None: all)."""
        columns = tuple(columns)
        if self.lazy is not None:
            on_disk = [c for c in columns if c in self.lazy.columns]
            held = [c for c in columns if c not in self.lazy.columns]
            for batch in self.lazy.batches(batch_rows or 2**20, on_disk):
                if held:  # read whole by the adapter: this batch's rows of them
                    assert self.frame is not None
                    batch = batch.with_columns(self.frame.select(held)[batch[ROW]])
                yield batch.select(ROW, *columns)
            return
        assert self.frame is not None
        texts = self.frame.select(*columns).with_row_index(ROW)
        if batch_rows is None:
            yield texts
        else:
            yield from texts.iter_slices(batch_rows)


@dataclass
class SourceTables:
    """What an adapter returns: raw canonical tables, their rejects, and rows read per table."""

    accounts: pl.DataFrame
    posts: pl.DataFrame
    reactions: pl.DataFrame
    rejects: pl.DataFrame
    n_read: dict[str, int]
    platform: str
    #: Inputs this export does not carry (e.g. "follower_count", "reactions", "reply_tree"),
    #: so models can say which of their inputs were missing.
    missing_inputs: tuple[str, ...] = ()
    #: Id, names and privacy flags (``FLAG_COLUMNS``) of account rows the adapter read but did
    #: not accept (rejected rows): a minor or a withdrawn consent is honoured whatever else is
    #: wrong with the row, and the names are redacted like any other (see ``ingest``). Accepted
    #: rows carry all of it in ``accounts`` already.
    account_flags: pl.DataFrame | None = None
    #: Texts and labels left on disk (canonical Parquet, ``ingest.engine: streaming``): then
    #: ``posts.text`` and ``posts.labels`` are null and ingest reads them from here in batches.
    texts: LazyTexts | None = None

    def text_batches(
        self, batch_rows: int | None = None, columns: Iterable[str] = tuple(TEXT_COLUMNS)
    ) -> Iterator[pl.DataFrame]:
        """``_row`` and ``columns`` (of :data:`CARRIED_COLUMNS`; the texts and labels unless
        told) of every post, ``batch_rows`` at a time (None: all)."""
        return self.post_texts().text_batches(batch_rows, columns)

    def post_texts(self) -> PostTexts:
        """The posts' carried columns alone (:data:`CARRIED_COLUMNS`; shared, not copied)."""
        if self.texts is not None:
            held = [c for c in CARRIED_COLUMNS if c not in self.texts.columns]
            return PostTexts(self.posts.select(held) if held else None, self.texts)
        return PostTexts(self.posts.select(*CARRIED_COLUMNS), None)

    def __post_init__(self) -> None:
        self.account_flags = (
            pl.DataFrame(schema=FLAG_COLUMNS)
            if self.account_flags is None
            else self.account_flags.select(
                (pl.col(c) if c in self.account_flags.columns else pl.lit(None))
                .cast(t, strict=True)
                .alias(c)
                for c, t in FLAG_COLUMNS.items()
            )
        )
        self.accounts = schema.conform(self.accounts, "accounts")
        self.posts = schema.conform(self.posts, "posts")
        self.reactions = schema.conform(self.reactions, "reactions")
        self.rejects = schema.conform(self.rejects, "rejects")
        for table in ("accounts", "posts", "reactions"):
            self.n_read.setdefault(table, getattr(self, table).height)

    def check_reconciled(self) -> None:
        """Raise if any table's read count differs from accepted + rejected."""
        for table in ("accounts", "posts", "reactions"):
            accepted = getattr(self, table).height
            rejected = self.rejects.filter(pl.col("table") == table).height
            if self.n_read[table] != accepted + rejected:
                raise AssertionError(
                    f"{self.platform} adapter: {table} read {self.n_read[table]} != accepted "
                    f"{accepted} + rejected {rejected}"
                )


def frame(rows: Iterable[dict[str, Any]], table: str) -> pl.DataFrame:
    """Build a raw canonical frame from dict rows (missing keys become nulls)."""
    rows = list(rows)
    if not rows:
        return schema.empty(table)
    cols = schema.columns(table)
    data = {name: [r.get(name) for r in rows] for name in cols}
    return pl.DataFrame(data, schema=cols)


def provenance(path: Path | str, line: int | None) -> dict[str, Any]:
    """The provenance columns of one raw row (see ``schema.PROVENANCE``): file name and line."""
    return {
        "source_file": (path if isinstance(path, Path) else Path(path)).name,
        "source_line": line,
    }


def require_file(folder: Path, *names: str) -> Path:
    """Return the first of ``names`` that exists in ``folder`` or raise a clear SourceError."""
    for name in names:
        candidate = folder / name
        if candidate.exists():
            return candidate
    raise SourceError(folder, None, f"required file {names[0]} is missing", " or ".join(names))


# --------------------------------------------------------------------------- decompression limits

#: Limits on compressed inputs (issue 13: a 32 KB ``.zst`` expanding to one 1 GiB line took
#: 7.4 GB of memory; a 510 KB ``.gz`` took 1.1 GB). Text compresses 3-15x; a file that inflates
#: more than ``MAX_INFLATION`` times once past ``INFLATION_GRACE_BYTES`` is a decompression bomb.
MAX_INFLATION = 200
INFLATION_GRACE_BYTES = 64 * 2**20
#: No dump we read needs more than this decompressed per file.
MAX_DECOMPRESSED_BYTES = 64 * 2**30
#: Longest line of a line-oriented file (NDJSON): a Pushshift record is a few KB.
MAX_LINE_BYTES = 16 * 2**20


def check_inflation(path: Path | str, n_in: int, n_out: int) -> None:
    """Raise :class:`SourceError` when ``n_out`` decompressed bytes from ``n_in`` look like a bomb."""
    if n_out > MAX_DECOMPRESSED_BYTES:
        raise SourceError(
            path,
            None,
            f"decompresses to more than {MAX_DECOMPRESSED_BYTES // 2**30} GiB",
            "a dump split into smaller files",
        )
    if n_out > INFLATION_GRACE_BYTES and n_out > MAX_INFLATION * max(n_in, 1):
        raise SourceError(
            path,
            None,
            f"inflates more than {MAX_INFLATION}x ({n_in:,} compressed bytes gave "
            f"{n_out:,}): a decompression bomb, not a dump",
            "compressed text of an ordinary ratio",
        )


def check_line(path: Path | str, line: int, n_bytes: int) -> None:
    """Raise :class:`SourceError` when one line grows past :data:`MAX_LINE_BYTES`."""
    if n_bytes > MAX_LINE_BYTES:
        raise SourceError(
            path,
            line,
            f"a line longer than {MAX_LINE_BYTES // 2**20} MiB",
            "one record per line, each of ordinary size",
        )


class _GuardedGzip(io.RawIOBase):
    """A gzip stream that checks its inflation ratio on every read."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._raw = open(path, "rb")  # noqa: SIM115 - closed in close()
        self._gz = gzip.GzipFile(fileobj=self._raw, mode="rb")
        self._out = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self._gz.readinto(buffer)
        self._out += n
        check_inflation(self.path, self._raw.tell(), self._out)
        return n

    def close(self) -> None:
        if not self.closed:
            self._gz.close()
            self._raw.close()
        super().close()


def open_maybe_gzip(path: Path) -> BinaryIO:
    """Open ``path`` for reading bytes, through a bomb-checked gzip stream if it ends in .gz."""
    if path.name.endswith(".gz"):
        return io.BufferedReader(_GuardedGzip(path), buffer_size=1 << 20)  # type: ignore[return-value]
    return open(path, "rb")
