"""Ingest: validation rejects, privacy removals, detaching, non-participants, reconciliation."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from analysis import privacy, privacy_opt_out, schema
from analysis.config import IngestParams, PrivacyParams
from analysis.ingest import Source, ingest, reconcile
from analysis.sources.base import SourceTables, frame

KEY = b"unit-test-key-0123456789abcdef!!"
NOW = datetime(2026, 11, 1, tzinfo=UTC)
T = datetime(2026, 5, 1, 12, tzinfo=UTC)


def _tables(extra_posts=(), extra_accounts=(), reactions=()) -> SourceTables:
    accounts = [
        dict(account_id="a", platform="demo", handle="alice_w", display_name="Alice Wonder"),
        dict(account_id="b", platform="demo", handle="bob_b", display_name="Bob Builder"),
        dict(account_id="kid", platform="demo", handle="kiddo", display_name="Kid", is_minor=True),
        dict(account_id="lurker", platform="demo", handle="lurker_l", display_name="Lurk Er"),
        *extra_accounts,
    ]
    posts = [
        dict(
            post_id="p1",
            platform="demo",
            account_id="a",
            kind="post",
            created_at=T,
            text="Hello @lurker_l, mail alice@example.com",
            labels=["x"],
        ),
        dict(
            post_id="p2",
            platform="demo",
            account_id="b",
            kind="reply",
            parent_post_id="p1",
            created_at=T,
            text="Thanks Alice Wonder!",
        ),
        dict(
            post_id="p3", platform="demo", account_id="kid", kind="post", created_at=T, text="minor"
        ),
        dict(
            post_id="p4",
            platform="demo",
            account_id="a",
            kind="reply",
            parent_post_id="p3",
            created_at=T,
            text="answer to a minor",
        ),
        dict(
            post_id="p5",
            platform="demo",
            account_id="b",
            kind="reply",
            created_at=T,
            reply_to_account_id="lurker",
            text="to a non-participant",
        ),
        *extra_posts,
    ]
    rx = [
        dict(
            reaction_id="r1",
            platform="demo",
            post_id="p1",
            kind="like",
            created_at=T,
            actor_account_id="lurker",
        ),
        dict(
            reaction_id="r2",
            platform="demo",
            post_id="p2",
            kind="like",
            created_at=T,
            actor_account_id="kid",
        ),
        *reactions,
    ]
    return SourceTables(
        accounts=frame(accounts, "accounts"),
        posts=frame(posts, "posts"),
        reactions=frame(rx, "reactions"),
        rejects=schema.empty("rejects"),
        n_read={},
        platform="demo",
    )


def _run(tables: SourceTables, opt_out: set[str] | None = None, **kw):
    return ingest(
        [Source("demo", tables)], KEY, opt_out or set(), IngestParams(**kw), PrivacyParams(), NOW
    )


def pid(raw: str) -> str:
    return privacy.pseudonym(KEY, "demo", "post", raw, privacy.POST_PREFIX)


def aid(raw: str) -> str:
    return privacy.pseudonym(KEY, "demo", "account", raw, privacy.ACCOUNT_PREFIX)


def test_minors_are_removed_with_all_they_wrote_and_did() -> None:
    res = _run(_tables())
    assert pid("p3") not in res.posts["post_id"].to_list()
    assert aid("kid") not in res.accounts["account_id"].to_list()
    assert res.reactions.height == 1  # the minor's like is gone
    c = res.counts["demo"]
    assert c["accounts"]["removed_minor"] == 1 and c["posts"]["removed_privacy"] == 1


def test_reply_to_a_removed_post_is_detached_to_the_placeholder() -> None:
    res = _run(_tables())
    p4 = res.posts.filter(pl.col("post_id") == pid("p4")).row(0, named=True)
    assert p4["parent_post_id"] is None and p4["root_post_id"] is None
    assert p4["reply_to_account_id"] == schema.NONPARTICIPANT_ID
    assert res.counts["demo"]["posts"]["detached_replies"] == 1


def test_non_participants_get_no_row_and_references_go_to_the_placeholder() -> None:
    res = _run(_tables())
    ids = res.accounts["account_id"].to_list()
    assert aid("lurker") not in ids and schema.NONPARTICIPANT_ID in ids
    placeholder = res.accounts.filter(pl.col("account_id") == schema.NONPARTICIPANT_ID)
    assert placeholder["is_participant"].to_list() == [False]
    p5 = res.posts.filter(pl.col("post_id") == pid("p5")).row(0, named=True)
    assert p5["reply_to_account_id"] == schema.NONPARTICIPANT_ID
    assert res.reactions["actor_account_id"].to_list() == [schema.NONPARTICIPANT_ID]
    assert res.counts["demo"]["accounts"]["merged_nonparticipant"] == 1


def test_reply_links_and_roots_are_pseudonymised_consistently() -> None:
    res = _run(_tables())
    p2 = res.posts.filter(pl.col("post_id") == pid("p2")).row(0, named=True)
    assert p2["parent_post_id"] == pid("p1") and p2["root_post_id"] == pid("p1")
    assert p2["reply_to_account_id"] == aid("a") and p2["account_id"] == aid("b")


def test_texts_are_scrubbed_and_names_dropped() -> None:
    res = _run(_tables())
    texts = " ".join(res.posts["text"].drop_nulls().to_list())
    for raw in ("lurker_l", "alice@example.com", "Alice Wonder"):
        assert raw not in texts
    assert "handle" not in res.accounts.columns and "display_name" not in res.accounts.columns


def test_opt_out_by_handle_removes_account_posts_and_reactions() -> None:
    res = _run(_tables(), opt_out={privacy_opt_out.opt_out_digest("@BOB_B", KEY)})
    assert aid("b") not in res.accounts["account_id"].to_list()
    assert not {pid("p2"), pid("p5")} & set(res.posts["post_id"].to_list())
    assert res.counts["demo"]["accounts"]["removed_opt_out"] == 1


def test_validation_rejects_duplicates_dates_and_dangling_parents() -> None:
    bad = [
        dict(post_id="p1", platform="demo", account_id="b", kind="post", created_at=T, text="dup"),
        dict(
            post_id="p9",
            platform="demo",
            account_id="b",
            kind="reply",
            parent_post_id="nope",
            created_at=T,
            text="dangling",
        ),
        dict(
            post_id="p8",
            platform="demo",
            account_id="b",
            kind="post",
            created_at=datetime(2031, 1, 1, tzinfo=UTC),
            text="future",
        ),
    ]
    res = _run(_tables(extra_posts=bad), max_reject_share=0.9)
    reasons = sorted(res.rejects.filter(pl.col("table") == "posts")["reason"].to_list())
    assert reasons == [
        "created_at out of range",
        "dangling parent_post_id (parent not among the posts)",
        "duplicate post_id (first occurrence kept)",
    ]
    assert set(res.rejects["record_key"].to_list()) <= {pid("p1"), pid("p8"), pid("p9")}
    assert not reconcile(res.counts["demo"])


def test_a_reply_to_a_duplicated_id_is_addressed_to_the_author_of_the_row_kept() -> None:
    """The first row of a duplicated post id is kept; a reply to that id answered its author,
    not the author of the rejected later row (who then became the placeholder)."""
    dup = dict(post_id="p1", platform="demo", account_id="b", kind="post", created_at=T, text="dup")
    res = _run(_tables(extra_posts=[dup]), max_reject_share=0.9)
    reply = res.posts.filter(pl.col("post_id") == pid("p2"))
    assert reply["parent_post_id"].to_list() == [pid("p1")]
    assert reply["reply_to_account_id"].to_list() == [aid("a")]


def test_too_many_rejects_stop_the_stage() -> None:
    bad = [
        dict(
            post_id=f"x{i}",
            platform="demo",
            account_id="b",
            kind="reply",
            parent_post_id="missing",
            created_at=T,
        )
        for i in range(20)
    ]
    with pytest.raises(RuntimeError, match=r"above ingest\.max_reject_share"):
        _run(_tables(extra_posts=bad))


def test_counts_reconcile_for_every_table() -> None:
    res = _run(
        _tables(
            reactions=[
                dict(reaction_id="r9", platform="demo", post_id="gone", kind="like", created_at=T)
            ]
        ),
        max_reject_share=0.9,
    )
    for table, c in res.counts["demo"].items():
        assert (
            c["read"]
            == c["accepted"] + c["rejected"] + c["removed_privacy"] + c["merged_nonparticipant"]
        ), table


def test_two_dumps_keep_the_same_raw_id_as_two_accounts() -> None:
    t1, t2 = _tables(), _tables()
    res = ingest(
        [Source("one", t1), Source("two", t2)], KEY, set(), IngestParams(), PrivacyParams(), NOW
    )
    participants = res.accounts.filter(pl.col("is_participant"))
    assert participants.height == 4  # a and b in each dump, never merged
    assert res.accounts.filter(~pl.col("is_participant")).height == 1  # one placeholder


def test_interim_tables_validate(small_demo) -> None:
    tables = SourceTables(
        accounts=small_demo.accounts,
        posts=small_demo.posts,
        reactions=small_demo.reactions,
        rejects=schema.empty("rejects"),
        n_read={},
        platform="demo",
    )
    res = _run(tables)
    schema.validate(res.posts, "posts", schema.INTERIM, now=NOW)
    replies = res.posts.filter(pl.col("parent_post_id").is_not_null())
    assert replies["reply_to_account_id"].null_count() == 0
    assert replies["root_post_id"].null_count() == 0


def test_rows_missing_required_fields_are_rejected_not_dropped() -> None:
    bad = [
        dict(post_id="p7", platform="demo", account_id="b", kind="post", created_at=None),
        dict(post_id="p6", platform="demo", account_id="b", kind="tweetstorm", created_at=T),
    ]
    res = _run(_tables(extra_posts=bad), max_reject_share=0.9)
    reasons = set(res.rejects["reason"].to_list())
    assert {"missing required field created_at", "kind is not a canonical kind"} <= reasons
    assert not reconcile(res.counts["demo"])


def test_link_table_joins_exactly_the_listed_accounts() -> None:
    from analysis.ingest import apply_links

    res = ingest(
        [Source("one", _tables()), Source("two", _tables())],
        KEY,
        set(),
        IngestParams(),
        PrivacyParams(),
        NOW,
    )
    links = pl.DataFrame(
        {"namespace_a": ["one"], "id_a": ["a"], "namespace_b": ["two"], "id_b": ["a"]}
    )
    linked = apply_links(res, links, KEY)
    a1 = privacy.pseudonym(KEY, "one", "account", "a", privacy.ACCOUNT_PREFIX)
    a2 = privacy.pseudonym(KEY, "two", "account", "a", privacy.ACCOUNT_PREFIX)
    assert a2 not in set(linked.posts["account_id"]) | set(linked.accounts["account_id"])
    assert (
        linked.posts.filter(pl.col("account_id") == a1).height
        == 2 * res.posts.filter(pl.col("account_id") == a1).height
    )
    assert linked.accounts.filter(pl.col("is_participant")).height == 3  # b stays two people
    # the minors removed in both dumps are still known after linking (the embed cache prunes)
    assert linked.removed == res.removed and len(res.removed) == 2
    with pytest.raises(ValueError, match="missing columns"):
        apply_links(res, pl.DataFrame({"id_a": ["a"]}), KEY)
    # the stage links the plan's skeleton, whose accounts are numbers until the texts: the
    # same accounts once spelt
    from analysis import ingest_pseudonyms
    from analysis.ingest import plan

    sources = [Source("one", _tables()), Source("two", _tables())]
    planned = plan(sources, KEY, set(), IngestParams(), PrivacyParams(), NOW)
    assert planned.posts.schema["account_id"] == pl.UInt64
    spelt = ingest_pseudonyms.ids_as_text(apply_links(planned, links, KEY).posts)
    for col in ("account_id", "reply_to_account_id"):
        assert spelt[col].to_list() == linked.posts[col].to_list(), col
    assert a2 not in set(spelt["account_id"]) and a1 in set(spelt["account_id"])


@pytest.mark.parametrize(
    "flag",
    [{"is_minor": True}, {"has_consent": False}, "opt_out"],
    ids=["minor", "no_consent", "opt_out"],
)
def test_a_removal_in_one_dump_removes_the_linked_identity_in_every_dump(flag) -> None:
    """The link table says one:a and two:al are one person; al is removed in dump two (a minor,
    deleted on the platform, or opted out): a and everything a wrote go from dump one too."""
    al = dict(account_id="al", platform="demo", handle="al_h", display_name="Al")
    opt_out = set()
    if flag == "opt_out":
        opt_out = {privacy_opt_out.opt_out_digest("al", KEY)}
    else:
        al.update(flag)
    by_al = dict(
        post_id="q1", platform="demo", account_id="al", kind="post", created_at=T, text="al's"
    )
    links = pl.DataFrame(
        {"namespace_a": ["one"], "id_a": ["a"], "namespace_b": ["two"], "id_b": ["al"]}
    )
    res = ingest(
        [Source("one", _tables()), Source("two", _tables([by_al], [al]))],
        KEY,
        opt_out,
        IngestParams(),
        PrivacyParams(),
        NOW,
        links=links,
    )
    a1 = privacy.pseudonym(KEY, "one", "account", "a", privacy.ACCOUNT_PREFIX)
    al2 = privacy.pseudonym(KEY, "two", "account", "al", privacy.ACCOUNT_PREFIX)
    a2 = privacy.pseudonym(KEY, "two", "account", "a", privacy.ACCOUNT_PREFIX)
    assert a1 not in set(res.posts["account_id"]) | set(res.accounts["account_id"])
    assert al2 not in set(res.posts["account_id"]) | set(res.accounts["account_id"])
    assert a2 in set(res.posts["account_id"])  # two:a is not linked: another person
    assert {a1, al2} <= set(res.removed)
    one = res.counts["one"]
    assert one["accounts"]["removed_linked"] == 1
    assert one["posts"]["removed_privacy"] == 3  # a's p1 and p4, the minor's p3
    assert not reconcile(one) and not reconcile(res.counts["two"])
    assert res.counts["two"]["accounts"]["removed_linked"] == 0


SECRET = "KIDSECRET I am 13 and I go to Springfield Elementary, room 4B"


@pytest.mark.parametrize("how", ["minor", "opt_out"])
def test_kept_texts_lose_the_words_of_posts_removed_for_privacy(how) -> None:
    """A reply quoting a removed post (a minor's, or an erased person's) keeps its own words
    only: quote lines below the removed post go, and a run of the removed post's words goes
    from any kept text, linked or not; quotes of people who stay are kept."""
    opt_out = {privacy_opt_out.opt_out_digest("b", KEY)} if how == "opt_out" else set()
    author = "kid" if how == "minor" else "b"
    post = dict(platform="demo", created_at=T)
    extra = [
        dict(post, post_id="s1", account_id=author, kind="post", text=SECRET),
        dict(
            post,
            post_id="s2",
            account_id="a",
            kind="reply",
            parent_post_id="s1",
            text=f"> {SECRET}\n> short quoted line\nwow, be careful",
        ),
        dict(  # two levels down: the quote of the quote goes too
            post,
            post_id="s3",
            account_id="lurker",
            kind="reply",
            parent_post_id="s2",
            text="> > KIDSECRET I am 13\n> wow, be careful\n<blockquote>x</blockquote>agreed",
        ),
        dict(  # no link to the removed post, the words pasted: the run of 8 words goes
            post,
            post_id="s4",
            account_id="lurker",
            kind="post",
            text=f"someone wrote: {SECRET.lower()} (!)",
        ),
        dict(  # a quote of someone who stays, below a kept post: kept as written
            post,
            post_id="s5",
            account_id="lurker",
            kind="reply",
            parent_post_id="p1",
            text="> Hello there\nhi",
        ),
    ]
    res = _run(_tables(extra_posts=extra), opt_out)
    text = dict(zip(res.posts["post_id"], res.posts["text"], strict=True))
    assert text[pid("s2")] == "wow, be careful"
    assert text[pid("s3")] == "agreed"
    assert text[pid("s4")] == "someone wrote: [quote removed] (!)"
    assert text[pid("s5")] == "> Hello there\nhi"
    assert not any("kidsecret" in t.lower() for t in res.posts["text"].drop_nulls())
    c = res.counts["demo"]
    assert c["posts"]["removed_text_cut"] == 3
    assert not reconcile(c)


COMMON = "honestly I think the new bus timetable is a disaster for everyone"
ONCE = "my grandmother grew prize winning tomatoes on that allotment"


def test_a_phrase_kept_people_wrote_before_the_removed_post_stays_and_their_own_words_go() -> None:
    """A run of a minor's words is theirs only if no kept post wrote it earlier: a phrase
    several kept authors wrote before the minor's post stays in everyone's text, and so does
    one a single kept post wrote an hour before; the minor's own sentence, quoted later, goes."""
    day = timedelta(days=1)
    post = dict(platform="demo", kind="post")
    extra = [
        dict(post, post_id="c1", account_id="a", created_at=T - 3 * day, text=f"{COMMON}."),
        dict(post, post_id="c2", account_id="b", created_at=T - day, text=f"yes, {COMMON}!"),
        dict(post, post_id="o1", account_id="b", created_at=T - day / 24, text=f"{ONCE}!"),
        dict(
            post,
            post_id="k1",
            account_id="kid",
            created_at=T,
            text=f"{COMMON}. {SECRET}. Also {ONCE}.",
        ),
        dict(
            post,
            post_id="q1",
            account_id="lurker",
            created_at=T + day,
            text=f"they wrote {SECRET.lower()}, and {COMMON}, and {ONCE}",
        ),
    ]
    res = _run(_tables(extra_posts=extra))
    text = dict(zip(res.posts["post_id"], res.posts["text"], strict=True))
    assert text[pid("c1")] == f"{COMMON}."  # (a) written before the minor, by several
    assert text[pid("c2")] == f"yes, {COMMON}!"
    assert text[pid("o1")] == f"{ONCE}!"  # (c) the one earlier use keeps its text
    # (b) the minor's own sentence goes; the phrases others wrote first stay
    assert text[pid("q1")] == f"they wrote [quote removed], and {COMMON}, and {ONCE}"
    assert res.counts["demo"]["posts"]["removed_text_cut"] == 1


