"""Adapter ``twitter``: X/Twitter dumps in three shapes, detected from ``source.path`` (stage ``ingest``).

1. **Official account archive** ("Your archive"): a folder with ``data/tweets.js`` (or the
   ``data`` folder itself). Files are ``window.YTD.<type>.part0 = [...]``: everything up to the
   first ``=`` is stripped and the rest parsed as JSON; all numbers are strings. Tweets have no
   user object: they are all the owner's (``account.js``). The owner's ``follower_count`` is the
   number of rows of ``follower.js`` *at export time*, not at posting time, so posts carry no
   ``follower_count``. ``like.js`` holds liked tweet ids: a like becomes a ``like`` reaction by
   the owner only if the tweet is in the dump, else it is rejected ("liked tweet not in the
   dump"), because the export cannot say who wrote it or when it was liked.
2. **v1.1 API statuses**: a ``.json`` file with one status or a list, a JSON-lines file
   (``.jsonl``, optionally ``.gz``), or a folder of such files. ``user.followers_count`` fills
   both ``posts.follower_count`` (audience at collection time) and ``accounts.follower_count``
   (the latest snapshot of that user).
3. **PHEME conversation threads**: ``threads/<lang>/<event>/<thread-id>/`` with
   ``source-tweets/<id>.json``, ``reactions/<id>.json`` and ``retweets.json.gz``; ``source.path``
   is the PHEME root, ``threads/``, a language folder, one event folder or one thread. Every
   tweet is labelled with its event name; a tweet found in several threads is kept once (its
   labels merged) and the later copies are rejected. ``structure.json`` is not read (it repeats
   ``in_reply_to_status_id`` and omits some reactions); ``who-follows-whom.dat`` and
   ``annotation.json`` are ignored for now.

Common mapping: ``id_str`` -> ``post_id``, ``created_at`` ("Wed Jan 07 11:07:51 +0000 2015")
-> UTC, ``favorite_count`` -> ``n_likes``, ``retweet_count`` -> ``n_reposts``, hashtags ->
``labels`` (PHEME: the event name instead). Kinds: a reply (``in_reply_to_status_id`` or
``in_reply_to_user_id`` set) is ``reply``; a quote is ``quote`` (``quoted_status_id``; in the
archive, which has none, a tweet whose last link is a tweet's permalink, its author known by the
screen name in that link where a mention elsewhere in the archive gives its id); anything else
``post``.
A reply whose parent is not in the dump keeps kind ``reply`` with no parent and no root (but a
PHEME reaction, whose thread folder names its source tweet: that tweet is its root), and
``reply_to_account_id`` = ``in_reply_to_user_id`` (the canonical tables never carry a dangling
link). Retweets: a retweet of a tweet in the dump is a ``boost`` reaction by the retweeter (so
PHEME ``retweets.json`` lines are boosts of the source tweet, and the retweeter gets an account
row as a non-participant); a retweet of a tweet outside the dump (archive "RT @" tweets) is a
``repost`` row by the retweeter with no text (they wrote nothing), no counts (the archive shows
0) and ``reply_to_account_id`` = the retweeted account where known. Accounts mentioned or
replied to get rows with what the dump says about them (id, handle, display name).

Where each part lives: decoding the files in ``analysis.sources.twitter_files``; mapping records
to rows and collecting them (accounts, parents, retweets, rejects) in
``analysis.sources.twitter_records``. This module tells the three shapes apart and reads each.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from analysis.sources.base import SourceError, SourceTables, provenance, require_file
from analysis.sources.twitter_files import load_statuses, load_ytd
from analysis.sources.twitter_records import (
    PLATFORM,
    Collector,
    MalformedError,
    id_of,
    parse_time,
    post_row,
    text_or_none,
)

#: A tweet's permalink, ``https://twitter.com/<screen name>/status/<id>`` (or x.com).
_PERMALINK = re.compile(
    r"^https?://(?:www\.|mobile\.)?(?:twitter|x)\.com/(?P<name>\w{1,15})/status(?:es)?/"
    r"(?P<id>\d+)(?:[/?#].*)?$",
    re.IGNORECASE,
)

MISSING = {
    "archive": ("follower_count_at_post_time", "others_posts", "reactions_received", "reply_tree"),
    "api": ("reactions_received", "reply_tree"),
    "pheme": ("like_reactions", "complete_retweets"),
}


# -- the three variants ---------------------------------------------------------------------


def _archive(data_dir: Path) -> SourceTables:
    c = Collector()
    account_path = require_file(data_dir, "account.js")
    records = load_ytd(account_path)
    acc = records[0].get("account") if records and isinstance(records[0], dict) else None
    if not isinstance(acc, dict) or not text_or_none(acc.get("accountId")):
        raise SourceError(
            account_path, None, "no account record", '[{"account": {"accountId": ...}}]'
        )
    owner = acc["accountId"]
    try:
        owner_created = parse_time(acc.get("createdAt"))
    except MalformedError:
        owner_created = None
    followers = data_dir / "follower.js"
    c.account(
        owner,
        acc.get("username"),
        acc.get("accountDisplayName"),
        created_at=owner_created,
        follower_count=len(load_ytd(followers)) if followers.exists() else None,
    )
    tweet_files = [require_file(data_dir, "tweets.js", "tweet.js")]
    tweet_files += sorted(data_dir.glob("tweets-part*.js")) + sorted(
        data_dir.glob("tweet-part*.js")
    )
    for path in tweet_files:
        for line, rec in enumerate(load_ytd(path), start=1):
            c.n_read["posts"] += 1
            tweet = rec.get("tweet", rec) if isinstance(rec, dict) else None
            key = id_of(tweet, "id") if isinstance(tweet, dict) else None
            try:
                if key is None:
                    raise MalformedError("missing id_str")
                row = _archive_tweet(tweet, key, owner)
                c.mentions(tweet)
            except MalformedError as exc:
                c.rejects.add("posts", path, line, key, str(exc))
                continue
            if key in c.posts:
                c.rejects.add("posts", path, line, key, "duplicate tweet id")
                continue
            c.posts[key] = {**row, **provenance(path, line)}
    _quoted_accounts(c)
    c.resolve()
    like_path = data_dir / "like.js"
    if like_path.exists():
        for line, rec in enumerate(load_ytd(like_path), start=1):
            c.n_read["reactions"] += 1
            like = rec.get("like") if isinstance(rec, dict) else None
            tid = text_or_none(like.get("tweetId")) if isinstance(like, dict) else None
            reaction_id = f"like:{owner}:{tid}"
            if tid is None:
                c.rejects.add("reactions", like_path, line, None, "like without tweetId")
            elif tid not in c.posts:
                c.rejects.add("reactions", like_path, line, tid, "liked tweet not in the dump")
            elif reaction_id in c.reaction_ids:
                c.rejects.add("reactions", like_path, line, tid, "duplicate like")
            else:
                c.reaction_ids.add(reaction_id)
                c.reactions.append(
                    {
                        "reaction_id": reaction_id,
                        "platform": PLATFORM,
                        "post_id": tid,
                        "kind": "like",
                        "actor_account_id": owner,
                        **provenance(like_path, line),
                    }
                )
    return c.tables(MISSING["archive"])


def _archive_tweet(tweet: dict[str, Any], key: str, owner: str) -> dict[str, Any]:
    row = post_row(tweet, key, owner, parse_time(tweet.get("created_at")))
    text = row["text"] or ""
    if text.startswith("RT @") and not row["_parent"]:
        # A retweet of a tweet the archive does not hold: the owner wrote nothing, and the
        # archive reports 0 likes/retweets on it, so no text and no counts.
        # Screen names are case-insensitive: the text writes the name as the retweeter's client
        # did ("RT @kahlilx"), the mention as the account spells it ("Kahlilx"); an exact match
        # lost 12 of the 643 retweeted accounts of twitter-archive-andreruffert.
        name = text[4:].split(":", 1)[0].strip().casefold()
        entities = tweet.get("entities")
        mentions = entities.get("user_mentions") if isinstance(entities, dict) else None
        original = next(
            (
                id_of(m, "id")
                for m in mentions or []
                if isinstance(m, dict)
                and isinstance(m.get("screen_name"), str)
                and m["screen_name"].casefold() == name
            ),
            None,
        )
        row.update(
            kind="repost", text=None, n_likes=None, n_reposts=None, reply_to_account_id=original
        )
    elif row["kind"] == "post" and (quoted := quoted_permalink(tweet)) is not None:
        # The archive has no quoted_status_id: a quote tweet is a tweet whose last link is the
        # quoted tweet's permalink (Twitter appends it; andreruffert: 79 such tweets, all from
        # after quotes began in April 2015). An @-reply to a user linking a tweet stays a reply
        # (post_row): it talks with that user.
        name, status_id = quoted
        row.update(kind="quote", _parent=status_id, _quoted_name=name)
    return row


def quoted_permalink(tweet: dict[str, Any]) -> tuple[str, str] | None:
    """``(screen name, status id)`` of the tweet whose permalink is ``tweet``'s last link."""
    entities = tweet.get("entities")
    urls = entities.get("urls") if isinstance(entities, dict) else None
    if not isinstance(urls, list) or not urls or not isinstance(urls[-1], dict):
        return None
    match = _PERMALINK.match(text_or_none(urls[-1].get("expanded_url")) or "")
    return None if match is None else (match["name"], match["id"])


