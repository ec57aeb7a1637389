"""Unit tests of the Hacker News adapter: SQLite items, JSON lines and the posts CSV."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from analysis import schema
from analysis.sources import hackernews
from analysis.sources.base import SourceError

COLUMNS = (
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
    "kids",
    "deleted",
    "dead",
)
ITEMS = [
    (
        1,
        "story",
        "pg",
        1160418111,
        None,
        "http://ycombinator.com",
        "Y Combinator",
        57,
        3,
        None,
        "[2]",
        0,
        0,
    ),
    (
        2,
        "comment",
        "sama",
        1160423461,
        "&#34;rising&#34; <i>star</i><p>second",
        None,
        None,
        None,
        None,
        1,
        "[3]",
        0,
        0,
    ),
    (3, "comment", "pg", 1160423565, "Is there?", None, None, None, None, 2, None, 0, 0),
    (4, "comment", "zak", 1160423600, "killed", None, None, None, None, 1, None, 0, 1),
    (5, "comment", None, 1160423700, None, None, None, None, None, 1, None, 1, 0),
    (
        6,
        "comment",
        "jl",
        1160423800,
        "answer to a deleted item",
        None,
        None,
        None,
        None,
        5,
        None,
        0,
        0,
    ),
    (7, "story", "spez", 1160490910, None, None, "killed story", 1, -1, None, None, 0, 1),
    (8, "pollopt", "pg", 1160490999, "yes", None, None, 3, None, 7, None, 0, 0),
]


def _db(path: Path, rows: list[tuple] = ITEMS) -> Path:
    con = sqlite3.connect(path)
    con.execute(f"CREATE TABLE items ({', '.join(COLUMNS)})")
    con.executemany(f"INSERT INTO items VALUES ({', '.join('?' * len(COLUMNS))})", rows)
    con.commit()
    con.close()
    return path


def test_sqlite_items_map_to_posts_and_comments(tmp_path: Path) -> None:
    tables = hackernews.read(_db(tmp_path / "hn.db"))
    tables.check_reconciled()
    posts = {r["post_id"]: r for r in tables.posts.to_dicts()}
    assert set(posts) == {"1", "2", "3", "4", "6", "7"}
    assert (
        posts["1"]["kind"],
        posts["1"]["text"],
        posts["1"]["score"],
        posts["1"]["n_comments_reported"],
    ) == ("post", "Y Combinator", 56, 3)  # 57 points less the author's own upvote
    assert posts["1"]["created_at"] == datetime(2006, 10, 9, 18, 21, 51, tzinfo=UTC)
    assert posts["2"]["text"] == '"rising" star\n\nsecond'
    assert (posts["3"]["parent_post_id"], posts["3"]["root_post_id"]) == ("2", "1")
    assert posts["4"]["parent_post_id"] == "1"  # dead items are kept
    assert (posts["6"]["parent_post_id"], posts["6"]["root_post_id"]) == (None, None)
    assert posts["7"]["n_comments_reported"] is None  # negative descendants
    # every HN item starts at 1 point, the author's own upvote; comments carry no score
    assert (posts["7"]["score"], posts["2"]["score"]) == (0, None)
    reasons = dict(zip(tables.rejects["record_key"], tables.rejects["reason"], strict=True))
    assert reasons == {"5": "author deleted", "8": "poll option"}
    assert tables.rejects["source_line"].to_list() == [5, 8]
    assert set(tables.accounts["account_id"]) == {"pg", "sama", "zak", "jl", "spez"}
    for table in ("accounts", "posts", "reactions", "rejects"):
        schema.validate(getattr(tables, table), table)


def test_json_lines_items(tmp_path: Path) -> None:
    path = tmp_path / "items.jsonl"
    objs = [dict(zip(COLUMNS, row, strict=True)) for row in ITEMS[:3]]
    objs[0]["kids"] = [2]
    lines = [json.dumps(o) for o in objs] + ["", "{broken", json.dumps({"type": "story"})]
    path.write_text("\n".join(lines), encoding="utf-8")
    tables = hackernews.read(path)
    tables.check_reconciled()
    assert tables.posts["post_id"].to_list() == ["1", "2", "3"]
    assert tables.rejects.select("source_line", "reason").rows() == [
        (5, "not valid JSON"),
        (6, "missing id"),
    ]


CSV = (
    "\ufeffid,title,url,num_points,num_comments,author,created_at\n"
    "12579008,You have two days,http://x.org,1,0,altstar,9/26/2016 3:26\n"
    '12579005,"SQLAR, the SQLite Archiver",https://sqlite.org,5,2,blacksqr,9/26/2016 3:24\n'
    "12579004,No author,http://y.org,1,0,,9/26/2016 3:20\n"
    "12579003,Bad date,http://y.org,1,0,joe,26/9/2016\n"
    "12579002,Too few,fields\n"
    "12579001,In the DST gap,http://z.org,1,0,ann,3/13/2016 2:30\n"
    "12579005,Duplicate,http://y.org,1,0,joe,9/26/2016 3:00\n"
)


def test_csv_export_is_read_as_eastern_time(tmp_path: Path) -> None:
    path = tmp_path / "hacker_news.csv"
    path.write_bytes(CSV.encode("utf-8"))
    tables = hackernews.read(path)
    tables.check_reconciled()
    posts = {r["post_id"]: r for r in tables.posts.to_dicts()}
    assert set(posts) == {"12579008", "12579005"}
    # 3:26 EDT (UTC-4) is 7:26 UTC
    assert posts["12579008"]["created_at"] == datetime(2016, 9, 26, 7, 26, tzinfo=UTC)
    assert (
        posts["12579005"]["text"],
        posts["12579005"]["score"],
        posts["12579005"]["n_comments_reported"],
    ) == ("SQLAR, the SQLite Archiver", 4, 2)  # 5 points less the author's own upvote
    assert posts["12579008"]["score"] == 0  # 1 point: no one else voted
    assert tables.rejects.select("source_line", "reason").rows() == [
        (4, "author deleted"),
        (5, "unparsable created_at"),
        (6, "wrong number of fields"),
        (8, "duplicate id"),
        (7, "nonexistent local time (daylight saving gap)"),
    ]
    assert "reply_tree" in tables.missing_inputs


def test_csv_with_wrong_header_raises(tmp_path: Path) -> None:
    path = tmp_path / "posts.csv"
    path.write_text("id,headline,points\n1,x,2\n", encoding="utf-8")
    with pytest.raises(SourceError, match="line 1: header"):
        hackernews.read(path)


def test_csv_in_utf16_raises(tmp_path: Path) -> None:
    path = tmp_path / "posts.csv"
    path.write_bytes(CSV.encode("utf-16"))
    with pytest.raises(SourceError, match="not UTF-8"):
        hackernews.read(path)


def test_truncated_sqlite_raises(tmp_path: Path) -> None:
    rows = [
        (i, "story", "pg", 1160418111 + i, "x" * 500, None, "t", 1, 0, None, None, 0, 0)
        for i in range(1, 400)
    ]
    full = _db(tmp_path / "full.db", rows).read_bytes()
    cut = tmp_path / "cut.db"
    cut.write_bytes(full[: len(full) // 3])
    with pytest.raises(SourceError):
        hackernews.read(cut)


def test_sqlite_without_items_table_raises(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE stories (id INTEGER)")
    con.close()
    with pytest.raises(SourceError, match="no table 'items'"):
        hackernews.read(path)