def test_a_removed_post_of_unknown_time_comes_before_every_kept_post() -> None:
    """A minor's post dated out of range (rejected, still removed): its time says nothing, so
    its words quoted by a kept post go, as if it came first."""
    extra = [
        dict(
            post_id="k9",
            platform="demo",
            account_id="kid",
            kind="post",
            created_at=datetime(2999, 1, 1, tzinfo=UTC),
            text=SECRET,
        ),
        dict(post_id="q9", platform="demo", account_id="a", kind="post", created_at=T, text=SECRET),
    ]
    res = _run(_tables(extra_posts=extra), max_reject_share=0.9)
    text = dict(zip(res.posts["post_id"], res.posts["text"], strict=True))
    assert text[pid("q9")] == "[quote removed]"


# --------------------------------------------------------------------------- issue 13, item 1


def test_a_duplicate_row_saying_minor_removes_the_id() -> None:
    """Two rows for one id, the second with is_minor true: the id goes with all it wrote."""
    dup = [dict(account_id="b", platform="demo", handle="bob_b", is_minor=True)]
    res = _run(_tables(extra_accounts=dup))
    assert aid("b") not in res.accounts["account_id"].to_list()
    assert not {pid("p2"), pid("p5")} & set(res.posts["post_id"].to_list())
    assert res.counts["demo"]["accounts"]["removed_minor"] == 2
    assert not reconcile(res.counts["demo"])


