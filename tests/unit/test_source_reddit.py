"""Unit tests of the Pushshift adapter on tiny inline dumps."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
import zstandard

from analysis import schema
from analysis.models import common
from analysis.sources import reddit
from analysis.sources.base import SourceError

SUBMISSION = {
    "id": "s1",
    "author": "alice",
    "author_created_utc": 1500000000,
    "title": "Ask: why?",
    "selftext": "Because.",
    "created_utc": 1569888142,
    "score": 12,
    "num_comments": 3,
    "subreddit": "AskMen",
    "subreddit_subscribers": 1380540,
    "retrieved_on": 1585000000,
}
COMMENTS = [
    {
        "id": "c1",
        "author": "bob",
        "body": "top level",
        "created_utc": 1569888200,
        "score": 2,
        "parent_id": "t3_s1",
        "link_id": "t3_s1",
        "subreddit": "AskMen",
    },
    {
        "id": "c2",
        "author": "carol",
        "body": "[removed]",
        "created_utc": "1569888300",
        "score": 1,
        "parent_id": "t1_c1",
        "link_id": "t3_s1",
        "subreddit": "AskMen",
    },
    {
        "id": "c3",
        "author": "[deleted]",
        "body": "[deleted]",
        "created_utc": 1569888400,
        "score": 1,
        "parent_id": "t1_c1",
        "link_id": "t3_s1",
        "subreddit": "AskMen",
    },
    {
        "id": "c4",
        "author": "bob",
        "body": "reply to a deleted one",
        "created_utc": 1569888500,
        "score": 0,
        "parent_id": "t1_c3",
        "link_id": "t3_s1",
        "subreddit": "AskMen",
    },
    {
        "id": "c5",
        "author": "dan",
        "body": "parent outside the dump",
        "created_utc": 1569888600,
        "score": 5,
        "parent_id": "t1_zz",
        "link_id": "t3_other",
        "subreddit": "AskMen",
    },
]


def _ndjson(records: list[dict]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def _zst(path: Path, data: bytes) -> Path:
    path.write_bytes(zstandard.ZstdCompressor().compress(data))
    return path


@pytest.fixture
def dump(tmp_path: Path) -> Path:
    _zst(tmp_path / "RS_2019-10.zst", _ndjson([SUBMISSION]))
    _zst(tmp_path / "RC_2019-10.zst", _ndjson(COMMENTS))
    return tmp_path


def test_maps_submissions_and_comments(dump: Path) -> None:
    tables = reddit.read(dump)
    tables.check_reconciled()
    posts = {r["post_id"]: r for r in tables.posts.to_dicts()}
    assert set(posts) == {"t3_s1", "t1_c1", "t1_c2", "t1_c4", "t1_c5"}
    sub = posts["t3_s1"]
    assert (sub["kind"], sub["text"], sub["score"], sub["n_comments_reported"]) == (
        "post",
        "Ask: why?\n\nBecause.",
        11,  # 12 points less the author's own automatic upvote
        3,
    )
    assert sub["labels"] == ["AskMen"]
    assert sub["follower_count"] is None  # subreddit subscribers are not followers
    assert sub["created_at"] == datetime.fromtimestamp(1569888142, tz=UTC)
    # Pushshift took the score and comment count when it fetched the item, months later
    assert sub["totals_taken_at"] == datetime.fromtimestamp(1585000000, tz=UTC)
    assert posts["t1_c1"]["totals_taken_at"] is None  # not said: at the export
    assert (posts["t1_c1"]["parent_post_id"], posts["t1_c1"]["root_post_id"]) == ("t3_s1", "t3_s1")
    assert posts["t1_c2"]["text"] is None and posts["t1_c2"]["parent_post_id"] == "t1_c1"
    # the parent was by a deleted author: rejected, so the link is cut (no dangling id), but
    # the submission it was written under (link_id) is here: the comment stays in its thread
    assert (posts["t1_c4"]["parent_post_id"], posts["t1_c4"]["root_post_id"]) == (None, "t3_s1")
    # neither parent nor submission here: no parent, no root
    assert (posts["t1_c5"]["parent_post_id"], posts["t1_c5"]["root_post_id"]) == (None, None)
    assert posts["t1_c5"]["kind"] == "comment"
    for table in ("accounts", "posts", "reactions", "rejects"):
        schema.validate(getattr(tables, table), table)


def test_score_leaves_out_the_authors_own_upvote(dump: Path) -> None:
    """Reddit starts every item at 1 point, its author's own vote: others gave score - 1."""
    tables = reddit.read(dump)
    score = dict(zip(tables.posts["post_id"], tables.posts["score"], strict=True))
    # raw points 12, 2, 1 (no one else voted), 0 (one downvote), 5
    assert score == {"t3_s1": 11, "t1_c1": 1, "t1_c2": 0, "t1_c4": -1, "t1_c5": 4}
    scoped = tables.posts.with_columns(w=pl.lit(1.0))
    as_of = datetime(2020, 1, 1, tzinfo=UTC)
    received = common.post_reactions(scoped, tables.reactions, as_of)
    got = dict(zip(received["post_id"], received["n_reactions"], strict=True))
    assert got == {"t3_s1": 11.0, "t1_c1": 1.0, "t1_c2": 0.0, "t1_c4": 0.0, "t1_c5": 4.0}


def test_deleted_author_is_rejected_with_line(dump: Path) -> None:
    tables = reddit.read(dump)
    rejects = tables.rejects.to_dicts()
    assert rejects == [
        {
            "table": "posts",
            "source_file": "RC_2019-10.zst",
            "source_line": 3,
            "record_key": "t1_c3",
            "reason": "author deleted",
        }
    ]
    assert tables.n_read["posts"] == 6


