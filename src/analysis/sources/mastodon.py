"""Adapter ``mastodon``: one account's Mastodon export folder (stage ``ingest``).

Reads ``outbox.json`` (an ActivityStreams ``OrderedCollection`` of the owner's activities),
``actor.json`` (the owner's ``Person``) and, if present, ``likes.json`` (URLs the owner liked).
Writes nothing; returns raw canonical tables (ids are the ActivityPub URLs, unpseudonymised).

Mapping and data quirks:

* ``Create`` of a ``Note`` (or ``Question``, a poll) is a post; with ``inReplyTo`` it is a
  ``reply``. Its text is the HTML ``content`` with ``<br>`` and ``<p>`` turned into spaces (the
  ingest scrubber strips the remaining tags and mention links). Hashtags become ``labels``.
* A reply whose parent is not in the dump keeps kind ``reply`` but gets no parent (the
  canonical tables never carry a dangling link); its addressee, where the ``inReplyTo`` URL has
  the Mastodon shape ``https://host/users/NAME/statuses/ID``, goes to ``reply_to_account_id``;
  for another server's URL shape, the reply's only mention (with several, none is chosen).
  Its root is the owner's top-level post that began its ``conversation`` (``context`` in newer
  exports), where that post is surely the thread's top (:func:`_thread_tops`), else none.
* ``Announce`` (a boost) of a post in the dump is a ``boost`` reaction by the owner. A boost of
  a post outside the dump is a ``repost`` row authored by the owner with no text (the owner wrote
  nothing) and no parent; ``reply_to_account_id`` names the boosted account where the URL shows it,
  else the one actor the ``Announce`` is addressed to beside the public and the owner's followers.
* Only public posts (``Public`` among the addressees: public and unlisted) are activity. Direct
  messages (addressed to the people they mention) are private conversations and followers-only
  posts are addressed to an audience the owner chose, not the public: both go to rejects with
  their reason, never into the tables (dealingwith: 35 direct, 40 followers-only of 1,260 notes;
  the followers-only ones were ingested as public activity before).
* ``likes.json`` holds only URLs of liked posts, without dates. A like becomes a ``like``
  reaction by the owner when the post is in the dump, else it is rejected ("liked post not in
  the dump"): the export cannot tell who wrote it or when.
* Accounts: the owner (``preferredUsername`` -> handle, ``name`` -> display name), plus every
  account mentioned, replied to or boosted, with handle ``@user@instance`` and nothing else;
  they authored nothing here, so ingest treats them as non-participants.
* ``source_line`` of a reject is the 1-based index of the item in its JSON collection.
* ``totalItems`` may disagree with ``orderedItems``; what is there is read and the mismatch
  is logged.

The export has no follower counts, no reaction or reply counts received by the owner's posts
and no other users' posts (see ``MISSING_INPUTS``).
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from analysis.sources import mastodon_threads
from analysis.sources.base import (
    Rejects,
    SourceError,
    SourceTables,
    frame,
    provenance,
    require_file,
)

log = logging.getLogger(__name__)

PLATFORM = "mastodon"
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
POST_OBJECT_TYPES = ("Note", "Question")
MISSING_INPUTS = ("follower_count", "n_likes", "n_reposts", "reactions_received", "others_posts")

_BREAKS = re.compile(r"(?:\s*(?:<br\s*/?>|</?p(?:\s[^>]*)?>)\s*)+", re.IGNORECASE)
_STATUS_URL = re.compile(r"^(https?://[^/]+)/users/([^/]+)/statuses/[^/]+/?$")


class _MalformedError(ValueError):
    """One record cannot be mapped; the message is the reject reason."""


def load_json(path: Path) -> Any:
    """Parse a UTF-8 JSON file, turning decoding and syntax errors into :class:`SourceError`.

    Args:
        path: The file to read.

    Returns:
        The parsed JSON value.
    """
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SourceError(
            path, line, f"not valid UTF-8 ({exc.reason})", "a UTF-8 JSON file"
        ) from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SourceError(
            path, exc.lineno, f"invalid JSON ({exc.msg})", "one complete JSON document"
        ) from exc
    except RecursionError as exc:
        raise SourceError(
            path, None, "nested too deeply to parse", "an ActivityPub export (a few levels deep)"
        ) from exc


def html_to_text(html: str) -> str:
    """Turn ``<br>`` and ``<p>`` of Mastodon HTML into single spaces; other tags are kept."""
    return _BREAKS.sub(" ", html).strip()


def account_of_status(url: str) -> tuple[str, str] | None:
    """Account URL and ``@user@host`` handle of a Mastodon status URL, or None if unknown."""
    match = _STATUS_URL.match(url)
    if match is None:
        return None
    base, name = match.groups()
    return f"{base}/users/{name}", f"@{name}@{urlparse(base).netloc}"


def _time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise _MalformedError("missing published time")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise _MalformedError("unparsable published time") from exc  # never the value
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _id_of(value: Any) -> str:
    """An ActivityPub reference is either a URL string or an object with an ``id``."""
    if isinstance(value, dict):
        value = value.get("id")
    if not isinstance(value, str) or not value:
        raise _MalformedError("missing object id")
    return value


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _audience(obj: dict[str, Any]) -> set[str]:
    out: set[str] = set()
    for key in ("to", "cc"):
        value = obj.get(key) or []
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            raise _MalformedError(f"{key} is not a list")
        out.update(v for v in value if isinstance(v, str))
    return out


class _Accounts:
    """Accounts seen in the export, first mention wins; the owner comes first."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}

    def add(self, account_id: str, handle: str | None, **extra: Any) -> None:
        if account_id not in self.rows:
            self.rows[account_id] = {
                "account_id": account_id,
                "platform": PLATFORM,
                "handle": handle,
                **extra,
            }


