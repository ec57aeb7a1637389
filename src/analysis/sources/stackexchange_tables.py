"""Adapter ``stackexchange``: the dump's files as raw canonical tables, with their rejects.

:func:`read_posts`, :func:`read_comments`, :func:`read_votes` and :func:`read_accounts` read one
file each (``analysis.sources.stackexchange_xml``), check every row (missing or duplicate ids,
unparsable dates and numbers, links to posts not in the dump, moderation votes) and return the
accepted rows in the canonical schema and the rejects with file, line and reason. The mapping
and its reasons are in the docstring of ``analysis.sources.stackexchange``, which assembles the
tables.
"""

from __future__ import annotations

import html
import re
from datetime import timedelta
from pathlib import Path

import polars as pl

from analysis import schema
from analysis.sources.stackexchange_xml import read_rows

PLATFORM = "stackexchange"
DATE_FORMAT = "%Y-%m-%dT%H:%M:%S%.f"
DELETED_PREFIX = "deleted:"
COMMENT_PREFIX = "c"
#: ``Users.Id`` of the Community user, the background process every Stack Exchange site has
#: ("Hi, I'm not really a person"): it owns the election and site self-evaluation questions it
#: opens, the answers it posts with their results, and most wiki text. Not a person: its posts
#: are rejected (out of scope), and the replies of people below them are kept, detached and
#: addressed to it, so that at ingest it authors nothing and is a non-participant.
SYSTEM_ACCOUNT_ID = "-1"
#: Reject reason of a post of :data:`SYSTEM_ACCOUNT_ID` ("not ingested": out of scope).
SYSTEM_POST = (
    "post of the Community user (Id -1), the site's system account, not a person "
    "(out of scope; not ingested)"
)

#: PostTypeIds that are authored posts. 6, a moderator nomination, is the candidate's own
#: statement, which others comment on: a post like any other.
POST_KINDS = {"1": "question", "2": "answer", "6": "post"}
#: PostTypeIds of wiki text: edited by many, owned by whoever created it (often the Community
#: bot): out of scope, rejected. Every other PostTypeId is unknown and rejected too.
WIKI_POSTS = {
    "3": "orphaned tag wiki",
    "4": "tag wiki excerpt",
    "5": "tag wiki",
    "7": "site text, a wiki placeholder",
    "8": "privilege wiki",
}
REACTION_KINDS = {
    "1": "accept",
    "2": "upvote",
    "3": "downvote",
    "5": "favourite",
    "8": "bounty",  # bounty start (carries the sponsor's UserId)
    "9": "bounty",  # bounty close / award
}
#: Added to a day-resolution vote date (00:00:00 UTC): the last microsecond of that UTC day.
VOTE_DAY_END = timedelta(days=1) - timedelta(microseconds=1)
MODERATION_VOTES = {
    "4": "offensive",
    "6": "close",
    "7": "reopen",
    "10": "deletion",
    "11": "undeletion",
    "12": "spam",
    "15": "moderator review",
    "16": "approve edit suggestion",
}

_BLOCK_END = re.compile(r"</(?:p|div|li|h[1-6]|pre|blockquote|tr|ul|ol)>|<br\s*/?>|<hr\s*/?>", re.I)
#: a table cell's end: a space, or "<td>a</td><td>b</td>" reads "ab" (4 posts on the shared sites)
_CELL_END = re.compile(r"</t[dh]>", re.I)
_TAG = re.compile(r"<[^>]*>")
_BLANK_LINES = re.compile(r"\n{3,}")


def html_to_text(body: str | None) -> str | None:
    """Plain text of a post body: block ends become newlines, cell ends spaces, tags go,
    entities are decoded."""
    if body is None:
        return None
    text = html.unescape(_TAG.sub("", _CELL_END.sub(" ", _BLOCK_END.sub("\n", body))))
    return _BLANK_LINES.sub("\n\n", text).strip()


# --------------------------------------------------------------------------- checks


def _first_reason(*pairs: tuple[pl.Expr, pl.Expr | str]) -> pl.Expr:
    """The reason of the first check that hits, else null."""
    exprs = [pl.when(cond).then(r if isinstance(r, pl.Expr) else pl.lit(r)) for cond, r in pairs]
    return pl.coalesce(exprs).alias("_reason")


