"""Unit tests of the Stack Exchange adapter on tiny inline dump folders."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from analysis import privacy, schema
from analysis.ingest import OUT_OF_SCOPE_MARKERS, reconcile
from analysis.models import common
from analysis.sources import read_source
from analysis.sources.base import SourceError
from analysis.sources.stackexchange import read
from analysis.sources.stackexchange_tables import html_to_text

BOM = "\ufeff"

POSTS = [
    '<row Id="1" PostTypeId="1" CreationDate="2020-01-02T03:04:05.678" Score="5" ViewCount="100" '
    'Body="&lt;p&gt;Is &amp;amp; ok?&lt;/p&gt;&#xA;&lt;p&gt;Two&lt;/p&gt;" OwnerUserId="10" '
    'Title="Hops?" Tags="&lt;hops&gt;&lt;ipa&gt;" CommentCount="1" FavoriteCount="3" />',
    '<row Id="2" PostTypeId="2" ParentId="1" CreationDate="2020-01-03T00:00:00.000" Score="2" '
    'Body="&lt;p&gt;Yes&lt;/p&gt;" OwnerUserId="11" CommentCount="0" />',
    '<row Id="3" PostTypeId="2" ParentId="1" CreationDate="2020-01-04T00:00:00.000" Score="0" '
    'Body="&lt;p&gt;Gone&lt;/p&gt;" OwnerDisplayName="user99" CommentCount="0" />',
    '<row Id="4" PostTypeId="6" CreationDate="2020-01-05T00:00:00.000" Score="0" '
    'Body="&lt;p&gt;I nominate myself&lt;/p&gt;" OwnerUserId="11" CommentCount="0" />',
]
USERS = [
    '<row Id="-1" Reputation="1" CreationDate="2019-12-31T00:00:00.000" DisplayName="Community" />',
    '<row Id="10" Reputation="101" CreationDate="2020-01-01T00:00:00.000" DisplayName="Ann" />',
    '<row Id="11" Reputation="7" CreationDate="2020-01-01T12:00:00.000" DisplayName="Bob" />',
]
COMMENTS = [
    '<row Id="1" PostId="2" Score="1" Text="@Ann thanks" CreationDate="2020-01-03T01:00:00.000" '
    'UserId="10" />',
    '<row Id="2" PostId="1" Score="0" Text="hm" CreationDate="2020-01-03T02:00:00.000" '
    'UserDisplayName="user99" />',
]
VOTES = [
    '<row Id="1" PostId="1" VoteTypeId="2" CreationDate="2020-01-03T00:00:00.000" />',
    '<row Id="2" PostId="2" VoteTypeId="1" CreationDate="2020-01-03T00:00:00.000" />',
    '<row Id="3" PostId="1" VoteTypeId="5" UserId="11" CreationDate="2020-01-03T00:00:00.000" />',
    '<row Id="4" PostId="2" VoteTypeId="3" CreationDate="2020-01-04T00:00:00.000" />',
    '<row Id="5" PostId="1" VoteTypeId="8" UserId="10" BountyAmount="50" '
    'CreationDate="2020-01-04T00:00:00.000" />',
]
TAGS = ['<row Id="1" TagName="hops" Count="1" ExcerptPostId="5" WikiPostId="4" />']


def write(folder: Path, name: str, root: str, rows: list[str], gz: bool = False) -> Path:
    """Write one dump file as Stack Exchange ships it: BOM, CRLF, one row per line."""
    text = BOM + '<?xml version="1.0" encoding="utf-8"?>\r\n' + f"<{root}>\r\n"
    text += "".join(f"  {r}\r\n" for r in rows) + f"</{root}>\r\n"
    path = folder / (f"{name}.xml.gz" if gz else f"{name}.xml")
    data = text.encode("utf-8")
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def dump(folder: Path, gz: bool = False, **tables: list[str] | None) -> Path:
    """A dump folder with the default tables, overridden (or left out when None) by ``tables``."""
    defaults = {
        "Posts": POSTS,
        "Users": USERS,
        "Comments": COMMENTS,
        "Votes": VOTES,
        "Tags": TAGS,
    }
    defaults.update(tables)
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in defaults.items():
        if rows is not None:
            write(folder, name, name.lower(), rows, gz=gz)
    return folder


def reasons(tables, table: str) -> list[str]:
    return tables.rejects.filter(pl.col("table") == table)["reason"].to_list()


def test_mapping_of_every_table(tmp_path: Path) -> None:
    t = read(dump(tmp_path))
    t.check_reconciled()
    for table in ("accounts", "posts", "reactions"):
        schema.validate(getattr(t, table), table)
    posts = {r["post_id"]: r for r in t.posts.to_dicts()}
    q, a, deleted_a, nomination = posts["1"], posts["2"], posts["3"], posts["4"]
    assert q["kind"] == "question" and q["text"] == "Hops?\n\nIs & ok?\n\nTwo"
    assert q["created_at"] == datetime(2020, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    assert (q["n_views"], q["score"], q["n_comments_reported"]) == (100, 5, 1)
    assert q["labels"] == ["hops", "ipa"] and q["parent_post_id"] is None
    assert q["n_likes"] is None  # FavoriteCount is a bookmark count, not likes
    assert (a["kind"], a["parent_post_id"], a["root_post_id"]) == ("answer", "1", "1")
    assert a["n_views"] is None and a["labels"] == ["hops", "ipa"] and a["text"] == "Yes"
    assert deleted_a["account_id"] == "deleted:user99"
    assert nomination["kind"] == "post" and nomination["labels"] is None
    c1, c2 = posts["c1"], posts["c2"]
    assert (c1["kind"], c1["parent_post_id"], c1["root_post_id"]) == ("comment", "2", "1")
    assert c1["text"] == "@Ann thanks" and c1["account_id"] == "10" and c1["score"] == 1
    assert c2["account_id"] == "deleted:user99" and c2["root_post_id"] == "1"
    kinds = dict(zip(t.reactions["reaction_id"], t.reactions["kind"], strict=True))
    assert kinds == {"1": "upvote", "2": "accept", "3": "favourite", "4": "downvote", "5": "bounty"}
    actors = dict(zip(t.reactions["reaction_id"], t.reactions["actor_account_id"], strict=True))
    assert actors["3"] == "11" and actors["1"] is None
    accounts = {r["account_id"]: r for r in t.accounts.to_dicts()}
    assert accounts["10"]["display_name"] == "Ann" and accounts["10"]["platform_score"] == 101.0
    assert accounts["10"]["handle"] is None
    # One pseudo-account for the deleted user, counted as read so the counts reconcile.
    assert accounts["deleted:user99"]["platform_score"] is None
    assert accounts["deleted:user99"]["has_consent"] is False  # deleted on the site
    assert accounts["10"]["has_consent"] is None  # the dump does not say: never inferred
    assert t.n_read == {"accounts": 4, "posts": 6, "reactions": 5}
    assert t.rejects.height == 0
    assert t.platform == "stackexchange"
    assert t.posts["platform"].unique().to_list() == ["stackexchange"]


def test_accepts_and_bounty_awards_name_who_cast_them(tmp_path: Path) -> None:
    """Only the asker accepts an answer; a bounty is awarded by its sponsor (latest start)."""
    posts = [
        *POSTS[:2],
        '<row Id="6" PostTypeId="2" ParentId="1" CreationDate="2020-01-03T05:00:00.000" '
        'Score="1" Body="&lt;p&gt;My own answer&lt;/p&gt;" OwnerUserId="10" CommentCount="0" />',
        '<row Id="7" PostTypeId="1" CreationDate="2020-01-03T06:00:00.000" Score="0" '
        'Body="q" Title="Malt?" OwnerUserId="11" CommentCount="0" />',
        '<row Id="8" PostTypeId="2" ParentId="7" CreationDate="2020-01-03T07:00:00.000" '
        'Score="0" Body="a" OwnerUserId="10" CommentCount="0" />',
    ]
    day = 'CreationDate="2020-01-{:02d}T00:00:00.000"'
    votes = [
        f'<row Id="1" PostId="6" VoteTypeId="1" {day.format(5)} />',  # self-accept
        f'<row Id="2" PostId="8" VoteTypeId="1" {day.format(5)} />',  # 11 accepts 10's answer
        f'<row Id="3" PostId="1" VoteTypeId="8" UserId="11" {day.format(3)} />',
        f'<row Id="4" PostId="1" VoteTypeId="8" UserId="10" {day.format(6)} />',
        f'<row Id="5" PostId="6" VoteTypeId="9" {day.format(4)} />',  # 11's bounty
        f'<row Id="6" PostId="2" VoteTypeId="9" {day.format(9)} />',  # 10's, the latest start
        f'<row Id="7" PostId="8" VoteTypeId="9" {day.format(9)} />',  # no start on 7
    ]
    t = read(dump(tmp_path, Posts=posts, Votes=votes, Comments=None))
    t.check_reconciled()
    actors = dict(zip(t.reactions["reaction_id"], t.reactions["actor_account_id"], strict=True))
    assert actors == {"1": "10", "2": "11", "3": "11", "4": "10", "5": "11", "6": "10", "7": None}
    # the asker's accept of their own answer is not a reaction from someone else
    scoped = t.posts.filter(pl.col("kind") == "answer").with_columns(
        w=pl.lit(1.0), score=pl.lit(None, dtype=pl.Int64)
    )
    got = common.post_reactions(scoped, t.reactions, datetime(2021, 1, 1, tzinfo=UTC))
    n = dict(zip(got["post_id"], got["n_reactions"], strict=True))
    assert n == {"2": 1.0, "6": 1.0, "8": 2.0}  # 6: 11's bounty only; 8: the accept and a bounty


def test_wiki_text_is_rejected_not_authored(tmp_path: Path) -> None:
    """Tag wikis, site text and privilege wikis are edited by many: not anyone's post."""
    day = 'CreationDate="2020-01-05T00:00:00.000" Score="0" Body="wiki" OwnerUserId="-1"'
    posts = [*POSTS, *(f'<row Id="{n}0" PostTypeId="{n}" {day} />' for n in (13, 3, 5, 7, 8, 99))]
    # one tag wiki of a real user, voted on and commented: both go with it, with a reason
    posts.append(f'<row Id="20" PostTypeId="4" {day.replace("-1", "10")} />')
    comments = [
        *COMMENTS,
        '<row Id="3" PostId="20" Text="typo" CreationDate="2020-01-06T00:00:00.000" UserId="11" />',
    ]
    votes = [
        *VOTES,
        '<row Id="6" PostId="20" VoteTypeId="2" CreationDate="2020-01-06T00:00:00.000" />',
    ]
    t = read(dump(tmp_path, Posts=posts, Comments=comments, Votes=votes))
    t.check_reconciled()
    wiki = "collaborative wiki text, not an authored post (out of scope; not ingested)"
    rej = t.rejects.filter(pl.col("table") == "posts").sort("source_file", "source_line")
    assert rej.select("record_key", "reason").rows() == [
        ("c3", "comment's post was rejected"),
        ("130", "unknown PostTypeId 13: not a question, answer or nomination"),
        ("30", f"orphaned tag wiki (PostTypeId 3): {wiki}"),
        ("50", f"tag wiki (PostTypeId 5): {wiki}"),
        ("70", f"site text, a wiki placeholder (PostTypeId 7): {wiki}"),
        ("80", f"privilege wiki (PostTypeId 8): {wiki}"),
        ("990", "unknown PostTypeId 99: not a question, answer or nomination"),
        ("20", f"tag wiki excerpt (PostTypeId 4): {wiki}"),
    ]
    assert reasons(t, "reactions") == ["vote on a post that was rejected"]
    # out of scope, not malformed: never counted towards ingest.max_reject_share
    assert any(m in f"tag wiki (PostTypeId 5): {wiki}" for m in OUT_OF_SCOPE_MARKERS)
    assert set(t.posts["kind"]) == {"question", "answer", "post", "comment"}
    assert "-1" not in t.posts["account_id"].to_list()  # Community wrote only wiki text here