def _owner(path: Path) -> dict[str, Any]:
    actor = load_json(path)
    if not isinstance(actor, dict) or not isinstance(actor.get("id"), str):
        raise SourceError(path, None, "no account id", "an ActivityPub Person with an 'id' URL")
    created = actor.get("published")
    try:
        created_at = _time(created) if created is not None else None
    except _MalformedError:
        log.warning("%s: unparsable published time; account created_at left empty", path)
        created_at = None
    return {
        "account_id": actor["id"],
        "platform": PLATFORM,
        "handle": _str(actor.get("preferredUsername")),
        "display_name": _str(actor.get("name")),
        "created_at": created_at,
    }


def _items(path: Path, data: Any, key: str = "orderedItems") -> list[Any]:
    if not isinstance(data, dict) or not isinstance(data.get(key), list):
        raise SourceError(path, None, f"no {key} list", f"an OrderedCollection with {key}")
    return data[key]


def _note(act: dict[str, Any], followers: str, accounts: _Accounts) -> dict[str, Any]:
    """A ``Create`` activity as a post row with its raw ``inReplyTo`` (resolved later)."""
    obj = act.get("object")
    if not isinstance(obj, dict):
        raise _MalformedError("Create without an embedded object")
    if obj.get("type") not in POST_OBJECT_TYPES:
        raise _MalformedError(f"unsupported object type {obj.get('type')!r}")
    audience = _audience(obj)
    if PUBLIC not in audience:
        if followers in audience:
            raise _MalformedError("followers-only post (not public; not ingested)")
        raise _MalformedError("direct message (private; not ingested)")
    author = obj.get("attributedTo") or act.get("actor")
    if not isinstance(author, str):
        raise _MalformedError("missing attributedTo")
    content = obj.get("content")
    if content is not None and not isinstance(content, str):
        raise _MalformedError("content is not a string")
    labels: list[str] = []
    mentioned: list[str] = []
    tags = obj.get("tag") or []
    if not isinstance(tags, list):
        raise _MalformedError("tag is not a list")
    for tag in tags:
        if not isinstance(tag, dict):
            continue
        name = tag.get("name")
        if tag.get("type") == "Hashtag" and isinstance(name, str):
            labels.append(name.lstrip("#").lower())
        elif tag.get("type") == "Mention" and isinstance(tag.get("href"), str):
            accounts.add(tag["href"], name if isinstance(name, str) else None)
            mentioned.append(tag["href"])
    in_reply_to = obj.get("inReplyTo")
    if in_reply_to is not None and not isinstance(in_reply_to, str):
        in_reply_to = _id_of(in_reply_to)
    return {
        "post_id": _id_of(obj),
        "platform": PLATFORM,
        "account_id": author,
        "kind": "reply" if in_reply_to else "post",
        "created_at": _time(obj.get("published") or act.get("published")),
        "text": html_to_text(content) if content is not None else None,
        "labels": labels,
        "_in_reply_to": in_reply_to,
        "_mentioned": mentioned,
        "_conversation": mastodon_threads.conversation_of(obj),
    }


