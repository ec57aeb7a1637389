"""Adapter ``stackexchange``: one site of the official Stack Exchange data dump (stage ``ingest``).

Reads a dump folder holding ``Posts``, ``Users`` (both required) and optionally ``Comments``,
``Votes`` and ``Tags``, each as ``<Name>.xml`` or ``<Name>.xml.gz``, and returns raw canonical
tables (see docs/data-format.md, section "Stack Exchange", for the field-by-field mapping).
``PostLinks``, ``Badges`` and ``PostHistory`` have no canonical column and are not read.

Parsing streams each file through expat (bounded memory: rows are collected as columns and
turned into polars chunks every :data:`CHUNK_ROWS` rows) and records the line of every row, so
each reject names its file and line. The decoder is forced to UTF-8, which the dump always is:
a UTF-16 file, bytes that are not UTF-8 (a Latin-1 re-encode), a truncated file or a row that is
not well-formed stop the stage with a :class:`SourceError` naming file, line and expectation.

Decisions, with the numbers measured on the four shared sites (beer, quantumcomputing,
bicycles-meta, french-meta) behind them:

* **Deleted users.** Posts without ``OwnerUserId`` (27, 2, 41, 33 posts: 0.1 to 4.2 %) and
  comments without ``UserId`` (50, 1, 85, 36) belong to accounts deleted on the site; the dump
  keeps their former display name (``user90``, ``anon``). Deleting one's account is the
  platform's own erasure, so Resonance honours it like an opt-out: each distinct name becomes a
  pseudo-account ``deleted:<name>`` with ``has_consent = false``, and ingest removes it with
  everything it wrote (counted under ``removed_no_consent`` / ``removed_privacy``); answers and
  comments below its posts are detached and stay, addressed to the non-participant placeholder.
  Such accounts are counted as read, so the counts reconcile. A row with neither id nor name is
  rejected.
* **Other post types** (4/5 tag wiki excerpt/body, 6/7 moderator nomination/wiki, ...) become
  kind ``"post"``; tag wikis are labelled with their tag through ``Tags.xml``.
* **Labels** are the thread's tags: questions carry their own, answers and comments inherit
  their question's (ground truth for topic attribution at thread level).
* **Votes** of types 2, 3, 1, 5, 8, 9 are reactions (upvote, downvote, accept, favourite,
  bounty start and award). Every other type (close, deletion, spam, edit approval...) is
  moderation and goes to rejects with its type in the reason, as do votes whose post is not in
  the posts table (5 to 8 % of votes point at deleted posts left out of the dump).
* ``FavoriteCount`` is not copied into ``n_likes``: a favourite is a bookmark, and the dump
  has favourites as reactions (vote type 5). ``n_likes`` and ``n_reposts`` stay null.
* Comment ids share numbers with post ids, so comments get the post id ``c<Id>``.
* Dates in the dump are naive ISO strings in UTC.
"""

from __future__ import annotations

import html
import logging
import re
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO
from xml.parsers import expat

import polars as pl

from analysis import schema
from analysis.sources.base import SourceError, SourceTables, open_maybe_gzip

log = logging.getLogger(__name__)

PLATFORM = "stackexchange"
CHUNK_ROWS = 100_000
READ_BYTES = 1 << 20
DATE_FORMAT = "%Y-%m-%dT%H:%M:%S%.f"
DELETED_PREFIX = "deleted:"
COMMENT_PREFIX = "c"

POST_KINDS = {"1": "question", "2": "answer"}  # every other PostTypeId -> "post"
REACTION_KINDS = {
    "1": "accept",
    "2": "upvote",
    "3": "downvote",
    "5": "favourite",
    "8": "bounty",  # bounty start (carries the sponsor's UserId)
    "9": "bounty",  # bounty close / award
}
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
_TAG = re.compile(r"<[^>]*>")
_BLANK_LINES = re.compile(r"\n{3,}")
_UTF16_32_BOMS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")


def html_to_text(body: str | None) -> str | None:
    """Plain text of a post body: block ends become newlines, tags go, entities are decoded."""
    if body is None:
        return None
    text = html.unescape(_TAG.sub("", _BLOCK_END.sub("\n", body)))
    return _BLANK_LINES.sub("\n\n", text).strip()


def _find(folder: Path, name: str) -> Path | None:
    for candidate in (folder / f"{name}.xml", folder / f"{name}.xml.gz"):
        if candidate.exists():
            return candidate
    return None


def _open(path: Path) -> BinaryIO:
    return open_maybe_gzip(path)


def _line_bytes(path: Path, lineno: int) -> bytes:
    with _open(path) as fh:
        for i, line in enumerate(fh, start=1):
            if i == lineno:
                return line
    return b""


