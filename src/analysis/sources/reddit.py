"""Adapter ``reddit``: Pushshift NDJSON dumps (zstd-compressed or plain) into raw canonical tables.

Serves stage ``ingest``. ``source.path`` is one file or a folder of files (``*.zst``,
``*.ndjson``, ``*.jsonl``, ``*.json``); a file is zstd when it starts with the zstd magic
number, whatever its name. Pushshift month files declare a 2 GiB window, so the decoder allows
``max_window_size=2**31``. One JSON object per line; each record is detected on its own:

* a **comment** (``RC_*`` files) has ``parent_id`` / ``link_id`` and no ``title``:
  kind ``comment``, ``post_id = "t1_" + id``, parent from ``parent_id`` (``t1_`` = a comment,
  ``t3_`` = a submission), root from ``link_id``; text = ``body``;
* a **submission** (``RS_*`` files) has a ``title``: kind ``post``, ``post_id = "t3_" + id``,
  text = title, plus ``selftext`` when it has one; ``num_comments`` -> ``n_comments_reported``.

Both map ``score`` minus 1 -> ``score``, ``created_utc`` -> ``created_at`` (UTC), ``retrieved_on``
(or ``retrieved_utc``: when Pushshift fetched the item, and so took its score and comment count)
-> ``totals_taken_at`` and ``subreddit`` -> ``labels``, except a user's profile (subreddit
``u_<name>``: its name is the author's handle) -> the label :data:`PROFILE_LABEL`. Reddit casts
the author's own upvote on every new submission and comment (a fresh item shows 1 point), so the
canonical ``score``, the net vote of *others*, is Reddit's points minus that automatic vote, and
models read ``max(points - 1, 0)`` as upvotes received (on ``RC_2006-01``, 930 of 2,773
attributed comments show exactly 1 point: no one else voted). Ids keep Reddit's type prefixes
(``t1_``/``t3_``) because comment and submission ids
share one base-36 space. ``account_id`` and ``handle`` are the user name (stable and unique on
Reddit and the only id the 2006 comments carry; ``author_fullname`` is ignored so that the same
person keeps one id across comment and submission files); ``accounts.created_at`` is
``author_created_utc`` where a record has it. Subreddit ``subscribers`` are the community's
audience, not the author's, so nothing is mapped to ``follower_count``.

Rules for what Reddit took away:

* ``[removed]``/``[deleted]`` bodies: the item is kept with ``text`` null (a submission keeps its
  title, which Pushshift captured before removal, as its text).
* Authors ``[deleted]`` (or null): the item cannot be attributed to anyone, so it is rejected
  with reason ``author deleted``. Measured on the development dumps: 893 of 3,666 comments in
  ``RC_2006-01``, 6,671 of 13,050 r/AskMen and 4,336 of 8,271 r/AskWomen submissions of Oct 2019.
* ``AutoModerator`` is Reddit's moderation bot, run by each subreddit's moderators: not a
  person. Its submissions (scheduled threads such as r/AskWomen's "Casual Convo Fridays") and
  comments (rule reminders) are rejected with reason :data:`SYSTEM_REASON`; kept, it was a
  participant credited with the comments people wrote in those threads (r/AskWomen, Oct 2019:
  9 submissions, 409 comments reported, 141 points from others). Comments of people below its
  items stay, detached and addressed to it, so at ingest it is a non-participant.
* No dangling links: a parent or root that is not among the accepted posts (not in the dump,
  or rejected, e.g. by a deleted author) becomes null; a comment whose parent is gone keeps
  its submission as root where that is accepted (its thread is known); ``kind`` stays
  ``comment``. Reddit does not tell whom such a comment answered, so
  ``reply_to_account_id`` stays null (but for a parent of ``AutoModerator``, above).

Malformed records (bad JSON, missing id, unparsable time, out-of-range time, duplicate id) go
to rejects with file and line. A truncated zstd stream or text that is not UTF-8 raises
:class:`SourceError`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import zstandard

from analysis import schema
from analysis.sources.base import (
    Rejects,
    SourceError,
    SourceTables,
    check_inflation,
    check_line,
    frame,
    provenance,
)

log = logging.getLogger(__name__)

PLATFORM = "reddit"
SUFFIXES = (".zst", ".ndjson", ".jsonl", ".json")
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
MAX_WINDOW = 2**31  # Pushshift month files declare a 2 GiB window
CHUNK_BYTES = 1 << 20
REMOVED_BODIES = frozenset({"[removed]", "[deleted]"})
DELETED_AUTHORS = frozenset({"[deleted]", "[removed]"})
#: Accounts of Reddit's own machinery, not people (see the module docstring).
SYSTEM_AUTHORS = frozenset({"AutoModerator"})
SYSTEM_REASON = "Reddit's moderation bot (AutoModerator), not a person (out of scope; not ingested)"
#: The label of a post on a user's profile. Reddit files those under a subreddit named
#: ``u_<user name>``; kept as the label, it put the author's handle beside their pseudonym on
#: every profile post (ingest drops a label only when it is a known name as a whole token).
PROFILE_LABEL = "user profile"
MISSING_INPUTS = ("follower_count", "reactions", "n_views")
#: Reddit's automatic upvote by the author on every new item, removed from ``score``.
AUTHOR_SELF_VOTE = 1


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix in SUFFIXES)
    if not found:
        raise SourceError(
            path, None, "no Pushshift files in the folder", "files ending in " + ", ".join(SUFFIXES)
        )
    return found


#: Compressed bytes fed to the decompressor per call: zstd inflates at most ~32,768x (RLE
#: blocks), so one call yields at most ~64 MiB before the bomb check runs again.
ZST_SLICE = 2048


def _zst_chunks(path: Path) -> Iterator[bytes]:
    """Decompress every frame of ``path``; a stream cut inside a frame is a SourceError.

    ``stream_reader`` returns short data silently on a truncated file, so frames are decoded
    with ``decompressobj`` and the end of each frame is checked. Input is fed in small slices
    and the inflation checked after each (``base.check_inflation``): a bomb stops early.
    """
    dctx = zstandard.ZstdDecompressor(max_window_size=MAX_WINDOW)
    dobj, in_frame = dctx.decompressobj(), False
    n_in = n_out = 0
    try:
        with path.open("rb") as fh:
            while block := fh.read(CHUNK_BYTES):
                for start in range(0, len(block), ZST_SLICE):
                    chunk = block[start : start + ZST_SLICE]
                    n_in += len(chunk)
                    while chunk:
                        in_frame = True
                        out = dobj.decompress(chunk)
                        if out:
                            n_out += len(out)
                            check_inflation(path, n_in, n_out)
                            yield out
                        if not dobj.eof:
                            break
                        chunk, dobj, in_frame = dobj.unused_data, dctx.decompressobj(), False
    except zstandard.ZstdError as exc:
        raise SourceError(
            path,
            None,
            f"zstd stream cannot be decoded ({exc})",
            "a zstandard-compressed NDJSON file",
        ) from exc
    if in_frame:
        raise SourceError(
            path,
            None,
            "zstd stream ends inside a frame (truncated file)",
            "a complete zstandard file",
        )


def _plain_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK_BYTES):
            yield chunk


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yield (1-based line number, text) of every non-blank line, decoded as strict UTF-8.

    A line longer than ``base.MAX_LINE_BYTES`` stops the read before it fills the memory.
    """
    with path.open("rb") as fh:
        is_zst = fh.read(4) == ZSTD_MAGIC
    chunks = _zst_chunks(path) if is_zst else _plain_chunks(path)
    parts: list[bytes] = []  # the current line so far, without copying it on every chunk
    n_pending, number = 0, 0
    for chunk in chunks:
        if b"\n" not in chunk:
            parts.append(chunk)
            n_pending += len(chunk)
            check_line(path, number + 1, n_pending)
            continue
        first, *complete, last = chunk.split(b"\n")
        parts.append(first)
        check_line(path, number + 1, n_pending + len(first))
        for raw in (b"".join(parts), *complete):
            number += 1
            check_line(path, number, len(raw))
            if raw.strip():
                yield number, _decode(path, number, raw)
        parts, n_pending = [last], len(last)
    pending = b"".join(parts)
    if pending.strip():
        yield number + 1, _decode(path, number + 1, pending)


