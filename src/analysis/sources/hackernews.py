"""Adapter ``hackernews``: Hacker News items (SQLite or JSON lines) and the posts CSV export.

Serves stage ``ingest``. ``source.path`` is one file or a folder of files; each file's variant
is detected from its first bytes (SQLite header), else from its extension and header line:

* **SQLite** (``*.db``, ``*.sqlite``): table ``items(id, type, by, time, text, url, title,
  score, descendants, parent, kids, deleted, dead)`` as fetched from the official HN API;
* **JSON lines** (``*.jsonl``, ``*.ndjson``, ``*.json``): one HN API item object per line;
* **CSV** (``*.csv``): the widely used export ``id,title,url,num_points,num_comments,author,
  created_at`` (UTF-8 with a byte-order mark).

Mapping of API items: ``story``, ``job`` and ``poll`` -> kind ``post`` with text = title plus
the HTML ``text`` turned into plain text, ``score`` minus 1 -> ``score``, ``descendants`` ->
``n_comments_reported`` (negative values, seen on killed stories, become null);
``comment`` -> kind ``comment`` with ``parent`` -> ``parent_post_id`` and the root found by
walking the parents up to the story. ``pollopt`` items are poll answers, not authored
contributions: rejected with reason ``poll option``. ``by`` is the account id and handle (HN
user names are unique and immutable); ``time`` (Unix seconds) -> ``created_at`` in UTC.

Mapping of the CSV: each row is a story (kind ``post``) with ``num_points`` minus 1 -> ``score``,
``num_comments`` -> ``n_comments_reported`` and the title as text. ``created_at`` has no zone:
it is read as US Eastern time (America/New_York, with daylight saving), as the Kaggle dataset
"Hacker News Posts" it comes from documents, and converted to UTC. The CSV has counts but no
comments and no reply tree.

Points: every HN item starts with 1 point, its author's own automatic upvote, so the canonical
``score`` (the net vote of *others*) is HN's score minus 1, and ``max(score - 1, 0)`` of HN's
points is what models read as upvotes received. Measured: 36 of the 293 stories of
``hackernews-items-1-590`` and 4,702 of the 14,635 posts of the 2016 CSV have exactly 1 point (no
one else voted). The API gives comments no score (null stays null).

Rules:

* Deleted items (``deleted`` set, or no ``by``) cannot be attributed to anyone: rejected with
  reason ``author deleted``. The development SQLite dump has none.
* Dead items (killed by moderators or flags; shown only to users with "showdead") are kept:
  their authors wrote them and others replied to them (9 of the 297 comments in
  ``hackernews-items-1-590`` answer a dead item). The dump has 50 dead items (42 stories,
  8 comments); the canonical schema has no column to flag them.
* No dangling links: a parent that is not among the accepted items becomes null together with
  the root; a root that cannot be reached through accepted parents is null. HN does not say
  whom such a comment answered, so ``reply_to_account_id`` stays null.

Rejects carry the row number: the 1-based row in ``id`` order for SQLite, the physical line
for JSON lines and CSV. A truncated or non-SQLite ``.db``, a table or column that is missing,
and text that is not UTF-8 raise :class:`SourceError`.
"""

from __future__ import annotations

import csv
import html
import io
import json
import logging
import re
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from analysis import schema
from analysis.sources.base import Rejects, SourceError, SourceTables, frame, provenance

log = logging.getLogger(__name__)

PLATFORM = "hackernews"
SQLITE_MAGIC = b"SQLite format 3\x00"
SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")
#: A SQLite query that yields no row for this long is interrupted (a crafted file can make a
#: query run forever); the handler is checked every SQLITE_PROGRESS_STEPS virtual-machine steps.
SQLITE_STALL_S = 60.0
SQLITE_PROGRESS_STEPS = 10_000
JSON_SUFFIXES = (".jsonl", ".ndjson", ".json")
ITEM_COLUMNS = (
    "id",
    "type",
    "by",
    "time",
    "text",
    "url",
    "title",
    "score",
    "descendants",
    "parent",
    "deleted",
    "dead",
)
REQUIRED_ITEM_COLUMNS = ("id", "type", "by", "time", "parent")
CSV_COLUMNS = ("id", "title", "num_points", "num_comments", "author", "created_at")
CSV_TIME_ZONE = "America/New_York"  # Kaggle "Hacker News Posts": times are US Eastern
CSV_TIME_FORMAT = "%m/%d/%Y %H:%M"
POST_TYPES = frozenset({"story", "job", "poll"})
MISSING_INPUTS = ("follower_count", "reactions", "n_views")
#: HN's automatic upvote by the author on every new item (1 point), removed from ``score``.
AUTHOR_SELF_VOTE = 1
_TAG = re.compile(r"<[^>]+>")
_BREAK = re.compile(r"<p>|<br\s*/?>", re.IGNORECASE)