def _parsed(df: pl.DataFrame, ints: tuple[str, ...], floats: tuple[str, ...] = ()) -> pl.DataFrame:
    """Add typed ``_<col>`` columns (nulls where unparsable) for dates and numbers."""
    return df.with_columns(
        pl.col("CreationDate")
        .str.to_datetime(DATE_FORMAT, strict=False, time_unit="us")
        .dt.replace_time_zone("UTC")
        .alias("_CreationDate"),
        *[pl.col(c).str.strip_chars().cast(pl.Int64, strict=False).alias(f"_{c}") for c in ints],
        *[
            pl.col(c).str.strip_chars().cast(pl.Float64, strict=False).alias(f"_{c}")
            for c in floats
        ],
    )


def _unparsable(cols: tuple[str, ...]) -> list[tuple[pl.Expr, pl.Expr]]:
    return [
        (
            pl.col(c).is_not_null() & pl.col(f"_{c}").is_null(),
            # never the value itself: it may be anything, an e-mail address included
            pl.lit(f"unparsable {c}"),
        )
        for c in cols
    ]


def _basic(key: str) -> list[tuple[pl.Expr, pl.Expr | str]]:
    return [
        (pl.col(key).is_null(), f"row has no {key}"),
        (
            pl.col(key).is_duplicated() & (pl.col("_line") != pl.col("_line").min().over(key)),
            pl.format(
                "duplicate {} (first on line {})", pl.lit(key), pl.col("_line").min().over(key)
            ),
        ),
        (pl.col("CreationDate").is_null(), "row has no CreationDate"),
    ]


