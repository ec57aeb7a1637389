"""The canonical adapter: Parquet, CSV and JSONL folders, rejects with lines, clear errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from analysis import schema
from analysis.sources import SourceError, canonical, read_source


def _write_csv(folder, posts_rows: list[str]) -> None:
    folder.mkdir(exist_ok=True)
    (folder / "accounts.csv").write_text("account_id,platform,handle\na,forum,al\nb,forum,bo\n")
    (folder / "posts.csv").write_text(
        "post_id,platform,account_id,kind,parent_post_id,created_at,text,labels,n_views\n"
        + "\n".join(posts_rows)
        + "\n"
    )


def test_csv_dump_maps_and_rejects_unparsable_rows_with_their_line(tmp_path) -> None:
    _write_csv(
        tmp_path / "d",
        [
            "p1,forum,a,post,,2024-01-02T03:04:05Z,hello,tea|coffee,10",
            "p2,forum,b,reply,p1,2024-01-02T04:00:00Z,hi,,",
            "p3,forum,b,reply,p1,not-a-date,broken,,",
            ",forum,b,post,,2024-01-02T04:00:00Z,no id,,",
            "p5,forum,b,post,,2024-01-02T05:00:00Z,bad views,,many",
        ],
    )
    t = read_source("canonical", tmp_path / "d")
    assert t.posts["post_id"].to_list() == ["p1", "p2"]
    assert t.posts["labels"].to_list()[0] == ["tea", "coffee"]
    assert t.posts.schema["created_at"] == schema.UTC_TIME
    rej = t.rejects.sort("source_line")
    assert rej["source_line"].to_list() == [4, 5, 6]
    assert rej["reason"].to_list() == [
        "unparsable created_at",
        "missing required post_id",
        "unparsable n_views",
    ]
    assert set(rej["source_file"]) == {"posts.csv"}
    t.check_reconciled()


def test_jsonl_and_parquet_routes_give_the_same_tables(tmp_path, small_demo) -> None:
    pq, js = tmp_path / "pq", tmp_path / "js"
    pq.mkdir(), js.mkdir()
    for table in ("accounts", "posts", "reactions"):
        df = getattr(small_demo, table).head(200)
        df.write_parquet(pq / f"{table}.parquet")
        with open(js / f"{table}.jsonl", "w") as fh:
            for row in df.with_columns(
                pl.col("created_at").dt.to_string("%Y-%m-%dT%H:%M:%S%.f%z")
            ).to_dicts():
                fh.write(json.dumps(row) + "\n")
    a, b = read_source("canonical", pq), read_source("canonical", js)
    for table in ("accounts", "posts", "reactions"):
        # the same rows, each naming its own file at the same line
        assert getattr(a, table)["source_file"].unique().to_list() == [f"{table}.parquet"]
        assert getattr(b, table)["source_file"].unique().to_list() == [f"{table}.jsonl"]
        assert getattr(a, table)["source_line"].equals(getattr(b, table)["source_line"])
        assert getattr(a, table).drop("source_file").equals(getattr(b, table).drop("source_file"))


def test_missing_posts_table_names_what_was_expected(tmp_path) -> None:
    (tmp_path / "accounts.csv").write_text("account_id,platform\na,x\n")
    with pytest.raises(
        SourceError, match=r"no posts table; expected posts.parquet, posts.csv or posts.jsonl"
    ):
        read_source("canonical", tmp_path)


def test_wrong_encoding_stops_with_the_file_named(tmp_path) -> None:
    _write_csv(tmp_path / "d", ["p1,forum,a,post,,2024-01-02T03:04:05Z,hello,,"])
    (tmp_path / "d" / "posts.csv").write_bytes("post_id,text\np1,caf\u00e9\n".encode("utf-16"))
    with pytest.raises(SourceError, match=r"posts.csv, line 1: is UTF-16"):
        read_source("canonical", tmp_path / "d")


def test_unknown_format_and_missing_path_are_clear(tmp_path) -> None:
    with pytest.raises(SourceError, match=r"unknown source\.format 'myspace'"):
        read_source("myspace", tmp_path)
    with pytest.raises(SourceError, match="the dump does not exist"):
        read_source("canonical", tmp_path / "nope")


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"", "posts.csv: is empty"),
        (b"post_id,platform,account_id,kind,created_at,text\n", "posts.csv: has a header and no"),
        (
            "post_id,platform,account_id,kind,created_at,text\np,x,a,post,2024-01-01,hi\n".encode(
                "utf-16"
            ),
            "posts.csv, line 1: is UTF-16",
        ),
    ],
    ids=["empty", "header-only", "utf-16"],
)
def test_empty_header_only_and_utf16_files_give_one_line_naming_the_file(
    tmp_path, content, says
) -> None:
    from analysis.sources import read_source
    from analysis.sources.base import SourceError

    (tmp_path / "accounts.csv").write_text("account_id,platform,handle\na,x,h\n")
    (tmp_path / "posts.csv").write_bytes(content)
    with pytest.raises(SourceError) as err:
        read_source("canonical", tmp_path)
    assert says in str(err.value) and "\n" not in str(err.value)


def test_times_are_parsed_row_by_row_and_numbers_rejected(tmp_path: Path) -> None:
    """Each row's ISO 8601 shape is read on its own (naive = UTC); a number is not guessed at."""
    values = [
        "2024-03-01T12:00:00",  # naive first: the zoned rows below still parse
        "2024-03-01T12:00:00+02:00",
        "2024-03-01T12:00:00Z",
        "2024-03-01 12:00:00.5-0500",
        "2024-03-01T12:00+02",
        "2024-03-01",
        "1709294400",
        "yesterday",
    ]
    rows = "".join(f"p{i},x,a,post,{v}\n" for i, v in enumerate(values))
    (tmp_path / "accounts.csv").write_text("account_id,platform\na,x\n")
    (tmp_path / "posts.csv").write_text("post_id,platform,account_id,kind,created_at\n" + rows)
    t = canonical.read(tmp_path)
    t.check_reconciled()
    at = dict(zip(t.posts["post_id"], t.posts["created_at"], strict=True))
    assert at == {
        "p0": datetime(2024, 3, 1, 12, tzinfo=UTC),
        "p1": datetime(2024, 3, 1, 10, tzinfo=UTC),
        "p2": datetime(2024, 3, 1, 12, tzinfo=UTC),
        "p3": datetime(2024, 3, 1, 17, 0, 0, 500000, tzinfo=UTC),
        "p4": datetime(2024, 3, 1, 10, tzinfo=UTC),
        "p5": datetime(2024, 3, 1, tzinfo=UTC),
    }
    number = canonical.NUMERIC_TIME.format("created_at")
    assert t.rejects.select("source_line", "reason").rows() == [
        (8, number),
        (9, "unparsable created_at"),
    ]
    # JSON numbers (Unix seconds or milliseconds?) are rejected too, never read as microseconds
    jsonl = tmp_path / "j"
    jsonl.mkdir()
    (jsonl / "accounts.jsonl").write_text('{"account_id": "a", "platform": "x"}\n')
    (jsonl / "posts.jsonl").write_text(
        '{"post_id": "p", "platform": "x", "account_id": "a", "kind": "post", '
        '"created_at": "2024-03-01T12:00:00+02:00"}\n'
        '{"post_id": "q", "platform": "x", "account_id": "a", "kind": "post", '
        '"created_at": "2024-03-01T12:00:00"}\n'
    )
    t = canonical.read(jsonl)
    assert t.posts["created_at"].to_list() == [
        datetime(2024, 3, 1, 10, tzinfo=UTC),
        datetime(2024, 3, 1, 12, tzinfo=UTC),
    ]
    (jsonl / "posts.jsonl").write_text(
        '{"post_id": "p", "platform": "x", "account_id": "a", "kind": "post", '
        '"created_at": 1709294400}\n'
    )
    t = canonical.read(jsonl)
    assert t.posts.height == 0 and t.rejects["reason"].to_list() == [number]