def test_a_duplicate_row_saying_no_consent_removes_the_id() -> None:
    dup = [dict(account_id="a", platform="demo", handle="alice_w", has_consent=False)]
    res = _run(_tables(extra_accounts=dup))
    assert aid("a") not in res.accounts["account_id"].to_list()
    assert pid("p1") not in res.posts["post_id"].to_list()


def _with_rejected_account(flags: pl.DataFrame | None) -> SourceTables:
    """Bob's only account row was rejected by the adapter (e.g. created_at "not-a-date")."""
    t = _tables()
    rejects = pl.DataFrame(
        {
            "table": ["accounts"],
            "source_file": ["accounts.csv"],
            "source_line": [3],
            "record_key": ["b"],
            "reason": ["unparsable created_at"],
        }
    )
    return SourceTables(
        accounts=t.accounts.filter(pl.col("account_id") != "b"),
        posts=t.posts,
        reactions=t.reactions,
        rejects=rejects,
        n_read={"accounts": t.accounts.height},
        platform="demo",
        account_flags=flags,
    )


@pytest.mark.parametrize("is_minor", [True, None])
def test_a_rejected_account_row_never_resurrects_its_author(is_minor) -> None:
    flags = pl.DataFrame(
        {"account_id": ["b"], "is_minor": [is_minor], "has_consent": [None]},
        schema={"account_id": pl.String, "is_minor": pl.Boolean, "has_consent": pl.Boolean},
    )
    res = _run(_with_rejected_account(flags), max_reject_share=0.9)
    assert aid("b") not in res.accounts["account_id"].to_list()
    assert not {pid("p2"), pid("p5")} & set(res.posts["post_id"].to_list())
    c = res.counts["demo"]
    assert c["accounts"]["removed_rejected_account"] == 1
    assert c["accounts"]["derived_from_posts"] == 0
    assert not reconcile(c)


