"""Adapter ``twitter``: one record to canonical rows, and the rows of one read collected.

:func:`parse_time` reads Twitter's and ISO times; :func:`post_row` maps a tweet to a post row
(kind, counts, hashtags, the parent kept for later); :class:`Collector` gathers posts, accounts
(latest snapshot wins), reactions and rejects of one read, resolves parent links and retweets
and returns the raw canonical tables. A record that cannot be mapped raises
:class:`MalformedError`, whose message is the reject reason. Used by ``analysis.sources.twitter``.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from analysis.sources.base import Rejects, SourceTables, frame, provenance

log = logging.getLogger(__name__)

PLATFORM = "twitter"
TIME_FORMAT = "%a %b %d %H:%M:%S %z %Y"


class MalformedError(ValueError):
    """One record cannot be mapped; the message is the reject reason."""


_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTHS = {m: i for i, m in enumerate(_MONTH_NAMES, 1)}
#: :data:`TIME_FORMAT` as Twitter writes it, read without ``strptime`` (2.8x: 75,532 times in
#: 0.28 s instead of 0.80, ``python -m benchmarks.hot_paths``), offset minutes 00-59 as strptime
#: reads them; anything else, or a date that does not exist, takes ``strptime``.
_TWITTER_TIME = re.compile(
    rf"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ({'|'.join(_MONTH_NAMES)}) "
    r"(\d\d) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)([0-5]\d) (\d{4})",
    re.ASCII,
)


def parse_time(value: Any) -> datetime:
    """Twitter ``created_at`` ("Wed Jan 07 11:07:51 +0000 2015") or ISO 8601, as UTC."""
    if not isinstance(value, str):
        raise MalformedError("missing created_at")
    m = _TWITTER_TIME.fullmatch(value)
    if m:
        mon, day, hh, mm, ss, sign, oh, om, year = m.groups()
        try:
            offset = timedelta(hours=int(oh), minutes=int(om)) * (-1 if sign == "-" else 1)
            tz = timezone(offset)
            return datetime(
                int(year), _MONTHS[mon], int(day), int(hh), int(mm), int(ss), tzinfo=tz
            ).astimezone(UTC)
        except ValueError:
            pass  # strptime decides (and says why)
    try:
        return datetime.strptime(value, TIME_FORMAT).astimezone(UTC)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise MalformedError("unparsable created_at") from exc  # never the value
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def id_of(record: dict[str, Any], key: str) -> str | None:
    """An id as a string: ``<key>_str`` first (v1.1 ints lose precision in JS), then ``<key>``."""
    for name in (f"{key}_str", key):
        value = record.get(name)
        if isinstance(value, str) and value:
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
    return None


def _count(record: dict[str, Any], key: str) -> int | None:
    value = record.get(key)
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise MalformedError(f"unparsable {key}") from exc  # never the value


def text_or_none(value: Any) -> str | None:
    """``value`` if it is a string, else None."""
    return value if isinstance(value, str) else None


class Collector:
    """Posts, reactions and accounts of one read, before parent links are resolved."""

    def __init__(self) -> None:
        self.posts: dict[str, dict[str, Any]] = {}
        self.retweets: list[tuple[Path, int, dict[str, Any]]] = []
        self.accounts: dict[str, dict[str, Any]] = {}
        self.reactions: list[dict[str, Any]] = []
        self.reaction_ids: set[str] = set()
        self.rejects = Rejects()
        self.n_read = {"accounts": 0, "posts": 0, "reactions": 0}

    def account(
        self,
        account_id: str | None,
        handle: Any = None,
        name: Any = None,
        seen_at: datetime | None = None,
        **extra: Any,
    ) -> None:
        """Add or refresh an account; the latest snapshot (by ``seen_at``) wins."""
        if not account_id:
            return
        row = self.accounts.get(account_id)
        fresh = {
            "account_id": account_id,
            "platform": PLATFORM,
            "handle": text_or_none(handle),
            "display_name": text_or_none(name),
            "_seen": seen_at,
            **extra,
        }
        if row is None:
            self.accounts[account_id] = fresh
            return
        newer = seen_at is not None and (row["_seen"] is None or seen_at >= row["_seen"])
        for key, value in fresh.items():
            if value is not None and (newer or row.get(key) is None):
                row[key] = value

    def user(self, user: Any, seen_at: datetime) -> str:
        """Account row from a v1.1 ``user`` object; returns its id."""
        if not isinstance(user, dict) or id_of(user, "id") is None:
            raise MalformedError("missing user id")
        try:
            created = parse_time(user.get("created_at"))
        except MalformedError:
            created = None
        uid = id_of(user, "id")
        self.account(
            uid,
            user.get("screen_name"),
            user.get("name"),
            seen_at,
            created_at=created,
            follower_count=_count(user, "followers_count"),
        )
        return uid

    def status(
        self,
        path: Path,
        line: int,
        status: Any,
        labels: list[str] | None = None,
        is_reaction: bool = False,
        thread: str | None = None,
    ) -> None:
        """One v1.1 status: a post row, or a retweet kept for :meth:`resolve`.

        ``is_reaction`` marks PHEME reaction tweets, which are replies in the thread even where
        Twitter recorded no ``in_reply_to_status_id``; ``thread`` is the id of that thread's
        source tweet, the reaction's root where its parent is not in the dump.
        """
        if not isinstance(status, dict):
            self.n_read["posts"] += 1
            self.rejects.add("posts", path, line, None, "not a JSON status object")
            return
        if isinstance(status.get("retweeted_status"), dict):
            self.retweets.append((path, line, status))
            return
        self.n_read["posts"] += 1
        key = id_of(status, "id")
        try:
            if key is None:
                raise MalformedError("missing id_str")
            created_at = parse_time(status.get("created_at"))
            author = self.user(status.get("user"), created_at)
            user = status["user"]
            row = post_row(status, key, author, created_at)
            row["follower_count"] = _count(user, "followers_count")
            if labels is not None:
                row["labels"] = list(labels)
            if is_reaction and row["kind"] == "post":
                row["kind"] = "reply"
            self.mentions(status)
        except MalformedError as exc:
            self.rejects.add("posts", path, line, key, str(exc))
            return
        if thread is not None:
            row["_thread"] = thread
        if key in self.posts:
            old = self.posts[key]
            old["labels"] = sorted(set(old["labels"]) | set(row["labels"]))
            if old.get("_thread", thread) != thread:
                old["_thread"] = None  # a reaction in two threads: which one it joined is unknown
            self.rejects.add(
                "posts", path, line, key, "tweet already read (in another thread or file)"
            )
            return
        quoted = status.get("quoted_status")
        if isinstance(quoted, dict) and isinstance(quoted.get("user"), dict):
            row["_quoted_account"] = id_of(quoted["user"], "id")
        self.posts[key] = {**row, **provenance(path, line)}

    def mentions(self, status: dict[str, Any]) -> None:
        entities = status.get("entities")
        mentions = entities.get("user_mentions") if isinstance(entities, dict) else None
        for m in mentions if isinstance(mentions, list) else []:
            if isinstance(m, dict):
                self.account(id_of(m, "id"), m.get("screen_name"), m.get("name"))
        self.account(id_of(status, "in_reply_to_user_id"), status.get("in_reply_to_screen_name"))

    def resolve(self) -> None:
        """Link parents inside the dump, turn retweets into boosts or reposts, set roots."""
        for path, line, status in self.retweets:
            self._retweet(path, line, status)
        known = self.posts
        for row in known.values():
            target = row.pop("_parent", None)
            quoted_account = row.pop("_quoted_account", None)
            if target is not None and target in known and target != row["post_id"]:
                row["parent_post_id"] = target
            elif row["kind"] == "quote" and quoted_account:
                row["reply_to_account_id"] = quoted_account
        for row in known.values():
            thread = row.pop("_thread", None)
            # a PHEME reaction whose parent is not here: still in its thread (the source tweet)
            if row.get("parent_post_id") is None and thread in known and thread != row["post_id"]:
                row["root_post_id"] = thread
        for row in known.values():
            if row.get("parent_post_id") is None:
                continue
            seen, cur = {row["post_id"]}, row["parent_post_id"]
            while known[cur].get("parent_post_id") is not None and cur not in seen:
                seen.add(cur)
                cur = known[cur]["parent_post_id"]
            # the top of the chain, or the thread it is known to belong to
            row["root_post_id"] = known[cur].get("root_post_id") or cur

    def _retweet(self, path: Path, line: int, status: dict[str, Any]) -> None:
        original = status["retweeted_status"]
        key = id_of(status, "id")
        target = id_of(original, "id")
        try:
            if key is None or target is None:
                raise MalformedError("retweet without id_str or retweeted_status.id_str")
            created_at = parse_time(status.get("created_at"))
            actor = self.user(status.get("user"), created_at)
        except MalformedError as exc:
            table = "reactions" if target in self.posts else "posts"
            self.n_read[table] += 1
            self.rejects.add(table, path, line, key, f"retweet: {exc}")
            return
        if target in self.posts:
            self.n_read["reactions"] += 1
            if key in self.reaction_ids:
                self.rejects.add("reactions", path, line, key, "duplicate retweet")
                return
            self.reaction_ids.add(key)
            self.reactions.append(
                {
                    "reaction_id": key,
                    "platform": PLATFORM,
                    "post_id": target,
                    "kind": "boost",
                    "created_at": created_at,
                    "actor_account_id": actor,
                    **provenance(path, line),
                }
            )
            return
        self.n_read["posts"] += 1
        if key in self.posts:
            self.rejects.add(
                "posts", path, line, key, "tweet already read (in another thread or file)"
            )
            return
        original_user = original.get("user") if isinstance(original.get("user"), dict) else {}
        self.posts[key] = {
            "post_id": key,
            "platform": PLATFORM,
            "account_id": actor,
            "kind": "repost",
            "created_at": created_at,
            "text": None,
            "reply_to_account_id": id_of(original_user, "id"),
            "labels": [],
            "follower_count": _count(status["user"], "followers_count"),
            **provenance(path, line),
        }

    def tables(self, missing: tuple[str, ...]) -> SourceTables:
        """The collected rows as :class:`SourceTables`."""
        accounts = [{k: v for k, v in a.items() if k != "_seen"} for a in self.accounts.values()]
        # Accounts are derived from the records (one per distinct id), so each is read once.
        self.n_read["accounts"] = len(accounts)
        log.info(
            "twitter: %d posts, %d reactions, %d accounts accepted; %d rejected",
            len(self.posts),
            len(self.reactions),
            len(accounts),
            len(self.rejects.rows),
        )
        return SourceTables(
            accounts=frame(accounts, "accounts"),
            posts=frame(self.posts.values(), "posts"),
            reactions=frame(self.reactions, "reactions"),
            rejects=self.rejects.frame(),
            n_read=self.n_read,
            platform=PLATFORM,
            missing_inputs=missing,
        )


def post_row(tweet: dict[str, Any], key: str, author: str, created_at: datetime) -> dict[str, Any]:
    """The post row of ``tweet`` (id ``key``, by ``author``); ``_parent`` is resolved later."""
    text = tweet.get("full_text", tweet.get("text"))
    if text is not None and not isinstance(text, str):
        raise MalformedError("text is not a string")
    parent = id_of(tweet, "in_reply_to_status_id")
    addressee = id_of(tweet, "in_reply_to_user_id")
    quoted = id_of(tweet, "quoted_status_id")
    entities = tweet.get("entities")
    tags = entities.get("hashtags") if isinstance(entities, dict) else None
    labels = [
        t["text"].lower()
        for t in tags or []
        if isinstance(t, dict) and isinstance(t.get("text"), str)
    ]
    kind = "reply" if parent or addressee else "quote" if quoted else "post"
    return {
        "post_id": key,
        "platform": PLATFORM,
        "account_id": author,
        "kind": kind,
        "created_at": created_at,
        "text": text,
        "n_likes": _count(tweet, "favorite_count"),
        "n_reposts": _count(tweet, "retweet_count"),
        "reply_to_account_id": addressee,
        "labels": labels,
        # A quote hangs under the quoted tweet; a reply only under the tweet it answers: an
        # @-reply to a user (no status id) that also quotes someone's tweet talks with that
        # user, and linking it under the quoted tweet handed the quoted author the conversation.
        "_parent": parent or (quoted if kind == "quote" else None),
    }
