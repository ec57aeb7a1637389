"""Minors known from their own words (``analysis.privacy_minors``) and their removal at ingest."""

from __future__ import annotations

import polars as pl
import pytest

from analysis.privacy_minors import declares_minor
from tests.unit.test_ingest import _run, _tables, aid, pid

#: The five statements found on the shared real dumps (Reddit), shortened, then near misses.
STATED = [
    "Hi! I\u2019m 14 years old, do anyone have tips",
    "I am 13 years old and have already had sex! Ask questions",
    "For starters I'm a 17 year old dude who has been having an identity crisis",
    "I need help as a 17 year old dude asking out a girl",
    "I am 14 yrs old female and wanted to know",
    "im 15yo",
    "I'm 16 y/o lol",
    "I'm fifteen years old",
    "i'm only 12 years old",
    "As a 16 year old, I think",
]
NOT_STATED = [
    "I'm 25 years old",
    "I'm 18 years old",
    "my son is 14 years old",
    "I was 14 years old when it came out",
    "I'm 14 years older than her",
    "I'm 15 minutes late",
    "I'm 140 years old",
    "Tim 14 years old",
    "an AI that performs about as well as a 4 year old on the verbal portion",
    "for a child such as a 12 year old",
    "> I'm 14 years old\nyou are not",
    "<blockquote>I'm 14 years old</blockquote> quoted",
]


@pytest.mark.parametrize("text", STATED)
def test_a_first_person_age_under_18_is_a_statement(text: str) -> None:
    assert declares_minor(pl.Series([text])).to_list() == [True]


@pytest.mark.parametrize("text", NOT_STATED)
def test_another_age_another_person_or_a_quote_is_not(text: str) -> None:
    assert declares_minor(pl.Series([text], dtype=pl.String)).to_list() == [False]


@pytest.mark.parametrize("engine", ["memory", "streaming"])
def test_an_account_that_says_it_is_under_18_is_removed_with_all_it_wrote(engine: str) -> None:
    # Bob says he is 14 in one reply: his other posts go with it; Alice quoting him and a repost
    # of his words by Alice do not make her a minor
    said = dict(
        post_id="p6",
        platform="demo",
        account_id="b",
        kind="post",
        created_at=_tables().posts["created_at"][0],
        text="I'm 14 years old and I like this",
    )
    quoted = {**said, "post_id": "p7", "account_id": "a", "kind": "reply"}
    quoted |= {"parent_post_id": "p6", "text": "> I'm 14 years old\nme too, long ago"}
    reposted = {**said, "post_id": "p8", "account_id": "a", "kind": "repost"}
    res = _run(_tables(extra_posts=[said, quoted, reposted]), batch_rows=2, engine=engine)
    kept = res.posts["post_id"].to_list()
    assert aid("b") not in res.accounts["account_id"].to_list()  # old code: kept, scored
    assert pid("p2") not in kept and pid("p5") not in kept and pid("p6") not in kept
    assert aid("a") in res.accounts["account_id"].to_list() and pid("p8") in kept
    # the reply below his post keeps only its own words
    p7 = res.posts.filter(pl.col("post_id") == pid("p7"))["text"].to_list()
    assert p7 == ["me too, long ago"]
    c = res.counts["demo"]
    assert c["accounts"]["removed_minor"] == 2  # the flagged kid and Bob
