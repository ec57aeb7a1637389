"""Fuzz the mastodon and twitter adapters with truncated, re-encoded and field-dropped input.

Whatever the damage, an adapter either returns reconciled tables or raises ``SourceError``;
any other exception is a bug. Samples come from the real dumps when present, else inline.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.sources import mastodon, twitter
from analysis.sources.base import SourceError

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real"
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
OWNER = "https://example.social/users/me"


def _mastodon_items() -> list[dict[str, Any]]:
    outbox = REAL / "mastodon-archive-dealingwith" / "outbox.json"
    if outbox.exists():
        items = json.loads(outbox.read_text(encoding="utf-8"))["orderedItems"]
        return items[:4] + [i for i in items if i["type"] == "Announce"][:2]
    note = {
        "id": f"{OWNER}/statuses/1",
        "type": "Note",
        "published": "2023-01-01T00:00:00Z",
        "attributedTo": OWNER,
        "to": [PUBLIC],
        "cc": [],
        "inReplyTo": None,
        "content": "<p>héllo ✓</p>",
        "tag": [{"type": "Hashtag", "name": "#x"}],
    }
    return [
        {
            "id": f"{OWNER}/statuses/1/activity",
            "type": "Create",
            "actor": OWNER,
            "published": "2023-01-01T00:00:00Z",
            "object": note,
        },
        {
            "id": f"{OWNER}/statuses/2/activity",
            "type": "Announce",
            "actor": OWNER,
            "published": "2023-01-02T00:00:00Z",
            "object": "https://a.b/users/x/statuses/3",
        },
    ]


def _tweets() -> list[dict[str, Any]]:
    tweets = REAL / "twitter-archive-andreruffert" / "data" / "tweets.js"
    if tweets.exists():
        text = tweets.read_text(encoding="utf-8")
        return [r["tweet"] for r in json.loads(text[text.index("=") + 1 :])[:5]]
    return [
        {
            "id_str": "1",
            "created_at": "Wed Jan 07 11:07:51 +0000 2015",
            "full_text": "Grüße ✓",
            "favorite_count": "1",
            "retweet_count": "0",
            "in_reply_to_status_id_str": "2",
            "in_reply_to_user_id_str": "9",
        }
    ]


MASTODON_ITEMS = _mastodon_items()
TWEETS = _tweets()


def _drop(record: Any, path: list[str]) -> Any:
    """A deep copy of ``record`` without the key at ``path`` (dicts only)."""
    record = json.loads(json.dumps(record))
    node = record
    for key in path[:-1]:
        node = node.get(key) if isinstance(node, dict) else None
    if isinstance(node, dict):
        node.pop(path[-1], None)
    return record


def _damage(text: str, how: str, cut: float) -> bytes:
    if how == "truncate":
        return text.encode("utf-8")[: int(len(text.encode("utf-8")) * cut)]
    if how == "latin-1":
        return text.encode("latin-1", errors="replace")
    if how == "utf-16":
        return text.encode("utf-16")
    return text.encode("utf-8")


DAMAGE = st.sampled_from(["none", "truncate", "latin-1", "utf-16"])
CUT = st.floats(min_value=0.0, max_value=0.99)


def _check(read: Callable[[Path], Any], folder: Path) -> None:
    try:
        tables = read(folder)
    except SourceError:
        return
    tables.check_reconciled()


MASTODON_FIELDS = [
    ["type"],
    ["id"],
    ["published"],
    ["actor"],
    ["object"],
    ["object", "id"],
    ["object", "published"],
    ["object", "to"],
    ["object", "content"],
    ["object", "type"],
    ["object", "attributedTo"],
    ["object", "inReplyTo"],
]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    which=st.integers(min_value=0),
    field=st.sampled_from(MASTODON_FIELDS),
    how=DAMAGE,
    cut=CUT,
    drop_actor=st.booleans(),
)
def test_mastodon_never_crashes(
    which: int, field: list[str], how: str, cut: float, drop_actor: bool
) -> None:
    items = list(MASTODON_ITEMS)
    i = which % len(items)
    items[i] = _drop(items[i], field)
    actor = {"id": OWNER, "preferredUsername": "me"}
    if drop_actor:
        actor.pop("id")
    folder = Path(tempfile.mkdtemp())
    try:
        (folder / "actor.json").write_text(json.dumps(actor))
        outbox = json.dumps(
            {"type": "OrderedCollection", "totalItems": 1, "orderedItems": items},
            ensure_ascii=False,
        )
        (folder / "outbox.json").write_bytes(_damage(outbox, how, cut))
        (folder / "likes.json").write_text(json.dumps({"orderedItems": [OWNER + "/x", 3]}))
        _check(mastodon.read, folder)
    finally:
        shutil.rmtree(folder)


TWEET_FIELDS = [
    ["id_str"],
    ["id"],
    ["created_at"],
    ["full_text"],
    ["favorite_count"],
    ["retweet_count"],
    ["entities"],
    ["in_reply_to_status_id_str"],
    ["in_reply_to_user_id_str"],
]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    which=st.integers(min_value=0),
    field=st.sampled_from(TWEET_FIELDS),
    how=DAMAGE,
    cut=CUT,
    variant=st.sampled_from(["archive", "api"]),
)
def test_twitter_never_crashes(
    which: int, field: list[str], how: str, cut: float, variant: str
) -> None:
    tweets = list(TWEETS)
    i = which % len(tweets)
    tweets[i] = _drop(tweets[i], field)
    folder = Path(tempfile.mkdtemp())
    try:
        if variant == "archive":
            data = folder / "data"
            data.mkdir()
            (data / "account.js").write_text(
                'window.YTD.account.part0 = [{"account": {"accountId": "1", "username": "me"}}]'
            )
            body = "window.YTD.tweets.part0 = " + json.dumps(
                [{"tweet": t} for t in tweets], ensure_ascii=False
            )
            (data / "tweets.js").write_bytes(_damage(body, how, cut))
        else:
            statuses = [{**t, "user": {"id_str": "1", "followers_count": 5}} for t in tweets]
            body = "\n".join(json.dumps(s, ensure_ascii=False) for s in statuses)
            (folder / "statuses.jsonl").write_bytes(_damage(body, how, cut))
        _check(twitter.read, folder)
    finally:
        shutil.rmtree(folder)