def test_accounts_keep_handle_and_creation_time(dump: Path) -> None:
    accounts = {r["account_id"]: r for r in reddit.read(dump).accounts.to_dicts()}
    assert set(accounts) == {"alice", "bob", "carol", "dan"}
    assert accounts["alice"]["handle"] == "alice"
    assert accounts["alice"]["created_at"] == datetime.fromtimestamp(1500000000, tz=UTC)
    assert accounts["bob"]["created_at"] is None


def test_removed_selftext_keeps_title(tmp_path: Path) -> None:
    path = tmp_path / "RS.ndjson"
    path.write_bytes(_ndjson([{**SUBMISSION, "selftext": "[removed]"}]))
    tables = reddit.read(path)
    assert tables.posts["text"].to_list() == ["Ask: why?"]
    assert "reply_tree" in tables.missing_inputs


def test_a_profile_post_gets_a_neutral_label_not_the_authors_handle(tmp_path: Path) -> None:
    # Reddit files a post on a user's profile under the subreddit "u_<user name>"
    path = tmp_path / "RS.ndjson"
    path.write_bytes(
        _ndjson(
            [
                {**SUBMISSION, "subreddit": "u_alice_w", "author": "alice_w"},
                {**SUBMISSION, "id": "s2", "subreddit": "U_Bob"},
                {**SUBMISSION, "id": "s3", "subreddit": "unpopularopinion"},
            ]
        )
    )
    labels = reddit.read(path).posts.sort("post_id")["labels"].to_list()
    assert labels == [[reddit.PROFILE_LABEL], [reddit.PROFILE_LABEL], ["unpopularopinion"]]


def test_malformed_records_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "RC.jsonl"
    lines = [
        json.dumps(COMMENTS[0]),
        "{not json",
        "[1, 2]",
        json.dumps({"foo": 1}),
        json.dumps({**COMMENTS[0], "id": "c9", "created_utc": "yesterday"}),
        json.dumps({**COMMENTS[0], "id": "c8", "created_utc": 100}),
        json.dumps({**COMMENTS[0], "id": "c7", "parent_id": "x"}),
        json.dumps(COMMENTS[0]),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tables = reddit.read(path)
    tables.check_reconciled()
    assert tables.rejects["reason"].to_list() == [
        "not valid JSON",
        "not a JSON object",
        "neither a comment nor a submission",
        "unparsable created_utc",
        "created_at out of range",
        "unparsable parent_id",
        "duplicate id",
    ]
    assert tables.rejects["source_line"].to_list() == [2, 3, 4, 5, 6, 7, 8]


def test_truncated_zstd_raises_source_error(tmp_path: Path) -> None:
    full = zstandard.ZstdCompressor().compress(_ndjson(COMMENTS * 50))
    path = tmp_path / "RC_cut.zst"
    path.write_bytes(full[: len(full) // 2])
    with pytest.raises(SourceError, match="truncated"):
        reddit.read(path)


def test_two_frames_are_both_read(tmp_path: Path) -> None:
    cctx = zstandard.ZstdCompressor()
    path = tmp_path / "RC.zst"
    path.write_bytes(cctx.compress(_ndjson(COMMENTS[:2])) + cctx.compress(_ndjson(COMMENTS[2:])))
    assert reddit.read(path).n_read["posts"] == 5


def test_non_utf8_raises_source_error(tmp_path: Path) -> None:
    path = tmp_path / "RC.ndjson"
    path.write_bytes(
        json.dumps(COMMENTS[0], ensure_ascii=False).replace("top", "tôp").encode("latin-1") + b"\n"
    )
    with pytest.raises(SourceError, match="line 1: text is not UTF-8"):
        reddit.read(path)


def test_empty_folder_raises_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no Pushshift files"):
        reddit.read(tmp_path)


def test_automoderator_is_a_bot_not_a_participant(tmp_path: Path) -> None:
    """AutoModerator's scheduled threads are rejected with a reason; people's comments below
    them stay, detached and addressed to it (it was a participant credited with them)."""
    bot = {**SUBMISSION, "id": "s2", "author": "AutoModerator", "title": "Casual Convo Fridays"}
    bot_comment = {**COMMENTS[0], "id": "c8", "author": "AutoModerator", "body": "Rule 1"}
    reply = {**COMMENTS[0], "id": "c9", "parent_id": "t3_s2", "link_id": "t3_s2"}
    _zst(tmp_path / "RS_2019-10.zst", _ndjson([SUBMISSION, bot]))
    _zst(tmp_path / "RC_2019-10.zst", _ndjson([*COMMENTS, bot_comment, reply]))
    tables = reddit.read(tmp_path)
    tables.check_reconciled()
    assert "AutoModerator" not in tables.posts["account_id"].to_list()
    assert "AutoModerator" not in tables.accounts["account_id"].to_list()
    rej = dict(zip(tables.rejects["record_key"], tables.rejects["reason"], strict=True))
    assert rej["t3_s2"] == rej["t1_c8"] == reddit.SYSTEM_REASON
    assert "not ingested" in reddit.SYSTEM_REASON  # out of scope, not malformed
    c9 = tables.posts.filter(pl.col("post_id") == "t1_c9").to_dicts()[0]
    assert (c9["parent_post_id"], c9["root_post_id"]) == (None, None)
    assert c9["reply_to_account_id"] == "AutoModerator"
    # a comment below a deleted author's stays addressed to no one (Reddit does not say)
    c4 = tables.posts.filter(pl.col("post_id") == "t1_c4").to_dicts()[0]
    assert c4["reply_to_account_id"] is None
