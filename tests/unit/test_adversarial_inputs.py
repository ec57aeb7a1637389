"""Issue 13: inputs crafted to exhaust memory, disk or time stop early with a clear error."""

from __future__ import annotations

import gzip
import sqlite3

import pytest
import zstandard

from analysis.sources import SourceError, base, read_source


@pytest.fixture
def small_limits(monkeypatch):
    """Limits scaled down so that a bomb of a few MiB trips them (the real ones are 64 MiB+)."""
    monkeypatch.setattr(base, "INFLATION_GRACE_BYTES", 1 << 20)
    monkeypatch.setattr(base, "MAX_LINE_BYTES", 1 << 20)


def test_zst_bomb_stops_on_inflation(tmp_path, small_limits) -> None:
    """A few KB of .zst that expands to one endless line (was 7.4 GB RSS at 1 GiB)."""
    path = tmp_path / "RC_bomb.zst"
    path.write_bytes(zstandard.ZstdCompressor().compress(b"a" * (32 << 20)))
    assert path.stat().st_size < 8_000
    with pytest.raises(SourceError, match=r"RC_bomb.zst: inflates more than 200x"):
        read_source("reddit", path)


def test_one_overlong_line_stops_before_filling_memory(tmp_path, small_limits) -> None:
    """A plain NDJSON file (no compression) with one 3 MiB line: named with its line number."""
    path = tmp_path / "RC_long.ndjson"
    line = b'{"id": "x", "body": "' + b"b" * (3 << 20) + b'"}'
    path.write_bytes(b'{"id": "a"}\n' + line + b"\n")
    with pytest.raises(SourceError, match=r"RC_long.ndjson, line 2: a line longer than 1 MiB"):
        read_source("reddit", path)


def test_ordinary_zst_lines_still_read(tmp_path, small_limits) -> None:
    """Many ordinary records (compress well, but not like a bomb) are read line by line."""
    from analysis.sources.reddit import _lines

    body = b"".join(
        b'{"id": "c%d", "author": "u%d", "body": "text %d"}\n' % (i, i % 50, i)
        for i in range(20000)
    )
    path = tmp_path / "RC_ok.zst"
    path.write_bytes(zstandard.ZstdCompressor().compress(body))
    lines = list(_lines(path))
    assert len(lines) == 20000 and lines[-1][0] == 20000


def test_gzip_bomb_in_a_stack_exchange_dump_stops_on_inflation(tmp_path, small_limits) -> None:
    """A .xml.gz whose one attribute inflates to megabytes of the same byte."""
    site = tmp_path / "site"
    site.mkdir()
    posts = b'<?xml version="1.0" encoding="utf-8"?>\n<posts>\n  <row Id="1" Body="'
    posts += b"x" * (32 << 20) + b'" />\n</posts>\n'
    (site / "Posts.xml.gz").write_bytes(gzip.compress(posts, compresslevel=9))
    (site / "Users.xml").write_text('<?xml version="1.0"?>\n<users>\n</users>\n')
    with pytest.raises(SourceError, match=r"Posts.xml.gz: inflates more than 200x"):
        read_source("stackexchange", site)


def test_gzip_bomb_in_a_tweet_file_stops_on_inflation(tmp_path, small_limits) -> None:
    from analysis.sources.twitter_files import _bytes

    path = tmp_path / "tweets.jsonl.gz"
    path.write_bytes(gzip.compress(b" " * (32 << 20), compresslevel=9))
    with pytest.raises(SourceError, match=r"tweets.jsonl.gz: inflates more than 200x"):
        _bytes(path)


def _hn_db(path, items_sql: str) -> None:
    con = sqlite3.connect(path)
    con.executescript(items_sql)
    con.commit()
    con.close()


def test_sqlite_items_as_a_recursive_view_is_refused(tmp_path) -> None:
    """A 4 KB file whose items view recurses forever (grew temp disk 0.5 GB per 30 s)."""
    db = tmp_path / "hn.db"
    _hn_db(
        db,
        """
        CREATE VIEW items AS
          WITH RECURSIVE r(id, type, by, time, text, parent) AS (
            SELECT 1, 'story', 'u', 0, 'x', NULL
            UNION ALL SELECT id + 1, type, by, time, text, parent FROM r)
          SELECT * FROM r;
        """,
    )
    with pytest.raises(SourceError, match=r"hn.db: 'items' is a view, not a table"):
        read_source("hackernews", db)


def test_sqlite_query_without_progress_is_interrupted(tmp_path, monkeypatch) -> None:
    """The progress handler interrupts a query that yields no row in time (stall limit 0 s)."""
    from analysis.sources import hackernews

    db = tmp_path / "hn.db"
    rows = ",".join(f"({i}, 'story', 'u{i}', {1_600_000_000 + i}, 'text')" for i in range(1, 3000))
    _hn_db(
        db,
        "CREATE TABLE items (id INTEGER, type TEXT, by TEXT, time INTEGER, text TEXT, "
        f"parent INTEGER, title TEXT, url TEXT, score INTEGER, descendants INTEGER);"
        f"INSERT INTO items (id, type, by, time, text) VALUES {rows};",
    )
    monkeypatch.setattr(hackernews, "SQLITE_STALL_S", -1.0)
    monkeypatch.setattr(hackernews, "SQLITE_PROGRESS_STEPS", 100)
    with pytest.raises(SourceError, match=r"hn.db: no row for -1 s \(query interrupted\)"):
        read_source("hackernews", db)
    monkeypatch.setattr(hackernews, "SQLITE_STALL_S", 60.0)
    assert read_source("hackernews", db).posts.height == 2999
