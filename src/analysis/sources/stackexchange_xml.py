"""Adapter ``stackexchange``: streaming the ``<row .../>`` elements of one dump file.

:func:`read_rows` streams a ``<Name>.xml`` or ``.xml.gz`` file through expat (bounded memory:
rows are collected as columns and turned into polars chunks every :data:`CHUNK_ROWS` rows),
forced to UTF-8, recording the line of every row; a file that is not well-formed UTF-8 XML
raises ``SourceError`` naming file, line and expectation. :func:`find_file` finds a dump file.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO
from xml.parsers import expat

import polars as pl

from analysis.sources.base import SourceError, open_maybe_gzip

CHUNK_ROWS = 100_000
READ_BYTES = 1 << 20
_UTF16_32_BOMS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")


def find_file(folder: Path, name: str) -> Path | None:
    """``folder/<name>.xml`` or ``<name>.xml.gz``, whichever exists (None: neither)."""
    for candidate in (folder / f"{name}.xml", folder / f"{name}.xml.gz"):
        if candidate.exists():
            return candidate
    return None


def _open(path: Path) -> BinaryIO:
    return open_maybe_gzip(path)


def _line_bytes(path: Path, lineno: int) -> bytes:
    with _open(path) as fh:
        for i, line in enumerate(fh, start=1):
            if i == lineno:
                return line
    return b""


def read_rows(
    path: Path,
    root: str,
    fields: tuple[str, ...],
    transforms: dict[str, Callable[[str], str | None]] | None = None,
) -> pl.DataFrame:
    """Stream the ``<row .../>`` elements of one dump file into a frame of strings.

    Args:
        path: ``<Name>.xml`` or ``<Name>.xml.gz``.
        root: the expected root element (``posts``, ``users``...).
        fields: the attributes to keep; absent attributes become nulls.
        transforms: optional per-field functions applied while streaming (e.g. HTML to text).

    Returns:
        One String column per field plus ``_line`` (Int64, 1-based line of the row).

    Raises:
        SourceError: wrong encoding, truncated or malformed XML, wrong root or element.
    """
    transforms = transforms or {}
    cols: dict[str, list[str | None]] = {f: [] for f in fields}
    lines: list[int] = []
    chunks: list[pl.DataFrame] = []
    depth = 0
    parser = expat.ParserCreate(encoding="utf-8")  # overrides the declaration: the dump is UTF-8

    def flush() -> None:
        data: dict[str, list] = {"_line": lines.copy(), **{f: v.copy() for f, v in cols.items()}}
        chunks.append(
            pl.DataFrame(data, schema={"_line": pl.Int64, **dict.fromkeys(fields, pl.String)})
        )
        lines.clear()
        for v in cols.values():
            v.clear()

    def start(name: str, attrs: dict[str, str]) -> None:
        nonlocal depth
        depth += 1
        line = parser.CurrentLineNumber
        if depth == 1:
            if name != root:
                raise SourceError(path, line, f"root element <{name}>", f"<{root}>")
            return
        if depth != 2 or name != "row":
            raise SourceError(
                path, line, f"unexpected element <{name}>", f"<row .../> inside <{root}>"
            )
        lines.append(line)
        for f in fields:
            value = attrs.get(f)
            fn = transforms.get(f)
            cols[f].append(fn(value) if fn is not None and value is not None else value)
        if len(lines) >= CHUNK_ROWS:
            flush()

    def end(name: str) -> None:
        nonlocal depth
        depth -= 1

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        with _open(path) as fh:
            head = fh.read(READ_BYTES)
            if head.startswith(_UTF16_32_BOMS) or head[:2] in (b"<\x00", b"\x00<"):
                raise SourceError(
                    path, 1, "the file is UTF-16/32 encoded", "UTF-8, as the dump ships"
                )
            chunk = head
            while chunk:
                parser.Parse(chunk, False)
                chunk = fh.read(READ_BYTES)
            try:
                parser.Parse(b"", True)
            except expat.ExpatError as exc:
                raise SourceError(
                    path,
                    exc.lineno,
                    f"the file ends inside the XML ({expat.errors.messages[exc.code]})",
                    f"a complete file ending with </{root}> (truncated download or copy?)",
                ) from exc
    except expat.ExpatError as exc:
        bad = _line_bytes(path, exc.lineno)
        try:
            bad.decode("utf-8")
        except UnicodeDecodeError as dec:
            raise SourceError(
                path,
                exc.lineno,
                f"bytes that are not UTF-8 ({dec.reason} at column {dec.start + 1})",
                "UTF-8 text (was the file re-encoded, e.g. Latin-1?)",
            ) from exc
        raise SourceError(
            path,
            exc.lineno,
            f"malformed XML ({exc})",
            f"one well-formed <row .../> per line inside <{root}>",
        ) from exc
    except (OSError, EOFError, zlib.error) as exc:
        raise SourceError(
            path, None, f"cannot be read ({exc})", "a readable .xml or .xml.gz file"
        ) from exc
    flush()
    return pl.concat(chunks)