def test_day_resolution_votes_are_stamped_at_the_end_of_their_day(tmp_path: Path) -> None:
    """A vote dated 2020-01-03 (00:00) is surely cast by 23:59:59.999999 that day, not before."""
    votes = [
        *VOTES,
        '<row Id="6" PostId="2" VoteTypeId="2" CreationDate="2020-01-05T13:14:15.000" />',
    ]
    t = read(dump(tmp_path, Votes=votes))
    at = dict(zip(t.reactions["reaction_id"], t.reactions["created_at"], strict=True))
    assert at["1"] == datetime(2020, 1, 3, 23, 59, 59, 999999, tzinfo=UTC)
    assert at["6"] == datetime(2020, 1, 5, 13, 14, 15, tzinfo=UTC)  # a time of day is kept
    # answer 2 was posted on 2020-01-03 at 00:00; its day's votes no longer predate anything
    posted = dict(zip(t.posts["post_id"], t.posts["created_at"], strict=True))
    assert at["2"] >= posted["2"] and at["1"] >= posted["1"]
    # scored at noon of the vote's day, the question's upvote (cast some time that day) is unknown
    scoped = t.posts.filter(pl.col("post_id") == "1").with_columns(
        w=pl.lit(1.0), score=pl.lit(None, dtype=pl.Int64)
    )
    noon = datetime(2020, 1, 3, 12, tzinfo=UTC)
    assert common.post_reactions(scoped, t.reactions, noon)["n_reactions"].item() == 0.0
    next_day = datetime(2020, 1, 4, tzinfo=UTC)
    # the upvote (1) and Bob's favourite (3); the bounty start (5) is the next day
    assert common.post_reactions(scoped, t.reactions, next_day)["n_reactions"].item() == 2.0