def read_rows(
    path: Path,
    root: str,
    fields: tuple[str, ...],
    transforms: dict[str, Callable[[str], str | None]] | None = None,
) -> pl.DataFrame:
    """Stream the ``<row .../>`` elements of one dump file into a frame of strings.

    Args:
        path: ``<Name>.xml`` or ``<Name>.xml.gz``.
        root: the expected root element (``posts``, ``users``...).
        fields: the attributes to keep; absent attributes become nulls.
        transforms: optional per-field functions applied while streaming (e.g. HTML to text).

    Returns:
        One String column per field plus ``_line`` (Int64, 1-based line of the row).

    Raises:
        SourceError: wrong encoding, truncated or malformed XML, wrong root or element.
    """
    transforms = transforms or {}
    cols: dict[str, list[str | None]] = {f: [] for f in fields}
    lines: list[int] = []
    chunks: list[pl.DataFrame] = []
    depth = 0
    parser = expat.ParserCreate(encoding="utf-8")  # overrides the declaration: the dump is UTF-8

    def flush() -> None:
        data: dict[str, list] = {"_line": lines.copy(), **{f: v.copy() for f, v in cols.items()}}
        chunks.append(
            pl.DataFrame(data, schema={"_line": pl.Int64, **dict.fromkeys(fields, pl.String)})
        )
        lines.clear()
        for v in cols.values():
            v.clear()

    def start(name: str, attrs: dict[str, str]) -> None:
        nonlocal depth
        depth += 1
        line = parser.CurrentLineNumber
        if depth == 1:
            if name != root:
                raise SourceError(path, line, f"root element <{name}>", f"<{root}>")
            return
        if depth != 2 or name != "row":
            raise SourceError(
                path, line, f"unexpected element <{name}>", f"<row .../> inside <{root}>"
            )
        lines.append(line)
        for f in fields:
            value = attrs.get(f)
            fn = transforms.get(f)
            cols[f].append(fn(value) if fn is not None and value is not None else value)
        if len(lines) >= CHUNK_ROWS:
            flush()

    def end(name: str) -> None:
        nonlocal depth
        depth -= 1

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        with _open(path) as fh:
            head = fh.read(READ_BYTES)
            if head.startswith(_UTF16_32_BOMS) or head[:2] in (b"<\x00", b"\x00<"):
                raise SourceError(
                    path, 1, "the file is UTF-16/32 encoded", "UTF-8, as the dump ships"
                )
            chunk = head
            while chunk:
                parser.Parse(chunk, False)
                chunk = fh.read(READ_BYTES)
            try:
                parser.Parse(b"", True)
            except expat.ExpatError as exc:
                raise SourceError(
                    path,
                    exc.lineno,
                    f"the file ends inside the XML ({expat.errors.messages[exc.code]})",
                    f"a complete file ending with </{root}> (truncated download or copy?)",
                ) from exc
    except expat.ExpatError as exc:
        bad = _line_bytes(path, exc.lineno)
        try:
            bad.decode("utf-8")
        except UnicodeDecodeError as dec:
            raise SourceError(
                path,
                exc.lineno,
                f"bytes that are not UTF-8 ({dec.reason} at column {dec.start + 1})",
                "UTF-8 text (was the file re-encoded, e.g. Latin-1?)",
            ) from exc
        raise SourceError(
            path,
            exc.lineno,
            f"malformed XML ({exc})",
            f"one well-formed <row .../> per line inside <{root}>",
        ) from exc
    except (OSError, EOFError, zlib.error) as exc:
        raise SourceError(
            path, None, f"cannot be read ({exc})", "a readable .xml or .xml.gz file"
        ) from exc
    flush()
    return pl.concat(chunks)


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


