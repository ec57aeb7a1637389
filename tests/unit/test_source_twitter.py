"""Unit tests of the X/Twitter adapter: official archive, v1.1 statuses and PHEME threads."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis import semantics
from analysis.sources import twitter, twitter_records
from analysis.sources.base import SourceError

OWNER = "100"


def _ytd(path: Path, kind: str, records: list) -> None:
    path.write_text(f"window.YTD.{kind}.part0 = " + json.dumps(records, indent=2))


def _archive(root: Path, tweets: list[dict], likes: list[str] = (), followers: int = 3) -> Path:
    data = root / "data"
    data.mkdir()
    _ytd(
        data / "account.js",
        "account",
        [
            {
                "account": {
                    "accountId": OWNER,
                    "username": "owner",
                    "accountDisplayName": "The Owner",
                    "createdAt": "2010-02-09T17:10:05.000Z",
                }
            }
        ],
    )
    _ytd(data / "tweets.js", "tweets", [{"tweet": t} for t in tweets])
    _ytd(
        data / "follower.js",
        "follower",
        [{"follower": {"accountId": str(i)}} for i in range(followers)],
    )
    _ytd(data / "like.js", "like", [{"like": {"tweetId": t}} for t in likes])
    return root


def _tweet(tid: str, text: str = "hi", **extra) -> dict:
    return {
        "id_str": tid,
        "created_at": "Wed Jan 07 11:07:51 +0000 2015",
        "full_text": text,
        "favorite_count": "2",
        "retweet_count": "1",
        "entities": {"hashtags": [{"text": "JS"}]},
        **extra,
    }


def test_archive_mapping(tmp_path: Path) -> None:
    tweets = [
        _tweet("1"),
        _tweet("2", "@owner me", in_reply_to_status_id_str="1", in_reply_to_user_id_str=OWNER),
        _tweet(
            "3",
            "@bob hey",
            in_reply_to_status_id_str="999",
            in_reply_to_user_id_str="7",
            in_reply_to_screen_name="bob",
        ),
        _tweet(
            "4",
            "RT @carol: her words",
            entities={"user_mentions": [{"screen_name": "carol", "id_str": "8", "name": "Carol"}]},
        ),
    ]
    t = twitter.read(_archive(tmp_path, tweets, likes=["2", "555"]))
    t.check_reconciled()
    posts = {r["post_id"]: r for r in t.posts.to_dicts()}
    assert posts["1"]["created_at"] == datetime(2015, 1, 7, 11, 7, 51, tzinfo=UTC)
    assert (posts["1"]["n_likes"], posts["1"]["n_reposts"], posts["1"]["labels"]) == (2, 1, ["js"])
    assert posts["1"]["account_id"] == OWNER and posts["1"]["follower_count"] is None
    assert (posts["2"]["kind"], posts["2"]["parent_post_id"], posts["2"]["root_post_id"]) == (
        "reply",
        "1",
        "1",
    )
    assert posts["3"]["parent_post_id"] is None and posts["3"]["root_post_id"] is None
    assert posts["3"]["reply_to_account_id"] == "7"
    rt = posts["4"]
    assert (rt["kind"], rt["text"], rt["n_likes"], rt["reply_to_account_id"]) == (
        "repost",
        None,
        None,
        "8",
    )
    accounts = {r["account_id"]: r for r in t.accounts.to_dicts()}
    assert accounts[OWNER]["handle"] == "owner" and accounts[OWNER]["display_name"] == "The Owner"
    assert accounts[OWNER]["follower_count"] == 3
    assert accounts["7"]["handle"] == "bob" and accounts["8"]["display_name"] == "Carol"
    assert t.reactions.to_dicts()[0]["post_id"] == "2"
    assert t.rejects["reason"].to_list() == ["liked tweet not in the dump"]


def test_archive_retweet_credits_the_account_whatever_the_case_of_its_name(
    tmp_path: Path,
) -> None:
    # Twitter screen names are case-insensitive; the archive's "RT @name:" and the mention's
    # screen_name may differ in case (12 of 643 retweets in twitter-archive-andreruffert).
    mention = {"screen_name": "Kahlilx", "id_str": "8", "name": "Kahlil"}
    tweets = [_tweet("4", "RT @kahlilx: his words", entities={"user_mentions": [mention]})]
    posts = twitter.read(_archive(tmp_path, tweets)).posts
    assert posts.select("kind", "reply_to_account_id").row(0) == ("repost", "8")


def _linking(tid: str, *urls: str, **extra) -> dict:
    links = [{"url": f"https://t.co/{i}", "expanded_url": u} for i, u in enumerate(urls)]
    text = " ".join(["look"] + [x["url"] for x in links])
    return _tweet(tid, text, entities={"urls": links, **extra.pop("entities", {})}, **extra)


def test_archive_tweet_ending_with_a_tweets_permalink_is_a_quote_of_it(tmp_path: Path) -> None:
    # The archive has no quoted_status_id: a quote shows as the quoted tweet's permalink, its
    # last link (andreruffert: 79 tweets, read as posts that credited no one)
    bob = {"screen_name": "bob", "id_str": "7", "name": "Bob"}
    tweets = [
        _tweet("1"),
        _linking("2", "https://twitter.com/owner/status/1"),  # quotes a tweet in the dump
        _linking("3", "https://twitter.com/Bob/status/999?s=20"),  # bob's, known by a mention
        _tweet("4", "@bob hi", entities={"user_mentions": [bob]}),
        _linking("5", "https://x.com/carol/status/998"),  # carol: no id in the archive
        _linking(
            "6", "https://twitter.com/bob/status/997", in_reply_to_user_id_str="9"
        ),  # an @-reply to user 9 linking a tweet: talks with 9
        _linking("8", "https://twitter.com/bob/status/996", "https://example.org"),  # a link
    ]
    t = twitter.read(_archive(tmp_path, tweets))
    t.check_reconciled()
    got = {
        r["post_id"]: (r["kind"], r["parent_post_id"], r["reply_to_account_id"])
        for r in t.posts.to_dicts()
    }
    assert got == {
        "1": ("post", None, None),
        "2": ("quote", "1", None),
        "3": ("quote", None, "7"),
        "4": ("post", None, None),
        "5": ("quote", None, None),
        "6": ("reply", None, "9"),
        "8": ("post", None, None),
    }
    # read as a quote: attention to the quoted author, not a conversation
    channels = semantics.with_channel(t.posts).filter(pl.col("post_id").is_in(["2", "3"]))
    assert channels["channel"].to_list() == ["quote", "quote"]


@pytest.mark.parametrize(
    "url",
    [
        "https://twitter.com/i/web/status/996",  # a truncated tweet's own link: no author
        "https://twitter.com/bob/likes",
        "https://nottwitter.com/bob/status/996",
        "https://twitter.com/bob/status/",
    ],
)
def test_quoted_permalink_reads_only_a_tweets_permalink(url: str) -> None:
    assert twitter.quoted_permalink({"entities": {"urls": [{"expanded_url": url}]}}) is None


def test_archive_bad_record_rejected_and_broken_file_raises(tmp_path: Path) -> None:
    root = _archive(tmp_path, [_tweet("1"), _tweet("2", favorite_count="many"), {"x": 1}])
    t = twitter.read(root)
    t.check_reconciled()
    assert sorted(t.rejects["reason"].to_list()) == [
        "missing id_str",
        "unparsable favorite_count",  # never the value (issue 13 item 6)
    ]
    (root / "data" / "tweets.js").write_text('window.YTD.tweets.part0 = [ {"tweet": ')
    with pytest.raises(SourceError, match=r"tweets\.js"):
        twitter.read(root)
    (root / "data" / "tweets.js").write_text("[]")
    with pytest.raises(SourceError, match="no '=' assignment"):
        twitter.read(root)


def test_archive_without_account_is_a_source_error(tmp_path: Path) -> None:
    root = _archive(tmp_path, [_tweet("1")])
    (root / "data" / "account.js").unlink()
    with pytest.raises(SourceError, match=r"account\.js"):
        twitter.read(root)


def _status(tid: str, uid: str, followers: int = 10, **extra) -> dict:
    return {
        "id": int(tid),
        "id_str": tid,
        "created_at": "Tue Nov 04 07:48:43 +0000 2014",
        "text": f"tweet {tid}",
        "favorite_count": 1,
        "retweet_count": 0,
        "user": {
            "id": int(uid),
            "id_str": uid,
            "screen_name": f"u{uid}",
            "name": f"U {uid}",
            "followers_count": followers,
            "created_at": "Mon Jan 01 00:00:00 +0000 2010",
        },
        **extra,
    }


def test_an_at_reply_that_quotes_a_tweet_talks_with_the_user_it_answers(tmp_path: Path) -> None:
    lines = [
        _status("1", "50"),
        # @-reply to user 51 (no status id) quoting tweet 1 of user 50
        _status("2", "52", in_reply_to_user_id_str="51", quoted_status_id_str="1"),
        _status("3", "53", quoted_status_id_str="1"),  # a plain quote of tweet 1
    ]
    path = tmp_path / "tweets.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines))
    posts = {r["post_id"]: r for r in twitter.read(path).posts.to_dicts()}
    reply, quote = posts["2"], posts["3"]
    assert (reply["kind"], reply["parent_post_id"], reply["reply_to_account_id"]) == (
        "reply",
        None,
        "51",
    )
    assert (quote["kind"], quote["parent_post_id"]) == ("quote", "1")


def test_api_json_lines(tmp_path: Path) -> None:
    lines = [
        _status("1", "50", followers=10),
        _status(
            "2",
            "51",
            in_reply_to_status_id=1,
            in_reply_to_status_id_str="1",
            in_reply_to_user_id_str="50",
        ),
        _status("3", "50", followers=12),
        _status("4", "52", retweeted_status=_status("1", "50")),
        _status("5", "52", retweeted_status=_status("77", "53")),
    ]
    path = tmp_path / "tweets.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n{broken\n")
    t = twitter.read(path)
    t.check_reconciled()
    posts = {r["post_id"]: r for r in t.posts.to_dicts()}
    assert posts["1"]["follower_count"] == 10 and posts["3"]["follower_count"] == 12
    assert posts["2"]["parent_post_id"] == "1" and posts["2"]["reply_to_account_id"] == "50"
    assert posts["5"]["kind"] == "repost" and posts["5"]["reply_to_account_id"] == "53"
    boost = t.reactions.to_dicts()
    assert [(b["post_id"], b["kind"], b["actor_account_id"]) for b in boost] == [
        ("1", "boost", "52")
    ]
    assert {r["account_id"]: r["follower_count"] for r in t.accounts.to_dicts()}["50"] == 12
    assert t.rejects.to_dicts()[0]["source_line"] == 6


def _pheme(root: Path) -> Path:
    thread = root / "threads" / "en" / "some-event" / "1"
    (thread / "source-tweets").mkdir(parents=True)
    (thread / "reactions").mkdir()
    (thread / "source-tweets" / "1.json").write_text(json.dumps(_status("1", "50")))
    replies = {
        "2": _status("2", "51", in_reply_to_status_id_str="1", in_reply_to_user_id_str="50"),
        "3": _status("3", "52", in_reply_to_status_id_str="2", in_reply_to_user_id_str="51"),
        "4": _status("4", "53", in_reply_to_status_id_str="404", in_reply_to_user_id_str="54"),
    }
    for tid, status in replies.items():
        (thread / "reactions" / f"{tid}.json").write_text(json.dumps(status))
    rts = [_status("9", "60", followers=5, retweeted_status=_status("1", "50"))]
    with gzip.open(thread / "retweets.json.gz", "wt") as fh:
        fh.write("\n".join(json.dumps(r) for r in rts) + "\n")
    (thread / "structure.json").write_text("{}")
    return root


@pytest.mark.parametrize("sub", ["", "threads/en/some-event"])
def test_pheme_threads(tmp_path: Path, sub: str) -> None:
    t = twitter.read(_pheme(tmp_path) / sub)
    t.check_reconciled()
    posts = {r["post_id"]: r for r in t.posts.to_dicts()}
    assert posts["1"]["kind"] == "post" and posts["1"]["labels"] == ["some-event"]
    assert posts["3"]["parent_post_id"] == "2" and posts["3"]["root_post_id"] == "1"
    assert posts["4"]["parent_post_id"] is None and posts["4"]["reply_to_account_id"] == "54"
    assert t.reactions.select("post_id", "kind", "actor_account_id").rows() == [
        ("1", "boost", "60")
    ]
    accounts = {r["account_id"]: r for r in t.accounts.to_dicts()}
    assert accounts["60"]["follower_count"] == 5 and accounts["60"]["handle"] == "u60"


def test_pheme_broken_retweets_gzip_is_a_source_error(tmp_path: Path) -> None:
    root = _pheme(tmp_path)
    gz = next(root.rglob("retweets.json.gz"))
    gz.write_bytes(gz.read_bytes()[:20])
    with pytest.raises(SourceError, match="gzip"):
        twitter.read(root)


def test_empty_folder_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no tweets found"):
        twitter.read(tmp_path)


def test_parse_time_rejects_garbage() -> None:
    assert twitter_records.parse_time("2015-01-07T11:07:51Z") == datetime(
        2015, 1, 7, 11, 7, 51, tzinfo=UTC
    )
    with pytest.raises(ValueError, match="unparsable created_at"):
        twitter_records.parse_time("yesterday")


def _by_strptime(value: str) -> object:
    """What parse_time said before its fast route: strptime, then ISO 8601 (value or error)."""
    try:
        try:
            return datetime.strptime(value, twitter_records.TIME_FORMAT).astimezone(UTC)
        except ValueError:
            parsed = datetime.fromisoformat(value)
            return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        return type(exc)


def _parsed(value: str) -> object:
    try:
        return twitter_records.parse_time(value)
    except twitter_records.MalformedError:
        return ValueError
    except OverflowError:
        return OverflowError


@settings(max_examples=600, deadline=None)
@given(
    day=st.sampled_from(["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]),
    month=st.sampled_from(
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    ),
    fields=st.tuples(*[st.integers(0, 99)] * 4),
    sign=st.sampled_from("+-"),
    offset=st.tuples(st.integers(0, 30), st.integers(0, 70)),
    year=st.integers(0, 9999),
)
def test_twitter_times_read_without_strptime_are_what_strptime_reads(
    day, month, fields, sign, offset, year
) -> None:
    """The fast route gives strptime's datetime, or the same refusal, on every field value
    (days, hours, minutes and seconds out of range, offsets of a day or more, year 0, wrong
    weekdays: strptime ignores the weekday)."""
    dd, hh, mm, ss = fields
    value = f"{day} {month} {dd:02d} {hh:02d}:{mm:02d}:{ss:02d} {sign}{offset[0]:02d}{offset[1]:02d} {year:04d}"
    assert _parsed(value) == _by_strptime(value), value


def test_twitter_times_in_other_spellings_still_take_strptime() -> None:
    for value in (
        "Wed Jan 07 11:07:51 +0000 2015",
        "wed jan 07 11:07:51 +0000 2015",  # strptime reads names in any case
        "Wed Jan 7 11:07:51 +0000 2015",  # and one-digit days
        "Wed Jan 07 11:07:51 +00:00 2015",
        "Wed Jan 07 11:07:51 Z 2015",
        "Wed Jan 07 23:59:60 +0000 2015",
        "Sat Jan 01 00:30:00 +0100 0001",
    ):
        assert _parsed(value) == _by_strptime(value), value


def test_a_pheme_reaction_whose_parent_is_missing_keeps_its_threads_source_as_root(
    tmp_path: Path,
) -> None:
    """The thread folder names the source tweet: a reaction answering a tweet outside the dump
    is still in that thread (root = the source, no parent), and so are the replies below it.
    A reaction found in two threads without its parent names no root (which one is unknown)."""
    root = _pheme(tmp_path)
    reactions = root / "threads" / "en" / "some-event" / "1" / "reactions"
    below = _status("5", "55", in_reply_to_status_id_str="4", in_reply_to_user_id_str="53")
    (reactions / "5.json").write_text(json.dumps(below))
    posts = {r["post_id"]: r for r in twitter.read(root).posts.to_dicts()}
    assert (posts["4"]["parent_post_id"], posts["4"]["root_post_id"]) == (None, "1")
    assert (posts["5"]["parent_post_id"], posts["5"]["root_post_id"]) == ("4", "1")
    assert (posts["1"]["parent_post_id"], posts["1"]["root_post_id"]) == (None, None)
    other = root / "threads" / "en" / "some-event" / "7"
    (other / "source-tweets").mkdir(parents=True)
    (other / "reactions").mkdir()
    (other / "source-tweets" / "7.json").write_text(json.dumps(_status("7", "57")))
    (other / "reactions" / "4.json").write_text((reactions / "4.json").read_text())
    posts = {r["post_id"]: r for r in twitter.read(root).posts.to_dicts()}
    assert (posts["4"]["parent_post_id"], posts["4"]["root_post_id"]) == (None, None)
    assert (posts["5"]["parent_post_id"], posts["5"]["root_post_id"]) == ("4", "4")