def test_gzip_files_read_the_same(tmp_path: Path) -> None:
    plain = read(dump(tmp_path / "plain"))
    zipped = read(dump(tmp_path / "gz", gz=True))
    # the same rows at the same lines; only the file names differ (Posts.xml.gz, Posts.xml)
    for table in ("posts", "reactions", "accounts"):
        z, p = getattr(zipped, table), getattr(plain, table)
        assert z.drop("source_file").equals(p.drop("source_file")), table
        assert (z["source_file"].drop_nulls() == p["source_file"].drop_nulls() + ".gz").all()


def test_registry_reads_and_reconciles(tmp_path: Path) -> None:
    t = read_source("stackexchange", dump(tmp_path))
    assert t.platform == "stackexchange" and t.posts.height == 6


def test_table_cells_stay_apart() -> None:
    assert html_to_text("<table><tr><td>Ale</td><td>5 %</td></tr></table>") == "Ale 5 %"


def test_html_to_text() -> None:
    assert html_to_text("<p>a &lt;b&gt; c</p><pre><code>x = 1\n</code></pre>") == "a <b> c\nx = 1"
    assert html_to_text("<p>one</p>\n\n\n\n<p>two<br/>three</p>") == "one\n\ntwo\nthree"
    assert html_to_text(None) is None


