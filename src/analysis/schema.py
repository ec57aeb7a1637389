"""The canonical activity schema: column names, dtypes and constraints of every table.

Every platform adapter (``analysis.sources``) maps its dump into these three tables, and every
stage that writes one of them calls :func:`validate` first. Two layers share the same columns:

* **raw canonical** tables (what an adapter yields, or what a user brings as Parquet/CSV/JSONL):
  raw platform ids, handles and display names are allowed;
* **interim** tables (``data/interim/*.parquet``, after ``ingest``): ids are keyed pseudonyms,
  ``handle`` and ``display_name`` are gone, texts are scrubbed, and ``accounts`` gains
  ``is_participant``.

The human-readable version of this module is ``docs/data-format.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import polars as pl

UTC_TIME = pl.Datetime("us", "UTC")

#: Kinds of authored items. A "reply" is any item whose parent is another item
#: (Stack Exchange answers and comments, Reddit comments, tweets in reply, Usenet follow-ups).
POST_KINDS = ("post", "question", "answer", "comment", "reply", "repost", "quote")
#: Kinds of reactions: anything that is not authored text.
REACTION_KINDS = ("upvote", "downvote", "like", "favourite", "boost", "accept", "bounty", "view")
#: Platforms known to the adapters (free text is allowed for canonical dumps, but must be set).
PLATFORMS = (
    "demo",
    "stackexchange",
    "reddit",
    "hackernews",
    "mastodon",
    "twitter",
    "usenet",
    "canonical",
)

#: Earliest and latest timestamps accepted. Anything outside is a malformed row: the earliest
#: public Usenet archives start in 1981, and nothing can be authored after the run.
MIN_TIME = datetime(1979, 1, 1, tzinfo=UTC)
MAX_TIME_SLACK_DAYS = 2  # clocks of exporting servers drift; allow two days into the future

ACCOUNTS: dict[str, pl.DataType] = {
    "account_id": pl.String(),
    "platform": pl.String(),
    "handle": pl.String(),  # raw only; removed by ingest
    "display_name": pl.String(),  # raw only; removed by ingest
    "created_at": UTC_TIME,
    "follower_count": pl.Int64(),  # latest known audience size, where the platform has one
    "platform_score": pl.Float64(),  # the platform's own reputation (Stack Exchange Reputation)
    "is_minor": pl.Boolean(),
    "has_consent": pl.Boolean(),
}

POSTS: dict[str, pl.DataType] = {
    "post_id": pl.String(),
    "platform": pl.String(),
    "account_id": pl.String(),
    "kind": pl.String(),
    "parent_post_id": pl.String(),
    "root_post_id": pl.String(),
    # For replies whose parent is not in the dump but whose addressee is known (Twitter's
    # in_reply_to_user_id): the account that was answered. Derived from the parent otherwise.
    "reply_to_account_id": pl.String(),
    "created_at": UTC_TIME,
    "text": pl.String(),
    "n_views": pl.Int64(),
    # Net score from other people's votes: without the author's own automatic vote (Reddit and
    # Hacker News start every item at 1 point; their adapters subtract it). Models read
    # max(score, 0) as reactions received from others.
    "score": pl.Int64(),
    "n_likes": pl.Int64(),
    "n_reposts": pl.Int64(),
    "n_comments_reported": pl.Int64(),  # the platform's own count; may exceed replies in the dump
    # When this post's totals above (views, score, likes, reposts, comments) were captured, where
    # the dump says (Pushshift's retrieved_on); null: at the export (the last activity).
    "totals_taken_at": UTC_TIME,
    "follower_count": pl.Int64(),  # author's audience at posting time
    "labels": pl.List(pl.String()),  # ground-truth labels (Stack Exchange tags, subreddit)
}

REACTIONS: dict[str, pl.DataType] = {
    "reaction_id": pl.String(),
    "platform": pl.String(),
    "post_id": pl.String(),
    "kind": pl.String(),
    # Where the platform gives only the day (Stack Exchange votes): the last microsecond of that
    # UTC day, the first instant the reaction is surely made (models count ``created_at < T``).
    "created_at": UTC_TIME,
    "actor_account_id": pl.String(),  # null where the platform keeps votes anonymous
}

REJECTS: dict[str, pl.DataType] = {
    "table": pl.String(),
    "source_file": pl.String(),
    "source_line": pl.Int64(),
    "record_key": pl.String(),  # pseudonymised id of the rejected record, where it had one
    "reason": pl.String(),
}

TABLES: dict[str, dict[str, pl.DataType]] = {
    "accounts": ACCOUNTS,
    "posts": POSTS,
    "reactions": REACTIONS,
    "rejects": REJECTS,
}

ID_COLUMN = {"accounts": "account_id", "posts": "post_id", "reactions": "reaction_id"}
REQUIRED: dict[str, tuple[str, ...]] = {
    "accounts": ("account_id", "platform"),
    "posts": ("post_id", "platform", "account_id", "kind", "created_at"),
    "reactions": ("reaction_id", "platform", "post_id", "kind"),
    "rejects": ("table", "source_file", "reason"),
}
#: Where each raw row came from: the file (its name, never a path) and the 1-based line (or row
#: of a Parquet file). Adapters set them; ingest's own rejects (a duplicate id, a reply dated
#: before its parent) name them, and they go before the interim layer.
PROVENANCE: dict[str, pl.DataType] = {"source_file": pl.String(), "source_line": pl.Int64()}
RAW_ONLY_COLUMNS = {
    "accounts": ("handle", "display_name", *PROVENANCE),
    "posts": tuple(PROVENANCE),
    "reactions": tuple(PROVENANCE),
}
#: Columns added to ``accounts`` by ingest.
INTERIM_EXTRA = {"accounts": {"is_participant": pl.Boolean()}}
#: The single account into which every non-participant is merged (see ``privacy.py``).
NONPARTICIPANT_ID = "acct_nonparticipant"


class SchemaError(ValueError):
    """A table does not follow the canonical schema; the message names table, column and row."""


@dataclass(frozen=True)
class Layer:
    """Which layer of the schema a table belongs to."""

    name: str  # "raw" or "interim"


RAW = Layer("raw")
INTERIM = Layer("interim")


def columns(table: str, layer: Layer = RAW) -> dict[str, pl.DataType]:
    """Return the ordered column -> dtype mapping of ``table`` in ``layer``."""
    cols = dict(TABLES[table])
    if table in ID_COLUMN:
        cols.update(PROVENANCE)
    if layer is INTERIM:
        for col in RAW_ONLY_COLUMNS.get(table, ()):
            cols.pop(col)
        cols.update(INTERIM_EXTRA.get(table, {}))
    return cols


def empty(table: str, layer: Layer = RAW) -> pl.DataFrame:
    """An empty frame with the exact schema of ``table``."""
    return pl.DataFrame(schema=columns(table, layer))


def conform(
    df: pl.DataFrame,
    table: str,
    layer: Layer = RAW,
    dtypes: Mapping[str, pl.DataType] | None = None,
) -> pl.DataFrame:
    """Add missing optional columns as nulls, cast to canonical dtypes and order the columns.

    Unknown columns are dropped. Casting is strict: a value that cannot be cast is an error
    that names the column. ``dtypes``: columns held in another dtype than the canonical one
    (ingest's skeleton holds post pseudonyms as numbers, ``privacy.as_numbers``).
    """
    cols = columns(table, layer) | dict(dtypes or {})
    exprs = []
    for name, dtype in cols.items():
        if name in df.columns:
            src = df.schema[name]
            if src == dtype:
                exprs.append(pl.col(name))
            elif isinstance(dtype, pl.Datetime) and isinstance(src, pl.Datetime):
                expr = pl.col(name)
                expr = (
                    expr.dt.replace_time_zone("UTC")
                    if src.time_zone is None
                    else expr.dt.convert_time_zone("UTC")
                )
                exprs.append(expr.dt.cast_time_unit("us"))
            else:
                exprs.append(pl.col(name).cast(dtype, strict=True))
        else:
            exprs.append(pl.lit(None, dtype=dtype).alias(name))
    try:
        return df.select(exprs)
    except (pl.exceptions.InvalidOperationError, pl.exceptions.ComputeError) as exc:
        raise SchemaError(f"{table}: cannot cast to the canonical schema: {exc}") from exc


#: The id columns the models (and the topics stage) join and group on, held as polars
#: ``Categorical`` (the texts stored once, a 32-bit code a row; the files keep them as
#: strings: ``io.write_parquet``).
#: A pseudonym is ~21 bytes behind a 16-byte view; joins on the codes move 4. Measured at 1.03M
#: posts (``benchmarks.models_memory --ids``, session 46): conversation's working set +394 ->
#: +216 MiB, network's +399 -> +201, conversation_rate's +449 -> +227, the models ~15-25 %
#: faster, the scores byte-identical. They compare with string literals, join with each other
#: and sort by their texts as strings do; ``.str`` needs a ``cast(pl.String)`` first. The
#: mapping is not free: polars' one global mapping of 10M post ids held ~1.1 GiB, their column
#: as strings ~0.37 GiB; the stages that join on them still gain (the topics stage at 10M posts
#: 5.96 -> 4.37 GiB; with the account ids alone as categoricals 5.19 GiB; session 57). Since
#: session 61 the post ids among them are held as numbers where they can be
#: (:data:`POST_NUMBER_COLUMNS`): categoricals only where they are not pseudonyms.
ID_COLUMNS: dict[str, tuple[str, ...]] = {
    "accounts": ("account_id",),
    "posts": ("post_id", "account_id", "parent_post_id", "root_post_id", "reply_to_account_id"),
    "reactions": ("reaction_id", "post_id", "actor_account_id"),
    "post_topics": ("post_id",),
}

#: The label columns the stages hold as polars ``Categorical`` beside the ids (read with them:
#: ``stages.tables.load_tables``, ``stages.topics.read_tables``; the files keep strings): a
#: handful of distinct values, a 32-bit code a row where the text takes a 16-byte view (13 bytes
#: of "stackexchange" behind it). Every model's scoped posts and edges copy them. Not an
#: ``Enum``: a canonical dump's platform is free text. At 10M posts (session 65), with the
#: posts' ``channel`` as a one-byte enum (``semantics.CHANNEL``): validate's tables 1.27 ->
#: 1.05 GiB, conversation's +1.41 -> +1.23 GiB over them, the score stage 3,466,796 ->
#: 2,964,920 KB, the same files.
LABEL_COLUMNS: dict[str, tuple[str, ...]] = {
    "accounts": ("platform",),
    "posts": ("platform", "kind"),
    "reactions": ("platform", "kind"),
    "post_topics": (),
}
#: What the stages after ingest read as categoricals: :data:`ID_COLUMNS` and
#: :data:`LABEL_COLUMNS`.
CATEGORICAL_COLUMNS: dict[str, tuple[str, ...]] = {
    t: ID_COLUMNS[t] + LABEL_COLUMNS[t] for t in ID_COLUMNS
}

#: The post-id columns of each table that the stages hold as the 64-bit numbers of their
#: pseudonyms where every id is one (:func:`post_numbers`; ``io.read_contiguous``'s
#: ``numbers``), else as categoricals (:data:`ID_COLUMNS`). Measured at 10M posts (session
#: 61): the posts' three post-id columns as categoricals 1,195 MiB (polars' mapping of 10M
#: texts included, never given back while the process lives), as numbers 257 MiB, as text
#: 824 MiB.
POST_NUMBER_COLUMNS: dict[str, tuple[str, ...]] = {
    "accounts": (),
    "posts": ("post_id", "parent_post_id", "root_post_id"),
    "reactions": ("post_id",),
    "post_topics": ("post_id",),
}
#: Every column name that holds post ids as numbers (:func:`ids_as_strings` writes them back).
POST_ID_NAMES = frozenset(c for cols in POST_NUMBER_COLUMNS.values() for c in cols)
#: A post pseudonym as ingest writes it: ``privacy.POST_PREFIX`` and ``privacy.DIGEST_HEX``
#: lowercase hex digits (a test holds the two together).
POST_PSEUDONYM = r"^post_[0-9a-f]{16}$"
_POST_PREFIX = "post_"


def post_numbers(ids: pl.Series) -> pl.Series | None:
    """Post pseudonyms (:data:`POST_PSEUDONYM`) as the unsigned 64-bit numbers their hex digits
    spell (the same order, distinct ids distinct numbers; nulls stay null), or None where any
    id is not one (ids made by hand: the caller keeps their text). 8 bytes an id where the text
    takes ~37 (a 16-byte view and 21 bytes); joins and group-bys on them hash integers.
    :func:`numbers_as_text` gives the text back. A column of nulls only (Parquet's null type)
    is numbers; one of another type than text (a categorical) is left as it is (None)."""
    if ids.dtype == pl.Null:
        return ids.cast(pl.UInt64)
    if ids.dtype != pl.String or not ids.str.contains(POST_PSEUDONYM).fill_null(True).all():
        return None
    digits = ids.str.strip_prefix(_POST_PREFIX)
    return digits.str.to_integer(base=16, dtype=pl.UInt64).alias(ids.name)


def by_slices(s: pl.Series, rows: int, one: Callable[[pl.Series], pl.Series]) -> pl.Series:
    """``one`` of each slice of ``rows`` values of ``s``, in order, put together in one chunk
    (left in chunks, the slices raised ingest's peak at 3M posts 2.44 -> 2.62 GB, its sort
    regathering them); ``one(s)`` where ``s`` is one slice or empty."""
    if s.len() <= rows:
        return one(s)
    return pl.concat([one(s.slice(start, rows)) for start in range(0, s.len(), rows)], rechunk=True)


#: The two hex digits of every byte, as the 16-bit words whose memory holds them in order.
_HEX_PAIRS = np.frombuffer(b"".join(b"%02x" % i for i in range(256)), dtype=np.uint16)
#: Numbers written as text at a time (:func:`numbers_as_text`): one slice's buffer held.
TEXT_ROWS = 1 << 20


def numbers_as_text(numbers: pl.Series, prefix: str, rows: int | None = None) -> pl.Series:
    """The pseudonyms ``prefix`` + 16 hex digits of pseudonyms held as unsigned 64-bit numbers
    (:func:`post_numbers`, ``privacy.as_numbers``; nulls stay null), ``rows`` at a time
    (default :data:`TEXT_ROWS`): each value's bytes written into one buffer of fixed-width rows
    by numpy (a byte's two digits looked up at once), no Python per value (~0.07 s a
    million)."""
    head = prefix.encode()
    width = len(head) + 16

    def one(part: pl.Series) -> pl.Series:
        n = part.len()
        buf = np.empty((n, width), dtype=np.uint8)  # one row of bytes a pseudonym
        buf[:, : len(head)] = np.frombuffer(head, dtype=np.uint8)
        big_endian = part.fill_null(0).to_numpy().astype(">u8").view(np.uint8).reshape(n, 8)
        buf[:, len(head) :] = _HEX_PAIRS[big_endian].view(np.uint8).reshape(n, 16)
        text = pl.Series(part.name, buf.view(f"S{width}").ravel(), dtype=pl.Binary)
        text = text.cast(pl.String)
        if part.null_count():
            kept = pl.select(pl.when(part.is_not_null()).then(text).alias(part.name))
            text = kept.to_series().rechunk()  # one chunk, as by_slices promises
        return text

    return by_slices(numbers, rows or TEXT_ROWS, one)


def post_ids_like(ids: pl.Series, dtype: pl.DataType) -> pl.Series:
    """Post ids in ``dtype``, the type another table holds its post ids in, so that the two
    join: numbers (:func:`post_numbers`; an id that is not a pseudonym becomes null, as it
    could match no number), or the text as a categorical or a string."""
    if ids.dtype == dtype:
        return ids
    text = post_ids_as_text(ids)
    if dtype == pl.UInt64:
        numbers = post_numbers(text.set(~text.str.contains(POST_PSEUDONYM).fill_null(True), None))
        assert numbers is not None  # every id left is a pseudonym
        return numbers
    return text.cast(dtype)


def post_ids_as_text(ids: pl.Series) -> pl.Series:
    """Post ids as text whatever the stages hold them as: numbers (:func:`post_numbers`)
    spelt as their pseudonyms again, categoricals cast; text as it is."""
    if ids.dtype == pl.UInt64:
        return numbers_as_text(ids, _POST_PREFIX)
    return ids.cast(pl.String) if isinstance(ids.dtype, pl.Categorical) else ids


def one_post_id_type(
    frames: Mapping[str, pl.DataFrame | None],
) -> dict[str, pl.DataFrame | None]:
    """``frames`` (tables by name) with their post ids of one type, so that they join: where
    some are numbers and others not (a table's ids made by hand beside pseudonyms), the
    numbers are made categoricals of their pseudonyms' text again."""
    columns = [
        (name, c)
        for name, df in frames.items()
        if df is not None
        for c in POST_NUMBER_COLUMNS[name]
        if c in df.columns
    ]
    kinds = {frames[name].schema[c] == pl.UInt64 for name, c in columns}  # type: ignore[union-attr]
    if len(kinds) < 2:
        return dict(frames)
    out = dict(frames)
    for name, c in columns:
        df = out[name]
        assert df is not None
        if df.schema[c] == pl.UInt64:
            out[name] = df.with_columns(post_ids_as_text(df[c]).cast(pl.Categorical))
    return out


def ids_as_strings(df: pl.DataFrame) -> pl.DataFrame:
    """``df`` with its id columns as strings. The stages hold the tables' ids as categoricals
    (:data:`ID_COLUMNS`) and post ids as numbers where they can (:data:`POST_NUMBER_COLUMNS`);
    files and score frames carry them as strings."""
    numbers = [c for c, t in df.schema.items() if c in POST_ID_NAMES and t == pl.UInt64]
    if numbers:
        df = df.with_columns(post_ids_as_text(df[c]) for c in numbers)
    cats = [c for c, t in df.schema.items() if isinstance(t, pl.Categorical)]
    return df.with_columns(pl.col(cats).cast(pl.String)) if cats else df


def surely_distinct(values: pl.Series) -> bool:
    """True when ``values`` are distinct, proven by distinct 64-bit hashes.

    False when two values share a hash: a duplicate, a null twice, or (under one chance in
    10^7 for a million values) a collision; the caller then takes its exact, slower check.
    Counting distinct hashes of a million strings is ~20x cheaper than ``is_duplicated``.
    """
    return values.hash().n_unique() == values.len()


def validate(
    df: pl.DataFrame,
    table: str,
    layer: Layer = RAW,
    now: datetime | None = None,
    dtypes: Mapping[str, pl.DataType] | None = None,
) -> None:
    """Check ``df`` against the canonical schema; raise :class:`SchemaError` on the first problem.

    Checks: exact columns and dtypes, required columns non-null, unique ids, allowed kinds, and
    timestamps within [1979, now + 2 days]. ``dtypes``: as :func:`conform`'s.
    """
    expected = columns(table, layer) | dict(dtypes or {})
    if list(df.columns) != list(expected):
        missing = [c for c in expected if c not in df.columns]
        extra = [c for c in df.columns if c not in expected]
        raise SchemaError(
            f"{table} ({layer.name}): columns differ from the schema; missing {missing}, "
            f"unexpected {extra}"
        )
    for name, dtype in expected.items():
        if df.schema[name] != dtype:
            raise SchemaError(
                f"{table} ({layer.name}): column {name!r} has dtype {df.schema[name]}, "
                f"expected {dtype}"
            )
    for name in REQUIRED[table]:
        nulls = df.select(
            pl.col(name).is_null().arg_max().alias("row"), pl.col(name).null_count().alias("n")
        )
        if nulls.item(0, "n"):
            raise SchemaError(
                f"{table}: required column {name!r} is null in row {nulls.item(0, 'row')}"
            )
    id_col = ID_COLUMN.get(table)
    if id_col is not None and not surely_distinct(df[id_col]):
        dup = df.filter(pl.col(id_col).is_duplicated())
        if dup.height:
            raise SchemaError(
                f"{table}: {dup.height} rows share an {id_col}; first duplicate {dup.item(0, id_col)!r}"
            )
    kinds = {"posts": POST_KINDS, "reactions": REACTION_KINDS}.get(table)
    if kinds is not None:
        bad = df.filter(~pl.col("kind").is_in(list(kinds)))
        if bad.height:
            raise SchemaError(
                f"{table}: kind {bad.item(0, 'kind')!r} is not one of {', '.join(kinds)}"
            )
    if "created_at" in df.columns and df.height:
        limit = _max_time(now)
        out = df.with_row_index("_row").filter(
            (pl.col("created_at") < MIN_TIME) | (pl.col("created_at") > limit)
        )
        if out.height:
            raise SchemaError(
                f"{table}: created_at {out.item(0, 'created_at')} in row {out.item(0, '_row')} "
                f"is outside [{MIN_TIME.date()}, {limit.date()}]"
            )


def _max_time(now: datetime | None) -> datetime:
    from datetime import timedelta

    return (now or datetime.now(UTC)) + timedelta(days=MAX_TIME_SLACK_DAYS)


def max_time(now: datetime | None = None) -> datetime:
    """Latest acceptable timestamp: now plus a small allowance for clock drift."""
    return _max_time(now)