def test_canonical_csv_route_honours_minor_flags_on_bad_and_duplicate_rows(tmp_path) -> None:
    """End to end through the CSV adapter: clean booleans parse; bad rows still remove minors."""
    from analysis.sources import read_source

    d = tmp_path / "dump"
    d.mkdir()
    (d / "accounts.csv").write_text(
        "account_id,platform,handle,created_at,follower_count,platform_score,is_minor,has_consent\n"
        "adult,forum,grown_up,2024-01-01T00:00:00Z,5,1.0,false,true\n"
        "kid1,forum,kid_one,not-a-date,5,1.0,true,true\n"
        'kid2,forum,kid_two,2024-01-01T00:00:00Z,"1,234",1.0,,\n'
        "kid3,forum,kid_three,2024-01-01T00:00:00Z,5,n/a,,\n"
        "kid4,forum,kid_four,2024-01-01T00:00:00Z,5,1.0,FALSE,\n"
        "kid4,forum,kid_four,2024-01-01T00:00:00Z,5,1.0,TRUE,\n"
        "gone,forum,gone_one,2024-01-01T00:00:00Z,5,1.0,no,false\n"
        "unsure,forum,unsure_one,2024-01-01T00:00:00Z,5,1.0,maybe,\n"
    )
    authors = ["adult", "kid1", "kid2", "kid3", "kid4", "gone", "unsure"]
    (d / "posts.csv").write_text(
        "post_id,platform,account_id,kind,created_at,text\n"
        + "".join(
            f"p{i},forum,{a},post,2024-02-01T00:00:00Z,hello\n" for i, a in enumerate(authors)
        )
    )
    tables = read_source("canonical", d)
    assert tables.accounts.schema["is_minor"] == pl.Boolean
    res = _run(tables, max_reject_share=0.9)
    kept = res.posts["account_id"].to_list()
    assert kept == [aid("adult")]
    assert res.accounts.filter(pl.col("is_participant")).height == 1
    assert not reconcile(res.counts["demo"])