def test_missing_required_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"Posts\.xml is missing"):
        read(dump(tmp_path / "a", Posts=None))
    with pytest.raises(SourceError, match=r"Users\.xml is missing"):
        read(dump(tmp_path / "b", Users=None))


def test_optional_files_missing_are_reported(tmp_path: Path) -> None:
    t = read(dump(tmp_path, Comments=None, Votes=None, Tags=None))
    t.check_reconciled()
    assert {"comments", "reactions"} <= set(t.missing_inputs)
    assert t.reactions.height == 0 and t.posts.filter(pl.col("kind") == "comment").height == 0
    full = read(dump(tmp_path / "full"))
    assert not {"comments", "reactions"} & set(full.missing_inputs)


def test_truncated_file_raises_with_line(tmp_path: Path) -> None:
    folder = dump(tmp_path)
    path = folder / "Posts.xml"
    data = path.read_bytes()
    path.write_bytes(data[: data.index(b"</posts>")])
    with pytest.raises(SourceError, match=r"Posts\.xml, line \d+: the file ends") as err:
        read(folder)
    assert err.value.line == len(POSTS) + 3


def test_truncated_gzip_raises(tmp_path: Path) -> None:
    folder = dump(tmp_path, gz=True)
    path = folder / "Votes.xml.gz"
    path.write_bytes(path.read_bytes()[:-30])
    with pytest.raises(SourceError, match=r"Votes\.xml\.gz"):
        read(folder)


def test_latin1_bytes_raise_with_line(tmp_path: Path) -> None:
    folder = dump(tmp_path)
    rows = [
        *USERS[:2],
        '<row Id="11" Reputation="7" CreationDate="2020-01-01T00:00:00.000" '
        'DisplayName="Jos\u00e9" />',
    ]
    text = '<?xml version="1.0" encoding="ISO-8859-1"?>\r\n<users>\r\n'
    text += "".join(f"  {r}\r\n" for r in rows) + "</users>\r\n"
    (folder / "Users.xml").write_bytes(text.encode("latin-1"))
    with pytest.raises(SourceError, match=r"Users\.xml, line 5: bytes that are not UTF-8"):
        read(folder)


def test_utf16_file_raises(tmp_path: Path) -> None:
    folder = dump(tmp_path)
    text = '<?xml version="1.0" encoding="utf-16"?>\r\n<users>\r\n  ' + USERS[0] + "\r\n</users>"
    (folder / "Users.xml").write_bytes(text.encode("utf-16"))
    with pytest.raises(SourceError, match=r"Users\.xml, line 1: the file is UTF-16"):
        read(folder)


