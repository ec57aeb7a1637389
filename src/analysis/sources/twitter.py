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
``in_reply_to_user_id`` set) is ``reply``; a quote is ``quote``; anything else ``post``.
A reply whose parent is not in the dump keeps kind ``reply`` with no parent and no root, and
``reply_to_account_id`` = ``in_reply_to_user_id`` (the canonical tables never carry a dangling
link). Retweets: a retweet of a tweet in the dump is a ``boost`` reaction by the retweeter (so
PHEME ``retweets.json`` lines are boosts of the source tweet, and the retweeter gets an account
row as a non-participant); a retweet of a tweet outside the dump (archive "RT @" tweets) is a
``repost`` row by the retweeter with no text (they wrote nothing), no counts (the archive shows
0) and ``reply_to_account_id`` = the retweeted account where known. Accounts mentioned or
replied to get rows with what the dump says about them (id, handle, display name).
"""

from __future__ import annotations

import json
import logging
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from analysis.sources.base import (
    Rejects,
    SourceError,
    SourceTables,
    frame,
    open_maybe_gzip,
    provenance,
    require_file,
)

log = logging.getLogger(__name__)

PLATFORM = "twitter"
TIME_FORMAT = "%a %b %d %H:%M:%S %z %Y"
MISSING = {
    "archive": ("follower_count_at_post_time", "others_posts", "reactions_received", "reply_tree"),
    "api": ("reactions_received", "reply_tree"),
    "pheme": ("like_reactions", "complete_retweets"),
}


class _MalformedError(ValueError):
    """One record cannot be mapped; the message is the reject reason."""


# -- decoding -------------------------------------------------------------------------------


def _text(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SourceError(path, line, f"not valid UTF-8 ({exc.reason})", "UTF-8 JSON") from exc


def _bytes(path: Path) -> bytes:
    if path.suffix != ".gz":
        return path.read_bytes()
    try:
        with open_maybe_gzip(path) as fh:
            return fh.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise SourceError(path, None, f"broken gzip ({exc})", "a complete gzip file") from exc


def _json(path: Path, text: str, offset_line: int = 0) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SourceError(
            path,
            exc.lineno + offset_line,
            f"invalid JSON ({exc.msg})",
            "one complete JSON document",
        ) from exc


def load_ytd(path: Path) -> list[Any]:
    """Parse an archive ``window.YTD.<type>.partN = [...]`` file into its list of records.

    Args:
        path: A ``data/*.js`` file of the official archive.

    Returns:
        The records of the file.
    """
    text = _text(path, path.read_bytes())
    head, sep, body = text.partition("=")
    if not sep:
        raise SourceError(path, 1, "no '=' assignment", "window.YTD.<type>.part0 = [ ... ]")
    data = _json(path, body, head.count("\n"))
    if not isinstance(data, list):
        raise SourceError(
            path, 1, "the assigned value is not a list", "window.YTD.<type>.part0 = [ ... ]"
        )
    return data


def load_statuses(path: Path) -> list[tuple[int, Any]]:
    """(line or index, status) pairs of a v1.1 JSON / JSON-lines file; bad lines are ``None``."""
    text = _text(path, _bytes(path))
    stem = path.name.removesuffix(".gz")
    if not stem.endswith((".jsonl", ".ndjson")) and path.name != "retweets.json.gz":
        data = _json(path, text)
        if isinstance(data, dict):
            return [(1, data)]
        if isinstance(data, list):
            return list(enumerate(data, start=1))
        raise SourceError(path, 1, "neither a status object nor a list", "v1.1 status JSON")
    out: list[tuple[int, Any]] = []
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            out.append((line, json.loads(raw)))
        except json.JSONDecodeError:
            out.append((line, None))
    return out


# -- records --------------------------------------------------------------------------------


def parse_time(value: Any) -> datetime:
    """Twitter ``created_at`` ("Wed Jan 07 11:07:51 +0000 2015") or ISO 8601, as UTC."""
    if not isinstance(value, str):
        raise _MalformedError("missing created_at")
    try:
        return datetime.strptime(value, TIME_FORMAT).astimezone(UTC)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise _MalformedError("unparsable created_at") from exc  # never the value
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _sid(record: dict[str, Any], key: str) -> str | None:
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
        raise _MalformedError(f"unparsable {key}") from exc  # never the value


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


class _Collector:
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
            "handle": _str(handle),
            "display_name": _str(name),
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
        if not isinstance(user, dict) or _sid(user, "id") is None:
            raise _MalformedError("missing user id")
        try:
            created = parse_time(user.get("created_at"))
        except _MalformedError:
            created = None
        uid = _sid(user, "id")
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
    ) -> None:
        """One v1.1 status: a post row, or a retweet kept for :meth:`resolve`.

        ``is_reaction`` marks PHEME reaction tweets, which are replies in the thread even where
        Twitter recorded no ``in_reply_to_status_id``.
        """
        if not isinstance(status, dict):
            self.n_read["posts"] += 1
            self.rejects.add("posts", path, line, None, "not a JSON status object")
            return
        if isinstance(status.get("retweeted_status"), dict):
            self.retweets.append((path, line, status))
            return
        self.n_read["posts"] += 1
        key = _sid(status, "id")
        try:
            if key is None:
                raise _MalformedError("missing id_str")
            created_at = parse_time(status.get("created_at"))
            author = self.user(status.get("user"), created_at)
            user = status["user"]
            row = _post_row(status, key, author, created_at)
            row["follower_count"] = _count(user, "followers_count")
            if labels is not None:
                row["labels"] = list(labels)
            if is_reaction and row["kind"] == "post":
                row["kind"] = "reply"
            self._mentions(status)
        except _MalformedError as exc:
            self.rejects.add("posts", path, line, key, str(exc))
            return
        if key in self.posts:
            old = self.posts[key]
            old["labels"] = sorted(set(old["labels"]) | set(row["labels"]))
            self.rejects.add(
                "posts", path, line, key, "tweet already read (in another thread or file)"
            )
            return
        quoted = status.get("quoted_status")
        if isinstance(quoted, dict) and isinstance(quoted.get("user"), dict):
            row["_quoted_account"] = _sid(quoted["user"], "id")
        self.posts[key] = {**row, **provenance(path, line)}

    def _mentions(self, status: dict[str, Any]) -> None:
        entities = status.get("entities")
        mentions = entities.get("user_mentions") if isinstance(entities, dict) else None
        for m in mentions if isinstance(mentions, list) else []:
            if isinstance(m, dict):
                self.account(_sid(m, "id"), m.get("screen_name"), m.get("name"))
        self.account(_sid(status, "in_reply_to_user_id"), status.get("in_reply_to_screen_name"))

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
            if row.get("parent_post_id") is None:
                continue
            seen, cur = {row["post_id"]}, row["parent_post_id"]
            while known[cur].get("parent_post_id") is not None and cur not in seen:
                seen.add(cur)
                cur = known[cur]["parent_post_id"]
            row["root_post_id"] = cur

    def _retweet(self, path: Path, line: int, status: dict[str, Any]) -> None:
        original = status["retweeted_status"]
        key = _sid(status, "id")
        target = _sid(original, "id")
        try:
            if key is None or target is None:
                raise _MalformedError("retweet without id_str or retweeted_status.id_str")
            created_at = parse_time(status.get("created_at"))
            actor = self.user(status.get("user"), created_at)
        except _MalformedError as exc:
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
            "reply_to_account_id": _sid(original_user, "id"),
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


def _post_row(tweet: dict[str, Any], key: str, author: str, created_at: datetime) -> dict[str, Any]:
    text = tweet.get("full_text", tweet.get("text"))
    if text is not None and not isinstance(text, str):
        raise _MalformedError("text is not a string")
    parent = _sid(tweet, "in_reply_to_status_id")
    addressee = _sid(tweet, "in_reply_to_user_id")
    quoted = _sid(tweet, "quoted_status_id")
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
        "_parent": parent or quoted,
    }


# -- the three variants ---------------------------------------------------------------------


def _archive(data_dir: Path) -> SourceTables:
    c = _Collector()
    account_path = require_file(data_dir, "account.js")
    records = load_ytd(account_path)
    acc = records[0].get("account") if records and isinstance(records[0], dict) else None
    if not isinstance(acc, dict) or not _str(acc.get("accountId")):
        raise SourceError(
            account_path, None, "no account record", '[{"account": {"accountId": ...}}]'
        )
    owner = acc["accountId"]
    try:
        owner_created = parse_time(acc.get("createdAt"))
    except _MalformedError:
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
            key = _sid(tweet, "id") if isinstance(tweet, dict) else None
            try:
                if key is None:
                    raise _MalformedError("missing id_str")
                row = _archive_tweet(tweet, key, owner)
                c._mentions(tweet)
            except _MalformedError as exc:
                c.rejects.add("posts", path, line, key, str(exc))
                continue
            if key in c.posts:
                c.rejects.add("posts", path, line, key, "duplicate tweet id")
                continue
            c.posts[key] = {**row, **provenance(path, line)}
    c.resolve()
    like_path = data_dir / "like.js"
    if like_path.exists():
        for line, rec in enumerate(load_ytd(like_path), start=1):
            c.n_read["reactions"] += 1
            like = rec.get("like") if isinstance(rec, dict) else None
            tid = _str(like.get("tweetId")) if isinstance(like, dict) else None
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
    row = _post_row(tweet, key, owner, parse_time(tweet.get("created_at")))
    text = row["text"] or ""
    if text.startswith("RT @") and not row["_parent"]:
        # A retweet of a tweet the archive does not hold: the owner wrote nothing, and the
        # archive reports 0 likes/retweets on it, so no text and no counts.
        name = text[4:].split(":", 1)[0]
        entities = tweet.get("entities")
        mentions = entities.get("user_mentions") if isinstance(entities, dict) else None
        original = next(
            (
                _sid(m, "id")
                for m in mentions or []
                if isinstance(m, dict) and m.get("screen_name") == name
            ),
            None,
        )
        row.update(
            kind="repost", text=None, n_likes=None, n_reposts=None, reply_to_account_id=original
        )
    return row


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
    c = _Collector()
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
                c.status(path, line, status, [thread.parent.name], is_reaction=True)
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
    c = _Collector()
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