def _outbox(
    path: Path, owner_id: str, accounts: _Accounts, rejects: Rejects, n_read: dict[str, int]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    data = load_json(path)
    items = _items(path, data)
    total = data.get("totalItems")
    if total is not None and total != len(items):
        log.warning(
            "%s: totalItems says %s but orderedItems holds %d; reading all %d",
            path.name,
            total,
            len(items),
            len(items),
        )
    followers = f"{owner_id}/followers"
    notes: list[tuple[int, dict[str, Any]]] = []
    tops: dict[str | None, list[Any]] = {}
    announces: list[tuple[int, dict[str, Any]]] = []
    for line, act in enumerate(items, start=1):
        kind = act.get("type") if isinstance(act, dict) else None
        if kind == "Create":
            n_read["posts"] += 1
            obj = act.get("object")
            if isinstance(obj, dict) and not obj.get("inReplyTo"):
                # every top-level note, kept or rejected: a thread with two has no known top
                tops.setdefault(mastodon_threads.conversation_of(obj), []).append(obj.get("id"))
            try:
                notes.append((line, _note(act, followers, accounts)))
            except _MalformedError as exc:
                rejects.add("posts", path, line, _key(act), str(exc))
        elif kind == "Announce":
            announces.append((line, act))
        else:
            # Anything else (Delete, Update, a non-object) is an activity we cannot map.
            n_read["posts"] += 1
            rejects.add("posts", path, line, _key(act), f"unsupported activity type {kind!r}")

    posts = [{**row, **provenance(path, line)} for line, row in notes]
    known = {row["post_id"] for row in posts}
    thread_tops = mastodon_threads.thread_tops(posts, tops, urlparse(owner_id).netloc)
    for row in posts:
        target, mentioned = row.pop("_in_reply_to"), row.pop("_mentioned")
        conversation = row.pop("_conversation")
        if target is None:
            continue
        if target in known:
            row["parent_post_id"] = target
        else:
            top = thread_tops.get(conversation)
            if top is not None and top["created_at"] <= row["created_at"]:
                # the parent is not in the dump, the thread's top is: the reply stays in that
                # thread (its parent unknown), as ingest_checks.thread_roots reads it
                row["root_post_id"] = top["post_id"]
            who = account_of_status(target)
            if who is not None:
                row["reply_to_account_id"] = who[0]
                accounts.add(*who)
            elif len(set(mentioned)) == 1:
                # A post on another server (Firefish /notes/, Akkoma /objects/): the URL does
                # not name its author, but a reply mentions whom it answers; the only mention
                # is the addressee (it was, in all 195 replies with one mention whose parent
                # URL does name its author, in mastodon-archive-dealingwith).
                row["reply_to_account_id"] = mentioned[0]

    reactions: list[dict[str, Any]] = []
    for line, act in announces:
        try:
            original = _id_of(act.get("object"))
            created_at = _time(act.get("published"))
            actor = act.get("actor") if isinstance(act.get("actor"), str) else owner_id
            activity_id = _id_of(act)
        except _MalformedError as exc:
            n_read["posts"] += 1
            rejects.add("posts", path, line, _key(act), f"boost: {exc}")
            continue
        if original in known:
            n_read["reactions"] += 1
            reactions.append(
                {
                    "reaction_id": activity_id,
                    "platform": PLATFORM,
                    "post_id": original,
                    "kind": "boost",
                    "created_at": created_at,
                    "actor_account_id": actor,
                    **provenance(path, line),
                }
            )
            continue
        n_read["posts"] += 1
        who = account_of_status(original) or _boosted_account(act, followers)
        if who is not None:
            accounts.add(*who)
        posts.append(
            {
                "post_id": activity_id.removesuffix("/activity"),
                "platform": PLATFORM,
                "account_id": actor,
                "kind": "repost",
                "created_at": created_at,
                "text": None,
                "reply_to_account_id": who[0] if who else None,
                "labels": [],
                **provenance(path, line),
            }
        )
    mastodon_threads.set_roots(posts)
    return posts, reactions


def _boosted_account(act: dict[str, Any], followers: str) -> tuple[str, str | None] | None:
    """The author of a boosted post whose URL does not name them (another server's shape).

    Mastodon addresses an ``Announce`` to the public, the booster's followers and the boosted
    post's author: that one other actor is the author (in all 323 boosts of
    ``mastodon-archive-dealingwith`` whose URL names its author, it was that author).
    """
    try:
        audience = _audience(act)
    except _MalformedError:
        return None
    others = audience - {PUBLIC, followers}
    if len(others) != 1:
        return None
    (author,) = others
    return author, None


def _key(record: Any) -> str | None:
    if isinstance(record, dict) and isinstance(record.get("id"), str):
        return record["id"]
    return None


def _likes(
    path: Path, owner_id: str, known: set[str], rejects: Rejects, n_read: dict[str, int]
) -> list[dict[str, Any]]:
    out = []
    seen: set[str] = set()
    for line, item in enumerate(_items(path, load_json(path)), start=1):
        n_read["reactions"] += 1
        try:
            url = _id_of(item)
        except _MalformedError as exc:
            rejects.add("reactions", path, line, None, f"like: {exc}")
            continue
        if url not in known:
            rejects.add("reactions", path, line, url, "liked post not in the dump")
        elif url in seen:
            rejects.add("reactions", path, line, url, "duplicate like")
        else:
            seen.add(url)
            out.append(
                {
                    "reaction_id": f"{url}#like-by-owner",
                    "platform": PLATFORM,
                    "post_id": url,
                    "kind": "like",
                    "actor_account_id": owner_id,
                    **provenance(path, line),
                }
            )
    return out


def read(path: Path) -> SourceTables:
    """Read a Mastodon account export folder (or any file inside it).

    Args:
        path: The export folder holding ``outbox.json`` and ``actor.json``.

    Returns:
        Raw canonical tables; ``missing_inputs`` lists what the export does not carry.
    """
    folder = path if path.is_dir() else path.parent
    outbox_path = require_file(folder, "outbox.json")
    actor_path = require_file(folder, "actor.json")
    rejects = Rejects()
    n_read = {"accounts": 0, "posts": 0, "reactions": 0}
    owner = _owner(actor_path)
    accounts = _Accounts()
    accounts.add(**owner)
    posts, reactions = _outbox(outbox_path, owner["account_id"], accounts, rejects, n_read)
    known = {p["post_id"] for p in posts if p["kind"] != "repost"}
    likes_path = folder / "likes.json"
    if likes_path.exists():
        reactions += _likes(likes_path, owner["account_id"], known, rejects, n_read)
    # Accounts are derived (the owner plus everyone referenced), so each one is read once.
    n_read["accounts"] = len(accounts.rows)
    log.info(
        "mastodon %s: %d posts, %d reactions, %d accounts accepted; %d rejected",
        folder.name,
        len(posts),
        len(reactions),
        len(accounts.rows),
        len(rejects.rows),
    )
    return SourceTables(
        accounts=frame(accounts.rows.values(), "accounts"),
        posts=frame(posts, "posts"),
        reactions=frame(reactions, "reactions"),
        rejects=rejects.frame(),
        n_read=n_read,
        platform=PLATFORM,
        missing_inputs=MISSING_INPUTS,
    )