def test_malformed_row_and_wrong_root_raise(tmp_path: Path) -> None:
    bad = dump(tmp_path / "a", Votes=[*VOTES[:2], '<row Id="9" PostId="1 VoteTypeId="2" />'])
    with pytest.raises(SourceError, match=r"Votes\.xml, line 5: malformed XML"):
        read(bad)
    folder = dump(tmp_path / "b")
    write(folder, "Users", "posts", USERS)  # Users.xml whose root says posts
    with pytest.raises(SourceError, match=r"root element <posts>; expected <users>"):
        read(folder)


def test_vote_on_missing_post_and_moderation_votes_are_rejected(tmp_path: Path) -> None:
    votes = [
        *VOTES,
        '<row Id="6" PostId="777" VoteTypeId="2" CreationDate="2020-01-04T00:00:00.000" />',
        '<row Id="7" PostId="1" VoteTypeId="10" CreationDate="2020-01-04T00:00:00.000" />',
        '<row Id="8" PostId="1" VoteTypeId="99" CreationDate="2020-01-04T00:00:00.000" />',
    ]
    t = read(dump(tmp_path, Votes=votes))
    t.check_reconciled()
    rej = t.rejects.filter(pl.col("table") == "reactions").sort("source_line")
    assert rej["record_key"].to_list() == ["6", "7", "8"]
    assert rej["source_line"].to_list() == [8, 9, 10]
    assert rej["source_file"].unique().to_list() == ["Votes.xml"]
    assert rej["reason"].to_list() == [
        "vote on a post that is not in Posts.xml (deleted post)",
        "moderation vote type 10 (deletion), not a reaction",
        "unknown vote type 99",
    ]
    assert t.n_read["reactions"] == 8 and t.reactions.height == 5


def test_answer_with_missing_parent_is_rejected_with_its_comments_and_votes(tmp_path: Path) -> None:
    posts = [
        *POSTS,
        '<row Id="8" PostTypeId="2" ParentId="555" CreationDate="2020-01-04T00:00:00.000" '
        'Score="0" Body="x" OwnerUserId="11" />',
    ]
    comments = [
        *COMMENTS,
        '<row Id="3" PostId="8" Text="on orphan" CreationDate="2020-01-05T00:00:00.000" UserId="10" />',
        '<row Id="4" PostId="404" Text="nowhere" CreationDate="2020-01-05T00:00:00.000" UserId="10" />',
    ]
    votes = [
        *VOTES,
        '<row Id="6" PostId="8" VoteTypeId="2" CreationDate="2020-01-05T00:00:00.000" />',
    ]
    t = read(dump(tmp_path, Posts=posts, Comments=comments, Votes=votes))
    t.check_reconciled()
    rej = t.rejects.filter(pl.col("table") == "posts").sort("source_file", "source_line")
    assert rej.select("source_file", "source_line", "record_key", "reason").rows() == [
        ("Comments.xml", 5, "c3", "comment's post was rejected"),
        ("Comments.xml", 6, "c4", "comment's post is not in Posts.xml"),
        ("Posts.xml", 7, "8", "answer's question is not in Posts.xml"),
    ]
    assert reasons(t, "reactions") == ["vote on a post that was rejected"]
    # No dangling parents in what was accepted.
    assert (
        t.posts.filter(pl.col("parent_post_id").is_not_null())["parent_post_id"]
        .is_in(t.posts["post_id"].implode())
        .all()
    )


def test_row_level_problems_are_rejects_with_lines(tmp_path: Path) -> None:
    posts = [
        *POSTS,
        '<row Id="9" PostTypeId="1" CreationDate="yesterday" Score="1" Body="x" OwnerUserId="10" />',
        '<row Id="10" PostTypeId="1" CreationDate="2020-01-04T00:00:00.000" Score="many" '
        'Body="x" OwnerUserId="10" />',
        '<row Id="11" PostTypeId="1" CreationDate="2020-01-04T00:00:00.000" Body="no owner" />',
        '<row Id="1" PostTypeId="1" CreationDate="2020-01-04T00:00:00.000" Body="dup" OwnerUserId="10" />',
        '<row PostTypeId="1" CreationDate="2020-01-04T00:00:00.000" Body="no id" OwnerUserId="10" />',
    ]
    users = [*USERS, '<row Id="12" Reputation="lots" CreationDate="2020-01-01T00:00:00.000" />']
    t = read(dump(tmp_path, Posts=posts, Users=users))
    t.check_reconciled()
    rej = t.rejects.filter(pl.col("table") == "posts").sort("source_line")
    assert rej.select("source_line", "reason").rows() == [
        (7, "unparsable CreationDate"),
        (8, "unparsable Score"),
        (9, "post has no owner (no OwnerUserId and no OwnerDisplayName)"),
        (10, "duplicate Id (first on line 3)"),
        (11, "row has no Id"),
    ]
    assert reasons(t, "accounts") == ["unparsable Reputation"]
    assert t.posts.filter(pl.col("post_id") == "1")["text"].item().startswith("Hops?")