def test_a_text_over_the_size_limit_is_rejected_with_its_reason_not_scrubbed() -> None:
    """Issue 13 item 4: a 50 MB field stopped the pipeline (quadratic scrub); now a reject."""
    huge = [
        dict(
            post_id="big",
            platform="demo",
            account_id="b",
            kind="post",
            created_at=T,
            text="A" * 1_500 + " mail jane.doe@example.net",
        )
    ]
    res = _run(_tables(extra_posts=huge), max_reject_share=0.9, max_text_chars=1_000)
    rej = res.rejects.filter(pl.col("record_key") == pid("big"))
    assert rej["reason"].to_list() == ["text longer than ingest.max_text_chars (1,000)"]
    assert pid("big") not in res.posts["post_id"].to_list()
    assert not reconcile(res.counts["demo"])


# --------------------------------------------------------------------------- issue 13, item 6


def test_reject_reasons_never_carry_raw_values(tmp_path) -> None:
    """A Users.xml Reputation holding an e-mail and a phone landed verbatim in rejects.parquet."""
    from analysis.sources import read_source

    site = tmp_path / "site"
    site.mkdir()
    head = '<?xml version="1.0" encoding="utf-8"?>\n'
    (site / "Users.xml").write_text(
        head + "<users>\n"
        '  <row Id="10" Reputation="5" CreationDate="2020-01-01T00:00:00.000" DisplayName="Ann" />\n'
        '  <row Id="11" Reputation="ask jane.doe@example.net or +1 202 555 0143" '
        'CreationDate="2020-01-01T00:00:00.000" DisplayName="Bob" />\n</users>\n'
    )
    (site / "Posts.xml").write_text(
        head + "<posts>\n"
        '  <row Id="1" PostTypeId="1" CreationDate="2020-01-02T03:04:05.678" Score="5" '
        'Body="hi" OwnerUserId="10" Title="T" Tags="&lt;x&gt;" />\n</posts>\n'
    )
    tables = read_source("stackexchange", site)
    res = ingest(
        [Source("se", tables)], KEY, set(), IngestParams(max_reject_share=0.9), PrivacyParams(), NOW
    )
    reasons = " ".join(res.rejects["reason"].to_list())
    assert "unparsable Reputation" in reasons
    for raw in ("jane", "example.net", "555", "0143"):
        assert raw not in reasons, reasons


def test_an_adapter_reason_echoing_a_value_is_scrubbed_and_truncated() -> None:
    t = _tables()
    rejects = pl.DataFrame(
        {
            "table": ["posts"],
            "source_file": ["x.json"],
            "source_line": [3],
            "record_key": ["zz"],
            "reason": ["unparsable created_at 'mail jane.doe@example.net, @bob_b' " + "x" * 500],
        }
    )
    tables = SourceTables(
        accounts=t.accounts,
        posts=t.posts,
        reactions=t.reactions,
        rejects=rejects,
        n_read={"posts": t.posts.height + 1},
        platform="demo",
    )
    res = _run(tables, max_reject_share=0.9)
    (reason,) = res.rejects["reason"].to_list()
    assert reason.startswith("unparsable created_at")
    assert "jane" not in reason and "bob_b" not in reason and len(reason) <= 160


def test_reasons_quoting_raw_post_or_account_ids_show_id_instead() -> None:
    """Raw ids never leave ingest: a reason naming a raw post or account id (3+ characters)
    shows ``<id>``; other words, and ids too short to identify anything, stay."""
    t = _tables(extra_accounts=[dict(account_id="acct77", platform="demo", handle="h77")])
    rejects = pl.DataFrame(
        {
            "table": ["posts", "reactions"],
            "source_file": ["x.json", "y.json"],
            "source_line": [3, 4],
            "record_key": ["zz", "yy"],
            "reason": ["vote on post p12 by acct77: lurker", "reply p1 to p99 of a"],
        }
    )
    extra = dict(post_id="p12", platform="demo", account_id="a", kind="post", created_at=T)
    posts = pl.concat([t.posts, frame([extra], "posts")], how="diagonal_relaxed")
    tables = SourceTables(
        accounts=t.accounts,
        posts=posts,
        reactions=t.reactions,
        rejects=rejects,
        n_read={"posts": posts.height + 1, "reactions": t.reactions.height + 1},
        platform="demo",
    )
    res = _run(tables, max_reject_share=0.9)
    reasons = sorted(res.rejects["reason"].to_list())
    # p12 and acct77 are raw ids; p1 and a are shorter than 3; lurker is a raw id as well, and
    # the display name "Lurk Er" written joined, which the name redactor takes first
    assert reasons == ["reply p1 to p99 of a", "vote on post <id> by <id>: [user]"], reasons


# --------------------------------------------------------------------------- issue 13, item 2


def test_names_of_removed_accounts_are_redacted_even_when_ordinary_words() -> None:
    """A minor whose handle is a word of the run ("stout", used by 12 authors) still loses it."""
    authors = [dict(account_id=f"w{i}", platform="demo", handle=f"writer_{i}") for i in range(12)]
    kid = dict(account_id="k9", platform="demo", handle="stout", is_minor=True)
    posts = [
        dict(
            post_id=f"s{i}",
            platform="demo",
            account_id=f"w{i}",
            kind="post",
            created_at=T,
            text=f"a stout recipe number {i}, thanks stout",
        )
        for i in range(12)
    ]
    res = _run(_tables(extra_accounts=[*authors, kid], extra_posts=posts))
    texts = res.posts.filter(pl.col("post_id").is_in([pid(f"s{i}") for i in range(12)]))["text"]
    assert all("stout" not in t for t in texts), texts.to_list()