def test_float_ids_of_a_pandas_export_name_the_same_accounts_as_integer_ids(tmp_path) -> None:
    """An id column with a null is float64 in pandas (7 -> 7.0): the minor's posts and votes
    were ingested under the derived account "1.0", which no account row flags."""
    from analysis.config import IngestParams, PrivacyParams
    from analysis.ingest import Source, ingest

    d = tmp_path / "d"
    d.mkdir()
    pl.DataFrame(
        {
            "account_id": [1, 2, 3],
            "platform": ["x"] * 3,
            "handle": ["kid", "grownup", "other"],
            "is_minor": [True, False, False],
        }
    ).write_parquet(d / "accounts.parquet")
    pl.DataFrame(
        {
            "post_id": [10.0, 11.0, 12.0, 13.0],
            "platform": ["x"] * 4,
            "account_id": [1.0, 2.0, 3.0, None],
            "kind": ["post"] * 4,
            "created_at": ["2026-01-01T00:00:00Z"] * 4,
            "text": ["words of the child", "adult words", "other words", "no author"],
        }
    ).write_parquet(d / "posts.parquet")
    pl.DataFrame(
        {
            "reaction_id": [1, 2, 3],
            "platform": ["x"] * 3,
            "post_id": [11, 12, 11],
            "kind": ["upvote"] * 3,
            "actor_account_id": [1.0, 2.0, 2.5],
        }
    ).write_parquet(d / "reactions.parquet")
    t = read_source("canonical", d)
    assert sorted(t.posts["account_id"].to_list()) == ["1", "2", "3"]
    assert t.posts["post_id"].to_list() == ["10", "11", "12"]
    # a fractional id is no id: the row is rejected, not read as another account
    assert t.reactions["actor_account_id"].to_list() == ["1", "2"]
    out = ingest(
        [Source("x", t)],
        b"unit-test-key-0123456789abcdef!!",
        set(),
        IngestParams(max_reject_share=0.9),
        PrivacyParams(),
        datetime(2026, 11, 1, tzinfo=UTC),
    )
    assert "words of the child" not in out.posts["text"].to_list()
    assert out.posts.height == 2 and out.reactions.height == 1
    assert out.counts["x"]["accounts"]["derived_from_posts"] == 0
