"""Dump adapters: one module per export format, all behind ``read(path) -> SourceTables``.

``read_source(fmt, path)`` picks the adapter named by ``source.format`` in params.yaml.
Adapters are imported lazily so that reading one format never imports another's parser.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from analysis.sources.base import SourceError, SourceTables

#: format name -> module under analysis.sources that defines ``read(path) -> SourceTables``
ADAPTERS: dict[str, str] = {
    "canonical": "canonical",
    "stackexchange": "stackexchange",
    "reddit": "reddit",
    "hackernews": "hackernews",
    "mastodon": "mastodon",
    "twitter": "twitter",
    "usenet": "usenet",
}


def read_source(fmt: str, path: Path | str, lazy_text: bool = False) -> SourceTables:
    """Read one dump of format ``fmt`` at ``path`` into raw canonical tables.

    ``lazy_text``: where the adapter can (canonical Parquet), the posts' texts stay on disk and
    are read in batches by ingest (``ingest.engine: streaming``); other adapters read them whole.
    """
    if fmt not in ADAPTERS:
        raise SourceError(path, None, f"unknown source.format {fmt!r}", " or ".join(ADAPTERS))
    path = Path(path)
    if not path.exists():
        raise SourceError(path, None, "the dump does not exist", "a file or folder at source.path")
    module = importlib.import_module(f"analysis.sources.{ADAPTERS[fmt]}")
    tables: SourceTables = (
        module.read(path, lazy_text=True) if lazy_text and fmt == "canonical" else module.read(path)
    )
    tables.check_reconciled()
    return tables


def posts_on_disk(fmt: str, path: Path | str) -> int | None:
    """The posts a dump holds where its files say so unread (canonical Parquet: the footer's
    row count), else None: other adapters read their texts whole whatever the engine, so only
    there does ``ingest.engine: auto`` need the count before reading."""
    if fmt != "canonical" or not Path(path).exists():
        return None
    # imported as read_source imports adapters: by name, when a canonical dump is met
    count: int | None = importlib.import_module("analysis.sources.canonical").posts_on_disk(
        Path(path)
    )
    return count


__all__ = ["ADAPTERS", "SourceError", "SourceTables", "posts_on_disk", "read_source"]