def _plain(value: Any) -> str:
    """HN HTML (``<p>``, ``<a>``, ``<i>``, entities) -> plain text."""
    if not isinstance(value, str):
        return ""
    return html.unescape(_TAG.sub("", _BREAK.sub("\n\n", value))).strip()


def _others(points: int | None) -> int | None:
    """HN points without the author's own automatic upvote: the net vote of others."""
    return None if points is None else points - AUTHOR_SELF_VOTE


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    suffixes = (*SQLITE_SUFFIXES, *JSON_SUFFIXES, ".csv")
    found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix in suffixes)
    if not found:
        raise SourceError(
            path,
            None,
            "no Hacker News files in the folder",
            "files ending in " + ", ".join(suffixes),
        )
    return found


def _sqlite_items(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    uri = f"{path.resolve().as_uri()}?mode=ro&immutable=1"
    try:
        con = sqlite3.connect(uri, uri=True)
    except sqlite3.Error as exc:
        raise SourceError(path, None, f"cannot be opened ({exc})", "a SQLite 3 file") from exc
    # Read-only and bounded: a crafted file whose ``items`` is a recursive view ran without end
    # and grew temp disk by 0.5 GB per 30 s. Only a real table is read, and a query that yields
    # no row for SQLITE_STALL_S seconds is interrupted by the progress handler.
    last_row = time.monotonic()
    con.set_progress_handler(
        lambda: int(time.monotonic() - last_row > SQLITE_STALL_S), SQLITE_PROGRESS_STEPS
    )
    try:
        con.execute("PRAGMA query_only = ON")
        kind = con.execute(
            "SELECT type FROM sqlite_master WHERE name = 'items' COLLATE NOCASE"
        ).fetchone()
        if kind is not None and kind[0] != "table":
            raise SourceError(
                path, None, f"'items' is a {kind[0]}, not a table", "the HN API items table"
            )
        cols = [row[1] for row in con.execute("PRAGMA table_info(items)")]
        if not cols:
            raise SourceError(path, None, "no table 'items'", "the HN API items table")
        missing = [c for c in REQUIRED_ITEM_COLUMNS if c not in cols]
        if missing:
            raise SourceError(
                path,
                None,
                f"table items lacks columns {missing}",
                "columns " + ", ".join(ITEM_COLUMNS),
            )
        wanted = [c for c in ITEM_COLUMNS if c in cols]
        select = ", ".join(f'"{c}"' for c in wanted)
        cursor = con.execute(
            f"SELECT {select} FROM items ORDER BY id"
        )  # names from ITEM_COLUMNS only
        for number, values in enumerate(cursor, start=1):
            last_row = time.monotonic()
            yield number, dict(zip(wanted, values, strict=True))
    except sqlite3.OperationalError as exc:
        if "interrupt" in str(exc):
            raise SourceError(
                path,
                None,
                f"no row for {SQLITE_STALL_S:.0f} s (query interrupted)",
                "a plain SQLite table items that can be read in order of id",
            ) from exc
        raise SourceError(
            path, None, f"SQLite error ({exc})", "an intact SQLite 3 file with table items"
        ) from exc
    except sqlite3.Error as exc:
        raise SourceError(
            path, None, f"SQLite error ({exc})", "an intact SQLite 3 file with table items"
        ) from exc
    finally:
        con.close()


def _text(path: Path, encoding: str = "utf-8") -> str:
    try:
        return path.read_bytes().decode(encoding)
    except UnicodeDecodeError as exc:
        raise SourceError(
            path, None, f"text is not UTF-8 ({exc.reason} at byte {exc.start})", "a UTF-8 file"
        ) from exc


def _json_items(path: Path) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """Yield (line, item) or (line, reject reason) for each non-blank line."""
    # split on "\n" only: str.splitlines() would also break inside strings at U+0085/U+2028.
    for number, line in enumerate(_text(path).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except (json.JSONDecodeError, RecursionError):
            yield number, "not valid JSON"
            continue
        yield number, obj if isinstance(obj, dict) else "not a JSON object"


def _item(obj: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """Map one API item to a post row (raw parent link) or return a reject reason."""
    item_id = _int(obj.get("id"))
    if item_id is None:
        return None, "missing id"
    post_id = str(item_id)
    if obj.get("deleted") or not isinstance(obj.get("by"), str) or not obj["by"].strip():
        return {"post_id": post_id}, "author deleted"
    kind = obj.get("type")
    if kind == "pollopt":
        return {"post_id": post_id}, "poll option"
    if kind not in POST_TYPES and kind != "comment":
        return {"post_id": post_id}, "unknown item type"
    seconds = _int(obj.get("time"))
    if seconds is None:
        return {"post_id": post_id}, "unparsable time"
    try:
        created = datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return {"post_id": post_id}, "unparsable time"
    if not schema.MIN_TIME <= created <= schema.max_time():
        return {"post_id": post_id}, "created_at out of range"
    row: dict[str, Any] = {
        "post_id": post_id,
        "platform": PLATFORM,
        "account_id": obj["by"].strip(),
        "created_at": created,
        "score": _others(_int(obj.get("score"))),
    }
    if kind == "comment":
        parent = _int(obj.get("parent"))
        if parent is None:
            return {"post_id": post_id}, "comment without parent"
        row.update(kind="comment", parent_post_id=str(parent), text=_plain(obj.get("text")) or None)
    else:
        descendants = _int(obj.get("descendants"))
        text = "\n\n".join(p for p in (_plain(obj.get("title")), _plain(obj.get("text"))) if p)
        row.update(
            kind="post",
            text=text or None,
            n_comments_reported=descendants if descendants is None or descendants >= 0 else None,
        )
    return row, None


def _safe(reader: Any, path: Path) -> Iterator[list[str]]:
    """Iterate a csv reader, turning its structural errors (NUL bytes, runaway quotes) into
    SourceError."""
    try:
        yield from reader
    except csv.Error as exc:
        raise SourceError(
            path,
            reader.line_num,
            f"CSV cannot be parsed ({exc})",
            "comma-separated values with balanced quotes",
        ) from exc


def _csv_rows(path: Path, rejects: Rejects) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line, post row) of the CSV export; malformed rows go to ``rejects``."""
    # newline="" keeps U+0085 (NEL), seen inside a URL of the 2016 export, inside its field.
    reader = csv.reader(io.StringIO(_text(path, "utf-8-sig"), newline=""))
    header = next(_safe(reader, path), None)
    if header is None or any(c not in header for c in CSV_COLUMNS):
        raise SourceError(
            path,
            1,
            f"header {header} lacks HN export columns",
            "id,title,url,num_points,num_comments,author,created_at",
        )
    at = {name: header.index(name) for name in CSV_COLUMNS}
    line = reader.line_num
    for values in _safe(reader, path):
        start, line = line + 1, reader.line_num
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(header):
            rejects.add("posts", path, start, None, "wrong number of fields")
            continue
        rec = {name: values[i].strip() for name, i in at.items()}
        post_id = rec["id"] if rec["id"].isdigit() else None
        reason = None
        try:
            created = (
                datetime.strptime(rec["created_at"], CSV_TIME_FORMAT) if rec["created_at"] else None
            )
        except ValueError:
            created = None
        if post_id is None:
            reason = "missing id"
        elif not rec["author"]:
            reason = "author deleted"
        elif created is None:
            reason = "unparsable created_at"
        elif _int(rec["num_points"]) is None or _int(rec["num_comments"]) is None:
            reason = "unparsable num_points or num_comments"
        if reason is not None:
            rejects.add("posts", path, start, post_id, reason)
            continue
        yield (
            start,
            {
                "post_id": post_id,
                "platform": PLATFORM,
                "account_id": rec["author"],
                "kind": "post",
                "created_at": created,
                "text": rec["title"] or None,
                "score": _others(_int(rec["num_points"])),
                "n_comments_reported": _int(rec["num_comments"]),
            },
        )


def _eastern_to_utc(naive: list[datetime]) -> list[datetime | None]:
    """Localise naive Eastern wall times and convert to UTC; times in a DST gap become None.

    polars carries its own time-zone database, so no system tzdata is needed.
    """
    series = pl.Series("t", naive, dtype=pl.Datetime("us"))
    utc = series.dt.replace_time_zone(CSV_TIME_ZONE, ambiguous="earliest", non_existent="null")
    return utc.dt.convert_time_zone("UTC").to_list()


def _localise(rows: dict[str, dict[str, Any]], rejects: Rejects) -> list[dict[str, Any]]:
    """Give CSV rows UTC times; rows whose local time does not exist or is out of range go."""
    kept = []
    for row, utc in zip(
        rows.values(), _eastern_to_utc([r["created_at"] for r in rows.values()]), strict=True
    ):
        file, line = row.pop("_file"), row.pop("_line")
        reason = (
            "nonexistent local time (daylight saving gap)"
            if utc is None
            else None
            if schema.MIN_TIME <= utc <= schema.max_time()
            else "created_at out of range"
        )
        if reason is None:
            kept.append({**row, "created_at": utc, **provenance(file, line)})
        else:
            rejects.add("posts", file, line, row["post_id"], reason)
    return kept


def _resolve(posts: dict[str, dict[str, Any]]) -> None:
    """Null dangling parents; set each comment's root by walking accepted parents to a post."""
    for row in posts.values():
        if row["kind"] != "comment":
            continue
        if row["parent_post_id"] not in posts:
            row["parent_post_id"] = None
            continue
        seen, node = {row["post_id"]}, posts[row["parent_post_id"]]
        while node["kind"] == "comment" and node.get("parent_post_id") in posts:
            if node["post_id"] in seen:  # a cycle in malformed data: no root
                break
            seen.add(node["post_id"])
            node = posts[node["parent_post_id"]]
        row["root_post_id"] = node["post_id"] if node["kind"] != "comment" else None


def read(path: Path) -> SourceTables:
    """Read Hacker News items (SQLite / JSON lines) or the posts CSV at ``path``.

    Args:
        path: one ``.db``/``.sqlite``, ``.jsonl``/``.ndjson``/``.json`` or ``.csv`` file, or a
            folder of such files.

    Returns:
        Raw canonical tables; deleted items, poll options and malformed rows are in ``rejects``.

    Raises:
        SourceError: a broken SQLite file, a missing table/column/header, or non-UTF-8 text.
    """
    started = time.perf_counter()
    rejects = Rejects()
    items: dict[str, dict[str, Any]] = {}
    csv_posts: dict[str, dict[str, Any]] = {}
    n_read, has_items = 0, False
    for file in _files(path):
        with file.open("rb") as fh:
            head = fh.read(len(SQLITE_MAGIC))
        if head == SQLITE_MAGIC or file.suffix in SQLITE_SUFFIXES:
            source: Iterator[tuple[int, Any]] = _sqlite_items(file)
        elif file.suffix == ".csv" or head.removeprefix(b"\xef\xbb\xbf").startswith(b"id,"):
            # Rows _csv_rows rejects never come out of it: read = this file's rejects + accepted.
            before, n_accepted = rejects.count("posts"), 0
            for line, row in _csv_rows(file, rejects):
                if row["post_id"] in items or row["post_id"] in csv_posts:
                    rejects.add("posts", file, line, row["post_id"], "duplicate id")
                else:
                    csv_posts[row["post_id"]] = {**row, "_file": file, "_line": line}
                    n_accepted += 1
            n_read += rejects.count("posts") - before + n_accepted
            continue
        else:
            source = _json_items(file)
        has_items = True
        for line, obj in source:
            n_read += 1
            row, reason = (None, obj) if isinstance(obj, str) else _item(obj)
            if (
                reason is None
                and row is not None
                and (row["post_id"] in items or row["post_id"] in csv_posts)
            ):
                reason = "duplicate id"
            if reason is not None or row is None:
                rejects.add("posts", file, line, row and row["post_id"], reason or "unreadable")
                continue
            items[row["post_id"]] = {**row, **provenance(file, line)}
    _resolve(items)
    posts = frame(items.values(), "posts")
    if csv_posts:
        posts = pl.concat([posts, frame(_localise(csv_posts, rejects), "posts")])
    authors = posts["account_id"].unique(maintain_order=True).to_list()
    accounts = frame(
        ({"account_id": a, "platform": PLATFORM, "handle": a} for a in authors), "accounts"
    )
    missing = MISSING_INPUTS + (() if has_items else ("reply_tree",))
    log.info(
        "hackernews: %d records read, %d posts accepted, %d rejected, %d accounts, %.1f s",
        n_read,
        posts.height,
        rejects.count("posts"),
        len(authors),
        time.perf_counter() - started,
    )
    return SourceTables(
        accounts=accounts,
        posts=posts,
        reactions=schema.empty("reactions"),
        rejects=rejects.frame(),
        n_read={"posts": n_read, "reactions": 0},
        platform=PLATFORM,
        missing_inputs=missing,
    )