def _split(
    df: pl.DataFrame, table: str, path: Path, key: str, reason: pl.Expr
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split into (accepted, rejects in the canonical schema)."""
    df = df.with_columns(reason.alias("_reason"))
    rej = df.filter(pl.col("_reason").is_not_null()).select(
        pl.lit(table).alias("table"),
        pl.lit(path.name).alias("source_file"),
        pl.col("_line").alias("source_line"),
        pl.col(key).alias("record_key"),
        pl.col("_reason").alias("reason"),
    )
    return df.filter(pl.col("_reason").is_null()).drop("_reason"), rej


def _provenance(path: Path) -> tuple[pl.Expr, pl.Expr]:
    """The file and line of each row, for the rejects ingest makes later."""
    return pl.lit(path.name).alias("source_file"), pl.col("_line").alias("source_line")


def _owner(id_col: str, name_col: str) -> pl.Expr:
    return pl.coalesce(pl.col(id_col), pl.lit(DELETED_PREFIX) + pl.col(name_col))


# --------------------------------------------------------------------------- tables


def read_posts(
    path: Path,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.Series, pl.DataFrame]:
    """Posts.xml -> (posts, rejects, display names of deleted owners, every Id in the file,
    the system account's rejected posts).

    The last frame (``post_id``, ``labels``) holds the posts rejected as the Community user's
    (:data:`SYSTEM_POST`): answers below one are kept, detached (no parent, no root) and
    addressed to that account, with the labels of their thread; :func:`read_comments` and
    :func:`read_votes` treat comments and votes on them the same way.
    """
    fields = (
        "Id",
        "PostTypeId",
        "ParentId",
        "CreationDate",
        "Score",
        "ViewCount",
        "Body",
        "Title",
        "Tags",
        "OwnerUserId",
        "OwnerDisplayName",
        "CommentCount",
    )
    raw = read_rows(path, "posts", fields, {"Body": html_to_text})
    ints = ("PostTypeId", "Score", "ViewCount", "CommentCount")
    df = _parsed(raw, ints)
    ptype = pl.col("PostTypeId").str.strip_chars()
    wiki = ptype.replace_strict(WIKI_POSTS, default=None, return_dtype=pl.String)
    checks = [
        *_basic("Id"),
        (pl.col("PostTypeId").is_null(), "row has no PostTypeId"),
        *_unparsable(("CreationDate", *ints)),
        (
            wiki.is_not_null(),
            pl.format(
                # "not ingested": out of scope, not malformed (ingest.OUT_OF_SCOPE_MARKERS)
                "{} (PostTypeId {}): collaborative wiki text, not an authored post "
                "(out of scope; not ingested)",
                wiki,
                ptype,
            ),
        ),
        (
            ~ptype.is_in(list(POST_KINDS)),
            pl.format("unknown PostTypeId {}: not a question, answer or nomination", ptype),
        ),
        (pl.col("OwnerUserId").str.strip_chars() == SYSTEM_ACCOUNT_ID, SYSTEM_POST),
        (
            pl.col("OwnerUserId").is_null() & pl.col("OwnerDisplayName").is_null(),
            "post has no owner (no OwnerUserId and no OwnerDisplayName)",
        ),
        ((pl.col("PostTypeId") == "2") & pl.col("ParentId").is_null(), "answer has no ParentId"),
    ]
    accepted, rejects = _split(df, "posts", path, "Id", _first_reason(*checks))
    tags = (
        pl.col("Tags")
        .str.replace_all("><", "|", literal=True)
        .str.strip_chars("<>|")
        .str.split("|")
    )  # "<a><b>" or "|a|b|"
    own_labels = pl.when(pl.col("Tags").is_not_null()).then(tags).alias("_own_labels")
    system_lines = rejects.filter(pl.col("reason") == SYSTEM_POST)["source_line"]
    system = df.filter(pl.col("_line").is_in(system_lines.implode())).select(
        pl.col("Id").alias("post_id"), "ParentId", own_labels
    )
    system_ids = system["post_id"].implode()
    # Drop answers whose question is absent or rejected, until no parent dangles (one round on
    # real dumps, where parents are always questions). A question of the system account is
    # not a dangling parent: its answers are detached below.
    all_ids = raw["Id"].drop_nulls()
    while True:
        parent_ok = (
            pl.col("ParentId").is_null()
            | pl.col("ParentId").is_in(accepted["Id"].implode())
            | pl.col("ParentId").is_in(system_ids)
        )
        reason = _first_reason(
            (
                ~pl.col("ParentId").is_in(all_ids.implode()),
                pl.lit(f"answer's question is not in {path.name}"),
            ),
            (~parent_ok, pl.lit("answer's question was rejected")),
        )
        accepted, more = _split(accepted, "posts", path, "Id", pl.when(~parent_ok).then(reason))
        rejects = pl.concat([rejects, more])
        if more.height == 0:
            break
    to_system = pl.col("ParentId").is_in(system_ids)
    posts = accepted.with_columns(
        pl.col("Id").alias("post_id"),
        pl.lit(PLATFORM).alias("platform"),
        *_provenance(path),
        _owner("OwnerUserId", "OwnerDisplayName").alias("account_id"),
        ptype.replace_strict(POST_KINDS).alias("kind"),
        # an answer to the system account's question: detached, addressed to that account
        pl.when(~to_system).then(pl.col("ParentId")).alias("parent_post_id"),
        pl.when(~to_system).then(pl.col("ParentId")).alias("root_post_id"),
        pl.when(to_system).then(pl.lit(SYSTEM_ACCOUNT_ID)).alias("reply_to_account_id"),
        pl.col("_CreationDate").alias("created_at"),
        pl.when(pl.col("Title").is_not_null())
        .then(pl.col("Title") + "\n\n" + pl.col("Body").fill_null(""))
        .otherwise(pl.col("Body"))
        .alias("text"),
        pl.col("_ViewCount").alias("n_views"),
        pl.col("_Score").alias("score"),
        pl.col("_CommentCount").alias("n_comments_reported"),
        own_labels,
    )
    # the thread's labels: the question's, the system account's questions included
    thread = pl.concat(
        [posts.select("post_id", "_own_labels"), system.select("post_id", "_own_labels")]
    ).rename({"post_id": "ParentId", "_own_labels": "_parent_labels"})
    posts = posts.join(thread, on="ParentId", how="left", maintain_order="left").with_columns(
        pl.coalesce("_parent_labels", "_own_labels").alias("labels")
    )
    system = system.join(thread, on="ParentId", how="left", maintain_order="left").select(
        "post_id", pl.coalesce("_parent_labels", "_own_labels").alias("labels")
    )
    deleted = posts.filter(pl.col("OwnerUserId").is_null()).select(pl.col("OwnerDisplayName"))
    return schema.conform(posts, "posts"), rejects, deleted, raw["Id"], system


def read_comments(
    path: Path, posts: pl.DataFrame, all_post_ids: pl.Series, system: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, int]:
    """Comments.xml -> (comments as posts, rejects, display names of deleted authors, rows read).

    ``system``: the system account's rejected posts (:func:`read_posts`); a comment on one is
    kept, detached and addressed to that account.
    """
    fields = ("Id", "PostId", "Score", "Text", "CreationDate", "UserId", "UserDisplayName")
    raw = read_rows(path, "comments", fields)
    df = _parsed(raw, ("Score",))
    known = pl.concat([posts["post_id"], system["post_id"]]).implode()
    checks = [
        *_basic("Id"),
        (pl.col("PostId").is_null(), "comment has no PostId"),
        *_unparsable(("CreationDate", "Score")),
        (
            pl.col("UserId").is_null() & pl.col("UserDisplayName").is_null(),
            "comment has no author (no UserId and no UserDisplayName)",
        ),
        (
            pl.col("UserId").str.strip_chars() == SYSTEM_ACCOUNT_ID,
            SYSTEM_POST.replace("post of", "comment of"),
        ),
        (
            ~pl.col("PostId").is_in(all_post_ids.implode()),
            pl.lit("comment's post is not in Posts.xml"),
        ),
        (
            ~pl.col("PostId").is_in(known),
            pl.lit("comment's post was rejected"),
        ),
    ]
    df = df.with_columns((pl.lit(COMMENT_PREFIX) + pl.col("Id")).alias("_key"))
    accepted, rejects = _split(df, "posts", path, "_key", _first_reason(*checks))
    to_system = pl.col("PostId").is_in(system["post_id"].implode())
    thread = pl.concat(
        [
            posts.select(
                pl.col("post_id").alias("PostId"),
                pl.coalesce("root_post_id", "post_id").alias("root_post_id"),
                "labels",
            ),
            system.select(
                pl.col("post_id").alias("PostId"),
                pl.lit(None, pl.String).alias("root_post_id"),
                "labels",
            ),
        ]
    )
    comments = accepted.join(thread, on="PostId", how="left", maintain_order="left").with_columns(
        pl.col("_key").alias("post_id"),
        pl.lit(PLATFORM).alias("platform"),
        *_provenance(path),
        _owner("UserId", "UserDisplayName").alias("account_id"),
        pl.lit("comment").alias("kind"),
        # a comment on the system account's post: detached, addressed to that account
        pl.when(~to_system).then(pl.col("PostId")).alias("parent_post_id"),
        pl.when(to_system).then(pl.lit(SYSTEM_ACCOUNT_ID)).alias("reply_to_account_id"),
        pl.col("_CreationDate").alias("created_at"),
        pl.col("Text").alias("text"),
        pl.col("_Score").alias("score"),
    )
    deleted = comments.filter(pl.col("UserId").is_null()).select(
        pl.col("UserDisplayName").alias("OwnerDisplayName")
    )
    return schema.conform(comments, "posts"), rejects, deleted, raw.height


def read_votes(
    path: Path, posts: pl.DataFrame, all_post_ids: pl.Series, system: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """Votes.xml -> (reactions, rejects (moderation votes included), rows read).

    ``system``: the system account's rejected posts (:func:`read_posts`): votes on them are
    rejected as out of scope (a vote for a bot's post is nobody's reaction to a person).
    """
    raw = read_rows(path, "votes", ("Id", "PostId", "VoteTypeId", "CreationDate", "UserId"))
    df = _parsed(raw, ("VoteTypeId",)).with_columns(
        pl.col("VoteTypeId")
        .str.strip_chars()
        .replace_strict(MODERATION_VOTES, default=None, return_dtype=pl.String)
        .alias("_moderation")
    )
    vtype = pl.col("VoteTypeId").str.strip_chars()
    checks = [
        (pl.col("Id").is_null(), "row has no Id"),
        (
            pl.col("Id").is_duplicated() & (pl.col("_line") != pl.col("_line").min().over("Id")),
            pl.lit("duplicate Id"),
        ),
        (pl.col("VoteTypeId").is_null(), "vote has no VoteTypeId"),
        *_unparsable(("VoteTypeId", "CreationDate")),
        (
            pl.col("_moderation").is_not_null(),
            pl.format("moderation vote type {} ({}), not a reaction", vtype, pl.col("_moderation")),
        ),
        (~vtype.is_in(list(REACTION_KINDS)), pl.format("unknown vote type {}", vtype)),
        (pl.col("PostId").is_null(), "vote has no PostId"),
        (
            ~pl.col("PostId").is_in(all_post_ids.implode()),
            # Reasons never carry the raw id: record_key does, and ingest pseudonymises it.
            pl.lit("vote on a post that is not in Posts.xml (deleted post)"),
        ),
        (
            pl.col("PostId").is_in(system["post_id"].implode()),
            pl.lit("vote on a post of the Community user, the system account (not ingested)"),
        ),
        (
            ~pl.col("PostId").is_in(posts["post_id"].implode()),
            pl.lit("vote on a post that was rejected"),
        ),
    ]
    accepted, rejects = _split(df, "reactions", path, "Id", _first_reason(*checks))
    at = pl.col("_CreationDate")
    reactions = _actors(accepted, posts).with_columns(
        pl.col("Id").alias("reaction_id"),
        pl.lit(PLATFORM).alias("platform"),
        *_provenance(path),
        pl.col("PostId").alias("post_id"),
        vtype.replace_strict(REACTION_KINDS).alias("kind"),
        # The dump gives a vote's day only (00:00:00 UTC): the vote is surely cast by the end
        # of that day, so it is stamped at its last microsecond. Stamped at 00:00, a vote cast
        # later that day counted at a scoring date earlier that day, and predated its own post.
        pl.when(at == at.dt.truncate("1d"))
        .then(at + VOTE_DAY_END)
        .otherwise(at)
        .alias("created_at"),
    )
    return schema.conform(reactions, "reactions"), rejects, raw.height


def _actors(votes: pl.DataFrame, posts: pl.DataFrame) -> pl.DataFrame:
    """``votes`` (accepted, in file order) with ``actor_account_id``: who cast each vote, where
    the dump tells.

    ``UserId`` where the row has one (favourites, bounty starts). The dump leaves accepts and
    bounty awards anonymous, but the platform says who cast them: only the question's owner can
    accept an answer (VoteTypeId 1 on the answer), and a bounty (9, on the awarded answer) is
    awarded by its sponsor: the ``UserId`` of the latest bounty start (8) on the answer's
    question dated no later than the award. Without that start row (or its UserId: some dumps
    have no UserId column) a bounty award stays anonymous. Without this, an asker who accepts
    their own answer is counted as someone else's reaction to it.
    """
    vtype = pl.col("VoteTypeId").str.strip_chars()
    question = posts.filter(pl.col("kind") == "answer").select(
        pl.col("post_id").alias("PostId"), pl.col("parent_post_id").alias("_question")
    )
    asker = posts.select(pl.col("post_id").alias("_question"), pl.col("account_id").alias("_asker"))
    votes = (
        votes.with_row_index("_order")
        .join(question, on="PostId", how="left")
        .join(asker, on="_question", how="left")
    )
    # a bounty start is a vote on the question itself: keyed by its own post id
    starts = (
        votes.filter((vtype == "8") & pl.col("UserId").is_not_null())
        .select(
            pl.col("PostId").alias("_question"),
            pl.col("_CreationDate").alias("_at"),
            pl.col("UserId").alias("_sponsor"),
            pl.col("_line"),
        )
        .filter(pl.col("_at").is_not_null())
        .sort("_question", "_at", "_line")
    )
    awards = (
        votes.filter((vtype == "9") & pl.col("_question").is_not_null())
        .select("_order", "_question", pl.col("_CreationDate").alias("_at"))
        .filter(pl.col("_at").is_not_null())
        .sort("_question", "_at")
    )
    sponsors = awards.join_asof(
        starts, on="_at", by="_question", strategy="backward", check_sortedness=False
    ).select("_order", "_sponsor")
    return (
        votes.join(sponsors, on="_order", how="left")
        .sort("_order")
        .with_columns(
            pl.coalesce(
                pl.col("UserId"),
                pl.when(vtype == "1").then(pl.col("_asker")),
                pl.when(vtype == "9").then(pl.col("_sponsor")),
            ).alias("actor_account_id")
        )
    )


#: Days per year of age (the Gregorian mean).
DAYS_PER_YEAR = 365.2425


def minor_at_joining(users: pl.DataFrame) -> pl.Expr:
    """True for a user who may have been under 18 when the account was made.

    Dumps before 2019 give ``Age``: whole years at the export, which is not in the dump; the
    latest ``LastAccessDate`` (or ``CreationDate``) of any user stands for it. A user aged
    ``Age`` at the export was at least ``Age - e`` when joining, ``e`` the years between the two,
    so an account is a minor's unless ``Age - e >= 18``: one 18 at the export and joined a month
    before may have been 17 then, and everything it wrote since is a minor's. The account is
    removed whole, as ingest removes any minor (the rule errs on the side of the person). No
    ``Age``: null (nothing known; the flag is only raised on evidence)."""
    seen = [users[c].max() for c in ("_LastAccessDate", "_CreationDate")]
    export = pl.lit(max((t for t in seen if t is not None), default=None))
    years = (export - pl.col("_CreationDate")).dt.total_seconds() / (86_400 * DAYS_PER_YEAR)
    return pl.when(pl.col("_Age").is_not_null()).then((pl.col("_Age") - years) < 18)


def read_accounts(
    path: Path, deleted_names: pl.Series
) -> tuple[pl.DataFrame, pl.DataFrame, int, pl.DataFrame]:
    """Users.xml plus one ``deleted:<name>`` account per deleted owner's name -> (accounts,
    rejects, rows read, account flags of the rejected rows)."""
    fields = ("Id", "DisplayName", "Reputation", "CreationDate", "Age", "LastAccessDate")
    raw = read_rows(path, "users", fields)
    df = _parsed(raw, ("Age",), ("Reputation",)).with_columns(
        pl.col("LastAccessDate")
        .str.to_datetime(DATE_FORMAT, strict=False, time_unit="us")
        .dt.replace_time_zone("UTC")
        .alias("_LastAccessDate")
    )
    checks = [*_basic("Id"), *_unparsable(("CreationDate", "Reputation", "Age"))]
    accepted, rejects = _split(df, "accounts", path, "Id", _first_reason(*checks))
    users = accepted.select(
        pl.col("Id").alias("account_id"),
        pl.lit(PLATFORM).alias("platform"),
        pl.col("DisplayName").alias("display_name"),
        pl.col("_CreationDate").alias("created_at"),
        pl.col("_Reputation").alias("platform_score"),
        minor_at_joining(df).alias("is_minor"),
        *_provenance(path),
    )
    pseudo = pl.DataFrame({"display_name": deleted_names.unique(maintain_order=True)}).select(
        (pl.lit(DELETED_PREFIX) + pl.col("display_name")).alias("account_id"),
        pl.lit(PLATFORM).alias("platform"),
        pl.col("display_name").cast(pl.String),
        pl.lit(False).alias("has_consent"),  # deleted on the site: honoured like an opt-out
    )
    accounts = pl.concat([schema.conform(users, "accounts"), schema.conform(pseudo, "accounts")])
    # names of rejected rows: still redacted in texts and looked for by the audit
    rejected = df.filter(pl.col("Id").is_in(rejects["record_key"].implode())).select(
        pl.col("Id").alias("account_id"), pl.col("DisplayName").alias("display_name")
    )
    return accounts, rejects, raw.height + pseudo.height, rejected


#: An @-mention in a comment: "@" at the start or after a space or an opening bracket (not the
#: "@" of an e-mail address), then the name as typed (SE names lose their spaces in a mention).
_AT_MENTION = r"(?:^|[\s(\[])@[^\s@,:;!?()\[\]]+"
#: SE matches a mention on its first three characters at least.
AT_MIN_CHARS = 3


def _mention_key(name: pl.Expr) -> pl.Expr:
    """A display name or a typed mention as SE compares them: lower case, no spaces."""
    return name.str.to_lowercase().str.replace_all(r"\s+", "")


def comment_parents(
    comments: pl.DataFrame, posts: pl.DataFrame, accounts: pl.DataFrame
) -> pl.DataFrame:
    """The earlier comment each @-reply comment answers: ``post_id``, ``parent_post_id`` (only
    the comments that answer another comment).

    A comment answers the post it is under (its owner is the addressee), unless it @-mentions
    someone else SE would notify: a user who commented on the same post earlier. SE's rule, as
    its help states it: the mention is the name without spaces, case-insensitive, and matches a
    name it is a prefix of, from the third character; one user is notified per comment, the
    first mention that matches. A mention matching the owner is the owner's; of several
    earlier comments whose authors match, the latest (then the later comment id). That comment
    becomes the parent, so the reply addresses its author in every model (ingest's rule: a
    reply's addressee is its parent's author), and an item's repliers are those of the comment
    they answered. The post's editors, whom SE notifies too, are not in the files this adapter
    reads: a mention of an editor who never commented stays the owner's. Raw ids and names,
    before pseudonyms: the same comments match under any key.
    """
    schema_out = {"post_id": pl.String, "parent_post_id": pl.String}
    if comments.is_empty():
        return pl.DataFrame(schema=schema_out)
    key = accounts.select("account_id", _key=_mention_key(pl.col("display_name"))).filter(
        pl.col("_key").str.len_chars() >= AT_MIN_CHARS
    )
    mentions = (
        comments.filter(pl.col("parent_post_id").is_not_null() & pl.col("text").is_not_null())
        .select(
            "post_id",
            "parent_post_id",
            "account_id",
            "created_at",
            _at=pl.col("text").str.extract_all(_AT_MENTION),
        )
        .filter(pl.col("_at").list.len() > 0)
        .with_columns(_pos=pl.int_ranges(pl.col("_at").list.len()))
        .explode("_at", "_pos")
        .with_columns(
            _at=_mention_key(
                pl.col("_at").str.replace(r"^[\s(\[]?@", "").str.strip_chars_end(".'\"-")
            )
        )
        .filter(pl.col("_at").str.len_chars() >= AT_MIN_CHARS)
    )
    if mentions.is_empty():
        return pl.DataFrame(schema=schema_out)
    owners = posts.select(
        pl.col("post_id").alias("parent_post_id"),
        pl.col("account_id").alias("_cand"),
        pl.lit(None, schema.UTC_TIME).alias("_cand_at"),
        pl.lit(None, pl.String).alias("_cand_id"),
    )
    earlier = comments.filter(pl.col("parent_post_id").is_not_null()).select(
        "parent_post_id",
        pl.col("account_id").alias("_cand"),
        pl.col("created_at").alias("_cand_at"),
        pl.col("post_id").alias("_cand_id"),
    )
    cands = pl.concat([owners, earlier]).join(
        key.rename({"account_id": "_cand"}), on="_cand", how="inner"
    )
    matched = (
        mentions.join(cands, on="parent_post_id", how="inner")
        .filter(
            pl.col("_key").str.starts_with(pl.col("_at"))
            & (pl.col("_cand") != pl.col("account_id"))
            # the owner at any time; a commenter only before this comment
            & (pl.col("_cand_at").is_null() | (pl.col("_cand_at") < pl.col("created_at")))
        )
        .with_columns(_is_owner=pl.col("_cand_at").is_null())
    )
    first = matched.filter(pl.col("_pos") == pl.col("_pos").min().over("post_id"))
    chosen = first.sort(
        ["post_id", "_is_owner", "_cand_at", "_cand_id"],
        descending=[False, True, True, True],
        nulls_last=True,
    ).unique("post_id", keep="first", maintain_order=True)
    return (
        chosen.filter(~pl.col("_is_owner"))
        .select("post_id", pl.col("_cand_id").alias("parent_post_id"))
        .sort("post_id")
    )