def test_newer_pipe_separated_tags(tmp_path: Path) -> None:
    posts = [POSTS[0].replace("&lt;hops&gt;&lt;ipa&gt;", "|hops|ipa|"), *POSTS[1:]]
    t = read(dump(tmp_path, Posts=posts))
    assert t.posts.filter(pl.col("post_id") == "1")["labels"].item().to_list() == ["hops", "ipa"]


def test_empty_tables_are_valid(tmp_path: Path) -> None:
    t = read(dump(tmp_path, Posts=[], Comments=[], Votes=[]))
    t.check_reconciled()
    assert t.posts.height == 0 and t.reactions.height == 0 and t.accounts.height == len(USERS)


def test_accounts_deleted_on_the_site_are_honoured_like_an_opt_out(tmp_path: Path) -> None:
    """Ingest removes a deleted user with all it wrote; the others' replies below stay."""
    from analysis.config import IngestParams, PrivacyParams
    from analysis.ingest import Source, ingest

    key = b"unit-test-key-0123456789abcdef!!"
    res = ingest(
        [Source("beer", read(dump(tmp_path)))],
        key,
        set(),
        IngestParams(),
        PrivacyParams(),
        datetime(2026, 11, 1, tzinfo=UTC),
    )
    c = res.counts["beer"]
    assert c["accounts"]["removed_no_consent"] == 1
    assert c["posts"]["removed_privacy"] == 2  # answer 3 and comment c2
    gone = schema.NONPARTICIPANT_ID
    assert res.posts.height == 4 and gone not in res.posts["account_id"].to_list()
    texts = " ".join(res.posts["text"].drop_nulls().to_list())
    assert "user99" not in texts and "deleted:" not in " ".join(res.accounts["account_id"])
    for table in ("accounts", "posts", "reactions"):
        read_n = c[table]["read"]
        assert read_n == sum(
            v
            for k, v in c[table].items()
            if k in ("accepted", "rejected", "removed_privacy", "merged_nonparticipant")
        ), (table, c[table])


def test_community_user_is_a_system_account_never_a_participant(tmp_path: Path) -> None:
    """The Community user (-1) is a bot: its posts are rejected with a reason, the replies of
    people below them stay (detached, addressed to it), votes on them are out of scope, and at
    ingest it authors nothing, so it is never a participant (it was scored and ranked)."""
    from analysis.config import IngestParams, PrivacyParams
    from analysis.ingest import Source, ingest

    at = 'CreationDate="2020-02-0{}T03:00:00.000" Score="1" CommentCount="0"'
    posts = [
        *POSTS,
        # a site self-evaluation: the bot's question, its results answer, a person's answer
        f'<row Id="20" PostTypeId="1" {at.format(1)} Title="Self-evaluation" Body="rate" '
        'Tags="&lt;meta&gt;" OwnerUserId="-1" />',
        f'<row Id="21" PostTypeId="2" ParentId="20" {at.format(2)} Body="results" '
        'OwnerUserId="-1" />',
        f'<row Id="22" PostTypeId="2" ParentId="20" {at.format(3)} Body="mine" OwnerUserId="10" />',
    ]
    comments = [
        *COMMENTS,
        '<row Id="3" PostId="20" Text="nice" CreationDate="2020-02-04T00:00:00.000" UserId="11" />',
        '<row Id="4" PostId="22" Text="agree" CreationDate="2020-02-04T01:00:00.000" UserId="11" />',
        '<row Id="5" PostId="22" Text="bump" CreationDate="2020-02-04T02:00:00.000" UserId="-1" />',
    ]
    day = 'CreationDate="2020-02-05T00:00:00.000"'
    votes = [
        *VOTES,
        f'<row Id="6" PostId="20" VoteTypeId="2" {day} />',
        f'<row Id="7" PostId="21" VoteTypeId="1" {day} />',  # the bot accepts its own results
        f'<row Id="8" PostId="22" VoteTypeId="2" {day} />',
    ]
    t = read(dump(tmp_path, Posts=posts, Comments=comments, Votes=votes))
    t.check_reconciled()
    assert "-1" not in t.posts["account_id"].to_list()
    rej = t.rejects.filter(pl.col("table") == "posts").select("record_key", "reason").rows()
    system = "the site's system account, not a person (out of scope; not ingested)"
    assert sorted(rej) == [
        ("20", f"post of the Community user (Id -1), {system}"),
        ("21", f"post of the Community user (Id -1), {system}"),
        ("c5", f"comment of the Community user (Id -1), {system}"),
    ]
    assert sorted(reasons(t, "reactions")) == 2 * [
        "vote on a post of the Community user, the system account (not ingested)"
    ]
    assert all(any(m in r for m in OUT_OF_SCOPE_MARKERS) for _, r in rej)
    got = {r["post_id"]: r for r in t.posts.to_dicts()}
    a, c3, c4 = got["22"], got["c3"], got["c4"]
    # the person's answer and comment on the bot's posts stay, detached, addressed to it
    assert (a["kind"], a["parent_post_id"], a["root_post_id"]) == ("answer", None, None)
    assert a["reply_to_account_id"] == "-1" and a["labels"] == ["meta"]
    assert (c3["parent_post_id"], c3["root_post_id"], c3["reply_to_account_id"]) == (
        None,
        None,
        "-1",
    )
    assert c3["labels"] == ["meta"]
    assert (c4["parent_post_id"], c4["root_post_id"], c4["reply_to_account_id"]) == (
        "22",
        "22",
        None,
    )
    assert set(t.reactions["post_id"]) == {"1", "2", "22"}

    key = b"unit-test-key-0123456789abcdef!!"
    res = ingest(
        [Source("meta", t)],
        key,
        set(),
        IngestParams(),
        PrivacyParams(),
        datetime(2026, 11, 1, tzinfo=UTC),
    )
    community = privacy.pseudonym(key, "meta", "account", "-1", privacy.ACCOUNT_PREFIX)
    assert community not in res.accounts["account_id"].to_list()
    assert community not in res.posts["account_id"].to_list()
    # the person's answer and the comment on the bot's question reply to no participant
    replies = res.posts.filter(pl.col("text").is_in(["mine", "nice"]))
    assert replies["reply_to_account_id"].to_list() == 2 * [schema.NONPARTICIPANT_ID]
    c = res.counts["meta"]
    assert c["accounts"]["merged_nonparticipant"] >= 1 and not reconcile(c)