def _decode(path: Path, number: int, raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SourceError(
            path,
            number,
            f"text is not UTF-8 ({exc.reason} at byte {exc.start})",
            "UTF-8 NDJSON as Pushshift writes it",
        ) from exc


def _time(value: Any) -> datetime | None:
    """Unix seconds (int, float or numeric string) -> UTC datetime; None if unparsable."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        return datetime.fromtimestamp(float(value), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _count(value: Any) -> tuple[bool, int | None]:
    """(ok, value) for an optional integer field: null is fine, a non-integer is not."""
    if value is None:
        return True, None
    if isinstance(value, bool):
        return False, None
    if isinstance(value, int):
        return True, value
    if isinstance(value, float) and value.is_integer():
        return True, int(value)
    return False, None


def _fullname(value: Any, prefixes: tuple[str, ...]) -> str | None:
    if isinstance(value, str) and value.startswith(prefixes) and len(value) > 3:
        return value
    return None


def _record(obj: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """Map one Pushshift object to a post row (raw links) or return a reject reason."""
    is_submission = "title" in obj
    if not is_submission and "parent_id" not in obj and "link_id" not in obj:
        return None, "neither a comment nor a submission"
    raw_id = obj.get("id")
    if not isinstance(raw_id, str) or not raw_id.strip():
        return None, "missing id"
    raw_id = raw_id.strip().removeprefix("t3_" if is_submission else "t1_")
    post_id = ("t3_" if is_submission else "t1_") + raw_id
    author = obj.get("author")
    if author is None or author in DELETED_AUTHORS:
        return {"post_id": post_id}, "author deleted"
    if not isinstance(author, str) or not author.strip():
        return {"post_id": post_id}, "missing author"
    if author in SYSTEM_AUTHORS:
        return {"post_id": post_id, "account_id": author}, SYSTEM_REASON
    created = _time(obj.get("created_utc"))
    if created is None:
        return {"post_id": post_id}, "unparsable created_utc"
    if not schema.MIN_TIME <= created <= schema.max_time():
        return {"post_id": post_id}, "created_at out of range"
    ok, score = _count(obj.get("score"))
    if not ok:
        return {"post_id": post_id}, "unparsable score"
    if score is not None:
        score -= AUTHOR_SELF_VOTE  # net vote of others (see the module docstring)
    subreddit = obj.get("subreddit")
    if isinstance(subreddit, str) and subreddit.lower().startswith("u_"):
        subreddit = PROFILE_LABEL
    row: dict[str, Any] = {
        "post_id": post_id,
        "platform": PLATFORM,
        "account_id": author,
        "created_at": created,
        "score": score,
        # Pushshift captured score and num_comments when it fetched the item, often years later
        "totals_taken_at": _time(obj.get("retrieved_on", obj.get("retrieved_utc"))),
        "labels": [subreddit] if isinstance(subreddit, str) and subreddit else None,
        "_author_created": _time(obj.get("author_created_utc")),
    }
    if is_submission:
        ok, n_comments = _count(obj.get("num_comments"))
        if not ok:
            return {"post_id": post_id}, "unparsable num_comments"
        title = obj.get("title") if isinstance(obj.get("title"), str) else ""
        body = obj.get("selftext") if isinstance(obj.get("selftext"), str) else ""
        body = "" if body in REMOVED_BODIES else body
        text = "\n\n".join(part for part in (title.strip(), body.strip()) if part)
        row.update(kind="post", text=text or None, n_comments_reported=n_comments)
        return row, None
    parent = _fullname(obj.get("parent_id"), ("t1_", "t3_"))
    if parent is None:
        return {"post_id": post_id}, "unparsable parent_id"
    body = obj.get("body") if isinstance(obj.get("body"), str) else None
    row.update(
        kind="comment",
        text=None if body is None or body in REMOVED_BODIES or not body.strip() else body,
        parent_post_id=parent,
        root_post_id=_fullname(obj.get("link_id"), ("t3_",)),
    )
    return row, None


def read(path: Path) -> SourceTables:
    """Read Pushshift comment and/or submission dumps at ``path`` (a file or a folder).

    Args:
        path: one ``.zst``/``.ndjson``/``.jsonl`` file, or a folder of them.

    Returns:
        Raw canonical tables; deleted authors and malformed records are in ``rejects``.

    Raises:
        SourceError: a truncated zstd stream, text that is not UTF-8, or no input files.
    """
    started = time.perf_counter()
    rejects = Rejects()
    posts: dict[str, dict[str, Any]] = {}
    system: dict[str, str] = {}  # id of a rejected item of a system account -> that account
    n_read = 0
    for file in _files(path):
        for number, line in _lines(file):
            n_read += 1
            try:
                obj = json.loads(line)
            except (json.JSONDecodeError, RecursionError):
                rejects.add("posts", file, number, None, "not valid JSON")
                continue
            if not isinstance(obj, dict):
                rejects.add("posts", file, number, None, "not a JSON object")
                continue
            row, reason = _record(obj)
            if reason is None and row is not None and row["post_id"] in posts:
                reason = "duplicate id"
            if reason is not None:
                rejects.add("posts", file, number, row and row["post_id"], reason)
                if reason == SYSTEM_REASON and row is not None:
                    system[row["post_id"]] = row["account_id"]
                continue
            assert row is not None
            posts[row["post_id"]] = {**row, **provenance(file, number)}
    accounts: dict[str, dict[str, Any]] = {}
    for row in posts.values():
        # Only links to accepted posts survive; a comment whose parent is gone keeps its
        # submission (link_id) as root where that is here: its thread is known.
        if row["kind"] == "comment":
            if row["root_post_id"] not in posts:
                row["root_post_id"] = None
            if row["parent_post_id"] not in posts:
                # a reply to a system account's item: addressed to it (a non-participant)
                row["reply_to_account_id"] = system.get(row["parent_post_id"])
                row["parent_post_id"] = None
        author_created = row.pop("_author_created")
        acct = accounts.setdefault(
            row["account_id"],
            {
                "account_id": row["account_id"],
                "platform": PLATFORM,
                "handle": row["account_id"],
                "created_at": None,
                # the account is known from its first post: that post's file and line
                "source_file": row["source_file"],
                "source_line": row["source_line"],
            },
        )
        if author_created is not None and (
            acct["created_at"] is None or author_created < acct["created_at"]
        ):
            acct["created_at"] = author_created
    n_comments = sum(1 for r in posts.values() if r["kind"] == "comment")
    missing = MISSING_INPUTS + (() if n_comments else ("reply_tree",))
    log.info(
        "reddit: %d records read, %d posts accepted (%d comments), %d rejected, "
        "%d accounts, %.1f s",
        n_read,
        len(posts),
        n_comments,
        rejects.count("posts"),
        len(accounts),
        time.perf_counter() - started,
    )
    return SourceTables(
        accounts=frame(accounts.values(), "accounts"),
        posts=frame(posts.values(), "posts"),
        reactions=schema.empty("reactions"),
        rejects=rejects.frame(),
        n_read={"posts": n_read, "reactions": 0},
        platform=PLATFORM,
        missing_inputs=missing,
    )
