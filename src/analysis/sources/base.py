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

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from analysis import schema

#: Columns of :attr:`SourceTables.account_flags`.
FLAG_COLUMNS: dict[str, pl.DataType] = {
    "account_id": pl.String(),
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
    #: Privacy flags (``account_id``, ``is_minor``, ``has_consent``) of account rows the adapter
    #: read but did not accept (rejected or duplicate rows): a minor or a withdrawn consent is
    #: honoured whatever else is wrong with the row (see ``ingest``). Accepted rows carry their
    #: flags in ``accounts`` already.
    account_flags: pl.DataFrame | None = None

    def __post_init__(self) -> None:
        self.account_flags = (
            pl.DataFrame(schema=FLAG_COLUMNS)
            if self.account_flags is None
            else self.account_flags.select(
                pl.col(c).cast(t, strict=True) for c, t in FLAG_COLUMNS.items()
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


def require_file(folder: Path, *names: str) -> Path:
    """Return the first of ``names`` that exists in ``folder`` or raise a clear SourceError."""
    for name in names:
        candidate = folder / name
        if candidate.exists():
            return candidate
    raise SourceError(folder, None, f"required file {names[0]} is missing", " or ".join(names))