def _quoted_accounts(c: Collector) -> None:
    """The quoted author of each archive quote, by the screen name of its permalink.

    The archive knows other accounts only from mentions and replies (id and screen name): a
    name that one account of those bears (case-insensitive) is its id; an unknown or shared name
    names no one (a screen name is not an identity: it can change hands). Run after every tweet
    is read, before :meth:`Collector.resolve`.
    """
    ids: dict[str, set[str]] = {}
    for account in c.accounts.values():
        if account.get("handle"):
            ids.setdefault(account["handle"].casefold(), set()).add(account["account_id"])
    for row in c.posts.values():
        name = row.pop("_quoted_name", None)
        found = ids.get(name.casefold(), set()) if name else set()
        if len(found) == 1:
            row["_quoted_account"] = next(iter(found))


def _pheme_threads(path: Path) -> list[Path]:
    if (path / "source-tweets").is_dir():
        return [path]
    root = path / "threads" if (path / "threads").is_dir() else path
    found: list[Path] = []
    for depth in ("*", "*/*", "*/*/*"):
        found = sorted(p.parent for p in root.glob(f"{depth}/source-tweets") if p.is_dir())
        if found:
            return found
    return found


def _pheme(threads: list[Path]) -> SourceTables:
    c = Collector()
    # Source tweets of every thread first: a thread's source can also sit among another
    # thread's reactions, and it should be kept as the source ("post"), not as a reply.
    for thread in threads:
        sources = sorted((thread / "source-tweets").glob("*.json"))
        if not sources:
            raise SourceError(thread / "source-tweets", None, "no source tweet", "<thread-id>.json")
        for path in sources:
            for line, status in load_statuses(path):
                c.status(path, line, status, [thread.parent.name])
    for thread in threads:
        for path in sorted((thread / "reactions").glob("*.json")):
            for line, status in load_statuses(path):
                c.status(
                    path, line, status, [thread.parent.name], is_reaction=True, thread=thread.name
                )
    for thread in threads:
        retweets = thread / "retweets.json.gz"
        if not retweets.exists():
            retweets = thread / "retweets.json"
        if retweets.exists():
            for line, status in load_statuses(retweets):
                c.status(retweets, line, status, [thread.parent.name])
    c.resolve()
    return c.tables(MISSING["pheme"])


