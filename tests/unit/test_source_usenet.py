"""Unit tests of the Usenet adapter on a tiny tree of raw articles."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from analysis import schema
from analysis.sources import usenet
from analysis.sources.base import SourceError

ROOT_ARTICLE = b"""Newsgroups: sci.space,sci.astro
From: jdoe@moon.edu (Jane Doe)
Subject: Orbits
Message-ID: <1@moon.edu>
Date: Mon, 05 Apr 93 18:01:16 GMT
Lines: 2

Orbits are ellipses.
"""
REPLY = b"""Newsgroups: sci.space
From: "Bob Roe" <bob@mars.org>
Subject: Re: Orbits
Message-ID: <2@mars.org>
References: <1@moon.edu>
Date: 6 Apr 1993 10:00:00 -0400

In article <1@moon.edu>, jdoe@moon.edu (Jane Doe) writes:
> Orbits are ellipses.
Mostly.
"""
ORPHAN = b"""Newsgroups: sci.space
From: Ren\xe9 Vall\xe9e <rene@venus.fr>
Subject: Re: Lost thread
Message-ID: <3@venus.fr>
References: <0@gone.org> <9@gone.org>
Date: Wed, 7 Apr 1993 12:00:00

In article <9@gone.org>, old@gone.org (Old Timer)
wrote:
> quoted
Caf\xe9 talk.
"""
NO_ID = b"From: x@y.z\nSubject: hi\nDate: 7 Apr 1993 12:00:00 GMT\n\nbody\n"
NO_ADDRESS = b"From:  (Steve Tomassi)\nMessage-ID: <5@x>\nDate: 7 Apr 1993 12:00:00 GMT\n\nb\n"
BAD_DATE = b"From: a@b.c\nMessage-ID: <6@x>\nDate: sometime in spring\n\nb\n"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    files = {
        "sci.space/1": ROOT_ARTICLE,
        "sci.space/2": REPLY,
        "sci.space/3": ORPHAN,
        "sci.astro/1": ROOT_ARTICLE,
        "misc/4": NO_ID,
        "misc/5": NO_ADDRESS,
        "misc/6": BAD_DATE,
        ".DS_Store": b"\x00\x01",
    }
    for name, data in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    return tmp_path


def test_articles_map_to_posts_and_replies(tree: Path) -> None:
    tables = usenet.read(tree)
    tables.check_reconciled()
    posts = {r["post_id"]: r for r in tables.posts.to_dicts()}
    assert set(posts) == {"<1@moon.edu>", "<2@mars.org>", "<3@venus.fr>"}
    root = posts["<1@moon.edu>"]
    assert (root["kind"], root["account_id"], root["labels"]) == (
        "post",
        "jdoe@moon.edu",
        ["sci.space", "sci.astro"],
    )
    assert root["text"] == "Orbits\n\nOrbits are ellipses."
    assert root["created_at"] == datetime(1993, 4, 5, 18, 1, 16, tzinfo=UTC)
    reply = posts["<2@mars.org>"]
    assert (reply["kind"], reply["parent_post_id"], reply["root_post_id"]) == (
        "reply",
        "<1@moon.edu>",
        "<1@moon.edu>",
    )
    assert reply["reply_to_account_id"] is None  # derived from the parent instead
    assert reply["created_at"] == datetime(1993, 4, 6, 14, 0, tzinfo=UTC)
    orphan = posts["<3@venus.fr>"]
    assert (orphan["kind"], orphan["parent_post_id"], orphan["root_post_id"]) == (
        "reply",
        None,
        None,
    )
    assert orphan["reply_to_account_id"] == "old@gone.org"  # from the attribution line
    assert orphan["created_at"] == datetime(1993, 4, 7, 12, 0, tzinfo=UTC)  # no zone: UTC
    assert "Café talk." in orphan["text"]  # Latin-1 fallback
    for table in ("accounts", "posts", "reactions", "rejects"):
        schema.validate(getattr(tables, table), table)


def test_accounts_hold_address_and_name(tree: Path) -> None:
    accounts = {r["account_id"]: r for r in usenet.read(tree).accounts.to_dicts()}
    assert accounts["bob@mars.org"]["display_name"] == "Bob Roe"
    assert accounts["rene@venus.fr"]["display_name"] == "René Vallée"
    assert accounts["old@gone.org"]["display_name"] == "Old Timer"  # addressee only
    assert accounts["jdoe@moon.edu"]["handle"] == "jdoe@moon.edu"


def test_rejects_name_the_article(tree: Path) -> None:
    rejects = usenet.read(tree).rejects.select("source_file", "reason").rows()
    assert sorted(rejects) == [
        ("misc/4", "missing Message-ID"),
        ("misc/5", "missing From address"),
        ("misc/6", "unparsable Date"),
        ("sci.space/1", "duplicate Message-ID (cross-posted copy)"),
    ]


@pytest.mark.parametrize(
    ("header", "utc"),
    [
        ("Wed, 21 Apr 1993 08:28:50 +02", "1993-04-21 06:28:50"),  # two digits are hours
        ("Sun, 18 Apr 93 13:35:23 EDT(-0400)", "1993-04-18 17:35:23"),
        ("Sun, 2 May 1993 19:11:39 IDT", "1993-05-02 16:11:39"),  # Israel daylight, UTC+3
        ("Sat, 17 Apr 1993 09:00:00 NZST", "1993-04-16 21:00:00"),
        ("Sat, 17 Apr 1993 09:00:00 XYZT (+0930)", "1993-04-16 23:30:00"),
        ("6 Apr 1993 10:00:00 -0400", "1993-04-06 14:00:00"),
        ("Wed, 7 Apr 1993 12:00:00", "1993-04-07 12:00:00"),  # no zone: UTC, as documented
        ("Mon, 05 Apr 93 18:01:16 GMT", "1993-04-05 18:01:16"),
    ],
)
def test_dates_are_read_in_their_own_zone(header: str, utc: str) -> None:
    got = usenet._date(header)
    assert isinstance(got, datetime) and got.tzinfo is not None
    assert got.astimezone(UTC).replace(tzinfo=None) == datetime.fromisoformat(utc)


def test_a_date_in_an_unknown_zone_is_rejected_not_read_as_utc(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(
        b"From: a@b.c\nMessage-ID: <8@x>\nDate: Sun, 2 May 1993 19:11:39 IST\n\nb\n"
    )
    tables = usenet.read(tmp_path / "a")
    assert tables.posts.height == 0
    assert tables.rejects["reason"].to_list() == ["Date in an unknown time zone"]


def test_encoded_words_in_headers_are_decoded(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(
        b"From: =?iso-8859-1?q?J=F6rg_M=FCller?= <jm@uni.de>\nMessage-ID: <7@uni.de>\n"
        b"Date: 7 Apr 1993 12:00:00 GMT\nSubject: =?utf-8?b?R3LDvMOfZQ==?=\n\nHallo\n"
    )
    tables = usenet.read(tmp_path / "a")
    assert tables.accounts["display_name"].to_list() == ["Jörg Müller"]
    assert tables.posts["text"].to_list() == ["Grüße\n\nHallo"]


def test_uucp_address_is_kept_and_nul_bytes_rejected(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(
        b"From: raptor!rlove (Robert Love)\nMessage-ID: <8@x>\nDate: 7 Apr 1993 12:00:00 GMT\n\nb\n"
    )
    (tmp_path / "b").write_bytes("From: a@b.c\n".encode("utf-16"))
    tables = usenet.read(tmp_path)
    assert tables.posts["account_id"].to_list() == ["raptor!rlove"]
    assert tables.rejects["reason"].to_list() == ["not a text article (NUL bytes)"]


def test_empty_folder_raises(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no article files"):
        usenet.read(tmp_path)


def test_a_follow_up_without_references_is_a_reply_to_the_article_it_names(
    tmp_path: Path,
) -> None:
    # Moderated groups dropped References (soc.religion.christian in the mini newsgroups: 35 of
    # its 100 articles were read as new threads). The article still names what it answers.
    head = b"From: %s\nSubject: Re: Orbits\nMessage-ID: <%s>\nDate: 7 Apr 1993 12:00:00 GMT\n"
    files = {
        "a": head % (b"jdoe@moon.edu", b"1@moon.edu") + b"\nOrbits are ellipses.\n",
        # its own attribution line, unquoted: a reply to <1@moon.edu>
        "b": head % (b"bob@mars.org", b"2@mars.org")
        + b"\nIn article <1@moon.edu>, jdoe@moon.edu (Jane Doe) writes:\n> ellipses\nMostly.\n",
        # a Message-ID in In-Reply-To: a reply to an article outside the dump
        "c": head % (b"eve@io.net", b"3@io.net") + b"In-Reply-To: <0@gone.org>\n\nYes.\n",
        # only a quoted attribution (an older article of some thread): no parent is named
        "d": head % (b"max@eu.org", b"4@eu.org")
        + b"\n> In article <0@gone.org>, old@gone.org writes:\n> hm\nNew topic.\n",
        # the GNUS form names no article
        "e": head % (b"ann@ga.org", b"5@ga.org")
        + b"In-Reply-To: jdoe@moon.edu's message of 5 Apr 93 18:01:16 GMT\n\nNo.\n",
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    posts = {r["post_id"]: r for r in usenet.read(tmp_path).posts.to_dicts()}
    got = {k: (p["kind"], p["parent_post_id"]) for k, p in posts.items()}
    assert got == {
        "<1@moon.edu>": ("post", None),
        "<2@mars.org>": ("reply", "<1@moon.edu>"),
        "<3@io.net>": ("reply", None),
        "<4@eu.org>": ("post", None),
        "<5@ga.org>": ("post", None),
    }


def test_a_reply_whose_parent_is_missing_keeps_the_thread_root_it_names(tmp_path: Path) -> None:
    """The first References entry is the thread's root: when that article is here and the one
    answered (the last entry) is not, the reply keeps the root and gets no parent; a root that
    is not here is null, as before."""
    in_thread = (
        REPLY.replace(b"<2@mars.org>", b"<7@mars.org>")
        .replace(b"References: <1@moon.edu>", b"References: <1@moon.edu> <8@gone.org>")
        .replace(b"In article <1@moon.edu>", b"In article <8@gone.org>")
    )
    for name, data in {"s/1": ROOT_ARTICLE, "s/7": in_thread, "s/3": ORPHAN}.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    posts = {r["post_id"]: r for r in usenet.read(tmp_path).posts.to_dicts()}
    reply = posts["<7@mars.org>"]
    assert (reply["kind"], reply["parent_post_id"], reply["root_post_id"]) == (
        "reply",
        None,
        "<1@moon.edu>",
    )
    assert reply["reply_to_account_id"] == "jdoe@moon.edu"  # the attribution names <8@gone.org>
    assert (posts["<3@venus.fr>"]["parent_post_id"], posts["<3@venus.fr>"]["root_post_id"]) == (
        None,
        None,
    )