def test_names_on_rejected_account_rows_are_redacted_and_audited(tmp_path) -> None:
    """An account row rejected for a bad date still names someone: redacted, and audited."""
    from analysis.audit import Identifiers
    from analysis.audit_scan import Scanner
    from analysis.ingest_names import account_rows
    from analysis.sources import read_source

    d = tmp_path / "dump"
    d.mkdir()
    (d / "accounts.csv").write_text(
        "account_id,platform,handle,display_name,created_at\n"
        "a1,forum,ann_a,Ann Able,2024-01-01T00:00:00Z\n"
        "k1,forum,little_nell12,Nell Trent,not-a-date\n"
    )
    (d / "posts.csv").write_text(
        "post_id,platform,account_id,kind,created_at,text\n"
        "p1,forum,a1,post,2024-02-01T00:00:00Z,little_nell12's stout recipe thanks nell trent\n"
        "p2,forum,k1,post,2024-02-01T00:00:00Z,my own words\n"
    )
    tables = read_source("canonical", d)
    res = _run(tables, max_reject_share=0.9)
    assert res.posts["text"].to_list() == ["[user]'s stout recipe thanks [user]"]
    ident = Identifiers.from_tables([account_rows(tables)], [tables.posts])
    found = {v for _, v in Scanner(ident).scan_text("little_nell12's stout, nell trent")}
    assert {"little_nell12", "Nell Trent"} <= found


def test_ingest_lists_removed_pseudonyms_for_cache_pruning() -> None:
    res = _run(_tables())
    assert res.removed == [aid("kid")]  # the minor, never written out, only digested


def test_implausible_rows_are_rejects_with_reasons() -> None:
    """Issue 13 item 9: negative counts, reply cycles, the thread below a rejected post, and a
    reaction dated 2999 are rejects, not crashes. A reply dated before its parent is detached
    (a cycle whose times differ holds one, so detaching it breaks the cycle)."""
    from datetime import timedelta

    later = T + timedelta(hours=1)
    bad = [
        dict(
            post_id="n1",
            platform="demo",
            account_id="b",
            kind="post",
            created_at=T,
            text="x",
            n_likes=-1_000_000,
        ),
        dict(
            post_id="n2",
            platform="demo",
            account_id="b",
            kind="post",
            created_at=T,
            text="y",
            follower_count=-100,
        ),
        # c1 <- c2 <- c1: a cycle; c1 answers c2 but is dated before it: c1 is detached
        dict(
            post_id="c1",
            platform="demo",
            account_id="a",
            kind="reply",
            parent_post_id="c2",
            created_at=T,
            text="cycle one",
        ),
        dict(
            post_id="c2",
            platform="demo",
            account_id="b",
            kind="reply",
            parent_post_id="c1",
            created_at=later,
            text="cycle two",
        ),
        # a reply to a reply dated before its parent: e1 is detached, the thread below stays
        dict(
            post_id="e1",
            platform="demo",
            account_id="a",
            kind="reply",
            parent_post_id="p1",
            created_at=T - timedelta(days=1),
            text="early",
        ),
        dict(
            post_id="e2",
            platform="demo",
            account_id="b",
            kind="reply",
            parent_post_id="e1",
            created_at=later,
            text="below early",
        ),
        dict(
            post_id="e3",
            platform="demo",
            account_id="a",
            kind="reply",
            parent_post_id="e2",
            created_at=later,
            text="two below",
        ),
        # q1 <- q2 <- q1 at one and the same time: a cycle no date gives away
        dict(
            post_id="q1",
            platform="demo",
            account_id="a",
            kind="reply",
            parent_post_id="q2",
            created_at=later,
            text="same time one",
        ),
        dict(
            post_id="q2",
            platform="demo",
            account_id="b",
            kind="reply",
            parent_post_id="q1",
            created_at=later,
            text="same time two",
        ),
    ]
    accounts = [dict(account_id="neg", platform="demo", handle="neg_n", follower_count=-5)]
    rx = [
        dict(
            reaction_id="r9",
            platform="demo",
            post_id="p1",
            kind="like",
            created_at=datetime(2999, 1, 1, tzinfo=UTC),
            actor_account_id="b",
        )
    ]
    res = _run(
        _tables(extra_posts=bad, extra_accounts=accounts, reactions=rx), max_reject_share=0.9
    )
    why = {r["record_key"]: r["reason"] for r in res.rejects.iter_rows(named=True)}
    assert why[pid("n1")] == "negative n_likes"
    assert why[pid("n2")] == "negative follower_count"
    assert why[aid("neg")] == "negative follower_count"
    assert why[pid("q1")] == why[pid("q2")] == "reply cycle (no thread root)"
    assert "created_at out of range" in {
        r for k, r in why.items() if k.startswith(privacy.REACTION_PREFIX)
    }
    kept = set(res.posts["post_id"].to_list())
    assert not kept & {pid(p) for p in ("n1", "n2", "q1", "q2")}
    assert {pid(p) for p in ("p1", "p2", "c1", "c2", "e1", "e2", "e3")} <= kept
    parent = dict(zip(res.posts["post_id"], res.posts["parent_post_id"], strict=True))
    assert (parent[pid("c1")], parent[pid("c2")]) == (None, pid("c1"))
    assert (parent[pid("e1")], parent[pid("e2")], parent[pid("e3")]) == (None, pid("e1"), pid("e2"))
    assert not reconcile(res.counts["demo"])


def test_a_reply_dated_before_its_parent_is_detached_and_its_thread_kept() -> None:
    """A wrong clock (Usenet's Date is the poster's) costs the reply its link, nothing more:
    it keeps its text and its addressee, and the replies below it keep theirs (ingest step 3)."""
    from datetime import timedelta

    def reply(post_id: str, author: str, parent: str, minutes: int) -> dict:
        at = T + timedelta(minutes=minutes)
        return dict(
            post_id=post_id,
            platform="demo",
            account_id=author,
            kind="reply",
            parent_post_id=parent,
            created_at=at,
            text=post_id,
        )

    base = _run(_tables())
    bad = [reply("s1", "b", "p1", -5), reply("s2", "a", "s1", 60), reply("s3", "b", "s2", 120)]
    res = _run(_tables(extra_posts=bad))
    assert (
        res.rejects.filter(pl.col("table") == "posts").height
        == base.rejects.filter(pl.col("table") == "posts").height
    )
    rows = {r["post_id"]: r for r in res.posts.to_dicts()}
    s1, s2, s3 = rows[pid("s1")], rows[pid("s2")], rows[pid("s3")]
    assert (s1["parent_post_id"], s1["root_post_id"], s1["reply_to_account_id"]) == (
        None,
        None,
        aid("a"),  # still addressed to the author of p1
    )
    assert (s2["parent_post_id"], s2["root_post_id"], s2["reply_to_account_id"]) == (
        pid("s1"),
        pid("s1"),
        aid("b"),
    )
    assert (s3["parent_post_id"], s3["root_post_id"]) == (pid("s2"), pid("s1"))
    c, c0 = res.counts["demo"]["posts"], base.counts["demo"]["posts"]
    assert c["detached_replies"] == c0["detached_replies"] + 1
    assert c["accepted"] == c0["accepted"] + 3
    assert not reconcile(res.counts["demo"])