def _posts(
    path: Path, wiki_tags: dict[str, str]
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.Series]:
    """Posts.xml -> (posts, rejects, display names of deleted owners, every Id in the file)."""
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
    checks = [
        *_basic("Id"),
        (pl.col("PostTypeId").is_null(), "row has no PostTypeId"),
        *_unparsable(("CreationDate", *ints)),
        (
            pl.col("OwnerUserId").is_null() & pl.col("OwnerDisplayName").is_null(),
            "post has no owner (no OwnerUserId and no OwnerDisplayName)",
        ),
        ((pl.col("PostTypeId") == "2") & pl.col("ParentId").is_null(), "answer has no ParentId"),
    ]
    accepted, rejects = _split(df, "posts", path, "Id", _first_reason(*checks))
    # Drop answers whose question is absent or rejected, until no parent dangles (one round on
    # real dumps, where parents are always questions).
    all_ids = raw["Id"].drop_nulls()
    while True:
        parent_ok = pl.col("ParentId").is_null() | pl.col("ParentId").is_in(
            accepted["Id"].implode()
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
    tags = (
        pl.col("Tags")
        .str.replace_all("><", "|", literal=True)
        .str.strip_chars("<>|")
        .str.split("|")
    )  # "<a><b>" or "|a|b|"
    wiki = pl.col("Id").replace_strict(wiki_tags, default=None, return_dtype=pl.String)
    posts = accepted.with_columns(
        pl.col("Id").alias("post_id"),
        pl.lit(PLATFORM).alias("platform"),
        *_provenance(path),
        _owner("OwnerUserId", "OwnerDisplayName").alias("account_id"),
        pl.col("PostTypeId").replace_strict(POST_KINDS, default="post").alias("kind"),
        pl.col("ParentId").alias("parent_post_id"),
        pl.col("ParentId").alias("root_post_id"),
        pl.col("_CreationDate").alias("created_at"),
        pl.when(pl.col("Title").is_not_null())
        .then(pl.col("Title") + "\n\n" + pl.col("Body").fill_null(""))
        .otherwise(pl.col("Body"))
        .alias("text"),
        pl.col("_ViewCount").alias("n_views"),
        pl.col("_Score").alias("score"),
        pl.col("_CommentCount").alias("n_comments_reported"),
        pl.when(pl.col("Tags").is_not_null())
        .then(tags)
        .when(wiki.is_not_null())
        .then(pl.concat_list(wiki))
        .alias("_own_labels"),
    )
    thread = posts.select(
        pl.col("post_id").alias("parent_post_id"), pl.col("_own_labels").alias("_parent_labels")
    )
    posts = posts.join(thread, on="parent_post_id", how="left", maintain_order="left").with_columns(
        pl.coalesce("_parent_labels", "_own_labels").alias("labels")
    )
    deleted = posts.filter(pl.col("OwnerUserId").is_null()).select(pl.col("OwnerDisplayName"))
    return schema.conform(posts, "posts"), rejects, deleted, raw["Id"]


def _comments(
    path: Path, posts: pl.DataFrame, all_post_ids: pl.Series
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, int]:
    fields = ("Id", "PostId", "Score", "Text", "CreationDate", "UserId", "UserDisplayName")
    raw = read_rows(path, "comments", fields)
    df = _parsed(raw, ("Score",))
    known = posts["post_id"].implode()
    checks = [
        *_basic("Id"),
        (pl.col("PostId").is_null(), "comment has no PostId"),
        *_unparsable(("CreationDate", "Score")),
        (
            pl.col("UserId").is_null() & pl.col("UserDisplayName").is_null(),
            "comment has no author (no UserId and no UserDisplayName)",
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
    thread = posts.select(
        pl.col("post_id").alias("PostId"),
        pl.coalesce("root_post_id", "post_id").alias("root_post_id"),
        "labels",
    )
    comments = accepted.join(thread, on="PostId", how="left", maintain_order="left").with_columns(
        pl.col("_key").alias("post_id"),
        pl.lit(PLATFORM).alias("platform"),
        *_provenance(path),
        _owner("UserId", "UserDisplayName").alias("account_id"),
        pl.lit("comment").alias("kind"),
        pl.col("PostId").alias("parent_post_id"),
        pl.col("_CreationDate").alias("created_at"),
        pl.col("Text").alias("text"),
        pl.col("_Score").alias("score"),
    )
    deleted = comments.filter(pl.col("UserId").is_null()).select(
        pl.col("UserDisplayName").alias("OwnerDisplayName")
    )
    return schema.conform(comments, "posts"), rejects, deleted, raw.height


def _votes(
    path: Path, posts: pl.DataFrame, all_post_ids: pl.Series
) -> tuple[pl.DataFrame, pl.DataFrame, int]:
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
            ~pl.col("PostId").is_in(posts["post_id"].implode()),
            pl.lit("vote on a post that was rejected"),
        ),
    ]
    accepted, rejects = _split(df, "reactions", path, "Id", _first_reason(*checks))
    reactions = accepted.with_columns(
        pl.col("Id").alias("reaction_id"),
        pl.lit(PLATFORM).alias("platform"),
        *_provenance(path),
        pl.col("PostId").alias("post_id"),
        vtype.replace_strict(REACTION_KINDS).alias("kind"),
        pl.col("_CreationDate").alias("created_at"),
        pl.col("UserId").alias("actor_account_id"),
    )
    return schema.conform(reactions, "reactions"), rejects, raw.height


def _accounts(
    path: Path, deleted_names: pl.Series
) -> tuple[pl.DataFrame, pl.DataFrame, int, pl.DataFrame]:
    raw = read_rows(path, "users", ("Id", "DisplayName", "Reputation", "CreationDate"))
    df = _parsed(raw, (), ("Reputation",))
    checks = [*_basic("Id"), *_unparsable(("CreationDate", "Reputation"))]
    accepted, rejects = _split(df, "accounts", path, "Id", _first_reason(*checks))
    users = accepted.select(
        pl.col("Id").alias("account_id"),
        pl.lit(PLATFORM).alias("platform"),
        pl.col("DisplayName").alias("display_name"),
        pl.col("_CreationDate").alias("created_at"),
        pl.col("_Reputation").alias("platform_score"),
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


def _wiki_tags(path: Path | None) -> dict[str, str]:
    """Tag-wiki post id -> tag name, from Tags.xml (ExcerptPostId and WikiPostId)."""
    if path is None:
        return {}
    tags = read_rows(path, "tags", ("TagName", "ExcerptPostId", "WikiPostId"))
    out: dict[str, str] = {}
    for col in ("ExcerptPostId", "WikiPostId"):
        pairs = tags.filter(pl.col(col).is_not_null() & pl.col("TagName").is_not_null())
        out.update(zip(pairs[col].to_list(), pairs["TagName"].to_list(), strict=True))
    return out


def read(path: Path) -> SourceTables:
    """Read one Stack Exchange site dump folder into raw canonical tables.

    Args:
        path: the folder (or any file inside it) holding Posts.xml[.gz], Users.xml[.gz] and
            optionally Comments, Votes and Tags.

    Returns:
        ``SourceTables`` with platform ``"stackexchange"``; ``missing_inputs`` lists the
        optional files that were absent and what the dump never carries.

    Raises:
        SourceError: a required file is missing, or a file is not well-formed UTF-8 XML.
    """
    started = time.perf_counter()
    folder = path if path.is_dir() else path.parent
    files = {name: _find(folder, name) for name in ("Posts", "Users", "Comments", "Votes", "Tags")}
    for name in ("Posts", "Users"):
        if files[name] is None:
            raise SourceError(
                folder, None, f"required file {name}.xml is missing", f"{name}.xml or {name}.xml.gz"
            )
    # The dump has no followers, reposts or likes; votes are anonymous except favourites and
    # bounties. Absent optional files are added below.
    missing = ["follower_count", "n_reposts", "n_likes"]
    posts, post_rej, deleted, post_ids = _posts(files["Posts"], _wiki_tags(files["Tags"]))
    n_posts, all_post_ids = post_ids.len(), post_ids.drop_nulls()
    if files["Tags"] is None:
        missing.append("tags")
    if files["Comments"] is not None:
        comments, com_rej, com_deleted, n_comments = _comments(
            files["Comments"], posts, all_post_ids
        )
        deleted = pl.concat([deleted, com_deleted])
    else:
        comments, com_rej, n_comments = schema.empty("posts"), None, 0
        missing.append("comments")
    if files["Votes"] is not None:
        reactions, vote_rej, n_votes = _votes(files["Votes"], posts, all_post_ids)
    else:
        reactions, vote_rej, n_votes = schema.empty("reactions"), None, 0
        missing.append("reactions")
    accounts, acc_rej, n_accounts, acc_flags = _accounts(
        files["Users"], deleted["OwnerDisplayName"]
    )
    rejects = pl.concat(
        [
            schema.conform(r, "rejects")
            for r in (acc_rej, post_rej, com_rej, vote_rej)
            if r is not None
        ]
    )
    n_read = {"accounts": n_accounts, "posts": n_posts + n_comments, "reactions": n_votes}
    tables = SourceTables(
        accounts=accounts,
        posts=pl.concat([posts, comments]),
        reactions=reactions,
        rejects=rejects,
        n_read=n_read,
        platform=PLATFORM,
        missing_inputs=tuple(missing),
        account_flags=acc_flags,
    )
    unknown = tables.posts.filter(
        ~pl.col("account_id").is_in(tables.accounts["account_id"].implode())
    ).height
    if unknown:
        log.warning("%s: %d posts have an owner that is not in Users.xml", folder.name, unknown)
    for table in ("accounts", "posts", "reactions"):
        log.info(
            "%s %s: read %d, accepted %d, rejected %d",
            folder.name,
            table,
            n_read[table],
            getattr(tables, table).height,
            tables.rejects.filter(pl.col("table") == table).height,
        )
    log.info("%s: read in %.1f s", folder.name, time.perf_counter() - started)
    return tables
