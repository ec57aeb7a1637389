"""Adapter ``mastodon``: the threads of an export (pure; used by :mod:`analysis.sources.mastodon`).

A reply's root is its topmost ancestor in the dump; a reply whose parent is missing joins the
thread its ``conversation`` (``context`` in newer exports) began where the owner's top-level post
that began it is surely the thread's top (:func:`thread_tops`).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import urlparse

#: A conversation its server began: ``tag:HOST,DATE:objectId=N:objectType=Conversation``.
CONVERSATION_TAG = re.compile(r"^tag:(?P<host>[^,]+),(?P<day>\d{4}-\d{2}-\d{2}):")


def conversation_of(obj: Any) -> str | None:
    """The thread a note belongs to: its ``conversation`` (Mastodon), else ``context``."""
    if not isinstance(obj, dict):
        return None
    for key in ("conversation", "context"):
        value = obj.get(key)
        if isinstance(value, dict):
            value = value.get("id")
        if isinstance(value, str) and value:
            return value
    return None


def started_here(conversation: str, owner_host: str, published: datetime) -> bool:
    """Whether ``conversation`` can have been started by a post of ``published`` on the owner's
    server.

    Mastodon names a conversation its server started ``tag:HOST,DATE:objectId=N:...`` (DATE:
    the day it began, UTC) or, in newer versions, by a URL on that server. A top-level note in
    a conversation of another server, or begun on another day, is no thread's top: it is a reply
    whose parent was deleted (Mastodon then leaves out ``inReplyTo``). In
    mastodon-archive-dealingwith, 781 of the 812 conversations with one top-level note are the
    owner's server's, of that note's day; 45 of the 838 top-level notes sit in another server's.
    """
    match = CONVERSATION_TAG.match(conversation)
    if match is not None:
        return match["host"] == owner_host and match["day"] == published.date().isoformat()
    return urlparse(conversation).netloc == owner_host


def thread_tops(
    posts: list[dict[str, Any]], tops: dict[str | None, list[Any]], owner_host: str
) -> dict[str, dict[str, Any]]:
    """conversation -> the kept top-level post that began it, where that is sure.

    Sure: the conversation has one top-level note in the outbox (kept or rejected), that note is
    kept, and its server began the conversation on its day (:func:`_started_here`). A reply
    whose parent is not in the dump then joins that thread (dealingwith: 30 kept replies).
    """
    out: dict[str, dict[str, Any]] = {}
    for row in posts:
        conversation = row["_conversation"]
        if (
            conversation is not None
            and row["_in_reply_to"] is None
            and tops.get(conversation) == [row["post_id"]]
            and started_here(conversation, owner_host, row["created_at"])
        ):
            out[conversation] = row
    return out


def set_roots(posts: list[dict[str, Any]]) -> None:
    """Root = the topmost ancestor in the dump, or the thread that ancestor (a reply whose
    parent is missing) joined by its conversation; other posts without a parent have no root."""
    parent = {p["post_id"]: p.get("parent_post_id") for p in posts}
    joined = {p["post_id"]: p["root_post_id"] for p in posts if p.get("root_post_id")}
    for post in posts:
        if post.get("parent_post_id") is None:
            continue
        seen, cur = {post["post_id"]}, post["parent_post_id"]
        while parent.get(cur) is not None and parent[cur] not in seen:
            seen.add(cur)
            cur = parent[cur]
        post["root_post_id"] = joined.get(cur, cur)