def test_ingest_rejects_name_the_file_and_line_the_row_came_from(tmp_path) -> None:
    """Issue 13 item 9: ingest's own rejects (a duplicate id, a negative count, a reaction dated
    2999) name the adapter's file and line, not "(ingest)"."""
    from analysis.sources import read_source

    def write(name: str, header: str, rows: list[str]) -> None:
        (tmp_path / name).write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")

    write(
        "accounts.csv",
        "account_id,platform,handle,follower_count",
        ["a,demo,alice_w,10", "b,demo,bob_b,5", "a,demo,alice_again,3", "neg,demo,neg_n,-5"],
    )
    write(
        "posts.csv",
        "post_id,platform,account_id,kind,parent_post_id,created_at,text,n_likes",
        [
            "p1,demo,a,post,,2026-05-01T12:00:00Z,hello,1",  # line 2
            "p2,demo,b,reply,p1,2026-05-01T13:00:00Z,hi,0",  # line 3
            "p1,demo,b,post,,2026-05-01T14:00:00Z,dup,0",  # line 4: duplicate post_id
            "n1,demo,b,post,,2026-05-01T12:00:00Z,x,-1000000",  # line 5: negative n_likes
            "e1,demo,a,reply,p1,2026-04-30T12:00:00Z,early,0",  # line 6: before its parent
            "e2,demo,b,reply,e1,2026-05-02T12:00:00Z,below,0",  # line 7: below it
        ],
    )
    write(
        "reactions.csv",
        "reaction_id,platform,post_id,kind,created_at,actor_account_id",
        ["r1,demo,p1,like,2026-05-01T15:00:00Z,b", "r2,demo,p1,like,2999-01-01T00:00:00Z,b"],
    )
    res = _run(read_source("canonical", tmp_path), max_reject_share=0.9)
    where = {
        r["record_key"]: (r["source_file"], r["source_line"], r["reason"])
        for r in res.rejects.iter_rows(named=True)
    }
    assert where[pid("p1")][:2] == ("posts.csv", 4)
    assert where[pid("n1")] == ("posts.csv", 5, "negative n_likes")
    assert pid("e1") not in where and pid("e2") not in where  # detached, not rejected
    assert where[aid("a")][:2] == ("accounts.csv", 4)
    assert where[aid("neg")] == ("accounts.csv", 5, "negative follower_count")
    rid = privacy.pseudonym(KEY, "demo", "reaction", "r2", privacy.REACTION_PREFIX)
    assert where[rid] == ("reactions.csv", 3, "created_at out of range")
    assert not res.rejects.filter(pl.col("source_line").is_null()).height
    # provenance never reaches the interim tables
    for table in ("accounts", "posts", "reactions"):
        assert not set(schema.PROVENANCE) & set(getattr(res, table).columns)
    assert not reconcile(res.counts["demo"])


def test_self_votes_where_the_platform_forbids_them_are_rejects() -> None:
    """Issue 13 item 9: a Stack Exchange upvote by the post's own author cannot happen there, so
    it is an implausible row; a self-reply (possible everywhere) and a self-like on a platform
    that allows it stay."""
    posts = [
        dict(post_id="q", platform="stackexchange", account_id="a", kind="question", created_at=T),
        dict(
            post_id="s",
            platform="stackexchange",
            account_id="a",
            kind="answer",
            parent_post_id="q",
            created_at=T,
        ),
    ]
    rx = [
        dict(
            reaction_id="v1",
            platform="stackexchange",
            post_id="q",
            kind="upvote",
            actor_account_id="a",
        ),
        dict(
            reaction_id="v2",
            platform="stackexchange",
            post_id="q",
            kind="upvote",
            actor_account_id="b",
        ),
        dict(reaction_id="v3", platform="stackexchange", post_id="q", kind="upvote"),
        dict(
            reaction_id="f1",
            platform="stackexchange",
            post_id="q",
            kind="favourite",
            actor_account_id="a",
        ),
        dict(reaction_id="l1", platform="demo", post_id="p1", kind="like", actor_account_id="a"),
    ]
    res = _run(_tables(extra_posts=posts, reactions=rx), max_reject_share=0.9)
    rid = lambda r: privacy.pseudonym(KEY, "demo", "reaction", r, privacy.REACTION_PREFIX)  # noqa: E731
    why = {r["record_key"]: r["reason"] for r in res.rejects.iter_rows(named=True)}
    assert why[rid("v1")] == "a vote on one's own post, which the platform forbids"
    kept = set(res.reactions["reaction_id"].to_list())
    assert {rid("v2"), rid("v3"), rid("f1"), rid("l1")} <= kept and rid("v1") not in kept
    assert pid("s") in set(res.posts["post_id"].to_list())  # answering one's own question stays
    assert not reconcile(res.counts["demo"])


