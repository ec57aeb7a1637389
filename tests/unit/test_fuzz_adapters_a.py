"""Fuzz the reddit, hackernews and usenet adapters with broken variants of real records.

Samples come from the shared real dumps when present, else from small inline records. Each
variant is truncated, re-encoded (Latin-1 / UTF-16) and/or has fields dropped; the adapter must
either ingest it with reconciled rejects or raise ``SourceError``, never anything else.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import tempfile
from collections.abc import Callable
from pathlib import Path

import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.sources import hackernews, reddit, usenet
from analysis.sources.base import SourceError, SourceTables

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real"
FUZZ = settings(
    max_examples=30, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
ENCODINGS = st.sampled_from(["utf-8", "latin-1", "utf-16"])


def _reddit_samples() -> list[dict]:
    path = REAL / "reddit-pushshift" / "RC_2006-01.zst"
    if path.exists():
        with path.open("rb") as fh:
            reader = zstandard.ZstdDecompressor(max_window_size=2**31).stream_reader(fh)
            lines = io.TextIOWrapper(reader, encoding="utf-8")
            return [json.loads(next(lines)) for _ in range(6)]
    return [
        {
            "id": "c1",
            "author": "jh99",
            "body": "early 2006 – a date",
            "created_utc": 1136074029,
            "score": 0,
            "parent_id": "t3_1",
            "link_id": "t3_1",
            "subreddit": "reddit.com",
        },
        {
            "id": "c2",
            "author": "bob",
            "body": "reply é",
            "created_utc": 1136074100,
            "score": 1,
            "parent_id": "t1_c1",
            "link_id": "t3_1",
            "subreddit": "reddit.com",
        },
        {
            "id": "s1",
            "author": "ann",
            "title": "Why?",
            "selftext": "[removed]",
            "created_utc": 1569888142,
            "score": 3,
            "num_comments": 2,
            "subreddit": "AskMen",
        },
    ]


def _hn_samples() -> list[dict]:
    path = REAL / "hackernews-items-1-590" / "hacker_news.db"
    if path.exists():
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        con.row_factory = sqlite3.Row
        rows = [dict(r) for r in con.execute("SELECT * FROM items WHERE id <= 17 OR id = 29")]
        con.close()
        return rows
    return [
        {
            "id": 1,
            "type": "story",
            "by": "pg",
            "time": 1160418111,
            "text": None,
            "url": "http://ycombinator.com",
            "title": "Y Combinator",
            "score": 57,
            "descendants": 3,
            "parent": None,
            "kids": "[2]",
            "deleted": 0,
            "dead": 0,
        },
        {
            "id": 2,
            "type": "comment",
            "by": "sama",
            "time": 1160423461,
            "text": "&#34;hi&#34;",
            "url": None,
            "title": None,
            "score": None,
            "descendants": None,
            "parent": 1,
            "kids": None,
            "deleted": 0,
            "dead": 1,
        },
    ]


def _usenet_samples() -> list[bytes]:
    folder = REAL / "usenet-mini-newsgroups" / "mini_newsgroups"
    if folder.exists():
        return [p.read_bytes() for p in sorted((folder / "sci.space").iterdir())[:4]]
    return [
        b"Newsgroups: sci.space\nFrom: jdoe@moon.edu (Jane Doe)\nSubject: Orbits\n"
        b"Message-ID: <1@moon.edu>\nDate: Mon, 05 Apr 93 18:01:16 GMT\n\nEllipses.\n",
        b"Newsgroups: sci.space\nFrom: Ren\xe9 <r@v.fr>\nSubject: Re: Orbits\n"
        b"Message-ID: <2@v.fr>\nReferences: <1@moon.edu>\nDate: 6 Apr 1993 10:00:00 -0400\n\n"
        b"In article <1@moon.edu>, jdoe@moon.edu (Jane Doe) writes:\n> Ellipses.\nNo.\n",
    ]


REDDIT, HN, USENET = _reddit_samples(), _hn_samples(), _usenet_samples()


def _reencode(data: bytes, encoding: str) -> bytes:
    return data.decode("utf-8", errors="replace").encode(encoding, errors="replace")


def _check(read: Callable[[Path], SourceTables], path: Path) -> None:
    try:
        tables = read(path)
    except SourceError:
        return
    tables.check_reconciled()


def _drop(records: list[dict], data: st.DataObject) -> list[dict]:
    out = []
    for rec in records:
        keys = data.draw(st.sets(st.sampled_from(sorted(rec)), max_size=len(rec)))
        out.append({k: v for k, v in rec.items() if k not in keys})
    return out


@FUZZ
@given(data=st.data(), encoding=ENCODINGS, compress=st.booleans(), cut=st.floats(0.05, 1.0))
def test_reddit_survives_broken_variants(
    data: st.DataObject, encoding: str, compress: bool, cut: float
) -> None:
    records = _drop(REDDIT, data)
    raw = _reencode(
        b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in records), encoding
    )
    if compress:
        raw = zstandard.ZstdCompressor().compress(raw)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ("RC.zst" if compress else "RC.ndjson")
        path.write_bytes(raw[: max(1, int(len(raw) * cut))])
        _check(reddit.read, path)


@FUZZ
@given(
    data=st.data(),
    variant=st.sampled_from(["db", "jsonl", "csv"]),
    encoding=ENCODINGS,
    cut=st.floats(0.05, 1.0),
)
def test_hackernews_survives_broken_variants(
    data: st.DataObject, variant: str, encoding: str, cut: float
) -> None:
    records = _drop(HN, data)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"items.{variant}"
        if variant == "db":
            cols = sorted({k for r in records for k in r}) or ["id"]
            con = sqlite3.connect(path)
            con.execute(f"CREATE TABLE items ({', '.join(f'[{c}]' for c in cols)})")
            con.executemany(
                f"INSERT INTO items VALUES ({', '.join('?' * len(cols))})",
                [[r.get(c) for c in cols] for r in records],
            )
            con.commit()
            con.close()
            raw = path.read_bytes()
        elif variant == "jsonl":
            raw = _reencode("\n".join(json.dumps(r) for r in records).encode(), encoding)
        else:
            out = io.StringIO()
            cols = data.draw(
                st.lists(
                    st.sampled_from(
                        ["id", "title", "url", "num_points", "num_comments", "author", "created_at"]
                    ),
                    min_size=5,
                    max_size=7,
                    unique=True,
                )
            )
            writer = csv.writer(out)
            writer.writerow(cols)
            for r in records:
                row = {
                    "id": r.get("id"),
                    "title": r.get("title"),
                    "url": r.get("url"),
                    "num_points": r.get("score"),
                    "num_comments": r.get("descendants"),
                    "author": r.get("by"),
                    "created_at": "9/26/2016 3:26",
                }
                writer.writerow([row[c] for c in cols])
            raw = _reencode(("\ufeff" + out.getvalue()).encode(), encoding)
        path.write_bytes(raw[: max(1, int(len(raw) * cut))])
        _check(hackernews.read, path)


@FUZZ
@given(data=st.data(), encoding=ENCODINGS, cut=st.floats(0.02, 1.0))
def test_usenet_survives_broken_variants(data: st.DataObject, encoding: str, cut: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for i, article in enumerate(USENET):
            lines = article.split(b"\n")
            header_names = sorted({ln.split(b":")[0] for ln in lines[:15] if b":" in ln})
            dropped = data.draw(st.sets(st.sampled_from(header_names), max_size=3))
            kept = b"\n".join(ln for ln in lines if ln.split(b":")[0] not in dropped)
            raw = kept.decode("latin-1").encode(encoding, errors="replace")
            path = Path(tmp) / "group" / str(i)
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(raw[: max(1, int(len(raw) * cut))])
        _check(usenet.read, Path(tmp))
