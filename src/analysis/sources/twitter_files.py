"""Adapter ``twitter``: decoding of the dump's files (archive ``.js``, v1.1 JSON and JSON lines).

:func:`load_ytd` reads an official archive's ``window.YTD.<type>.partN = [...]`` file;
:func:`load_statuses` a v1.1 status file (one status, a list, or JSON lines, optionally
gzipped). Undecodable bytes, broken gzip and invalid JSON raise ``SourceError`` naming the file
and line. ``analysis.sources.twitter`` reads the three shapes with them.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import Any

from analysis.sources.base import SourceError, open_maybe_gzip


def _text(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SourceError(path, line, f"not valid UTF-8 ({exc.reason})", "UTF-8 JSON") from exc


def _bytes(path: Path) -> bytes:
    if path.suffix != ".gz":
        return path.read_bytes()
    try:
        with open_maybe_gzip(path) as fh:
            return fh.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise SourceError(path, None, f"broken gzip ({exc})", "a complete gzip file") from exc


def _json(path: Path, text: str, offset_line: int = 0) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SourceError(
            path,
            exc.lineno + offset_line,
            f"invalid JSON ({exc.msg})",
            "one complete JSON document",
        ) from exc


def load_ytd(path: Path) -> list[Any]:
    """Parse an archive ``window.YTD.<type>.partN = [...]`` file into its list of records.

    Args:
        path: A ``data/*.js`` file of the official archive.

    Returns:
        The records of the file.
    """
    text = _text(path, path.read_bytes())
    head, sep, body = text.partition("=")
    if not sep:
        raise SourceError(path, 1, "no '=' assignment", "window.YTD.<type>.part0 = [ ... ]")
    data = _json(path, body, head.count("\n"))
    if not isinstance(data, list):
        raise SourceError(
            path, 1, "the assigned value is not a list", "window.YTD.<type>.part0 = [ ... ]"
        )
    return data


def load_statuses(path: Path) -> list[tuple[int, Any]]:
    """(line or index, status) pairs of a v1.1 JSON / JSON-lines file; bad lines are ``None``."""
    text = _text(path, _bytes(path))
    stem = path.name.removesuffix(".gz")
    if not stem.endswith((".jsonl", ".ndjson")) and path.name != "retweets.json.gz":
        data = _json(path, text)
        if isinstance(data, dict):
            return [(1, data)]
        if isinstance(data, list):
            return list(enumerate(data, start=1))
        raise SourceError(path, 1, "neither a status object nor a list", "v1.1 status JSON")
    out: list[tuple[int, Any]] = []
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            out.append((line, json.loads(raw)))
        except json.JSONDecodeError:
            out.append((line, None))
    return out