def test_a_failed_check_does_not_wait_for_the_name_redactor(monkeypatch) -> None:
    """The redactor is built on a thread (seconds per 100k accounts); an error from the
    skeleton's checks is raised at once, not once the redactor is done."""
    import threading

    from analysis import ingest as ingest_module

    started, release, finished = threading.Event(), threading.Event(), threading.Event()

    def slow_redactor(*args, **kwargs):
        started.set()
        release.wait(20)
        finished.set()

    def failing_checks(*args, **kwargs):
        assert started.wait(20)
        raise ValueError("posts.parquet row 7: created_at out of range")

    monkeypatch.setattr(ingest_module, "redactor_for", slow_redactor)
    monkeypatch.setattr(ingest_module, "_check_sources", failing_checks)
    try:
        with pytest.raises(ValueError, match="row 7"):
            ingest_module.plan(
                [Source("demo", _tables())], KEY, set(), IngestParams(), PrivacyParams(), NOW
            )
        assert not finished.is_set()  # raised while the redactor was still being built
    finally:
        release.set()


def _thread_post(post_id: str, author: str, parent=None, root=None, minutes: int = 1) -> dict:
    return dict(
        post_id=post_id,
        platform="demo",
        account_id=author,
        kind="reply",
        parent_post_id=parent,
        root_post_id=root,
        created_at=T + timedelta(minutes=minutes),
        text=post_id,
    )


THREADS = [
    # the parent is not in the dump, the root the adapter named is: the reply stays in its
    # thread (no parent), and its replies take that root, not the reply
    _thread_post("x1", "b", root="p1"),
    _thread_post("x2", "a", parent="x1", minutes=2),
    _thread_post("x3", "b", parent="x2", minutes=3),
    # a root that is not in the dump, or that was removed with its minor author: none
    _thread_post("y1", "b", root="gone"),
    _thread_post("z1", "b", root="p3"),
    # the parent removed for privacy (a minor's reply in p1's thread): detached, root kept
    _thread_post("m1", "kid", parent="p1", root="p1"),
    _thread_post("r1", "b", parent="m1", root="p1", minutes=2),
    _thread_post("r2", "a", parent="r1", root="p1", minutes=3),
    # malformed: roots named in a loop, a root named below the reply itself
    _thread_post("l1", "a", root="l2"),
    _thread_post("l2", "b", root="l1"),
    _thread_post("w1", "a", root="w2"),
    _thread_post("w2", "b", parent="w1", minutes=2),
    # a root named by a reply that is itself in a known thread: followed to that thread's top
    _thread_post("v1", "a", root="x2", minutes=4),
]


def test_a_reply_whose_parent_is_missing_keeps_the_thread_root_the_adapter_named() -> None:
    """Roots were recomputed from the parent links alone: a reply whose parent is not in the
    dump (or was removed) lost its thread although the adapter named its root (Usenet's first
    References entry, a PHEME thread's source tweet), and its replies took it as their root."""
    base = _run(_tables())
    res = _run(_tables(extra_posts=THREADS))
    rows = {r["post_id"]: r for r in res.posts.to_dicts()}
    got = {
        raw: (rows[pid(raw)]["parent_post_id"], rows[pid(raw)]["root_post_id"])
        for raw in ("x1", "x2", "x3", "y1", "z1", "r1", "r2", "l1", "l2", "w1", "w2", "v1")
    }
    assert got == {
        "x1": (None, pid("p1")),
        "x2": (pid("x1"), pid("p1")),
        "x3": (pid("x2"), pid("p1")),
        "y1": (None, None),
        "z1": (None, None),
        "r1": (None, pid("p1")),
        "r2": (pid("r1"), pid("p1")),
        "l1": (None, None),
        "l2": (None, None),
        "w1": (None, None),
        "w2": (pid("w1"), pid("w1")),
        "v1": (None, pid("p1")),
    }
    assert pid("m1") not in rows
    # r1's parent is the minor's: still addressed to the placeholder, counted as detached
    assert rows[pid("r1")]["reply_to_account_id"] == schema.NONPARTICIPANT_ID
    c, c0 = res.counts["demo"]["posts"], base.counts["demo"]["posts"]
    assert c["detached_replies"] == c0["detached_replies"] + 1
    assert not reconcile(res.counts["demo"])
    # a function of the links, not of the row order, and the same in both engines
    shuffled = _tables(extra_posts=THREADS[::-1])
    for again in (
        _run(shuffled),
        _run(_tables(extra_posts=THREADS), engine="streaming", batch_rows=3),
    ):
        roots = dict(zip(again.posts["post_id"], again.posts["root_post_id"], strict=True))
        assert roots == {p: r["root_post_id"] for p, r in rows.items()}


_DERIVED_ACCOUNTS = """
from datetime import UTC, datetime
from analysis import schema
from analysis.config import IngestParams, PrivacyParams
from analysis.ingest import Source, ingest
from analysis.sources.base import SourceTables, frame
T = datetime(2026, 5, 1, tzinfo=UTC)
authors = ["x", "y", "z", "w", "v", "u", "t", "s"]
posts = frame(
    [dict(post_id=f"p{i}", platform="demo", account_id=a, kind="post", created_at=T, text="hi")
     for i, a in enumerate(authors)],
    "posts",
)
t = SourceTables(accounts=schema.empty("accounts"), posts=posts, reactions=schema.empty("reactions"),
                 rejects=schema.empty("rejects"), n_read={}, platform="demo")
res = ingest([Source("demo", t)], b"k" * 32, set(), IngestParams(), PrivacyParams(),
             datetime(2027, 1, 1, tzinfo=UTC))
print(",".join(res.accounts["account_id"].to_list()))
"""


def test_accounts_derived_from_posts_do_not_depend_on_the_hash_seed() -> None:
    """Authors without an account row are added in the order of their first post: a set of
    strings iterates in the order of the process's hash seed, which two runs do not share."""
    rows = []
    for seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", _DERIVED_ACCOUNTS],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        rows.append(out.stdout.strip().split(","))
    assert rows[0] == rows[1] == rows[2]
    first_post_order = [
        privacy.pseudonym(b"k" * 32, "demo", "account", a, privacy.ACCOUNT_PREFIX)
        for a in ["x", "y", "z", "w", "v", "u", "t", "s"]
    ]
    assert rows[0][1:] == first_post_order  # after the non-participant placeholder