def _api(files: list[Path]) -> SourceTables:
    c = Collector()
    for path in files:
        for line, status in load_statuses(path):
            c.status(path, line, status)
    c.resolve()
    return c.tables(MISSING["api"])


def read(path: Path) -> SourceTables:
    """Read an X/Twitter dump: official archive, v1.1 status JSON, or PHEME threads.

    Args:
        path: The archive folder (or its ``data`` folder), a PHEME root / event / thread folder,
            or a v1.1 JSON / JSON-lines file or folder of them.

    Returns:
        Raw canonical tables; ``missing_inputs`` lists what the variant does not carry.
    """
    if path.is_file():
        if path.suffix == ".js":
            return _archive(path.parent)
        return _api([path])
    for data_dir in (path / "data", path):
        if (data_dir / "tweets.js").exists() or (data_dir / "tweet.js").exists():
            return _archive(data_dir)
    threads = _pheme_threads(path)
    if threads:
        return _pheme(threads)
    files = sorted(
        p
        for p in path.iterdir()
        if p.is_file() and p.name.endswith((".json", ".jsonl", ".ndjson", ".json.gz", ".jsonl.gz"))
    )
    if not files:
        raise SourceError(
            path,
            None,
            "no tweets found",
            "data/tweets.js, PHEME threads/<lang>/<event>/<id>/, or *.json statuses",
        )
    return _api(files)