def test_an_at_reply_answers_the_earlier_comment_of_the_user_it_names(tmp_path: Path) -> None:
    """Every comment credited the post's owner: an owner answering a commenter ("@Bob thanks")
    was a self-reply and Bob got nothing (9-26 % of comments on the shared sites). SE's rule:
    the first mention that names someone SE would notify (an earlier commenter on the post:
    name without spaces, case-insensitive prefix of at least 3 characters; the owner's own
    mention stays the owner's). The comment then answers that user's latest comment: its
    parent, whose author ingest makes the addressee, in every model alike."""
    from analysis.config import IngestParams, PrivacyParams
    from analysis.ingest import Source, ingest

    users = [
        *USERS,
        '<row Id="12" Reputation="1" CreationDate="2020-01-01T00:00:00.000" DisplayName="Mary Jo" />',
        '<row Id="13" Reputation="1" CreationDate="2020-01-01T00:00:00.000" DisplayName="Bobby" />',
        '<row Id="14" Reputation="1" CreationDate="2020-01-01T00:00:00.000" DisplayName="Anne" />',
    ]

    def c(i: int, text: str, hour: int, user: str, post: str = "1") -> str:
        return (
            f'<row Id="{i}" PostId="{post}" Text="{text}" '
            f'CreationDate="2020-01-05T{hour:02d}:00:00.000" UserId="{user}" />'
        )

    comments = [
        c(10, "@mary before she spoke", 1, "11"),  # Mary Jo has not commented yet: the owner's
        c(11, "which hops?", 2, "12"),  # Mary Jo
        c(12, "@maryjo: cascade", 3, "11"),  # Bob to Mary Jo (spaces out, lower case)
        c(13, "@Mary Jo thanks", 4, "10"),  # the owner Ann to Mary Jo: not a self-reply
        c(14, "@Ma no", 5, "11"),  # two characters name nobody: the owner's
        c(15, "mail bob@example.com, @Ann nice", 6, "14"),  # not an e-mail's @; Ann: the owner
        c(16, "hi", 7, "13"),  # Bobby comments
        c(17, "@Bob agreed", 8, "12"),  # Bob never commented here, Bobby did: the latest match
        c(18, "(@ann) and @maryjo", 9, "13"),  # the first mention that matches: Ann, the owner
        c(19, "@Ann sure", 10, "11"),  # the owner Ann and the commenter Anne match: the owner
    ]
    t = read(dump(tmp_path, Users=users, Comments=[*COMMENTS, *comments]))
    t.check_reconciled()
    parent = dict(t.posts.select("post_id", "parent_post_id").iter_rows())
    assert {k: parent[k] for k in (f"c{i}" for i in range(10, 20))} == {
        "c10": "1",
        "c11": "1",
        "c12": "c11",  # Mary Jo's comment
        "c13": "c11",
        "c14": "1",
        "c15": "1",
        "c16": "1",
        "c17": "c16",  # Bobby's
        "c18": "1",
        "c19": "1",
    }
    assert parent["c1"] == "2"  # Ann mentions herself under Bob's answer: Bob's, as before
    assert t.posts["reply_to_account_id"].drop_nulls().is_empty()  # the parents say it

    key = b"unit-test-key-0123456789abcdef!!"
    res = ingest(
        [Source("se", t)],
        key,
        set(),
        IngestParams(),
        PrivacyParams(),
        datetime(2026, 11, 1, tzinfo=UTC),
    )

    def pseud(raw: str) -> str:
        return privacy.pseudonym(key, "se", "account", raw, privacy.ACCOUNT_PREFIX)

    posts = res.posts.filter(pl.col("kind") == "comment")
    got = dict(posts.select("created_at", "reply_to_account_id").iter_rows())
    at = {h: datetime(2020, 1, 5, h, tzinfo=UTC) for h in range(1, 11)}
    # the addressee is the parent's author: the user named, or the post's owner
    assert got[at[3]] == got[at[4]] == pseud("12")
    assert got[at[8]] == pseud("13")
    assert got[at[1]] == got[at[5]] == got[at[10]] == pseud("10")


