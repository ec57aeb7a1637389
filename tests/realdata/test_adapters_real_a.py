"""The reddit, hackernews and usenet adapters on the shared real dumps: counts reconcile with
what the raw files hold (counted here independently) and known facts of the data hold."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path

import polars as pl
import pytest
import zstandard

from analysis import schema
from analysis.sources import read_source

pytestmark = pytest.mark.realdata


def _validate(tables) -> None:
    tables.check_reconciled()
    for table in ("accounts", "posts", "reactions", "rejects"):
        schema.validate(getattr(tables, table), table)


def _zst_records(path: Path) -> list[dict]:
    with path.open("rb") as fh:
        reader = zstandard.ZstdDecompressor(max_window_size=2**31).stream_reader(fh)
        return [json.loads(line) for line in io.TextIOWrapper(reader, encoding="utf-8")]


def test_reddit_comments_month(real_data: Path) -> None:
    path = real_data / "reddit-pushshift" / "RC_2006-01.zst"
    raw = _zst_records(path)
    tables = read_source("reddit", path)
    _validate(tables)
    deleted = {r["id"] for r in raw if r["author"] == "[deleted]"}
    assert (len(raw), len(deleted)) == (3666, 893)
    assert tables.n_read["posts"] == len(raw)
    assert tables.posts.height == len(raw) - len(deleted)
    assert tables.rejects["reason"].unique().to_list() == ["author deleted"]
    assert tables.accounts.height == len({r["author"] for r in raw}) - 1 == 790
    ids = {r["id"] for r in raw}
    to_comment = [r for r in raw if r["parent_id"].startswith("t1_")]
    in_file = [r for r in to_comment if r["parent_id"][3:] in ids]
    assert (len(to_comment), len(in_file)) == (1362, 1304)
    # a link survives exactly when neither the reply nor its parent was by a deleted author
    expected = {
        "t1_" + r["id"]: r["parent_id"]
        for r in in_file
        if r["id"] not in deleted and r["parent_id"][3:] not in deleted
    }
    linked = tables.posts.filter(pl.col("parent_post_id").is_not_null())
    assert dict(zip(linked["post_id"], linked["parent_post_id"], strict=True)) == expected
    assert tables.posts["root_post_id"].null_count() == tables.posts.height  # no submissions
    assert tables.posts["created_at"].min().isoformat().startswith("2006-01-01T00:07")


def test_reddit_folder_of_submissions_and_comments(real_data: Path) -> None:
    folder = real_data / "reddit-pushshift"
    raw = {p.name: _zst_records(p) for p in sorted(folder.glob("*.zst"))}
    tables = read_source("reddit", folder)
    _validate(tables)
    assert tables.n_read["posts"] == sum(map(len, raw.values())) == 3666 + 13050 + 8271
    rejected = tables.rejects.group_by("source_file").len()
    assert dict(rejected.iter_rows()) == {
        "RC_2006-01.zst": 893,
        "AskMen_submissions.zst": 6671,
        "AskWomen_submissions.zst": 4336 + 9,  # and AutoModerator's 9 scheduled threads
    }
    subs = tables.posts.filter(pl.col("kind") == "post")
    kept = [
        r
        for name in ("AskMen_submissions.zst", "AskWomen_submissions.zst")
        for r in raw[name]
        if r["author"] not in ("[deleted]", "AutoModerator")
    ]
    assert subs.height == len(kept)
    assert subs["n_comments_reported"].sum() == sum(r["num_comments"] for r in kept)
    assert subs["labels"].list.first().value_counts().sort("labels").rows() == [
        ("AskMen", 13050 - 6671),
        ("AskWomen", 8271 - 4336 - 9),
    ]
    assert subs["follower_count"].null_count() == subs.height
    assert subs["text"].null_count() == 0  # removed selftexts keep their titles


def test_hackernews_sqlite_items(real_data: Path) -> None:
    folder = real_data / "hackernews-items-1-590"
    con = sqlite3.connect(f"file:{folder / 'hacker_news.db'}?mode=ro", uri=True)
    n_rows, n_authors = con.execute("SELECT count(*), count(DISTINCT by) FROM items").fetchone()
    links = dict(con.execute("SELECT id, parent FROM items WHERE type = 'comment'").fetchall())
    con.close()
    tables = read_source("hackernews", folder)
    _validate(tables)
    assert tables.n_read["posts"] == n_rows == 590
    assert tables.rejects.height == 0  # no deleted items; the 50 dead ones are kept
    kinds = dict(tables.posts.group_by("kind").len().iter_rows())
    assert kinds == {"post": 293, "comment": 297}
    assert tables.accounts.height == n_authors == 166
    comments = tables.posts.filter(pl.col("kind") == "comment")
    assert dict(zip(comments["post_id"], comments["parent_post_id"], strict=True)) == {
        str(k): str(v) for k, v in links.items()
    }
    stories = set(tables.posts.filter(pl.col("kind") == "post")["post_id"])
    assert set(comments["root_post_id"]) <= stories


def test_hackernews_posts_csv(real_data: Path) -> None:
    folder = real_data / "hackernews-posts-2016-09"
    with (folder / "hacker_news.csv").open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    tables = read_source("hackernews", folder)
    _validate(tables)
    assert tables.n_read["posts"] == len(rows) == 14635
    assert tables.posts.height == 14635
    assert tables.accounts.height == len({r["author"] for r in rows}) == 6611
    assert (tables.posts["n_comments_reported"] == 0).sum() == 10808
    assert tables.posts["parent_post_id"].null_count() == 14635
    assert "reply_tree" in tables.missing_inputs
    # Eastern daylight time: 9/26/2016 3:26 is 07:26 UTC
    newest = tables.posts.filter(pl.col("post_id") == "12579008")["created_at"].item()
    assert newest.isoformat() == "2016-09-26T07:26:00+00:00"


def test_usenet_mini_newsgroups(real_data: Path) -> None:
    folder = real_data / "usenet-mini-newsgroups"
    files = [p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")]
    tables = read_source("usenet", folder)
    _validate(tables)
    assert tables.n_read["posts"] == len(files) == 2000
    reasons = dict(tables.rejects.group_by("reason").len().iter_rows())
    assert reasons == {"duplicate Message-ID (cross-posted copy)": 8, "missing From address": 4}
    assert tables.posts.height == 1988
    assert tables.posts["post_id"].n_unique() == 1988  # 1,992 distinct ids less the 4 above
    assert set(tables.posts["labels"].explode()) >= {
        p.name for p in (folder / "mini_newsgroups").iterdir() if p.is_dir()
    }
    replies = tables.posts.filter(pl.col("kind") == "reply")
    # 55 of them without References: named by In-Reply-To or their own attribution line
    assert replies.height == 1285
    ids = set(tables.posts["post_id"])
    assert set(replies["parent_post_id"].drop_nulls()) <= ids
    assert set(replies["root_post_id"].drop_nulls()) <= ids
    assert replies["parent_post_id"].is_not_null().sum() == 89
    # the thread's first article is here although the one answered is not: root kept, no parent
    orphans = replies.filter(pl.col("parent_post_id").is_null())
    assert orphans["root_post_id"].is_not_null().sum() == 32
    addressed = replies.filter(pl.col("reply_to_account_id").is_not_null())
    assert addressed.height == 649
    assert set(addressed["reply_to_account_id"]) <= set(tables.accounts["account_id"])
    lo, hi = tables.posts["created_at"].min(), tables.posts["created_at"].max()
    assert (lo.date().isoformat(), hi.date().isoformat()) == ("1993-02-22", "1993-05-28")
