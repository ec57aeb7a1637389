"""Unit tests of the Mastodon export adapter on tiny inline exports."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from analysis.sources import mastodon
from analysis.sources.base import SourceError

OWNER = "https://example.social/users/me"
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"


def _note(n: int, reply_to: str | None = None, to: list[str] | None = None, tags=None) -> dict:
    oid = f"{OWNER}/statuses/{n}"
    return {
        "id": f"{oid}/activity",
        "type": "Create",
        "actor": OWNER,
        "published": f"2023-01-0{n}T10:00:00Z",
        "object": {
            "id": oid,
            "type": "Note",
            "inReplyTo": reply_to,
            "published": f"2023-01-0{n}T10:00:00+02:00",
            "attributedTo": OWNER,
            "to": [PUBLIC] if to is None else to,
            "cc": [f"{OWNER}/followers"],
            "content": f"<p>hello {n}</p><p>second<br />line</p>",
            "tag": tags or [],
        },
    }


def _announce(n: int, obj: str) -> dict:
    return {
        "id": f"{OWNER}/statuses/9{n}/activity",
        "type": "Announce",
        "actor": OWNER,
        "published": "2023-02-01T00:00:00Z",
        "to": [PUBLIC],
        "object": obj,
    }


def _write(folder: Path, items: list, likes: list | None = None, total: int | None = None) -> Path:
    actor = {
        "id": OWNER,
        "type": "Person",
        "preferredUsername": "me",
        "name": "Me Myself",
        "published": "2022-11-07T00:00:00Z",
    }
    (folder / "actor.json").write_text(json.dumps(actor))
    outbox = {
        "type": "OrderedCollection",
        "totalItems": len(items) if total is None else total,
        "orderedItems": items,
    }
    (folder / "outbox.json").write_text(json.dumps(outbox))
    if likes is not None:
        (folder / "likes.json").write_text(json.dumps({"orderedItems": likes}))
    return folder


def test_maps_notes_replies_boosts_and_likes(tmp_path: Path) -> None:
    other = "https://other.host/users/bob/statuses/55"
    items = [
        _note(
            1,
            tags=[
                {"type": "Hashtag", "name": "#Python"},
                {
                    "type": "Mention",
                    "href": "https://other.host/users/bob",
                    "name": "@bob@other.host",
                },
            ],
        ),
        _note(2, reply_to=f"{OWNER}/statuses/1"),
        _note(3, reply_to=f"{OWNER}/statuses/2"),
        _note(4, reply_to=other),
        _announce(1, f"{OWNER}/statuses/1"),
        _announce(2, "https://third.host/users/carol/statuses/7"),
    ]
    t = mastodon.read(_write(tmp_path, items, likes=[f"{OWNER}/statuses/3", other]))
    t.check_reconciled()
    posts = {r["post_id"].rsplit("/", 1)[-1]: r for r in t.posts.to_dicts()}
    assert posts["1"]["kind"] == "post"
    assert posts["1"]["text"] == "hello 1 second line"
    assert posts["1"]["labels"] == ["python"]
    assert posts["1"]["created_at"].hour == 8  # +02:00 converted to UTC
    assert posts["2"]["parent_post_id"] == f"{OWNER}/statuses/1"
    assert posts["3"]["root_post_id"] == f"{OWNER}/statuses/1"
    # Parent outside the dump: no dangling link, addressee kept.
    assert posts["4"]["kind"] == "reply"
    assert posts["4"]["parent_post_id"] is None and posts["4"]["root_post_id"] is None
    assert posts["4"]["reply_to_account_id"] == "https://other.host/users/bob"
    # Boost of an outside post: repost row without text; of an own post: a reaction.
    repost = posts["92"]
    assert (repost["kind"], repost["text"], repost["account_id"]) == ("repost", None, OWNER)
    assert repost["reply_to_account_id"] == "https://third.host/users/carol"
    kinds = sorted(t.reactions["kind"].to_list())
    assert kinds == ["boost", "like"]
    assert t.rejects["reason"].to_list() == ["liked post not in the dump"]
    accounts = {r["account_id"]: r for r in t.accounts.to_dicts()}
    assert accounts[OWNER]["handle"] == "me" and accounts[OWNER]["display_name"] == "Me Myself"
    assert accounts["https://other.host/users/bob"]["handle"] == "@bob@other.host"
    assert accounts["https://third.host/users/carol"]["handle"] == "@carol@third.host"
    assert "follower_count" in t.missing_inputs


def test_direct_messages_and_unknown_activities_are_rejected(tmp_path: Path, caplog) -> None:
    items = [_note(1), _note(2, to=["https://other.host/users/bob"]), {"type": "Delete", "id": "x"}]
    items[1]["object"]["cc"] = []
    # followers-only: addressed to the owner's followers, not the public (it was ingested)
    items.append(_note(3, to=[f"{OWNER}/followers"]))
    items[3]["object"]["cc"] = ["https://other.host/users/bob"]
    # unlisted: to the followers, the public in cc: public
    items.append(_note(4, to=[f"{OWNER}/followers"]))
    items[4]["object"]["cc"] = [PUBLIC]
    t = mastodon.read(_write(tmp_path, items, total=99))
    t.check_reconciled()
    assert t.posts.height == 2
    reasons = sorted(t.rejects["reason"].to_list())
    assert reasons == [
        "direct message (private; not ingested)",
        "followers-only post (not public; not ingested)",
        "unsupported activity type 'Delete'",
    ]
    assert t.rejects["source_line"].sort().to_list() == [2, 3, 4]
    assert "totalItems says 99" in caplog.text


def test_malformed_note_is_rejected_not_raised(tmp_path: Path) -> None:
    bad = _note(2)
    del bad["object"]["published"], bad["published"]
    t = mastodon.read(_write(tmp_path, [_note(1), bad]))
    t.check_reconciled()
    assert t.rejects["reason"].to_list() == ["missing published time"]


def test_missing_outbox_is_a_source_error(tmp_path: Path) -> None:
    (tmp_path / "actor.json").write_text(json.dumps({"id": OWNER}))
    with pytest.raises(SourceError, match=r"outbox\.json"):
        mastodon.read(tmp_path)


def test_truncated_and_misencoded_json_are_source_errors(tmp_path: Path) -> None:
    folder = _write(tmp_path, [_note(1)])
    text = (folder / "outbox.json").read_text()
    (folder / "outbox.json").write_text(text[: len(text) // 2])
    with pytest.raises(SourceError, match="invalid JSON"):
        mastodon.read(folder)
    (folder / "outbox.json").write_bytes(text.encode("utf-16"))
    with pytest.raises(SourceError, match="UTF-8"):
        mastodon.read(folder)


def test_outbox_without_items_is_a_source_error(tmp_path: Path) -> None:
    folder = _write(tmp_path, [])
    (folder / "outbox.json").write_text(json.dumps({"type": "OrderedCollection"}))
    with pytest.raises(SourceError, match="orderedItems"):
        mastodon.read(folder)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://a.b/users/x/statuses/1", ("https://a.b/users/x", "@x@a.b")),
        ("https://firefish.tech/notes/9mqt", None),
    ],
)
def test_account_of_status(url: str, expected) -> None:
    assert mastodon.account_of_status(url) == expected


def test_unparsable_actor_time_is_logged_without_its_value(tmp_path: Path, caplog) -> None:
    """Issue 13 item 6: an e-mail in 'published' reached logs/resonance.log."""

    folder = _write(tmp_path, [_note(1)])
    actor = json.loads((folder / "actor.json").read_text())
    actor["published"] = "mail jane.doe@example.net"
    (folder / "actor.json").write_text(json.dumps(actor))
    with caplog.at_level("WARNING"):
        mastodon.read(folder)
    assert "unparsable published time" in caplog.text and "jane" not in caplog.text


def test_json_nested_100k_deep_is_one_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "outbox.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(SourceError) as err:
        mastodon.load_json(path)
    assert "outbox.json" in str(err.value) and "nested too deeply" in str(err.value)


def test_replies_and_boosts_of_other_servers_posts_credit_their_author(tmp_path: Path) -> None:
    # Firefish, Akkoma or Threads URLs do not name their author: a reply's only mention and the
    # actor a boost is addressed to do (5 items of mastodon-archive-dealingwith credited no one).
    firefish = "https://firefish.tech/users/9lqw"
    akkoma = "https://yearning.gay/users/nbsp"
    mention = {"type": "Mention", "href": firefish, "name": "@x@firefish.tech"}
    boost = _announce(1, "https://yearning.gay/objects/56df8a67")
    boost["cc"] = [akkoma, f"{OWNER}/followers"]
    items = [_note(1, reply_to="https://firefish.tech/notes/9mqtfd3v", tags=[mention]), boost]
    t = mastodon.read(_write(tmp_path, items))
    got = dict(t.posts.select("kind", "reply_to_account_id").iter_rows())
    assert got == {"reply": firefish, "repost": akkoma}
    assert {firefish, akkoma} <= set(t.accounts["account_id"])


def _in(conversation: str, note: dict, key: str = "conversation") -> dict:
    note["object"][key] = conversation
    return note


def test_reply_whose_parent_is_missing_joins_the_thread_its_conversation_began(
    tmp_path: Path,
) -> None:
    # dealingwith: 30 kept replies whose parent is not in the dump share the conversation of
    # the owner's top-level post that began it; they had no root
    here = "tag:example.social,2023-01-01:objectId=7:objectType=Conversation"
    gone = f"{OWNER}/statuses/8"  # a deleted reply between the top and the kept reply
    items = [
        _in(here, _note(1)),
        _in(here, _note(2, reply_to=gone)),
        _in(here, _note(3, reply_to=f"{OWNER}/statuses/2")),
        # newer Mastodon names the thread by its `context`
        _in("https://example.social/contexts/4", _note(4), key="context"),
        _in("https://example.social/contexts/4", _note(5, reply_to=gone), key="context"),
    ]
    t = mastodon.read(_write(tmp_path, items))
    roots = dict(t.posts.select("post_id", "root_post_id").iter_rows())
    top, other = f"{OWNER}/statuses/1", f"{OWNER}/statuses/4"
    assert roots[f"{OWNER}/statuses/2"] == top  # no parent: the reply stays unlinked
    assert t.posts.filter(pl.col("post_id").str.ends_with("/2"))["parent_post_id"].to_list() == [
        None
    ]
    assert roots[f"{OWNER}/statuses/3"] == top  # below it: the same thread
    assert roots[f"{OWNER}/statuses/5"] == other
    assert roots[top] is None and roots[other] is None


@pytest.mark.parametrize(
    ("conversation", "tops", "why"),
    [
        ("tag:other.host,2023-01-01:objectId=7:objectType=Conversation", [1], "another server's"),
        ("tag:example.social,2022-12-31:objectId=7:objectType=Conversation", [1], "older"),
        ("tag:example.social,2023-01-01:objectId=7:objectType=Conversation", [1, 2], "two tops"),
        ("tag:example.social,2023-01-04:objectId=7:objectType=Conversation", [4], "later top"),
        ("https://libranet.de/objects/0b6b#context", [1], "another server's URL"),
    ],
)
def test_a_conversation_names_no_root_unless_its_top_is_sure(
    tmp_path: Path, conversation: str, tops: list[int], why: str
) -> None:
    # a top-level note of another server's conversation, or of one begun on another day, is a
    # reply whose parent was deleted (Mastodon drops inReplyTo): not the thread's top
    items = [_in(conversation, _note(n)) for n in tops]
    items.append(_in(conversation, _note(3, reply_to="https://other.host/users/bob/statuses/5")))
    t = mastodon.read(_write(tmp_path, items))
    reply = t.posts.filter(pl.col("kind") == "reply").row(0, named=True)
    assert reply["root_post_id"] is None, why
