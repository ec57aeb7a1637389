"""Real-data tests of the mastodon and twitter adapters: counts reconcile with the raw files."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import polars as pl
import pytest

from analysis.sources import read_source
from tests.conftest import PHEME_GROUP

pytestmark = pytest.mark.realdata


def _ytd(path: Path) -> list:
    text = path.read_text(encoding="utf-8")
    return json.loads(text[text.index("=") + 1 :])


@pytest.fixture
def pheme(pheme_tables):
    return pheme_tables


def test_mastodon_outbox(real_data: Path) -> None:
    folder = real_data / "mastodon-archive-dealingwith"
    items = json.loads((folder / "outbox.json").read_text())["orderedItems"]
    likes = json.loads((folder / "likes.json").read_text())["orderedItems"]
    n_create = sum(i["type"] == "Create" for i in items)
    n_announce = sum(i["type"] == "Announce" for i in items)
    assert (n_create, n_announce) == (1260, 326)
    t = read_source("mastodon", folder)
    t.check_reconciled()
    assert t.n_read["posts"] + t.n_read["reactions"] == len(items) + len(likes)
    kinds = dict(t.posts.group_by("kind").len().iter_rows())
    boosts = t.reactions.filter(pl.col("kind") == "boost").height
    assert kinds["repost"] + boosts == n_announce
    rejected_dm = t.rejects.filter(pl.col("reason").str.starts_with("direct message")).height
    # followers-only notes, counted without the adapter: the followers among the addressees,
    # the public not
    public = "https://www.w3.org/ns/activitystreams#Public"
    audiences = [
        set(i["object"].get("to", [])) | set(i["object"].get("cc", []))
        for i in items
        if i["type"] == "Create"
    ]
    followers_only = sum(
        public not in a and any(x.endswith("/followers") for x in a) for a in audiences
    )
    assert followers_only == 40
    rejected_fo = t.rejects.filter(pl.col("reason").str.starts_with("followers-only")).height
    assert rejected_fo == followers_only
    assert kinds["post"] + kinds["reply"] + rejected_dm + rejected_fo == n_create
    # Every reply whose parent is among the accepted notes is linked; no link dangles.
    ids = set(t.posts["post_id"].to_list())
    notes = {
        i["object"]["id"]: i["object"].get("inReplyTo") for i in items if i["type"] == "Create"
    }
    replies = t.posts.filter(pl.col("kind") == "reply")
    for row in replies.iter_rows(named=True):
        target = notes[row["post_id"]]
        assert row["parent_post_id"] == (target if target in ids else None)
    assert t.posts["parent_post_id"].drop_nulls().is_in(list(ids)).all()
    assert replies["parent_post_id"].is_not_null().sum() > 200
    # every reply outside the dump and every boost of a post outside it names whom it credits
    # (2 replies and 3 boosts of other servers' posts by their only mention / the Announce's cc)
    orphans = replies.filter(pl.col("parent_post_id").is_null())
    assert orphans["reply_to_account_id"].null_count() == 0
    assert t.posts.filter(pl.col("kind") == "repost")["reply_to_account_id"].null_count() == 0
    assert t.rejects.filter(pl.col("table") == "reactions")["reason"].unique().to_list() == [
        "liked post not in the dump"
    ]
    owner = t.accounts.row(0, named=True)
    assert owner["handle"] == "dealingwith"
    # a reply whose parent is missing joins the thread of the owner's post that began its
    # conversation (46 of the 193 such notes share a conversation with a top-level note; 30 of
    # them are kept, in a conversation of the owner's server and day with one top: before, none
    # had a root)
    creates = [i["object"] for i in items if i["type"] == "Create"]
    tops: dict[str, list[dict]] = {}
    for o in creates:
        if not o.get("inReplyTo"):
            tops.setdefault(o["conversation"], []).append(o)
    cut = [o for o in creates if o.get("inReplyTo") and o["inReplyTo"] not in notes]
    assert len(cut) == 193
    assert sum(o["conversation"] in tops for o in cut) == 46
    expected = {}
    for o in cut:
        (top, *more) = tops.get(o["conversation"], [None])
        if top is None or more or top["id"] not in ids or o["id"] not in ids:
            continue
        host, day = o["conversation"].removeprefix("tag:").split(":")[0].split(",")
        if host == "indieweb.social" and day == top["published"][:10] <= o["published"][:10]:
            expected[o["id"]] = top["id"]
    assert len(expected) == 30
    got = dict(
        orphans.filter(pl.col("root_post_id").is_not_null())
        .select("post_id", "root_post_id")
        .iter_rows()
    )
    assert got == expected


def test_twitter_archive(real_data: Path) -> None:
    data = real_data / "twitter-archive-andreruffert" / "data"
    tweets = [r["tweet"] for r in _ytd(data / "tweets.js")]
    assert len(tweets) == 1986
    t = read_source("twitter", data.parent)
    t.check_reconciled()
    assert t.n_read["posts"] == t.posts.height == len(tweets)
    assert t.n_read["reactions"] == len(_ytd(data / "like.js")) == 1359
    posts = t.posts
    reposts = posts.filter(pl.col("kind") == "repost")
    assert reposts.height == 643
    # every retweeted account is known (12 differ in case between "RT @name" and the mention)
    assert reposts["reply_to_account_id"].null_count() == 0
    with_status = {
        x["id_str"]: x["in_reply_to_status_id_str"]
        for x in tweets
        if x.get("in_reply_to_status_id_str")
    }
    assert len(with_status) == 485
    ids = set(posts["post_id"].to_list())
    for row in posts.filter(pl.col("post_id").is_in(list(with_status))).iter_rows(named=True):
        parent = with_status[row["post_id"]]
        assert row["kind"] == "reply"
        assert row["parent_post_id"] == (parent if parent in ids else None)
    replies_linked = posts.filter(pl.col("kind") == "reply")["parent_post_id"].is_not_null()
    assert replies_linked.sum() == sum(p in ids for p in with_status.values()) == 65
    assert posts["n_likes"].sum() == 1572 and posts["n_reposts"].sum() == 687
    # the archive has no quoted_status_id: 84 tweets that answer no tweet and retweet nothing
    # end with a tweet's permalink. 79 are quotes (read as posts before); the 5 addressed to a
    # user stay replies to that user. 1 quotes a tweet in the dump (the owner's own), 78 tweets
    # outside it, 44 of whose authors a mention elsewhere in the archive names (34: no one)
    permalink = r"^https://twitter\.com/(\w+)/status/(\d+)"
    linking = {
        x["id_str"]: x
        for x in tweets
        if not x.get("in_reply_to_status_id_str")
        and not x["full_text"].startswith("RT @")
        and x["entities"].get("urls")
        and re.match(permalink, x["entities"]["urls"][-1]["expanded_url"])
    }
    assert len(linking) == 84
    addressed = {k for k, x in linking.items() if x.get("in_reply_to_user_id_str")}
    assert len(addressed) == 5
    quotes = posts.filter(pl.col("kind") == "quote")
    assert set(quotes["post_id"]) == set(linking) - addressed
    assert posts.filter(pl.col("post_id").is_in(list(addressed)))["kind"].unique().to_list() == [
        "reply"
    ]
    quoted = {
        k: re.match(permalink, x["entities"]["urls"][-1]["expanded_url"]).group(2)
        for k, x in linking.items()
        if k not in addressed
    }
    in_dump = {k for k, q in quoted.items() if q in ids}
    assert (len(in_dump), len(quoted) - len(in_dump)) == (1, 78)
    assert set(quotes.filter(pl.col("parent_post_id").is_not_null())["post_id"]) == in_dump
    outside = quotes.filter(pl.col("parent_post_id").is_null())
    assert outside["reply_to_account_id"].is_not_null().sum() == 44
    assert outside["reply_to_account_id"].is_in(t.accounts["account_id"].implode()).all()
    owner = t.accounts.filter(pl.col("account_id") == "112769581").row(0, named=True)
    assert owner["follower_count"] == len(_ytd(data / "follower.js")) == 420


@pytest.mark.xdist_group(PHEME_GROUP)
def test_pheme_counts(real_data: Path, pheme) -> None:
    threads = real_data / "pheme-rumour-scheme" / "threads"
    n_source = len(list(threads.glob("*/*/*/source-tweets/*.json")))
    n_reactions = len(list(threads.glob("*/*/*/reactions/*.json")))
    assert (n_source, n_reactions) == (259, 3907)
    n_retweets = 0
    for f in threads.glob("*/*/*/retweets.json.gz"):
        with gzip.open(f, "rt") as fh:
            n_retweets += sum(1 for line in fh if line.strip())
    t = pheme
    t.check_reconciled()
    assert t.n_read["posts"] == n_source + n_reactions
    assert t.n_read["reactions"] == n_retweets == t.reactions.height == 33600
    dups = t.rejects.filter(pl.col("reason").str.starts_with("tweet already read"))
    assert t.posts.height + dups.height == n_source + n_reactions
    assert set(t.reactions["kind"].unique()) == {"boost"}
    sources = [f.stem for f in threads.glob("*/*/*/source-tweets/*.json")]
    assert t.reactions["post_id"].is_in(sources).all()


@pytest.mark.xdist_group(PHEME_GROUP)
def test_pheme_reply_links(real_data: Path, pheme) -> None:
    threads = real_data / "pheme-rumour-scheme" / "threads"
    raw = {}
    for f in threads.glob("*/*/*/reactions/*.json"):
        status = json.loads(f.read_text())
        raw[status["id_str"]] = status.get("in_reply_to_status_id_str")
    posts = pheme.posts
    ids = set(posts["post_id"].to_list())
    got = dict(posts.select("post_id", "parent_post_id").iter_rows())
    for tid, parent in raw.items():
        if tid in got:
            assert got[tid] == (parent if parent in ids else None), tid
    # A root is the topmost ancestor in the dump: the thread's source tweet, or a reaction whose
    # own parent is missing from the dump (then it has no parent itself).
    sources = {f.stem for f in threads.glob("*/*/*/source-tweets/*.json")}
    unlinked = set(posts.filter(pl.col("parent_post_id").is_null())["post_id"].to_list())
    roots = set(posts["root_post_id"].drop_nulls().to_list())
    assert roots <= unlinked
    assert len(roots & sources) > 200
    # a reaction whose parent is not in the dump stays in its thread: the folder's source tweet
    # (103 answer a tweet that was not collected, 14 name no tweet at all)
    orphans = posts.filter(
        pl.col("parent_post_id").is_null() & ~pl.col("post_id").is_in(list(sources))
    )
    in_thread = orphans.filter(pl.col("root_post_id").is_not_null())
    assert (orphans.height, in_thread.height) == (117, 117)
    assert set(in_thread["root_post_id"]) <= sources
    n_status = sum(raw.get(t) is not None for t in in_thread["post_id"])
    assert n_status == 103
    # Every source tweet is kept as a thread start; one of them (580360165540642816) was itself
    # written as an @-reply to a user, so it is a reply without parent.
    source_rows = posts.filter(pl.col("post_id").is_in(list(sources)))
    assert source_rows.height == len(sources) == 259
    assert source_rows["parent_post_id"].null_count() == 259
    assert dict(source_rows.group_by("kind").len().iter_rows()) == {"post": 258, "reply": 1}
    assert posts.filter(pl.col("post_id") == "529540733020405760")["labels"].item().to_list() == [
        "prince-toronto"
    ]