def test_users_who_may_have_joined_under_18_are_minors_removed_with_what_they_wrote(
    tmp_path: Path,
) -> None:
    """Dumps before 2019 give each user's Age at the export (the ai site: 1,000 of 3,157 users,
    54 under 18, none flagged before). A user aged 18 at the export who joined a year before it
    was 17 then: a minor, removed whole by ingest with everything written."""
    from analysis.config import IngestParams, PrivacyParams
    from analysis.ingest import Source, ingest

    users = [
        USERS[0],
        # Ann: 16 at the export
        '<row Id="10" Reputation="101" CreationDate="2020-01-01T00:00:00.000" DisplayName="Ann" '
        'Age="16" LastAccessDate="2021-01-01T00:00:00.000" />',
        # Bob: 18 at the export, joined a year before it: 17 when joining
        '<row Id="11" Reputation="7" CreationDate="2020-01-01T12:00:00.000" DisplayName="Bob" '
        'Age="18" />',
        # Cy: 18 at the export, joined at it (an hour earlier, the birthday may fall between);
        # Di: 30, joined a year before; Ed: no age
        '<row Id="12" Reputation="1" CreationDate="2021-01-01T00:00:00.000" DisplayName="Cy" '
        'Age="18" />',
        '<row Id="13" Reputation="1" CreationDate="2020-01-01T00:00:00.000" DisplayName="Di" '
        'Age="30" />',
        '<row Id="14" Reputation="1" CreationDate="2020-01-01T00:00:00.000" DisplayName="Ed" />',
    ]
    t = read(dump(tmp_path, Users=users))
    minor = dict(zip(t.accounts["account_id"], t.accounts["is_minor"], strict=True))
    assert (minor["10"], minor["11"], minor["12"], minor["13"]) == (True, True, False, False)
    assert minor["14"] is None  # nothing known: never inferred
    bad_age = '<row Id="15" Reputation="1" CreationDate="2020-01-01T00:00:00.000" Age="x" />'
    bad = read(dump(tmp_path / "bad", Users=[*USERS, bad_age]))
    assert "unparsable Age" in reasons(bad, "accounts")
    res = ingest(
        [Source("se", t)],
        b"unit-test-key-0123456789abcdef!!",
        set(),
        IngestParams(),
        PrivacyParams(),
        datetime(2026, 11, 1, tzinfo=UTC),
    )
    c = res.counts["se"]
    assert c["accounts"]["removed_minor"] == 2
    # Ann's question and comment, Bob's answer and nomination: nothing of theirs is left
    texts = " ".join(res.posts["text"].drop_nulls().to_list())
    assert "Hops" not in texts and "Yes" not in texts and "nominate" not in texts
    assert res.posts.height == 0  # what is left was the deleted user's (no consent)
